"""Rank-one matrix sensing: ½·mean_i (a_iᵀ·E·b_i − y_i)², A_i = a_i·b_iᵀ, a_i and b_i with N(0, 1/d) entries.

A structured measurement operator: m rank-one matrices held as two (m, d) arrays, O(m·d) memory
instead of the Gaussian operator's m·d². With a, b of variance 1/d, E[(aᵀ·X·b)²] = ‖X‖_F²/d², so the
loss ≈ ½·mean((E − Φ)²), as for the other problems, and the paper's step sizes carry over.

From the factors E = A·B (A (d, k), B (k, d)), with P = a·A (m, k) and Q = b·Bᵀ (m, k):
    ⟨a_i b_iᵀ, E⟩ = P_i·Q_i,  G = aᵀ·diag(r)·b/m,  Aᵀ·G = Pᵀ·(r ∘ b)/m (k, d),  G·Bᵀ = aᵀ·(r ∘ Q)/m (d, k),
so a step costs O(m·d·k) and never forms E: a compressed network (k = r̂) pays m·d·r̂ where the wide
one pays m·d² plus its d×d products. The surrogate is (d²/m)·Σ_i y_i·a_i·b_iᵀ ≈ Φ, as for sensing.

Bring your own: ``make_problem("rank_one", target=M, operators=(a, b))`` with a, b of shape (m, d),
and optionally ``measurements=y`` (m,).

Reference: [K] §5 (matrix sensing); rank-one measurements as in the phase-retrieval and
low-rank-sensing literature (e.g. Cai and Zhang, "ROP", Ann. Statist. 2015).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ..checks import check_number
from ..seeds import generator as stream
from .base import Problem, _like, register_problem
from .given import as_matrix
from .sensing import check_measurements, given_measurements, identifiability, measure

__all__ = ["RankOneSensing"]


@dataclass(frozen=True, eq=False, repr=False)
class RankOneSensing(Problem):
    """Sensing with rank-one measurements a_i·b_iᵀ: ½·mean_i (a_iᵀ·E·b_i − y_i)².

    ``a`` and ``b`` are (m, d), given or from the streams ("operator", 0) and ("operator", 1) of
    ``seed``; ``y`` (m,), given or 𝒜(Φ) (+ noise). Takes torch tensors or NumPy arrays in
    ``loss_and_products`` (the NumPy engine).
    """

    measurements: int = 0
    noise: float = 0.0
    seed: int = 0
    a: Tensor | None = None  # (m, d)
    b: Tensor | None = None  # (m, d)
    y: Tensor | None = None  # (m,)
    kind = "rank_one"
    numpy_ready = True

    def __post_init__(self):
        super().__post_init__()
        m, d = self.measurements, self.d
        if self.a is None:
            a = torch.randn(m, d, generator=stream(self.seed, "operator", 0), dtype=self.Phi.dtype) / math.sqrt(d)
            b = torch.randn(m, d, generator=stream(self.seed, "operator", 1), dtype=self.Phi.dtype) / math.sqrt(d)
            object.__setattr__(self, "a", a)  # (m, d)
            object.__setattr__(self, "b", b)  # (m, d)
        if self.y is None:
            object.__setattr__(self, "y", measure(self))  # (m,)

    def __repr__(self) -> str:
        return f"RankOneSensing(d={self.d}, rank={self.rank}, measurements={self.measurements})"

    @property
    def warnings(self) -> list[str]:
        """Why a run on this problem cannot identify Φ (empty when it can, as far as counting goes)."""
        return identifiability(self.measurements, self, head=f"measurements={self.measurements}", symbol="m")

    def apply(self, E: Tensor) -> Tensor:
        """(a_iᵀ·E·b_i)_i, shape (m,)."""
        return torch.sum((self.a @ E) * self.b, 1)

    def adjoint(self, z: Tensor) -> Tensor:
        """Σ_i z_i·a_i·b_iᵀ = aᵀ·diag(z)·b, shape (d, d)."""
        return self.a.T @ (z[:, None] * self.b)

    def loss(self, E):
        r = self.apply(E) - self.y
        return 0.5 * torch.mean(r**2)

    def grad(self, E):
        return self.adjoint(self.apply(E) - self.y) / self.measurements

    def surrogate(self):
        return self.adjoint(self.y) * (self.d * self.d / self.measurements)

    def thread_hint(self, k: int) -> dict:
        return {"work": 4 * self.measurements * self.d * k}

    def loss_and_products(self, A, B):
        m = self.measurements
        a, b, y = _like(A, self.a), _like(A, self.b), _like(A, self.y)
        P = a @ A  # (m, k): a_iᵀ·A
        Q = b @ B.T  # (m, k): (B·b_i)ᵀ
        r = (P * Q).sum(1) - y  # (m,): a_iᵀ·E·b_i − y_i
        loss = 0.5 * float(r @ r) / m
        r *= 1.0 / m
        return loss, P.T @ (r[:, None] * b), a.T @ (r[:, None] * Q)


@register_problem("rank_one")
def _build(U, sigma, V, *, generator, seed, measurements: int | None = None, noise: float = 0.0, target=None,
           operators=None) -> RankOneSensing:
    """a, b drawn from ``seed`` (m = ``measurements``, default 5·d·r) or ``operators`` = (a, b), each (m, d)."""
    d, rank = U.shape[0], sigma.numel()
    noise = check_number("noise", noise, low=0.0)
    if operators is not None:
        if not isinstance(operators, (tuple, list)) or len(operators) != 2:
            raise TypeError(f"operators must be the pair (a, b) of (m, {d}) arrays for rank_one, "
                            f"got {type(operators).__name__}")
        a = as_matrix("operators[0] (a)", operators[0])  # (m, d)
        b = as_matrix("operators[1] (b)", operators[1], tuple(a.shape))  # (m, d)
        if a.shape[1] != d:
            raise ValueError(f"operators[0] (a) must have shape (m, {d}), got {tuple(a.shape)}")
        y = given_measurements(a.shape[0], measurements, noise)
        m = check_measurements(a.shape[0], d, 8 * (2 * d + 4), 4 * d * d)
        return RankOneSensing(U, sigma, V, measurements=m, noise=noise, seed=seed, a=a, b=b, y=y, target=target)
    m = 5 * d * rank if measurements is None else measurements
    m = check_measurements(m, d, 8 * (2 * d + 4), 4 * d * d)  # a, b, y; the wide step's m·d² products
    return RankOneSensing(U, sigma, V, measurements=m, noise=noise, seed=seed, target=target)
