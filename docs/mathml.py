"""Sphinx extension: the site's math as MathML written at build time (``latex2mathml``), drawn by the browser.

No MathJax and no web fonts: Sphinx's default MathJax comes from a CDN (blank offline), and a local MathJax
needs web fonts that Chromium refuses to load from ``file://``. MathML is part of the page itself, so the
equations show on a phone, in print and from a folder opened with no server and no internet. A formula
the converter cannot read stops the build with its page and its source.
"""

from __future__ import annotations

from typing import Any

from docutils import nodes

__all__ = ["to_mathml", "setup"]


def to_mathml(latex: str, *, block: bool) -> str:
    """LaTeX → a ``<math>`` element (``display="block"`` for display math)."""
    from latex2mathml.converter import convert

    return convert(latex.strip(), display="block" if block else "inline")


def _convert(self: Any, node: nodes.Element, latex: str, block: bool) -> str:
    try:
        return to_mathml(latex, block=block)
    except Exception as err:  # latex2mathml raises many kinds; name the page and the formula instead
        source = node.source or "?"
        raise RuntimeError(f"{source}:{node.line}: cannot convert math to MathML ({err}): {latex!r}") from err


def _visit_math(self: Any, node: nodes.Element) -> None:
    self.body.append(f'<span class="math">{_convert(self, node, node.astext(), False)}</span>')
    raise nodes.SkipNode


def _visit_displaymath(self: Any, node: nodes.Element) -> None:
    latex = node["latex"] if "latex" in node else node.astext()
    if node.get("number"):
        self.body.append(f'<span class="eqno">({node["number"]})</span>')
    self.body.append(f'<div class="math">{_convert(self, node, latex, True)}</div>\n')
    raise nodes.SkipNode


def setup(app: Any) -> dict[str, Any]:
    app.add_html_math_renderer("mathml", (_visit_math, None), (_visit_displaymath, None))
    app.config.html_math_renderer = "mathml"
    return {"parallel_read_safe": True, "parallel_write_safe": True}
