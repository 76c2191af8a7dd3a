"""Training: mini-batch cross-entropy on a classification set, recording accuracy and update spectra.

``fit`` trains a model in place on the kit's one loop policy (``cdln_core.loop.run``): one loop step
is one mini-batch; wall time counts the forward, backward and optimizer step only (recording
excluded); a non-finite loss, one that grows past ``diverge_factor`` times its start, or a numeric
error ends the run as a divergence with its step; a callback returning True stops it; Ctrl-C raises
``loop.Interrupted`` whose ``.result`` is the partial ``FitResult``. Two learning rates: η, and α·η
for the outer factors of every factored layer (their ``lr_scales``, ``cdln_core.factors.param_groups``).
The mini-batch order comes from the stream ``seeds.generator(seed, "shuffle")``. With a validation
split (``load_mnist1d``) every record also carries the validation accuracy, ``FitResult.val_best`` is
the record early stopping picks (best validation accuracy, the earliest on ties: the test split is
never read to choose it), and ``FitConfig.patience`` ends a run whose validation accuracy has not
improved for that many records.

Reference: [K] Kwon et al., AISTATS 2024 (arXiv 2311.05061), §6.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..checks import check_choice, check_int, check_number
from ..loop import Interrupted, LoopConfig, RunResult, StepRecord, run
from ..seeds import check_seed, generator
from ..spectra import effective_rank
from ..threads import choose, use
from .data import Digits
from .layers import n_params, param_groups, set_lr_ratio
from .updates import update_spectrum, weight_matrices

__all__ = ["OPTIMIZERS", "FitConfig", "FitRecord", "FitResult", "fit", "accuracy"]

OPTIMIZERS = ("sgd", "adam")


@dataclass(frozen=True)
class FitConfig:
    """Mini-batch training with cross-entropy.

    lr: η > 0.  lr_ratio: α > 0, the step scale of the outer factors of every factored layer for
    this run (None: keep the layers' own, set by ``make_model(lr_ratio=...)``).
    epochs ≥ 1, batch_size ≥ 1.  optimizer: ``"sgd"`` (with ``momentum``) or ``"adam"``.
    record_every: record (test accuracy, update spectra) every k steps; step 0 and the last are
    always recorded.  track: names from ``weight_matrices`` whose update spectra to record
    (``()``: none, ``None``: all).  diverge_factor: growth of the mini-batch loss over its start
    that counts as divergence.  threads: torch intra-op threads while training (restored after;
    ``None``: ``threads.choose``). One by default: for layers this small, splitting each product
    across cores costs more than it saves, and on a shared 2-core machine it makes timings erratic.
    A run is bit-reproducible at a fixed thread count (float32 sums round by it); the default 1 gives
    the same numbers on any machine and under any ``OMP_NUM_THREADS``, ``None`` may not.
    patience: with a validation split, stop after this many records without a new best validation
    accuracy (``None``: run every epoch).
    """

    lr: float = 0.05
    lr_ratio: float | None = None
    epochs: int = 20
    batch_size: int = 64
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 0.0
    record_every: int = 20
    track: tuple[str, ...] | None = ()
    diverge_factor: float = 1e8
    threads: int | None = 1
    patience: int | None = None

    def __post_init__(self):
        positive = dict(low=0.0, low_open=True)
        values = {
            "lr": check_number("lr", self.lr, **positive),
            "lr_ratio": None if self.lr_ratio is None else check_number("lr_ratio", self.lr_ratio, **positive),
            "epochs": check_int("epochs", self.epochs, 1),
            "batch_size": check_int("batch_size", self.batch_size, 1),
            "optimizer": check_choice("optimizer", self.optimizer, OPTIMIZERS),
            "momentum": check_number("momentum", self.momentum, low=0.0),
            "weight_decay": check_number("weight_decay", self.weight_decay, low=0.0),
            "threads": None if self.threads is None else check_int("threads", self.threads, 1),
            "track": None if self.track is None else tuple(self.track),
            "patience": None if self.patience is None else check_int("patience", self.patience, 1),
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)
        self.loop_config(1)  # validates record_every and diverge_factor

    def loop_config(self, steps: int) -> LoopConfig:
        return LoopConfig(steps=steps, record_every=self.record_every, diverge_factor=self.diverge_factor)


@dataclass(frozen=True, kw_only=True)
class FitRecord(StepRecord):
    """One recorded step: ``step`` (mini-batches so far), ``train_loss`` (the mean mini-batch loss
    since the previous record, at step 0 the first batch's), ``wall_time``, the epoch, the test
    accuracy, the validation accuracy (None without a validation split), and ``update_sv``: name →
    singular values of W(t) − W(0) (descending)."""

    epoch: float
    test_accuracy: float
    val_accuracy: float | None = None
    update_sv: dict[str, np.ndarray] = field(default_factory=dict)

    def update_effective_rank(self, name: str) -> float:
        """Effective rank of the recorded ΔW called ``name`` (``spectra.effective_rank``)."""
        return effective_rank(torch.diag(torch.from_numpy(self.update_sv[name])))


@dataclass(frozen=True, kw_only=True)
class FitResult(RunResult):
    """What a run produced: its records and outcome (``loop.RunResult``: ``steps``, ``wall_time``
    per record, ``diverged_step``, ``stop_reason`` …), the trainable count, and ``warnings`` (a
    divergence, a final accuracy at chance): a flagged run is never reported as an ordinary result."""

    n_params: int
    warnings: tuple[str, ...] = ()

    @property
    def test_accuracy(self) -> float:
        """Final test accuracy."""
        return self.records[-1].test_accuracy

    @property
    def val_best(self) -> FitRecord | None:
        """The record early stopping picks: the highest validation accuracy, the earliest on ties
        (None without a validation split). Its ``test_accuracy`` is the run's reported accuracy."""
        scored = [r for r in self.records if r.val_accuracy is not None]
        return max(scored, key=lambda r: r.val_accuracy) if scored else None  # max keeps the first of ties

    def time_to_accuracy(self, threshold: float) -> float | None:
        """Optimization time at the first record with test accuracy ≥ ``threshold`` (None if never)."""
        for r in self.records:
            if r.test_accuracy >= threshold:
                return r.wall_time
        return None


def _warnings(records: list[FitRecord], outcome, y_test: Tensor) -> tuple[str, ...]:
    out = [f"diverged at step {outcome.diverged_step}: {outcome.note}"] if outcome.diverged_step is not None else []
    chance = float(torch.bincount(y_test).max()) / len(y_test)  # always answering the commonest label
    if records and not records[-1].test_accuracy > 1.25 * chance:
        out.append(f"test accuracy {records[-1].test_accuracy:.3f} is at chance (majority label {chance:.3f})")
    return tuple(out)


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
    """Train ``model`` in place on ``data`` with mini-batches shuffled by the stream (seed, "shuffle").

    ``callback(record)`` runs after each record (a notebook streams it into a figure); returning
    True stops the run. A divergence stops the run and sets ``diverged_step``.
    """
    if not isinstance(config, FitConfig):
        raise TypeError(f"config must be a FitConfig, got {type(config).__name__}")
    seed = check_seed(seed)
    if config.lr_ratio is not None:
        set_lr_ratio(model, config.lr_ratio)
    groups = param_groups(model, config.lr)
    if config.optimizer == "sgd":
        opt = torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    else:
        opt = torch.optim.Adam(groups, lr=config.lr, weight_decay=config.weight_decay)
    width = max((p.shape[0] for p in model.parameters() if p.ndim == 2), default=1)
    threads = choose(config.batch_size * width * width, requested=config.threads)
    with use(threads):  # W(0) at the training's thread count too: a float32 product may round by thread count
        W0 = weight_matrices(model)
    names = list(W0) if config.track is None else list(config.track)
    for name in names:
        if name not in W0:
            raise ValueError(f"track must name weight matrices (one of {list(W0)}), got {name!r}")
    W0 = {n: W0[n] for n in names}

    N, bs = data.x_train.shape[0], config.batch_size
    per_epoch = -(-N // bs)
    total = config.epochs * per_epoch
    shuffle, order, losses = generator(seed, "shuffle"), [], []

    def evaluate(t: int) -> float:
        i = t % per_epoch
        if i == 0:  # a fresh order at each epoch (the last evaluation, t = total, reads one batch of it)
            order[:] = [torch.randperm(N, generator=shuffle)]
        idx = order[0][i * bs : (i + 1) * bs]
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(data.x_train[idx]), data.y_train[idx])
        if t < total:
            loss.backward()
        losses.append(float(loss.detach()))
        return losses[-1]

    has_val = getattr(data, "x_val", None) is not None
    best = {"val": -1.0, "since": 0}

    def record(t: int, value: float, wall: float) -> FitRecord:
        now = weight_matrices(model) if names else {}
        rec = FitRecord(
            step=t, epoch=t / per_epoch, train_loss=float(np.mean(losses)), wall_time=wall,
            test_accuracy=accuracy(model, data.x_test, data.y_test),
            val_accuracy=accuracy(model, data.x_val, data.y_val) if has_val else None,
            update_sv={n: update_spectrum(now[n], W0[n]) for n in names},
        )
        losses.clear()
        return rec

    def on_record(rec: FitRecord) -> bool:
        stop = bool(callback(rec)) if callback is not None else False
        if has_val and config.patience is not None:
            if rec.val_accuracy > best["val"]:
                best["val"], best["since"] = rec.val_accuracy, 0
            else:
                best["since"] += 1
            stop = stop or best["since"] >= config.patience
        return stop

    model.train()
    try:
        with use(threads):
            records, outcome = run(evaluate, lambda t: opt.step(), record, config.loop_config(total),
                                   callback=on_record)
    except Interrupted as stop:
        stop.result = FitResult(records=stop.records, outcome=stop.outcome, n_params=n_params(model),
                                warnings=_warnings(stop.records, stop.outcome, data.y_test))
        raise
    return FitResult(records=records, outcome=outcome, n_params=n_params(model),
                     warnings=_warnings(records, outcome, data.y_test))
