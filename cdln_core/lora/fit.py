"""Fitting an adapter to a task: AdamW on the few-shot set, on the kit's one loop policy.

``fit`` adapts a copy of a task's pretrained model with adapters of one kind and returns a frozen
``FitResult`` (records of train/test loss, the learned updates ΔW, how the run ended). The loop is
``cdln_core.loop.run``: wall time excludes recording; a non-finite loss, one that grows past
``diverge_factor`` times its start, or a numeric error ends the run as a divergence with its step
(never an exception out of ``fit``); a callback returning True stops it; Ctrl-C raises
``loop.Interrupted`` whose ``.result`` is the partial ``FitResult``.

Training is AdamW as in the paper (weight decay 0, constant lr), full batch by default (the few-shot
sets are small) or mini-batches (``batch_size``; the paper uses 16 on 16–1024 samples, see
``FitConfig.paper``). The adapter's draws come from the stream ``seeds.generator(seed, "adapter")``,
the mini-batch order from ``(seed, "shuffle")``, both independent of the task's.

Reference: [Y] Yaras et al., ICML 2024 (arXiv 2406.04112), §5.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from ..checks import check_choice, check_int, check_number
from ..loop import Interrupted, LoopConfig, RunResult, StepRecord, run
from ..seeds import check_seed, generator
from ..threads import choose, use
from .adapters import KINDS
from .attach import adapters, add_adapters, deltas, fit_compressed, n_trainable, param_groups
from .paper import PROTOCOL
from .tasks import Task, chance_accuracy, loss_fn

__all__ = ["FitConfig", "FitRecord", "FitResult", "fit", "update_rank", "check_rank"]


@dataclass(frozen=True)
class FitConfig:
    """kind: one of KINDS.  rank: the width of the adapter's bottleneck, so that kinds compare at the
    same rank: r for LoRA, w for deep_narrow, 2r̂ for deep_compressed (r̂ = max(1, rank // 2));
    deep_wide ignores it.  depth: L ≥ 2 Deep LoRA factors (the paper's 3).
    lr: AdamW step η.  steps: optimizer steps.  batch_size: None (full batch) or the mini-batch size
    (reshuffled every pass over the data).  outer_lr_ratio: γ ≥ 0 for the compressed bases.
    init_scale: ε ∈ (0, 1] of Deep LoRA.  alpha: LoRA's α (None: no α/r scaling).  record_every: steps
    between test evaluations (0 and the last step are always recorded).  diverge_factor: growth of
    the training loss over its start that counts as divergence.  threads: torch threads during the
    run (None: ``threads.choose`` by the size of the step)."""

    kind: str = "lora"
    rank: int = 8
    lr: float = 1e-2
    steps: int = 100
    outer_lr_ratio: float = 1e-2
    init_scale: float = 1e-3
    alpha: float | None = None
    depth: int = 3
    record_every: int = 5
    batch_size: int | None = None
    diverge_factor: float = 1e8
    threads: int | None = 1  # a thread hand-off costs more than these small steps

    def __post_init__(self):
        values = {
            "kind": check_choice("kind", self.kind, KINDS),
            "rank": check_int("rank", self.rank, 1),
            "lr": check_number("lr", self.lr, low=0.0, low_open=True),
            "steps": check_int("steps", self.steps, 1),
            "outer_lr_ratio": check_number("outer_lr_ratio", self.outer_lr_ratio, low=0.0),
            "init_scale": check_number("init_scale", self.init_scale, low=0.0, low_open=True, high=1.0),
            "alpha": None if self.alpha is None else check_number("alpha", self.alpha, low=0.0, low_open=True),
            "depth": check_int("depth", self.depth, 2),
            "batch_size": None if self.batch_size is None else check_int("batch_size", self.batch_size, 1),
            "threads": None if self.threads is None else check_int("threads", self.threads, 1),
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)
        self.loop_config()  # validates record_every and diverge_factor

    @property
    def adapter_rank(self) -> int:
        """The ``rank`` argument of ``add_adapters``: r̂ = max(1, rank // 2) for deep_compressed, else rank."""
        return max(1, self.rank // 2) if self.kind == "deep_compressed" else self.rank

    def loop_config(self) -> LoopConfig:
        return LoopConfig(steps=self.steps, record_every=self.record_every, diverge_factor=self.diverge_factor)

    @classmethod
    def paper(cls, kind: str = "deep_compressed", *, steps: int = 500, **changes) -> FitConfig:
        """The paper's protocol (``paper.PROTOCOL``, [Y] §5): AdamW at lr 1e-4, batch 16, ε = 1e-3,
        depth 3, rank 8 (compressed inner width 2r̂ = 8), γ = 1e-2; ``steps`` and ``changes`` on top."""
        p = PROTOCOL
        base = dict(kind=kind, rank=p["compressed_inner_width"], lr=p["lr"], steps=steps, batch_size=p["batch_size"],
                    init_scale=p["init_scale"], depth=p["depth"], outer_lr_ratio=p["outer_lr_ratio"])
        return cls(**{**base, **changes})


@dataclass(frozen=True, kw_only=True)
class FitRecord(StepRecord):
    """One recorded step: ``step``, ``train_loss`` (the loss on the whole training set at that iterate),
    ``wall_time``, the test loss (and accuracy for a classification task), and the same on the
    validation set when the task has one."""

    test_loss: float
    test_accuracy: float | None = None
    val_loss: float | None = None
    val_accuracy: float | None = None


@dataclass(frozen=True, kw_only=True)
class FitResult(RunResult):
    """One adaptation run: its records and outcome (``loop.RunResult``), the learned updates ΔW and
    W₀ per adapted layer (m, n), the trainable count, and ``warnings`` (a divergence, a training loss
    that rose, an accuracy at chance): a run with warnings is never averaged in silently."""

    kind: str
    rank: int
    n_samples: int
    n_trainable: int
    deltas: dict[str, Tensor]
    base_weights: dict[str, Tensor]
    warnings: tuple[str, ...] = ()

    @property
    def test_loss(self) -> list[float]:
        return self.column("test_loss")

    @property
    def test_accuracy(self) -> list[float] | None:
        acc = self.column("test_accuracy")
        return None if not acc or acc[0] is None else acc

    @property
    def final_test(self) -> float:
        return self.records[-1].test_loss

    @property
    def val_best(self) -> FitRecord | None:
        """Early stopping chosen on validation, never on test: the first record with the lowest
        validation loss (None when the task has no validation set)."""
        vals = [np.inf if not np.isfinite(v) else v for v in self.column("val_loss") if v is not None]
        return self.records[int(np.argmin(vals))] if len(vals) == len(self.records) and vals else None

    def update_ranks(self, rtol: float = 1e-2) -> dict[str, int]:
        return {k: update_rank(D, self.base_weights[k], rtol=rtol) for k, D in self.deltas.items()}


def update_rank(delta: Tensor, W0: Tensor, *, rtol: float = 1e-2) -> int:
    """Numerical rank of a learned update: the number of singular values of ΔW (m, n) above
    rtol·‖W₀‖₂ (so an update that never left its ε^L-sized init has rank 0; a non-finite ΔW: −1)."""
    if not bool(torch.isfinite(delta).all()):
        return -1
    s = torch.linalg.svdvals(delta.double())
    return int((s > rtol * torch.linalg.matrix_norm(W0.double(), 2)).sum())


def check_rank(task: Task, cfg: FitConfig) -> None:
    """A ValueError naming ``rank`` if ``cfg.rank`` is too large for a layer the task adapts."""
    modules = dict(task.model.named_modules())
    for name in task.targets:
        layer = modules.get(name)
        if not isinstance(layer, nn.Linear):
            raise ValueError(f"task.targets must name Linear layers of task.model, got {name!r}")
        m, n = layer.out_features, layer.in_features
        if cfg.kind != "deep_wide" and cfg.rank > min(m, n):
            raise ValueError(f"rank must be an integer in [1, {min(m, n)}] for {cfg.kind} on layer {name!r} "
                             f"({m}×{n}), got {cfg.rank}")


def _warnings(records: list[FitRecord], outcome, chance: float | None) -> tuple[str, ...]:
    out = []
    if outcome.diverged_step is not None:
        out.append(f"diverged at step {outcome.diverged_step}: {outcome.note}")
    elif records and records[-1].train_loss > records[0].train_loss:
        out.append(f"training loss rose from {records[0].train_loss:.3g} to {records[-1].train_loss:.3g}")
    acc = records[-1].test_accuracy if records else None
    if chance is not None and acc is not None and not acc > 1.25 * chance:
        out.append(f"test accuracy {acc:.3f} is at chance (majority label {chance:.3f})")
    return tuple(out)


def fit(task: Task, cfg: FitConfig, *, seed: int, callback: Callable[[FitRecord], bool | None] | None = None
        ) -> FitResult:
    """Adapt a copy of ``task.model`` with adapters of ``cfg.kind`` on ``task.targets``.

    AdamW (weight decay 0) for ``cfg.steps`` steps on the full training set or on mini-batches of
    ``cfg.batch_size``; the compressed adapter's bases are fitted from the gradient on the whole
    training set at init and step with γ·lr. The divergence rule reads the loss each step trains on.
    ``callback(record)`` runs at every record (for live plots); returning True stops the run.
    """
    if not isinstance(task, Task):
        raise TypeError(f"task must be a Task (teacher_student, digits, ...), got {type(task).__name__}")
    if not isinstance(cfg, FitConfig):
        raise TypeError(f"cfg must be a FitConfig, got {type(cfg).__name__}")
    seed = check_seed(seed)
    check_rank(task, cfg)
    model = copy.deepcopy(task.model)
    add_adapters(model, cfg.kind, rank=cfg.adapter_rank, generator=generator(seed, "adapter"), targets=task.targets,
                 init_scale=cfg.init_scale, alpha=cfg.alpha, depth=cfg.depth, outer_lr_ratio=cfg.outer_lr_ratio)
    loss = loss_fn(task.loss)
    X, Y, Xt, Yt = task.X_train, task.Y_train, task.X_test, task.Y_test
    if cfg.kind == "deep_compressed":
        fit_compressed(model, lambda mod: loss(mod(X), Y))
    opt = torch.optim.AdamW(param_groups(model, cfg.lr), weight_decay=0.0)
    classify, N = task.loss == "ce", X.shape[0]
    bs = N if cfg.batch_size is None else min(cfg.batch_size, N)
    per_epoch, shuffle, order = -(-N // bs), generator(seed, "shuffle"), []

    def evaluate(t: int) -> float:
        opt.zero_grad(set_to_none=True)
        if bs == N:
            value = loss(model(X), Y)
        else:
            i = t % per_epoch
            if i == 0:  # a fresh order every pass over the data
                order[:] = [torch.randperm(N, generator=shuffle)]
            idx = order[0][i * bs : (i + 1) * bs]
            value = loss(model(X[idx]), Y[idx])
        if t < cfg.steps:  # the last evaluation is only measured
            value.backward()
        return float(value.detach())

    def scores(x: Tensor, y: Tensor) -> tuple[float, float | None]:
        out = model(x)
        return float(loss(out, y)), float((out.argmax(1) == y).float().mean()) if classify else None

    def record(t: int, value: float, wall: float) -> FitRecord:
        with torch.no_grad():
            if bs < N:  # the record reads the whole training set, the loop the mini-batch
                value = float(loss(model(X), Y))
            test, acc = scores(Xt, Yt)
            val, val_acc = (None, None) if task.X_val is None else scores(task.X_val, task.Y_val)
            return FitRecord(step=t, train_loss=value, wall_time=wall, test_loss=test, test_accuracy=acc,
                             val_loss=val, val_accuracy=val_acc)

    def result(records, outcome) -> FitResult:
        return FitResult(
            records=records, outcome=outcome, kind=cfg.kind, rank=cfg.rank, n_samples=task.n_samples,
            n_trainable=n_trainable(model), deltas=deltas(model),
            base_weights={k: m.base.weight.detach().clone() for k, m in adapters(model).items()},
            warnings=_warnings(records, outcome, chance_accuracy(task)),
        )

    work = bs * sum(m.in_features * m.out_features for m in adapters(model).values())
    try:
        with use(choose(work, requested=cfg.threads)):
            return result(*run(evaluate, lambda t: opt.step(), record, cfg.loop_config(), callback=callback))
    except Interrupted as stop:
        stop.result = result(stop.records, stop.outcome)
        raise
