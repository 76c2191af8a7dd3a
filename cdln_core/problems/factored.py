"""E = A·B from its factors: entries on an observed set, gradient products, distances — no d×d array.

For a narrow network the end-to-end matrix E = A·B (A = W_L⋯W_2 of shape (d, k), B = W_1 of shape
(k, d), k = r̂ ≪ d) is never needed whole:

- the entries of E on Ω are a gather-dot, e_ω = A[i_ω, :]·B[:, j_ω]: |Ω|·k multiply-adds;
- the gradient of a loss on Ω is a sparse matrix G, and the two products the factor gradients need,
  Aᵀ·G (k, d) and G·Bᵀ (d, k), are sparse–dense products: |Ω|·k each;
- ‖A·B − U·diag(σ)·Vᵀ‖_F² comes from k×k and k×r Gram matrices: O(d·(k + r)²).

So a compressed completion step costs O(|Ω|·r̂ + d·r̂²) and never allocates a d×d array
(the sampled dense–dense product, "SDDMM", of the sparse-kernel literature).

Reference: [K] §5 (matrix completion with the C-DLN); [Y] §3 (compressed deep matrix completion).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
from torch import Tensor

__all__ = ["ObservedSet", "observed_set", "sampled_entries", "sparse_products", "distance_to_target", "scratch"]

CHUNK = 1 << 14  # entries per gather chunk: the two (CHUNK, k) gathers stay in a core's cache


@dataclass(frozen=True, eq=False)
class ObservedSet:
    """Ω as index arrays, in row-major order (sorted flat indices) and in the CSR layouts of G and Gᵀ.

    rows, cols: (|Ω|,) int64.  csr = (crow (d+1,), col (|Ω|,)) int32 for G; csr_t the same for Gᵀ,
    whose values are G's permuted by ``order_t`` (|Ω|,).
    """

    d: int
    rows: Tensor
    cols: Tensor
    csr: tuple[Tensor, Tensor]
    csr_t: tuple[Tensor, Tensor]
    order_t: Tensor

    @property
    def size(self) -> int:
        return self.rows.numel()

    @cached_property
    def padded(self) -> tuple[Tensor, Tensor] | None:
        """Ω row by row: (cols (d, c), slots (|Ω|,)) with c the most entries in a row, each row's columns
        padded with d, and Ω's row-major places in that (d, c) block; None when the padding would more
        than double the work (rows of very different lengths)."""
        crow = self.csr[0].long()
        c = int((crow[1:] - crow[:-1]).max()) if self.size else 0
        if c == 0 or self.d * c > 2 * self.size:
            return None
        slot = torch.arange(self.size) - crow[self.rows]  # place within its row
        cols = torch.full((self.d, c), self.d, dtype=torch.int64)
        cols[self.rows, slot] = self.cols
        return cols, self.rows * c + slot


def _crow(counts: Tensor) -> Tensor:
    crow = torch.zeros(counts.numel() + 1, dtype=torch.int64)
    torch.cumsum(counts, 0, out=crow[1:])
    return crow.int()


def observed_set(index: Tensor, d: int) -> ObservedSet:
    """The layouts of Ω from its sorted row-major flat indices ``index`` (|Ω|,) into a d×d matrix."""
    rows, cols = index // d, index % d  # (|Ω|,) each, rows non-decreasing
    order_t = torch.argsort(cols * d + rows)  # Ω in column-major order: Gᵀ in CSR
    csr = (_crow(torch.bincount(rows, minlength=d)), cols.int())
    csr_t = (_crow(torch.bincount(cols, minlength=d)), rows.index_select(0, order_t).int())
    return ObservedSet(d, rows, cols, csr, csr_t, order_t)


def scratch(work: dict | None, name: str, shape: tuple, dtype) -> Tensor:
    """A scratch array from ``work`` (reused across steps: no page faults on fresh memory every step), or
    a new one when there is no ``work``."""
    if work is None:
        return torch.empty(shape, dtype=dtype)
    buf = work.get((name, dtype))
    if buf is None or buf.shape != shape:
        buf = work[(name, dtype)] = torch.empty(shape, dtype=dtype)
    return buf


def _torch(x) -> Tensor:
    return x if isinstance(x, Tensor) else torch.from_numpy(np.ascontiguousarray(x))


def sampled_entries(A, B, omega: ObservedSet, work: dict | None = None) -> Tensor:
    """(A·B) on Ω without forming A·B: e_ω = A[i_ω, :]·B[:, j_ω], shape (|Ω|,).

    A (d, k), B (k, d): torch tensors or NumPy arrays (zero-copy views either way). Row by row when Ω's
    rows are even (``ObservedSet.padded``): row i's columns of B gathered once into a padded block and
    multiplied by A's row i (a batched matrix–vector product; A's rows are never gathered); else entry
    by entry. Works in chunks of about ``CHUNK`` entries so the gathered rows stay in cache; memory
    O(CHUNK·k + |Ω|). ``work``: a dict that keeps its scratch arrays from call to call (the result is
    one of them then, overwritten by the next call).
    """
    A, Bt = _torch(A), _torch(B).T.contiguous()  # (d, k), (d, k): B's columns as rows
    n, k = omega.size, A.shape[1]
    if omega.padded is not None:
        return _row_by_row(A, Bt, omega, work)
    out = scratch(work, "entries", (n,), A.dtype)  # (|Ω|,)
    a = scratch(work, "rows of A", (min(CHUNK, n), k), A.dtype)
    b = scratch(work, "columns of B", (min(CHUNK, n), k), A.dtype)
    for s in range(0, n, CHUNK):
        e = min(s + CHUNK, n)
        ra = torch.index_select(A, 0, omega.rows[s:e], out=a[: e - s])  # (c, k)
        rb = torch.index_select(Bt, 0, omega.cols[s:e], out=b[: e - s])  # (c, k)
        torch.bmm(ra.unsqueeze(1), rb.unsqueeze(2), out=out[s:e].view(-1, 1, 1))  # c dots of length k
    return out


def _row_by_row(A: Tensor, Bt: Tensor, omega: ObservedSet, work: dict | None) -> Tensor:
    cols, slots = omega.padded  # (d, c) column indices padded with d; Ω's places in the (d, c) block
    d, c = cols.shape
    k = A.shape[1]
    Btz = torch.cat([Bt, Bt.new_zeros(1, k)])  # (d + 1, k): the padding reads a zero row
    out = scratch(work, "padded entries", (d, c), A.dtype)
    rows = max(1, CHUNK // c)
    buf = scratch(work, "padded columns of B", (min(rows, d) * c, k), A.dtype)
    for r0 in range(0, d, rows):
        r1 = min(r0 + rows, d)
        block = torch.index_select(Btz, 0, cols[r0:r1].reshape(-1), out=buf[: (r1 - r0) * c])  # ((r1−r0)·c, k)
        torch.bmm(block.view(r1 - r0, c, k), A[r0:r1].unsqueeze(2), out=out[r0:r1].unsqueeze(2))
    return torch.take(out, slots, out=scratch(work, "entries", (omega.size,), A.dtype))


def sparse_products(g: Tensor, A, B, omega: ObservedSet, work: dict | None = None):
    """Aᵀ·G (k, d) and G·Bᵀ (d, k) for the sparse G with values ``g`` (|Ω|,, row-major) on Ω.

    Returns the same kind of array as A (a NumPy view when A is one). Cost |Ω|·k each. ``work``: as in
    ``sampled_entries`` (here it keeps Gᵀ's values).
    """
    d = omega.d
    At, Bt = _torch(A), _torch(B).T  # (d, k), (d, k)
    with warnings.catch_warnings():  # "sparse CSR support is in beta": only the stable CSR @ dense is used
        warnings.simplefilter("ignore")
        G = torch.sparse_csr_tensor(*omega.csr, g, (d, d))
        values_t = torch.index_select(g, 0, omega.order_t, out=scratch(work, "values of Gt", g.shape, g.dtype))
        G_t = torch.sparse_csr_tensor(*omega.csr_t, values_t, (d, d))
        AtG, GBt = (G_t @ At).T, G @ Bt  # (k, d), (d, k)
    if isinstance(A, Tensor):
        return AtG, GBt
    return AtG.numpy(), GBt.numpy()


def distance_to_target(A, B, U: Tensor, sigma: Tensor, V: Tensor) -> tuple[float, float]:
    """(‖A·B − Φ‖_F², ‖Φ‖_F²) for Φ = U·diag(σ)·Vᵀ, from Gram matrices: O(d·(k + r)²), no d×d array.

    A (d, k), B (k, d); U, V (d, r); σ (r,). The cancellation in ‖E‖² − 2⟨E, Φ⟩ + ‖Φ‖² limits the
    relative error it can resolve to about 1e-7 (float64); use the dense norm where E is formed.
    """
    A, B = _torch(A), _torch(B)
    e2 = torch.sum((A.T @ A) * (B @ B.T))  # ‖AB‖² = tr(AᵀA·BBᵀ)
    cross = torch.sum(((U.T @ A) @ (B @ V)).diagonal() * sigma)  # ⟨AB, UΣVᵀ⟩ = tr(Σ·UᵀA·BV)
    p2 = torch.sum(sigma**2)
    return max((e2 - 2 * cross + p2).item(), 0.0), p2.item()
