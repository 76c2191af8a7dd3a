"""Figures of a photograph completed by a DLN and a C-DLN (notebook 04, "A real photograph").

- ``photo_frames``: the frames side by side, observed pixels (the others light blue) | each network's E |
  the original, at one record (a live figure streams it); ``animate=True`` adds plotly's own slider and
  play button over the records, which also works in a static page;
- ``photo_staircases``: E's top-k singular values rising one at a time against the image's own σ_i
  (dotted), one panel per network, log y (the staircase of ``dynamics.staircases``);
- ``photo_spectrum``: the whole spectrum, σ_i of the image against i, beside each network's final
  σ_i(E): how far down the image's spectrum each got (a C-DLN's E has rank ≤ r̂).

Pure functions of data: a ``problems.Completion`` (Φ and Ω) and, per network, its training
``Record``s kept with their factors (``photograph.complete`` keeps them). Fixed traces for given
names and k, so a ``FigureWidget`` updates in place. Reference: [K] §5; [Y] §3.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from ..dln import end_to_end
from .dynamics import LOG, _log_axis, staircases
from .theme import COLORS, DASH, LINE_WIDTH, color, figure, subplots

__all__ = ["photo_frames", "photo_staircases", "photo_spectrum"]

_KINDS = {"DLN": "dln", "C-DLN": "cdln"}
_HIDDEN = "#9ecae1"  # light blue: no gray level, so an unobserved pixel never reads as a pixel


def _frame(records: Sequence, i: int, d: int) -> tuple[np.ndarray, int | None]:
    """E (d, d) at record i (clipped to the last one) and its step; NaN before the run has a record."""
    if not records:
        return np.full((d, d), np.nan), None
    rec = records[min(i, len(records) - 1)] if i >= 0 else records[i]
    if rec.factors is None:
        raise ValueError("the records must keep their factors (TrainConfig(keep_factors=True))")
    return np.asarray(end_to_end(rec.factors), dtype=float), rec.step


def _heatmaps(problem, runs: Mapping[str, Sequence], i: int) -> tuple[list[go.Heatmap], list[str]]:
    Phi = problem.Phi.numpy()  # (d, d)
    seen = np.where(problem.mask.numpy() > 0, Phi, np.nan)  # unobserved pixels left blank
    lo, hi = float(Phi.min()), float(Phi.max())
    panes, titles = [seen], [f"observed pixels (p = {problem.observed:.2g})"]
    for name, records in runs.items():
        E, step = _frame(records, i, problem.d)
        panes.append(E)
        titles.append(name if step is None else f"{name}, step {step:,}")
    panes.append(Phi)
    titles.append("original")
    style = dict(colorscale="gray", zmin=lo, zmax=hi, showscale=False, hoverinfo="skip")
    return [go.Heatmap(z=z.astype(np.float32), **style) for z in panes], titles  # float32: half the bytes


def photo_frames(problem, runs: Mapping[str, Sequence], *, at: int = -1, animate: bool = False,
                 max_frames: int = 20, title: str | None = "Filling in the photograph") -> go.Figure:
    """Observed pixels | E of each run (``{"DLN": records, "C-DLN": records}``) at record ``at`` | the
    original, in one row of grayscale images. With ``animate``, plotly frames at about ``max_frames``
    evenly spaced records (and the last), a slider and a play button under the images: they work in a
    static page too (about 2·max_frames·d² float32 numbers in the figure)."""
    traces, titles = _heatmaps(problem, runs, at)
    n = len(traces)
    fig = subplots(1, n, titles=titles, title=title, height=400, horizontal_spacing=0.02)
    fig.update_layout(plot_bgcolor=_HIDDEN)  # the unobserved pixels (NaN) show the background
    for j, trace in enumerate(traces):
        fig.add_trace(trace, row=1, col=j + 1)
    fig.update_xaxes(showticklabels=False, showgrid=False, ticks="", constrain="domain")
    fig.update_yaxes(showticklabels=False, showgrid=False, ticks="", autorange="reversed")
    for j in range(n):  # square pixels in every panel
        fig.update_yaxes(scaleanchor=f"x{j + 1 if j else ''}", row=1, col=j + 1)
    if animate:
        _animate(fig, problem, runs, max_frames)
    return fig


def _animate(fig: go.Figure, problem, runs: Mapping[str, Sequence], max_frames: int) -> None:
    """Add frames at evenly spaced records (only the networks' panels and the titles change) and a slider."""
    count = max((len(r) for r in runs.values()), default=0)
    if count == 0:
        return
    picks = sorted(set(np.linspace(0, count - 1, min(count, max_frames + 1)).round().astype(int).tolist()))
    moving = list(range(1, len(runs) + 1))  # the trace index of each network's panel
    frames, steps = [], []
    for i in picks:
        traces, titles = _heatmaps(problem, runs, i)
        layout = {"annotations": [dict(a.to_plotly_json(), text=t) for a, t in zip(fig.layout.annotations, titles)]}
        frames.append(go.Frame(data=[traces[j] for j in moving], traces=moving, name=str(i), layout=layout))
        step = max(r[min(i, len(r) - 1)].step for r in runs.values() if r)
        steps.append(dict(method="animate", label=f"{step:,}",
                          args=[[str(i)], dict(mode="immediate", frame=dict(duration=0, redraw=True),
                                               transition=dict(duration=0))]))
    fig.frames = frames
    play = dict(label="▶ play", method="animate",
                args=[None, dict(frame=dict(duration=300, redraw=True), fromcurrent=True, transition=dict(duration=0))])
    fig.update_layout(
        height=500,
        sliders=[dict(active=len(picks) - 1, steps=steps, currentvalue=dict(prefix="step "), pad=dict(t=10))],
        updatemenus=[dict(type="buttons", buttons=[play], x=0, y=-0.05, xanchor="left", yanchor="top")],
    )


def photo_staircases(problem, runs: Mapping[str, Sequence], *, k: int = 8,
                     title: str | None = "E's singular values rise one at a time, against the image's") -> go.Figure:
    """σ_1(E) … σ_k(E) over steps (solid) against the image's σ_1 … σ_k (dotted), one panel per run, log y."""
    fig = staircases(runs, problem.sigma[:k].numpy(), title=title)
    values = [problem.sigma[:k].numpy()] + [r.e2e_singular_values[:k] for recs in runs.values() for r in recs]
    return fig.update_yaxes(**_log_axis(*values))


def photo_spectrum(problem, runs: Mapping[str, Sequence], *,
                   title: str | None = "The image's whole spectrum and what each network fits") -> go.Figure:
    """σ_i of the image against i (black), and each run's σ_i(E) at its last record; log y."""
    sigma = problem.sigma.numpy()
    i = np.arange(1, len(sigma) + 1)
    fig = figure(title, xaxis="index i", yaxis="σ_i", height=420)
    fig.add_trace(go.Scatter(x=i, y=sigma, mode="lines+markers", name="image σ_i(Φ)",
                             line=dict(color=COLORS["target"], width=LINE_WIDTH), marker=dict(size=5)))
    shown = [sigma]
    for j, (name, records) in enumerate(runs.items()):
        kind = _KINDS.get(name, name)
        s = np.asarray(records[-1].e2e_singular_values, dtype=float) if records else np.full(len(sigma), np.nan)
        s = np.where(s > 1e-6 * sigma[0], s, np.nan)  # a C-DLN's E has rank r̂: its zeros are rounding
        shown.append(s)
        fig.add_trace(go.Scatter(x=i[: len(s)], y=s, mode="lines", name=f"{name}: σ_i(E) at the end",
                                 line=dict(color=COLORS.get(kind, color(j)), width=LINE_WIDTH,
                                           dash=DASH.get(kind, "solid"))))
    return fig.update_yaxes(**{**LOG, **_log_axis(*shown)})
