"""Few-shot tasks for Deep LoRA: a pretrained model and the data to adapt it to.

- ``teacher_student``: a pretrained weight W₀ (d, d) and a truth W₀ + ΔW*, ΔW* of rank r*; inputs
  x = A·z with a decaying spectrum (a_j ∝ j^(−decay)), noisy outputs y = (W₀ + ΔW*)·x + noise. The
  student adapts W₀ from N samples ([Y] §5's claims, on a setting where the truth is known).
- ``digits``: a small MLP pretrained by the kit on the digits 0–4 of scikit-learn's bundled data set,
  adapted with a few samples per class to the digits 5–9 (offline, real data, real pretraining).

Randomness: every draw comes from a named stream of ``cdln_core.seeds`` — the truth ("problem"), the
training samples ("data", N), the test set ("test"), the pretraining ("init", "shuffle") — so the same
seed gives the same truth and test set for every N, and no two streams share numbers.

Reference: [Y] Yaras et al., ICML 2024 (arXiv 2406.04112), §5.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from ..checks import check_choice, check_int, check_number
from ..dln import orthogonal
from ..seeds import check_seed, generator
from ..threads import use

__all__ = ["LOSSES", "Task", "loss_fn", "chance_accuracy", "teacher_student", "digits"]

LOSSES = ("mse", "ce")


@dataclass(frozen=True, eq=False)
class Task:
    """A pretrained model and a few-shot data set to adapt it to.

    model: the pretrained network (never modified: ``fit`` adapts a deep copy).
    X_train (N, n), Y_train (N, m) or labels (N,); X_test, Y_test likewise.
    loss: "mse" (½·mean squared error) or "ce" (cross-entropy; accuracy is reported too).
    targets: names of the Linear layers to adapt.  delta_star: the true ΔW per layer, when known.
    X_val, Y_val: a validation set (or None), for choices made without looking at the test set
    (early stopping, tuning).
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
    X_val: Tensor | None = None
    Y_val: Tensor | None = None

    def __post_init__(self):
        check_choice("loss", self.loss, LOSSES)
        if self.X_train.shape[0] != self.Y_train.shape[0] or self.X_test.shape[0] != self.Y_test.shape[0]:
            raise ValueError("X_train and Y_train (X_test and Y_test) must have the same number of rows")
        if (self.X_val is None) != (self.Y_val is None) or (
                self.X_val is not None and self.X_val.shape[0] != self.Y_val.shape[0]):
            raise ValueError("X_val and Y_val must both be given, with the same number of rows, or both be None")

    @property
    def n_samples(self) -> int:
        return int(self.X_train.shape[0])


def loss_fn(kind: str) -> Callable[[Tensor, Tensor], Tensor]:
    """The task's loss: "mse" → ½·mean((out − y)²); "ce" → cross-entropy of logits out (N, k) and labels y (N,)."""
    if check_choice("loss", kind, LOSSES) == "mse":
        return lambda out, y: 0.5 * ((out - y) ** 2).mean()
    return nn.functional.cross_entropy


def chance_accuracy(task: Task) -> float | None:
    """The accuracy of always answering the test set's most frequent label (None for "mse")."""
    if task.loss != "ce":
        return None
    return float(torch.bincount(task.Y_test).max()) / len(task.Y_test)


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
    n_val: int = 0,
    dtype: torch.dtype = torch.float32,
) -> Task:
    """The linear teacher–student task.

    W₀ (d, d) has i.i.d. N(0, 1/d) entries; ΔW* = P·diag(1, …, 0.7)·Qᵀ, P, Q (d, r*) Haar; inputs
    x = A·z, z ~ N(0, I_d), A = O·diag(a), a_j ∝ j^(−decay) scaled to E‖x‖² = d; outputs
    y = (W₀ + ΔW*)·x + noise·s·ξ, s the RMS of an entry of ΔW*·x (so ``noise`` is a noise-to-signal
    ratio). The test outputs are noiseless, so the test loss is the excess risk. ``n_val`` > 0 adds a
    validation set drawn like the training samples (noisy), the same for every N.
    """
    seed = check_seed(seed)
    check_int("n_samples", n_samples, 1)
    check_int("d", d, 2)
    check_int("rank_star", rank_star, 1, d)
    check_int("n_test", n_test, 1)
    check_int("n_val", n_val, 0)
    check_number("noise", noise, low=0.0)
    check_number("decay", decay, low=0.0)
    g, f64 = generator(seed, "problem"), torch.float64
    W0 = torch.randn(d, d, generator=g, dtype=f64) / math.sqrt(d)  # (d, d)
    P, Q = orthogonal(d, rank_star, generator=g), orthogonal(d, rank_star, generator=g)  # (d, r*) each
    delta_star = P @ torch.diag(torch.linspace(1.0, 0.7, rank_star, dtype=f64)) @ Q.T  # (d, d), rank r*
    a = torch.arange(1, d + 1, dtype=f64) ** -decay
    a = a * math.sqrt(d / (a**2).sum())  # E‖x‖² = d
    A = orthogonal(d, d, generator=g) * a  # (d, d)
    signal_rms = math.sqrt(float(((delta_star @ A) ** 2).sum()) / d)  # RMS of an entry of ΔW*·x

    def noisy(n: int, g: torch.Generator) -> tuple[Tensor, Tensor]:
        x = torch.randn(n, d, generator=g, dtype=f64) @ A.T  # (n, d)
        return x, x @ (W0 + delta_star).T + noise * signal_rms * torch.randn(n, d, generator=g, dtype=f64)

    X, Y = noisy(n_samples, generator(seed, "data", n_samples))  # the training samples: a stream per (seed, N)
    Xv, Yv = noisy(n_val, generator(seed, "validation")) if n_val else (None, None)
    Xt = torch.randn(n_test, d, generator=generator(seed, "test"), dtype=f64) @ A.T  # (N_test, d)
    Yt = Xt @ (W0 + delta_star).T
    model = nn.Sequential()
    model.add_module("layer", nn.Linear(d, d, bias=False, dtype=f64))
    with torch.no_grad():
        model.layer.weight.copy_(W0)
    return Task(
        name="teacher_student", model=model.to(dtype), X_train=X.to(dtype), Y_train=Y.to(dtype),
        X_test=Xt.to(dtype), Y_test=Yt.to(dtype), loss="mse", targets=("layer",),
        delta_star={"layer": delta_star.to(dtype)},
        info={"d": d, "rank_star": rank_star, "noise": noise, "decay": decay, "seed": seed},
        X_val=None if Xv is None else Xv.to(dtype), Y_val=None if Yv is None else Yv.to(dtype),
    )


# ---------------------------------------------------------------- digits


@functools.lru_cache(maxsize=8)
def _pretrained_digits(seed: int, hidden: int, epochs: int) -> tuple[nn.Module, dict]:
    """An MLP 64 → hidden → hidden → 10 (tanh) trained with Adam on every digit 0–4. Returns
    (model, {"X", "y", "pretrain_accuracy"}); the model's parameters are frozen."""
    from sklearn.datasets import load_digits  # only here: scikit-learn ships the data offline

    data = load_digits()
    X = torch.tensor(data.data / 16.0, dtype=torch.float32)  # (1797, 64), pixels in [0, 1]
    y = torch.tensor(data.target, dtype=torch.long)  # (1797,)
    g_init, g_shuffle = generator(seed, "init"), generator(seed, "shuffle")
    model = nn.Sequential()
    model.add_module("fc1", nn.Linear(64, hidden))
    model.add_module("act1", nn.Tanh())
    model.add_module("fc2", nn.Linear(hidden, hidden))
    model.add_module("act2", nn.Tanh())
    model.add_module("head", nn.Linear(hidden, 10))
    with torch.no_grad():  # explicit, seeded init (PyTorch's default init draws from the global RNG)
        for mod in (model.fc1, model.fc2, model.head):
            bound = 1 / math.sqrt(mod.in_features)
            mod.weight.copy_((2 * torch.rand(mod.weight.shape, generator=g_init) - 1) * bound)
            mod.bias.zero_()
    old = y < 5
    Xo, yo = X[old], y[old]
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    with use(1):  # steps this small lose more to a thread hand-off than they gain
        for _ in range(epochs):
            perm = torch.randperm(len(yo), generator=g_shuffle)
            for i in range(0, len(yo), 64):
                idx = perm[i : i + 64]
                opt.zero_grad()
                nn.functional.cross_entropy(model(Xo[idx]), yo[idx]).backward()
                opt.step()
    model.requires_grad_(False)
    with torch.no_grad():
        acc_old = float((model(Xo).argmax(1) == yo).float().mean())
    return model, {"X": X, "y": y, "pretrain_accuracy": acc_old}


def digits(shots: int, *, seed: int, hidden: int = 32, pretrain_epochs: int = 30, pretrain_seed: int = 0,
           val_shots: int = 0) -> Task:
    """Few-shot adaptation to new classes on scikit-learn's digits.

    The pretrained MLP (64 → hidden → hidden → 10, tanh) has seen only the digits 0–4 (its outputs
    5–9 were trained only as wrong answers). The task: ``shots`` samples of each digit 5–9, drawn with
    ``seed``; the test set is every other sample of the digits 5–9; the loss is the cross-entropy over
    the ten outputs. Adapters go on all three Linear layers. ``val_shots`` > 0 holds out that many
    more samples of each new digit as a validation set (left out of the test set too).
    """
    seed, pretrain_seed = check_seed(seed), check_seed(pretrain_seed, "pretrain_seed")
    check_int("shots", shots, 1, 100)
    check_int("hidden", hidden, 2)
    check_int("pretrain_epochs", pretrain_epochs, 1)
    check_int("val_shots", val_shots, 0, 100)
    pretrained, data = _pretrained_digits(pretrain_seed, hidden, pretrain_epochs)
    X, y = data["X"], data["y"]
    g = generator(seed, "data", shots)
    train_idx, val_idx = [], []
    for c in range(5, 10):
        idx = torch.nonzero(y == c).squeeze(1)
        perm = idx[torch.randperm(len(idx), generator=g)]
        train_idx.append(perm[:shots])
        val_idx.append(perm[shots : shots + val_shots])
    train_idx, val_idx = torch.cat(train_idx), torch.cat(val_idx)
    test_mask = y >= 5
    test_mask[train_idx] = False
    test_mask[val_idx] = False
    return Task(
        name="digits", model=pretrained, X_train=X[train_idx], Y_train=y[train_idx], X_test=X[test_mask],
        Y_test=y[test_mask], loss="ce", targets=("fc1", "fc2", "head"),
        info={"shots": shots, "seed": seed, "hidden": hidden, "pretrain_accuracy": data["pretrain_accuracy"]},
        X_val=X[val_idx] if val_shots else None, Y_val=y[val_idx] if val_shots else None,
    )
