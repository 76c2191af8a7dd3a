"""Deep matrix completion (MC): ½·mean over the observed set Ω of (E − Φ)², |Ω| = ⌊p·d²⌋.

Ω is uniform without replacement; the surrogate is P_Ω(Φ)/p; the test loss is the MSE on the
unobserved entries. The training step ``loss_and_products(A, B)`` (E = A·B) takes one of three paths,
the same numbers each (to rounding), chosen per shape by a cost model measured on a 2-core CPU:

- ``dense``   (small or wide, k ≥ d/4): G = P_Ω(A·B − Φ)/|Ω| as a d×d array, two matmuls;
- ``gather``  (narrow, dense enough): A·B into a reused buffer (a thin matmul is faster than any
  gather on a CPU), Ω taken from it, the gradient products as sparse products over Ω; past
  ``BUFFER_MAX_BYTES`` the buffer holds a block of rows and A·B is formed block by block;
- ``sampled`` (narrow and sparse, or too large for a d×d buffer): the entries on Ω straight from the
  factors (``factored.sampled_entries``), then the same sparse products: O(|Ω|·k + d·k²) per step and
  no d×d array at all.

At large d (d > ``DENSE_MAX_D``) nothing d×d is formed unless asked for: Φ and the mask are built on
first use, and ``recovery_error_from`` / ``test_loss_from`` score E = A·B from its factors.

Reference: [K] §5; [Y] §3.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
from torch import Tensor

from ..checks import check_number
from .base import Problem, register_problem
from .factored import ObservedSet, distance_to_target, observed_set, sampled_entries, scratch, sparse_products
from .sensing import identifiability, physical_memory

__all__ = ["Completion", "PATHS", "DENSE_MAX_D"]

PATHS = ("dense", "gather", "sampled")
DENSE_MAX_D = 2048  # up to this width Φ and the mask are built eagerly (8·d² bytes each)
BUFFER_MAX_BYTES = 2**27  # the gather path's reused buffer (all of A·B, or a block of its rows): ≤ 128 MB
# cost model, ns on one core of this project's machine (float64): a matmul multiply-add, taking one
# entry from E, and gathering one entry from the factors (a fixed part and a part per column of A)
NS_MADD, NS_TAKE, NS_GATHER, NS_GATHER_K = 0.05, 3.0, 12.0, 2.0


@dataclass(frozen=True, eq=False, repr=False)
class Completion(Problem):
    """Deep matrix completion: ½·mean over Ω of (E − Φ)²; Ω uniform without replacement.

    ``index`` holds the flat indices of Ω (row-major, sorted), shape (|Ω|,). ``path`` forces one of
    ``PATHS`` for the training step (None: chosen per shape). The step keeps its scratch arrays (A·B or
    a block of it, E on Ω, Gᵀ's values) on the problem from step to step, so one problem serves one run
    at a time (a process pool or Dask worker has its own copy).
    """

    index: Tensor = None  # (|Ω|,) int64
    path: str | None = None
    kind = "completion"
    numpy_ready = True

    def __post_init__(self):
        if self.path is not None and self.path not in PATHS:
            raise ValueError(f"path must be None or one of {', '.join(PATHS)}, got {self.path!r}")
        if self.d <= DENSE_MAX_D:
            super().__post_init__()  # Φ (d, d) now, as every problem has it
        # Φ on Ω: read off Φ where it exists (the same bits as ever), else from U, σ, V
        y = self.Phi.view(-1)[self.index] if self.d <= DENSE_MAX_D else self.target_on(self.index)
        object.__setattr__(self, "_y", y)  # (|Ω|,)
        object.__setattr__(self, "_work", {})  # reused buffers of the gather path, by dtype

    def __repr__(self) -> str:  # never forms Φ just to print it
        return f"Completion(d={self.d}, rank={self.rank}, observed={self.observed:.4g}, |Ω|={self.index.numel()})"

    # Φ and the mask are cached properties: built at init for small d, on first use for large d
    @cached_property
    def Phi(self) -> Tensor:  # noqa: N802 — the paper's symbol
        return (self.U * self.sigma) @ self.V.T  # (d, d)

    @cached_property
    def mask(self) -> Tensor:
        """P_Ω as a d×d 0/1 array (dense paths only)."""
        mask = torch.zeros(self.d * self.d, dtype=self.U.dtype)
        mask[self.index] = 1.0
        return mask.view(self.d, self.d)

    @cached_property
    def omega(self) -> ObservedSet:
        """Ω in the row-major and CSR layouts the sparse products use."""
        return observed_set(self.index, self.d)

    @property
    def d(self) -> int:
        return self.U.shape[0]

    @property
    def warnings(self) -> list[str]:
        """Why a run on this problem cannot identify Φ (empty when it can, as far as counting goes; see
        ``sensing.identifiability``: for a target you gave, the rank-k part |Ω| can identify)."""
        n = self.index.numel()
        return identifiability(n, self, head=f"observed={self.observed:.4g} gives |Ω|={n} entries", symbol="|Ω|")

    @property
    def observed(self) -> float:
        """p, the observed fraction."""
        return self.index.numel() / (self.d * self.d)

    def target_on(self, index: Tensor) -> Tensor:
        """Φ at the flat indices ``index`` (n,), from U, σ, V without forming Φ: shape (n,)."""
        rows, cols = index // self.d, index % self.d
        return torch.sum((self.U[rows] * self.sigma) * self.V[cols], 1)

    # dense reference: E is a (d, d) array
    def loss(self, E):
        return 0.5 * torch.sum(self.mask * (E - self.Phi) ** 2) / self.index.numel()

    def grad(self, E):
        return self.mask * (E - self.Phi) / self.index.numel()

    def test_loss(self, E) -> float | None:
        """Mean squared error on the unobserved entries (no ½); None when all are observed."""
        n_test = self.d * self.d - self.index.numel()
        if n_test == 0:
            return None
        return (torch.sum((1 - self.mask) * (E - self.Phi) ** 2) / n_test).item()

    def surrogate(self):
        return self.mask * self.Phi / self.observed

    # from the factors: E = A·B with A (d, k), B (k, d), never formed
    def recovery_error_from(self, A, B) -> float:
        """‖A·B − Φ‖_F / ‖Φ‖_F from the factors (resolves errors down to about 1e-7). A target you
        gave is d×d already, so it is scored densely against it, not against its rank-r part."""
        if self.target is not None:
            return self.recovery_error(torch.as_tensor(A) @ torch.as_tensor(B))
        err2, phi2 = distance_to_target(A, B, self.U, self.sigma, self.V)
        return math.sqrt(err2 / phi2)

    def test_loss_from(self, A, B) -> float | None:
        """The test loss from the factors: (‖A·B − Φ‖² − Σ_Ω (A·B − Φ)²) / (d² − |Ω|)."""
        n_test = self.d * self.d - self.index.numel()
        if n_test == 0:
            return None
        if self.target is not None:
            return self.test_loss(torch.as_tensor(A) @ torch.as_tensor(B))
        err2, _ = distance_to_target(A, B, self.U, self.sigma, self.V)
        r = sampled_entries(A, B, self.omega) - self._y
        return max(err2 - torch.dot(r, r).item(), 0.0) / n_test

    def surrogate_top(self, k: int, *, iters: int = 30, oversample: int = 8):
        """Top-k singular vectors (Û (d, k), V̂ (d, k)) of the surrogate S = P_Ω(Φ)/p by subspace iteration
        on its sparse form (k + ``oversample`` columns): O(iters·|Ω|·k), no d×d array — the spectral
        init of [K] at large d. Deterministic (its start is a fixed stream of its own)."""
        omega, vals = self.omega, self._y / self.observed  # S's values on Ω: (|Ω|,)
        q = min(k + oversample, self.d)
        g = torch.Generator().manual_seed(0)
        Q = torch.linalg.qr(torch.randn(self.d, q, generator=g, dtype=vals.dtype)).Q  # (d, q)
        for _ in range(iters):
            Y = torch.linalg.qr(sparse_products(vals, Q, Q.T, omega)[1]).Q  # orth(S·Q)
            Q = torch.linalg.qr(sparse_products(vals, Y, Y.T, omega)[0].T).Q  # orth(Sᵀ·Y)
        Uq, _, Wh = torch.linalg.svd(sparse_products(vals, Q, Q.T, omega)[1], full_matrices=False)  # S·Q = UΣWᵀ
        return Uq[:, :k], (Q @ Wh.T)[:, :k]

    # the training step
    def choose_path(self, k: int) -> str:
        """The cheapest path for a step with A of shape (d, k), by the module's cost model."""
        if self.path is not None:
            return self.path
        d, n = self.d, self.index.numel()
        if d < 256 or 4 * k > d:
            return "dense"  # matmul-bound, the fewest operations
        gather = d * d * k * NS_MADD + n * NS_TAKE
        sampled = n * (NS_GATHER + NS_GATHER_K * k)
        return "sampled" if sampled < gather else "gather"

    def thread_hint(self, k: int) -> dict:
        """What ``threads.choose`` needs: the gather and sampled steps are memory-bound (one thread)."""
        path = self.choose_path(k)
        return {"work": self.d * self.d * k, "memory_bound": path != "dense"}  # the largest product, as in base

    def loss_and_products(self, A, B):
        d, k = A.shape
        path = self._paths.get(k) or self._paths.setdefault(k, self.choose_path(k))  # fixed per shape
        if path == "dense":
            Phi, mask_n, dot, buf = self._dense_arrays(A)
            if dot is torch.dot:
                G = torch.addmm(Phi, A, B, beta=-1.0)  # A·B − Φ in the one matmul: (d, d)
            else:
                G = np.matmul(A, B, out=buf) if A.dtype == buf.dtype else A @ B  # (d, d), into a reused buffer
                G -= Phi
            G *= mask_n  # P_Ω(E − Φ)/|Ω|
            g = G.reshape(-1)
            loss = 0.5 * self._n * float(dot(g, g))
            return loss, A.T @ G, G @ B.T
        if path == "gather":
            r = self._gathered(*((A, B) if isinstance(A, Tensor) else (torch.from_numpy(A), torch.from_numpy(B))))
        else:
            r = sampled_entries(A, B, self.omega, self._work)  # (|Ω|,)
        n = self._n
        r.sub_(self._y).mul_(1.0 / n)  # G on Ω, row-major
        loss = 0.5 * n * torch.dot(r, r).item()
        return (loss, *sparse_products(r, A, B, self.omega, self._work))

    def _gathered(self, A: Tensor, B: Tensor) -> Tensor:
        """E on Ω, row block by row block: each block of A·B into one reused buffer (no page faults on a
        fresh array every step; at most ``BUFFER_MAX_BYTES``), Ω's entries taken from it: (|Ω|,)."""
        buf = scratch(self._work, "A·B", (self._blocks[0], self.d), A.dtype)
        r = scratch(self._work, "entries", (self._n,), A.dtype)  # E on Ω
        if len(self._blocks[1]) == 1:  # one block: all of A·B
            return torch.take(torch.mm(A, B, out=buf), self.index, out=r)
        for (row0, row1), (e0, e1), local in zip(*self._blocks[1:]):
            E = torch.mm(A[row0:row1], B, out=buf[: row1 - row0])  # rows row0…row1−1 of A·B
            torch.take(E, local, out=r[e0:e1])
        return r

    @cached_property
    def _blocks(self) -> tuple:
        """(rows per block, [(row0, row1)], [(e0, e1)] Ω's slice in each, [local flat indices]) for ``_gathered``."""
        d = self.d
        b = max(1, min(d, BUFFER_MAX_BYTES // (8 * d)))
        bounds = [(r0, min(r0 + b, d)) for r0 in range(0, d, b)]
        if len(bounds) == 1:
            return b, bounds, [(0, self._n)], [self.index]
        starts = torch.searchsorted(self.index, torch.tensor([r0 * d for r0, _ in bounds] + [d * d])).tolist()
        spans = list(zip(starts[:-1], starts[1:]))
        local = [self.index[e0:e1] - r0 * d for (r0, _), (e0, e1) in zip(bounds, spans)]
        return b, bounds, spans, local

    def _dense_arrays(self, A):
        """(Φ, P_Ω/|Ω|, dot, the NumPy step's (d, d) buffer or None) as the kind of array A is (made once,
        not every step; the buffer holds G only within a step, so it is reused)."""
        key = ("dense", isinstance(A, Tensor))
        got = self._work.get(key)
        if got is None:
            mask_n = self.mask / self._n
            if key[1]:
                got = (self.Phi, mask_n, torch.dot, None)
            else:
                got = (self.Phi.numpy(), mask_n.numpy(), np.dot, np.empty((self.d, self.d), self.Phi.numpy().dtype))
            self._work[key] = got
        return got

    @cached_property
    def _n(self) -> int:
        return self.index.numel()

    @cached_property
    def _paths(self) -> dict:
        return {}


def _sample_index(d: int, n: int, generator: torch.Generator) -> Tensor:
    """n distinct flat indices of a d×d matrix, uniform, sorted: shape (n,).

    Up to d = ``DENSE_MAX_D`` a prefix of a random permutation of all d² (the kit's Ω since its first
    release); beyond it, O(n) memory: draw with replacement, keep the distinct ones, top up, then drop
    a uniform random subset of the extras (every n-subset stays equally likely)."""
    if d <= DENSE_MAX_D:
        return torch.sort(torch.randperm(d * d, generator=generator)[:n]).values
    got = torch.empty(0, dtype=torch.int64)
    while got.numel() < n:
        draw = torch.randint(0, d * d, (n + n // 16 + 16,), generator=generator)
        got = torch.unique(torch.cat([got, draw]))
    keep = torch.randperm(got.numel(), generator=generator)[:n]
    return torch.sort(got[keep]).values


@register_problem("completion")
def _build(U, sigma, V, *, generator, seed, observed: float = 0.3, target=None, mask=None) -> Completion:
    """Ω drawn (⌊p·d²⌋ entries) or given as ``mask`` (see ``given.as_index``); Φ drawn or ``target``."""
    from .given import as_index

    d = U.shape[0]
    if mask is not None:
        index = as_index(mask, d)  # (|Ω|,)
        _check_omega_fits(d, index.numel(), f"|Ω|={index.numel()}")
        return _with_index(U, sigma, V, index, target)
    p = check_number("observed", observed, low=0.0, high=1.0, low_open=True)
    n = math.floor(p * d * d)
    if n < 1:
        raise ValueError(f"observed={observed} leaves no observed entry at d={d}; raise it")
    _check_omega_fits(d, n, f"observed={observed}")
    return _with_index(U, sigma, V, _sample_index(d, n, generator), target)


def _check_omega_fits(d: int, n: int, what: str) -> None:
    need = 56 * n + (24 * d * d if d <= DENSE_MAX_D else 0)  # Ω in its layouts (7 words an entry); Φ, mask
    if need > physical_memory() // 2:
        raise ValueError(f"d={d} with {what} needs about {need / 1e9:.3g} GB for |Ω|={n:,} entries, more "
                         f"than half of this machine's {physical_memory() / 1e9:.3g} GB; lower d or observed")


def _with_index(U, sigma, V, index: Tensor, target: Tensor | None) -> Completion:
    """The problem on Ω = ``index`` (sorted flat indices). Past ``DENSE_MAX_D`` the class reads Φ on Ω off
    U, σ, V; a given target is kept exactly instead (it may have a rank above r)."""
    problem = Completion(U, sigma, V, index=index, target=target)
    if target is not None and U.shape[0] > DENSE_MAX_D:
        object.__setattr__(problem, "Phi", target)
        object.__setattr__(problem, "_y", target.view(-1)[index])  # (|Ω|,)
    return problem
