"""Bring your own data: the checks that turn a user's arrays into the kit's tensors.

A researcher brings the target Φ (d, d), the observed set Ω (a boolean (d, d) mask, or unique flat
or (row, column) indices), a sensing operator and its measurements, or the initial factors ``Ws``
of another implementation. Each array is checked at the boundary (type, shape, finite values,
a 0/1 mask, unique in-range indices) and converted to float64 (int64 for indices); every error is a
``TypeError`` or ``ValueError`` that names the argument.

Φ may have any rank. Its numerical rank is the number of singular values above
σ₁·d·eps(float64) (NumPy's ``matrix_rank`` rule, ``RANK_RTOL`` × d); ``target_svd`` gives the top r
singular triplets (U (d, r), σ (r,), V (d, r)), r given or the numerical rank. The problem keeps
Φ itself, so U·diag(σ)·Vᵀ is Φ's best rank-r approximation: equal to Φ (to rounding) when Φ has
rank r, and only approximately so for a matrix that is only approximately low-rank.

Reference: [K] §5, [Y] §3 (the problems these arrays define).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["RANK_RTOL", "as_matrix", "as_vector", "numerical_rank", "target_rank", "target_svd", "as_index"]

RANK_RTOL = float(np.finfo(np.float64).eps)  # × σ₁·d: singular values at or below it count as zero


def _as_numpy(name: str, value) -> np.ndarray:
    """An array of real numbers (bool and complex refused), from a tensor, an ndarray or nested lists."""
    if isinstance(value, Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name} must be an array of numbers, got {type(value).__name__}")
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of numbers (a NumPy array or torch tensor), "
                        f"got {type(value).__name__}") from None
    if array.dtype == bool or not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise TypeError(f"{name} must hold real numbers (float or int), got dtype {array.dtype}")
    return array


def as_matrix(name: str, value, shape: tuple[int, ...] | None = None, *, ndim: int | tuple[int, ...] = 2) -> Tensor:
    """``value`` as a float64 tensor of ``ndim`` dimensions (one of them, for a tuple; and ``shape``,
    where given), finite; a copy, so later changes to the caller's array cannot reach the kit."""
    array = _as_numpy(name, value)
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if array.ndim not in allowed:
        raise ValueError(f"{name} must be a {' or '.join(f'{n}-D' for n in allowed)} array, got shape {array.shape}")
    if shape is not None and array.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {array.shape}")
    if 0 in array.shape:
        raise ValueError(f"{name} must not be empty, got shape {array.shape}")
    out = torch.tensor(array, dtype=torch.float64)  # (copy)
    if not bool(torch.isfinite(out).all()):
        bad = int((~torch.isfinite(out)).sum())
        raise ValueError(f"{name} must be finite, got {bad} NaN or infinite entr{'y' if bad == 1 else 'ies'}")
    return out


def as_vector(name: str, value, n: int) -> Tensor:
    """``value`` as a finite float64 tensor of shape (n,)."""
    return as_matrix(name, value, (n,), ndim=1)


def numerical_rank(S: Tensor, d: int) -> int:
    """How many of the descending singular values ``S`` exceed S[0]·d·eps(float64)."""
    if S.numel() == 0 or S[0] <= 0:
        return 0
    return int((S > S[0] * d * RANK_RTOL).sum())


def _svd(Phi: Tensor) -> tuple[Tensor, Tensor, Tensor, int]:
    """U (d, d), S (d,), Vh (d, d) of a square target and its numerical rank (≥ 1, or a ValueError)."""
    if Phi.shape[0] != Phi.shape[1]:
        raise ValueError(f"target must be a square (d, d) matrix, got shape {tuple(Phi.shape)}")
    U, S, Vh = torch.linalg.svd(Phi, full_matrices=False)  # (d, d), (d,), (d, d)
    if not bool(torch.isfinite(S).all()):
        raise ValueError(f"target is too large: its singular values overflow float64 (largest entry "
                         f"{Phi.abs().max().item():.3g}); scale it down")
    found = numerical_rank(S, Phi.shape[0])
    if found == 0:
        raise ValueError("target must not be zero (its numerical rank is 0)")
    return U, S, Vh, found


def target_rank(Phi: Tensor) -> int:
    """The numerical rank of a square target Φ (d, d), ≥ 1; a ValueError naming ``target`` otherwise."""
    return _svd(Phi)[3]


def target_svd(Phi: Tensor, rank: int | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Top-r singular triplets of a square target Φ (d, d): (U (d, r), σ (r,), V (d, r)).

    ``rank`` None reads r off Φ (its numerical rank); a given r must be in [1, numerical rank]."""
    from ..checks import check_int

    U, S, Vh, found = _svd(Phi)
    d = Phi.shape[0]
    if rank is None:
        rank = found
    else:
        rank = check_int("rank", rank, 1, d)
        if rank > found:
            raise ValueError(f"rank must be in [1, {found}] (the target's numerical rank: singular values above "
                             f"σ₁·d·eps = {float(S[0]) * d * RANK_RTOL:.3g}), got rank={rank}")
    return U[:, :rank].contiguous(), S[:rank].clone(), Vh[:rank].T.contiguous()


def as_index(mask, d: int) -> Tensor:
    """Ω as sorted flat row-major indices (|Ω|,) int64, from one of:

    - a (d, d) mask: boolean, or numbers that are all 0 or 1 (True/1 = observed);
    - flat indices (n,) in [0, d²), integers, unique;
    - (row, column) pairs (n, 2) in [0, d), integers, unique (for d = 2 a (2, 2) array is a mask).
    """
    if isinstance(mask, Tensor):
        mask = mask.detach().cpu().numpy()
    try:
        array = np.asarray(mask)
    except (TypeError, ValueError):
        raise TypeError(f"mask must be a boolean (d, d) array or integer indices, got {type(mask).__name__}") from None
    if array.dtype != bool and not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise TypeError(f"mask must be a boolean (d, d) array or integer indices, got dtype {array.dtype}")
    if array.shape == (d, d):
        if array.dtype != bool:
            if not bool(np.isin(array, (0, 1)).all()):
                raise ValueError(f"mask of shape ({d}, {d}) must be boolean or hold only 0 and 1 (1 = observed)")
        flat = np.flatnonzero(array)
    elif array.ndim == 1 or (array.ndim == 2 and array.shape[1] == 2):
        if not np.issubdtype(array.dtype, np.integer):
            raise TypeError(f"mask indices must be integers, got dtype {array.dtype} (a mask has shape ({d}, {d}))")
        if array.ndim == 2:
            if array.size and (array.min() < 0 or array.max() >= d):
                raise ValueError(f"mask (row, column) pairs must be in [0, {d - 1}], got values in "
                                 f"[{array.min()}, {array.max()}]")
            flat = array[:, 0].astype(np.int64) * d + array[:, 1]
        else:
            if array.size and (array.min() < 0 or array.max() >= d * d):
                raise ValueError(f"mask flat indices must be in [0, d² − 1 = {d * d - 1}], got values in "
                                 f"[{array.min()}, {array.max()}]")
            flat = array.astype(np.int64)
        flat = np.sort(flat)
        repeats = int(np.count_nonzero(flat[1:] == flat[:-1]))
        if repeats:
            raise ValueError(f"mask indices must be unique, got {repeats} repeated")
    else:
        raise ValueError(f"mask must be a ({d}, {d}) array, flat indices (n,) or (row, column) pairs (n, 2), got "
                         f"shape {array.shape}")
    if flat.size == 0:
        raise ValueError("mask must observe at least one entry, got none")
    return torch.from_numpy(np.ascontiguousarray(flat, dtype=np.int64))
