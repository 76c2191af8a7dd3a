"""A myst-nb mime renderer for plotly's JSON output, drawn by one local plotly.js (no CDN).

In a kernel, plotly's default output is only ``application/vnd.plotly.v1+json``, which myst-nb skips.
This renderer turns each such output into a ``<div class="cdln-plotly">`` followed by the figure's JSON
in a ``<script type="application/json">``; ``_static/plotly_render.js`` draws every such div with
``Plotly.newPlot``. The plotly.js bundle is the one inside the installed plotly package (the version
that wrote the JSON), copied once into the site's ``_static/`` and loaded only by pages with a figure,
so every page works offline and stays small.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from docutils import nodes

__all__ = ["MIME", "PlotlyMime", "plotly_js_path", "setup"]

MIME = "application/vnd.plotly.v1+json"
MARK = "cdln-plotly"  # the class every figure div carries; the browser test counts these


def plotly_js_path() -> Path:
    """plotly.min.js from the installed plotly package's data (what wrote the figures' JSON)."""
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise FileNotFoundError(f"plotly.min.js not found in the plotly package at {path}")
    return path


def _html(figure: dict[str, Any]) -> str:
    # sort_keys: the same figure gives the same bytes (a deterministic site); "</" escaped so the
    # JSON can never close its <script> element.
    text = json.dumps(figure, sort_keys=True, separators=(",", ":")).replace("</", "<\\/")
    return (
        f'<div class="{MARK}" style="width:100%;min-height:420px"></div>\n'
        f'<script type="application/json" class="{MARK}-data">{text}</script>\n'
    )


class PlotlyMime:
    """myst-nb MimeRenderPlugin: plotly JSON → a div that plotly_render.js draws."""

    mime_priority_overrides = [("html", MIME, 5), ("dirhtml", MIME, 5), ("singlehtml", MIME, 5)]

    @staticmethod
    def handle_mime(renderer: Any, data: Any, inline: bool) -> list[nodes.Element] | None:
        if data.mime_type != MIME:
            return None
        figure = data.content if isinstance(data.content, dict) else json.loads(data.string)
        return [nodes.raw(text=_html(figure), format="html", classes=["output", "plotly"])]


def _register() -> None:
    # myst-nb finds mime renderers only through the entry point group "myst_nb.mime_renderers"; the
    # site's renderer lives in docs/, not in an installed distribution, so it is prepended here.
    from myst_nb.core import render

    original = render.load_mime_renders
    if getattr(original, "_cdln", False):
        return

    def load_mime_renders() -> list[Any]:
        return [PlotlyMime, *original()]

    load_mime_renders._cdln = True  # type: ignore[attr-defined]
    render.load_mime_renders = load_mime_renders


def _page_scripts(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    if doctree is not None and MARK in context.get("body", ""):
        app.add_js_file("plotly.min.js", priority=400)
        app.add_js_file("plotly_render.js", priority=401)


def _copy_plotly(app: Any, exception: Exception | None) -> None:
    if exception is None and app.builder.format == "html":
        target = Path(app.outdir) / "_static" / "plotly.min.js"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(plotly_js_path(), target)


def setup(app: Any) -> dict[str, Any]:
    """Sphinx extension entry: register the renderer, load plotly.js on pages with a figure."""
    _register()
    app.connect("html-page-context", _page_scripts)
    app.connect("build-finished", _copy_plotly)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
