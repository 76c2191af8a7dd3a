"""Low-rank adapters for a frozen ``torch.nn.Linear``: LoRA and Deep LoRA ([Y] §5).

A frozen weight W₀ (m, n) is fine-tuned as W₀ + ΔW, and only ΔW is trained:

- **LoRA** (Hu et al., 2021): ΔW = (α/r)·B·A, A (r, n) random, B (m, r) = 0, so ΔW(0) = 0 exactly.
- **Deep LoRA** ([Y]): ΔW = W_3·W_2·W_1, W_1 (w, n), W_2 (w, w), W_3 (m, w), each ε·(Haar-orthogonal),
  ε = 1e-3 by default, no α/r scaling, so ‖ΔW(0)‖₂ = ε³. Three widths:
    * ``deep_wide``: w = min(m, n), the overparameterized network the theory is about;
    * ``deep_narrow``: w = r;
    * ``deep_compressed``: the wide network compressed as in SPEC §4, from the gradient G₀ of the
      first batch's loss with respect to W: ΔW = U·W̃_3·W̃_2·W̃_1·Vᵀ, U (m, 2r̂), V (n, 2r̂) with
      orthonormal columns, inner factors W̃_l (2r̂, 2r̂) at ε·I. The inner factors step with η,
      the bases with γ·η (``param_groups``). Call ``fit_compressed`` with the first batch first.

Every adapter wraps the original module (``.base``), whose parameters are frozen; ``merge`` adds ΔW
into W₀ for inference and ``unmerge`` takes it out again. ``.eval()`` does nothing special.

Reference: SPEC §4, §6; [Y] Yaras et al., ICML 2024 (arXiv 2406.04112), §3 and §5.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from .checks import check_int, check_positive
from .compression import yaras_bases
from .dln import end_to_end, orthogonal

__all__ = [
    "KINDS",
    "Adapter",
    "LoRA",
    "DeepLoRA",
    "CompressedDeepLoRA",
    "make_adapter",
    "add_adapters",
    "adapters",
    "fit_compressed",
    "param_groups",
    "n_trainable",
    "merge_adapters",
    "unmerge_adapters",
    "deltas",
]

KINDS = ("lora", "deep_wide", "deep_narrow", "deep_compressed")




class Adapter(nn.Module):
    """W₀ + ΔW around a frozen ``nn.Linear`` (weight W₀ (m, n), bias (m,)).

    forward: x (..., n) → base(x) + x·ΔWᵀ (..., m); once merged, just base(x).
    Subclasses define ``factors()``: the list [F_1, …, F_k] in application order with
    ΔW = F_k ⋯ F_1 (times ``scaling``).
    """

    scaling: float = 1.0

    def __init__(self, base: nn.Linear):
        if not isinstance(base, nn.Linear):
            raise ValueError(f"base must be a torch.nn.Linear, got {type(base).__name__}")
        super().__init__()
        self.base = base
        for p in base.parameters():
            p.requires_grad_(False)
        self.merged = False

    @property
    def in_features(self) -> int:  # n
        return self.base.in_features

    @property
    def out_features(self) -> int:  # m
        return self.base.out_features

    def _factory(self) -> dict:
        return {"dtype": self.base.weight.dtype, "device": self.base.weight.device}

    def factors(self) -> list[Tensor]:
        raise NotImplementedError

    def delta(self) -> Tensor:
        """ΔW, shape (m, n)."""
        return self.scaling * end_to_end(self.factors())

    def forward(self, x: Tensor) -> Tensor:
        y = self.base(x)  # (..., m)
        if self.merged:
            return y
        h = x
        for F in self.factors():  # never forms ΔW: the path costs (n + m)·w per input
            h = h @ F.T
        return y + self.scaling * h

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
        return f"m={self.out_features}, n={self.in_features}, merged={self.merged}"


class LoRA(Adapter):
    """ΔW = (α/r)·B·A with A (r, n) ~ U(−1/√n, 1/√n) as in loralib and B (m, r) = 0.

    alpha None means no scaling (α = r)."""

    def __init__(self, base: nn.Linear, rank: int, *, generator: torch.Generator, alpha: float | None = None):
        super().__init__(base)
        m, n = self.out_features, self.in_features
        self.rank = check_int("rank", rank, 1, min(m, n))
        self.scaling = 1.0 if alpha is None else check_positive("alpha", alpha) / rank
        A = (2 * torch.rand(rank, n, generator=generator, dtype=torch.float64) - 1) / math.sqrt(n)
        self.A = nn.Parameter(A.to(**self._factory()))  # (r, n)
        self.B = nn.Parameter(torch.zeros(m, rank, **self._factory()))  # (m, r)

    def factors(self) -> list[Tensor]:
        return [self.A, self.B]

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, rank={self.rank}, scaling={self.scaling:g}"


class DeepLoRA(Adapter):
    """ΔW = W_3·W_2·W_1, W_1 (w, n), W_2 (w, w), W_3 (m, w), each ε·(Haar-orthogonal).

    width None: w = min(m, n) (wide); otherwise 1 ≤ w ≤ min(m, n) (narrow)."""

    def __init__(
        self,
        base: nn.Linear,
        width: int | None = None,
        *,
        generator: torch.Generator,
        init_scale: float = 1e-3,
    ):
        super().__init__(base)
        m, n = self.out_features, self.in_features
        self.width = min(m, n) if width is None else check_int("width", width, 1, min(m, n))
        self.init_scale = check_positive("init_scale", init_scale)
        w, eps = self.width, self.init_scale
        draw = lambda rows, cols: nn.Parameter(
            (eps * orthogonal(rows, cols, generator=generator)).to(**self._factory())
        )
        self.W1 = draw(w, n)  # (w, n)
        self.W2 = draw(w, w)  # (w, w)
        self.W3 = draw(m, w)  # (m, w)

    def factors(self) -> list[Tensor]:
        return [self.W1, self.W2, self.W3]

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, width={self.width}, init_scale={self.init_scale:g}"


_PROBING = [False]  # True only inside fit_compressed, so unfitted adapters refuse to run otherwise


@contextmanager
def _probing():
    _PROBING[0] = True
    try:
        yield
    finally:
        _PROBING[0] = False


class CompressedDeepLoRA(Adapter):
    """ΔW = U·W̃_3·W̃_2·W̃_1·Vᵀ: U (m, 2r̂), V (n, 2r̂), W̃_l (2r̂, 2r̂) at ε·I.

    The bases come from the wide Deep LoRA's init (drawn from ``generator``) and the gradient G₀
    (m, n) of the first batch's loss with respect to W, as in SPEC §4 (``fit``). Until then ΔW = 0
    and the adapter refuses to run outside ``fit_compressed``.
    """

    def __init__(self, base: nn.Linear, rank_hat: int, *, generator: torch.Generator, init_scale: float = 1e-3):
        super().__init__(base)
        m, n = self.out_features, self.in_features
        if min(m, n) < 2:
            raise ValueError(f"deep_compressed needs min(m, n) ≥ 2, got m={m}, n={n}")
        self.rank_hat = check_int("rank_hat", rank_hat, 1, min(m, n) // 2)
        self.init_scale = check_positive("init_scale", init_scale)
        k, eps = 2 * rank_hat, self.init_scale
        # a seed, not the wide init itself: the (w, n), (w, w), (m, w) factors are drawn only in fit
        self._seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        self.U = nn.Parameter(torch.zeros(m, k, **self._factory()))  # (m, 2r̂)
        self.V = nn.Parameter(torch.zeros(n, k, **self._factory()))  # (n, 2r̂)
        self.W1, self.W2, self.W3 = (
            nn.Parameter(eps * torch.eye(k, **self._factory())) for _ in range(3)
        )  # (2r̂, 2r̂) each
        self.fitted = False

    def wide_init(self) -> list[Tensor]:
        """The wide Deep LoRA init this adapter compresses: [W_1 (w, n), W_2 (w, w), W_3 (m, w)],
        w = min(m, n), float64."""
        m, n = self.out_features, self.in_features
        w, g = min(m, n), torch.Generator().manual_seed(self._seed)
        return [self.init_scale * orthogonal(r, c, generator=g) for r, c in ((w, n), (w, w), (m, w))]

    @torch.no_grad()
    def fit(self, G0: Tensor) -> None:
        """Set U, V from G₀ = ∇_W loss at init (m, n) and reset the inner factors to ε·I.

        The compression is computed from the narrower side of W so that both bases are orthonormal:
        for n ≤ m as in SPEC §4 (V from the gradient of W_1, U = E(0)·V/ε³), for n > m on the
        transposed network ΔWᵀ = W_1ᵀ·W_2ᵀ·W_3ᵀ (U from the gradient of W_3, V = E(0)ᵀ·U/ε³).
        """
        m, n = self.out_features, self.in_features
        if tuple(G0.shape) != (m, n):
            raise ValueError(f"G0 must have shape ({m}, {n}), got {tuple(G0.shape)}")
        G0, Ws0 = G0.detach().to(torch.float64), self.wide_init()
        if n <= m:
            U, V = yaras_bases(Ws0, G0, self.rank_hat, init_scale=self.init_scale)  # (m, 2r̂), (n, 2r̂)
        else:
            V, U = yaras_bases([W.T for W in reversed(Ws0)], G0.T, self.rank_hat, init_scale=self.init_scale)
        self.U.copy_(U)
        self.V.copy_(V)
        for W in (self.W1, self.W2, self.W3):
            W.copy_(self.init_scale * torch.eye(2 * self.rank_hat, dtype=torch.float64))
        self.fitted = True

    def project(self, D: Tensor) -> Tensor:
        """The part of a wide update D (m, n) that this compression keeps: D·V·Vᵀ for n ≤ m,
        U·Uᵀ·D for n > m. With γ = 0 and a factorization loss, ΔW_c(t) = project(ΔW_wide(t))."""
        U, V = self.U.detach(), self.V.detach()
        return D @ V @ V.T if self.in_features <= self.out_features else U @ (U.T @ D)

    def factors(self) -> list[Tensor]:
        return [self.V.T, self.W1, self.W2, self.W3, self.U]

    def forward(self, x: Tensor) -> Tensor:
        if not (self.fitted or _PROBING[0] or self.merged):
            raise RuntimeError("a deep_compressed adapter needs its bases: call fit_compressed(model, loss_fn) first")
        return super().forward(x)

    def outer_parameters(self) -> list[nn.Parameter]:
        return [self.U, self.V]

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, rank_hat={self.rank_hat}, fitted={self.fitted}"


def make_adapter(
    base: nn.Linear,
    kind: str,
    *,
    rank: int,
    generator: torch.Generator,
    init_scale: float = 1e-3,
    alpha: float | None = None,
) -> Adapter:
    """One adapter of ``kind`` (one of KINDS) around ``base``. ``rank`` is r for ``lora``, the width w
    for ``deep_narrow``, r̂ for ``deep_compressed`` (inner width 2r̂); ``deep_wide`` ignores it."""
    if kind == "lora":
        return LoRA(base, rank, generator=generator, alpha=alpha)
    if kind == "deep_wide":
        return DeepLoRA(base, None, generator=generator, init_scale=init_scale)
    if kind == "deep_narrow":
        return DeepLoRA(base, rank, generator=generator, init_scale=init_scale)
    if kind == "deep_compressed":
        return CompressedDeepLoRA(base, rank, generator=generator, init_scale=init_scale)
    raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


Targets = None | Iterable[str] | Callable[[str, nn.Linear], bool]


def add_adapters(
    model: nn.Module,
    kind: str,
    *,
    rank: int,
    generator: torch.Generator,
    targets: Targets = None,
    init_scale: float = 1e-3,
    alpha: float | None = None,
    freeze: bool = True,
) -> list[str]:
    """Replace chosen ``nn.Linear`` layers of ``model`` (in place) by adapters around them.

    targets: None (every Linear), an iterable of module names, or a predicate (name, module) → bool.
    freeze: make every parameter of the model untrainable except the adapters' own.
    Returns the adapted module names, in the order of ``model.named_modules()``.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    inside = {f"{name}.base" for name, mod in model.named_modules() if isinstance(mod, Adapter)}
    linears = {  # an adapter's own frozen base is never adapted again
        name: mod for name, mod in model.named_modules() if isinstance(mod, nn.Linear) and name and name not in inside
    }
    if not linears:
        raise ValueError("model has no torch.nn.Linear submodule to adapt")
    if targets is None:
        chosen = list(linears)
    elif callable(targets):
        chosen = [name for name, mod in linears.items() if targets(name, mod)]
    else:
        wanted = [targets] if isinstance(targets, str) else list(targets)
        unknown = [t for t in wanted if t not in linears]
        if unknown:
            raise ValueError(f"targets {unknown} are not Linear layers of the model; choose from {sorted(linears)}")
        chosen = [name for name in linears if name in wanted]
    if not chosen:
        raise ValueError("targets selected no Linear layer")
    if freeze:
        for p in model.parameters():
            p.requires_grad_(False)
    for name in chosen:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, make_adapter(linears[name], kind, rank=rank, generator=generator,
                                            init_scale=init_scale, alpha=alpha))
    return chosen


def adapters(model: nn.Module) -> dict[str, Adapter]:
    """The adapters of a model by module name."""
    return {name: mod for name, mod in model.named_modules() if isinstance(mod, Adapter)}


def fit_compressed(model: nn.Module, loss_fn: Callable[[nn.Module], Tensor]) -> None:
    """Fit the bases of every ``deep_compressed`` adapter from the gradient of ``loss_fn(model)``
    (the first batch's loss, a scalar) with respect to each frozen W₀, at ΔW = 0."""
    mods = [m for m in adapters(model).values() if isinstance(m, CompressedDeepLoRA)]
    if not mods:
        raise ValueError("model has no deep_compressed adapter to fit")
    if any(m.merged for m in mods):
        raise RuntimeError("unmerge the adapters before fitting them")
    weights = [m.base.weight for m in mods]
    flags = [w.requires_grad for w in weights]
    try:
        for w in weights:
            w.requires_grad_(True)
        with _probing(), torch.enable_grad():
            for m in mods:  # ΔW = 0 while probing: the gradient with respect to W is ∇_ΔW at ΔW = 0
                m.U.data.zero_()
            grads = torch.autograd.grad(loss_fn(model), weights, allow_unused=True)
    finally:
        for w, f in zip(weights, flags):
            w.requires_grad_(f)
    for m, g in zip(mods, grads):
        m.fit(torch.zeros_like(m.base.weight) if g is None else g)


def param_groups(model: nn.Module, lr: float, *, outer_lr_ratio: float = 1e-2) -> list[dict]:
    """Optimizer parameter groups: every trainable parameter at lr (η), except the bases U, V of
    ``deep_compressed`` adapters at γ·η, γ = ``outer_lr_ratio`` (0 freezes them)."""
    check_positive("lr", lr)
    if isinstance(outer_lr_ratio, bool) or not isinstance(outer_lr_ratio, (int, float)) or not (
        math.isfinite(outer_lr_ratio) and outer_lr_ratio >= 0
    ):
        raise ValueError(f"outer_lr_ratio must be a finite number ≥ 0, got {outer_lr_ratio!r}")
    outer_ids = {
        id(p) for m in adapters(model).values() if isinstance(m, CompressedDeepLoRA) for p in m.outer_parameters()
    }
    inner = [p for p in model.parameters() if p.requires_grad and id(p) not in outer_ids]
    outer = [p for p in model.parameters() if p.requires_grad and id(p) in outer_ids]
    groups = [{"params": inner, "lr": lr}]
    if outer:
        groups.append({"params": outer, "lr": outer_lr_ratio * lr})
    return groups


def n_trainable(model: nn.Module) -> int:
    """Number of trainable entries (requires_grad) in the model."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def merge_adapters(model: nn.Module) -> None:
    """Merge every adapter of the model into its W₀ (see ``Adapter.merge``)."""
    for m in adapters(model).values():
        m.merge()


def unmerge_adapters(model: nn.Module) -> None:
    """Take every adapter back out of its W₀ (see ``Adapter.unmerge``)."""
    for m in adapters(model).values():
        m.unmerge()


@torch.no_grad()
def deltas(model: nn.Module) -> dict[str, Tensor]:
    """ΔW (m, n) of every adapter, by module name (detached copies)."""
    return {name: m.delta().detach().clone() for name, m in adapters(model).items()}
