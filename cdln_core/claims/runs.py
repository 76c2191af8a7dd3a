"""Runs the claims share, made once per process: several claims read the same trajectory (the
factorization run behind the invariant subspace, the incremental order and the alignment timing;
the completion runs behind the iteration counts and [K]'s comparison in completion).

Every run goes through the public API (``make_problem``, ``make_network``, ``train``); the cache key
is every argument, so two claims share a run only when they ask for exactly the same one.
"""

from __future__ import annotations

import functools

from ..networks import make_network
from ..problems import Problem, make_problem
from ..training import TrainConfig, Trajectory, train

__all__ = ["problem", "recovery", "clear"]


@functools.lru_cache(maxsize=64)
def problem(kind: str, d: int, rank: int, seed: int, observed: float | None = None) -> Problem:
    """``make_problem`` (cached), passing ``observed`` only to completion."""
    options = {"observed": observed} if observed is not None else {}
    return make_problem(kind, d, rank, seed=seed, **options)


def recovery(
    kind: str, d: int, rank: int, model: str, depth: int, *, seed: int, lr: float, steps: int,
    tol: float = 0.0, record_every: int = 100, lr_ratio: float = 1.0, init_scale: float = 1e-2,
    rank_hat: int | None = None, observed: float | None = None, keep_factors: bool = False,
) -> Trajectory:  # fmt: skip
    """One recovery run: ``model`` of depth L on problem ``kind`` (d, r, seed), trained with η = lr.
    Runs that differ only in how their arguments were spelled share one cache entry."""
    return _recovery(kind, int(d), int(rank), model, int(depth), int(seed), float(lr), int(steps), float(tol),
                     int(record_every), float(lr_ratio), float(init_scale), rank_hat, observed, bool(keep_factors))


@functools.lru_cache(maxsize=128)
def _recovery(kind, d, rank, model, depth, seed, lr, steps, tol, record_every, lr_ratio, init_scale, rank_hat,
              observed, keep_factors) -> Trajectory:
    prob = problem(kind, d, rank, seed, observed)
    net = make_network(model, prob, depth, rank_hat=rank_hat, init_scale=init_scale, lr_ratio=lr_ratio, seed=seed)
    config = TrainConfig(lr=lr, steps=steps, tol=tol, record_every=record_every, keep_factors=keep_factors)
    return train(prob, net, config)


def clear() -> None:
    """Forget the cached runs (a test that monkeypatches the core calls this)."""
    problem.cache_clear()
    _recovery.cache_clear()
