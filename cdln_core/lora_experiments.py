"""Experiments for Deep LoRA ([Y] §5): few-shot fine-tuning with LoRA and Deep LoRA, measured here.

Three settings, each a ``Task`` (a pretrained model and its data) that ``fit`` adapts:

- ``teacher_student``: a pretrained weight W₀ (d, d) and a truth W₀ + ΔW*, ΔW* of rank r*; inputs
  x = A·z with a decaying spectrum (a_j ∝ j^(−decay)), noisy outputs y = (W₀ + ΔW*)·x + noise. The
  student adapts W₀ from N samples. Claims (SPEC §6): Deep LoRA overfits less with few samples, is
  robust to the rank, and learns lower-rank updates.
- ``digits``: a small MLP pretrained by the kit on the digits 0–4 of scikit-learn's bundled data set,
  adapted with N samples per class to the digits 5–9 (offline, real data, real pretraining).
- ``compressed_tracks_wide``: the compressed Deep LoRA (bases from the first batch's gradient, SPEC §4)
  against the wide one it compresses, step by step.

Training is AdamW as in the paper (weight decay 0, constant lr), full batch (the few-shot sets are
small; the paper uses batch 16 on 16–1024 samples). Everything is seeded through explicit generators.

Reference: SPEC §6; [Y] Yaras et al., ICML 2024 (arXiv 2406.04112), §5 and its Table/Figure on STS-B.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import Tensor, nn

from .checks import check_int, check_positive
from .lora import KINDS, adapters, add_adapters, deltas, fit_compressed, n_trainable, param_groups

__all__ = [
    "PAPER",
    "Task",
    "FitConfig",
    "FitResult",
    "teacher_student",
    "digits",
    "fit",
    "update_rank",
    "sweep",
    "summarize",
    "compressed_tracks_wide",
]

# [Y], STS-B Pearson correlation (SPEC §6): the numbers the kit prints beside its own.
PAPER = {
    "samples": {16: (0.529, 0.598), 64: (0.735, 0.751), 256: (0.814, 0.828)},  # N: (LoRA, Deep LoRA)
    "rank": {8: (0.539, 0.635), 16: (0.524, 0.652), 32: (0.456, 0.660), 64: (0.175, 0.667)},
    "update_rank": "about half of Deep LoRA's updates end at rank 0, most others at 1–4; every LoRA update at rank 8",
}


@dataclass(frozen=True, eq=False)
class Task:
    """A pretrained model and a few-shot data set to adapt it to.

    model: the pretrained network (never modified: ``fit`` adapts a deep copy).
    X_train (N, n), Y_train (N, m) or labels (N,); X_test, Y_test likewise.
    loss: "mse" (½·mean squared error) or "ce" (cross-entropy; accuracy is reported too).
    targets: names of the Linear layers to adapt.  delta_star: the true ΔW per layer, when known.
    """

    name: str
    model: nn.Module
    X_train: Tensor
    Y_train: Tensor
    X_test: Tensor
    Y_test: Tensor
    loss: str
    targets: tuple[str, ...]
    delta_star: dict[str, Tensor] | None = None
    info: dict = field(default_factory=dict)

    @property
    def n_samples(self) -> int:
        return int(self.X_train.shape[0])


def _loss_fn(kind: str) -> Callable[[Tensor, Tensor], Tensor]:
    if kind == "mse":
        return lambda out, y: 0.5 * ((out - y) ** 2).mean()
    if kind == "ce":
        return lambda out, y: nn.functional.cross_entropy(out, y)
    raise ValueError(f"loss must be 'mse' or 'ce', got {kind!r}")




# ---------------------------------------------------------------- teacher–student


def teacher_student(
    n_samples: int,
    *,
    seed: int,
    d: int = 32,
    rank_star: int = 2,
    noise: float = 1.0,
    decay: float = 1.0,
    n_test: int = 2000,
    dtype=torch.float32,
) -> Task:
    """The linear teacher–student task.

    W₀ (d, d) has i.i.d. N(0, 1/d) entries; ΔW* = P·diag(1, …, 0.7)·Qᵀ, P, Q (d, r*) Haar; inputs
    x = A·z, z ~ N(0, I_d), A = O·diag(a), a_j ∝ j^(−decay) scaled to E‖x‖² = d; outputs
    y = (W₀ + ΔW*)·x + noise·s·ξ, s the RMS of an entry of ΔW*·x (so ``noise`` is a noise-to-signal
    ratio). The task draws W₀, ΔW*, A from ``seed`` and the samples from their own stream, so the
    same seed gives the same truth for every N.
    """
    check_int("n_samples", n_samples, 1)
    check_int("d", d, 2)
    check_int("rank_star", rank_star, 1, d)
    check_int("n_test", n_test, 1)
    check_positive("noise", noise, allow_zero=True)
    check_positive("decay", decay, allow_zero=True)
    g = torch.Generator().manual_seed(seed)
    f64 = torch.float64
    W0 = torch.randn(d, d, generator=g, dtype=f64) / math.sqrt(d)  # (d, d)
    P = torch.linalg.qr(torch.randn(d, rank_star, generator=g, dtype=f64))[0]  # (d, r*)
    Q = torch.linalg.qr(torch.randn(d, rank_star, generator=g, dtype=f64))[0]  # (d, r*)
    delta_star = P @ torch.diag(torch.linspace(1.0, 0.7, rank_star, dtype=f64)) @ Q.T  # (d, d), rank r*
    a = torch.arange(1, d + 1, dtype=f64) ** -decay
    a = a * math.sqrt(d / (a**2).sum())  # E‖x‖² = d
    A = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=f64))[0] * a  # (d, d)
    signal_rms = math.sqrt(float(((delta_star @ A) ** 2).sum()) / d)  # RMS of an entry of ΔW*·x
    gs = torch.Generator().manual_seed(seed * 7919 + n_samples)  # the samples: a stream per (seed, N)
    X = torch.randn(n_samples, d, generator=gs, dtype=f64) @ A.T  # (N, d)
    Y = X @ (W0 + delta_star).T + noise * signal_rms * torch.randn(n_samples, d, generator=gs, dtype=f64)
    Xt = torch.randn(n_test, d, generator=g, dtype=f64) @ A.T  # (N_test, d): shared by every N
    Yt = Xt @ (W0 + delta_star).T  # noiseless: the test loss is the excess risk
    model = nn.Sequential()
    model.add_module("layer", nn.Linear(d, d, bias=False))
    with torch.no_grad():
        model.layer.weight.copy_(W0)
    model = model.to(dtype)
    return Task(
        name="teacher_student",
        model=model,
        X_train=X.to(dtype),
        Y_train=Y.to(dtype),
        X_test=Xt.to(dtype),
        Y_test=Yt.to(dtype),
        loss="mse",
        targets=("layer",),
        delta_star={"layer": delta_star.to(dtype)},
        info={"d": d, "rank_star": rank_star, "noise": noise, "decay": decay, "seed": seed},
    )


# ---------------------------------------------------------------- digits


@functools.lru_cache(maxsize=8)
def _pretrained_digits(seed: int, hidden: int, epochs: int) -> tuple[nn.Module, dict]:
    """An MLP 64 → hidden → hidden → 10 trained on the digits 0–4 (all of their samples but a
    held-out half kept for the few-shot pool). Returns (model, info)."""
    from sklearn.datasets import load_digits  # only here: scikit-learn ships the data offline

    data = load_digits()
    X = torch.tensor(data.data / 16.0, dtype=torch.float32)  # (1797, 64), pixels in [0, 1]
    y = torch.tensor(data.target, dtype=torch.long)  # (1797,)
    g = torch.Generator().manual_seed(seed)
    model = nn.Sequential()
    model.add_module("fc1", nn.Linear(64, hidden))
    model.add_module("act1", nn.Tanh())
    model.add_module("fc2", nn.Linear(hidden, hidden))
    model.add_module("act2", nn.Tanh())
    model.add_module("head", nn.Linear(hidden, 10))
    with torch.no_grad():  # explicit, seeded init (PyTorch's default init draws from the global RNG)
        for mod in (model.fc1, model.fc2, model.head):
            bound = 1 / math.sqrt(mod.in_features)
            mod.weight.copy_((2 * torch.rand(mod.weight.shape, generator=g) - 1) * bound)
            mod.bias.zero_()
    old = y < 5
    Xo, yo = X[old], y[old]
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(epochs):
        perm = torch.randperm(len(yo), generator=g)
        for i in range(0, len(yo), 64):
            idx = perm[i : i + 64]
            opt.zero_grad()
            nn.functional.cross_entropy(model(Xo[idx]), yo[idx]).backward()
            opt.step()
    for p in model.parameters():
        p.requires_grad_(False)
    with torch.no_grad():
        acc_old = float((model(Xo).argmax(1) == yo).float().mean())
    return model, {"X": X, "y": y, "pretrain_accuracy": acc_old}


def digits(
    shots: int, *, seed: int, hidden: int = 32, pretrain_epochs: int = 30, pretrain_seed: int = 0
) -> Task:
    """Few-shot adaptation to new classes on scikit-learn's digits.

    The pretrained MLP (64 → hidden → hidden → 10, tanh) has seen only the digits 0–4 (its outputs
    5–9 were trained only as wrong answers). The task: ``shots`` samples of each digit 5–9, drawn with
    ``seed``; the test set is every other sample of the digits 5–9; the loss is the cross-entropy over
    the ten outputs. Adapters go on all three Linear layers.
    """
    check_int("shots", shots, 1, 100)
    check_int("hidden", hidden, 2)
    pretrained, data = _pretrained_digits(pretrain_seed, hidden, pretrain_epochs)
    X, y = data["X"], data["y"]
    g = torch.Generator().manual_seed(seed)
    train_idx = []
    for c in range(5, 10):
        idx = torch.nonzero(y == c).squeeze(1)
        train_idx.append(idx[torch.randperm(len(idx), generator=g)[:shots]])
    train_idx = torch.cat(train_idx)
    test_mask = y >= 5
    test_mask[train_idx] = False
    return Task(
        name="digits",
        model=pretrained,
        X_train=X[train_idx],
        Y_train=y[train_idx],
        X_test=X[test_mask],
        Y_test=y[test_mask],
        loss="ce",
        targets=("fc1", "fc2", "head"),
        info={"shots": shots, "seed": seed, "hidden": hidden, "pretrain_accuracy": data["pretrain_accuracy"]},
    )


# ---------------------------------------------------------------- training


@dataclass(frozen=True)
class FitConfig:
    """kind: one of KINDS.  rank: the width of the adapter's bottleneck, so that kinds compare at the
    same rank: r for LoRA, w for deep_narrow, 2r̂ for deep_compressed (r̂ = max(1, rank // 2));
    deep_wide ignores it.
    lr: AdamW step η.  steps: full-batch steps.  outer_lr_ratio: γ for the compressed bases.
    init_scale: ε of Deep LoRA.  alpha: LoRA's α (None: no α/r scaling).  record_every: steps
    between test evaluations (0 and the last step are always recorded)."""

    kind: str = "lora"
    rank: int = 8
    lr: float = 1e-2
    steps: int = 100
    outer_lr_ratio: float = 1e-2
    init_scale: float = 1e-3
    alpha: float | None = None
    record_every: int = 5
    threads: int | None = 1  # torch threads during the run (restored after); None keeps torch's

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        check_int("rank", self.rank, 1)
        check_int("steps", self.steps, 1)
        check_int("record_every", self.record_every, 1)
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr!r}")
        check_positive("outer_lr_ratio", self.outer_lr_ratio, allow_zero=True)


@dataclass
class FitResult:
    """One adaptation run: curves at the recorded steps and the learned updates."""

    kind: str
    rank: int
    n_samples: int
    n_trainable: int
    steps: list[int]
    train_loss: list[float]
    test_loss: list[float]
    test_accuracy: list[float] | None
    deltas: dict[str, Tensor]  # ΔW (m, n) per adapted layer at the end
    base_weights: dict[str, Tensor]  # W₀ (m, n) per adapted layer
    seconds: float

    @property
    def final_test(self) -> float:
        return self.test_loss[-1]

    def update_ranks(self, rtol: float = 1e-2) -> dict[str, int]:
        return {k: update_rank(D, self.base_weights[k], rtol=rtol) for k, D in self.deltas.items()}


def update_rank(delta: Tensor, W0: Tensor, *, rtol: float = 1e-2) -> int:
    """Numerical rank of a learned update: the number of singular values of ΔW (m, n) above
    rtol·‖W₀‖₂ (so an update that never left its ε³-sized init has rank 0)."""
    s = torch.linalg.svdvals(delta.double())
    return int((s > rtol * torch.linalg.matrix_norm(W0.double(), 2)).sum())


def fit(
    task: Task,
    cfg: FitConfig,
    *,
    seed: int,
    callback: Callable[[int, float, float], None] | None = None,
) -> FitResult:
    """Adapt a copy of ``task.model`` with adapters of ``cfg.kind`` on ``task.targets``.

    AdamW (weight decay 0) on the full training batch for ``cfg.steps`` steps; the compressed
    adapter's bases are fitted from the first batch's gradient and step with γ·lr. ``callback(step,
    train_loss, test_loss)`` runs at every record (for live plots). Raises FloatingPointError with
    the step if the training loss stops being finite.
    """
    model = copy.deepcopy(task.model)
    gen = torch.Generator().manual_seed(seed)
    rank = max(1, cfg.rank // 2) if cfg.kind == "deep_compressed" else cfg.rank  # r̂: inner width 2r̂
    add_adapters(model, cfg.kind, rank=rank, generator=gen, targets=task.targets,
                 init_scale=cfg.init_scale, alpha=cfg.alpha)
    loss = _loss_fn(task.loss)
    X, Y, Xt, Yt = task.X_train, task.Y_train, task.X_test, task.Y_test
    if cfg.kind == "deep_compressed":
        fit_compressed(model, lambda mod: loss(mod(X), Y))
    opt = torch.optim.AdamW(param_groups(model, cfg.lr, outer_lr_ratio=cfg.outer_lr_ratio), weight_decay=0.0)
    steps, train_l, test_l, test_acc = [], [], [], ([] if task.loss == "ce" else None)

    def record(t: int, train_value: float) -> None:
        with torch.no_grad():
            out = model(Xt)
            te = float(loss(out, Yt))
            if test_acc is not None:
                test_acc.append(float((out.argmax(1) == Yt).float().mean()))
        steps.append(t)
        train_l.append(train_value)
        test_l.append(te)
        if callback is not None:
            callback(t, train_value, te)

    with _threads(cfg.threads):
        seconds = _run(model, opt, loss, X, Y, cfg, record)
    return FitResult(
        kind=cfg.kind,
        rank=cfg.rank,
        n_samples=task.n_samples,
        n_trainable=n_trainable(model),
        steps=steps,
        train_loss=train_l,
        test_loss=test_l,
        test_accuracy=test_acc,
        deltas=deltas(model),
        base_weights={k: m.base.weight.detach().clone() for k, m in adapters(model).items()},
        seconds=seconds,
    )


@contextlib.contextmanager
def _threads(n: int | None):
    """torch threads for a small run (restored after): a thread hand-off costs more than these
    steps, and on a busy 2-core machine it costs far more."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _run(model, opt, loss, X, Y, cfg: FitConfig, record) -> float:
    start = time.perf_counter()
    with torch.no_grad():
        record(0, float(loss(model(X), Y)))
    for t in range(1, cfg.steps + 1):
        opt.zero_grad(set_to_none=True)
        value = loss(model(X), Y)
        if not torch.isfinite(value):
            raise FloatingPointError(f"training loss is {float(value)} at step {t}: lower lr (now {cfg.lr})")
        value.backward()
        opt.step()
        if t % cfg.record_every == 0 or t == cfg.steps:
            with torch.no_grad():
                record(t, float(loss(model(X), Y)))
    return time.perf_counter() - start


# ---------------------------------------------------------------- sweeps


def sweep(
    make_task: Callable[[int, int], Task],
    values: Sequence[int],
    vary: str,
    kinds: Sequence[str],
    seeds: Sequence[int],
    cfg: FitConfig,
    *,
    fixed: int,
    rtol: float = 1e-2,
) -> list[dict]:
    """Run ``fit`` for every kind × value × seed.

    make_task(n, seed) builds the task with n samples (or shots). vary: "samples" (values are N,
    the rank is cfg.rank) or "rank" (values are ranks, N = ``fixed``). Returns one row per run:
    kind, samples, rank, seed, train, test (final), best_test (lowest over the records), rel_test
    (final test over the pretrained model's test loss: below 1 means the adaptation helped), accuracy
    (final, classification), update_rank (mean over layers), n_trainable, seconds.
    """
    if vary not in ("samples", "rank"):
        raise ValueError(f"vary must be 'samples' or 'rank', got {vary!r}")
    if not seeds:
        raise ValueError("seeds must be a non-empty sequence")
    rows = []
    for kind in kinds:
        for v in values:
            n, rank = (v, cfg.rank) if vary == "samples" else (fixed, v)
            for seed in seeds:
                task = make_task(n, seed)
                res = fit(task, replace(cfg, kind=kind, rank=rank), seed=seed + 10_000)
                ranks = res.update_ranks(rtol)
                rows.append({
                    "kind": kind, "samples": n, "rank": rank, "seed": seed,
                    "train": res.train_loss[-1], "test": res.test_loss[-1], "best_test": min(res.test_loss),
                    "rel_test": res.test_loss[-1] / res.test_loss[0],
                    "accuracy": None if res.test_accuracy is None else res.test_accuracy[-1],
                    "update_rank": float(np.mean(list(ranks.values()))),
                    "n_trainable": res.n_trainable, "seconds": res.seconds,
                })
    return rows


def summarize(rows: list[dict], by: str, metrics: Sequence[str] = ("train", "test", "update_rank")) -> list[dict]:
    """Mean and standard deviation over seeds, per (kind, ``by``). Returns rows with keys kind, by,
    n_seeds and ``<metric>_mean``, ``<metric>_std`` for each metric."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["kind"], r[by]), []).append(r)
    out = []
    for (kind, v), rs in groups.items():
        row = {"kind": kind, by: v, "n_seeds": len(rs)}
        for m in metrics:
            vals = np.array([r[m] for r in rs], dtype=float)
            row[f"{m}_mean"] = float(vals.mean())
            row[f"{m}_std"] = float(vals.std(ddof=1)) if len(vals) > 1 else 0.0
        out.append(row)
    return out


# ---------------------------------------------------------------- compressed vs wide


def compressed_tracks_wide(
    task: Task, *, rank_hat: int = 4, lr: float = 1.0, steps: int = 200, outer_lr_ratio: float = 0.0,
    init_scale: float = 0.1, seed: int = 0, record_every: int = 10,
) -> dict:
    """Train the wide Deep LoRA and its compression side by side from the same wide init.

    Both use plain gradient descent (the setting of the exactness claim in SPEC §4) with step lr on
    the task's loss, from ε = ``init_scale`` (larger than Deep LoRA's 1e-3, so that plain gradient
    descent leaves the saddle at 0 within a few hundred steps; Adam is not rotation-equivariant and
    breaks the exact correspondence). Returns {"steps", "wide_test", "compressed_test", "rel_gap"}, rel_gap[t] =
    ‖ΔW_c(t) − P(ΔW_wide(t))‖_F / ‖P(ΔW_wide(t))‖_F for the first adapted layer, P the projection
    on the compressed adapter's bases at init (``CompressedDeepLoRA.project``); it stays at rounding
    level for γ = 0 on an MSE task with whitened inputs.
    """
    loss = _loss_fn(task.loss)
    X, Y = task.X_train, task.Y_train
    gen = torch.Generator().manual_seed(seed)
    compressed = copy.deepcopy(task.model)
    add_adapters(compressed, "deep_compressed", rank=rank_hat, generator=gen, targets=task.targets[:1],
                 init_scale=init_scale)
    fit_compressed(compressed, lambda mod: loss(mod(X), Y))
    comp = next(iter(adapters(compressed).values()))
    wide = copy.deepcopy(task.model)
    add_adapters(wide, "deep_wide", rank=1, generator=torch.Generator().manual_seed(0), targets=task.targets[:1],
                 init_scale=init_scale)
    wad = next(iter(adapters(wide).values()))
    with torch.no_grad():  # the wide init the compression was computed from
        for W, W0 in zip((wad.W1, wad.W2, wad.W3), comp.wide_init()):
            W.copy_(W0)
    keep = copy.deepcopy(comp)  # the bases at init: the subspace the compression keeps
    opt_c = torch.optim.SGD(param_groups(compressed, lr, outer_lr_ratio=outer_lr_ratio))
    opt_w = torch.optim.SGD(param_groups(wide, lr))
    out = {"steps": [], "wide_test": [], "compressed_test": [], "rel_gap": []}
    with _threads(1):
        for t in range(steps + 1):
            if t % record_every == 0 or t == steps:
                with torch.no_grad():
                    proj = keep.project(wad.delta())
                    out["steps"].append(t)
                    out["wide_test"].append(float(loss(wide(task.X_test), task.Y_test)))
                    out["compressed_test"].append(float(loss(compressed(task.X_test), task.Y_test)))
                    out["rel_gap"].append(float(torch.linalg.norm(comp.delta() - proj) / torch.linalg.norm(proj)))
            if t == steps:
                break
            for m, o in ((compressed, opt_c), (wide, opt_w)):
                o.zero_grad()
                loss(m(X), Y).backward()
                o.step()
    return out
