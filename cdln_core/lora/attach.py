"""Attaching adapters to a model: swap its Linear layers, fit the compressed bases, merge, disable.

``add_adapters`` replaces chosen ``nn.Linear`` layers of any torch model by adapters around them
(through ``cdln_core.factors.swap_linears``, the kit's one way to swap a Linear), all or nothing;
``fit_compressed`` computes every ``deep_compressed`` adapter's bases from the first batch's
gradient; ``merge_adapters`` / ``unmerge_adapters`` / ``merge_and_unload`` / ``disabled`` act on
every adapter at once; ``param_groups`` and ``n_trainable`` are the kit's own (``cdln_core.factors``),
reading each adapter's step scales.

Reference: [Y] Yaras et al., ICML 2024 (arXiv 2406.04112), §3 and §5; huggingface/peft's adapter API.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from ..checks import check_choice
from ..factors import Targets, n_params, param_groups, swap_linears
from .adapters import KINDS, Adapter, CompressedDeepLoRA, make_adapter

__all__ = [
    "add_adapters",
    "adapters",
    "fit_compressed",
    "param_groups",
    "n_trainable",
    "merge_adapters",
    "unmerge_adapters",
    "merge_and_unload",
    "disabled",
    "deltas",
]

n_trainable = n_params  # trainable entries of a model: the one count of the kit


def add_adapters(model: nn.Module, kind: str, *, rank: int, generator: torch.Generator, targets: Targets = None,
                 init_scale: float = 1e-3, alpha: float | None = None, depth: int = 3, outer_lr_ratio: float = 1e-2,
                 freeze: bool = True) -> list[str]:
    """Replace chosen ``nn.Linear`` layers of ``model`` (in place) by adapters around them.

    targets: None (every Linear that is not already an adapter's base), a name or names, or a
    predicate (name, module) → bool. freeze: make every parameter of the model untrainable except
    the adapters' own. All or nothing: if one layer cannot take the adapter (say its rank is too
    large), the model is left as it was. Returns the adapted names, in ``model.named_modules()`` order.
    """
    check_choice("kind", kind, KINDS)
    inside = {f"{name}.base" for name, mod in model.named_modules() if isinstance(mod, Adapter)}
    if targets is None:
        chosen: Targets = lambda name, mod: name not in inside
    elif callable(targets):
        chosen = lambda name, mod: name not in inside and targets(name, mod)
    else:
        chosen = [targets] if isinstance(targets, str) else list(targets)
        if inside.intersection(chosen):
            raise ValueError(f"targets {sorted(inside.intersection(chosen))} are adapters' frozen bases")
    made: dict[str, tuple[Adapter, list[bool]]] = {}

    def make(name: str, linear: nn.Linear) -> Adapter:
        flags = [p.requires_grad for p in linear.parameters()]
        adapter = make_adapter(linear, kind, rank=rank, generator=generator, init_scale=init_scale, alpha=alpha,
                               depth=depth, outer_lr_ratio=outer_lr_ratio)
        made[name] = (adapter, flags)
        return adapter

    try:
        names = swap_linears(model, make, chosen)
    except Exception:
        for name, (adapter, flags) in made.items():  # roll back: put the original layers back as they were
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent) if parent else model, child, adapter.base)
            for p, f in zip(adapter.base.parameters(), flags):
                p.requires_grad_(f)
        raise
    if freeze:
        model.requires_grad_(False)
        for adapter, _ in made.values():
            adapter.factors.requires_grad_(True)
    return names


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
        for m, w in zip(mods, weights):
            w.requires_grad_(True)
            m.probing = True
            with torch.no_grad():
                m.U.zero_()  # ΔW = 0 while probing: the gradient for W is ∇_ΔW at ΔW = 0
        with torch.enable_grad():
            grads = torch.autograd.grad(loss_fn(model), weights, allow_unused=True)
    finally:
        for m, w, f in zip(mods, weights, flags):
            w.requires_grad_(f)
            m.probing = False
    for m, g in zip(mods, grads):
        m.fit(torch.zeros_like(m.base.weight) if g is None else g)


def merge_adapters(model: nn.Module) -> None:
    """Merge every adapter of the model into its W₀ (see ``Adapter.merge``)."""
    for m in adapters(model).values():
        m.merge()


def unmerge_adapters(model: nn.Module) -> None:
    """Take every adapter back out of its W₀ (see ``Adapter.unmerge``)."""
    for m in adapters(model).values():
        m.unmerge()


def merge_and_unload(model: nn.Module) -> nn.Module:
    """Merge every adapter and put its base ``nn.Linear`` (now W₀ + ΔW) back in its place, in place.
    Returns ``model``, with no adapter left."""
    for name, m in adapters(model).items():
        m.merge()
        parent, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, child, m.base)
    return model


@contextmanager
def disabled(model: nn.Module) -> Iterator[nn.Module]:
    """Run ``model`` without its adapters inside the block (merged or not); restores them after."""
    mods = list(adapters(model).values())
    before = [m.disabled for m in mods]
    try:
        for m in mods:
            m.disabled = True
        yield model
    finally:
        for m, b in zip(mods, before):
            m.disabled = b


@torch.no_grad()
def deltas(model: nn.Module) -> dict[str, Tensor]:
    """ΔW (m, n) of every adapter, by module name (detached copies)."""
    return {name: m.delta().detach().clone() for name, m in adapters(model).items()}
