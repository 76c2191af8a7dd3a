"""Low-rank adapters for a frozen ``torch.nn.Linear``: LoRA and Deep LoRA ([Y] §5).

A frozen weight W₀ (m, n) is fine-tuned as W₀ + ΔW, and only ΔW is trained. Every adapter's ΔW is
one ``cdln_core.factors.Factors`` (``adapter.factors``, factors in application order):

- **LoRA** (Hu et al., 2021): ΔW = (α/r)·B·A, the list [A (r, n), B (m, r)] with scale α/r;
  A ~ U(−1/√n, 1/√n) as in loralib, B = 0, so ΔW(0) = 0 exactly.
- **Deep LoRA** ([Y] §5): ΔW = W_L ⋯ W_1 of any depth L ≥ 2 (the paper's L = 3), W_1 (w, n),
  W_l (w, w), W_L (m, w), each ε·(Haar-orthogonal), ε = 1e-3, no α/r scaling: ‖ΔW(0)‖₂ = ε^L.
  ``deep_wide``: w = min(m, n), the overparameterized network the theory is about;
  ``deep_narrow``: w = r.
- **Compressed Deep LoRA** (``deep_compressed``, [Y] §3 applied to ΔW): the list
  [Vᵀ (2r̂, n), W̃_1 … W̃_L (2r̂, 2r̂) at ε·I, U (m, 2r̂)], bases from the wide init and the gradient
  G₀ (m, n) of the first batch's loss (``fit_compressed``); step scales ``outer_scales(L + 2, γ)``,
  so the inner factors step with η and the bases with γ·η.

``merge`` adds ΔW into W₀ for inference and ``unmerge`` takes it out again; with ``disabled`` set an
adapter gives the base output; ``.eval()`` does nothing special (unlike loralib). Putting adapters
into a model, and merging them all, is ``cdln_core.lora.attach``.

Reference: [Y] Yaras et al., ICML 2024 (arXiv 2406.04112), §3 and §5; Hu et al., LoRA (2106.09685).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..checks import check_choice, check_int, check_number, check_positive
from ..compression import yaras_bases
from ..dln import orthogonal
from ..factors import Factors, outer_scales

__all__ = ["KINDS", "Adapter", "LoRA", "DeepLoRA", "CompressedDeepLoRA", "make_adapter"]

KINDS = ("lora", "deep_wide", "deep_narrow", "deep_compressed")

def _shape(base) -> tuple[int, int]:
    if not isinstance(base, nn.Linear):
        raise TypeError(f"base must be a torch.nn.Linear, got {type(base).__name__}")
    return base.out_features, base.in_features  # (m, n)


def _orthogonal_chain(widths: Sequence[int], eps: float, generator: torch.Generator) -> list[Tensor]:
    """[ε·O_1 (d_1, d_0), …, ε·O_L (d_L, d_{L−1})], drawn in application order (float64)."""
    return [eps * orthogonal(d_out, d_in, generator=generator) for d_in, d_out in zip(widths[:-1], widths[1:])]


class Adapter(nn.Module):
    """W₀ + ΔW around a frozen ``nn.Linear`` (weight W₀ (m, n), bias (m,)); ΔW = ``factors``.

    forward: x (..., n) → base(x) + x·ΔWᵀ (..., m), applied factor by factor (ΔW is never formed);
    once merged, just base(x). With ``disabled`` set, the output is the base model's alone.
    """

    def __init__(self, base: nn.Linear, Ws: Sequence[Tensor], lr_scales: Sequence[float] | None = None, *,
                 scale: float = 1.0):
        _shape(base)
        super().__init__()
        self.base = base
        for p in base.parameters():
            p.requires_grad_(False)
        like = {"dtype": base.weight.dtype, "device": base.weight.device}
        self.factors = Factors([W.to(**like) for W in Ws], lr_scales, scale=scale)
        self.merged = False
        self.disabled = False

    @property
    def in_features(self) -> int:  # n
        return self.base.in_features

    @property
    def out_features(self) -> int:  # m
        return self.base.out_features

    @property
    def Ws(self) -> nn.ParameterList:
        """The factors of ΔW in application order."""
        return self.factors.Ws

    @property
    def depth(self) -> int:
        return self.factors.depth

    def delta(self) -> Tensor:
        """ΔW = scale·F_k ⋯ F_1, shape (m, n)."""
        return self.factors.end_to_end()

    def forward(self, x: Tensor) -> Tensor:  # (..., n) → (..., m)
        y = self.base(x)  # (..., m)
        if self.merged != self.disabled:  # merged and enabled, or unmerged and disabled: W₀ is the answer
            return y
        h = self.factors(x)  # (..., m)
        return y - h if self.merged else y + h

    @torch.no_grad()
    def merge(self) -> None:
        """W₀ ← W₀ + ΔW; the forward then skips the adapter path. Idempotent."""
        if not self.merged:
            self.base.weight += self.delta()
            self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """W₀ ← W₀ − ΔW, undoing ``merge`` (to rounding). Idempotent."""
        if self.merged:
            self.base.weight -= self.delta()
            self.merged = False

    def train(self, mode: bool = True):
        if mode and self.merged:  # training a merged adapter would desynchronize W₀ and ΔW
            raise RuntimeError("unmerge the adapter before training it")
        return super().train(mode)

    def extra_repr(self) -> str:
        return f"m={self.out_features}, n={self.in_features}, merged={self.merged}, disabled={self.disabled}"


class LoRA(Adapter):
    """ΔW = (α/r)·B·A: factors [A (r, n), B (m, r)], A ~ U(−1/√n, 1/√n), B = 0.

    alpha None means no scaling (α = r). 1 ≤ r ≤ min(m, n)."""

    def __init__(self, base: nn.Linear, rank: int, *, generator: torch.Generator, alpha: float | None = None):
        m, n = _shape(base)
        rank = check_int("rank", rank, 1, min(m, n))
        scale = 1.0 if alpha is None else check_positive("alpha", alpha) / rank
        A = (2 * torch.rand(rank, n, generator=generator, dtype=torch.float64) - 1) / math.sqrt(n)  # (r, n)
        super().__init__(base, [A, torch.zeros(m, rank, dtype=torch.float64)], scale=scale)
        self.rank = rank

    @property
    def A(self) -> nn.Parameter:  # (r, n)
        return self.Ws[0]

    @property
    def B(self) -> nn.Parameter:  # (m, r)
        return self.Ws[1]

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, rank={self.rank}, scaling={self.factors.scale:g}"


class DeepLoRA(Adapter):
    """ΔW = W_L ⋯ W_1, W_1 (w, n), W_l (w, w), W_L (m, w), each ε·(Haar-orthogonal).

    width None: w = min(m, n) (wide); otherwise 1 ≤ w ≤ min(m, n) (narrow). depth L ≥ 2."""

    def __init__(self, base: nn.Linear, width: int | None = None, *, generator: torch.Generator,
                 init_scale: float = 1e-3, depth: int = 3):
        m, n = _shape(base)
        w = min(m, n) if width is None else check_int("width", width, 1, min(m, n))
        depth = check_int("depth", depth, 2)
        eps = check_number("init_scale", init_scale, low=0.0, low_open=True, high=1.0)  # ΔW(0) ≈ ε^L: a near no-op
        super().__init__(base, _orthogonal_chain([n, *[w] * (depth - 1), m], eps, generator))
        self.width, self.init_scale = w, eps

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, width={self.width}, depth={self.depth}, init_scale={self.init_scale:g}"


class CompressedDeepLoRA(Adapter):
    """ΔW = U·W̃_L ⋯ W̃_1·Vᵀ: factors [Vᵀ (2r̂, n), W̃_1 … W̃_L (2r̂, 2r̂) at ε·I, U (m, 2r̂)].

    The bases come from the wide Deep LoRA's init (drawn from ``generator``) and the gradient G₀
    (m, n) of the first batch's loss with respect to W (``fit``). Until then ΔW = 0 and the adapter
    refuses to run outside ``fit_compressed``. Step scales: γ = ``outer_lr_ratio`` on U and Vᵀ.
    """

    def __init__(self, base: nn.Linear, rank_hat: int, *, generator: torch.Generator, init_scale: float = 1e-3,
                 depth: int = 3, outer_lr_ratio: float = 1e-2):
        m, n = _shape(base)
        if min(m, n) < 2:
            raise ValueError(f"deep_compressed needs a layer with min(m, n) ≥ 2, got m={m}, n={n}")
        rank_hat = check_int("rank_hat", rank_hat, 1, min(m, n) // 2)
        depth = check_int("depth", depth, 2)
        eps = check_number("init_scale", init_scale, low=0.0, low_open=True, high=1.0)  # ΔW(0) ≈ ε^L: a near no-op
        gamma = check_number("outer_lr_ratio", outer_lr_ratio, low=0.0)
        k = 2 * rank_hat
        eye = eps * torch.eye(k, dtype=torch.float64)
        Ws = [torch.zeros(k, n, dtype=torch.float64), *[eye] * depth, torch.zeros(m, k, dtype=torch.float64)]
        super().__init__(base, Ws, outer_scales(depth + 2, gamma))
        self.rank_hat, self.init_scale, self.wide_depth = rank_hat, eps, depth
        # a seed, not the wide init itself: the (w, n), (w, w), (m, w) factors are drawn only in fit
        self._seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        self.register_buffer("basis_U", torch.zeros(m, k, dtype=base.weight.dtype))  # U at fit: (m, 2r̂)
        self.register_buffer("basis_V", torch.zeros(n, k, dtype=base.weight.dtype))  # V at fit: (n, 2r̂)
        self.fitted = False
        self.probing = False

    @property
    def U(self) -> nn.Parameter:  # (m, 2r̂)
        return self.Ws[-1]

    @property
    def V(self) -> Tensor:  # (n, 2r̂), a view of the first factor Vᵀ
        return self.Ws[0].T

    def wide_init(self) -> list[Tensor]:
        """The wide Deep LoRA init this adapter compresses: [W_1 (w, n), W_l (w, w) …, W_L (m, w)],
        w = min(m, n), L = ``wide_depth``, float64."""
        m, n = self.out_features, self.in_features
        w = min(m, n)
        return _orthogonal_chain([n, *[w] * (self.wide_depth - 1), m], self.init_scale,
                                 torch.Generator().manual_seed(self._seed))

    @torch.no_grad()
    def fit(self, G0: Tensor) -> None:
        """Set U, V from G₀ = ∇_W loss at init (m, n) and reset the inner factors to ε·I.

        The compression is computed from the narrower side of W so that both bases are orthonormal:
        for n ≤ m as in [Y] §3 (V from the gradient of W_1, U = E(0)·V/ε^L), for n > m on the
        transposed network ΔWᵀ = W_1ᵀ ⋯ W_Lᵀ (U from the gradient of W_L, V = E(0)ᵀ·U/ε^L).
        """
        m, n = self.out_features, self.in_features
        if tuple(G0.shape) != (m, n):
            raise ValueError(f"G0 must have shape ({m}, {n}), got {tuple(G0.shape)}")
        G0, Ws0 = G0.detach().to(torch.float64), self.wide_init()
        if n <= m:
            U, V = yaras_bases(Ws0, G0, self.rank_hat, init_scale=self.init_scale)  # (m, 2r̂), (n, 2r̂)
        else:
            V, U = yaras_bases([W.T for W in reversed(Ws0)], G0.T, self.rank_hat, init_scale=self.init_scale)
        self.Ws[0].copy_(V.T)
        self.Ws[-1].copy_(U)
        for W in list(self.Ws)[1:-1]:
            W.copy_(self.init_scale * torch.eye(2 * self.rank_hat, dtype=torch.float64))
        self.basis_U.copy_(U)
        self.basis_V.copy_(V)
        self.fitted = True

    def project(self, D: Tensor) -> Tensor:
        """The part of a wide update D (m, n) that this compression keeps: D·V·Vᵀ for n ≤ m,
        U·Uᵀ·D for n > m (bases as fitted). With γ = 0 and whitened inputs, ΔW_c(t) = project(ΔW_wide(t))."""
        U, V = self.basis_U, self.basis_V
        return D @ V @ V.T if self.in_features <= self.out_features else U @ (U.T @ D)

    def forward(self, x: Tensor) -> Tensor:
        if not (self.fitted or self.probing or self.merged):
            raise RuntimeError("a deep_compressed adapter needs its bases: call fit_compressed(model, loss_fn) first")
        return super().forward(x)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, rank_hat={self.rank_hat}, depth={self.wide_depth}, fitted={self.fitted}"


def make_adapter(base: nn.Linear, kind: str, *, rank: int, generator: torch.Generator, init_scale: float = 1e-3,
                 alpha: float | None = None, depth: int = 3, outer_lr_ratio: float = 1e-2) -> Adapter:
    """One adapter of ``kind`` (one of KINDS) around ``base``. ``rank`` is r for ``lora``, the width w
    for ``deep_narrow``, r̂ for ``deep_compressed`` (inner width 2r̂); ``deep_wide`` ignores it.
    ``depth`` (L ≥ 2) is the number of Deep LoRA factors (inner factors for ``deep_compressed``)."""
    check_choice("kind", kind, KINDS)
    if kind == "lora":
        return LoRA(base, rank, generator=generator, alpha=alpha)
    if kind == "deep_compressed":
        return CompressedDeepLoRA(base, rank, generator=generator, init_scale=init_scale, depth=depth,
                                  outer_lr_ratio=outer_lr_ratio)
    width = None if kind == "deep_wide" else rank
    return DeepLoRA(base, width, generator=generator, init_scale=init_scale, depth=depth)
