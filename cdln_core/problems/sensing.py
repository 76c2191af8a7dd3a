"""Matrix sensing (MS): ½·mean_i (⟨A_i, E⟩ − y_i)², A_i with i.i.d. N(0, 1/d²) entries.

The surrogate is (d²/m)·Σ_i y_i A_i ≈ Φ.

Reference: [K] §5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ..checks import check_int
from .base import Problem, register_problem

__all__ = ["Sensing"]


@dataclass(frozen=True, eq=False)
class Sensing(Problem):
    """Matrix sensing: ½·mean_i (⟨A_i, E⟩ − y_i)², A_i with i.i.d. N(0, 1/d²) entries.

    The operator is kept as one (m, d²) matrix when it fits ``max_operator_bytes``; otherwise it is
    regenerated chunk by chunk from fixed seeds at every application (matrix-free), so memory stays
    bounded whatever m and d are. Both give the same numbers for the same seed.
    """

    measurements: int = 0
    noise: float = 0.0
    seed: int = 0
    max_operator_bytes: int = 2**31
    kind = "sensing"
    _chunk = 256

    def __post_init__(self):
        super().__post_init__()
        d2 = self.Phi.numel()
        dense = self.measurements * d2 * 8 <= self.max_operator_bytes
        object.__setattr__(self, "_dense_op", self._chunk_op(0, self.measurements) if dense else None)
        y = self.apply(self.Phi)
        if self.noise > 0:
            g = torch.Generator().manual_seed(self.seed * 7919 + 17)
            y = y + self.noise * torch.randn(self.measurements, generator=g, dtype=y.dtype)
        object.__setattr__(self, "y", y)  # (m,)

    def _chunk_op(self, start: int, stop: int) -> Tensor:
        """Rows start..stop of the operator, (stop − start, d²); chunk c always has the same seed."""
        d2 = self.Phi.numel()
        parts = []
        for c in range(start // self._chunk, math.ceil(stop / self._chunk)):
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + c)
            n = min(self._chunk, self.measurements - c * self._chunk)
            parts.append(torch.randn(n, d2, generator=g, dtype=self.Phi.dtype) / math.sqrt(d2))
        return torch.cat(parts)

    def _chunks(self):
        if self._dense_op is not None:
            yield 0, self._dense_op
            return
        for start in range(0, self.measurements, self._chunk):
            yield start, self._chunk_op(start, min(start + self._chunk, self.measurements))

    def apply(self, E: Tensor) -> Tensor:
        """𝒜(E) = (⟨A_i, E⟩)_i, shape (m,)."""
        e = E.reshape(-1)
        return torch.cat([op @ e for _, op in self._chunks()])

    def adjoint(self, z: Tensor) -> Tensor:
        """𝒜*(z) = Σ_i z_i A_i, shape (d, d)."""
        out = torch.zeros(self.Phi.numel(), dtype=self.Phi.dtype)
        for start, op in self._chunks():
            out += op.T @ z[start : start + op.shape[0]]
        return out.view_as(self.Phi)

    def loss(self, E):
        r = self.apply(E) - self.y
        return 0.5 * torch.mean(r**2)

    def grad(self, E):
        return self.adjoint(self.apply(E) - self.y) / self.measurements

    def surrogate(self):
        # E[⟨A, Φ⟩·A] = Φ/d², so d²/m · Σ y_i A_i ≈ Φ
        return self.adjoint(self.y) * (self.Phi.numel() / self.measurements)

    def loss_and_products(self, A, B):
        E = A @ B  # (d, d)
        r = self.apply(E) - self.y  # (m,)
        G = self.adjoint(r) / self.measurements
        return 0.5 * torch.dot(r, r).item() / self.measurements, A.T @ G, G @ B.T


@register_problem("sensing")
def _build(U, sigma, V, *, generator, seed, measurements: int | None = None, noise: float = 0.0,
           max_operator_bytes: int = 2**31) -> Sensing:
    d, rank = U.shape[0], sigma.numel()
    m = 5 * d * rank if measurements is None else measurements
    check_int("measurements", m, 1)
    if not (isinstance(noise, (int, float)) and noise >= 0 and math.isfinite(noise)):
        raise ValueError(f"noise must be a finite number ≥ 0, got {noise!r}")
    return Sensing(U, sigma, V, measurements=m, noise=float(noise), seed=seed,
                   max_operator_bytes=max_operator_bytes)
