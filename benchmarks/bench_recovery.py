"""DLN against its compressions on matrix recovery, side by side in one run, every figure beside its anchor.

    python benchmarks/bench_recovery.py                 # the full tables (several minutes on 2 cores)
    python benchmarks/bench_recovery.py --quick         # CI-size smoke run
    python benchmarks/bench_recovery.py --contention    # also: each step again with one core kept busy
    python benchmarks/bench_recovery.py --scale         # also: the C-DLN at d=10,000 (bench_scale.py)
    python benchmarks/bench_recovery.py --save --readme # keep the numbers, rewrite the README's tables
    python benchmarks/report.py                         # rewrite them from the saved numbers alone

Anchors: the authors' code figures of issue 14's table (as given there), this machine's measured
float64 matmul rate (for the DLN) and memory bandwidth, and for the C-DLN the floor of its own cost
model (the multiply-adds and bytes of its step). Every ratio compares runs made in this one process,
interleaved, so a noisy machine slows both sides. Not a test: numbers, not assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys

# the thread wait policy `import cdln_core` sets for its users, set before torch loads, as there
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
from floors import (  # noqa: E402
    AUTHORS,
    TARGETS,
    bandwidth,
    bare_descent,
    best_of,
    busy_core,
    completion_cost,
    dln_cost,
    floor,
    matmul_rate,
    products_floor,
    sensing_cost,
)
from report import RESULTS, SCALE, render, write_readme  # noqa: E402

import cdln_core as C  # noqa: E402
from cdln_core.problems.completion import Completion  # noqa: E402
from cdln_core.threads import choose, use  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent


def step_seconds(problem, network, lr: float, steps: int, threads: int | None = None) -> float:
    """Seconds per step over ``steps`` steps of ``train`` (recording excluded by the loop's clock)."""
    config = C.TrainConfig(lr=lr, steps=steps, record_every=10**9, threads=threads)
    return C.train(problem, network, config).wall_time[-1] / steps


def k_setting(seeds: list[int], repeats: int) -> list[dict]:
    """[K]'s completion setting to training loss 1e-12, interleaved repeats, median seconds. Beside the kit's
    C-DLN: ``bare_descent``, an independent minimal NumPy loop from the same init (one thread, as the kit
    chooses here), and ``products_floor``'s d×d arithmetic alone times the C-DLN's steps."""
    rows = []
    for seed in seeds:
        problem = C.make_problem("completion", 100, 5, observed=0.3, seed=seed)
        nets = {"dln": C.make_network("dln", problem, 3, seed=seed),
                "cdln": C.make_network("cdln", problem, 3, lr_ratio=5.0, seed=seed),
                "compressed": C.make_network("compressed", problem, 3, lr_ratio=0.1, seed=seed)}
        config = C.TrainConfig(lr=10.0, steps=40000, tol=1e-12, record_every=10**9)
        cdln = nets["cdln"]
        bare_args = (problem.Phi.numpy(), problem.mask.numpy(), [W.numpy() for W in cdln.Ws],
                     [config.lr * s for s in cdln.lr_scales], config.tol, config.steps)
        times, trajs, bare = {k: [] for k in nets}, {}, []
        for _ in range(repeats):  # interleaved, so load on the machine hits every model alike
            for kind, net in nets.items():
                trajs[kind] = C.train(problem, net, config)
                times[kind].append(trajs[kind].wall_time[-1])
            with use(1):
                bare.append(bare_descent(*bare_args))
        for kind, traj in trajs.items():
            row = dict(seed=seed, model=kind, params=traj.n_params, steps=traj.converged_step,
                       seconds=statistics.median(times[kind]), recovery=traj.recovery_error[-1])
            if kind == "cdln":
                with use(1):
                    per_step = products_floor(100, cdln.Ws[0].shape[0])
                row.update(bare_steps=bare[0][0], bare_seconds=statistics.median(b[1] for b in bare),
                           products_seconds=per_step["products"] * traj.converged_step,
                           passes_seconds=per_step["with_passes"] * traj.converged_step)
            rows.append(row)
    return rows


def throughput(sizes: tuple[int, ...], windows: int = 5) -> list[dict]:
    """DLN steps (L=3) against the matmul rate measured at the same size and threads, in alternating
    windows (a window of matmuls, a window of steps, ...), the best of each: noise only ever adds time,
    and alternating puts both under the same load."""
    out = []
    for d in sizes:
        problem = C.make_problem("completion", d, 5, observed=0.2, seed=0)
        net = C.make_network("dln", problem, 3, seed=0)
        rate, cold, step, used = 0.0, 0.0, float("inf"), set()
        for _ in range(windows):
            rate = max(rate, matmul_rate(d, windows=1))
            cold = max(cold, matmul_rate(d, windows=1, cold=True))
            used.add(choose(**problem.thread_hint(d)))  # what the run below picks (the idle cores, cached 1 s)
            step = min(step, step_seconds(problem, net, 10.0, 10))
        achieved = dln_cost(d, 3)["flops"] / step / 1e9
        out.append(dict(d=d, matmul_gflops=rate, step_ms=step * 1e3, gflops=achieved, fraction=achieved / rate,
                        dln_threads=sorted(used), cold_gflops=cold, cold_fraction=achieved / cold))
    return out


def large(d: int, p: float, gflops: float, gbs: float, dln_steps: int) -> dict:
    """Per-step cost at [Y]'s size: the DLN, the C-DLN on its automatic path and on the sampled path."""
    problem = C.make_problem("completion", d, 5, observed=p, seed=0)
    sampled = Completion(problem.U, problem.sigma, problem.V, index=problem.index, path="sampled")
    dln = C.make_network("dln", problem, 3, init_scale=1e-3, seed=0)
    cdln = C.make_network("cdln", problem, 3, init_scale=1e-3, lr_ratio=5.0, seed=0)
    k, n = cdln.Ws[0].shape[0], problem.index.numel()
    best = {"dln": float("inf"), "cdln": float("inf"), "sampled": float("inf")}
    for _ in range(3):  # interleaved windows, the best of each (noise only ever adds time)
        best["dln"] = min(best["dln"], step_seconds(problem, dln, 500.0, dln_steps))
        best["cdln"] = min(best["cdln"], step_seconds(problem, cdln, 500.0, 200))
        best["sampled"] = min(best["sampled"], step_seconds(sampled, cdln, 500.0, 200))
    path = problem.choose_path(k)
    return dict(d=d, p=p, n=n, path=path, dln_ms=best["dln"] * 1e3, cdln_ms=best["cdln"] * 1e3,
                sampled_ms=best["sampled"] * 1e3, ratio=best["dln"] / best["cdln"],
                dln_floor_ms=floor(dln_cost(d, 3), gflops, gbs) * 1e3,
                cdln_floor_ms=floor(completion_cost(d, n, k, path), gflops, gbs) * 1e3,
                sampled_floor_ms=floor(completion_cost(d, n, k, "sampled"), gflops, gbs) * 1e3)


def contention(quick: bool) -> list[dict]:
    """Each step quiet (automatic threads, and one thread) and with one core kept busy (automatic)."""
    cases = [("cdln", 100, 0.3, 300), ("cdln", 1000, 0.2, 100), ("dln", 1000 if not quick else 400, 0.2, 2)]
    rows = []
    for kind, d, p, steps in cases:
        problem = C.make_problem("completion", d, 5, observed=p, seed=0)
        net = C.make_network(kind, problem, 3, init_scale=1e-3, lr_ratio=5.0, seed=0)
        quiet = best_of(step_seconds, problem, net, 10.0, steps)
        one = best_of(step_seconds, problem, net, 10.0, steps, threads=1)
        with busy_core():
            busy = best_of(step_seconds, problem, net, 10.0, steps)
        rows.append(dict(model=kind, d=d, quiet_ms=quiet * 1e3, one_core_ms=one * 1e3, busy_ms=busy * 1e3,
                         slowdown=busy / quiet, vs_one_core=busy / one))
    return rows


_SENSING_PROBE = """
import json, resource, sys, time, torch, cdln_core as C
d, m, kind, steps = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
tic = time.perf_counter(); p = C.make_problem(kind, d, 5, measurements=m, seed=0); build = time.perf_counter() - tic
out = {"build_s": build}
for model in ("dln", "cdln"):
    net = C.make_network(model, p, 3, lr_ratio=2.0, seed=0)
    cfg = C.TrainConfig(lr=1.0, steps=steps, record_every=10**9)
    out[model + "_ms"] = min(C.train(p, net, cfg).wall_time[-1] / steps for _ in range(2)) * 1e3
out["peak_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
print(json.dumps(out))
"""


def sensing(kind: str, d: int, m: int, steps: int, gflops: float, gbs: float) -> dict:
    """One sensing size in a fresh process (so its peak memory is its own): build time, ms per step."""
    res = subprocess.run([sys.executable, "-c", _SENSING_PROBE, str(d), str(m), kind, str(steps)],
                         capture_output=True, text=True, check=True)
    out = json.loads(res.stdout.strip().splitlines()[-1])
    out.update(kind=kind, d=d, m=m)
    if kind == "sensing":
        out["floor_ms"] = floor(sensing_cost(m, d), gflops, gbs) * 1e3
    return out


def scale() -> dict:
    res = subprocess.run([sys.executable, str(HERE / "bench_scale.py"), "--json"], capture_output=True, text=True,
                         check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="CI size: one seed, one repeat, smaller sizes")
    ap.add_argument("--contention", action="store_true", help="also run every step with one core kept busy")
    ap.add_argument("--scale", action="store_true", help="also run the C-DLN at d=10,000 (minutes); "
                    "its figures are saved apart, in results_scale.json")
    ap.add_argument("--save", action="store_true", help=f"write the numbers to {RESULTS.name}")
    ap.add_argument("--readme", action="store_true", help="rewrite the README's measured-speed block from them")
    args = ap.parse_args(argv)
    quick = args.quick
    res = {"command": "python benchmarks/bench_recovery.py" + "".join(
        f" --{f}" for f in ("quick", "contention", "scale") if getattr(args, f)),
        "torch": torch.__version__, "threads": torch.get_num_threads(), "authors": AUTHORS, "targets": TARGETS,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "load_before": os.getloadavg()[0]}
    res["matmul_gflops"] = matmul_rate(1000 if not quick else 256)
    res["bandwidth_gbs"] = bandwidth(256 if quick else 512)
    res["k_setting"] = k_setting([0] if quick else [0, 1, 2], 1 if quick else 2)
    res["throughput"] = throughput((256,) if quick else (256, 512))
    res["large"] = large(400 if quick else 1000, 0.2, res["matmul_gflops"], res["bandwidth_gbs"], 2 if quick else 3)
    sizes = (60, 600, 20) if quick else (200, 4000, 20)
    res["sensing"] = [sensing(kind, sizes[0], sizes[1], sizes[2], res["matmul_gflops"], res["bandwidth_gbs"])
                      for kind in ("sensing", "rank_one")]
    if args.contention:
        res["contention"] = contention(quick)
    scale_res = scale() if args.scale else None
    res["load_after"] = os.getloadavg()[0]
    print(render(res, scale_res))
    if args.save:
        RESULTS.write_text(json.dumps(res, indent=1, ensure_ascii=False) + "\n")
        if scale_res is not None:
            SCALE.write_text(json.dumps(scale_res, indent=1) + "\n")
    if args.readme:
        write_readme(HERE.parent / "README.md")


if __name__ == "__main__":
    main()
