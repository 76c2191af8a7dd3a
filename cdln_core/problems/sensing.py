"""Matrix sensing (MS): ½·mean_i (⟨A_i, E⟩ − y_i)², A_i with i.i.d. N(0, 1/d²) entries.

The surrogate is (d²/m)·Σ_i y_i A_i ≈ Φ. The operator 𝒜 is an (m, d²) matrix, drawn in chunks of
``CHUNK`` rows, chunk c from its own stream ``seeds.generator(seed, "operator", c)``. It is kept whole
when it fits ``max_operator_bytes`` (written chunk by chunk into one array, never held twice), and
otherwise regenerated chunk by chunk at every step (matrix-free): the same numbers either way.

A step reads the operator once: residual and gradient are accumulated block by block,
r_b = 𝒜_b·vec(E) − y_b, G += 𝒜_bᵀ·r_b, while the block is still in cache — half the memory traffic of
applying 𝒜 and then 𝒜*. Its floor is one read of 8·m·d² bytes at the machine's memory bandwidth.

Bring your own: ``make_problem("sensing", target=M, operators=A)`` with A of shape (m, d, d) or
(m, d²) holds A whole (no stream), and ``measurements=y`` (m,) uses your y instead of 𝒜(Φ). The loss
is then ½·mean_i (⟨A_i, E⟩ − y_i)² for your A_i: the paper's step sizes carry over only if they have
about the kit's scale (entries of variance 1/d²).

Reference: [K] §5 (matrix sensing).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import torch
from torch import Tensor

from ..checks import check_int, check_number
from ..seeds import generator as stream
from .base import Problem, register_problem
from .given import as_matrix, as_vector

__all__ = ["Sensing", "CHUNK", "DEFAULT_OPERATOR_BYTES", "MAX_STEP_MADDS", "identifiability", "check_measurements",
           "measure", "given_measurements", "physical_memory"]

CHUNK = 256  # rows of the operator per random stream
BLOCK_BYTES = 2**24  # rows per fused block: about 16 MB, which stays in the last-level cache
DEFAULT_OPERATOR_BYTES = 1_500_000_000  # 1.5 GB: m = 4000, d = 200 (1.28 GB) fits a 2 GB pod whole
MAX_STEP_MADDS = 2**37  # refuse operators whose single step would take minutes


def physical_memory() -> int:
    """Bytes of RAM on this machine (a large default where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 2**40


@dataclass(frozen=True, eq=False, repr=False)
class Sensing(Problem):
    """Matrix sensing: ½·mean_i (⟨A_i, E⟩ − y_i)², A_i with i.i.d. N(0, 1/d²) entries.

    measurements: m.  noise: standard deviation of Gaussian noise on y (its own stream "noise").
    max_operator_bytes: keep the (m, d²) operator whole up to this size, else matrix-free.
    operator: a given (m, d²) operator, held whole (None: drawn from ``seed``).
    y: given measurements (m,) (None: 𝒜(Φ), plus noise).
    """

    measurements: int = 0
    noise: float = 0.0
    seed: int = 0
    max_operator_bytes: int = DEFAULT_OPERATOR_BYTES
    operator: Tensor | None = None  # (m, d²) when given
    y: Tensor | None = None  # (m,) when given
    kind = "sensing"

    def __post_init__(self):
        super().__post_init__()
        m, d2 = self.measurements, self.Phi.numel()
        op = self.operator
        if op is None and 8 * m * d2 <= min(self.max_operator_bytes, physical_memory() // 4):
            op = torch.empty(m, d2, dtype=self.Phi.dtype)  # (m, d²), filled in place: held once
            for start in range(0, m, CHUNK):
                self._draw(start, out=op[start : start + CHUNK])
        object.__setattr__(self, "_dense_op", op)
        if self.y is None:
            object.__setattr__(self, "y", measure(self))  # (m,)

    def __repr__(self) -> str:
        mode = "dense" if self._dense_op is not None else "matrix-free"
        return f"Sensing(d={self.d}, rank={self.rank}, measurements={self.measurements}, {mode})"

    @property
    def operator_bytes(self) -> int:
        """8·m·d²: the operator's size whole (what one step reads)."""
        return 8 * self.measurements * self.Phi.numel()

    def _draw(self, start: int, out: Tensor | None = None) -> Tensor:
        """Chunk start // CHUNK of the operator, (≤ CHUNK, d²), from its own stream."""
        d2 = self.Phi.numel()
        n = min(CHUNK, self.measurements - start)
        g = stream(self.seed, "operator", start // CHUNK)
        block = torch.randn(n, d2, generator=g, dtype=self.Phi.dtype, out=out)
        return block.mul_(1.0 / math.sqrt(d2))

    def _blocks(self):
        """(start, rows of the operator) in blocks of about BLOCK_BYTES, each read once."""
        if self._dense_op is not None:
            rows = max(1, BLOCK_BYTES // (8 * self.Phi.numel()))
            for start in range(0, self.measurements, rows):
                yield start, self._dense_op[start : start + rows]
            return
        for start in range(0, self.measurements, CHUNK):
            yield start, self._draw(start)

    @property
    def warnings(self) -> list[str]:
        """Why a run on this problem cannot identify Φ (empty when it can, as far as counting goes)."""
        return identifiability(self.measurements, self, head=f"measurements={self.measurements}", symbol="m")

    def apply(self, E: Tensor) -> Tensor:
        """𝒜(E) = (⟨A_i, E⟩)_i, shape (m,)."""
        e = E.reshape(-1)
        return torch.cat([op @ e for _, op in self._blocks()])

    def adjoint(self, z: Tensor) -> Tensor:
        """𝒜*(z) = Σ_i z_i A_i, shape (d, d)."""
        out = torch.zeros(self.Phi.numel(), dtype=self.Phi.dtype)
        for start, op in self._blocks():
            out.addmv_(op.T, z[start : start + op.shape[0]])
        return out.view_as(self.Phi)

    def residual_and_grad(self, E: Tensor) -> tuple[Tensor, Tensor]:
        """r = 𝒜(E) − y (m,) and G = 𝒜*(r)/m (d, d), reading the operator once (block by block)."""
        e, m = E.reshape(-1), self.measurements
        r = torch.empty(m, dtype=E.dtype)
        g = torch.zeros_like(e)  # (d²,)
        for start, op in self._blocks():
            rb = torch.mv(op, e, out=r[start : start + op.shape[0]]).sub_(self.y[start : start + op.shape[0]])
            g.addmv_(op.T, rb)  # the block is still in cache
        return r, g.mul_(1.0 / m).view_as(E)

    def loss(self, E):
        r = self.apply(E) - self.y
        return 0.5 * torch.mean(r**2)

    def grad(self, E):
        return self.residual_and_grad(E)[1]

    def surrogate(self):
        # E[⟨A, Φ⟩·A] = Φ/d², so d²/m · Σ y_i A_i ≈ Φ
        return self.adjoint(self.y) * (self.Phi.numel() / self.measurements)

    def thread_hint(self, k: int) -> dict:
        """Reading the operator dominates a step: memory-bound, one thread."""
        return {"work": self.measurements * self.Phi.numel(), "memory_bound": True}

    def loss_and_products(self, A, B):
        E = A @ B  # (d, d)
        r, G = self.residual_and_grad(E)
        return 0.5 * torch.dot(r, r).item() / self.measurements, A.T @ G, G @ B.T


def identifiability(n: int, problem, *, head: str, symbol: str) -> list[str]:
    """Why n data (entries of Ω, or measurements) cannot identify ``problem``'s Φ: [] when n ≥ r(2d − r).

    A drawn Φ has rank r exactly: with fewer it cannot be identified (expect recovery error ≈ 1). A
    target you gave may be only approximately low-rank (a photograph: r is its numerical rank, about d):
    n data count for at most a rank-k part, k(2d − k) ≤ n, and the warning says how much of Φ its best
    rank-k approximation leaves out, ‖Φ − Φ_k‖_F/‖Φ‖_F, instead of promising an error of 1. ``head``
    opens the sentence (what n is); ``symbol`` names n in the formula ("|Ω|", "m")."""
    d, r, sigma = problem.d, problem.rank, problem.sigma
    dof = r * (2 * d - r)
    if n >= dof:
        return []
    head = f"{head}, fewer than the r(2d−r)={dof} degrees of freedom"
    if problem.target is None:
        return [f"{head} of a rank-{r} target: Φ cannot be identified, expect recovery error ≈ 1"]
    k = d - math.isqrt(d * d - n - 1) - 1  # the largest k with k(2d − k) ≤ n (here n < r(2d − r) ≤ d²)
    if k == 0:
        return [f"{head} of your target's rank-{r} part, and fewer than the 2d−1={2 * d - 1} of any rank-1 "
                "part: no part of Φ can be identified, expect recovery error ≈ 1"]
    phi2 = float(torch.sum(problem.target.double() ** 2))
    left = math.sqrt(max(phi2 - float(torch.sum(sigma[:k].double() ** 2)), 0.0) / phi2)
    return [f"{head} of your target's rank-{r} part: they can identify at most a rank-{k} part "
            f"(k(2d−k) ≤ {symbol}), and Φ's best rank-{k} approximation leaves out {left:.3g} of ‖Φ‖_F"]


def check_measurements(m, d: int, per_measurement_bytes: int, madds: int) -> int:
    """m as an int ≥ 1, refused (naming ``measurements`` and the estimate) when it cannot fit or run."""
    m = check_int("measurements", m, 1)
    need, have = m * per_measurement_bytes, physical_memory()
    if need > have // 2:
        raise ValueError(f"measurements={m} at d={d} needs {need / 1e9:.3g} GB, more than half of this machine's "
                         f"{have / 1e9:.3g} GB; lower measurements or d")
    if m * madds > MAX_STEP_MADDS:
        raise ValueError(f"measurements={m} at d={d} means {m * madds:.3g} multiply-adds per step (at most "
                         f"{MAX_STEP_MADDS:.3g}); lower measurements or d")
    return m


def measure(problem) -> Tensor:
    """y = 𝒜(Φ) for a sensing kind (its ``apply``), plus noise·ξ with ξ from the seed's "noise" stream: (m,)."""
    y = problem.apply(problem.Phi)
    if problem.noise > 0:
        y = y + problem.noise * torch.randn(problem.measurements, generator=stream(problem.seed, "noise"),
                                            dtype=y.dtype)
    return y


def given_measurements(operator_rows: int, measurements, noise: float) -> Tensor | None:
    """With a given operator of m rows, ``measurements`` is None (y = 𝒜(Φ) + noise) or y itself, (m,)."""
    if measurements is None:
        return None
    if not hasattr(measurements, "__len__") and not hasattr(measurements, "shape"):
        raise TypeError(f"with operators=, measurements must be y, an ({operator_rows},) array (m is read from the "
                        f"operators), got {measurements!r}")
    if noise > 0:
        raise ValueError("noise applies when y is computed from the operators, not with measurements=y given")
    return as_vector("measurements", measurements, operator_rows)


@register_problem("sensing")
def _build(U, sigma, V, *, generator, seed, measurements: int | None = None, noise: float = 0.0,
           max_operator_bytes: int = DEFAULT_OPERATOR_BYTES, target=None, operators=None) -> Sensing:
    """Operator drawn from ``seed`` (m = ``measurements``, default 5·d·r) or ``operators`` (m, d, d) or (m, d²)."""
    d, rank = U.shape[0], sigma.numel()
    noise = check_number("noise", noise, low=0.0)
    max_bytes = check_int("max_operator_bytes", max_operator_bytes, 0)
    if operators is not None:
        A = as_matrix("operators", operators, ndim=(2, 3))  # (m, d, d) or (m, d²)
        if tuple(A.shape[1:]) not in ((d, d), (d * d,)):
            raise ValueError(f"operators must have shape (m, {d}, {d}) or (m, {d * d}), got {tuple(A.shape)}")
        A = A.reshape(A.shape[0], d * d)  # (m, d²)
        y = given_measurements(A.shape[0], measurements, noise)
        m = check_measurements(A.shape[0], d, 8 * 3, d * d)
        return Sensing(U, sigma, V, measurements=m, noise=noise, seed=seed, max_operator_bytes=max_bytes,
                       operator=A, y=y, target=target)
    m = 5 * d * rank if measurements is None else measurements
    m = check_measurements(m, d, 8 * 3, d * d)  # y and two (m,) work arrays; the operator may stream
    return Sensing(U, sigma, V, measurements=m, noise=noise, seed=seed, max_operator_bytes=max_bytes,
                   target=target)
