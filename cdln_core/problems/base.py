"""Low-rank matrix recovery problems: each is a loss on the end-to-end matrix E.

Target Φ = U·diag(σ)·Vᵀ (d×d, rank r, U and V Haar with orthonormal columns). Every problem reports
the recovery error ‖E − Φ‖_F/‖Φ‖_F and gives a surrogate matrix S ≈ Φ for the spectral
initialization of [K]. The training loop calls ``loss_and_products(A, B)`` with E = A·B
(A = W_L⋯W_2, B = W_1): it returns the loss and the two products Aᵀ·G and G·Bᵀ of the gradient
G = ∇_E loss, which is all the factor gradients need.

A problem kind is one ``Problem`` subclass and one builder registered with ``register_problem``;
``make_problem(kind, d, rank, ...)`` draws the target from the seed's "problem" stream
(``seeds.generator(seed, "problem")``) and calls the builder with the same generator, which draws the
kind's own data (Ω, ...) after the target. ``PROBLEMS`` lists the registered kinds.

Bring your own: ``make_problem(kind, target=M)`` takes Φ = M (any rank; r given or M's numerical
rank, see ``given``) and ``mask=`` / ``operators=`` for the kind's data; what is not given is drawn
from the seed's "problem" stream as usual. A builder that declares the keyword ``target`` (or
``mask``, ``operators``) receives it; these data keywords are not options (no CLI flag is made).

Reference: [K] §5; [Y] §3.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from .. import seeds
from ..checks import check_choice, check_int, check_number
from ..dln import orthogonal
from ..seeds import check_seed
from .given import as_matrix, target_svd

__all__ = [
    "PROBLEMS",
    "Problem",
    "default_singular_values",
    "make_target",
    "make_problem",
    "register_problem",
    "problem_options",
    "DATA_KEYWORDS",
]

PROBLEMS: list[str] = []  # registered kinds, in registration order
_BUILDERS: dict[str, Callable[..., Problem]] = {}
DATA_KEYWORDS = ("target", "mask", "operators")  # a builder's given data: keywords, never options or flags


def _like(A, t: Tensor):
    """``t`` as the same kind of array as ``A``: itself, or a zero-copy NumPy view."""
    return t if isinstance(A, Tensor) else t.numpy()


def default_singular_values(d: int, rank: int, *, generator: torch.Generator) -> Tensor:
    """Well-separated σ as in the reference code: singular values of a d×d standard Gaussian
    matrix at indices 0, d/(2r), 2d/(2r), … . Shape (r,), descending."""
    S = torch.linalg.svdvals(torch.randn(d, d, generator=generator, dtype=torch.float64))
    return S[[k * d // (2 * rank) for k in range(rank)]]


def make_target(
    d: int,
    rank: int,
    *,
    generator: torch.Generator,
    singular_values=None,
    condition_number: float | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """A rank-r target Φ = U·diag(σ)·Vᵀ.

    σ is, in order of precedence: the given ``singular_values`` (r positive numbers, sorted
    descending here); a geometric sequence from √d down to √d/κ for ``condition_number`` κ; or the
    well-separated default. Returns (U (d, r), σ (r,), V (d, r)).
    """
    check_int("d", d, 1)
    check_int("rank", rank, 1, d)
    U = orthogonal(d, rank, generator=generator)  # (d, r)
    V = orthogonal(d, rank, generator=generator)  # (d, r)
    if singular_values is not None:
        try:
            sigma = torch.as_tensor(singular_values, dtype=torch.float64).flatten()
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(f"singular_values must be {rank} positive numbers, got {singular_values!r}") from None
        if sigma.numel() != rank or not torch.all(torch.isfinite(sigma)) or torch.any(sigma <= 0):
            raise ValueError(f"singular_values must be {rank} positive finite numbers (one per rank)")
        sigma = torch.sort(sigma, descending=True).values
    elif condition_number is not None:
        condition_number = check_number("condition_number", condition_number, low=1.0)
        sigma = math.sqrt(d) * torch.logspace(0, -math.log10(condition_number), rank, dtype=torch.float64)
    else:
        sigma = default_singular_values(d, rank, generator=generator)
    return U, sigma, V


@dataclass(frozen=True, eq=False)
class Problem:
    """A target and a loss on E. Subclasses define the loss; all share the target's metrics.

    ``target``: Φ as the user gave it (d, d), or None when Φ = U·diag(σ)·Vᵀ was drawn; when given, Φ
    is this matrix exactly and U·diag(σ)·Vᵀ its best rank-r approximation (see ``given``)."""

    U: Tensor  # (d, r)
    sigma: Tensor  # (r,)
    V: Tensor  # (d, r)
    Phi: Tensor = field(init=False)  # (d, d)
    target: Tensor | None = field(default=None, kw_only=True, repr=False)  # (d, d) when given
    kind = "problem"
    numpy_ready = False  # does loss_and_products also take NumPy arrays (the CPU fast path)?

    def __post_init__(self):
        given = self.target is not None
        object.__setattr__(self, "Phi", self.target if given else (self.U * self.sigma) @ self.V.T)

    @property
    def d(self) -> int:
        return self.Phi.shape[0]

    @property
    def rank(self) -> int:
        return self.sigma.numel()

    def recovery_error(self, E: Tensor) -> float:
        """‖E − Φ‖_F / ‖Φ‖_F."""
        return (torch.linalg.matrix_norm(E - self.Phi) / torch.linalg.matrix_norm(self.Phi)).item()

    def test_loss(self, E: Tensor) -> float | None:
        """Loss on held-out data; None where the problem has none."""
        return None

    def loss(self, E: Tensor) -> Tensor:
        raise NotImplementedError

    def grad(self, E: Tensor) -> Tensor:
        """∇_E loss, shape (d, d); the dense reference the fast path is tested against."""
        raise NotImplementedError

    def surrogate(self) -> Tensor:
        raise NotImplementedError

    def thread_hint(self, k: int) -> dict:
        """What ``threads.choose`` needs to pick the threads of a run whose first factor has k rows:
        ``work`` (multiply-adds of the step's largest product) and ``memory_bound``. The default is
        the dense product E = A·B, d²·k; a problem with a cheaper or memory-bound step overrides it."""
        return {"work": self.d * self.d * k, "memory_bound": False}

    def loss_and_products(self, A: Tensor, B: Tensor) -> tuple[float, Tensor, Tensor]:
        """For E = A·B (A (d, k), B (k, d)): (loss, Aᵀ·G (k, d), G·Bᵀ (d, k)), G = ∇_E loss.

        This is the training loop's hot path: subclasses keep it to a few fused tensor ops.
        """
        E = A @ B  # (d, d)
        G = self.grad(E)
        return self.loss(E).item(), A.T @ G, G @ B.T


def register_problem(kind: str, *, replace: bool = False):
    """Register ``builder(U, sigma, V, *, generator, seed, **options) -> Problem`` as problem ``kind``.

    ``make_problem`` passes it the options its signature names as keyword-only (e.g. ``observed``),
    so a new problem is one class and one registered function. ``replace=True`` lets a notebook
    cell that registers a kind run twice."""
    if not isinstance(kind, str) or not kind.isidentifier():
        raise ValueError(f"kind must be a name (letters, digits, _), got {kind!r}")

    def deco(builder):
        if kind in _BUILDERS and not replace:
            raise ValueError(f"problem {kind!r} is already registered (pass replace=True to redefine it)")
        if kind not in _BUILDERS:
            PROBLEMS.append(kind)
        _BUILDERS[kind] = builder
        return builder

    return deco


def problem_options(kind: str) -> dict:
    """The options problem ``kind``'s builder takes, name → default (``inspect.Parameter.empty`` where
    it has none), e.g. ``{"observed": 0.3}`` for completion."""
    check_choice("kind (the problem)", kind, PROBLEMS)
    params = inspect.signature(_BUILDERS[kind]).parameters
    return {name: params[name].default for name in sorted(_option_names(_BUILDERS[kind]))}


def _option_names(builder) -> set[str]:
    params = inspect.signature(builder).parameters.values()
    return {p.name for p in params if p.kind == p.KEYWORD_ONLY} - {"generator", "seed", *DATA_KEYWORDS}


def _data_names(builder) -> set[str]:
    """The data keywords (``DATA_KEYWORDS``) a builder declares."""
    return set(inspect.signature(builder).parameters) & set(DATA_KEYWORDS)


def _check_target_fits(d: int) -> None:
    """Refuse a target this machine cannot hold: Φ and its draw keep about five d×d float64 arrays."""
    from .sensing import physical_memory  # the one place that asks the OS

    need, have = 5 * 8 * d * d, physical_memory()
    if need > have // 2:
        raise ValueError(f"d={d} needs {need / 1e9:.3g} GB for the target, more than half of this machine's "
                         f"{have / 1e9:.3g} GB; lower d")


def make_problem(
    kind: str,
    d: int | None = None,
    rank: int | None = None,
    *,
    target=None,
    mask=None,
    operators=None,
    singular_values=None,
    condition_number: float | None = None,
    seed: int = 0,
    **options,
) -> Problem:
    """Build a problem. The same seed gives the same Φ for every kind, and the same Ω or operator.

    Args:
        kind: one of ``PROBLEMS``.
        d: width of the target, ≥ 1 (read from ``target`` when given).
        rank: r, in [1, d]; with ``target``, in [1, its numerical rank], default that rank.
        target: your own Φ, a finite (d, d) array or tensor of any rank; the problem keeps it exactly.
        mask: your own Ω (completion): a boolean (d, d) mask, unique flat indices (|Ω|,) or unique
            (row, column) pairs (|Ω|, 2); replaces ``observed``.
        operators: your own measurement operator (sensing: (m, d, d) or (m, d²); rank_one: the pair
            (a, b) of (m, d) arrays); ``measurements`` may then be y (m,), else y = 𝒜(Φ) (+ noise).
        singular_values / condition_number: σ of a drawn target (see ``make_target``).
        seed: an integer in [0, 2⁶³ − 1]; what is not given (the target, Ω, the operator) comes from
            its "problem" stream (``seeds.generator``), nothing global is touched.
        options: the kind's own, e.g. ``observed`` (completion), ``measurements``, ``noise``
            (sensing). Options of other registered kinds are ignored; unknown names are an error.
    """
    check_choice("kind (the problem)", kind, PROBLEMS)
    seed = check_seed(seed)
    known = set().union(*(_option_names(b) for b in _BUILDERS.values()))
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(f"make_problem got unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    builder = _BUILDERS[kind]
    data = {k: v for k, v in (("target", target), ("mask", mask), ("operators", operators)) if v is not None}
    for name in data:
        if name not in _data_names(builder):
            takers = [k for k in PROBLEMS if name in _data_names(_BUILDERS[k])]
            raise ValueError(f"{name}= applies to problem {' or '.join(takers) or 'none'} only, not {kind}")
    if "mask" in data and "observed" in options:
        raise ValueError("observed does not apply with mask= (p = |Ω|/d² is read from the mask)")
    mine = {k: v for k, v in options.items() if k in _option_names(builder)}
    g = seeds.generator(seed, "problem")
    if target is None:
        if d is None or rank is None:
            raise TypeError("make_problem needs d and rank, or target= (your own (d, d) matrix)")
        d = check_int("d", d, 1)
        rank = check_int("rank", rank, 1, d)
        _check_target_fits(d)
        U, sigma, V = make_target(d, rank, generator=g, singular_values=singular_values,
                                  condition_number=condition_number)
        return builder(U, sigma, V, generator=g, seed=seed, **mine, **data)
    for name, value in (("singular_values", singular_values), ("condition_number", condition_number)):
        if value is not None:
            raise ValueError(f"{name} applies to a drawn target only, not with target= (σ is read from it)")
    Phi = as_matrix("target", target)  # (d, d)
    if d is not None and check_int("d", d, 1) != Phi.shape[0]:
        raise ValueError(f"d={d} does not match the target's shape {tuple(Phi.shape)}; leave d out to read it")
    _check_target_fits(Phi.shape[0])
    U, sigma, V = target_svd(Phi, rank)  # (d, r), (r,), (d, r)
    data["target"] = Phi
    return builder(U, sigma, V, generator=g, seed=seed, **mine, **data)
