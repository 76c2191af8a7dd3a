"""Figures of the learning dynamics of one deep linear network (notebooks 00–02).

Every builder is a pure function of data (a list of training ``Record``s, arrays, a target's σ) and
returns a themed ``go.Figure`` with a fixed set of traces for given sizes, so a live ``FigureWidget``
is updated in place as records stream in.

- ``staircase``: E's singular values against the target's (incremental learning), with the
  alignment of E's singular vectors with Φ's;
- ``staircases``: the same for several runs side by side (depth 1 vs 2 vs 3);
- ``factor_spectra``: every factor's singular values over time (r rise, r fall, d − 2r flat);
- ``invariance``: principal angles of W_1's active subspace against the predicted one, and ρ(t)
  against its recursion ρ(t+1) = ρ(t) − η'·ρ(t)^{2L−1} (from ``spectra.invariance_series``);

The comparisons of several models (``error_curves``, ``sweep``, ``losses``) are in ``comparison``.

Reference: [Y] §2–§3 and the Law of Parsimony (arXiv 2306.01154); [K] §3–§5.

Streamed figures are rebuilt from all records on every frame: what needs E and an SVD is cached
per record, so a frame costs O(new records) of linear algebra.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from ..dln import end_to_end
from ..spectra import singular_vector_alignment
from .theme import COLORS, LINE_WIDTH, color, figure, subplots

__all__ = [
    "staircase",
    "staircases",
    "factor_spectra",
    "invariance",
    "mark_diverged",
    "alignment_series",
]


# log axes: a label per decade only (plotly adds 2 and 5 between decades, unreadable on a projector)
LOG = {"type": "log", "exponentformat": "power", "dtick": 1}


def _log_axis(*arrays) -> dict:
    """LOG, with a label every k decades so that a wide range keeps about 7 labels."""
    vals = np.concatenate([np.asarray(a, dtype=float).ravel() for a in arrays] or [np.ones(1)])
    vals = vals[np.isfinite(vals) & (vals > 0)]
    decades = np.log10(vals.max() / vals.min()) if vals.size else 1.0
    return {**LOG, "dtick": max(1, int(np.ceil(decades / 7)))}


def _steps(records) -> np.ndarray:
    return np.array([r.step for r in records], dtype=float)


def _e2e(records, k: int) -> np.ndarray:
    """(records, k) top-k singular values of E; pads with NaN if E has fewer."""
    out = np.full((len(records), k), np.nan)
    for i, r in enumerate(records):
        s = np.asarray(r.e2e_singular_values)[:k]
        out[i, : len(s)] = s
    return out


# Per-record measurements that need E and an SVD, computed once per record: a streamed figure is
# rebuilt on every frame from all records so far, and must cost O(new records), not O(records).
# Records are unhashable frozen dataclasses (numpy fields): keyed by id, with a weak reference that
# both checks the id was not reused and drops the entry when the record is gone.
_CACHE: dict[tuple, tuple[weakref.ref, np.ndarray]] = {}


def _cached(rec, key: tuple, compute) -> np.ndarray:
    k = (id(rec), *key)
    hit = _CACHE.get(k)
    if hit is not None and hit[0]() is rec:
        return hit[1]
    value = compute()
    _CACHE[k] = (weakref.ref(rec, lambda _, k=k: _CACHE.pop(k, None)), value)
    return value


def alignment_series(records, U: np.ndarray, V: np.ndarray) -> np.ndarray:
    """(records, r): |⟨u_i(E), u_i(Φ)⟩|·|⟨v_i(E), v_i(Φ)⟩| per record (needs ``keep_factors``;
    NaN for a record without factors). Cached per record and (U, V)."""
    U, V = np.asarray(U, dtype=float), np.asarray(V, dtype=float)
    r = U.shape[1]
    key = ("align", hash(U.tobytes()), hash(V.tobytes()))
    out = np.full((len(records), r), np.nan)
    for i, rec in enumerate(records):
        if rec.factors is not None:
            out[i] = _cached(rec, key, lambda rec=rec: singular_vector_alignment(end_to_end(rec.factors), U, V))
    return out


def mark_diverged(fig: go.Figure, step: int | None, **where) -> go.Figure:
    """Annotate (in place) that a run diverged at ``step``; ``where`` picks a subplot (row=, col=)."""
    if step is None:
        return fig
    fig.add_vline(x=step, line=dict(color="#a00", dash="dot", width=2), **where)
    fig.add_annotation(
        text=f"<b>diverged at step {step}</b>",
        x=0.5,
        y=0.5,
        xref="paper",
        yref="paper",
        showarrow=False,
        font=dict(color="#a00", size=22),
        bgcolor="rgba(255,255,255,0.8)",
    )
    return fig


def _staircase_traces(fig, records, sigma, *, n_extra, row=None, col=None, legend=True, name_prefix=""):
    sigma = np.asarray(sigma, dtype=float)
    r = len(sigma)
    k = r + n_extra
    x = _steps(records)
    sv = _e2e(records, k)
    where = dict(row=row, col=col) if row is not None else {}
    for i in range(r):
        fig.add_trace(
            go.Scatter(
                x=x,  # on the records' grid: two-point lines came out garbled in a live FigureWidget
                y=np.full(len(x), sigma[i]),
                mode="lines",
                line=dict(color=color(i), dash="dot", width=2),
                name=f"σ{i + 1}(Φ)",
                legendgroup=f"sv{i}",
                showlegend=legend,
                hoverinfo="skip",
            ),
            **where,
        )
    for i in range(k):
        fig.add_trace(
            go.Scatter(
                x=x,
                y=sv[:, i],
                mode="lines",
                line=dict(color=color(i) if i < r else "#999", width=LINE_WIDTH),
                name=f"{name_prefix}σ{i + 1}(E)",
                legendgroup=f"sv{i}",
                showlegend=legend,
            ),
            **where,
        )


def staircase(
    records: Sequence,
    sigma: Sequence[float],
    *,
    U: np.ndarray | None = None,
    V: np.ndarray | None = None,
    loss: bool = False,
    n_extra: int = 1,
    diverged_step: int | None = None,
    title: str | None = "Incremental learning: E's singular values, one at a time",
) -> go.Figure:
    """σ_i(E) over steps against σ_i(Φ) (dotted), r + ``n_extra`` values; then, when U, V (d, r) are
    given (records must keep factors), the alignment of the i-th singular vector pair with Φ's; then,
    with ``loss``, the training loss (log y)."""
    r = len(sigma)
    panels = ["singular values of E"] + (["alignment with Φ's singular vectors"] if U is not None else [])
    panels += ["training loss"] if loss else []
    if len(panels) == 1:
        fig = figure(title, xaxis="step t", yaxis="singular value")
        _staircase_traces(fig, records, sigma, n_extra=n_extra)
        return mark_diverged(fig, diverged_step)
    fig = subplots(1, len(panels), titles=tuple(panels), title=title, horizontal_spacing=0.07)
    _staircase_traces(fig, records, sigma, n_extra=n_extra, row=1, col=1)
    x = _steps(records)
    if U is not None:
        align = alignment_series(records, U, V)
        for i in range(r):
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=align[:, i],
                    mode="lines",
                    line=dict(color=color(i), width=LINE_WIDTH),
                    name=f"|u{i + 1}·u{i + 1}*|·|v{i + 1}·v{i + 1}*|",
                    legendgroup=f"sv{i}",
                    showlegend=False,
                ),
                row=1,
                col=2,
            )
        fig.update_yaxes(title_text="alignment", range=[-0.05, 1.05], row=1, col=2)
    if loss:
        y = np.array([rec.train_loss for rec in records], dtype=float)
        col = len(panels)
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", line=dict(color=COLORS["target"], width=LINE_WIDTH),
                                 name="training loss"), row=1, col=col)
        fig.update_yaxes(title_text="loss", row=1, col=col, **_log_axis(y))
    fig.update_xaxes(title_text="step t")
    fig.update_yaxes(title_text="singular value", row=1, col=1)
    return mark_diverged(fig, diverged_step)


def staircases(
    runs: Mapping[str, Sequence],
    sigma: Sequence[float],
    *,
    n_extra: int = 0,
    log_x: bool = False,
    title: str | None = "Depth sharpens the staircase",
) -> go.Figure:
    """One staircase per run (e.g. ``{"L = 1": records, ...}``), side by side, shared y axis."""
    names = list(runs)
    fig = subplots(1, len(names), titles=names, title=title, shared_yaxes=True, horizontal_spacing=0.04)
    for j, name in enumerate(names):
        _staircase_traces(fig, runs[name], sigma, n_extra=n_extra, row=1, col=j + 1, legend=j == 0)
    fig.update_xaxes(title_text="step t", **(LOG if log_x else {"type": "linear"}))
    fig.update_yaxes(title_text="singular value", row=1, col=1)
    return fig


def _grouped(x: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Several lines (columns of Y (n, k)) as one trace, separated by NaN gaps: fewer traces, and
    numpy arrays validate much faster than lists."""
    n, k = Y.shape if Y.ndim == 2 else (len(x), 0)
    xs = np.full((k, n + 1), np.nan)
    ys = np.full((k, n + 1), np.nan)
    xs[:, :n] = x
    ys[:, :n] = Y.T
    return xs.ravel(), ys.ravel()


def factor_spectra(
    records: Sequence,
    rank: int,
    *,
    max_factors: int = 4,
    diverged_step: int | None = None,
    title: str | None = "Every factor: r singular values rise, r fall, the rest stay flat and equal",
) -> go.Figure:
    """Singular values of each factor W_l over steps, in three groups: top r (rise), bottom r
    (fall), middle d − 2r (flat at ρ(t)). Log y. At most ``max_factors`` factors (first and last kept)."""
    n = len(records[0].factor_singular_values) if records else 1
    idx = list(range(n)) if n <= max_factors else [*range(max_factors - 1), n - 1]
    fig = subplots(
        1, len(idx), titles=[f"W{l + 1}" for l in idx], title=title, shared_yaxes=True, horizontal_spacing=0.03
    )
    x = _steps(records)
    groups = (
        ("top r: rise", COLORS["cdln"], lambda s: s[:rank]),
        ("middle d − 2r: equal, ρ(t)", "#777", lambda s: s[rank : len(s) - rank]),
        ("bottom r: fall", COLORS["dln"], lambda s: s[len(s) - rank :]),
    )
    for j, l in enumerate(idx):
        S = np.array([np.asarray(r.factor_singular_values[l]) for r in records]) if records else np.zeros((0, 1))
        for gname, c, pick in groups:
            xs, ys = _grouped(x, pick(S.T).T)  # (records, group size)
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=ys,
                    mode="lines",
                    connectgaps=False,
                    line=dict(color=c, width=LINE_WIDTH if "middle" not in gname else 2),
                    name=gname,
                    legendgroup=gname,
                    showlegend=j == 0,
                ),
                row=1,
                col=j + 1,
            )
    fig.update_xaxes(title_text="step t")
    fig.update_yaxes(title_text="singular value of W_l", row=1, col=1)
    fig.update_yaxes(**LOG)
    return mark_diverged(fig, diverged_step)


def invariance(
    series,
    *,
    rho_scale: float | None = None,
    title: str | None = "The active subspace does not move; ρ(t) follows its recursion",
) -> go.Figure:
    """From a ``spectra.Invariance`` (steps, angle, angle_2r, rho, rho_theory, spread):
    left (log y), the largest principal angle between W_1's active input subspace at step t and the one
    predicted at the start (the r directions it grows in; all 2r), and the spread max − min of the middle
    singular values; right, ρ(t) measured against the recursion ρ(t+1) = ρ(t) − η'·ρ(t)^{2L−1}. With
    ``rho_scale`` = ε both are drawn as ρ/ε − 1, whose changes are readable (ρ moves by ~1e-9·ε)."""
    fig = subplots(1, 2, titles=("active subspace vs prediction", "ρ(t): measured vs recursion"), title=title)
    x = np.asarray(series.steps, dtype=float)
    floor = 1e-17  # log axis: exact zeros drawn at the floor
    angle, angle_2r, spread = (np.maximum(np.asarray(v, dtype=float), floor)
                               for v in (series.angle, series.angle_2r, series.spread))
    rho, rho_theory = np.asarray(series.rho, dtype=float), np.asarray(series.rho_theory, dtype=float)
    if rho_scale:
        rho, rho_theory = rho / rho_scale - 1, rho_theory / rho_scale - 1
    left = (
        (angle, "angle: the r directions W_1 grows in (rad)", dict(color=COLORS["cdln"], width=LINE_WIDTH)),
        (angle_2r, "angle: all 2r active directions (rad)", dict(color=COLORS["dln"], width=LINE_WIDTH)),
        (spread, "spread of the middle block", dict(color="#777", width=LINE_WIDTH, dash="dash")),
    )
    for y, name, line in left:
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", line=line, name=name), row=1, col=1)
    right = (
        (rho, "ρ(t) measured", dict(color=COLORS["dln"], width=LINE_WIDTH + 3)),
        (rho_theory, "ρ recursion", dict(color=COLORS["target"], width=2, dash="dash")),
    )
    for y, name, line in right:
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", line=line, name=name), row=1, col=2)
    fig.update_xaxes(title_text="step t")
    fig.update_yaxes(title_text="principal angle / spread", row=1, col=1, **_log_axis(angle, angle_2r, spread))
    fig.update_yaxes(title_text="ρ/ε − 1" if rho_scale else "ρ", exponentformat="power", row=1, col=2)
    return fig
