"""Factored layers: deep-linear and compressed (C-DLN) replacements for a wide linear layer.

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

Reference: SPEC §3, §7; [K] Kwon et al., AISTATS 2024, §6.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn
from torch.nn.utils import skip_init

from ..checks import check_int, check_positive
from ..dln import end_to_end, orthogonal

__all__ = [
    "KINDS",
    "FactoredLinear",
    "DeepLinear",
    "CDLNLinear",
    "make_layer",
    "factorize",
    "param_groups",
    "n_params",
]

KINDS = ("plain", "dln", "cdln")


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
        self.init_scale = check_positive("init_scale", init_scale)
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
        check_int("in_features", in_features, 1)
        check_int("out_features", out_features, 1)
        check_int("depth", depth, 1)
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
        check_int("in_features", in_features, 1)
        check_int("out_features", out_features, 1)
        check_int("depth", depth, 2)
        check_int("rank_hat", rank_hat, 1, min(in_features, out_features))
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
        check_positive("init_scale", init_scale)
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
    lr = check_positive("lr", lr)
    lr_ratio = check_positive("lr_ratio", lr_ratio)
    outer = {id(p): p for m in model.modules() if isinstance(m, FactoredLinear) for p in m.outer_parameters()}
    rest = [p for p in model.parameters() if id(p) not in outer]
    groups = [{"params": rest, "lr": lr, "name": "inner"}]
    if outer:
        groups.append({"params": list(outer.values()), "lr": lr_ratio * lr, "name": "outer"})
    return [g for g in groups if g["params"]]


def n_params(module: nn.Module) -> int:
    """Number of trainable entries."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
