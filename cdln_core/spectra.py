"""Spectra and subspaces: the measurements behind the low-dimensional-dynamics claims.

- principal angles between subspaces, in the sine form (accurate for small angles, where arccos of a
  cosine near 1 loses half the digits);
- the invariant-subspace structure of a factor: r singular values rise, r fall, the middle d − 2r
  stay equal to each other at ρ(t), with ρ(t+1) = ρ(t) − η'·ρ(t)^{2L−1} ([Y] Law of Parsimony,
  arXiv 2306.01154, Theorem 1); ``invariance_series`` measures all of it along a run;
- incremental learning: the step at which each singular value of E first reaches a fraction of
  its target, and the alignment of E's singular vectors with Φ's ([Y] §2; Saxe et al. 1312.6120);
- the effective rank of a matrix (of a weight update, for nonlinear networks: [K] §6).

Notation: d width, r rank of Φ, L depth, ε init scale, W_l factors (d_l, d_{l-1}), E = W_L⋯W_1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "orthonormal_basis",
    "principal_angles",
    "active_subspace",
    "middle_spread",
    "rho_prediction",
    "first_crossing",
    "escape_time",
    "fit_steps",
    "singular_vector_alignment",
    "Invariance",
    "invariance_series",
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
    Sine form (Björck & Golub 1973): with orthonormal bases Qa, Qb and a ≤ b, the sines of the
    angles are the singular values of (I − Qb·Qbᵀ)·Qa; an angle of 1e-9 rad comes out to ~1e-16
    relative error, where arccos(cos θ) would return 0 or ~1e-8. Angles above π/4 use the cosines
    (there the cosine form is the accurate one).
    """
    Qa, _ = torch.linalg.qr(torch.as_tensor(A))
    Qb, _ = torch.linalg.qr(torch.as_tensor(B))
    if Qa.shape[1] > Qb.shape[1]:
        Qa, Qb = Qb, Qa
    cos = torch.linalg.svdvals(Qa.T @ Qb).clamp(0.0, 1.0)  # descending: smallest angle first
    sin = torch.linalg.svdvals(Qa - Qb @ (Qb.T @ Qa)).clamp(0.0, 1.0).flip(0)  # ascending
    angles = torch.where(sin < cos, torch.arcsin(sin), torch.arccos(cos))
    return torch.sort(angles).values


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
        raise ValueError(f"need width d > 2·rank to have a middle block, got d={len(s)}, rank={rank}")
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


def first_crossing(steps, values, levels) -> list[int | None]:
    """For each column k of ``values`` (records, K): the first recorded step at which it reaches
    ``levels[k]`` (a scalar applies to every column); None where it never does."""
    values = np.asarray(values, dtype=float)  # (records, K)
    levels = np.broadcast_to(np.asarray(levels, dtype=float), values.shape[1:])
    out: list[int | None] = []
    for k, level in enumerate(levels):
        hit = np.nonzero(values[:, k] >= level)[0]
        out.append(int(steps[hit[0]]) if hit.size else None)
    return out


def escape_time(sigma, depth: int, init_scale: float, lr_prime: float):
    """Gradient-flow estimate of the step at which a singular value of E, started at ε^L, reaches σ/2
    (aligned, balanced factors: ds/dt = η'·L·s^{2−2/L}·(σ − s); Saxe et al. 1312.6120, [Y] §2):
    L = 1: ln 2/η'; L = 2: ln(σ/ε²)/(2η'σ); L ≥ 3: ε^{−(L−2)}/((L−2)·η'·σ). The plateau before the
    value jumps; larger σ and larger ε escape sooner, depth lengthens it. Same shape as ``sigma``."""
    sigma = np.asarray(sigma, dtype=float)
    if depth == 1:
        return np.full_like(sigma, math.log(2) / lr_prime)
    if depth == 2:
        return np.log(sigma / init_scale**2) / (2 * lr_prime * sigma)
    return init_scale ** (2 - depth) / ((depth - 2) * lr_prime * sigma)


def fit_steps(steps, e2e_singular_values, sigma, fraction: float = 0.5) -> list[int | None]:
    """For each target singular value σ_i, the first recorded step at which the i-th singular
    value of E reaches ``fraction``·σ_i (None if it never does). Incremental learning: these
    come in increasing order, largest σ first."""
    sigma = np.asarray(sigma, dtype=float)
    sv = np.asarray(e2e_singular_values, dtype=float)[:, : len(sigma)]  # (records, r)
    return first_crossing(steps, sv, fraction * sigma)


def singular_vector_alignment(E, U, V) -> np.ndarray:
    """|⟨u_i(E), u_i(Φ)⟩|·|⟨v_i(E), v_i(Φ)⟩| for i < r: 1 when the i-th pair is aligned. Shape (r,).

    E (d, d), U and V (d, r) Φ's singular vectors; tensors or arrays."""
    Ue, _, Vhe = np.linalg.svd(np.asarray(E, dtype=float))
    U, V = np.asarray(U, dtype=float), np.asarray(V, dtype=float)
    r = U.shape[1]
    return np.abs(np.sum(Ue[:, :r] * U, axis=0)) * np.abs(np.sum(Vhe[:r].T * V, axis=0))


@dataclass(frozen=True)
class Invariance:
    """The invariant-subspace measurements along a run, one entry per record.

    W_1 changes only in its active input subspace: M = W_1(t) − (ρ/ε)·W_1(0) has rank 2r by the
    theorem, and its row space is that subspace. angle: the largest principal angle (rad) between the
    r directions W_1 grows in (M's top-r right singular vectors) and the subspace predicted at t = 0;
    angle_2r: the same for all 2r directions (the r falling ones move by ~ε·(their change), so round-off
    limits how well their direction is known); both NaN at t = 0, where M = 0. rho: ρ(t), the mean of
    the middle d − 2r singular values of W_1; spread: their max − min; rho_theory: ρ from its recursion."""

    steps: np.ndarray
    angle: np.ndarray
    angle_2r: np.ndarray
    rho: np.ndarray
    rho_theory: np.ndarray
    spread: np.ndarray


def invariance_series(
    records: Sequence,
    Phi: Tensor,
    W1_0: Tensor,
    E0: Tensor,
    *,
    init_scale: float,
    depth: int,
    lr_prime: float,
    cache: dict | None = None,
) -> Invariance:
    """Measure the invariant structure of W_1 over ``records`` (each with ``step``,
    ``factor_singular_values`` and ``factors``: train with ``keep_factors=True``).

    Phi (d, d) the target, W1_0 (d, d) and E0 (d, d) the first factor and E at initialization,
    lr_prime η' the step on the unnormalized loss (η/d² in factorization). ``cache`` (a dict kept
    by the caller) holds the measurements of records already seen, so a run streaming in costs
    O(new records) per frame."""
    cache = {} if cache is None else cache
    rank = int(torch.linalg.matrix_rank(torch.as_tensor(Phi)))
    predicted = active_subspace(torch.as_tensor(Phi), torch.as_tensor(E0), init_scale, depth)  # (d, 2r)
    W1_0 = torch.as_tensor(W1_0)
    rows = []
    for rec in records:
        if rec.step not in cache:
            rho, spread = middle_spread(rec.factor_singular_values[0], rank)
            angle = angle_2r = np.nan
            if rec.step > 0:
                if rec.factors is None:
                    raise ValueError("records need their factors: train with keep_factors=True")
                moving = torch.as_tensor(rec.factors[0]) - (rho / init_scale) * W1_0  # (d, d), rank 2r
                _, _, Vh = torch.linalg.svd(moving)
                angle = float(principal_angles(Vh[:rank].T, predicted).max())
                angle_2r = float(principal_angles(Vh[: predicted.shape[1]].T, predicted).max())
            cache[rec.step] = (angle, angle_2r, rho, spread)
        rows.append(cache[rec.step])
    steps = np.array([rec.step for rec in records], dtype=int)
    cols = [np.array(c, dtype=float) for c in zip(*rows)] if rows else [np.zeros(0)] * 4
    angle, angle_2r, rho, spread = cols
    return Invariance(steps, angle, angle_2r, rho, rho_prediction(init_scale, lr_prime, depth, steps), spread)


def effective_rank(M) -> float:
    """exp of the entropy of the normalized singular values (Roy & Vetterli, 2007); 0 for M = 0."""
    s = torch.linalg.svdvals(torch.as_tensor(M, dtype=torch.float64))
    total = s.sum()
    if total <= 0:
        return 0.0
    p = s / total
    p = p[p > 0]
    return float(torch.exp(-(p * torch.log(p)).sum()))
