"""Beyond linear ([K] §6): plain vs deep-linear vs C-DLN wide layers in an MLP and a small
ViT on scikit-learn's digits, several seeds, side by side in one run.

For each architecture the variants share everything but the wide layers (same non-wide init per
seed, same data order, same optimizer), and the runs are interleaved seed by seed so that load on
the machine falls on all variants alike. Time is optimization time only (forward, backward, step;
evaluation excluded), one torch thread. Printed: test accuracy mean with its 95% interval over seeds,
mean training time, the time to first reach a test accuracy, parameter counts, and time ratios
against the deep-linear variant. A run that diverged or ended at chance accuracy (the result's
``warnings``) is flagged, left out of the means and listed in the table, never averaged in silently.

    .venv/bin/python benchmarks/bench_nonlinear.py                 # full table (a few minutes)
    .venv/bin/python benchmarks/bench_nonlinear.py --quick         # smoke run (seconds)
    .venv/bin/python benchmarks/bench_nonlinear.py --out benchmarks/RESULTS_nonlinear.md
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import platform
import time
from dataclasses import dataclass

import numpy as np
import torch

from cdln_core import nonlinear as nl
from cdln_core.lora import t_quantile


@dataclass(frozen=True)
class Variant:
    label: str
    kind: str
    lr_ratio: float = 1.0


@dataclass(frozen=True)
class Setting:
    arch: str
    model_kwargs: dict
    fit: nl.FitConfig
    variants: tuple[Variant, ...]
    reach: float  # report the time to first reach this test accuracy


def settings(quick: bool) -> list[Setting]:
    epochs = 3 if quick else 20
    variants = (
        Variant("plain", "plain"),
        Variant("deep linear (L=3)", "dln"),
        Variant("C-DLN (L=3, r̂=16, α=1)", "cdln", 1.0),
        Variant("C-DLN (L=3, r̂=16, α=2)", "cdln", 2.0),
    )
    return [
        Setting(
            "mlp",
            dict(width=512, depth=3, rank_hat=16),
            nl.FitConfig(lr=0.02, epochs=epochs, batch_size=64, optimizer="sgd", record_every=11),
            variants,
            reach=0.95,
        ),
        Setting(
            "vit",
            dict(width=256, dim=64, blocks=2, heads=4, patch=4, depth=3, rank_hat=16),
            nl.FitConfig(lr=3e-3, epochs=epochs, batch_size=64, optimizer="adam", record_every=11),
            variants,
            reach=0.93,
        ),
    ]


def describe(s: Setting) -> str:
    m = ", ".join(f"{k}={v}" for k, v in s.model_kwargs.items() if k not in ("depth", "rank_hat"))
    f = s.fit
    return (
        f"{s.arch.upper()} ({m}); {f.optimizer} η={f.lr}"
        + (f" momentum {f.momentum}" if f.optimizer == "sgd" else "")
        + f", batch {f.batch_size}, {f.epochs} epochs"
    )


def _ci95(values: list[float]) -> float:
    n = len(values)
    return t_quantile(n - 1) * float(np.std(values, ddof=1)) / np.sqrt(n) if n > 1 else float("nan")


def run(setting: Setting, seeds: list[int], data: nl.Digits) -> list[dict]:
    rows = {v.label: dict(acc=[], time=[], reach=[], flags=[], params=None, wide=None) for v in setting.variants}
    for seed in seeds:  # interleaved: every variant once per seed
        for v in setting.variants:
            model = nl.make_model(setting.arch, v.kind, seed=seed, **setting.model_kwargs)
            cfg = dataclasses.replace(setting.fit, lr_ratio=v.lr_ratio)
            res = nl.fit(model, data, cfg, seed=seed)
            modules = dict(model.named_modules())
            r = rows[v.label]
            r["params"] = res.n_params
            r["wide"] = sum(nl.n_params(modules[n]) for n in model.wide_names)
            if res.warnings:  # diverged, or at chance: counted, never averaged in
                r["flags"].append(f"seed {seed}: {'; '.join(res.warnings)}")
                continue
            r["acc"].append(res.test_accuracy)
            r["time"].append(res.seconds)
            r["reach"].append(res.time_to_accuracy(setting.reach))
    out = []
    ref_time = np.mean(rows[setting.variants[1].label]["time"])  # the deep-linear variant
    for v in setting.variants:
        r = rows[v.label]
        reached = [t for t in r["reach"] if t is not None]
        out.append(
            dict(
                arch=setting.arch,
                variant=v.label,
                params=r["params"],
                wide=r["wide"],
                acc_mean=float(np.mean(r["acc"])) if r["acc"] else float("nan"),
                acc_ci95=_ci95(r["acc"]),
                flags=r["flags"],
                time=float(np.mean(r["time"])),
                ratio=float(np.mean(r["time"]) / ref_time),
                reach=float(np.mean(reached)) if reached else None,
                reached=len(reached),
                n=len(r["acc"]),
            )
        )
    return out


def table(rows: list[dict], reach: dict[str, float]) -> str:
    head = (
        "| model | wide layers | params (wide) | test accuracy (95% CI) | train time | time / deep linear "
        "| time to reach | flagged runs |\n|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for r in rows:
        to = f"{r['reach']:.2f} s ({r['reached']}/{r['n']})" if r["reach"] is not None else f"never (0/{r['n']})"
        lines.append(
            f"| {r['arch'].upper()} | {r['variant']} | {r['params']:,} ({r['wide']:,}) "
            f"| {r['acc_mean']:.4f} ± {r['acc_ci95']:.4f} | {r['time']:.2f} s | {r['ratio']:.2f} "
            f"| {reach[r['arch']]:.2f}: {to} | {'; '.join(r['flags']) or 'none'} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="3 epochs, 2 seeds: a smoke run")
    ap.add_argument("--arch", choices=["mlp", "vit", "both"], default="both")
    ap.add_argument("--out", help="also write the table (markdown) to this file")
    args = ap.parse_args()
    seeds = list(range(2 if args.quick else args.seeds))
    data = nl.load_digits(seed=0)
    chosen = [s for s in settings(args.quick) if args.arch in (s.arch, "both")]
    rows, reach, notes = [], {}, []
    tic = time.perf_counter()
    for s in chosen:
        rows += run(s, seeds, data)
        reach[s.arch] = s.reach
        notes.append(f"- {describe(s)}")
    total = time.perf_counter() - tic
    md = table(rows, reach)
    header = (
        f"Digits (scikit-learn, 1347 train / 450 test), seeds {seeds[0]}–{seeds[-1]}, mean ± the half-width of "
        f"its 95% t-interval over the seeds that were not flagged (diverged, or accuracy at chance). "
        f"Train time: optimization only, mean over seeds, 1 torch thread; 'time to reach': mean time to the "
        f"first record (every 11 steps) at that test accuracy, over the seeds that reached it.\n"
        + "\n".join(notes)
        + f"\n- torch {torch.__version__}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; "
        f"whole run {total:.0f} s"
    )
    print(header + "\n\n" + md)
    if args.out:
        with open(args.out, "w") as f:
            f.write(
                "# Beyond linear: plain vs deep-linear vs C-DLN layers (measured)\n\n"
                "Command: `.venv/bin/python benchmarks/bench_nonlinear.py --out benchmarks/RESULTS_nonlinear.md`\n\n"
                + header
                + "\n\n"
                + md
                + "\n"
            )


if __name__ == "__main__":
    main()
