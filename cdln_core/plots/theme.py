"""One look for every figure of the series: colors per model, big fonts for a projector.

Stable API (other plot modules build on it):

- ``COLORS``: model name → color (``"dln"``, ``"cdln"``, ``"compressed"``, ``"lora"``, ``"deep_lora"``,
  ``"target"``, ``"theory"``, ``"plain"``), plus ``SEQUENCE`` for indexed traces (singular value i);
- ``color(i)``: the i-th color of ``SEQUENCE`` (wraps around);
- ``figure(title=..., xaxis=..., yaxis=..., **layout)``: an empty themed ``go.Figure``;
- ``apply_theme(fig, title=None, *, height=None, uirevision="keep", **layout)``: theme an existing
  figure in place (fonts, margins, legend, ``uirevision`` so zoom survives live updates), returns it;
- ``subplots(rows, cols, titles=..., **kwargs)``: a themed ``make_subplots`` grid;
- ``FONT_SIZE``, ``LINE_WIDTH``, ``DASH`` (model → dash style), ``TEMPLATE``.
"""

from __future__ import annotations

from functools import lru_cache

import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = [
    "COLORS",
    "DASH",
    "FONT_SIZE",
    "LINE_WIDTH",
    "SEQUENCE",
    "TEMPLATE",
    "apply_theme",
    "color",
    "figure",
    "label",
    "subplots",
]

# Colorblind-safe (Okabe–Ito), distinct on a washed-out projector.
COLORS: dict[str, str] = {
    "dln": "#0072B2",  # blue: the wide deep linear network
    "cdln": "#D55E00",  # vermillion: the C-DLN of [K]
    "compressed": "#009E73",  # green: the Yaras compression of [Y]
    "lora": "#CC79A7",  # purple-pink: vanilla LoRA
    "deep_lora": "#E69F00",  # orange: Deep LoRA
    "plain": "#555555",  # grey: a plain (non-deep) baseline
    "target": "#000000",  # black: the target Φ (dotted)
    "theory": "#7F7F7F",  # grey: a theory prediction (dashed)
}
DASH: dict[str, str] = {"dln": "solid", "cdln": "solid", "compressed": "dash", "target": "dot", "theory": "dash"}
LABELS: dict[str, str] = {
    "dln": "DLN",
    "cdln": "C-DLN",
    "compressed": "compressed DLN",
    "lora": "LoRA",
    "deep_lora": "Deep LoRA",
    "plain": "plain",
    "target": "target Φ",
    "theory": "theory",
}
SEQUENCE: tuple[str, ...] = (
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000",
    "#8C564B", "#7F7F7F",
)  # fmt: skip
FONT_SIZE = 18
LINE_WIDTH = 3
TEMPLATE = "none"  # styled explicitly below: a full template costs ~0.1 s per figure, too slow to stream


def color(i: int) -> str:
    """The i-th color of ``SEQUENCE`` (for traces indexed by a singular value or a layer)."""
    return SEQUENCE[i % len(SEQUENCE)]


def label(kind: str) -> str:
    """The display name of a model kind (``"cdln"`` → ``"C-DLN"``); unknown kinds pass through."""
    return LABELS.get(kind, kind)


def apply_theme(
    fig: go.Figure,
    title: str | None = None,
    *,
    height: int | None = None,
    uirevision: str | None = "keep",
    **layout,
) -> go.Figure:
    """Theme ``fig`` in place and return it. ``layout`` goes to ``fig.update_layout`` last."""
    fig.update_layout(
        template=TEMPLATE,
        paper_bgcolor="white",
        plot_bgcolor="white",
        colorway=list(SEQUENCE),
        font=dict(size=FONT_SIZE, family="Arial, Helvetica, sans-serif"),
        title=dict(text=title, x=0.01, xanchor="left", font=dict(size=FONT_SIZE + 4)) if title else None,
        margin=dict(l=80, r=30, t=70 if title else 30, b=70),
        legend=dict(font=dict(size=FONT_SIZE - 2), bgcolor="rgba(255,255,255,0.7)"),
        hoverlabel=dict(font_size=FONT_SIZE - 2),
        uirevision=uirevision,
    )
    if height is not None:
        fig.update_layout(height=height)
    axis = dict(showline=True, linecolor="#444", mirror=True, ticks="outside", showgrid=True,
                gridcolor="#e5e5e5", zeroline=False, automargin=True)
    fig.update_xaxes(**axis)
    fig.update_yaxes(**axis)
    fig.update_annotations(font_size=FONT_SIZE)  # subplot titles
    if layout:
        fig.update_layout(**layout)
    return fig


def figure(
    title: str | None = None,
    *,
    xaxis: str | dict | None = None,
    yaxis: str | dict | None = None,
    height: int = 450,
    **layout,
) -> go.Figure:
    """An empty themed figure. ``xaxis``/``yaxis``: an axis title, or a dict for ``update_xaxes``."""
    fig = apply_theme(go.Figure(), title, height=height, **layout)
    for axis, update in ((xaxis, fig.update_xaxes), (yaxis, fig.update_yaxes)):
        if isinstance(axis, str):
            update(title_text=axis)
        elif isinstance(axis, dict):
            update(**axis)
    return fig


def subplots(
    rows: int = 1,
    cols: int = 2,
    *,
    titles: list[str] | tuple[str, ...] | None = None,
    title: str | None = None,
    height: int | None = None,
    **kwargs,
) -> go.Figure:
    """A themed ``make_subplots`` grid; ``kwargs`` go to ``make_subplots``.

    The empty grid is built once per distinct arguments and copied after: ``make_subplots`` takes
    ~0.1 s, too slow for a figure redrawn several times a second while a run streams in."""
    kwargs.setdefault("horizontal_spacing", 0.1 if cols > 1 else 0.0)
    height = height or 420 * rows + (40 if title else 0)
    key = (rows, cols, tuple(titles) if titles else None, title, height, tuple(sorted(kwargs.items())))
    try:
        layout, grid_ref, grid_str = _skeleton(key)
    except TypeError:  # unhashable arguments: build it directly
        return _build_subplots(key[:-1], kwargs)
    fig = go.Figure(layout=layout)
    fig._grid_ref, fig._grid_str = grid_ref, grid_str  # what make_subplots sets, so row=/col= work
    return fig


def _build_subplots(key, kwargs) -> go.Figure:
    rows, cols, titles, title, height = key
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, **kwargs)
    return apply_theme(fig, title, height=height)


@lru_cache(maxsize=64)
def _skeleton(key) -> tuple[dict, list, str]:
    fig = _build_subplots(key[:-1], dict(key[-1]))
    return fig.to_dict()["layout"], fig._grid_ref, fig._grid_str
