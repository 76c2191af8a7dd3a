"""Deep matrix completion (MC): ½·mean over the observed set Ω of (E − Φ)², |Ω| = ⌊p·d²⌋.

Ω is uniform without replacement; the surrogate is P_Ω(Φ)/p; the test loss is the MSE on the
unobserved entries. Completion with a large narrow model never forms a dense G.

Reference: [K] §5; [Y] §3.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch
from torch import Tensor

from .base import Problem, _like, register_problem

__all__ = ["Completion"]


@dataclass(frozen=True, eq=False)
class Completion(Problem):
    """Deep matrix completion: ½·mean over Ω of (E − Φ)²; Ω uniform without replacement.

    ``index`` holds the flat indices of Ω (row-major, sorted), shape (|Ω|,).
    """

    index: Tensor = None  # (|Ω|,) int64
    kind = "completion"
    numpy_ready = True

    def __post_init__(self):
        super().__post_init__()
        d, idx = self.d, self.index
        mask = torch.zeros(d * d, dtype=self.Phi.dtype)
        mask[idx] = 1.0
        object.__setattr__(self, "mask", mask.view(d, d))
        rows, cols = idx // d, idx % d
        y = self.Phi.view(-1)[idx]  # (|Ω|,)
        order_t = torch.argsort(cols * d + rows)  # Ω in column-major order, for Gᵀ in CSR
        with warnings.catch_warnings():  # "sparse CSR support is in beta": we use only stable ops
            warnings.simplefilter("ignore")
            csr = torch.sparse_coo_tensor(torch.stack([rows, cols]), y, (d, d)).to_sparse_csr()
            csr_t = torch.sparse_coo_tensor(torch.stack([cols, rows]), y, (d, d)).to_sparse_csr()
        object.__setattr__(self, "_y", y)
        object.__setattr__(self, "_mask_n", self.mask / idx.numel())
        object.__setattr__(self, "_order_t", order_t)
        # int32 indices: what the sparse kernel uses, so no conversion at every step
        object.__setattr__(self, "_csr", (csr.crow_indices().int(), csr.col_indices().int()))
        object.__setattr__(self, "_csr_t", (csr_t.crow_indices().int(), csr_t.col_indices().int()))

    @property
    def observed(self) -> float:
        """p, the observed fraction."""
        return self.index.numel() / self.Phi.numel()

    def loss(self, E):
        return 0.5 * torch.sum(self.mask * (E - self.Phi) ** 2) / self.index.numel()

    def grad(self, E):
        return self.mask * (E - self.Phi) / self.index.numel()

    def test_loss(self, E) -> float | None:
        """Mean squared error on the unobserved entries (no ½); None when all are observed."""
        n_test = self.Phi.numel() - self.index.numel()
        if n_test == 0:
            return None
        return (torch.sum((1 - self.mask) * (E - self.Phi) ** 2) / n_test).item()

    def surrogate(self):
        return self.mask * self.Phi / self.observed

    def loss_and_products(self, A, B):
        d, k = A.shape
        n = self.index.numel()
        if d < 256 or 4 * k > d or not isinstance(A, Tensor):
            # wide or small: dense products are matmul-bound and cost the fewest operations
            G = A @ B  # (d, d)
            G -= _like(A, self.Phi)
            G *= _like(A, self._mask_n)  # P_Ω(E − Φ)/n
            loss = 0.5 * n * float(G.reshape(-1) @ G.reshape(-1))
            return loss, A.T @ G, G @ B.T
        # large and narrow: one thin matmul for E (faster than any gather on a CPU), then the
        # gradient as a sparse matrix on Ω, so the products cost |Ω|·k, not d²·k
        E = (A @ B).view(-1)  # (d²,)
        r = E.take(self.index).sub_(self._y).mul_(1.0 / n)  # G on Ω, row-major: (|Ω|,)
        r_t = r.index_select(0, self._order_t)  # the same, column-major (a gather from r, not from E)
        loss = 0.5 * n * torch.dot(r, r).item()
        G = torch.sparse_csr_tensor(*self._csr, r, (d, d))
        G_t = torch.sparse_csr_tensor(*self._csr_t, r_t, (d, d))
        return loss, (G_t @ A).T, G @ B.T


@register_problem("completion")
def _build(U, sigma, V, *, generator, seed, observed: float = 0.3) -> Completion:
    d = U.shape[0]
    if not (isinstance(observed, (int, float)) and 0 < observed <= 1):
        raise ValueError(f"observed must be in (0, 1], got {observed!r}")
    n = math.floor(observed * d * d)
    if n < 1:
        raise ValueError(f"observed={observed} leaves no observed entry at d={d}; raise it")
    index = torch.sort(torch.randperm(d * d, generator=generator)[:n]).values
    return Completion(U, sigma, V, index=index)
