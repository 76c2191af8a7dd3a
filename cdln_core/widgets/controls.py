"""Controls and figures: sliders that fire on release, live figures updated in place, a message area.

- ``live(fig, interactive)``: a ``go.FigureWidget`` of ``fig`` when interactive, else ``fig`` itself;
- ``slider(description, value, low, high, step=None, *, log=False)``: an int/float/log slider with
  ``continuous_update=False`` (it retrains on release, not on every pixel); ``dropdown(...)``;
- ``refresh(target, new)``: copy a freshly built figure's traces and layout into ``target`` inside one
  ``batch_update()`` (a fixed trace set is updated in place, so ``uirevision`` keeps the zoom);
- ``Message``: errors and warnings in words, never a traceback.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any

import ipywidgets as W
import plotly.graph_objects as go

__all__ = ["Message", "dropdown", "live", "refresh", "slider"]


def live(fig: go.Figure, interactive: bool = True) -> go.Figure:
    """``go.FigureWidget(fig)`` when ``interactive`` (it updates in place), else ``fig``."""
    return go.FigureWidget(fig) if interactive else fig


def slider(
    description: str,
    value: float,
    low: float,
    high: float,
    step: float | None = None,
    *,
    log: bool = False,
    readout_format: str | None = None,
) -> W.Widget:
    """A slider that fires on release. Integers give an ``IntSlider``; ``log=True`` a
    ``FloatLogSlider`` over [low, high] (actual values, not exponents) with ``step`` in decades."""
    common = dict(description=description, continuous_update=False, style={"description_width": "initial"})
    if log:
        if not (low > 0 and high > low):
            raise ValueError(f"a log slider needs 0 < low < high, got low={low}, high={high}")
        return W.FloatLogSlider(
            value=value,
            base=10,
            min=math.log10(low),
            max=math.log10(high),
            step=step or 0.1,
            readout_format=readout_format or ".2g",
            **common,
        )
    if all(isinstance(v, int) and not isinstance(v, bool) for v in (value, low, high)) and (
        step is None or isinstance(step, int)
    ):
        return W.IntSlider(value=value, min=low, max=high, step=step or 1, **common)
    return W.FloatSlider(
        value=value,
        min=low,
        max=high,
        step=step or (high - low) / 100,
        readout_format=readout_format or ".3g",
        **common,
    )


def dropdown(description: str, options: Sequence, value: Any = None) -> W.Dropdown:
    """A dropdown (fires on choice)."""
    return W.Dropdown(
        description=description,
        options=list(options),
        value=value if value is not None else list(options)[0],
        style={"description_width": "initial"},
    )


def refresh(target: go.Figure, new: go.Figure) -> go.Figure:
    """Make ``target`` show ``new``'s traces and the data-dependent part of its layout.

    Same number and types of traces: updated in place (one message for a FigureWidget). Otherwise
    the traces are replaced. Returns ``target``.
    """
    # a FigureWidget is an ipywidget; testing that avoids importing go.FigureWidget (slow) for static figures
    batch = target.batch_update() if isinstance(target, W.Widget) else nullcontext()
    same = len(target.data) == len(new.data) and all(
        a.type == b.type for a, b in zip(target.data, new.data)
    )
    with batch:
        if same:
            for old, fresh in zip(target.data, new.data):
                old.update(fresh.to_plotly_json(), overwrite=True)
        layout = new.layout.to_plotly_json()  # what the builder set: axes, titles, markers, size
        layout.pop("template", None)  # the same for every frame of a figure
        layout.setdefault("annotations", [])  # clear a previous run's markers (e.g. "diverged")
        layout.setdefault("shapes", [])
        target.layout.update(layout, overwrite=True)
    if not same:
        target.data = ()
        target.add_traces(list(new.data))
    return target


class Message:
    """A message area: errors and warnings in words, never a traceback."""

    _STYLE = {
        "error": "color:#a00;background:#fdecea;border-left:4px solid #a00",
        "warning": "color:#7a4a00;background:#fff4e0;border-left:4px solid #e69f00",
        "info": "color:#234;background:#eef4fa;border-left:4px solid #0072B2",
    }

    def __init__(self):
        self.widget = W.HTML(value="")
        self.text = ""
        self.kind = ""

    def show(self, text: str, kind: str = "error", *, append: bool = False) -> None:
        """Show ``text``; ``append`` adds it below the current message (the stronger kind wins)."""
        if append and self.text:
            rank = ("info", "warning", "error")
            text = f"{self.text}\n{text}"
            kind = max(kind, self.kind, key=lambda k: rank.index(k) if k in rank else 0)
        self.text, self.kind = text, kind
        style = self._STYLE.get(kind, self._STYLE["info"])
        body = "<br>".join(html.escape(line) for line in text.split("\n"))
        self.widget.value = f'<div style="{style};padding:6px 10px;font-size:16px">{body}</div>'

    def clear(self) -> None:
        self.text, self.kind = "", ""
        self.widget.value = ""
