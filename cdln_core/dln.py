"""Deep linear networks: factors, the end-to-end matrix and its closed-form gradients.

A deep linear network (DLN) of depth L is a list of factors ``Ws = [W_1, ..., W_L]`` in
application order, W_l of shape (d_l, d_{l-1}); its end-to-end matrix is E = W_L ⋯ W_1.
Every model in the kit (the wide DLN, the C-DLN of [K], the Yaras compression of [Y]) is such a
list, so one gradient routine serves all of them. ``end_to_end`` and the gradient routines use only
``@`` and ``.T``, so they take torch tensors and NumPy arrays alike (training's NumPy engine).

Reference: [Y] and its predecessor, the Law of Parsimony (arXiv 2306.01154), for the ε-orthogonal
initialization; the factor gradients are the chain rule through the product E = W_L ⋯ W_1.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "orthogonal",
    "init_dln",
    "end_to_end",
    "factor_grads",
    "factor_grads_from",
    "n_params",
]


def orthogonal(rows: int, cols: int, *, generator: torch.Generator, dtype=torch.float64) -> Tensor:
    """A Haar-random matrix with orthonormal rows or columns, cut from a square orthogonal one.

    Returns shape (rows, cols). The square matrix of size max(rows, cols) is the Q of a QR
    decomposition of a Gaussian matrix, with signs fixed so that it is Haar-distributed. The QR runs
    on one torch thread whatever the caller's setting: LAPACK's blocked QR rounds by thread count
    (≈3e-15 apart at n = 100 between 1 and 2 threads), so the same seed gives the same bits anywhere.
    """
    n = max(rows, cols)
    G = torch.randn(n, n, generator=generator, dtype=dtype)  # (n, n)
    before = torch.get_num_threads()
    if before != 1:
        torch.set_num_threads(1)
    try:
        Q, R = torch.linalg.qr(G)
    finally:
        if before != 1:
            torch.set_num_threads(before)
    Q = Q * torch.sign(torch.diagonal(R)).unsqueeze(0)  # sign fix: Haar measure
    return Q[:rows, :cols].contiguous()


def init_dln(
    d: int, depth: int, *, init_scale: float = 1e-2, generator: torch.Generator, dtype=torch.float64
) -> list[Tensor]:
    """The wide DLN at initialization: W_l(0) = ε·O_l, O_l Haar-orthogonal, each (d, d).

    Returns ``Ws``, a list of ``depth`` tensors of shape (d, d) in application order.
    """
    return [init_scale * orthogonal(d, d, generator=generator, dtype=dtype) for _ in range(depth)]


def end_to_end(Ws: list[Tensor]) -> Tensor:
    """E = W_L ⋯ W_1, shape (d_L, d_0)."""
    if len(Ws) == 2:  # the training step's W_3·W_2 at depth 3, written out: the same product, less Python
        return Ws[1] @ Ws[0]
    E = Ws[0]
    for W in Ws[1:]:
        E = W @ E
    return E


def factor_grads(Ws: list[Tensor], G: Tensor) -> list[Tensor]:
    """Gradients of a loss on E with respect to every factor, given G = ∇_E loss (d_L, d_0).

    ∇_{W_l} = (W_L ⋯ W_{l+1})ᵀ · G · (W_{l-1} ⋯ W_1)ᵀ, shape (d_l, d_{l-1}).
    """
    if len(Ws) == 1:
        return [G]
    A = end_to_end(Ws[1:])  # W_L ⋯ W_2: (d_L, d_1)
    return factor_grads_from(Ws, A.T @ G, G @ Ws[0].T)


def factor_grads_from(Ws: list[Tensor], AtG: Tensor, GBt: Tensor) -> list[Tensor]:
    """Factor gradients from the two products of G a problem can form cheaply.

    With A = W_L ⋯ W_2 and B = W_1, a problem returns AtG = Aᵀ·G (d_1, d_0) and GBt = G·Bᵀ
    (d_L, d_1), possibly without ever forming the dense G (completion touches only Ω). Then
    ∇_{W_1} = AtG and, for l ≥ 2, ∇_{W_l} = (W_L ⋯ W_{l+1})ᵀ · GBt · (W_{l-1} ⋯ W_2)ᵀ,
    which costs only products among the factors themselves.
    """
    L = len(Ws)
    if L <= 3:  # the common depths, written out: the same products in the same order, less Python per step
        return [AtG] if L == 1 else [AtG, GBt] if L == 2 else [AtG, Ws[2].T @ GBt, GBt @ Ws[1].T]
    grads = [AtG]
    lefts = [GBt]  # (W_L ⋯ W_{l+1})ᵀ·GBt for l = L, L-1, …, 2
    for W in reversed(Ws[2:]):
        lefts.append(W.T @ lefts[-1])  # (d_{l}, d_1)
    lefts.reverse()  # now lefts[l-2] belongs to W_l
    right = None  # (W_{l-1} ⋯ W_2)ᵀ: the identity at l = 2
    for l in range(2, L + 1):
        grads.append(lefts[l - 2] if right is None else lefts[l - 2] @ right)  # (d_l, d_{l-1})
        if l < L:  # the last factor needs no further product
            right = Ws[l - 1].T if right is None else right @ Ws[l - 1].T
    return grads


def n_params(Ws: list[Tensor]) -> int:
    """Number of trainable entries in the factors."""
    return sum(W.numel() for W in Ws)
