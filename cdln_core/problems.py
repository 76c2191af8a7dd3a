"""Low-rank matrix recovery problems: each is a loss on the end-to-end matrix E.

Target Φ = U·diag(σ)·Vᵀ (d×d, rank r, U and V Haar with orthonormal columns). Three problems:

- factorization (MF): ½·mean over all d² entries of (E − Φ)²;
- completion (MC):    ½·mean over the observed set Ω of (E − Φ)², |Ω| = ⌊p·d²⌋;
- sensing (MS):       ½·mean_i (⟨A_i, E⟩ − y_i)², A_i with i.i.d. N(0, 1/d²) entries.

Every problem reports the recovery error ‖E − Φ‖_F/‖Φ‖_F and gives a surrogate matrix S ≈ Φ for
the spectral initialization of [K] (Φ; P_Ω(Φ)/p; (d²/m)·Σ_i y_i A_i).

The training loop calls ``loss_and_products(A, B)`` with E = A·B (A = W_L⋯W_2, B = W_1): it
returns the loss and the two products Aᵀ·G and G·Bᵀ of the gradient G = ∇_E loss, which is all
the factor gradients need. Completion with a large narrow model (the C-DLN at d ≥ 256) never forms a
dense G. Factorization and completion also take NumPy arrays there (``numpy_ready``): for the tiny
matrices of a compressed network NumPy's per-call cost is a fraction of torch's.

Reference: SPEC §2; [K] §5; [Y] §3.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import torch
from torch import Tensor

from .checks import check_int
from .dln import orthogonal

__all__ = [
    "PROBLEMS",
    "Problem",
    "Factorization",
    "Completion",
    "Sensing",
    "default_singular_values",
    "make_target",
    "make_problem",
]

PROBLEMS = ("factorization", "completion", "sensing")



def _like(A, t: Tensor):
    """``t`` as the same kind of array as ``A``: itself, or a zero-copy NumPy view."""
    return t if isinstance(A, Tensor) else t.numpy()


def default_singular_values(d: int, rank: int, *, generator: torch.Generator) -> Tensor:
    """Well-separated σ as in the reference code: singular values of a d×d standard Gaussian
    matrix at indices 0, d/(2r), 2d/(2r), … . Shape (r,), descending."""
    S = torch.linalg.svdvals(torch.randn(d, d, generator=generator, dtype=torch.float64))
    return S[[k * d // (2 * rank) for k in range(rank)]]


def make_target(
    d: int,
    rank: int,
    *,
    generator: torch.Generator,
    singular_values=None,
    condition_number: float | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """A rank-r target Φ = U·diag(σ)·Vᵀ.

    σ is, in order of precedence: the given ``singular_values`` (r positive numbers, sorted
    descending here); a geometric sequence from √d down to √d/κ for ``condition_number`` κ; or the
    well-separated default. Returns (U (d, r), σ (r,), V (d, r)).
    """
    check_int("d", d, 1)
    check_int("rank", rank, 1, d)
    U = orthogonal(d, rank, generator=generator)  # (d, r)
    V = orthogonal(d, rank, generator=generator)  # (d, r)
    if singular_values is not None:
        sigma = torch.as_tensor(singular_values, dtype=torch.float64).flatten()
        if sigma.numel() != rank or not torch.all(torch.isfinite(sigma)) or torch.any(sigma <= 0):
            raise ValueError(f"singular_values must be {rank} positive finite numbers (one per rank)")
        sigma = torch.sort(sigma, descending=True).values
    elif condition_number is not None:
        if not (condition_number >= 1 and math.isfinite(condition_number)):
            raise ValueError(f"condition_number must be a finite number ≥ 1, got {condition_number!r}")
        sigma = math.sqrt(d) * torch.logspace(0, -math.log10(condition_number), rank, dtype=torch.float64)
    else:
        sigma = default_singular_values(d, rank, generator=generator)
    return U, sigma, V


@dataclass(frozen=True, eq=False)
class Problem:
    """A target and a loss on E. Subclasses define the loss; all share the target's metrics."""

    U: Tensor  # (d, r)
    sigma: Tensor  # (r,)
    V: Tensor  # (d, r)
    Phi: Tensor = field(init=False)  # (d, d)
    kind = "problem"
    numpy_ready = False  # does loss_and_products also take NumPy arrays (the CPU fast path)?

    def __post_init__(self):
        object.__setattr__(self, "Phi", (self.U * self.sigma) @ self.V.T)

    @property
    def d(self) -> int:
        return self.Phi.shape[0]

    @property
    def rank(self) -> int:
        return self.sigma.numel()

    def recovery_error(self, E: Tensor) -> float:
        """‖E − Φ‖_F / ‖Φ‖_F."""
        return (torch.linalg.matrix_norm(E - self.Phi) / torch.linalg.matrix_norm(self.Phi)).item()

    def test_loss(self, E: Tensor) -> float | None:
        """Loss on held-out data; None where the problem has none."""
        return None

    def loss(self, E: Tensor) -> Tensor:
        raise NotImplementedError

    def grad(self, E: Tensor) -> Tensor:
        """∇_E loss, shape (d, d); the dense reference the fast path is tested against."""
        raise NotImplementedError

    def surrogate(self) -> Tensor:
        raise NotImplementedError

    def loss_and_products(self, A: Tensor, B: Tensor) -> tuple[float, Tensor, Tensor]:
        """For E = A·B (A (d, k), B (k, d)): (loss, Aᵀ·G (k, d), G·Bᵀ (d, k)), G = ∇_E loss.

        This is the training loop's hot path: subclasses keep it to a few fused tensor ops.
        """
        E = A @ B  # (d, d)
        G = self.grad(E)
        return self.loss(E).item(), A.T @ G, G @ B.T


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


def make_problem(
    kind: str,
    d: int,
    rank: int,
    *,
    observed: float = 0.3,
    measurements: int | None = None,
    noise: float = 0.0,
    singular_values=None,
    condition_number: float | None = None,
    seed: int = 0,
    max_operator_bytes: int = 2**31,
) -> Problem:
    """Build a problem. The same seed gives the same Φ for every kind, and the same Ω or operator.

    Args:
        kind: one of ``PROBLEMS``.
        d: width of the target, ≥ 1.  rank: r, in [1, d].
        observed: p in (0, 1], completion only.
        measurements: m ≥ 1, sensing only (default 5·d·r).
        noise: standard deviation of additive Gaussian noise on y, sensing only, ≥ 0.
        seed: seeds a private generator; nothing global is touched.
    """
    if kind not in PROBLEMS:
        raise ValueError(f"problem must be one of {', '.join(PROBLEMS)}, got {kind!r}")
    check_int("d", d, 1)
    check_int("rank", rank, 1, d)
    check_int("seed", seed, 0)
    g = torch.Generator().manual_seed(seed)
    U, sigma, V = make_target(d, rank, generator=g, singular_values=singular_values,
                              condition_number=condition_number)
    if kind == "factorization":
        return Factorization(U, sigma, V)
    if kind == "completion":
        if not (isinstance(observed, (int, float)) and 0 < observed <= 1):
            raise ValueError(f"observed must be in (0, 1], got {observed!r}")
        n = math.floor(observed * d * d)
        if n < 1:
            raise ValueError(f"observed={observed} leaves no observed entry at d={d}; raise it")
        index = torch.sort(torch.randperm(d * d, generator=g)[:n]).values
        return Completion(U, sigma, V, index=index)
    m = 5 * d * rank if measurements is None else measurements
    check_int("measurements", m, 1)
    if not (isinstance(noise, (int, float)) and noise >= 0 and math.isfinite(noise)):
        raise ValueError(f"noise must be a finite number ≥ 0, got {noise!r}")
    return Sensing(U, sigma, V, measurements=m, noise=float(noise), seed=seed,
                   max_operator_bytes=max_operator_bytes)
