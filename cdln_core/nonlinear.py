"""Beyond linear: deep-linear and compressed (C-DLN) layers inside nonlinear networks.

[K] §6 (SPEC §7): replace a wide linear layer y = W·x + b of a nonlinear network (W of shape
(d_out, d_in), d = width) by

- ``DeepLinear`` (kind ``"dln"``): an overparameterized product E = W_L ⋯ W_1 of L factors of width
  h = max(d_in, d_out) (square d×d factors for a square layer), L·d² parameters;
- ``CDLNLinear`` (kind ``"cdln"``): the compressed bottleneck d_in → r̂ → … → r̂ → d_out, factors
  W̃_1 (r̂, d_in), W̃_l (r̂, r̂), W̃_L (d_out, r̂), 2·d·r̂ + (L−2)·r̂² parameters; its first and last
  factors step with α·η (``param_groups``).

Initialization (our choice, documented because it differs from the linear problems). Every factor
starts at ε·O_l, O_l Haar-orthogonal, as in SPEC §3 — but with ε = 1 by default, not 1e-2. In a
nonlinear network there is no surrogate to align with and, worse, E(0) = ε^L·(…) ≈ 1e-6 at ε = 1e-2
cuts the signal through the layer and shrinks the gradient of every factor by ε^{L−1}: the network
sits at a saddle and does not train in any reasonable budget. With ε = 1 the product of independent
Haar-orthogonal factors is itself Haar-orthogonal (a partial isometry when rectangular), so a
``DeepLinear`` layer starts with exactly the distribution of an orthogonally initialized
``nn.Linear`` (``nn.init.orthogonal_``, gain 1) — the "behaves like a normal layer" init of [K]'s
MLP experiments — and a ``CDLNLinear`` starts as a rank-r̂ partial isometry (r̂ singular values 1,
the rest 0). ``init_scale`` stays a parameter, so a notebook can show the saddle at small ε.

The low-dimensional updates ([K] §6, [Y]): for each weight matrix W_l of a trained network, the
update ΔW_l(t) = W_l(t) − W_l(0) has few significant singular values: its effective rank
(``spectra.effective_rank``) stays far below min(d_l, d_{l−1}).

Models: ``MLP`` (64 → width → ReLU → [width → width → ReLU] × n_wide → 10, the wide layers
swappable) and a small ``ViT`` (8×8 digits cut into p×p patches, a few pre-norm attention blocks,
the MLP layers of each block swappable), both on scikit-learn's bundled digits (``load_digits``,
no download). Training (``fit``) draws every random number from explicit ``torch.Generator``s.

Reference: SPEC §7; [K] Kwon et al., AISTATS 2024, §6; [Y] Yaras et al., ICML 2024.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import skip_init

from .dln import end_to_end, orthogonal
from .spectra import effective_rank

__all__ = [
    "KINDS",
    "ARCHS",
    "FactoredLinear",
    "DeepLinear",
    "CDLNLinear",
    "make_layer",
    "factorize",
    "param_groups",
    "n_params",
    "MLP",
    "ViT",
    "make_model",
    "Digits",
    "load_digits",
    "FitConfig",
    "FitRecord",
    "FitResult",
    "fit",
    "accuracy",
    "weight_matrices",
    "update_spectrum",
    "update_effective_rank",
    "energy_rank",
]

KINDS = ("plain", "dln", "cdln")
ARCHS = ("mlp", "vit")


def _check_int(name: str, value, low: int, high: int | None = None) -> int:
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not ok or value < low or (high is not None and value > high):
        allowed = f"an integer in [{low}, {high}]" if high is not None else f"an integer ≥ {low}"
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return int(value)


def _check_positive(name: str, value, *, allow_zero: bool = False) -> float:
    ok = isinstance(value, (int, float, np.floating)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be a finite number {'≥' if allow_zero else '>'} 0, got {value!r}")
    return float(value)


# ---------------------------------------------------------------- factored layers


class FactoredLinear(nn.Module):
    """y = W_L ⋯ W_1 · x + b: a linear layer stored as a product of factors (application order).

    ``factors[l-1]`` is W_l of shape (d_l, d_{l−1}), d_0 = in_features, d_L = out_features; every
    factor starts at ε·O_l, O_l Haar-orthogonal (cut from a square one). Subclasses fix the widths.
    """

    def __init__(
        self,
        widths: list[int],
        *,
        bias: bool = True,
        init_scale: float = 1.0,
        generator: torch.Generator,
        dtype: torch.dtype = torch.float32,
    ):
        super().__init__()
        self.in_features, self.out_features = widths[0], widths[-1]
        self.init_scale = _check_positive("init_scale", init_scale)
        self.factors = nn.ParameterList(
            nn.Parameter(init_scale * orthogonal(d_out, d_in, generator=generator, dtype=dtype))
            for d_in, d_out in zip(widths[:-1], widths[1:])
        )
        self.bias = nn.Parameter(torch.zeros(widths[-1], dtype=dtype)) if bias else None

    @property
    def depth(self) -> int:
        return len(self.factors)

    def end_to_end(self) -> Tensor:
        """E = W_L ⋯ W_1, shape (out_features, in_features)."""
        return end_to_end(list(self.factors))

    def outer_parameters(self) -> list[nn.Parameter]:
        """W_1 and W_L (one tensor when L = 1): the factors that step with α·η."""
        return [self.factors[0]] if self.depth == 1 else [self.factors[0], self.factors[-1]]

    def forward(self, x: Tensor) -> Tensor:  # (..., d_in) → (..., d_out)
        # Factor by factor: L·B·d² multiply-adds, cheaper than forming E (d³) when the batch B < d.
        for W in self.factors:
            x = x @ W.T  # (..., d_l)
        return x if self.bias is None else x + self.bias

    def extra_repr(self) -> str:
        shapes = " → ".join(str(d) for d in [self.in_features, *[W.shape[0] for W in self.factors]])
        return f"{shapes}, depth={self.depth}, bias={self.bias is not None}"


class DeepLinear(FactoredLinear):
    """The overparameterized layer: L factors of width h = max(d_in, d_out) (square for a square
    layer), so E = W_L ⋯ W_1 has shape (d_out, d_in) and L = 1 is a plain (orthogonal) layer.

    At ε = 1 (default) E(0) is Haar-distributed orthogonal (a partial isometry if rectangular).
    Parameters: h·d_in + (L−2)·h² + d_out·h (+ d_out bias); L·d² for a square layer.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        depth: int,
        *,
        bias: bool = True,
        init_scale: float = 1.0,
        generator: torch.Generator,
        dtype: torch.dtype = torch.float32,
    ):
        _check_int("in_features", in_features, 1)
        _check_int("out_features", out_features, 1)
        _check_int("depth", depth, 1)
        h = max(in_features, out_features)
        widths = [in_features, *[h] * (depth - 1), out_features]
        super().__init__(widths, bias=bias, init_scale=init_scale, generator=generator, dtype=dtype)


class CDLNLinear(FactoredLinear):
    """The compressed layer of [K]: d_in → r̂ → … → r̂ → d_out with L ≥ 2 factors
    W̃_1 (r̂, d_in), W̃_l (r̂, r̂) for l = 2…L−1, W̃_L (d_out, r̂); 1 ≤ r̂ ≤ min(d_in, d_out).

    At ε = 1 (default) E(0) is a rank-r̂ partial isometry (r̂ singular values 1). Parameters:
    r̂·d_in + (L−2)·r̂² + d_out·r̂ (+ d_out bias) = ``cdln_n_params(d, L, r̂)`` for a square layer.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        depth: int,
        rank_hat: int,
        *,
        bias: bool = True,
        init_scale: float = 1.0,
        generator: torch.Generator,
        dtype: torch.dtype = torch.float32,
    ):
        _check_int("in_features", in_features, 1)
        _check_int("out_features", out_features, 1)
        _check_int("depth", depth, 2)
        _check_int("rank_hat", rank_hat, 1, min(in_features, out_features))
        self.rank_hat = int(rank_hat)
        widths = [in_features, *[rank_hat] * (depth - 1), out_features]
        super().__init__(widths, bias=bias, init_scale=init_scale, generator=generator, dtype=dtype)


def _init_plain_(layer: nn.Linear, *, generator: torch.Generator, init_scale: float = 1.0) -> nn.Linear:
    """A wide plain layer: W(0) = ε·O (orthogonal), b = 0 — the distribution of E(0) of a
    ``DeepLinear`` at ε' = ε^{1/L}, so the three kinds start alike."""
    with torch.no_grad():
        O = orthogonal(layer.out_features, layer.in_features, generator=generator, dtype=layer.weight.dtype)
        layer.weight.copy_(init_scale * O)
        if layer.bias is not None:
            layer.bias.zero_()
    return layer


def make_layer(
    kind: str,
    in_features: int,
    out_features: int,
    *,
    depth: int = 3,
    rank_hat: int | None = None,
    init_scale: float = 1.0,
    bias: bool = True,
    generator: torch.Generator,
    dtype: torch.dtype = torch.float32,
) -> nn.Module:
    """One wide layer of the given kind: ``"plain"`` (an ``nn.Linear`` at ε·O), ``"dln"``
    (``DeepLinear``, ``depth`` factors) or ``"cdln"`` (``CDLNLinear``, ``depth`` ≥ 2 factors around
    ``rank_hat``). ``depth`` and ``rank_hat`` are ignored where they do not apply."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind == "plain":
        _check_positive("init_scale", init_scale)
        layer = skip_init(nn.Linear, in_features, out_features, bias=bias, dtype=dtype)
        return _init_plain_(layer, generator=generator, init_scale=init_scale)
    if kind == "dln":
        return DeepLinear(
            in_features,
            out_features,
            depth,
            bias=bias,
            init_scale=init_scale,
            generator=generator,
            dtype=dtype,
        )
    if rank_hat is None:
        raise ValueError("rank_hat must be given (an integer ≥ 1) for kind 'cdln'")
    return CDLNLinear(
        in_features,
        out_features,
        depth,
        rank_hat,
        bias=bias,
        init_scale=init_scale,
        generator=generator,
        dtype=dtype,
    )


def factorize(
    model: nn.Module,
    names: Iterable[str],
    kind: str,
    *,
    depth: int = 3,
    rank_hat: int | None = None,
    init_scale: float = 1.0,
    generator: torch.Generator,
) -> nn.Module:
    """Swap the ``nn.Linear`` submodules called ``names`` (dotted, as in ``named_modules``) of any
    torch model for freshly initialized layers of ``kind`` (see ``make_layer``), in place.

    Weights are not copied: this builds a model to train from scratch. Each new layer keeps the
    old one's shape, bias flag and dtype. Returns ``model``.
    """
    modules = dict(model.named_modules())
    names = list(names)
    for name in names:
        if not isinstance(modules.get(name), nn.Linear):
            found = [n for n, m in modules.items() if isinstance(m, nn.Linear)]
            raise ValueError(f"names must name nn.Linear submodules (one of {found}), got {name!r}")
    for name in names:
        old = modules[name]
        new = make_layer(
            kind,
            old.in_features,
            old.out_features,
            depth=depth,
            rank_hat=rank_hat,
            init_scale=init_scale,
            bias=old.bias is not None,
            generator=generator,
            dtype=old.weight.dtype,
        )
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, child, new)
    return model


def param_groups(model: nn.Module, lr: float, lr_ratio: float = 1.0) -> list[dict]:
    """Optimizer parameter groups: the first and last factor of every ``FactoredLinear`` step with
    α·η (``lr_ratio``·``lr``), every other parameter with η ([K] two learning rates).

    Pass the result to any ``torch.optim`` optimizer. Empty groups are left out.
    """
    lr = _check_positive("lr", lr)
    lr_ratio = _check_positive("lr_ratio", lr_ratio)
    outer = {id(p): p for m in model.modules() if isinstance(m, FactoredLinear) for p in m.outer_parameters()}
    rest = [p for p in model.parameters() if id(p) not in outer]
    groups = [{"params": rest, "lr": lr, "name": "inner"}]
    if outer:
        groups.append({"params": list(outer.values()), "lr": lr_ratio * lr, "name": "outer"})
    return [g for g in groups if g["params"]]


def n_params(module: nn.Module) -> int:
    """Number of trainable entries."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


# ---------------------------------------------------------------- models


def _init_linear_(layer: nn.Linear, generator: torch.Generator) -> nn.Linear:
    """PyTorch's default Linear init, U(−1/√d_in, 1/√d_in) for weight and bias, from ``generator``."""
    bound = 1.0 / math.sqrt(layer.in_features)
    with torch.no_grad():
        nn.init.uniform_(layer.weight, -bound, bound, generator=generator)
        if layer.bias is not None:
            nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
    return layer


def _linear(d_in: int, d_out: int, generator: torch.Generator) -> nn.Linear:
    # skip_init: no draw from (or advance of) torch's global generator.
    return _init_linear_(skip_init(nn.Linear, d_in, d_out), generator)


class MLP(nn.Module):
    """x (B, d_in) → Linear(d_in, d) → ReLU → [wide Linear(d, d) → ReLU] × n_wide → Linear(d, classes).

    The wide layers ``wide.0``, ``wide.1``, … (listed in ``wide_names``) start as plain
    orthogonal layers; ``factorize`` swaps them.
    """

    def __init__(
        self, width: int = 256, *, n_wide: int = 1, in_features: int = 64, classes: int = 10,
        generator: torch.Generator,
    ):  # fmt: skip
        super().__init__()
        _check_int("width", width, 1)
        _check_int("n_wide", n_wide, 1)
        self.inp = _linear(in_features, width, generator)
        self.wide = nn.ModuleList(
            _init_plain_(skip_init(nn.Linear, width, width), generator=generator) for _ in range(n_wide)
        )
        self.out = _linear(width, classes, generator)
        self.wide_names = tuple(f"wide.{i}" for i in range(n_wide))

    def forward(self, x: Tensor) -> Tensor:  # (B, d_in) → (B, classes)
        h = F.relu(self.inp(x))  # (B, d)
        for layer in self.wide:
            h = F.relu(layer(h))  # (B, d)
        return self.out(h)


class _Attention(nn.Module):
    def __init__(self, dim: int, heads: int, generator: torch.Generator):
        super().__init__()
        self.heads = heads
        self.qkv = _linear(dim, 3 * dim, generator)
        self.proj = _linear(dim, dim, generator)

    def forward(self, x: Tensor) -> Tensor:  # (B, T, C)
        B, T, C = x.shape
        qkv = self.qkv(x).view(B, T, 3, self.heads, C // self.heads)  # (B, T, 3, H, C/H)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, H, T, C/H)
        y = F.scaled_dot_product_attention(q, k, v)  # (B, H, T, C/H)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class _Block(nn.Module):
    def __init__(self, dim: int, heads: int, hidden: int, generator: torch.Generator):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = _Attention(dim, heads, generator)
        self.mlp = nn.Sequential()
        self.mlp.fc1 = _init_plain_(skip_init(nn.Linear, dim, hidden), generator=generator)
        self.mlp.act = nn.GELU()
        self.mlp.fc2 = _init_plain_(skip_init(nn.Linear, hidden, dim), generator=generator)

    def forward(self, x: Tensor) -> Tensor:  # (B, T, C)
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class ViT(nn.Module):
    """A small vision transformer for s×s images: p×p patches → tokens of width C, learned
    positions, ``blocks`` pre-norm blocks (attention, then MLP C → width → C), mean pooling, a
    linear head. The wide layers are every block's ``mlp.fc1`` and ``mlp.fc2`` (``wide_names``).
    """

    def __init__(
        self, width: int = 128, *, dim: int = 32, blocks: int = 2, heads: int = 4, patch: int = 2,
        image_size: int = 8, classes: int = 10, generator: torch.Generator,
    ):  # fmt: skip
        super().__init__()
        _check_int("width", width, 1)
        _check_int("blocks", blocks, 1)
        _check_int("heads", heads, 1)
        _check_int("patch", patch, 1, image_size)
        if image_size % patch:
            raise ValueError(f"patch must divide image_size={image_size}, got {patch}")
        if dim % heads:
            raise ValueError(f"dim must be a multiple of heads={heads}, got {dim}")
        self.patch, self.image_size = patch, image_size
        tokens = (image_size // patch) ** 2
        self.embed = _linear(patch * patch, dim, generator)
        self.pos = nn.Parameter(0.02 * torch.randn(1, tokens, dim, generator=generator))
        self.blocks = nn.ModuleList(_Block(dim, heads, width, generator) for _ in range(blocks))
        self.norm = nn.LayerNorm(dim)
        self.head = _linear(dim, classes, generator)
        self.wide_names = tuple(f"blocks.{i}.mlp.{fc}" for i in range(blocks) for fc in ("fc1", "fc2"))

    def forward(self, x: Tensor) -> Tensor:  # (B, s·s) → (B, classes)
        B, s, p = x.shape[0], self.image_size, self.patch
        x = x.view(B, s // p, p, s // p, p).transpose(2, 3).reshape(B, -1, p * p)  # (B, T, p²)
        h = self.embed(x) + self.pos  # (B, T, C)
        for block in self.blocks:
            h = block(h)
        return self.head(self.norm(h).mean(dim=1))  # (B, classes)


def make_model(
    arch: str,
    kind: str,
    *,
    width: int = 256,
    depth: int = 3,
    rank_hat: int | None = 16,
    init_scale: float = 1.0,
    seed: int = 0,
    **arch_kwargs,
) -> nn.Module:
    """An ``"mlp"`` or ``"vit"`` whose wide layers are of ``kind`` (``KINDS``).

    The same ``seed`` gives the same non-wide layers for every kind (they come from one generator,
    the wide layers from a second), so the three variants differ only in the swapped layers.
    ``arch_kwargs`` go to ``MLP`` (``n_wide``) or ``ViT`` (``dim``, ``blocks``, ``heads``, ``patch``).
    """
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {', '.join(ARCHS)}, got {arch!r}")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    _check_int("seed", seed, 0)
    g = torch.Generator().manual_seed(seed)
    model = (MLP if arch == "mlp" else ViT)(width, generator=g, **arch_kwargs)
    g_wide = torch.Generator().manual_seed(seed + 1_000_003)
    if kind == "plain":  # re-draw from the wide stream so plain and dln start alike in distribution
        modules = dict(model.named_modules())
        for name in model.wide_names:
            _init_plain_(modules[name], generator=g_wide, init_scale=init_scale)
        return model
    return factorize(
        model, model.wide_names, kind, depth=depth, rank_hat=rank_hat, init_scale=init_scale, generator=g_wide
    )


# ---------------------------------------------------------------- data


@dataclass(frozen=True, eq=False)
class Digits:
    """scikit-learn's bundled 8×8 digits (1797 images), standardized with the training split's
    mean and std. x: (N, 64) float32, y: (N,) int64."""

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor


def load_digits(*, test_fraction: float = 0.25, seed: int = 0) -> Digits:
    """A stratified train/test split of the digits, reproducible from ``seed`` (needs scikit-learn,
    which ships the data: nothing is downloaded)."""
    if not (isinstance(test_fraction, float) and 0.0 < test_fraction < 1.0):
        raise ValueError(f"test_fraction must be a float in (0, 1), got {test_fraction!r}")
    _check_int("seed", seed, 0)
    from sklearn.datasets import load_digits as _sk_digits
    from sklearn.model_selection import train_test_split

    x, y = _sk_digits(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_fraction, stratify=y, random_state=seed)
    mean, std = x_tr.mean(), x_tr.std()
    as_x = lambda a: torch.tensor((a - mean) / std, dtype=torch.float32)
    as_y = lambda a: torch.tensor(a, dtype=torch.int64)
    return Digits(as_x(x_tr), as_y(y_tr), as_x(x_te), as_y(y_te))


# ---------------------------------------------------------------- low-dimensional updates


def weight_matrices(model: nn.Module) -> dict[str, Tensor]:
    """Every weight matrix of ``model``, by name: each ``nn.Linear``'s weight (d_out, d_in), and
    for each ``FactoredLinear`` its end-to-end E (under its own name) and every factor W_l
    (``name.W1`` … ``name.WL``). Detached float64 copies."""
    out: dict[str, Tensor] = {}
    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, nn.Linear):
                out[name] = m.weight.detach().to(torch.float64).clone()
            elif isinstance(m, FactoredLinear):
                out[name] = m.end_to_end().detach().to(torch.float64)
                for l, W in enumerate(m.factors, start=1):
                    out[f"{name}.W{l}"] = W.detach().to(torch.float64).clone()
    return out


def update_spectrum(W: Tensor, W0: Tensor) -> np.ndarray:
    """Singular values (descending, float64) of the update ΔW = W − W0, both (m, n): shape (min(m, n),)."""
    if W.shape != W0.shape:
        raise ValueError(f"W and W0 must have the same shape, got {tuple(W.shape)} and {tuple(W0.shape)}")
    return torch.linalg.svdvals(W.to(torch.float64) - W0.to(torch.float64)).numpy()


def update_effective_rank(W: Tensor, W0: Tensor) -> float:
    """Effective rank (entropy, ``spectra.effective_rank``) of ΔW = W − W0; 0 when W = W0."""
    return effective_rank(W.to(torch.float64) - W0.to(torch.float64))


def energy_rank(singular_values, fraction: float = 0.9) -> int:
    """The fewest leading singular values whose squares hold ``fraction`` of the total ‖·‖_F²
    (0 for the zero matrix)."""
    if not (isinstance(fraction, float) and 0.0 < fraction <= 1.0):
        raise ValueError(f"fraction must be a float in (0, 1], got {fraction!r}")
    s2 = np.sort(np.asarray(singular_values, dtype=np.float64))[::-1] ** 2
    total = s2.sum()
    if total <= 0:
        return 0
    return int(np.searchsorted(np.cumsum(s2) / total, fraction - 1e-12) + 1)


# ---------------------------------------------------------------- training


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
        _check_positive("lr", self.lr)
        _check_positive("lr_ratio", self.lr_ratio)
        _check_positive("momentum", self.momentum, allow_zero=True)
        _check_positive("weight_decay", self.weight_decay, allow_zero=True)
        _check_int("epochs", self.epochs, 1)
        _check_int("batch_size", self.batch_size, 1)
        _check_int("record_every", self.record_every, 1)
        if self.threads is not None:
            _check_int("threads", self.threads, 1)
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
    _check_int("seed", seed, 0)
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
