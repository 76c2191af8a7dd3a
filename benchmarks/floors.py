"""What this machine can do, measured in the same run as the benchmarks: the anchors their figures
are printed beside.

- ``matmul_rate(d)``: float64 GFLOP/s of a d×d·d×d product (the DLN's ceiling);
- ``bandwidth()``: GB/s of reading a large float64 array once (the memory-bound steps' ceiling);
- ``completion_cost(d, n, k, path)``, ``sensing_cost(m, d)``: the multiply-adds and bytes a step must
  touch in the kit's cost model, and ``floor(cost, rate, bw)`` the time below which no code can go;
- ``busy_core()``: a context manager that keeps one core spinning (the contention mode);
- ``bare_descent(...)``: an independent, minimal NumPy gradient descent on a completion problem (the
  same math as the kit, none of its code), and ``products_floor(...)``: the seconds of the three d×d·k
  products a dense step cannot avoid, so the [K]-setting figures have a measured floor beside them;
- ``AUTHORS``: the figures of the papers' public code from issue 14's table, as given there.
"""

from __future__ import annotations

import subprocess
import sys
import time
from contextlib import contextmanager

import numpy as np
import torch

__all__ = ["AUTHORS", "TARGETS", "matmul_rate", "bandwidth", "completion_cost", "dln_cost", "sensing_cost",
           "floor", "busy_core", "best_of", "bare_descent", "products_floor"]

# issue 14, "the authors' code" column, on this project's machine (2 cores), compile excluded
AUTHORS = {
    "k_setting_dln_s": 4.4, "k_setting_cdln_s": 0.185, "k_setting_ratio": "22–24×",
    "d1000_dln_ms": 225.0, "d1000_cdln_ms": "2.6–4.0", "busy_cdln_ms": 3.15,
    "sensing_dln_s": 3.9, "sensing_cdln_s": 3.4,  # [K]'s own machine, to tolerance (step counts not given)
}

# issue 14's targets, each a ratio or a time measured in one run
TARGETS = {"k_ratio": 25.0, "k_seconds": 0.09, "d1000_ratio": 150.0, "dln_fraction": 0.80,
           "busy_cdln": 1.5, "busy_dln_vs_one": 1.25}


def best_of(fn, *args, repeats: int = 3, **kwargs) -> float:
    """The smallest of ``repeats`` calls of ``fn(*args, **kwargs)`` (a time: noise only ever adds)."""
    return min(fn(*args, **kwargs) for _ in range(repeats))


def matmul_rate(d: int, windows: int = 5, threads: int | None = None, cold: bool = False) -> float:
    """Measured float64 GFLOP/s of a d×d·d×d product (into a reused output): the best of ``windows``
    short windows of about 0.1 s each, since on a shared machine noise only ever slows a window.

    ``cold``: each product takes its operands from a pool of matrices larger than this machine's caches
    per core (≥ 16 MB, cycled), as a training step does, whose factors, residual and gradients do not
    all stay in cache; the default repeats one product on the same hot operands."""
    pool = max(2, -(-16 * 2**20 // (8 * d * d))) if cold else 2  # matrices in the pool
    Xs = [torch.randn(d, d, dtype=torch.float64) for _ in range(pool)]
    out = torch.empty(d, d, dtype=torch.float64)
    pairs = [(Xs[i], Xs[(i + 1) % pool]) for i in range(pool)]
    before = torch.get_num_threads()
    torch.set_num_threads(threads or before)
    try:
        torch.mm(*pairs[0], out=out)
        tic = time.perf_counter()
        torch.mm(*pairs[0], out=out)
        reps = max(1, int(0.1 / max(time.perf_counter() - tic, 1e-6)))
        best = float("inf")
        for _ in range(windows):
            tic = time.perf_counter()
            for i in range(reps):
                torch.mm(*pairs[i % pool], out=out)
            best = min(best, (time.perf_counter() - tic) / reps)
        return 2 * d**3 / best / 1e9
    finally:
        torch.set_num_threads(before)


def bandwidth(megabytes: int = 512, repeats: int = 5) -> float:
    """Measured GB/s of one pass that reads a float64 array far larger than the caches (one thread)."""
    x = torch.ones(megabytes * 2**20 // 8, dtype=torch.float64)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        x.sum()
        best = float("inf")
        for _ in range(repeats):
            tic = time.perf_counter()
            x.sum()
            best = min(best, time.perf_counter() - tic)
        return x.numel() * 8 / best / 1e9
    finally:
        torch.set_num_threads(before)


def dln_cost(d: int, depth: int) -> dict:
    """One wide step with the closed-form gradients: 4L − 6 products of d×d·d×d (L ≥ 2)."""
    return {"flops": 2 * d**3 * (4 * depth - 6), "bytes": 8 * d * d * (4 * depth - 6) * 3}


def completion_cost(d: int, n: int, k: int, path: str) -> dict:
    """Multiply-adds (×2 as flops) and bytes of one completion step's loss and gradient products.

    sampled: the |Ω|·k gather-dot and two |Ω|·k sparse products, reading for each entry its indices
    (8 + 8 + 4 bytes across the layouts), its target (8) and writing/reading its residual (3·8);
    gather: the same plus the d×d·k product written to and read from a d×d buffer (16·d² bytes)."""
    flops = 2 * 3 * n * k
    byts = n * (20 + 8 + 24)
    if path == "gather":
        flops += 2 * d * d * k - 2 * n * k
        byts += 16 * d * d
    return {"flops": flops, "bytes": byts}


def sensing_cost(m: int, d: int) -> dict:
    """A Gaussian-sensing step reads the (m, d²) operator once (fused residual and adjoint)."""
    return {"flops": 2 * 2 * m * d * d, "bytes": 8 * m * d * d}


def floor(cost: dict, gflops: float, gbs: float) -> float:
    """Seconds below which a step cannot go: the larger of compute at ``gflops`` and traffic at ``gbs``."""
    return max(cost["flops"] / (gflops * 1e9), cost["bytes"] / (gbs * 1e9))


def bare_descent(Phi: np.ndarray, mask: np.ndarray, Ws: list[np.ndarray], etas: list[float], tol: float,
                 max_steps: int) -> tuple[int | None, float]:
    """Full-batch gradient descent for ½·mean over Ω of (W_3·W_2·W_1 − Φ)², written from the formulas alone:
    the least a NumPy loop can do per step (one residual, three products, the factor gradients, the updates).

    Phi, mask: (d, d), mask 0/1 on Ω; Ws = [W_1 (k, d), W_2 (k, k), W_3 (d, k)] (copied, not changed); etas the
    three step sizes. Returns (the first step whose loss is ≤ tol, or None; seconds of the loop)."""
    W1, W2, W3 = (np.array(W, dtype=np.float64) for W in Ws)
    n = float(mask.sum())
    weight = mask / n  # P_Ω(·)/|Ω|
    R = np.empty_like(Phi)  # the residual, reused
    e1, e2, e3 = etas
    tic = time.perf_counter()
    for t in range(max_steps + 1):
        A = W3 @ W2  # (d, k)
        np.matmul(A, W1, out=R)
        R -= Phi
        R *= weight  # G = P_Ω(E − Φ)/|Ω|
        r = R.reshape(-1)
        if 0.5 * n * np.dot(r, r) <= tol:
            return t, time.perf_counter() - tic
        if t == max_steps:
            break
        GBt = R @ W1.T  # (d, k)
        g1, g2, g3 = A.T @ R, W3.T @ GBt, GBt @ W2.T
        W1 -= e1 * g1
        W2 -= e2 * g2
        W3 -= e3 * g3
    return None, time.perf_counter() - tic


def products_floor(d: int, k: int, repeats: int = 2000, windows: int = 5) -> dict:
    """Seconds per step of the d×d arithmetic a dense completion step cannot avoid, timed alone in a loop
    (best of ``windows``), in two parts: ``products``, the three products A·B (d×k·k×d), Aᵀ·G and G·Bᵀ;
    ``with_passes``, those and the three d×d passes between them (− Φ, ∘ P_Ω/|Ω|, the loss's dot). No
    factor product, no update, no Python around them: a step can be no cheaper in NumPy."""
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((d, k)), rng.standard_normal((k, d))
    Phi, weight = rng.standard_normal((d, d)), (rng.random((d, d)) < 0.3) / d
    G, AtG, GBt = np.empty((d, d)), np.empty((k, d)), np.empty((d, k))
    g = G.reshape(-1)

    def products():
        np.matmul(A, B, out=G)
        np.matmul(A.T, G, out=AtG)
        np.matmul(G, B.T, out=GBt)

    def with_passes():
        np.matmul(A, B, out=G)
        np.subtract(G, Phi, out=G)
        np.multiply(G, weight, out=G)
        np.dot(g, g)
        np.matmul(A.T, G, out=AtG)
        np.matmul(G, B.T, out=GBt)

    best = {"products": float("inf"), "with_passes": float("inf")}
    for _ in range(windows):  # alternating windows, the best of each
        for name, fn in (("products", products), ("with_passes", with_passes)):
            tic = time.perf_counter()
            for _ in range(repeats):
                fn()
            best[name] = min(best[name], (time.perf_counter() - tic) / repeats)
    return best


@contextmanager
def busy_core():
    """Keep one core busy with a spinning subprocess for the duration of the block."""
    spin = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)  # let it start spinning
        yield spin.pid
    finally:
        spin.kill()
        spin.wait()
