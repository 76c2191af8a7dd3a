"""Parametrizations of E as factor lists, each with its per-factor step scales, in a registry.

- ``dln``: the wide deep linear network, L factors d×d at ε·O_l ([Y] Law of Parsimony);
- ``cdln``: the compressed network of [K] §4, spectral init from the problem's surrogate;
- ``compressed``: the gradient-based compression of [Y] §3, bases U, V around 2r̂×2r̂ inner factors.

Every model steps its outer factors with ``lr_ratio``·η and its inner ones with η: α on the first
and last factor of the DLN and C-DLN, γ on the bases of the Yaras compression. A ``Network`` is the
factor list at init (``Ws``, application order, W_l of shape (d_l, d_{l−1})) with a step scale per
factor, the same list ``factors.Factors`` holds as a module (``Network.factors()``), and it carries
its hyper-parameters (kind, depth, rank_hat, init_scale, lr_ratio, seed).

A parametrization is one builder function registered with ``register_model``; ``make_network``
validates the arguments, draws the init generator ``seeds.generator(seed, "init")`` (the same wide
init for ``dln`` and ``compressed``) and dispatches. ``MODELS`` lists the registered names.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from . import seeds
from .checks import check_choice, check_int, check_number
from .compression import compressed_init, spectral_init
from .dln import end_to_end, init_dln, n_params
from .factors import Factors, outer_scales
from .problems import Problem
from .seeds import check_seed

__all__ = ["MODELS", "Network", "ModelSpec", "register_model", "model_spec", "model_options", "resolve_rank_hat",
           "make_network", "init_generator", "as_factors"]

MODELS: list[str] = []  # registered parametrizations, in registration order
_SPECS: dict[str, ModelSpec] = {}


@dataclass(frozen=True, eq=False)
class Network:
    """A parametrization at init: ``Ws`` in application order, the step scale of each, and the
    hyper-parameters it was built with (``depth`` is the L given, ``len(Ws)`` is ``n_factors``;
    ``rank_hat`` is None for models without a compressed width)."""

    kind: str
    Ws: tuple[Tensor, ...]
    lr_scales: tuple[float, ...]
    depth: int | None = None
    rank_hat: int | None = None
    init_scale: float | None = None
    lr_ratio: float | None = None
    seed: int | None = None

    def __post_init__(self):
        object.__setattr__(self, "Ws", tuple(self.Ws))
        object.__setattr__(self, "lr_scales", tuple(float(s) for s in self.lr_scales))
        if len(self.lr_scales) != len(self.Ws):
            raise ValueError(f"lr_scales must have one entry per factor ({len(self.Ws)}), got {len(self.lr_scales)}")
        if self.depth is None:
            object.__setattr__(self, "depth", len(self.Ws))

    @property
    def n_factors(self) -> int:
        return len(self.Ws)

    @property
    def n_params(self) -> int:
        return n_params(list(self.Ws))

    def end_to_end(self) -> Tensor:
        """E(0) = W_L ⋯ W_1, shape (d, d)."""
        return end_to_end(list(self.Ws))

    def factors(self) -> Factors:
        """The same factor list as a ``factors.Factors`` module (copies of ``Ws``, trainable)."""
        return Factors(self.Ws, self.lr_scales)

    def hyper_parameters(self) -> dict:
        """kind, depth, rank_hat, init_scale, lr_ratio, seed: what ``make_network`` was given, with
        defaults filled in as used."""
        return {k: getattr(self, k) for k in ("kind", "depth", "rank_hat", "init_scale", "lr_ratio", "seed")}


Builder = Callable[..., "Sequence[Tensor] | tuple[Sequence[Tensor], Sequence[float]]"]


@dataclass(frozen=True)
class ModelSpec:
    """A registered parametrization: its builder, the least depth, and, for models with a compressed
    width, r̂'s default and upper bound as functions of (d, r) (its lower bound is the rank r)."""

    name: str
    builder: Builder
    min_depth: int = 1
    rank_hat_default: Callable[[int, int], int] | None = None
    rank_hat_max: Callable[[int, int], int] | None = None


def register_model(name: str, *, min_depth: int = 1, rank_hat_default: Callable[[int, int], int] | None = None,
                   rank_hat_max: Callable[[int, int], int] | None = None, replace: bool = False):
    """Register ``builder(problem, depth, *, rank_hat, init_scale, lr_ratio, generator)`` as model ``name``.

    The builder returns the factors ``Ws`` at init (application order, E = W_L ⋯ W_1 of shape (d, d)),
    or ``(Ws, lr_scales)``; the default scales are ``outer_scales(len(Ws), lr_ratio)``. ``generator`` is
    the init stream of the seed. Give ``rank_hat_default(d, r)`` (and ``rank_hat_max(d, r)``, default d)
    for a model with a compressed width r̂; others get ``rank_hat=None``. ``replace=True`` lets a notebook
    cell run twice.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"name must be a model name (letters, digits, _), got {name!r}")
    check_int("min_depth", min_depth, 1)

    def deco(builder: Builder) -> Builder:
        if name in _SPECS and not replace:
            raise ValueError(f"model {name!r} is already registered (pass replace=True to redefine it)")
        if name not in _SPECS:
            MODELS.append(name)
        _SPECS[name] = ModelSpec(name, builder, min_depth, rank_hat_default, rank_hat_max)
        return builder

    return deco


def model_spec(kind: str) -> ModelSpec:
    """The registration of model ``kind``."""
    return _SPECS[check_choice("kind (the model)", kind, MODELS)]


def model_options(kind: str) -> tuple[str, ...]:
    """The options of ``make_network`` that model ``kind`` uses beyond depth, ε, α and the seed."""
    return ("rank_hat",) if model_spec(kind).rank_hat_default is not None else ()


def resolve_rank_hat(kind: str, d: int, rank: int, rank_hat: int | None = None) -> int | None:
    """r̂ as model ``kind`` uses it for a d×d target of rank r: the given value checked against
    [r, max], or the default; None for a model without a compressed width (a given r̂ is ignored).
    Cheap (no problem is built), so an interface can check it before any work."""
    spec = model_spec(kind)
    if spec.rank_hat_default is None:
        return None
    high = spec.rank_hat_max(d, rank) if spec.rank_hat_max is not None else d
    if high < rank:
        raise ValueError(f"rank must be ≤ {high} for the {kind} model at d={d} (r̂ ≥ r), got rank={rank}")
    if rank_hat is None:
        return spec.rank_hat_default(d, rank)
    return check_int("rank_hat", rank_hat, rank, high)


def init_generator(seed: int) -> torch.Generator:
    """The generator for network inits: the seed's "init" stream, independent of its "problem" stream,
    so the same seed gives the same wide init for ``dln`` and ``compressed``."""
    return seeds.generator(seed, "init")


def as_factors(Ws, d: int) -> list[Tensor]:
    """Given initial factors: a list of 2-D finite float64 arrays or tensors whose shapes chain from d to d
    (W_l of shape (d_l, d_{l−1}), application order); float64 copies. Errors name ``Ws[i]``."""
    from .problems.given import as_matrix

    if isinstance(Ws, (Tensor, np.ndarray, str)) or not isinstance(Ws, Sequence):
        raise TypeError(f"Ws must be a list of 2-D float64 arrays or tensors (application order), got "
                        f"{type(Ws).__name__}")
    if len(Ws) == 0:
        raise ValueError("Ws must hold at least one factor, got an empty list")
    out = []
    for i, W in enumerate(Ws):
        if not isinstance(W, (Tensor, np.ndarray)):
            raise TypeError(f"Ws[{i}] must be a 2-D float64 array or tensor, got {type(W).__name__}")
        if W.dtype not in (torch.float64, np.float64):
            raise TypeError(f"Ws[{i}] must be float64 (the kit's dtype: convert it with .double() or "
                            f".astype('float64')), got {W.dtype}")
        out.append(as_matrix(f"Ws[{i}]", W))  # (d_i, d_{i−1}), float64, finite
    if out[0].shape[1] != d:
        raise ValueError(f"Ws[0] must take the d={d} inputs (shape (d_1, {d})), got shape {tuple(out[0].shape)}")
    for i in range(1, len(out)):
        if out[i].shape[1] != out[i - 1].shape[0]:
            raise ValueError(f"Ws[{i}] has shape {tuple(out[i].shape)} but Ws[{i - 1}] gives {out[i - 1].shape[0]} "
                             f"outputs: the shapes must chain, W_l of shape (d_l, d_(l−1))")
    if out[-1].shape[0] != d:
        raise ValueError(f"Ws[{len(out) - 1}] must give the d={d} outputs (shape ({d}, d_(L−1))), got shape "
                         f"{tuple(out[-1].shape)}")
    return out


def _check_layout(Ws: list[Tensor], expected: tuple[Tensor, ...], kind: str) -> tuple[Tensor, ...]:
    """Given factors that chain must also have the model's own layout (its count and widths)."""
    want = [tuple(W.shape) for W in expected]
    if len(Ws) != len(want):
        raise ValueError(f"Ws must have {len(want)} factors for this {kind} model (shapes {want}), got {len(Ws)}")
    for i, (W, shape) in enumerate(zip(Ws, want)):
        if tuple(W.shape) != shape:
            raise ValueError(f"Ws[{i}] must have shape {shape} for this {kind} model (shapes {want}), got "
                             f"{tuple(W.shape)}")
    return tuple(Ws)


def make_network(
    kind: str,
    problem: Problem,
    depth: int,
    *,
    rank_hat: int | None = None,
    init_scale: float = 1e-2,
    lr_ratio: float = 1.0,
    seed: int = 0,
    Ws: Sequence[Tensor] | None = None,
) -> Network:
    """Build model ``kind`` for ``problem``.

    Args:
        kind: one of ``MODELS``.
        depth: L ≥ 1 (dln) or ≥ 2 (cdln); for ``compressed``, L inner factors (≥ 1).
        rank_hat: r̂ in [r, max], default 2r (cdln) or r (compressed, whose inner width is 2r̂);
            ignored by models without a compressed width (dln).
        init_scale: ε, finite > 0.  lr_ratio: α (dln, cdln) or γ (compressed), finite ≥ 0.
        seed: in [0, 2⁶³ − 1]; the init is drawn from its "init" stream.
        Ws: your own initial factors instead of the model's init: a list of 2-D finite float64 arrays
            or tensors in application order (W_l of shape (d_l, d_{l−1})), chaining from d to d with
            the model's layout (dln: L × (d, d); cdln: (r̂, d), (r̂, r̂) × (L − 2), (d, r̂); compressed:
            (2r̂, d), (2r̂, 2r̂) × L, (d, 2r̂)); copied as float64. The step scales and hyper-parameters
            stay the model's.
    """
    spec = model_spec(kind)
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a Problem (from make_problem), got {type(problem).__name__}")
    depth = check_int("depth", depth, spec.min_depth)
    init_scale = check_number("init_scale", init_scale, low=0.0, low_open=True)
    lr_ratio = check_number("lr_ratio", lr_ratio, low=0.0)
    seed = check_seed(seed)
    rank_hat = resolve_rank_hat(kind, problem.d, problem.rank, rank_hat)
    given = None if Ws is None else as_factors(Ws, problem.d)  # checked before the model's own init is built
    built = spec.builder(problem, depth, rank_hat=rank_hat, init_scale=init_scale, lr_ratio=lr_ratio,
                         generator=init_generator(seed))
    paired = isinstance(built, tuple) and len(built) == 2 and not isinstance(built[0], Tensor)  # (Ws, lr_scales)
    factors, scales = built if paired else (built, None)
    factors = tuple(factors)
    if given is not None:
        factors = _check_layout(given, factors, kind)
    scales = outer_scales(len(factors), lr_ratio) if scales is None else tuple(scales)
    return Network(kind, factors, scales, depth=depth, rank_hat=rank_hat, init_scale=init_scale,
                   lr_ratio=lr_ratio, seed=seed)


def _wide_init(problem: Problem, depth: int, init_scale: float, generator: torch.Generator) -> list[Tensor]:
    """The wide DLN init, after checking that it and a step's gradients fit in memory (4 d×d per factor)."""
    from .problems.sensing import physical_memory  # the one place that asks the OS

    need, have = 4 * 8 * depth * problem.d**2, physical_memory()
    if need > have // 2:
        raise ValueError(f"depth={depth} at d={problem.d} needs {need / 1e9:.3g} GB for the wide network, more "
                         f"than half of this machine's {have / 1e9:.3g} GB; lower depth or d")
    return init_dln(problem.d, depth, init_scale=init_scale, generator=generator)


@register_model("dln")
def _dln(problem, depth, *, rank_hat, init_scale, lr_ratio, generator):
    return _wide_init(problem, depth, init_scale, generator)


@register_model("cdln", min_depth=2, rank_hat_default=lambda d, r: min(2 * r, d))
def _cdln(problem, depth, *, rank_hat, init_scale, lr_ratio, generator):
    return spectral_init(problem.surrogate(), depth, rank_hat, init_scale=init_scale)


@register_model("compressed", rank_hat_default=lambda d, r: r, rank_hat_max=lambda d, r: d // 2)  # inner width 2r̂ ≤ d
def _compressed(problem, depth, *, rank_hat, init_scale, lr_ratio, generator):
    Ws0 = _wide_init(problem, depth, init_scale, generator)  # the wide init of "dln"
    G0 = problem.grad(end_to_end(Ws0))  # ∇_E loss at init: (d, d)
    return compressed_init(Ws0, G0, rank_hat, init_scale=init_scale)
