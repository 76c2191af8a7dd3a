"""Several models in one figure, and honest messages about them.

- ``race(stream, fits, draw)`` → ``Race``: several models trained one after the other, every record
  streamed into the same figures (``draw(runs, diverged)``, ``runs`` name → records so far);
- ``stalled(runs)``: the names of runs that learned nothing (the metric ended where it started:
  still on the first plateau, recovery error ≥ 1, accuracy at chance); ``stalled_message``;
- ``verdict(claim, holds, untested=...)``: the message for a claim checked on the runs on screen,
  which never says "holds" when no run exercised it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go

if TYPE_CHECKING:
    from .panel import Stream

__all__ = ["Race", "race", "stalled", "stalled_message", "verdict"]


def _metric(records: Sequence, metric: str) -> np.ndarray:
    return np.array([getattr(r, metric) for r in records], dtype=float)


def stalled(
    runs: Mapping[str, Sequence],
    *,
    metric: str = "recovery_error",
    higher_is_better: bool = False,
    progress: float = 0.05,
) -> list[str]:
    """Names of the runs (name → records) that ended without learning: the last ``metric`` improved
    on the first by less than ``progress`` (a fraction of the first), or is not finite, or (an
    error) ends ≥ 1. A recovery error that stays ≈ 1 means E is still on its first plateau."""
    out = []
    for name, records in runs.items():
        if not records or not hasattr(records[-1], metric):
            continue
        y = _metric(records, metric)
        first, last = y[0], y[-1]
        if not np.isfinite(last):
            out.append(name)
        elif higher_is_better:
            if last - first < progress * abs(first):
                out.append(name)
        elif last > first * (1 - progress) or (metric == "recovery_error" and last >= 1.0):
            out.append(name)
    return out


def stalled_message(names: Sequence[str], runs: Mapping[str, Sequence], *, metric: str = "recovery_error") -> str:
    """One line per stalled run: where it ended and what to change."""
    lines = []
    for name in names:
        last = runs[name][-1]
        value = getattr(last, metric)
        what = "recovery error" if metric == "recovery_error" else metric.replace("_", " ")
        lines.append(
            f"{name} learned nothing in {last.step} steps ({what} {value:.3g}, still on its first plateau): "
            "give it more steps, a larger step size η or a larger init scale ε."
        )
    return "\n".join(lines)


def verdict(claim: str, holds: bool, *, untested: Sequence[str] = (), note: str = "") -> tuple[str, str]:
    """(text, kind) for a claim checked on the runs on screen. With ``untested`` (runs that learned
    nothing) the claim is reported as not tested, never as holding: a race nobody ran proves nothing."""
    tail = f" {note}" if note else ""
    if untested:
        who = " and ".join(untested)
        return f"Not tested: {who} learned nothing, so “{claim}” is neither shown nor refuted here.{tail}", "warning"
    if holds:
        return f"Holds on this run: {claim}.{tail}", "info"
    return f"Does not hold on this run: {claim}.{tail}", "warning"


class Race(dict):
    """Results of ``race``: name → what each fit returned, plus ``runs`` (name → records),
    ``diverged`` (name → step or None), ``diverged_step`` (the first divergence, for the panel) and
    ``warnings`` (runs that learned nothing, in words)."""

    def __init__(self):
        super().__init__()
        self.runs: dict[str, list] = {}
        self.diverged: dict[str, int | None] = {}
        self.warnings: list[str] = []

    @property
    def diverged_step(self) -> int | None:
        return next((s for s in self.diverged.values() if s is not None), None)


def race(
    stream: Stream,
    fits: Mapping[str, Callable[[Callable[[Any], None]], Any]],
    draw: Callable[[dict, dict], go.Figure | Sequence[go.Figure]],
    *,
    total: int | None = None,
    metric: str | None = "recovery_error",
    higher_is_better: bool = False,
) -> Race:
    """Run ``fits`` (name → ``fit(callback)``, e.g. ``lambda cb: train(problem, net, config, callback=cb)``)
    one after the other; each record streams into ``draw(runs, diverged)`` with the finished runs and
    the one in progress. ``total``: each run's step budget, for pacing. Stops at the first divergence
    (the panel says so). ``metric``: the record field ``stalled`` judges (None: no judgement)."""
    result = Race()
    result.runs = {name: [] for name in fits}
    for name, fit in fits.items():
        callback = stream.recorder(lambda recs, name=name: draw({**result.runs, name: recs}, result.diverged),
                                   total=total)
        out = fit(callback)
        result[name] = out
        records = getattr(out, "records", None)
        result.runs[name] = list(records) if records is not None else list(stream.records)
        result.diverged[name] = getattr(out, "diverged_step", None)
        if result.diverged[name] is not None:
            break
    stream.show(lambda: draw(result.runs, result.diverged), final=True)
    if metric is not None and result.diverged_step is None:
        names = stalled(result.runs, metric=metric, higher_is_better=higher_is_better)
        if names:
            result.warnings.append(stalled_message(names, result.runs, metric=metric))
    return result
