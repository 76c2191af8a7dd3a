"""Figures for beyond-linear networks (notebook 06): accuracy races and the low-rank updates.

Pure functions of data (lists of ``nonlinear.FitRecord``, arrays) returning themed ``go.Figure``s with
a fixed set of traces for given inputs, so a live ``FigureWidget`` is updated in place while records
stream in (a run that has not started yet is an empty trace).

- ``accuracy_race``: test accuracy against steps and against seconds of training, one line per
  variant (plain / deep linear / C-DLN), with parameter counts in the legend;
- ``accuracy_vs_time``: final test accuracy against training time, one marker per run (seeds);
- ``update_spectra``: per weight matrix, the effective rank of ΔW_l(t) = W_l(t) − W_l(0) over training,
  and the singular values of the last ΔW_l (normalized by the largest).

Reference: [K] Kwon et al., AISTATS 2024 (arXiv 2311.05061), §6.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from .theme import COLORS, LINE_WIDTH, color, figure, subplots

__all__ = ["accuracy_race", "accuracy_vs_time", "update_spectra", "KIND_LABELS"]

KIND_LABELS = {"plain": "plain", "dln": "deep linear", "cdln": "C-DLN"}
_DASHES = ("solid", "dash", "dot", "dashdot")


def _series(records, name: str) -> np.ndarray:
    return np.array([getattr(r, name) for r in records], dtype=float)


def accuracy_race(
    runs: Mapping[str, Sequence],
    kinds: Mapping[str, str],
    *,
    n_params: Mapping[str, int] | None = None,
    title: str | None = "Test accuracy: per step and per second",
) -> go.Figure:
    """Two panels: test accuracy against steps (left) and against training seconds (right).

    ``runs``: name → records (possibly empty while a run has not started); ``kinds``: name → one of
    ``plain``/``dln``/``cdln`` (the color); two names of the same kind get different dashes.
    """
    fig = subplots(1, 2, titles=["against steps", "against training time"], title=title)
    seen: dict[str, int] = {}
    for name, records in runs.items():
        kind = kinds.get(name, name)
        dash = _DASHES[seen.get(kind, 0) % len(_DASHES)]
        seen[kind] = seen.get(kind, 0) + 1
        legend = name + (f" ({n_params[name]:,} params)" if n_params and name in n_params else "")
        acc = _series(records, "test_accuracy")
        line = dict(color=COLORS.get(kind, color(len(seen))), width=LINE_WIDTH, dash=dash)
        for col, x in ((1, _series(records, "step")), (2, _series(records, "wall_time"))):
            fig.add_trace(
                go.Scatter(x=x, y=acc, mode="lines", name=legend, legendgroup=name, showlegend=col == 1, line=line),
                row=1,
                col=col,
            )
    fig.update_xaxes(title_text="step", row=1, col=1)
    fig.update_xaxes(title_text="seconds of training", row=1, col=2)
    fig.update_yaxes(title_text="test accuracy", range=[0, 1.02], row=1, col=1)
    fig.update_yaxes(range=[0, 1.02], row=1, col=2)
    fig.update_layout(legend=dict(orientation="h", x=0, y=-0.32), margin=dict(b=130), height=520)
    return fig


def accuracy_vs_time(
    results: Mapping[str, Sequence[tuple[float, float]]],
    kinds: Mapping[str, str],
    *,
    title: str | None = "Final test accuracy against training time (one marker per seed)",
    min_span: float = 0.05,
) -> go.Figure:
    """``results``: name → [(seconds, accuracy), …] over seeds. Up and to the left is better.

    The accuracy axis spans at least ``min_span``, so that differences of one or two test images
    (0.2 % each on digits) do not fill the whole height and look like a gap.
    """
    fig = figure(title, xaxis="seconds of training", yaxis="test accuracy")
    for name, pts in results.items():
        pts = np.asarray(pts, dtype=float).reshape(-1, 2)
        fig.add_trace(
            go.Scatter(
                x=pts[:, 0],
                y=pts[:, 1],
                mode="markers",
                name=name,
                marker=dict(size=14, color=COLORS.get(kinds.get(name, name), "#555"), line=dict(width=1)),
            )
        )
    fig.update_xaxes(rangemode="tozero")
    accs = [a for pts in results.values() for _, a in pts]
    if accs:
        lo, hi = min(accs), max(accs)
        pad = max(0.0, min_span - (hi - lo)) / 2 + 0.005
        fig.update_yaxes(range=[lo - pad, min(1.0 + 0.005, hi + pad)])
    return fig


def update_spectra(
    records: Sequence,
    names: Sequence[str],
    *,
    top: int = 40,
    labels: Mapping[str, str] | None = None,
    title: str | None = "The updates ΔW = W(t) − W(0) are low-rank",
) -> go.Figure:
    """Two panels for the weight matrices ``names`` (keys of ``FitRecord.update_sv``):
    left, the effective rank of ΔW_l over training steps, with its ceiling min(m, n) in the legend;
    right, the top ``top`` singular values of the last ΔW_l divided by the largest (log scale, from 1e-4).
    Records without spectra (step 0) are skipped. One color per matrix, fixed trace count 2·len(names).
    """
    fig = subplots(1, 2, titles=["effective rank of ΔW over training", "singular values of the last ΔW"], title=title)
    recs = [r for r in records if r.update_sv and max((float(np.max(r.update_sv[n])) for n in names), default=0) > 0]
    for i, name in enumerate(names):
        dims = len(records[0].update_sv[name]) if records and records[0].update_sv else None
        legend = (labels or {}).get(name, name) + (f" (of {dims})" if dims else "")
        line = dict(color=color(i), width=LINE_WIDTH)
        steps = [r.step for r in recs]
        erank = [r.update_effective_rank(name) for r in recs]
        fig.add_trace(
            go.Scatter(x=steps, y=erank, mode="lines+markers", name=legend, legendgroup=name, line=line),
            row=1,
            col=1,
        )
        s = np.asarray(recs[-1].update_sv[name])[:top] if recs else np.array([])
        s = s / s[0] if s.size and s[0] > 0 else s
        fig.add_trace(
            go.Scatter(
                x=np.arange(1, s.size + 1),
                y=s,
                mode="lines+markers",
                name=legend,
                legendgroup=name,
                showlegend=False,
                line=line,
            ),  # fmt: skip
            row=1,
            col=2,
        )
    fig.update_xaxes(title_text="step", row=1, col=1)
    fig.update_yaxes(title_text="effective rank", rangemode="tozero", row=1, col=1)
    fig.update_xaxes(title_text="index i", row=1, col=2)
    # floor at 1e-4: an exactly rank-deficient direction (the output layer's, under cross-entropy) would
    # otherwise squash the others into the top of the panel
    fig.update_yaxes(title_text="σ_i(ΔW) / σ_1(ΔW)", type="log", range=[-4, 0.1], row=1, col=2)
    fig.update_layout(legend=dict(orientation="h", x=0, y=-0.32), margin=dict(b=130), height=520)
    return fig
