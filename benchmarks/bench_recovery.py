"""DLN against its compressions on low-rank matrix completion, side by side in one run.

    python benchmarks/bench_recovery.py            # the full table (about 5 minutes on 2 cores)
    python benchmarks/bench_recovery.py --quick    # a smaller pass, for a smoke check

Prints, for [K]'s completion setting (d=100, r=5, p=0.3, L=3, ε=1e-2, η=10, α=5) and at d=1000:
steps to the training-loss tolerance, wall time of the optimization, parameters, speed-up ratios,
per-step cost, and the DLN's throughput as a fraction of this machine's measured matmul rate.
Every ratio compares runs made in this one process, interleaved, so a noisy machine slows both.
Not a test: numbers, not assertions.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import cdln_core as C


def matmul_rate(d: int, seconds: float = 1.0) -> float:
    """Measured float64 GFLOP/s of a d×d·d×d product with torch's threads."""
    X = torch.randn(d, d, dtype=torch.float64)
    Y = torch.randn(d, d, dtype=torch.float64)
    for _ in range(3):
        X @ Y
    n, tic = 0, time.perf_counter()
    while time.perf_counter() - tic < seconds:
        X @ Y
        n += 1
    return 2 * d**3 * n / (time.perf_counter() - tic) / 1e9


def dln_step_flops(d: int, depth: int) -> int:
    """Multiply-adds ×2 of one DLN step with the closed-form gradients: 4L − 6 products of d×d."""
    return 2 * d**3 * (4 * depth - 6)


def time_steps(problem, network, lr: float, steps: int) -> float:
    """Seconds per step over ``steps`` steps (no recording inside the timed part)."""
    traj = C.train(problem, network, C.TrainConfig(lr=lr, steps=steps, record_every=10**9))
    return traj.wall_time[-1] / steps


def paper_setting(seeds: list[int], repeats: int) -> list[dict]:
    rows = []
    for seed in seeds:
        problem = C.make_problem("completion", 100, 5, observed=0.3, seed=seed)
        nets = {
            "dln": C.make_network("dln", problem, 3, seed=seed),
            "cdln": C.make_network("cdln", problem, 3, lr_ratio=5.0, seed=seed),
            "compressed": C.make_network("compressed", problem, 3, lr_ratio=0.1, seed=seed),
        }
        config = C.TrainConfig(lr=10.0, steps=40000, tol=1e-12, record_every=10**9)
        times = {k: [] for k in nets}
        trajs = {}
        for _ in range(repeats):  # interleaved, so load on the machine hits every model alike
            for kind, net in nets.items():
                trajs[kind] = C.train(problem, net, config)
                times[kind].append(trajs[kind].wall_time[-1])
        for kind, traj in trajs.items():
            rows.append(dict(seed=seed, model=kind, params=traj.n_params, steps=traj.converged_step,
                             seconds=statistics.median(times[kind]), recovery=traj.recovery_error[-1]))
    return rows


def large(d: int, budget: float, seed: int = 0) -> dict:
    """[Y]'s large setting. The loss is a mean, so its effective step is η/d²: η = 500 here plays the
    role of η ≈ 5 at d = 100, and the C-DLN converges in about 20k steps, as in [Y]."""
    problem = C.make_problem("completion", d, 5, observed=0.2, seed=seed)
    nets = {"dln": C.make_network("dln", problem, 3, init_scale=1e-3, seed=seed),
            "cdln": C.make_network("cdln", problem, 3, init_scale=1e-3, lr_ratio=5.0, seed=seed)}
    lr = 500.0
    out = {"d": d, "lr": lr}
    # per-step cost: the best of several short windows, interleaved (noise only ever adds time)
    windows = {"dln": 3, "cdln": 200}
    for kind in ("dln", "cdln"):
        out[f"{kind}_step"] = float("inf")
    for _ in range(3):
        for kind, net in nets.items():
            out[f"{kind}_step"] = min(out[f"{kind}_step"], time_steps(problem, net, lr, windows[kind]))
    config = C.TrainConfig(lr=lr, steps=10**7, tol=1e-12, record_every=10**9, max_seconds=budget)
    for kind, net in nets.items():
        traj = C.train(problem, net, config)
        out[f"{kind}_budget_steps"] = traj.steps[-1]
        out[f"{kind}_budget_recovery"] = traj.recovery_error[-1]
        out[f"{kind}_converged"] = traj.converged_step
        out[f"{kind}_params"] = traj.n_params
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one seed, one repeat, a short budget")
    args = parser.parse_args()
    seeds, repeats, budget = ([0], 1, 5.0) if args.quick else ([0, 1, 2], 2, 90.0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float64\n")

    print("## Completion, [K] setting: d=100, r=5, p=0.3, L=3, ε=1e-2, η=10, α=5 (C-DLN), γ=0.1 (compressed)")
    print("stop: training loss ≤ 1e-12; time: optimization only, median of interleaved repeats\n")
    rows = paper_setting(seeds, repeats)
    print("| seed | model | params | steps | seconds | recovery | speed-up vs DLN |")
    print("|---|---|---|---|---|---|---|")
    base = {r["seed"]: r["seconds"] for r in rows if r["model"] == "dln"}
    for r in rows:
        print(f"| {r['seed']} | {r['model']} | {r['params']} | {r['steps']} | {r['seconds']:.3f} | "
              f"{r['recovery']:.1e} | {base[r['seed']] / r['seconds']:.1f}× |")
    for model in ("cdln", "compressed"):
        ratios = [base[r["seed"]] / r["seconds"] for r in rows if r["model"] == model]
        print(f"\n{model}: wall-time speed-up over DLN to the same tolerance, median {statistics.median(ratios):.1f}× "
              f"(min {min(ratios):.1f}×, max {max(ratios):.1f}×)")

    print("\n## Throughput: DLN steps against this machine's matmul rate (L=3, completion p=0.2)\n")
    print("| d | matmul GFLOP/s | DLN step ms | DLN GFLOP/s | fraction |")
    print("|---|---|---|---|---|")
    for d in ((256,) if args.quick else (256, 512)):
        problem = C.make_problem("completion", d, 5, observed=0.2, seed=0)
        net = C.make_network("dln", problem, 3, seed=0)
        rate = matmul_rate(d)
        step = min(time_steps(problem, net, 10.0, 20) for _ in range(3))
        achieved = dln_step_flops(d, 3) / step / 1e9
        print(f"| {d} | {rate:.1f} | {step * 1e3:.2f} | {achieved:.1f} | {achieved / rate:.0%} |")

    print(f"\n## Large ([Y]): d=1000, r=5, p=0.2, L=3, ε=1e-3, η=500, α=5; each model for {budget:.0f} s\n")
    out = large(1000, budget)
    print("| model | params | ms per step (best window) | steps in budget | converged at | recovery at budget |")
    print("|---|---|---|---|---|---|")
    for kind in ("dln", "cdln"):
        print(f"| {kind} | {out[f'{kind}_params']} | {out[f'{kind}_step'] * 1e3:.2f} | "
              f"{out[f'{kind}_budget_steps']} | {out[f'{kind}_converged']} | {out[f'{kind}_budget_recovery']:.1e} |")
    print(f"\nper-step cost ratio DLN / C-DLN at d=1000: {out['dln_step'] / out['cdln_step']:.0f}×")


if __name__ == "__main__":
    main()
