"""Figures from sweeps: a metric against one flag (median line, min–max band over seeds), or a heat
map of its median over two flags.

Both take the tidy rows of ``cdln_core.sweeps`` (``read_table``) and return a themed ``go.Figure``.

Reference: [K] §5 (the α ablation is such a line; depth × ε a map).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from .theme import color, figure

__all__ = ["METRICS", "aggregate", "sweep_line", "sweep_map"]

METRICS = ("converged_step", "final_step", "train_loss", "recovery_error", "test_loss", "wall_time", "n_params",
           "diverged_step")
_LOG_METRICS = {"train_loss", "recovery_error", "test_loss"}


def _check(rows: Sequence[dict], names: Sequence[str]) -> None:
    if not rows:
        raise ValueError("the sweep has no rows")
    for n in names:
        if n not in rows[0]:
            raise ValueError(f"{n!r} is not a column of the sweep; columns: {', '.join(rows[0])}")


def aggregate(rows: Sequence[dict], by: Sequence[str], metric: str) -> dict[tuple, np.ndarray]:
    """metric values over seeds for each combination of the ``by`` columns (None → NaN)."""
    _check(rows, [*by, metric])
    groups: dict[tuple, list[float]] = defaultdict(list)
    for r in rows:
        v = r.get(metric)
        groups[tuple(r[b] for b in by)].append(np.nan if v is None or v == "" else float(v))
    return {k: np.asarray(v) for k, v in sorted(groups.items(), key=lambda kv: [str(x) for x in kv[0]])}


def _stats(v: np.ndarray) -> tuple[float, float, float, int]:
    ok = v[np.isfinite(v)]
    if ok.size == 0:
        return np.nan, np.nan, np.nan, 0
    return float(np.median(ok)), float(ok.min()), float(ok.max()), int(ok.size)


def sweep_line(rows: Sequence[dict], x: str, metric: str, *, group: str | None = None) -> go.Figure:
    """``metric`` against ``x``: the median over seeds and a min–max band, one line per value of
    ``group`` (e.g. model). Runs where the metric is missing (never converged) are left out, and the
    hover says how many seeds are in each point."""
    by = [x] if group is None else [group, x]
    agg = aggregate(rows, by, metric)
    fig = figure(f"{metric} against {x} (median, band: min–max over seeds)", xaxis=x, yaxis=metric)
    lines: dict = defaultdict(list)
    for key, v in agg.items():
        g, xv = (None, key[0]) if group is None else key
        lines[g].append((xv, *_stats(v), v.size))
    for i, (g, pts) in enumerate(lines.items()):
        pts.sort(key=lambda p: p[0])
        xs, med, lo, hi, n_ok, n = zip(*pts)
        c = color(i)
        name = metric if g is None else f"{group}={g}"
        fig.add_trace(go.Scatter(x=list(xs) + list(xs)[::-1], y=list(hi) + list(lo)[::-1], fill="toself",
                                 line={"width": 0}, fillcolor=c, opacity=0.2, hoverinfo="skip", showlegend=False))
        fig.add_trace(go.Scatter(x=xs, y=med, mode="lines+markers", name=name, line={"color": c},
                                 text=[f"{a} of {b} seeds" for a, b in zip(n_ok, n)],
                                 hovertemplate="%{x}: %{y:.4g} (%{text})<extra></extra>"))
    if metric in _LOG_METRICS:
        fig.update_yaxes(type="log", exponentformat="power")
    return fig


def sweep_map(rows: Sequence[dict], x: str, y: str, metric: str) -> go.Figure:
    """A heat map of the median of ``metric`` over seeds, ``x`` across and ``y`` down."""
    agg = aggregate(rows, [y, x], metric)
    xs = sorted({k[1] for k in agg}, key=str)
    ys = sorted({k[0] for k in agg}, key=str)
    z = np.full((len(ys), len(xs)), np.nan)
    for (yv, xv), v in agg.items():
        z[ys.index(yv), xs.index(xv)] = _stats(v)[0]
    log = metric in _LOG_METRICS
    shown = np.log10(z) if log else z
    fig = figure(f"median {metric}{' (log₁₀)' if log else ''} over seeds", xaxis=x, yaxis=y)
    fig.add_trace(go.Heatmap(x=[str(v) for v in xs], y=[str(v) for v in ys], z=shown, colorscale="Viridis",
                             text=np.vectorize(lambda a: f"{a:.3g}")(z), hovertemplate="%{x}, %{y}: %{text}"
                             "<extra></extra>"))
    return fig
