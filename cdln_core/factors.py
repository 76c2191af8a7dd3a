"""The factor list: a linear map stored as a product of factors, each with its own step scale.

Every parametrization in the kit is one: the wide DLN and the C-DLN of [K] (E = W_L ⋯ W_1), the
Yaras compression of [Y] ([Vᵀ, W̃_1, …, W̃_L, U]), a deep-linear or C-DLN layer inside a nonlinear
network, and every LoRA adapter (LoRA's ΔW = (α/r)·B·A is the depth-2 list [A, B] with scale α/r;
Deep LoRA's ΔW = W_L ⋯ W_1 of any depth). Written once here:

- ``Factors``: an ``nn.Module`` holding ``Ws`` (an ``nn.ParameterList``, application order, W_l of
  shape (d_l, d_{l−1})), a step scale per factor and a scalar ``scale``; ``end_to_end()`` is
  scale·W_L ⋯ W_1 (d_L, d_0); ``forward(x)`` applies it factor by factor to x (..., d_0);
- ``outer_scales(L, ratio)``: the two-learning-rate rule (ratio on the first and last factor);
- ``param_groups(model, lr)``: optimizer groups for any model that contains ``Factors``;
- ``n_params(model)``: trainable entries;
- ``swap_linears(model, make, targets)``: the one way to replace ``nn.Linear`` layers of a model.

Reference: [K] §4 (two learning rates by position); [Y] §3, §5.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch
from torch import Tensor, nn

from .checks import check_number
from .dln import end_to_end
from .dln import n_params as _count

__all__ = ["Factors", "outer_scales", "param_groups", "n_params", "swap_linears", "Targets"]


def outer_scales(depth: int, ratio: float) -> tuple[float, ...]:
    """Step scales for ``depth`` factors: ``ratio`` on the first and the last, 1 inside."""
    return tuple(float(ratio) if i in (0, depth - 1) else 1.0 for i in range(depth))


class Factors(nn.Module):
    """scale · W_L ⋯ W_1 as a module. ``Ws``: the factors in application order; ``lr_scales``:
    one step scale per factor (default all 1); ``scale``: a fixed scalar (LoRA's α/r, else 1)."""

    def __init__(self, Ws: Sequence[Tensor], lr_scales: Sequence[float] | None = None, *, scale: float = 1.0):
        super().__init__()
        if len(Ws) == 0:
            raise ValueError("Ws must hold at least one factor")
        for l in range(1, len(Ws)):
            if Ws[l].shape[1] != Ws[l - 1].shape[0]:
                shapes = [tuple(W.shape) for W in Ws]
                raise ValueError(f"Ws must chain (W_{l + 1} has {Ws[l].shape[1]} columns, W_{l} has "
                                 f"{Ws[l - 1].shape[0]} rows): shapes {shapes}")
        self.Ws = nn.ParameterList(nn.Parameter(W if isinstance(W, nn.Parameter) else W.detach().clone())
                                   for W in Ws)
        scales = (1.0,) * len(Ws) if lr_scales is None else tuple(lr_scales)
        if len(scales) != len(Ws):
            raise ValueError(f"lr_scales must have one entry per factor ({len(Ws)}), got {len(scales)}")
        self.lr_scales = tuple(check_number("lr_scales", s, low=0.0) for s in scales)
        self.scale = check_number("scale", scale)

    @property
    def depth(self) -> int:
        return len(self.Ws)

    @property
    def in_features(self) -> int:  # d_0
        return self.Ws[0].shape[1]

    @property
    def out_features(self) -> int:  # d_L
        return self.Ws[-1].shape[0]

    @property
    def n_params(self) -> int:
        return _count(list(self.Ws))

    def end_to_end(self) -> Tensor:
        """scale · W_L ⋯ W_1, shape (d_L, d_0)."""
        E = end_to_end(list(self.Ws))
        return E if self.scale == 1.0 else self.scale * E

    def forward(self, x: Tensor) -> Tensor:  # (..., d_0) → (..., d_L)
        # factor by factor: never forms the (d_L, d_0) product, so a narrow list costs (d_0 + d_L)·w per input
        for W in self.Ws:
            x = x @ W.T  # (..., d_l)
        return x if self.scale == 1.0 else self.scale * x

    def extra_repr(self) -> str:
        shapes = " → ".join(str(d) for d in [self.in_features, *[W.shape[0] for W in self.Ws]])
        return f"{shapes}, lr_scales={self.lr_scales}, scale={self.scale:g}"


def param_groups(model: nn.Module, lr: float) -> list[dict]:
    """Optimizer groups: each factor of every ``Factors`` in ``model`` at lr·(its step scale), every
    other trainable parameter at lr. Groups of equal step size are merged; frozen ones are left out."""
    lr = check_number("lr", lr, low=0.0, low_open=True)
    by_lr: dict[float, list[nn.Parameter]] = {}
    seen: set[int] = set()
    for mod in model.modules():
        if isinstance(mod, Factors):
            for W, s in zip(mod.Ws, mod.lr_scales):
                if W.requires_grad and id(W) not in seen:
                    by_lr.setdefault(lr * s, []).append(W)
                    seen.add(id(W))
    for p in model.parameters():
        if p.requires_grad and id(p) not in seen:
            by_lr.setdefault(lr, []).append(p)
            seen.add(id(p))
    return [{"params": ps, "lr": step} for step, ps in by_lr.items()]


def n_params(model: nn.Module | Sequence[Tensor]) -> int:
    """Trainable entries of a module (or every entry of a list of tensors)."""
    if isinstance(model, nn.Module):
        return sum(p.numel() for p in model.parameters() if p.requires_grad)
    return _count(list(model))


Targets = None | str | Iterable[str] | Callable[[str, nn.Linear], bool]


def swap_linears(model: nn.Module, make: Callable[[str, nn.Linear], nn.Module], targets: Targets = None) -> list[str]:
    """Replace chosen ``nn.Linear`` submodules of ``model`` in place by ``make(name, linear)``.

    targets: None (every Linear, including any inside a module an earlier swap made: a caller that
    must skip those, such as ``lora.add_adapters`` with an adapter's frozen base, passes a predicate),
    a name or names, or a predicate (name, linear) → bool. Returns the replaced names in the order of
    ``model.named_modules()``.
    """
    linears = {name: m for name, m in model.named_modules() if isinstance(m, nn.Linear) and name}
    if not linears:
        raise ValueError("model has no torch.nn.Linear submodule to replace")
    if targets is None:
        chosen = list(linears)
    elif callable(targets):
        chosen = [name for name, m in linears.items() if targets(name, m)]
    else:
        wanted = [targets] if isinstance(targets, str) else list(targets)
        unknown = [t for t in wanted if t not in linears]
        if unknown:
            raise ValueError(f"targets {unknown} are not Linear layers of the model; choose from {sorted(linears)}")
        chosen = [name for name in linears if name in wanted]
    if not chosen:
        raise ValueError("targets selected no Linear layer")
    for name in chosen:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, make(name, linears[name]))
    return chosen


@torch.no_grad()
def copy_factors(dst: Factors, Ws: Sequence[Tensor]) -> None:
    """Overwrite ``dst``'s factors with ``Ws`` (same shapes)."""
    for W, V in zip(dst.Ws, Ws, strict=True):
        W.copy_(V)
