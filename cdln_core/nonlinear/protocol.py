"""A fair comparison of wide layers: the same tuning budget per arm, chosen on validation, early
stopping on validation, several seeds, flagged runs named.

One protocol for plain, deep-linear and C-DLN layers ([K] §6), so that a gap in accuracy is not a
gap in how much each was tuned:

1. ``tune``: every learning rate of a stated grid is fitted on *tuning* seeds; the one with the
   highest mean validation accuracy (each run read at its best record) wins, the first in grid order
   on ties. The test split is never read.
2. ``compare``: every arm, at its tuned rate, is fitted on *evaluation* seeds (disjoint from the
   tuning ones), interleaved seed by seed so that load on the machine falls on all arms alike. A
   run reports its test accuracy at the record early stopping picks (``FitResult.val_best``).
3. ``summarize``: per arm, the mean with its 95% t-interval over the runs that were not flagged; a
   run that diverged or ended at chance accuracy (``FitResult.warnings``) is listed by seed, never
   averaged in. ``paired``: the mean per-seed difference of two arms, with its interval.

The data must carry a validation split (``load_mnist1d``). Seeds drive the model's initialization
and the mini-batch order (``make_model``, ``fit``); the data set is the same for every seed.

Reference: [K] Kwon et al., AISTATS 2024 (arXiv 2311.05061), §6.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..checks import check_choice, check_int, check_positive
from ..lora.sweeps import t_quantile
from ..seeds import check_seed
from .data import Digits
from .layers import KINDS
from .models import make_model
from .training import FitConfig, FitResult, fit

__all__ = ["Arm", "fit_arm", "tune", "compare", "summarize", "paired", "interval"]


@dataclass(frozen=True)
class Arm:
    """One variant of the comparison: the wide layer's ``kind`` (``layers.KINDS``), its depth L, r̂
    (C-DLN only), α (the outer factors' step scale) and ε (every factor starts at ε·O_l)."""

    label: str
    kind: str
    depth: int = 3
    rank_hat: int | None = None
    lr_ratio: float = 1.0
    init_scale: float = 1.0

    def __post_init__(self):
        check_choice("kind", self.kind, KINDS)
        check_int("depth", self.depth, 2 if self.kind == "cdln" else 1)
        if self.kind == "cdln":
            check_int("rank_hat", self.rank_hat, 1)
        check_positive("lr_ratio", self.lr_ratio)
        check_positive("init_scale", self.init_scale)


def fit_arm(arm: Arm, data: Digits, cfg: FitConfig, *, seed: int, arch: str = "mlp", **model_kwargs) -> FitResult:
    """Build ``arch`` with ``arm``'s wide layers (``make_model``, input width read from ``data``) and
    fit it on ``data`` with ``cfg`` (α from the arm)."""
    model = make_model(arch, arm.kind, depth=arm.depth, rank_hat=arm.rank_hat, init_scale=arm.init_scale,
                       lr_ratio=arm.lr_ratio, seed=seed, in_features=data.x_train.shape[1], **model_kwargs)
    return fit(model, data, replace(cfg, lr_ratio=arm.lr_ratio), seed=seed)


def _check(data: Digits, seeds: Sequence[int], name: str) -> list[int]:
    if data.x_val is None:
        raise ValueError("data must carry a validation split (load_mnist1d) to tune and stop on")
    out = [check_seed(s, name) for s in seeds]
    if not out:
        raise ValueError(f"{name} must be a non-empty sequence of seeds")
    return out


def _flagged_on_val(res: FitResult, data: Digits) -> bool:
    """Diverged, or at chance on the validation split: what tuning may know (``res.warnings`` judges
    chance on the test split, so tuning must not read it)."""
    best = res.val_best
    chance = float(data.y_val.bincount().max()) / len(data.y_val)
    return (res.diverged_step is not None or best is None or not math.isfinite(best.val_accuracy)
            or not best.val_accuracy > 1.25 * chance)


def tune(arm: Arm, data: Digits, cfg: FitConfig, lrs: Sequence[float], seeds: Sequence[int],
         **model_kwargs) -> tuple[float, list[dict]]:
    """The learning rate of ``lrs`` with the highest mean validation accuracy over ``seeds`` (a run
    that diverged or sits at chance on validation counts as 0), and the table of every rate tried:
    lr, val (mean), n_flagged. Nothing here reads the test split."""
    seeds = _check(data, seeds, "seeds")
    lrs = [check_positive("lrs", lr) for lr in lrs]
    if not lrs:
        raise ValueError("lrs must be a non-empty sequence of learning rates")
    table = []
    for lr in lrs:
        vals = []
        for s in seeds:
            res = fit_arm(arm, data, replace(cfg, lr=lr), seed=s, **model_kwargs)
            vals.append(0.0 if _flagged_on_val(res, data) else res.val_best.val_accuracy)
        table.append({"lr": lr, "val": float(np.mean(vals)), "n_flagged": sum(v == 0.0 for v in vals)})
    best = max(range(len(lrs)), key=lambda i: table[i]["val"])  # max keeps the first of ties
    return lrs[best], table


def _row(arm: Arm, lr: float, seed: int, res: FitResult, per_epoch: int, n_configs: int) -> dict:
    best = res.val_best
    epochs = max(res.records[-1].step, 1) / per_epoch
    return {
        "arm": arm.label, "kind": arm.kind, "seed": seed, "lr": lr, "n_configs": n_configs,
        "params": res.n_params, "flags": list(res.warnings) or ([] if best else ["no validation record"]),
        "val": None if best is None else best.val_accuracy, "test": None if best is None else best.test_accuracy,
        "best_epoch": None if best is None else best.epoch, "final_test": res.test_accuracy,
        "epochs_run": epochs, "seconds": res.seconds, "seconds_per_epoch": res.seconds / epochs,
        "seconds_to_best": None if best is None else best.wall_time,
    }


def compare(arms: Sequence[Arm], data: Digits, cfg: FitConfig, lrs: Sequence[float] | Mapping[str, Sequence[float]],
            *, tune_seeds: Sequence[int], seeds: Sequence[int], **model_kwargs) -> tuple[list[dict], dict]:
    """Tune every arm on ``tune_seeds`` over ``lrs`` (one grid for all, or label → grid), then fit it
    at its chosen rate on ``seeds`` (disjoint from ``tune_seeds``), interleaved seed by seed.
    Returns (rows, tuning): one row per (arm, seed) — arm, seed, lr, params, flags, val and test (at
    the record chosen on validation), best_epoch, final_test, seconds, seconds_per_epoch,
    seconds_to_best — and label → the tuning table."""
    tune_seeds, seeds = _check(data, tune_seeds, "tune_seeds"), _check(data, seeds, "seeds")
    if set(tune_seeds) & set(seeds):
        raise ValueError(f"tune_seeds and seeds must be disjoint, both hold {sorted(set(tune_seeds) & set(seeds))}")
    if len({a.label for a in arms}) != len(arms) or not arms:
        raise ValueError(f"arms must be a non-empty sequence with distinct labels, got {[a.label for a in arms]}")
    grids = {a.label: (lrs[a.label] if isinstance(lrs, Mapping) else lrs) for a in arms}
    chosen, tuning = {}, {}
    for a in arms:
        chosen[a.label], tuning[a.label] = tune(a, data, cfg, grids[a.label], tune_seeds, **model_kwargs)
    per_epoch = -(-len(data.y_train) // cfg.batch_size)
    rows = []
    for s in seeds:
        for a in arms:
            res = fit_arm(a, data, replace(cfg, lr=chosen[a.label]), seed=s, **model_kwargs)
            rows.append(_row(a, chosen[a.label], s, res, per_epoch, len(grids[a.label])))
    return rows, tuning


def interval(values: Sequence[float]) -> tuple[float, float]:
    """(mean, half-width of the 95% t-interval); the half-width is NaN for fewer than two values."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return math.nan, math.nan
    half = t_quantile(v.size - 1) * float(v.std(ddof=1)) / math.sqrt(v.size) if v.size > 1 else math.nan
    return float(v.mean()), half


def summarize(rows: Sequence[dict]) -> list[dict]:
    """Per arm (in first-seen order): n (runs averaged), test and val mean with the 95% half-width,
    seconds, seconds_per_epoch and seconds_to_best (means), params, lr, and ``flagged`` ("seed s:
    why" for every run left out)."""
    out = []
    for label in dict.fromkeys(r["arm"] for r in rows):
        mine = [r for r in rows if r["arm"] == label]
        ok = [r for r in mine if not r["flags"]]
        test, test_ci = interval([r["test"] for r in ok])
        val, val_ci = interval([r["val"] for r in ok])

        def mean(k: str, ok: list[dict] = ok) -> float:
            return float(np.mean([r[k] for r in ok])) if ok else math.nan

        out.append({
            "arm": label, "kind": mine[0]["kind"], "params": mine[0]["params"], "lr": mine[0]["lr"],
            "n_configs": mine[0]["n_configs"], "n": len(ok), "test": test, "test_ci95": test_ci, "val": val,
            "val_ci95": val_ci, "seconds": mean("seconds"), "seconds_per_epoch": mean("seconds_per_epoch"),
            "seconds_to_best": mean("seconds_to_best"), "best_epoch": mean("best_epoch"),
            "flagged": [f"seed {r['seed']}: {'; '.join(r['flags'])}" for r in mine if r["flags"]],
        })
    return out


def paired(rows: Sequence[dict], a: str, b: str, key: str = "test") -> dict:
    """Arm ``a`` minus arm ``b`` on the seeds where neither run is flagged: mean difference of ``key``,
    its 95% half-width, n, and ``resolved`` (the interval excludes 0)."""
    by = {(r["arm"], r["seed"]): r for r in rows}
    seeds = [s for (arm, s) in by if arm == a and (b, s) in by and not by[a, s]["flags"] and not by[b, s]["flags"]]
    mean, half = interval([by[a, s][key] - by[b, s][key] for s in seeds])
    return {"a": a, "b": b, "key": key, "diff": mean, "ci95": half, "n": len(seeds),
            "resolved": bool(math.isfinite(half) and abs(mean) > half)}
