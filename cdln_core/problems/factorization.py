"""Deep matrix factorization (MF): ½·mean over all d² entries of (E − Φ)²; surrogate Φ.

Φ is drawn from the seed, or your own: ``make_problem("factorization", target=M)``.

Reference: [K] §4 (the C-DLN theorem is for this problem); [Y] Law of Parsimony.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .base import Problem, _like, register_problem

__all__ = ["Factorization"]


@dataclass(frozen=True, eq=False)
class Factorization(Problem):
    """Deep matrix factorization: ½·mean over all entries of (E − Φ)²."""

    kind = "factorization"
    numpy_ready = True

    def loss(self, E: Tensor) -> Tensor:
        return 0.5 * torch.mean((E - self.Phi) ** 2)

    def grad(self, E: Tensor) -> Tensor:
        return (E - self.Phi) / self.Phi.numel()

    def surrogate(self) -> Tensor:
        return self.Phi

    def loss_and_products(self, A, B):
        n = self.Phi.numel()
        G = A @ B  # (d, d)
        G -= _like(A, self.Phi)
        G *= 1.0 / n  # (E − Φ)/n
        loss = 0.5 * n * float(G.reshape(-1) @ G.reshape(-1))
        return loss, A.T @ G, G @ B.T


@register_problem("factorization")
def _build(U, sigma, V, *, generator, seed, target=None) -> Factorization:
    return Factorization(U, sigma, V, target=target)
