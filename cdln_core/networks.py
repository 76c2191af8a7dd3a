"""The three parametrizations of E as factor lists, each with its per-factor step scales.

- ``dln``: the wide deep linear network, L factors d×d at ε·O_l (SPEC §3);
- ``cdln``: the compressed network of [K], spectral init from the problem's surrogate (SPEC §4);
- ``compressed``: the gradient-based compression of [Y], bases U, V around 2r̂×2r̂ inner factors.

Every model steps its outer factors with ``lr_ratio``·η and its inner ones with η: α on the first
and last factor of the DLN and C-DLN, γ on the bases of the Yaras compression.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .compression import compressed_init, spectral_init
from .dln import end_to_end, init_dln, n_params
from .problems import Problem

__all__ = ["MODELS", "Network", "make_network", "init_generator"]

MODELS = ("dln", "cdln", "compressed")


@dataclass(frozen=True, eq=False)
class Network:
    """A parametrization at init: ``Ws`` in application order and the step scale of each."""

    kind: str
    Ws: tuple[Tensor, ...]
    lr_scales: tuple[float, ...]

    @property
    def depth(self) -> int:
        return len(self.Ws)

    @property
    def n_params(self) -> int:
        return n_params(list(self.Ws))

    def end_to_end(self) -> Tensor:
        return end_to_end(list(self.Ws))


def init_generator(seed: int) -> torch.Generator:
    """The generator for network inits: a stream of its own, so problem and model draws are
    independent and the same seed gives the same wide init for ``dln`` and ``compressed``."""
    return torch.Generator().manual_seed(seed + 1_000_003)


def _outer_scales(n: int, ratio: float) -> tuple[float, ...]:
    return tuple(ratio if i in (0, n - 1) else 1.0 for i in range(n))


def make_network(
    kind: str,
    problem: Problem,
    depth: int,
    *,
    rank_hat: int | None = None,
    init_scale: float = 1e-2,
    lr_ratio: float = 1.0,
    seed: int = 0,
) -> Network:
    """Build a model for ``problem``.

    Args:
        kind: one of ``MODELS``.
        depth: L ≥ 1 (dln) or ≥ 2 (cdln); for ``compressed``, L inner factors (≥ 1).
        rank_hat: r̂ ≥ r, default 2r (cdln) or r (compressed, whose inner width is 2r̂).
        init_scale: ε > 0.  lr_ratio: α (dln, cdln) or γ (compressed), ≥ 0.
    """
    d, r = problem.d, problem.rank
    if kind not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, got {kind!r}")
    min_depth = 2 if kind == "cdln" else 1
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < min_depth:
        raise ValueError(f"depth must be an integer ≥ {min_depth} for {kind}, got {depth!r}")
    if not (init_scale > 0):
        raise ValueError(f"init_scale must be > 0, got {init_scale!r}")
    if not (lr_ratio >= 0):
        raise ValueError(f"lr_ratio must be ≥ 0, got {lr_ratio!r}")
    if kind == "dln":
        Ws = init_dln(d, depth, init_scale=init_scale, generator=init_generator(seed))
        return Network(kind, tuple(Ws), _outer_scales(depth, lr_ratio))
    max_hat = d if kind == "cdln" else d // 2
    if rank_hat is None:
        rank_hat = min(2 * r, d) if kind == "cdln" else r
    if isinstance(rank_hat, bool) or not isinstance(rank_hat, int) or not r <= rank_hat <= max_hat:
        raise ValueError(f"rank_hat must be an integer in [rank={r}, {max_hat}] for {kind}, got {rank_hat!r}")
    if kind == "cdln":
        Ws = spectral_init(problem.surrogate(), depth, rank_hat, init_scale=init_scale)
        return Network(kind, tuple(Ws), _outer_scales(depth, lr_ratio))
    Ws0 = init_dln(d, depth, init_scale=init_scale, generator=init_generator(seed))
    G0 = problem.grad(end_to_end(Ws0))
    Ws = compressed_init(Ws0, G0, rank_hat, init_scale=init_scale)
    return Network(kind, tuple(Ws), _outer_scales(len(Ws), lr_ratio))
