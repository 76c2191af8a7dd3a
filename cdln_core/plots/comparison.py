"""Figures that compare runs: several models, or one model over a swept parameter (notebooks 03–04).

- ``error_curves``: recovery error against iterations and against seconds, one line per model;
- ``sweep``: a quantity (iterations to converge, final error) against a swept parameter (α, p, m);
- ``losses``: training vs test loss per run (depth and generalization in completion).

Pure functions of data (lists of training ``Record``s), themed like the rest of the series.
Reference: [K] §4–§5 (DLN vs C-DLN, the α ablation); [Y] §3 (compressed completion).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from .dynamics import LOG, _log_axis, _steps, mark_diverged
from .theme import COLORS, DASH, LINE_WIDTH, color, figure, subplots

__all__ = ["error_curves", "sweep", "losses"]


def error_curves(
    runs: Mapping[str, Sequence],
    *,
    metric: str = "recovery_error",
    kinds: Mapping[str, str] | None = None,
    n_params: Mapping[str, int] | None = None,
    diverged: Mapping[str, int | None] | None = None,
    seconds: bool = True,
    title: str | None = "Recovery error: against iterations and against seconds",
    ylabel: str = "‖E − Φ‖_F / ‖Φ‖_F",
) -> go.Figure:
    """One line per run (``{"DLN": records, "C-DLN": records}``), log y, against steps and (if
    ``seconds``) against wall-clock seconds. ``kinds`` maps a run to a model kind for its color;
    ``n_params`` adds the parameter count to the legend."""
    kinds = kinds or {}
    fig = (
        subplots(1, 2, titles=("against iterations", "against wall-clock seconds"), title=title)
        if seconds
        else figure(title, xaxis="step t", yaxis=ylabel)
    )
    shown = []
    for j, (name, records) in enumerate(runs.items()):
        kind = kinds.get(name, name)
        c = COLORS.get(kind, color(j))
        legend = name if not n_params or name not in n_params else f"{name} ({n_params[name]:,} params)"
        y = np.array([getattr(r, metric) for r in records], dtype=float)
        shown.append(y)
        cols = [(1, _steps(records))]
        if seconds:
            cols.append((2, np.array([r.wall_time for r in records], dtype=float)))
        for col, x in cols:
            trace = go.Scatter(
                x=x,
                y=y,
                mode="lines",
                line=dict(color=c, width=LINE_WIDTH, dash=DASH.get(kind, "solid")),
                name=legend,
                legendgroup=name,
                showlegend=col == 1,
            )
            if seconds:
                fig.add_trace(trace, row=1, col=col)
            else:
                fig.add_trace(trace)
        step = (diverged or {}).get(name)
        if step is not None:
            mark_diverged(fig, step, **({"row": 1, "col": 1} if seconds else {}))
    fig.update_yaxes(**_log_axis(*shown))
    if seconds:
        fig.update_xaxes(title_text="step t", row=1, col=1)
        fig.update_xaxes(title_text="seconds", row=1, col=2)
        fig.update_yaxes(title_text=ylabel, row=1, col=1)
    return fig


def sweep(
    x: Sequence[float],
    series: Mapping[str, Sequence[float | None]],
    *,
    kinds: Mapping[str, str] | None = None,
    xlabel: str = "α",
    ylabel: str = "iterations to converge",
    log_x: bool = False,
    log_y: bool = False,
    title: str | None = None,
) -> go.Figure:
    """A quantity against a swept parameter, one line with markers per series; a series of one
    value is drawn as a horizontal reference (e.g. the DLN, which has no α to sweep). None = not reached."""
    kinds = kinds or {}
    fig = figure(title, xaxis=xlabel, yaxis=ylabel)
    xs = np.asarray(x, dtype=float)
    for j, (name, ys) in enumerate(series.items()):
        kind = kinds.get(name, name)
        c = COLORS.get(kind, color(j))
        ys = np.array([np.nan if v is None else v for v in ys], dtype=float)
        if len(ys) == 1:
            fig.add_trace(
                go.Scatter(
                    x=np.array([xs.min(), xs.max()]),
                    y=np.full(2, ys[0]),
                    mode="lines",
                    line=dict(color=c, width=LINE_WIDTH, dash="dash"),
                    name=name,
                )
            )
        else:
            fig.add_trace(
                go.Scatter(
                    x=xs, y=ys, mode="lines+markers", marker=dict(size=12), line=dict(color=c, width=LINE_WIDTH),
                    name=name,
                )
            )
    fig.update_xaxes(**(LOG if log_x else {"type": "linear"}))
    fig.update_yaxes(**(LOG if log_y else {"type": "linear"}))
    return fig


def losses(
    runs: Mapping[str, Sequence],
    *,
    title: str | None = "Fitting the observed entries is not recovering the matrix",
) -> go.Figure:
    """Per run: training loss (solid) and test loss on the unobserved entries (dashed), log y."""
    fig = figure(title, xaxis="step t", yaxis="loss")
    shown = []
    for j, (name, records) in enumerate(runs.items()):
        x = _steps(records)
        c = color(j)
        train = np.array([r.train_loss for r in records], dtype=float)
        fig.add_trace(
            go.Scatter(x=x, y=train, mode="lines", line=dict(color=c, width=LINE_WIDTH), name=f"{name}: train")
        )
        test = np.array([np.nan if r.test_loss is None else r.test_loss for r in records], dtype=float)
        shown += [train, test]
        fig.add_trace(go.Scatter(x=x, y=test, mode="lines", line=dict(color=c, width=LINE_WIDTH, dash="dash"),
                                 name=f"{name}: test (unobserved)"))
    fig.update_yaxes(**_log_axis(*shown))
    return fig

