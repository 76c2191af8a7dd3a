"""Training: mini-batch cross-entropy on the digits, recording accuracy and update spectra.

``fit`` trains a model in place with two learning rates (η, and α·η for the outer factors of every
factored layer, ``layers.param_groups``), draws every random number from explicit
``torch.Generator``s, and records ``FitRecord``s (test accuracy, singular values of tracked updates
ΔW = W(t) − W(0)) into a ``FitResult``.

Reference: SPEC §7; [K] Kwon et al., AISTATS 2024, §6.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..checks import check_int, check_positive
from ..spectra import effective_rank
from .data import Digits
from .layers import n_params, param_groups
from .updates import update_spectrum, weight_matrices

__all__ = ["FitConfig", "FitRecord", "FitResult", "fit", "accuracy"]


@dataclass(frozen=True)
class FitConfig:
    """Mini-batch training with cross-entropy.

    lr: η > 0.  lr_ratio: α > 0 (outer factors of factored layers step with α·η).
    epochs ≥ 1, batch_size ≥ 1.  optimizer: ``"sgd"`` (with ``momentum``) or ``"adam"``.
    record_every: record (test accuracy, update spectra) every k steps; step 0 and the last are
    always recorded.  track: names from ``weight_matrices`` whose update spectra to record
    (``()``: none, ``None``: all).  threads: torch intra-op threads while training (restored
    after; ``None`` leaves them alone). One by default: for layers this small, splitting each
    product across cores costs more than it saves, and on a shared 2-core machine it makes
    timings erratic.
    """

    lr: float = 0.05
    lr_ratio: float = 1.0
    epochs: int = 20
    batch_size: int = 64
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 0.0
    record_every: int = 20
    track: tuple[str, ...] | None = ()
    threads: int | None = 1

    def __post_init__(self):
        check_positive("lr", self.lr)
        check_positive("lr_ratio", self.lr_ratio)
        check_positive("momentum", self.momentum, allow_zero=True)
        check_positive("weight_decay", self.weight_decay, allow_zero=True)
        check_int("epochs", self.epochs, 1)
        check_int("batch_size", self.batch_size, 1)
        check_int("record_every", self.record_every, 1)
        if self.threads is not None:
            check_int("threads", self.threads, 1)
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer must be one of sgd, adam, got {self.optimizer!r}")


@dataclass(frozen=True)
class FitRecord:
    """One recorded step. ``update_sv``: name → singular values of W(t) − W(0) (descending)."""

    step: int
    epoch: float
    train_loss: float  # mean mini-batch loss since the previous record
    test_accuracy: float
    wall_time: float  # seconds of optimization so far (evaluation and recording excluded)
    update_sv: dict[str, np.ndarray] = field(default_factory=dict)

    def update_effective_rank(self, name: str) -> float:
        """Effective rank of the recorded ΔW called ``name`` (``spectra.effective_rank``)."""
        return effective_rank(torch.diag(torch.from_numpy(self.update_sv[name])))


@dataclass
class FitResult:
    """What a run produced."""

    n_params: int
    records: list[FitRecord] = field(default_factory=list)
    diverged_step: int | None = None

    def column(self, name: str) -> list:
        return [getattr(r, name) for r in self.records]

    @property
    def test_accuracy(self) -> float:
        """Final test accuracy."""
        return self.records[-1].test_accuracy

    @property
    def wall_time(self) -> float:
        """Total optimization time (s)."""
        return self.records[-1].wall_time

    def time_to_accuracy(self, threshold: float) -> float | None:
        """Optimization time at the first record with test accuracy ≥ ``threshold`` (None if never)."""
        for r in self.records:
            if r.test_accuracy >= threshold:
                return r.wall_time
        return None


def accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """Fraction of correct argmax predictions."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        acc = float((model(x).argmax(dim=1) == y).float().mean())
    model.train(was_training)
    return acc


def fit(
    model: nn.Module,
    data: Digits,
    config: FitConfig,
    *,
    seed: int = 0,
    callback: Callable[[FitRecord], bool | None] | None = None,
) -> FitResult:
    """Train ``model`` in place on ``data`` with mini-batches shuffled by a generator from ``seed``.

    ``callback(record)`` runs after each record (a notebook streams it into a figure); returning
    True stops the run. A non-finite loss stops the run and sets ``diverged_step``.
    """
    check_int("seed", seed, 0)
    before = torch.get_num_threads()
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    try:
        return _fit(model, data, config, seed, callback)
    finally:
        torch.set_num_threads(before)


def _fit(model, data, config, seed, callback) -> FitResult:
    g = torch.Generator().manual_seed(seed + 2_000_029)  # the shuffling stream
    groups = param_groups(model, config.lr, config.lr_ratio)
    if config.optimizer == "sgd":
        opt = torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    else:
        opt = torch.optim.Adam(groups, lr=config.lr, weight_decay=config.weight_decay)
    W0 = weight_matrices(model)
    names = list(W0) if config.track is None else list(config.track)
    for name in names:
        if name not in W0:
            raise ValueError(f"track must name weight matrices (one of {list(W0)}), got {name!r}")
    W0 = {n: W0[n] for n in names}

    result = FitResult(n_params=n_params(model))
    N = data.x_train.shape[0]
    per_epoch = math.ceil(N / config.batch_size)
    total = config.epochs * per_epoch
    wall, losses = 0.0, []

    def record(step: int) -> bool:
        now = weight_matrices(model) if names else {}
        rec = FitRecord(
            step=step,
            epoch=step / per_epoch,
            train_loss=float(np.mean(losses)) if losses else float("nan"),
            test_accuracy=accuracy(model, data.x_test, data.y_test),
            wall_time=wall,
            update_sv={n: update_spectrum(now[n], W0[n]) for n in names},
        )
        result.records.append(rec)
        losses.clear()
        return bool(callback(rec)) if callback is not None else False

    model.train()
    if record(0):
        return result
    step = 0
    for _ in range(config.epochs):
        order = torch.randperm(N, generator=g)
        for start in range(0, N, config.batch_size):
            idx = order[start : start + config.batch_size]
            tic = time.perf_counter()
            loss = F.cross_entropy(model(data.x_train[idx]), data.y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            wall += time.perf_counter() - tic
            step += 1
            losses.append(float(loss.detach()))
            if not math.isfinite(losses[-1]):
                result.diverged_step = step
                record(step)
                return result
            if (step % config.record_every == 0 or step == total) and record(step):
                return result
    return result
