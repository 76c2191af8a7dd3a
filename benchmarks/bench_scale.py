"""Completion past the wide network: the C-DLN at d = 10,000, p = 0.01 (|Ω| = 1M) in well under 1 GB.

    python benchmarks/bench_scale.py                      # d=10000, p=0.01, to recovery ≤ 1e-3
    python benchmarks/bench_scale.py --d 3000 --p 0.02    # a smaller pass

Runs in its own process so its peak memory (``ru_maxrss``) is its own. Nothing d×d is formed: the
target is U·diag(σ)·Vᵀ kept as factors, Ω is drawn in O(|Ω|) memory, the spectral init of [K] comes
from a truncated SVD of the sparse surrogate, every step takes the sampled path, and the recovery
error is computed from the factors. The DLN is not run: its memory and time per step are estimated
from its factor sizes and this machine's measured matmul rate.

Two library calls build Φ in O(d³) at this size (``make_target``'s default σ is the spectrum of a d×d
Gaussian; ``dln.orthogonal`` cuts U from a d×d orthogonal matrix), so this script draws U, V from
thin QRs and σ from a 2000×2000 Gaussian scaled by √(d/2000): the same law, without the d×d arrays.
Reference: [Y] §3 (compressed deep matrix completion at scale); [K] §5.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys

# the thread wait policy `import cdln_core` sets for its users, set before torch loads, as there
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
from floors import dln_cost, matmul_rate  # noqa: E402

from cdln_core import loop  # noqa: E402
from cdln_core.dln import factor_grads_from  # noqa: E402
from cdln_core.problems.completion import Completion, _sample_index  # noqa: E402
from cdln_core.seeds import generator  # noqa: E402
from cdln_core.threads import choose, use  # noqa: E402

__all__ = ["large_problem", "cdln_factors", "run_cdln", "main"]


def _haar_columns(d: int, r: int, g: torch.Generator) -> torch.Tensor:
    Q, R = torch.linalg.qr(torch.randn(d, r, generator=g, dtype=torch.float64))
    return Q * torch.sign(torch.diagonal(R))  # (d, r), Haar on the Stiefel manifold


def large_problem(d: int, rank: int, p: float, seed: int = 0) -> Completion:
    """A completion problem in O(d·r + |Ω|) memory (see the module docstring for σ, U, V)."""
    g = generator(seed, "problem")
    U, V = _haar_columns(d, rank, g), _haar_columns(d, rank, g)
    d0 = min(d, 2000)
    s0 = torch.linalg.svdvals(torch.randn(d0, d0, generator=g, dtype=torch.float64))
    sigma = s0[[k * d0 // (2 * rank) for k in range(rank)]] * math.sqrt(d / d0)
    index = _sample_index(d, math.floor(p * d * d), g)
    return Completion(U, sigma, V, index=index, path="sampled")


def cdln_factors(problem: Completion, depth: int, rank_hat: int, eps: float) -> list[torch.Tensor]:
    """[K]'s spectral init from the sparse surrogate: W̃_1 = ε·V̂ᵀ, W̃_l = ε·I, W̃_L = ε·Û."""
    Uk, Vk = problem.surrogate_top(rank_hat)
    middle = [eps * torch.eye(rank_hat, dtype=torch.float64) for _ in range(depth - 2)]
    return [eps * Vk.T.contiguous(), *middle, eps * Uk]


def run_cdln(problem: Completion, Ws: list, lr: float, alpha: float, tol: float, max_seconds: float,
             record_every: int = 100) -> dict:
    """Gradient descent with ``loop.run`` until the recovery error (from the factors) ≤ ``tol``."""
    etas = [lr * (alpha if i in (0, len(Ws) - 1) else 1.0) for i in range(len(Ws))]
    state = {}

    def evaluate(t):
        A = Ws[-1]
        for W in reversed(Ws[1:-1]):
            A = A @ W  # W_L ⋯ W_2: (d, r̂)
        state["A"] = A
        loss, *state["products"] = problem.loss_and_products(A, Ws[0])
        return loss

    def update(t):
        for W, g, eta in zip(Ws, factor_grads_from(Ws, *state["products"]), etas):
            W.sub_(g, alpha=eta)

    def record(t, loss, wall):
        rec = {"step": t, "loss": loss, "wall": wall, "recovery": problem.recovery_error_from(state["A"], Ws[0])}
        print(f"step {t}: loss {loss:.3e}, recovery {rec['recovery']:.3e}, {wall:.1f} s", file=sys.stderr, flush=True)
        return rec

    config = loop.LoopConfig(steps=10**7, record_every=record_every, max_seconds=max_seconds)
    with use(choose(**problem.thread_hint(Ws[0].shape[0]))), torch.inference_mode():
        records, outcome = loop.run(evaluate, update, record, config, callback=lambda r: r["recovery"] <= tol)
    last = records[-1]
    return {"steps": last["step"], "seconds": last["wall"], "recovery": last["recovery"],
            "reached": last["recovery"] <= tol, "steps_per_s": last["step"] / max(last["wall"], 1e-12),
            "reason": outcome.reason, "first_recovery": records[0]["recovery"]}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--d", type=int, default=10_000)
    ap.add_argument("--p", type=float, default=0.01)
    ap.add_argument("--rank", type=int, default=5)
    ap.add_argument("--tol", type=float, default=1e-3)
    ap.add_argument("--eps", type=float, default=0.1, help="ε: larger than 1e-2, so the plateau is short")
    ap.add_argument("--lr-eff", type=float, default=2e-4, help="η/d², the step on the per-entry loss")
    ap.add_argument("--alpha", type=float, default=3.0)
    ap.add_argument("--max-seconds", type=float, default=1500.0)
    ap.add_argument("--json", action="store_true", help="print one JSON line instead of the table")
    args = ap.parse_args(argv)
    d, r, depth = args.d, args.rank, 3
    problem = large_problem(d, r, args.p, seed=0)
    rank_hat = 2 * r
    Ws = cdln_factors(problem, depth, rank_hat, args.eps)
    out = run_cdln(problem, Ws, args.lr_eff * d * d, args.alpha, args.tol, args.max_seconds)
    rate = matmul_rate(1000, threads=torch.get_num_threads())
    cost = dln_cost(d, depth)
    out.update(d=d, p=args.p, n=problem.index.numel(), rank=r, rank_hat=rank_hat, eps=args.eps, alpha=args.alpha,
               lr=args.lr_eff * d * d, peak_gb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
               cdln_params=sum(W.numel() for W in Ws), dln_params=depth * d * d,
               dln_gb=(depth + 4) * 8 * d * d / 2**30, dln_step_s=cost["flops"] / (rate * 1e9), matmul_gflops=rate)
    if args.json:
        print(json.dumps(out))
        return out
    print(f"## Scale: completion d={d}, r={r}, p={args.p} (|Ω|={out['n']:,}), L={depth}, r̂={rank_hat}, "
          f"ε={args.eps:g}, η={out['lr']:g} (η/d²={args.lr_eff:g}), α={args.alpha:g}\n")
    print("| model | params | memory | steps/s | steps to recovery ≤ tol | time to tol | recovery |")
    print("|---|---|---|---|---|---|---|")
    print(f"| C-DLN (run) | {out['cdln_params']:,} | {out['peak_gb']:.2f} GB peak RSS | {out['steps_per_s']:.1f} | "
          f"{out['steps'] if out['reached'] else 'not reached'} | {out['seconds']:.1f} s | {out['recovery']:.1e} |")
    print(f"| DLN (estimated) | {out['dln_params']:,} | ≈{out['dln_gb']:.1f} GB (L+4 d×d arrays) | "
          f"≈{1 / out['dln_step_s']:.4f} | — | — | — |")
    print(f"\nDLN step estimated at {out['dln_step_s']:.0f} s: 4L−6 = {4 * depth - 6} products of d×d·d×d at the "
          f"measured {rate:.1f} GFLOP/s (d=1000 matmul).")
    return out


if __name__ == "__main__":
    main()
