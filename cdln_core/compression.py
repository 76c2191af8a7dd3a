"""Compressing a deep linear network: the C-DLN of [K] and the gradient-based compression of [Y].

C-DLN ([K] §4): W̃_1 ∈ R^{r̂×d}, W̃_l ∈ R^{r̂×r̂} (l = 2…L−1), W̃_L ∈ R^{d×r̂}, spectral
initialization from a surrogate S = Û·Σ̂·V̂ᵀ of the target:
    W̃_1(0) = ε·V̂[:, :r̂]ᵀ,   W̃_l(0) = ε·I_{r̂},   W̃_L(0) = ε·Û[:, :r̂]   (Σ̂ is discarded).
Parameters: 2·d·r̂ + (L−2)·r̂², against L·d² for the wide network.

Yaras compression ([Y] §3): from the wide network's init W_l(0) = ε·O_l and the gradient of the
loss for W_1 at init, a right basis V (d×2r̂) spans the gradient's top-r̂ right singular vectors
and W_1(0)ᵀ·(its top-r̂ left singular vectors)/ε; the left basis is U = E(0)·V/ε^L. The model
U·W̃_L⋯W̃_1·Vᵀ, inner factors 2r̂×2r̂ from ε·I, is the factor list [Vᵀ, W̃_1, …, W̃_L, U].
"""

from __future__ import annotations

import torch
from torch import Tensor

from .dln import end_to_end, factor_grads

__all__ = ["spectral_init", "cdln_n_params", "yaras_bases", "compressed_init"]


def spectral_init(S: Tensor, depth: int, rank_hat: int, *, init_scale: float = 1e-2) -> list[Tensor]:
    """C-DLN factors at init from the surrogate S (d, d). Returns shapes
    [(r̂, d), (r̂, r̂) × (L − 2), (d, r̂)]; requires L ≥ 2 and 1 ≤ r̂ ≤ d."""
    if depth < 2:
        raise ValueError(f"depth must be ≥ 2 for a C-DLN, got {depth}")
    if not 1 <= rank_hat <= S.shape[0]:
        raise ValueError(f"rank_hat must be in [1, {S.shape[0]}], got {rank_hat}")
    U, _, Vh = torch.linalg.svd(S, full_matrices=False)
    eye = torch.eye(rank_hat, dtype=S.dtype)
    first = init_scale * Vh[:rank_hat].contiguous()  # ε·V̂[:, :r̂]ᵀ: (r̂, d)
    last = init_scale * U[:, :rank_hat].contiguous()  # ε·Û[:, :r̂]: (d, r̂)
    return [first, *[init_scale * eye for _ in range(depth - 2)], last]


def cdln_n_params(d: int, depth: int, rank_hat: int) -> int:
    """2·d·r̂ + (L − 2)·r̂²."""
    return 2 * d * rank_hat + (depth - 2) * rank_hat**2


def yaras_bases(Ws0: list[Tensor], G0: Tensor, rank_hat: int, *, init_scale: float) -> tuple[Tensor, Tensor]:
    """The compression bases from the wide init Ws0 and G0 = ∇_E loss at init (d, d).

    Returns (U (d, 2r̂), V (d, 2r̂)), both with orthonormal columns (U = E(0)·V/ε^L is orthonormal
    because E(0)/ε^L is a product of orthogonal matrices).
    """
    d, L = G0.shape[0], len(Ws0)
    if not 1 <= 2 * rank_hat <= d:
        raise ValueError(f"rank_hat must be in [1, {d // 2}] (2·rank_hat ≤ d), got {rank_hat}")
    grad_W1 = factor_grads(Ws0, G0)[0]  # (d, d)
    Ug, _, Vhg = torch.linalg.svd(grad_W1)
    span = torch.cat([Vhg[:rank_hat].T, Ws0[0].T @ Ug[:, :rank_hat] / init_scale], dim=1)  # (d, 2r̂)
    V, _ = torch.linalg.qr(span)  # (d, 2r̂)
    U = end_to_end(Ws0) @ V / init_scale**L  # (d, 2r̂)
    return U, V


def compressed_init(Ws0: list[Tensor], G0: Tensor, rank_hat: int, *, init_scale: float) -> list[Tensor]:
    """The Yaras-compressed factor list [Vᵀ (2r̂, d), ε·I_{2r̂} × L, U (d, 2r̂)]."""
    U, V = yaras_bases(Ws0, G0, rank_hat, init_scale=init_scale)
    eye = torch.eye(2 * rank_hat, dtype=G0.dtype)
    return [V.T.contiguous(), *[init_scale * eye for _ in Ws0], U]
