"""The sweeps behind notebook 07, run with the ``cdln sweep --grid`` command and kept small.

    python benchmarks/sweep_data.py            # the full sweeps (a few minutes on 2 cores)
    python benchmarks/sweep_data.py --quick    # a smoke-sized version (CI)

Writes ``notebooks/data/alpha_ablation.csv`` and ``notebooks/data/depth_eps.csv`` (the columns the
notebook reads), from sweeps run in ``artifacts/sweeps/`` (resumable: a rerun skips finished runs).

- α ablation ([K] §5, MC at p = 0.2): completion d = 100, r = 5, L = 3, η = 10, ε = 1e-2, to training
  loss 1e-12; the C-DLN at α ∈ {0.5, 1, 2, 5, 9.75} and the DLN (α = 1), 5 seeds.
- depth × ε: factorization d = 20, r = 3, η = 10, the DLN at L ∈ {2, 3, 4, 5} and
  ε ∈ {0.3, 0.1, 0.05}, 3 seeds; the staircase's rise fraction (``cdln_core.sweeps.staircase``).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from cdln_core.cli import main

ROOT = Path(__file__).resolve().parent.parent
KEEP = ("model", "depth", "init_scale", "lr_ratio", "seed", "status", "converged_step", "final_step",
        "recovery_error", "wall_time", "half_fit_steps", "rise_fraction")


def sweep(name: str, flags: list[str], out: Path) -> Path:
    folder = ROOT / "artifacts" / "sweeps" / name
    folder.parent.mkdir(parents=True, exist_ok=True)
    code = main(["sweep", *flags, "--out", str(folder), "--no-progress"])
    if code not in (0, 3):
        raise SystemExit(f"sweep {name} failed with exit status {code}")
    with open(folder / "results.csv", newline="") as f, open(out, "w", newline="") as g:
        rows = list(csv.DictReader(f))
        w = csv.DictWriter(g, fieldnames=KEEP, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    print(f"{name}: {len(rows)} runs → {out.relative_to(ROOT)}")
    return out


def main_(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke-sized sweeps, written to artifacts/ only")
    args = ap.parse_args(argv)
    data = ROOT / ("artifacts" if args.quick else "notebooks/data")
    data.mkdir(parents=True, exist_ok=True)
    q = args.quick
    mc = ["--problem", "completion", "--d", "30" if q else "100", "--rank", "2" if q else "5", "--observed", "0.4"
          if q else "0.2", "--depth", "3", "--lr", "10", "--tol", "1e-12", "--steps", "3000" if q else "40000",
          "--record-every", "500"]
    sweep("alpha_ablation_cdln" + "_quick" * q, ["--grid", "lr_ratio=" + ("1,5" if q else "0.5,1,2,5,9.75"),
          "--seeds", "2" if q else "5", "--model", "cdln", *mc], data / f"alpha_ablation_cdln{'_quick' * q}.csv")
    sweep("alpha_ablation_dln" + "_quick" * q, ["--grid", "model=dln", "--seeds", "2" if q else "5", *mc],
          data / f"alpha_ablation_dln{'_quick' * q}.csv")
    mf = ["--problem", "factorization", "--d", "20", "--rank", "3", "--model", "dln", "--lr", "10",
          "--steps", "3000" if q else "20000", "--record-every", "10"]
    sweep("depth_eps" + "_quick" * q, ["--grid", "depth=" + ("2,3" if q else "2,3,4,5"),
          "init_scale=" + ("0.3,0.1" if q else "0.3,0.1,0.05"), "--seeds", "1" if q else "3", *mf],
          data / f"depth_eps{'_quick' * q}.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main_())
