"""Sweeps over adapters, sample sizes, ranks and seeds; and the compressed Deep LoRA against the wide one.

- ``sweep``: ``fit`` for every kind × value × seed, one row per run, with the run's ``warnings``
  (divergence, a rising training loss, accuracy at chance);
- ``summarize``: mean, standard deviation and a 95% interval over seeds per (kind, value), leaving
  out flagged runs and saying how many were left out (never averaged in silently);
- ``compressed_tracks_wide``: the compressed Deep LoRA (bases from the first batch's gradient) and
  the wide one it compresses, trained side by side from the same wide init;
- ``compressed_gap``: where the compressed one falls behind, against γ: exact on whitened inputs at
  γ = 0, off on real inputs (the bases fitted at step 0 stop spanning the wide update), closer when
  the bases may move (γ > 0).

Reference: [Y] Yaras et al., ICML 2024 (arXiv 2406.04112), §3 (compression), §5 (Deep LoRA).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from ..checks import check_choice, check_int, check_number
from ..loop import LoopConfig, StepRecord, run
from ..seeds import check_seed, generator
from ..threads import use
from .adapters import KINDS
from .attach import adapters, add_adapters, fit_compressed, param_groups
from .fit import FitConfig, check_rank, fit
from .tasks import Task, loss_fn

__all__ = ["VARY", "sweep", "summarize", "t_quantile", "compressed_tracks_wide", "compressed_gap"]

VARY = ("samples", "rank")

# Student's t, 97.5% quantile, for 1…30 degrees of freedom (beyond: the normal 1.96)
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t_quantile(df: int) -> float:
    """The two-sided 95% quantile of Student's t with ``df`` ≥ 1 degrees of freedom."""
    return _T975[check_int("df", df, 1) - 1] if df <= len(_T975) else 1.96


def sweep(
    make_task: Callable[[int, int], Task],
    values: Sequence[int],
    vary: str,
    kinds: Sequence[str],
    seeds: Sequence[int],
    cfg: FitConfig,
    *,
    fixed: int,
    rtol: float = 1e-2,
) -> list[dict]:
    """Run ``fit`` for every kind × value × seed.

    make_task(n, seed) builds the task with n samples (or shots). vary: "samples" (values are N,
    the rank is cfg.rank) or "rank" (values are ranks, N = ``fixed``). Every argument, and every rank
    against the task's layers, is checked before the first run. Returns one row per run: kind,
    samples, rank, seed, train, test (final), best_test (lowest over the records), rel_test (final
    test over the pretrained model's: below 1 the adaptation helped), accuracy (final,
    classification), update_rank (mean over layers), n_trainable, seconds, stop_reason,
    diverged_step, warnings (a list, empty for a clean run); with a validation set also val_best_step,
    test_at_val_best and accuracy_at_val_best (early stopping chosen on validation; None without one).
    ``best_test`` picks its step on the test set itself: an optimistic bound, not a result.
    """
    check_choice("vary", vary, VARY)
    values = [check_int("values", v, 1) for v in values]
    kinds = [check_choice("kinds", k, KINDS) for k in kinds]
    seeds = [check_seed(s, "seeds") for s in seeds]
    if not (values and kinds and seeds):
        raise ValueError("values, kinds and seeds must be non-empty sequences")
    check_int("fixed", fixed, 0 if vary == "samples" else 1)
    check_number("rtol", rtol, low=0.0, low_open=True)
    plan = [(kind, v, *((v, cfg.rank) if vary == "samples" else (fixed, v))) for kind in kinds for v in values]
    configs = {(kind, rank): replace(cfg, kind=kind, rank=rank) for kind, _, _, rank in plan}
    probe = make_task(plan[0][2], seeds[0])
    for c in configs.values():
        check_rank(probe, c)
    rows = []
    for kind, _, n, rank in plan:
        for seed in seeds:
            res = fit(make_task(n, seed), configs[kind, rank], seed=seed)
            ranks = list(res.update_ranks(rtol).values())
            last, test, early = res.records[-1], res.test_loss, res.val_best
            rows.append({
                "kind": kind, "samples": n, "rank": rank, "seed": seed,
                "train": last.train_loss, "test": last.test_loss, "best_test": float(np.nanmin(test)),
                "rel_test": last.test_loss / test[0], "accuracy": last.test_accuracy,
                "update_rank": float(np.mean(ranks)), "n_trainable": res.n_trainable, "seconds": res.seconds,
                "stop_reason": res.stop_reason, "diverged_step": res.diverged_step, "warnings": list(res.warnings),
                "val_best_step": None if early is None else early.step,
                "test_at_val_best": None if early is None else early.test_loss,
                "accuracy_at_val_best": None if early is None else early.test_accuracy,
            })
    return rows


def summarize(rows: list[dict], by: str, metrics: Sequence[str] = ("train", "test", "update_rank"), *,
              include_flagged: bool = False) -> list[dict]:
    """Statistics over seeds, per (kind, ``by``): rows with keys kind, ``by``, n_seeds (the runs
    averaged), n_flagged and flagged (seed → warnings of the runs left out), and ``<metric>_mean``,
    ``<metric>_std``, ``<metric>_ci95`` (half-width of the 95% t-interval of the mean; 0 for one run,
    NaN when no run is left). Flagged runs are left out unless ``include_flagged``."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["kind"], r[by]), []).append(r)
    out = []
    for (kind, v), rs in groups.items():
        flagged = {r["seed"]: r["warnings"] for r in rs if r.get("warnings")}
        kept = rs if include_flagged else [r for r in rs if not r.get("warnings")]
        row = {"kind": kind, by: v, "n_seeds": len(kept), "n_flagged": len(flagged), "flagged": flagged}
        for m in metrics:
            vals = np.array([np.nan if r[m] is None else r[m] for r in kept], dtype=float)
            n = len(vals)
            std = float(vals.std(ddof=1)) if n > 1 else (0.0 if n else math.nan)
            row[f"{m}_mean"] = float(vals.mean()) if n else math.nan
            row[f"{m}_std"] = std
            row[f"{m}_ci95"] = t_quantile(n - 1) * std / math.sqrt(n) if n > 1 else std
        out.append(row)
    return out


@dataclass(frozen=True, kw_only=True)
class _TrackRecord(StepRecord):
    wide_test: float
    compressed_test: float
    rel_gap: float


def compressed_tracks_wide(
    task: Task, *, rank_hat: int = 4, lr: float = 1.0, steps: int = 200, outer_lr_ratio: float = 0.0,
    init_scale: float = 0.1, depth: int = 3, seed: int = 0, record_every: int = 10,
) -> dict:
    """Train the wide Deep LoRA (depth L) and its compression side by side from the same wide init.

    Both use plain gradient descent (the setting of the exactness claim of [Y] §3) with step lr on
    the task's loss, from ε = ``init_scale`` (larger than Deep LoRA's 1e-3, so that plain gradient
    descent leaves the saddle at 0 within a few hundred steps; Adam is not rotation-equivariant and
    breaks the exact correspondence). Returns {"steps", "wide_test", "compressed_test", "rel_gap",
    "stop_reason", "diverged_step"}, rel_gap[t] = ‖ΔW_c(t) − P(ΔW_wide(t))‖_F / ‖P(ΔW_wide(t))‖_F for
    the first adapted layer, P the projection on the compressed adapter's bases at init
    (``CompressedDeepLoRA.project``); it stays at rounding level for γ = 0 with whitened inputs.
    """
    check_int("steps", steps, 1)
    loss = loss_fn(task.loss)
    X, Y = task.X_train, task.Y_train
    target = task.targets[:1]
    compressed = copy.deepcopy(task.model)
    add_adapters(compressed, "deep_compressed", rank=rank_hat, generator=generator(check_seed(seed), "adapter"),
                 targets=target, init_scale=init_scale, depth=depth, outer_lr_ratio=outer_lr_ratio)
    fit_compressed(compressed, lambda mod: loss(mod(X), Y))
    comp = next(iter(adapters(compressed).values()))
    wide = copy.deepcopy(task.model)
    add_adapters(wide, "deep_wide", rank=1, generator=torch.Generator(), targets=target, init_scale=init_scale,
                 depth=depth)
    wad = next(iter(adapters(wide).values()))
    with torch.no_grad():  # the wide init the compression was computed from
        for W, W0 in zip(wad.Ws, comp.wide_init(), strict=True):
            W.copy_(W0)
    opts = [torch.optim.SGD(param_groups(m, lr)) for m in (compressed, wide)]

    def evaluate(t: int) -> float:
        total = 0.0
        for m, o in zip((compressed, wide), opts):
            o.zero_grad()
            value = loss(m(X), Y)
            value.backward()
            total += float(value.detach())
        return total

    def update(t: int) -> None:
        for o in opts:
            o.step()

    def record(t: int, value: float, wall: float) -> _TrackRecord:
        with torch.no_grad():
            proj = comp.project(wad.delta())
            return _TrackRecord(
                step=t, train_loss=value, wall_time=wall, wide_test=float(loss(wide(task.X_test), task.Y_test)),
                compressed_test=float(loss(compressed(task.X_test), task.Y_test)),
                rel_gap=float(torch.linalg.norm(comp.delta() - proj) / torch.linalg.norm(proj)),
            )

    with use(1):
        records, outcome = run(evaluate, update, record, LoopConfig(steps=steps, record_every=record_every))
    out = {key: [getattr(r, name) for r in records] for key, name in
           (("steps", "step"), ("wide_test", "wide_test"), ("compressed_test", "compressed_test"),
            ("rel_gap", "rel_gap"))}
    return {**out, "stop_reason": outcome.reason, "diverged_step": outcome.diverged_step}


def compressed_gap(task: Task, outer_lr_ratios: Sequence[float], **kwargs) -> list[dict]:
    """``compressed_tracks_wide`` at each γ in ``outer_lr_ratios`` (other arguments as there). One row
    per γ: outer_lr_ratio, rel_gap_final, rel_gap_max, test_ratio (the compressed final test loss
    over the wide one: 1 means no loss from compressing), stop_reason, diverged_step."""
    rows = []
    for gamma in outer_lr_ratios:
        out = compressed_tracks_wide(task, outer_lr_ratio=check_number("outer_lr_ratios", gamma, low=0.0), **kwargs)
        rows.append({"outer_lr_ratio": float(gamma), "rel_gap_final": out["rel_gap"][-1],
                     "rel_gap_max": max(out["rel_gap"]),
                     "test_ratio": out["compressed_test"][-1] / out["wide_test"][-1],
                     "stop_reason": out["stop_reason"], "diverged_step": out["diverged_step"]})
    return rows
