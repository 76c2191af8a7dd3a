"""Figures of the learning dynamics of deep linear networks (notebooks 00–04).

Every builder is a pure function of data (a list of training ``Record``s, arrays, a target's σ) and
returns a themed ``go.Figure`` with a fixed set of traces for given sizes, so a live ``FigureWidget``
is updated in place as records stream in.

- ``staircase``: E's singular values against the target's (incremental learning), with the
  alignment of E's singular vectors with Φ's;
- ``staircases``: the same for several runs side by side (depth 1 vs 2 vs 3);
- ``factor_spectra``: every factor's singular values over time (r rise, r fall, d − 2r flat);
- ``invariance``: principal angles of W_1's active subspace against the predicted one, and ρ(t)
  against its recursion ρ(t+1) = ρ(t) − η'·ρ(t)^{2L−1};
- ``error_curves``: recovery error against iterations and against seconds, one line per model;
- ``sweep``: a quantity (iterations to converge, final error) against a swept parameter (α, p, m);
- ``losses``: training vs test loss per run (depth and generalization in completion).

Reference: SPEC §3–§5; [Y] Law of Parsimony; [K] §4–§5.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from .theme import COLORS, DASH, LINE_WIDTH, color, figure, subplots

__all__ = [
    "staircase",
    "staircases",
    "factor_spectra",
    "invariance",
    "error_curves",
    "sweep",
    "losses",
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


def _product(factors) -> np.ndarray:
    E = factors[0]
    for W in factors[1:]:
        E = W @ E
    return E


def alignment_series(records, U: np.ndarray, V: np.ndarray) -> np.ndarray:
    """(records, r): |⟨u_i(E), u_i(Φ)⟩|·|⟨v_i(E), v_i(Φ)⟩| per record (needs ``keep_factors``)."""
    U, V = np.asarray(U), np.asarray(V)
    r = U.shape[1]
    out = np.full((len(records), r), np.nan)
    for i, rec in enumerate(records):
        if rec.factors is None:
            continue
        Ue, _, Vhe = np.linalg.svd(_product(rec.factors))
        out[i] = np.abs(np.sum(Ue[:, :r] * U, axis=0)) * np.abs(np.sum(Vhe[:r].T * V, axis=0))
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
    n_extra: int = 1,
    diverged_step: int | None = None,
    title: str | None = "Incremental learning: E's singular values, one at a time",
) -> go.Figure:
    """Left: σ_i(E) over steps against σ_i(Φ) (dotted), r + ``n_extra`` values. Right (when U, V
    (d, r) are given and records keep factors): alignment of the i-th singular vector pair with Φ's."""
    r = len(sigma)
    if U is None:
        fig = figure(title, xaxis="step t", yaxis="singular value")
        _staircase_traces(fig, records, sigma, n_extra=n_extra)
    else:
        fig = subplots(1, 2, titles=("singular values of E", "alignment with Φ's singular vectors"), title=title)
        _staircase_traces(fig, records, sigma, n_extra=n_extra, row=1, col=1)
        align = alignment_series(records, U, V)
        x = _steps(records)
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
        fig.update_xaxes(title_text="step t")
        fig.update_yaxes(title_text="singular value", row=1, col=1)
        fig.update_yaxes(title_text="alignment", range=[-0.05, 1.05], row=1, col=2)
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
    steps: Sequence[float],
    angle: Sequence[float],
    rho: Sequence[float],
    rho_theory: Sequence[float],
    spread: Sequence[float],
    *,
    rho_scale: float | None = None,
    angle_name: str = "sin of the largest principal angle",
    title: str | None = "The active subspace does not move; ρ(t) follows its recursion",
) -> go.Figure:
    """Left (log y): how far W_1's active input subspace at step t is from the one predicted at the
    start (``angle``, e.g. the sine of the largest principal angle), and the spread max − min of the
    middle singular values. Right: ρ(t) measured against the recursion ρ(t+1) = ρ(t) − η'·ρ(t)^{2L−1};
    with ``rho_scale`` = ε both are drawn as ρ/ε − 1, whose changes are readable (ρ itself moves by ~1e-9·ε)."""
    fig = subplots(1, 2, titles=("active subspace vs prediction", "ρ(t): measured vs recursion"), title=title)
    x = np.asarray(steps, dtype=float)
    floor = 1e-17  # log axis: exact zeros drawn at the floor
    angle = np.maximum(np.asarray(angle, dtype=float), floor)
    spread = np.maximum(np.asarray(spread, dtype=float), floor)
    rho, rho_theory = np.asarray(rho, dtype=float), np.asarray(rho_theory, dtype=float)
    if rho_scale:
        rho, rho_theory = rho / rho_scale - 1, rho_theory / rho_scale - 1
    left = (
        (angle, angle_name, dict(color=COLORS["dln"], width=LINE_WIDTH)),
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
    fig.update_yaxes(title_text="distance / spread", row=1, col=1, **_log_axis(angle, spread))
    fig.update_yaxes(title_text="ρ/ε − 1" if rho_scale else "ρ", exponentformat="power", row=1, col=2)
    return fig


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

