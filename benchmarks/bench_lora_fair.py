"""The fair protocol for LoRA against Deep LoRA on the teacher–student task ([Y] §5, issue-12 protocol).

    python benchmarks/bench_lora_fair.py

For N = 8, 16, 64 samples: each method gets the same tuning budget (a learning rate in {3e-3, 1e-2, 3e-2}
crossed with LoRA's α ∈ {none, 1} or Deep LoRA's ε ∈ {1e-3, 1e-2}: six configurations), chosen on a
validation split with tuning seeds 100–101 (never on the test set), then run on seeds 0–4; prints the
test loss with a 95% interval, the update rank, flagged runs and the chosen configuration, then each
Deep LoRA variant's test loss over LoRA's, seed by seed.
"""

from __future__ import annotations

import numpy as np

import cdln_core.lora as L

make = lambda n, s: L.teacher_student(n, seed=s, n_val=64)
cfg = L.FitConfig(steps=200)
lrs = [3e-3, 1e-2, 3e-2]
grids = {"lora": {"lr": lrs, "alpha": [None, 1.0]},
         "deep_narrow": {"lr": lrs, "init_scale": [1e-3, 1e-2]},
         "deep_compressed": {"lr": lrs, "init_scale": [1e-3, 1e-2]}}
for n in (8, 16, 64):
    rows = L.compare(make, n, list(grids), cfg, grids, tune_seeds=[100, 101], seeds=[0, 1, 2, 3, 4])
    summ = L.summarize(rows, "samples", ("test", "update_rank"))
    chosen = {r["kind"]: {k: r[k] for k in grids[r["kind"]]} for r in rows}
    for s in summ:
        print(f"N={n:3d} {s['kind']:16s} test {s['test_mean']:.4f} ± {s['test_ci95']:.4f}  "
              f"rank {s['update_rank_mean']:.1f}  flagged {s['n_flagged']}  chosen {chosen[s['kind']]}")
    lo = {r["seed"]: r["test"] for r in rows if r["kind"] == "lora"}
    for k in ("deep_narrow", "deep_compressed"):
        print("   ratio", k, np.round([r["test"] / lo[r["seed"]] for r in rows if r["kind"] == k], 2))
