"""The beyond-linear comparison as a reader sees it: a Markdown table and the verdicts, rendered from
the results document that ``benchmarks/bench_nonlinear.py`` writes (``cdln.nonlinear/1``).

The verdicts follow [K] §6's three claims on the MLP:

- *deep linear is more accurate than plain*: the paired per-seed difference (deep linear − plain) of
  test accuracy at the early-stopping record; "holds" when its 95% interval lies above 0, "holds
  partly" when it is positive but the interval reaches 0, else "does not hold here";
- *the C-DLN keeps the deep-linear accuracy*: the C-DLN arm with the best mean **validation**
  accuracy (never chosen on test) against deep linear, paired per seed; "holds" when the 95% interval
  of the difference excludes a loss of more than 1 point, "does not hold here" when it lies wholly
  below −1 point, else "holds partly" (the runs cannot tell a kept accuracy from a lost point or more);
- *at a fraction of the time*: the C-DLN's optimization time per epoch over the deep-linear one's,
  in the same run; "holds" below ½ ([K]'s "more than 2×"), "holds partly" below 1, else "does not
  hold here". Also printed: the time per step of the bare layers at a larger width, where the
  multiply-adds, not the per-operation overhead, set the time.

Reference: [K] Kwon et al., AISTATS 2024 (arXiv 2311.05061), §6 (FashionMNIST MLP: plain 0.894 / 155 s,
deep linear 0.902 / 260 s, C-DLN 0.901 / 115 s).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

__all__ = ["SCHEMA", "PAPER", "load", "best_cdln", "verdicts", "table", "render"]

SCHEMA = "cdln.nonlinear/1"
PAPER = {"plain": (0.894, 155.0), "dln": (0.902, 260.0), "cdln": (0.901, 115.0)}  # accuracy, seconds


def load(path: str | Path) -> dict:
    """A saved results document (a ValueError when it is not ``cdln.nonlinear/1``)."""
    doc = json.loads(Path(path).read_text())
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise ValueError(f"{path} is not a {SCHEMA} document")
    return doc


def _arm(doc: dict, kind: str) -> dict:
    return next(s for s in doc["summary"] if s["kind"] == kind)


def best_cdln(doc: dict) -> dict:
    """The C-DLN arm with the highest mean validation accuracy (the test split plays no part)."""
    arms = [s for s in doc["summary"] if s["kind"] == "cdln" and s["n"] > 0]
    if not arms:
        raise ValueError("no C-DLN arm has an unflagged run")
    return max(arms, key=lambda s: s["val"])


def _pts(x: float) -> str:
    return f"{100 * x:+.1f}"


def verdicts(doc: dict) -> list[dict]:
    """The three claims: id, verdict, sentence (with our numbers and the paper's)."""
    pair = {(p["a"], p["b"]): p for p in doc["paired"]}
    plain, dln, cdln = _arm(doc, "plain"), _arm(doc, "dln"), best_cdln(doc)
    d1 = pair[dln["arm"], plain["arm"]]
    v1 = ("holds" if d1["resolved"] and d1["diff"] > 0 else "holds partly" if d1["diff"] > 0
          else "does not hold here")
    d2 = pair[cdln["arm"], dln["arm"]]
    low, high = d2["diff"] - d2["ci95"], d2["diff"] + d2["ci95"]
    v2 = "holds" if low >= -0.01 else "does not hold here" if high < -0.01 else "holds partly"
    ratio = cdln["seconds_per_epoch"] / dln["seconds_per_epoch"]
    v3 = "holds" if ratio < 0.5 else "holds partly" if ratio < 1 else "does not hold here"
    steps = {(s["width"], s["arm"]): s["ms"] for s in doc.get("step_times", [])}
    wide = max((w for w, _ in steps), default=None)
    at_wide = ""
    if wide is not None and (wide, cdln["arm"]) in steps and (wide, dln["arm"]) in steps:
        at_wide = (f"; at width {wide} one training step of the bare MLP takes {steps[wide, cdln['arm']]:.2f} ms "
                   f"with the C-DLN against {steps[wide, dln['arm']]:.2f} ms with deep linear "
                   f"({steps[wide, cdln['arm']] / steps[wide, dln['arm']]:.2f}×)")
    n = d1["n"]
    return [
        {"id": "mlp-deep-linear-better", "verdict": v1, "sentence":
            f"Deep linear − plain: {_pts(d1['diff'])} ± {100 * d1['ci95']:.1f} points over {n} paired seeds "
            f"(deep linear {dln['test']:.3f} ± {dln['test_ci95']:.3f}, plain {plain['test']:.3f} ± "
            f"{plain['test_ci95']:.3f}); [K] on FashionMNIST: +0.8 points (0.902 vs 0.894)."},
        {"id": "mlp-cdln-keeps-accuracy", "verdict": v2, "sentence":
            f"Best C-DLN on validation ({cdln['arm']}) − deep linear: {_pts(d2['diff'])} ± {100 * d2['ci95']:.1f} "
            f"points over {d2['n']} paired seeds ({cdln['test']:.3f} ± {cdln['test_ci95']:.3f}, "
            f"{cdln['params']:,} parameters against {dln['params']:,}); [K]: −0.1 points (0.901 vs 0.902)."},
        {"id": "mlp-cdln-time", "verdict": v3, "sentence":
            f"C-DLN time per epoch / deep linear: {ratio:.2f} ({cdln['seconds_per_epoch']:.2f} s against "
            f"{dln['seconds_per_epoch']:.2f} s, one thread){at_wide}; [K]: 115 s / 260 s = 0.44."},
    ]


def _ci(mean: float, half: float) -> str:
    if not math.isfinite(mean):
        return "—"
    return f"{mean:.3f}" + (f" ± {half:.3f}" if math.isfinite(half) else " (one run)")


def table(doc: dict) -> str:
    """One row per arm: wide layer, parameters, tuned η (grid size), test and validation accuracy
    (mean ± 95% half-width over unflagged seeds), the mean early-stopping epoch, seconds per epoch,
    the ratio to deep linear, and the flagged runs by seed."""
    dln = _arm(doc, "dln")
    lines = ["| wide layer | params | η (of grid) | test accuracy | val accuracy | best epoch | s / epoch "
             "| / deep linear | runs | flagged |", "|---|---|---|---|---|---|---|---|---|---|"]
    for s in doc["summary"]:
        ratio = s["seconds_per_epoch"] / dln["seconds_per_epoch"]
        lines.append(
            f"| {s['arm']} | {s['params']:,} | {s['lr']:g} ({s['n_configs']}) | {_ci(s['test'], s['test_ci95'])} "
            f"| {_ci(s['val'], s['val_ci95'])} | {s['best_epoch']:.0f} | {s['seconds_per_epoch']:.3f} | {ratio:.2f} "
            f"| {s['n']} | {'; '.join(s['flagged']) or 'none'} |")
    return "\n".join(lines)


def _step_table(doc: dict) -> str:
    rows = doc.get("step_times", [])
    if not rows:
        return ""
    widths = sorted({r["width"] for r in rows})
    arms = list(dict.fromkeys(r["arm"] for r in rows))
    ms = {(r["width"], r["arm"]): r["ms"] for r in rows}
    head = "| width d | " + " | ".join(arms) + " |\n|---|" + "---|" * len(arms)
    body = ["| " + str(w) + " | " + " | ".join(f"{ms[w, a]:.2f} ms" if (w, a) in ms else "—" for a in arms) + " |"
            for w in widths]
    return "\n".join([head, *body])


def render(doc: dict) -> str:
    """The Markdown block: setting, table, per-step times, verdicts."""
    d, m, f = doc["data"], doc["model"], doc["fit"]
    head = (f"MNIST-1D ({d['num_samples']:,} signals from generation seed {d['seed']}: {d['sizes']['train']:,} train / "
            f"{d['sizes']['val']:,} validation / {d['sizes']['test']:,} test), MLP {m['in_features']} → {m['width']} "
            f"→ [wide {m['width']}×{m['width']}] → 10, ReLU; {f['optimizer']}, batch {f['batch_size']}, up to "
            f"{f['epochs']} epochs, early stopping on validation (patience {f['patience']} epochs). Each arm's η "
            f"chosen on validation from {doc['lrs']} on tuning seed(s) {doc['tune_seeds']}, then evaluated on seeds "
            f"{doc['seeds']}: test accuracy at the epoch of best validation accuracy, mean ± 95% t-interval. Flagged "
            f"runs (diverged, or at chance) are listed, not averaged. Time: optimization only, one torch thread, "
            f"arms interleaved seed by seed. {doc['machine']}; whole run {doc['total_seconds']:.0f} s.")
    parts = [head, "", table(doc)]
    steps = _step_table(doc)
    if steps:
        parts += ["", f"Time per training step (forward, backward, Adam) of the bare MLP at two widths, batch "
                      f"{f['batch_size']}, median of {doc.get('step_repeats', 5)} interleaved repeats:", "", steps]
    parts += ["", "Verdicts on [K] §6's claims (FashionMNIST MLP there, MNIST-1D here):", ""]
    parts += [f"- **{v['id']}**: {v['verdict']}. {v['sentence']}" for v in verdicts(doc)]
    return "\n".join(parts)
