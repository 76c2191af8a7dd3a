"""Full-batch gradient descent on a factor list, recorded as a trajectory.

W_l ← W_l − η·s_l·∇_{W_l} loss, every factor from the same iterate, s_l the network's step scale
(α or γ on the outer factors, 1 inside). The run stops at ``steps``, when the training loss reaches
``tol``, or when it diverges (a non-finite loss, or one that grows past ``diverge_factor`` times its
start), which is reported with its step. Wall time counts the optimization alone: recording is
excluded.

Reference: SPEC §3–§4; [K] Algorithm 1.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from .dln import end_to_end, factor_grads_from
from .networks import Network
from .problems import Problem

__all__ = ["ENGINES", "TrainConfig", "Record", "Trajectory", "train"]

ENGINES = ("auto", "torch", "numpy")


@dataclass(frozen=True)
class TrainConfig:
    """lr: η > 0.  steps: the most updates.  tol: stop when the training loss ≤ tol (0: never).
    record_every: record every k steps (step 0 and the last step are always recorded).
    keep_factors: also keep a copy of every factor at each record (for subspace plots).
    threads: torch threads during the run; None picks one thread for small runs, whose steps
    are too short for a thread hand-off to pay, and torch's setting otherwise.
    max_seconds: stop once the optimization has taken this long (None: no budget).
    engine: "torch", "numpy" or "auto". The numbers are the same; "numpy" runs the hot loop on
    zero-copy NumPy views of the same factors, whose per-call cost is a fraction of torch's on the
    tiny matrices of a compressed network. "auto" picks it for narrow, small models on problems
    that take NumPy arrays (factorization, completion)."""

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
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr!r}")
        for name in ("steps", "record_every"):
            v = getattr(self, name)
            low = 0 if name == "steps" else 1
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ValueError(f"{name} must be an integer ≥ {low}, got {v!r}")
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        if self.max_seconds is not None and not (self.max_seconds > 0):
            raise ValueError(f"max_seconds must be None or > 0, got {self.max_seconds!r}")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise ValueError(f"threads must be None or an integer ≥ 1, got {self.threads!r}")
        if not (isinstance(self.tol, (int, float)) and self.tol >= 0):
            raise ValueError(f"tol must be a number ≥ 0, got {self.tol!r}")


@dataclass(frozen=True)
class Record:
    """One recorded step. Singular values are descending numpy arrays."""

    step: int
    train_loss: float
    recovery_error: float
    test_loss: float | None
    wall_time: float
    e2e_singular_values: np.ndarray  # (min(d_L, d_0),)
    factor_singular_values: list[np.ndarray]  # per factor, (min(d_l, d_{l-1}),)
    factors: list[np.ndarray] | None = None  # per factor (d_l, d_{l-1}) when keep_factors


@dataclass
class Trajectory:
    """What a run produced: its records, where it converged or diverged, and the final factors."""

    model: str
    n_params: int
    records: list[Record] = field(default_factory=list)
    converged_step: int | None = None
    diverged_step: int | None = None
    Ws: list[torch.Tensor] | None = None

    def column(self, name: str) -> list:
        return [getattr(r, name) for r in self.records]

    @property
    def steps(self) -> list[int]:
        return self.column("step")

    @property
    def train_loss(self) -> list[float]:
        return self.column("train_loss")

    @property
    def recovery_error(self) -> list[float]:
        return self.column("recovery_error")

    @property
    def wall_time(self) -> list[float]:
        return self.column("wall_time")

    def to_dict(self) -> dict:
        """Plain lists and numbers, as in the ``cdln run`` JSON contract."""
        return {
            "model": self.model,
            "n_params": self.n_params,
            "steps": self.steps,
            "train_loss": self.train_loss,
            "recovery_error": self.recovery_error,
            "test_loss": self.column("test_loss"),
            "wall_time": self.wall_time,
            "e2e_singular_values": [r.e2e_singular_values.tolist() for r in self.records],
            "factor_singular_values": [[s.tolist() for s in r.factor_singular_values] for r in self.records],
            "converged_step": self.converged_step,
            "diverged_step": self.diverged_step,
        }


def _record(problem: Problem, Ws, step: int, loss: float, wall: float, keep: bool) -> Record:
    with torch.no_grad():
        E = end_to_end(Ws)
        return Record(
            step=step,
            train_loss=loss,
            recovery_error=problem.recovery_error(E),
            test_loss=problem.test_loss(E),
            wall_time=wall,
            e2e_singular_values=torch.linalg.svdvals(E).numpy(),
            factor_singular_values=[torch.linalg.svdvals(W).numpy() for W in Ws],
            factors=[W.numpy().copy() for W in Ws] if keep else None,
        )


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
    """
    k = network.Ws[0].shape[0]
    work = problem.d * problem.d * k  # multiply-adds of the step's largest product
    small = work < 2**21
    threads = config.threads or (1 if small else torch.get_num_threads())
    engine = config.engine
    if engine == "auto":
        engine = "numpy" if small and k < problem.d and problem.numpy_ready else "torch"
    elif engine == "numpy" and not problem.numpy_ready:
        raise ValueError(f"engine='numpy' is not available for {problem.kind}; use 'torch' or 'auto'")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.inference_mode():
            traj = _run(problem, network, config, callback, numpy_engine=engine == "numpy")
    finally:
        torch.set_num_threads(before)
    traj.Ws = [W.clone() for W in traj.Ws]  # ordinary tensors again, usable with autograd
    return traj


def _run(problem, network, config, callback, *, numpy_engine: bool) -> Trajectory:
    Ws = [W.detach().clone() for W in network.Ws]  # recorded from; the loop updates them in place
    Xs = [W.numpy() for W in Ws] if numpy_engine else Ws  # zero-copy views: the same memory
    steps = [config.lr * s for s in network.lr_scales]
    traj = Trajectory(model=network.kind, n_params=network.n_params)
    eye = torch.eye(problem.d, dtype=Ws[0].dtype) if len(Ws) == 1 else None
    eye = eye.numpy() if numpy_engine and eye is not None else eye
    loss0 = None
    wall = 0.0
    for t in range(config.steps + 1):
        tic = time.perf_counter()
        A = eye if eye is not None else end_to_end(Xs[1:])  # W_L ⋯ W_2: (d, d_1)
        loss, AtG, GBt = problem.loss_and_products(A, Xs[0])
        wall += time.perf_counter() - tic
        loss0 = loss if loss0 is None else loss0
        diverged = not math.isfinite(loss) or loss > config.diverge_factor * max(loss0, 1e-300)
        converged = loss <= config.tol
        out_of_time = config.max_seconds is not None and wall >= config.max_seconds
        last = t == config.steps or diverged or converged or out_of_time
        if t % config.record_every == 0 or last:
            rec = _record(problem, Ws, t, loss, wall, config.keep_factors)
            traj.records.append(rec)
            if callback is not None and callback(rec):
                break
        if diverged:
            traj.diverged_step = t
            break
        if converged:
            traj.converged_step = t
            break
        if last:
            break
        tic = time.perf_counter()
        grads = factor_grads_from(Xs, AtG, GBt)
        for W, g, eta in zip(Xs, grads, steps):  # in place, in either kind of array
            g *= eta
            W -= g
        wall += time.perf_counter() - tic
    traj.Ws = Ws
    return traj
