"""Factored layers: deep-linear and compressed (C-DLN) replacements for a wide linear layer.

[K] §6: replace a wide linear layer y = W·x + b of a nonlinear network (W of shape
(d_out, d_in), d = width) by

- ``DeepLinear`` (kind ``"dln"``): an overparameterized product E = W_L ⋯ W_1 of L factors of width
  h = max(d_in, d_out) (square d×d factors for a square layer), L·d² parameters;
- ``CDLNLinear`` (kind ``"cdln"``): the compressed bottleneck d_in → r̂ → … → r̂ → d_out, factors
  W̃_1 (r̂, d_in), W̃_l (r̂, r̂), W̃_L (d_out, r̂), 2·d·r̂ + (L−2)·r̂² parameters; its first and last
  factors step with α·η (their ``lr_scales``, read by ``cdln_core.factors.param_groups``).

Both are ``cdln_core.factors.Factors`` with a bias: the kit's one factor list.

Initialization (our choice, documented because it differs from the linear problems). Every factor
starts at ε·O_l, O_l Haar-orthogonal, as in the deep linear networks of [Y] (Law of Parsimony) — but
with ε = 1 by default, not 1e-2. In a nonlinear network there is no surrogate to align with and,
worse, E(0) = ε^L·(…) ≈ 1e-6 at ε = 1e-2 cuts the signal through the layer and shrinks the gradient
of every factor by ε^{L−1}: the network sits at a saddle and does not train in any reasonable
budget. With ε = 1 the product of independent Haar-orthogonal factors is itself Haar-orthogonal (a
partial isometry when rectangular), so a ``DeepLinear`` layer starts with exactly the distribution
of an orthogonally initialized ``nn.Linear`` (``nn.init.orthogonal_``, gain 1) — the "behaves like a
normal layer" init of [K]'s MLP experiments — and a ``CDLNLinear`` starts as a rank-r̂ partial
isometry (r̂ singular values 1, the rest 0). ``init_scale`` stays a parameter, so a notebook can
show the saddle at small ε.

Every O_l is drawn on one thread, whatever torch's thread count (``dln.orthogonal`` pins it): its QR
(MKL's) rounds differently with two threads than with one (by up to ≈5e-7 for a 100×100 float32
factor), and training turns that into a different run. Pinned, the same generator gives the same
weights in any process, including one started with ``OMP_NUM_THREADS=1``.

Reference: [K] Kwon et al., AISTATS 2024 (arXiv 2311.05061), §6; [Y] Law of Parsimony (arXiv 2306.01154).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn
from torch.nn.utils import skip_init

from ..checks import check_choice, check_int, check_positive
from ..dln import orthogonal
from ..factors import Factors, n_params, outer_scales, param_groups, swap_linears

__all__ = [
    "KINDS",
    "FactoredLinear",
    "DeepLinear",
    "CDLNLinear",
    "make_layer",
    "factorize",
    "set_lr_ratio",
    "param_groups",
    "n_params",
]

KINDS = ("plain", "dln", "cdln")


def _chain(in_features: int, out_features: int, depth: int, min_depth: int) -> tuple[int, int, int]:
    """(d_in, d_out, L) of a factored layer, checked: d_in, d_out ≥ 1 and L ≥ ``min_depth``."""
    return (check_int("in_features", in_features, 1), check_int("out_features", out_features, 1),
            check_int("depth", depth, min_depth))


class FactoredLinear(Factors):
    """y = W_L ⋯ W_1 · x + b: a ``cdln_core.factors.Factors`` (the kit's one factor list) plus a bias.

    ``Ws[l-1]`` is W_l of shape (d_l, d_{l−1}), d_0 = in_features, d_L = out_features; every factor
    starts at ε·O_l, O_l Haar-orthogonal (cut from a square one), drawn in application order on one
    thread (the same weights at any torch thread count). The first and last factors step with α·η
    (``lr_ratio``; ``set_lr_ratio`` changes it). Subclasses fix the widths.
    """

    def __init__(
        self,
        widths: list[int],
        *,
        bias: bool = True,
        init_scale: float = 1.0,
        lr_ratio: float = 1.0,
        generator: torch.Generator,
        dtype: torch.dtype = torch.float32,
    ):
        eps = check_positive("init_scale", init_scale)
        Ws = [eps * orthogonal(d_out, d_in, generator=generator, dtype=dtype)
              for d_in, d_out in zip(widths[:-1], widths[1:])]  # W_l: (d_l, d_{l−1})
        super().__init__(Ws, outer_scales(len(Ws), check_positive("lr_ratio", lr_ratio)))
        self.init_scale = eps
        self.bias = nn.Parameter(torch.zeros(widths[-1], dtype=dtype)) if bias else None

    @property
    def factors(self) -> nn.ParameterList:
        """The factors W_1 … W_L (the same list as ``Ws``)."""
        return self.Ws

    @property
    def lr_ratio(self) -> float:
        return self.lr_scales[0]

    def set_lr_ratio(self, lr_ratio: float) -> None:
        """Let the first and last factor step with α·η from now on (α = ``lr_ratio`` > 0)."""
        self.lr_scales = outer_scales(self.depth, check_positive("lr_ratio", lr_ratio))

    def forward(self, x: Tensor) -> Tensor:  # (..., d_in) → (..., d_out)
        # Factor by factor: L·B·d² multiply-adds, cheaper than forming E (d³) when the batch B < d.
        y = super().forward(x)
        return y if self.bias is None else y + self.bias

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, depth={self.depth}, bias={self.bias is not None}"


class DeepLinear(FactoredLinear):
    """The overparameterized layer: L factors of width h = max(d_in, d_out) (square for a square
    layer), so E = W_L ⋯ W_1 has shape (d_out, d_in) and L = 1 is a plain (orthogonal) layer.

    At ε = 1 (default) E(0) is Haar-distributed orthogonal (a partial isometry if rectangular).
    Parameters: h·d_in + (L−2)·h² + d_out·h (+ d_out bias); L·d² for a square layer.
    ``options``: ``bias``, ``init_scale`` (ε), ``lr_ratio`` (α) and ``dtype``, as for ``FactoredLinear``.
    """

    def __init__(self, in_features: int, out_features: int, depth: int, *, generator: torch.Generator, **options):
        d_in, d_out, L = _chain(in_features, out_features, depth, 1)
        h = max(d_in, d_out)
        super().__init__([d_in, *[h] * (L - 1), d_out], generator=generator, **options)


class CDLNLinear(FactoredLinear):
    """The compressed layer of [K]: d_in → r̂ → … → r̂ → d_out with L ≥ 2 factors
    W̃_1 (r̂, d_in), W̃_l (r̂, r̂) for l = 2…L−1, W̃_L (d_out, r̂); 1 ≤ r̂ ≤ min(d_in, d_out).

    At ε = 1 (default) E(0) is a rank-r̂ partial isometry (r̂ singular values 1). Parameters:
    r̂·d_in + (L−2)·r̂² + d_out·r̂ (+ d_out bias) = ``cdln_n_params(d, L, r̂)`` for a square layer.
    ``options``: ``bias``, ``init_scale`` (ε), ``lr_ratio`` (α) and ``dtype``, as for ``FactoredLinear``.
    """

    def __init__(self, in_features: int, out_features: int, depth: int, rank_hat: int, *,
                 generator: torch.Generator, **options):
        d_in, d_out, L = _chain(in_features, out_features, depth, 2)
        self.rank_hat = r = check_int("rank_hat", rank_hat, 1, min(d_in, d_out))
        super().__init__([d_in, *[r] * (L - 1), d_out], generator=generator, **options)


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
    lr_ratio: float = 1.0,
    bias: bool = True,
    generator: torch.Generator,
    dtype: torch.dtype = torch.float32,
) -> nn.Module:
    """One wide layer of the given kind: ``"plain"`` (an ``nn.Linear`` at ε·O), ``"dln"``
    (``DeepLinear``, ``depth`` factors) or ``"cdln"`` (``CDLNLinear``, ``depth`` ≥ 2 factors around
    ``rank_hat``). ``depth``, ``rank_hat`` and ``lr_ratio`` are ignored where they do not apply."""
    check_choice("kind", kind, KINDS)
    if kind == "plain":
        check_positive("init_scale", init_scale)
        layer = skip_init(nn.Linear, in_features, out_features, bias=bias, dtype=dtype)
        return _init_plain_(layer, generator=generator, init_scale=init_scale)
    common = dict(bias=bias, init_scale=init_scale, lr_ratio=lr_ratio, generator=generator, dtype=dtype)
    if kind == "dln":
        return DeepLinear(in_features, out_features, depth, **common)
    if rank_hat is None:
        raise ValueError("rank_hat must be given (an integer ≥ 1) for kind 'cdln'")
    return CDLNLinear(in_features, out_features, depth, rank_hat, **common)


def factorize(
    model: nn.Module,
    names: Iterable[str],
    kind: str,
    *,
    depth: int = 3,
    rank_hat: int | None = None,
    init_scale: float = 1.0,
    lr_ratio: float = 1.0,
    generator: torch.Generator,
) -> nn.Module:
    """Swap the ``nn.Linear`` submodules called ``names`` (dotted, as in ``named_modules``) of any
    torch model for freshly initialized layers of ``kind`` (see ``make_layer``), in place, through
    ``cdln_core.factors.swap_linears`` (layers drawn in the order of ``named_modules``).

    Weights are not copied: this builds a model to train from scratch. Each new layer keeps the
    old one's shape, bias flag and dtype. Returns ``model``.
    """
    names = [names] if isinstance(names, str) else list(names)
    found = [n for n, m in model.named_modules() if isinstance(m, nn.Linear) and n]
    for name in names:
        if name not in found:
            raise ValueError(f"names must name nn.Linear submodules (one of {found}), got {name!r}")

    def make(name: str, old: nn.Linear) -> nn.Module:
        return make_layer(kind, old.in_features, old.out_features, depth=depth, rank_hat=rank_hat,
                          init_scale=init_scale, lr_ratio=lr_ratio, bias=old.bias is not None, generator=generator,
                          dtype=old.weight.dtype)

    swap_linears(model, make, names)
    return model


def set_lr_ratio(model: nn.Module, lr_ratio: float) -> nn.Module:
    """Let the first and last factor of every ``FactoredLinear`` in ``model`` step with α·η
    (α = ``lr_ratio`` > 0, [K]'s two learning rates); ``param_groups`` reads it. Returns ``model``."""
    check_positive("lr_ratio", lr_ratio)
    for m in model.modules():
        if isinstance(m, FactoredLinear):
            m.set_lr_ratio(lr_ratio)
    return model
