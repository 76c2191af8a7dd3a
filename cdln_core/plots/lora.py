"""Figures for Deep LoRA (notebook 05): pure functions from run data to themed ``go.Figure``s.

- ``loss_curves``: train (dashed) and test (solid) loss against the step, one color per adapter;
- ``sweep_figure``: a metric's mean over seeds with its 95% interval against the number of samples
  or the rank (runs flagged by ``cdln_core.lora.summarize`` are left out and counted in the legend);
- ``update_spectra``: the singular values of each learned update ΔW, with the rank threshold;
- ``tracking``: the compressed Deep LoRA against the wide one it compresses.

Every builder has a fixed set of traces for given inputs, so a live ``FigureWidget`` is updated in
place as a run streams. Reference: [Y] Yaras et al., ICML 2024 (arXiv 2406.04112), §5.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from .theme import COLORS, LINE_WIDTH, figure, subplots

__all__ = ["KIND_STYLE", "kind_label", "loss_curves", "sweep_figure", "update_spectra", "tracking"]

# adapter kind → (color, dash, label)
KIND_STYLE: dict[str, tuple[str, str, str]] = {
    "lora": (COLORS["lora"], "solid", "LoRA"),
    "deep_narrow": (COLORS["deep_lora"], "solid", "Deep LoRA"),
    "deep_wide": (COLORS["dln"], "solid", "Deep LoRA (wide)"),
    "deep_compressed": (COLORS["compressed"], "solid", "Deep LoRA (compressed)"),
}


def kind_label(kind: str) -> str:
    return KIND_STYLE.get(kind, (None, None, kind))[2]


def _style(kind: str) -> tuple[str, str]:
    c, d, _ = KIND_STYLE.get(kind, ("#555555", "solid", kind))
    return c, d


def _positive(v) -> np.ndarray:
    a = np.asarray(v, dtype=float)
    return np.where(a > 0, a, np.nan)  # a log axis cannot show 0


def loss_curves(
    runs: Mapping[str, Mapping[str, Sequence[float]]],
    *,
    title: str = "Train (dashed) and test (solid) loss",
    baseline: float | None = None,
) -> go.Figure:
    """runs: kind → {"steps", "train", "test"} (equal-length sequences, possibly empty while a run
    starts). baseline: the pretrained model's test loss (a grey line: above it, adapting hurt)."""
    fig = figure(title, xaxis="step", yaxis=dict(title_text="loss (½·MSE or CE)", type="log"))
    for kind, r in runs.items():
        color, _ = _style(kind)
        steps = list(r.get("steps", []))
        fig.add_scatter(x=steps, y=_positive(r.get("train", [])), mode="lines", name=f"{kind_label(kind)}: train",
                        line=dict(color=color, width=LINE_WIDTH, dash="dash"), legendgroup=kind)
        fig.add_scatter(x=steps, y=_positive(r.get("test", [])), mode="lines", name=f"{kind_label(kind)}: test",
                        line=dict(color=color, width=LINE_WIDTH), legendgroup=kind)
    if baseline is not None:
        fig.add_hline(y=baseline, line=dict(color=COLORS["plain"], dash="dot", width=2),
                      annotation_text="pretrained, no adaptation", annotation_position="top right")
    return fig


def sweep_figure(
    summary: Sequence[Mapping],
    by: str,
    metric: str,
    *,
    title: str | None = None,
    ytitle: str | None = None,
    log_y: bool = True,
    error: str = "ci95",
) -> go.Figure:
    """summary: rows of ``cdln_core.lora.summarize`` (kind, ``by``, ``<metric>_mean``, ``<metric>_std``,
    ``<metric>_ci95``, ``n_flagged``). One line per kind with error bars (``error``: "ci95", the 95%
    interval of the mean, or "std"), against ``by`` on a log axis; flagged runs are counted in the legend."""
    if error not in ("ci95", "std"):
        raise ValueError(f"error must be one of ci95, std, got {error!r}")
    spread = "95% interval" if error == "ci95" else "± std"
    fig = figure(title or f"{metric} vs {by} (mean over seeds, {spread})",
                 xaxis=dict(title_text="training samples" if by == "samples" else "rank r", type="log"),
                 yaxis=dict(title_text=ytitle or metric, type="log" if log_y else "linear"))
    kinds = list(dict.fromkeys(r["kind"] for r in summary))
    for kind in kinds:
        rows = sorted((r for r in summary if r["kind"] == kind), key=lambda r: r[by])
        color, dash = _style(kind)
        flagged = sum(r.get("n_flagged", 0) for r in rows)
        name = kind_label(kind) + (f" ({flagged} flagged runs left out)" if flagged else "")
        bars = [r.get(f"{metric}_{error}", r[f"{metric}_std"]) for r in rows]
        fig.add_scatter(
            x=[r[by] for r in rows], y=[r[f"{metric}_mean"] for r in rows], mode="lines+markers",
            name=name, line=dict(color=color, width=LINE_WIDTH, dash=dash), marker=dict(size=10),
            error_y=dict(type="data", array=bars, visible=True, thickness=2),
        )
    return fig


def update_spectra(
    spectra: Mapping[str, Sequence[float]],
    *,
    threshold: float | None = None,
    k: int = 16,
    title: str = "Singular values of the learned update ΔW",
) -> go.Figure:
    """spectra: kind → singular values of ΔW (descending); shows the top k of each. threshold:
    the level above which a singular value counts toward the update's rank."""
    fig = figure(title, xaxis="index i", yaxis=dict(title_text="σ_i(ΔW)", type="log"))
    for kind, s in spectra.items():
        s = np.asarray(s, dtype=float)[:k]
        color, dash = _style(kind)
        fig.add_scatter(x=np.arange(1, len(s) + 1), y=np.maximum(s, 1e-12), mode="lines+markers",
                        name=kind_label(kind), line=dict(color=color, width=LINE_WIDTH, dash=dash))
    if threshold is not None:
        fig.add_hline(y=threshold, line=dict(color=COLORS["theory"], dash="dash", width=2),
                      annotation_text="rank threshold", annotation_position="bottom left")
    return fig


def tracking(
    out: Mapping[str, Sequence[float]], *, title: str = "Compressed Deep LoRA tracks the wide one"
) -> go.Figure:
    """out: the dict of ``cdln_core.lora.compressed_tracks_wide`` (steps, wide_test,
    compressed_test, rel_gap). Left: test losses; right: the relative gap to the projected wide ΔW."""
    fig = subplots(1, 2, titles=("test loss", "‖ΔW_c − P(ΔW_wide)‖ / ‖P(ΔW_wide)‖"), title=title)
    fig.add_scatter(x=out["steps"], y=_positive(out["wide_test"]), name="wide Deep LoRA",
                    line=dict(color=KIND_STYLE["deep_wide"][0], width=LINE_WIDTH), row=1, col=1)
    fig.add_scatter(x=out["steps"], y=_positive(out["compressed_test"]), name="compressed",
                    line=dict(color=KIND_STYLE["deep_compressed"][0], width=LINE_WIDTH, dash="dash"), row=1, col=1)
    fig.add_scatter(x=out["steps"], y=np.maximum(np.asarray(out["rel_gap"], dtype=float), 1e-17), name="relative gap",
                    line=dict(color=COLORS["theory"], width=LINE_WIDTH), row=1, col=2)
    fig.update_yaxes(type="log")
    fig.update_xaxes(title_text="step")
    return fig
