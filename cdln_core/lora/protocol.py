"""A fair comparison of adapters: tune each on validation, then test with early stopping on validation.

One protocol for every method, so that a difference between LoRA and Deep LoRA is not a difference in
how much each was tuned:

1. ``tune``: every configuration of a stated grid (``FitConfig`` field → values, e.g. the learning
   rate, and LoRA's α) is fitted on *tuning* seeds; the one with the lowest mean validation loss (at
   its best step) wins. The test set is never read.
2. ``compare``: each kind, at its tuned configuration, is fitted on *evaluation* seeds (disjoint from
   the tuning ones); a run reports its test loss at the step chosen on validation (early stopping).
   The rows go to ``sweeps.summarize`` for the mean, the 95% interval and the flagged runs.

The tasks must carry a validation set (``teacher_student(n_val=...)``, ``digits(val_shots=...)``).

Reference: [Y] Yaras et al., ICML 2024 (arXiv 2406.04112), §5 (its own protocol is ``FitConfig.paper``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields, replace

import numpy as np

from ..checks import check_choice, check_int
from ..seeds import check_seed
from .adapters import KINDS
from .fit import FitConfig, check_rank, fit
from .tasks import Task

__all__ = ["tune", "compare"]

_FIELDS = {f.name for f in fields(FitConfig)} - {"kind"}


def _configs(cfg: FitConfig, grid: Mapping[str, Sequence]) -> list[FitConfig]:
    unknown = sorted(set(grid) - _FIELDS)
    if unknown or not grid or any(len(v) == 0 for v in grid.values()):
        raise ValueError(f"grid must map FitConfig fields ({', '.join(sorted(_FIELDS))}) to non-empty value lists, "
                         f"got {dict(grid)!r}")
    names = list(grid)
    return [replace(cfg, **dict(zip(names, values))) for values in itertools.product(*(grid[n] for n in names))]


def _seeds(seeds: Sequence[int], name: str) -> list[int]:
    out = [check_seed(s, name) for s in seeds]
    if not out:
        raise ValueError(f"{name} must be a non-empty sequence of seeds")
    return out


def tune(make_task: Callable[[int, int], Task], n: int, cfg: FitConfig, grid: Mapping[str, Sequence],
         seeds: Sequence[int]) -> tuple[FitConfig, list[dict]]:
    """The configuration of ``grid`` (applied on top of ``cfg``) with the lowest mean validation loss
    over ``seeds``, and the table of every configuration tried (its grid values, val_loss mean over
    seeds, n_flagged). A run with warnings counts as an infinite validation loss."""
    check_int("n", n, 1)
    seeds = _seeds(seeds, "seeds")
    configs = _configs(cfg, grid)
    probe = make_task(n, seeds[0])
    if probe.X_val is None:
        raise ValueError("make_task must build tasks with a validation set (teacher_student(n_val=...), "
                         "digits(val_shots=...)) to tune on")
    for c in configs:
        check_rank(probe, c)
    table = []
    for c in configs:
        losses, flagged = [], 0
        for s in seeds:
            res = fit(make_task(n, s), c, seed=s)
            best = res.val_best
            bad = bool(res.warnings) or best is None or not math.isfinite(best.val_loss)
            flagged += bad
            losses.append(math.inf if bad else best.val_loss)
        table.append({**{k: getattr(c, k) for k in grid}, "val_loss": float(np.mean(losses)), "n_flagged": flagged})
    best = min(range(len(configs)), key=lambda i: table[i]["val_loss"])  # ties: the first in grid order
    return configs[best], table


def compare(make_task: Callable[[int, int], Task], n: int, kinds: Sequence[str], cfg: FitConfig,
            grids: Mapping[str, Mapping[str, Sequence]], *, tune_seeds: Sequence[int],
            seeds: Sequence[int]) -> list[dict]:
    """Tune every kind on ``tune_seeds`` over its grid (``grids[kind]``), then fit it at the chosen
    configuration on ``seeds`` (disjoint from ``tune_seeds``). One row per (kind, seed): kind,
    samples, seed, the chosen grid values, n_configs (the tuning budget), val_best_step, test (at the
    step chosen on validation), final_test, accuracy (at that step), update_rank (at the end), warnings."""
    kinds = [check_choice("kinds", k, KINDS) for k in kinds]
    tune_seeds, seeds = _seeds(tune_seeds, "tune_seeds"), _seeds(seeds, "seeds")
    if set(tune_seeds) & set(seeds):
        raise ValueError(f"tune_seeds and seeds must be disjoint, both hold {sorted(set(tune_seeds) & set(seeds))}")
    missing = [k for k in kinds if k not in grids]
    if missing:
        raise ValueError(f"grids must hold a grid for every kind, missing {missing}")
    rows = []
    for kind in kinds:
        chosen, table = tune(make_task, n, replace(cfg, kind=kind), grids[kind], tune_seeds)
        for s in seeds:
            res = fit(make_task(n, s), chosen, seed=s)
            early = res.val_best
            rows.append({
                "kind": kind, "samples": n, "seed": s, **{k: getattr(chosen, k) for k in grids[kind]},
                "n_configs": len(table), "val_best_step": None if early is None else early.step,
                "test": math.nan if early is None else early.test_loss, "final_test": res.final_test,
                "accuracy": None if early is None else early.test_accuracy,
                "update_rank": float(np.mean(list(res.update_ranks().values()))), "warnings": list(res.warnings),
            })
    return rows
