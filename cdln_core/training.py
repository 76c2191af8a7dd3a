"""Full-batch gradient descent on a factor list, recorded as a trajectory.

W_l ← W_l − η·s_l·∇_{W_l} loss, every factor from the same iterate, s_l the network's step scale
(α or γ on the outer factors, 1 inside). The loop is ``loop.run``, the kit's one loop policy: the run
stops at ``steps``, when the training loss reaches ``tol``, when it diverges (a non-finite loss, one
that grows past ``diverge_factor`` times its start, or numbers leaving the finite range anywhere),
reported with its step, at ``max_seconds`` of optimization, or when a callback asks; wall time
counts the optimization alone (recording is excluded). On Ctrl-C, ``loop.Interrupted`` is raised
with ``.result``, the partial ``Trajectory``. Threads come from ``threads.choose`` with the
problem's ``thread_hint``.

Reference: [K] Algorithm 1 (gradient descent with two step sizes), [K] §4; [Y] §3.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from .checks import check_bool, check_choice, check_int, check_number
from .dln import end_to_end, factor_grads_from
from .loop import Interrupted, LoopConfig, RunResult, StepRecord, run
from .networks import Network
from .problems import Problem
from .threads import SMALL_WORK, choose, use

__all__ = ["ENGINES", "TrainConfig", "Record", "Trajectory", "train"]

ENGINES = ("auto", "torch", "numpy")
MAX_THREADS = 256  # more would only make torch start a pool of idle threads


@dataclass(frozen=True)
class TrainConfig:
    """lr: η > 0.  steps: the most updates (≥ 0).  tol: stop when the training loss ≤ tol (0: never).
    record_every: record every k ≥ 1 steps (step 0 and the last step are always recorded).
    keep_factors: also keep a copy of every factor at each record (for subspace plots).
    diverge_factor: finite, > 1: a loss past this many times its start counts as divergence.
    threads: torch threads during the run, in [1, 256]; None lets ``threads.choose`` pick from the
    problem's ``thread_hint`` (one thread for small or memory-bound steps).
    max_seconds: stop once the optimization has taken this long (> 0; None: no budget).
    engine: "torch", "numpy" or "auto". The numbers are the same; "numpy" runs the hot loop on
    zero-copy NumPy views of the same factors, whose per-call cost is a fraction of torch's on the
    tiny matrices of a compressed network. "auto" picks it for narrow, small models on problems
    that take NumPy arrays (``Problem.numpy_ready``)."""

    lr: float
    steps: int
    tol: float = 0.0
    record_every: int = 100
    keep_factors: bool = False
    diverge_factor: float = 1e8
    threads: int | None = None
    max_seconds: float | None = None
    engine: str = "auto"

    def __post_init__(self):
        loop = self.loop_config()  # validates the loop's own fields (steps, record_every, tol, ...)
        values = {name: getattr(loop, name) for name in ("steps", "record_every", "tol", "diverge_factor",
                                                         "max_seconds")}
        values["lr"] = check_number("lr", self.lr, low=0.0, low_open=True)
        values["keep_factors"] = check_bool("keep_factors", self.keep_factors)
        values["threads"] = None if self.threads is None else check_int("threads", self.threads, 1, MAX_THREADS)
        values["engine"] = check_choice("engine", self.engine, ENGINES)
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def loop_config(self) -> LoopConfig:
        """The ``loop.LoopConfig`` of this run."""
        return LoopConfig(steps=self.steps, record_every=self.record_every, tol=self.tol,
                          diverge_factor=self.diverge_factor, max_seconds=self.max_seconds)


@dataclass(frozen=True, kw_only=True)
class Record(StepRecord):
    """One recorded step (``step``, ``train_loss``, ``wall_time`` and the recovery measurements).
    Singular values are descending numpy arrays, NaN where the iterate was not finite."""

    recovery_error: float
    test_loss: float | None
    e2e_singular_values: np.ndarray  # (min(d_L, d_0),)
    factor_singular_values: list[np.ndarray]  # per factor, (min(d_l, d_{l-1}),)
    factors: list[np.ndarray] | None = None  # per factor (d_l, d_{l-1}) when keep_factors


@dataclass(frozen=True, kw_only=True)
class Trajectory(RunResult):
    """What a run produced: its records, how it ended (``outcome``: converged, diverged, ... with the
    step), the model's name and size, and the final factors ``Ws`` (the factors at the interrupt for
    a partial result)."""

    model: str
    n_params: int
    Ws: tuple[torch.Tensor, ...] | None = None

    @property
    def recovery_error(self) -> list[float]:
        return self.column("recovery_error")

    def to_dict(self) -> dict:
        """Plain lists and numbers, as in the ``cdln run`` JSON contract (``cdln.run/1``)."""
        base = super().to_dict()
        return {
            "model": self.model,
            "n_params": self.n_params,
            "steps": base.pop("steps"),
            "train_loss": base.pop("train_loss"),
            "recovery_error": self.recovery_error,
            "test_loss": self.column("test_loss"),
            "wall_time": base.pop("wall_time"),
            "e2e_singular_values": [r.e2e_singular_values.tolist() for r in self.records],
            "factor_singular_values": [[s.tolist() for s in r.factor_singular_values] for r in self.records],
            "converged_step": base.pop("converged_step"),
            "diverged_step": base.pop("diverged_step"),
            **base,  # stop_reason, stopped_step, interrupted_step, divergence_note
        }


def _svdvals(A: torch.Tensor) -> np.ndarray:
    """Singular values, descending; NaN (and no LAPACK call) when A is not finite. Matrices near the
    overflow threshold are scaled by a power of two first (exact), so LAPACK never overflows inside."""
    k = min(A.shape)
    if not bool(torch.isfinite(A).all()):
        return np.full(k, np.nan)
    top = A.abs().max().item() if A.numel() else 0.0
    if top > 1e150:
        scale = 2.0 ** math.floor(math.log2(top))
        return (torch.linalg.svdvals(A / scale) * scale).numpy()
    return torch.linalg.svdvals(A).numpy()


def _record(problem: Problem, Ws, step: int, loss: float, wall: float, keep: bool) -> Record:
    with torch.no_grad():
        E = end_to_end(Ws)  # (d, d)
        return Record(
            step=step,
            train_loss=loss,
            wall_time=wall,
            recovery_error=problem.recovery_error(E),  # norms only: NaN, not an error, off the finite range
            test_loss=problem.test_loss(E),
            e2e_singular_values=_svdvals(E),
            factor_singular_values=[_svdvals(W) for W in Ws],
            factors=[W.numpy().copy() for W in Ws] if keep else None,
        )


class _Descent:
    """The state of one run: evaluate (loss and the two gradient products), update (in place), record."""

    def __init__(self, problem: Problem, network: Network, config: TrainConfig, numpy_engine: bool):
        self.problem, self.keep = problem, config.keep_factors
        self.Ws = [W.detach().clone() for W in network.Ws]  # recorded from; updated in place
        self.Xs = [W.numpy() for W in self.Ws] if numpy_engine else self.Ws  # zero-copy views: the same memory
        self.etas = [config.lr * s for s in network.lr_scales]
        eye = torch.eye(problem.d, dtype=self.Ws[0].dtype) if len(self.Ws) == 1 else None
        self.eye = eye.numpy() if numpy_engine and eye is not None else eye
        self.products = None
        self.outer = self.Xs[1:]  # W_2 … W_L: the same arrays, updated in place
        self.step = problem.loss_and_products

    def evaluate(self, t: int) -> float:
        A = self.eye if self.eye is not None else end_to_end(self.outer)  # W_L ⋯ W_2: (d, d_1)
        loss, *self.products = self.step(A, self.Xs[0])
        return loss

    def update(self, t: int) -> None:
        grads = factor_grads_from(self.Xs, *self.products)
        if self.Xs is self.Ws:  # torch: W ← W − η·g in one pass
            for W, g, eta in zip(self.Ws, grads, self.etas):
                W.add_(g, alpha=-eta)
            return
        for W, g, eta in zip(self.Xs, grads, self.etas):  # NumPy views: in place, two passes
            g *= eta
            W -= g

    def record(self, t: int, loss: float, wall: float) -> Record:
        return _record(self.problem, self.Ws, t, loss, wall, self.keep)


def _check_args(problem, network, config) -> None:
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a Problem (from make_problem), got {type(problem).__name__}")
    if not isinstance(network, Network):
        raise TypeError(f"network must be a Network (from make_network), got {type(network).__name__}")
    if not isinstance(config, TrainConfig):
        hint = " (write TrainConfig(**your_dict))" if isinstance(config, dict) else ""
        raise TypeError(f"config must be a TrainConfig{hint}, got {type(config).__name__}")
    d_in, d_out = network.Ws[0].shape[1], network.Ws[-1].shape[0]
    if d_in != problem.d or d_out != problem.d:
        raise ValueError(f"network maps {d_in} → {d_out} but the problem has d={problem.d}; build the network "
                         f"for this problem")


def train(
    problem: Problem,
    network: Network,
    config: TrainConfig,
    *,
    callback: Callable[[Record], bool | None] | None = None,
) -> Trajectory:
    """Run gradient descent from ``network``'s init on ``problem``.

    ``callback(record)`` is called after each record (a notebook streams it into a figure); if it
    returns True the run stops there. Returns a ``Trajectory`` whose ``Ws`` are the final factors.
    Raises ``loop.Interrupted`` on Ctrl-C, with ``.result`` the partial ``Trajectory``.
    """
    _check_args(problem, network, config)
    k = network.Ws[0].shape[0]  # d_1
    small = problem.d * problem.d * k < SMALL_WORK  # the step's largest product, in multiply-adds
    engine = config.engine
    if engine == "auto":
        engine = "numpy" if small and k < problem.d and problem.numpy_ready else "torch"
    elif engine == "numpy" and not problem.numpy_ready:
        raise ValueError(f"engine='numpy' is not available for {problem.kind}; use 'torch' or 'auto'")
    threads = choose(requested=config.threads, **problem.thread_hint(k))
    descent = _Descent(problem, network, config, numpy_engine=engine == "numpy")

    def result(records, outcome) -> Trajectory:
        Ws = tuple(W.clone() for W in descent.Ws)  # ordinary tensors again, usable with autograd
        return Trajectory(records=records, outcome=outcome, model=network.kind, n_params=network.n_params, Ws=Ws)

    with use(threads):
        try:  # NumPy's overflow warnings are noise: the loop reports the divergence with its step
            with torch.inference_mode(), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                records, outcome = run(descent.evaluate, descent.update, descent.record, config.loop_config(),
                                       callback=callback)
        except Interrupted as err:
            err.result = result(err.records, err.outcome)
            raise
    return result(records, outcome)
