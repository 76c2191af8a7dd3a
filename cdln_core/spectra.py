"""Spectra and subspaces: the measurements behind the low-dimensional-dynamics claims.

- principal angles between subspaces (how far the active subspace of a factor moves);
- the invariant-subspace structure of a factor: r singular values rise, r fall, the middle d − 2r
  stay equal to each other at ρ(t), with ρ(t+1) = ρ(t) − η'·ρ(t)^{2L−1} ([Y], Law of Parsimony);
- incremental learning: the step at which each singular value of E first reaches a fraction of
  its target, and the alignment of E's singular vectors with Φ's;
- the effective rank of a matrix (of a weight update, for nonlinear networks: [K] §6).

Reference: SPEC §3, §7.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "orthonormal_basis",
    "principal_angles",
    "active_subspace",
    "middle_spread",
    "rho_prediction",
    "fit_steps",
    "singular_vector_alignment",
    "effective_rank",
]


def orthonormal_basis(M: Tensor, k: int | None = None) -> Tensor:
    """An orthonormal basis (d, k) of the column space of M (d, n): its top-k left singular
    vectors (k = n by default)."""
    U, _, _ = torch.linalg.svd(torch.as_tensor(M), full_matrices=False)
    return U[:, : (U.shape[1] if k is None else k)]


def principal_angles(A: Tensor, B: Tensor) -> Tensor:
    """Principal angles (radians, ascending) between the column spaces of A (d, a) and B (d, b).

    Returns shape (min(a, b),): 0 where the spaces share a direction, π/2 where orthogonal.
    """
    Qa, _ = torch.linalg.qr(torch.as_tensor(A))
    Qb, _ = torch.linalg.qr(torch.as_tensor(B))
    cos = torch.linalg.svdvals(Qa.T @ Qb).clamp(-1.0, 1.0)
    return torch.sort(torch.arccos(cos)).values


def active_subspace(Phi: Tensor, E0: Tensor, init_scale: float, depth: int) -> Tensor:
    """The invariant input subspace of W_1: span{row space of Φ, Qᵀ·column space of Φ},
    Q = E(0)/ε^L. Returns an orthonormal basis (d, 2r) (fewer columns if the two overlap)."""
    U, S, Vh = torch.linalg.svd(Phi)
    r = int((S > S[0] * 1e-10).sum())
    Q = E0 / init_scale**depth  # (d, d), orthogonal
    span = torch.cat([Vh[:r].T, Q.T @ U[:, :r]], dim=1)  # (d, 2r)
    return orthonormal_basis(span, min(2 * r, Phi.shape[0]))


def middle_spread(singular_values, rank: int) -> tuple[float, float]:
    """For one factor's singular values (descending, length d ≥ 2r): the mean ρ of the middle
    d − 2r values and their spread max − min (0 when they stay equal, as the theory says)."""
    s = np.asarray(singular_values)
    mid = s[rank : len(s) - rank]
    if mid.size == 0:
        raise ValueError(f"need d > 2·rank to have a middle block, got d={len(s)}, rank={rank}")
    return float(mid.mean()), float(mid.max() - mid.min())


def rho_prediction(rho0: float, lr_prime: float, depth: int, steps) -> np.ndarray:
    """ρ at the given steps (ascending ints) from ρ(t+1) = ρ(t) − η'·ρ(t)^{2L−1}.

    η' is the step size on the unnormalized loss (η/d² for factorization's mean loss)."""
    steps = np.asarray(steps, dtype=int)
    out = np.empty(len(steps))
    rho, t = float(rho0), 0
    for i, target in enumerate(steps):
        while t < target:
            rho -= lr_prime * rho ** (2 * depth - 1)
            t += 1
        out[i] = rho
    return out


def fit_steps(steps, e2e_singular_values, sigma, fraction: float = 0.5) -> list[int | None]:
    """For each target singular value σ_i, the first recorded step at which the i-th singular
    value of E reaches ``fraction``·σ_i (None if it never does). Incremental learning: these
    come in increasing order, largest σ first."""
    sv = np.asarray(e2e_singular_values)  # (records, d)
    out = []
    for i, s in enumerate(np.asarray(sigma)):
        hit = np.nonzero(sv[:, i] >= fraction * s)[0]
        out.append(int(steps[hit[0]]) if hit.size else None)
    return out


def singular_vector_alignment(E: Tensor, U: Tensor, V: Tensor) -> np.ndarray:
    """|⟨u_i(E), u_i(Φ)⟩|·|⟨v_i(E), v_i(Φ)⟩| for i < r: 1 when the i-th pair is aligned. Shape (r,)."""
    Ue, _, Vhe = torch.linalg.svd(torch.as_tensor(E))
    r = U.shape[1]
    left = torch.abs(torch.sum(Ue[:, :r] * U, dim=0))
    right = torch.abs(torch.sum(Vhe[:r].T * V, dim=0))
    return (left * right).numpy()


def effective_rank(M) -> float:
    """exp of the entropy of the normalized singular values (Roy & Vetterli, 2007); 0 for M = 0."""
    s = torch.linalg.svdvals(torch.as_tensor(M, dtype=torch.float64))
    total = s.sum()
    if total <= 0:
        return 0.0
    p = s / total
    p = p[p > 0]
    return float(torch.exp(-(p * torch.log(p)).sum()))
