"""Sphinx configuration of the course site (built by ``docs/build_book.py``; ``make book``).

The source folder is a staging copy made by the build script: these pages plus the notebooks executed
beforehand (papermill, ``INTERACTIVE=False``), so Sphinx never runs a kernel (``nb_execution_mode = "off"``)
and never needs the network: plotly figures are drawn by one local plotly.js (``plotly_mime``), and
myst-nb's widget scripts from a CDN are switched off (``nb_ipywidgets_js = {}``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import links  # noqa: E402  (docs/links.py: the one place the GitHub name is kept)

project = "cdln-kit"
author = "cdln-kit authors"
copyright = "cdln-kit authors, MIT license"
release = ""

extensions = ["myst_nb", "plotly_mime", "mathml"]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}

nb_execution_mode = "off"
nb_ipywidgets_js: dict = {}
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist", "substitution"]
myst_heading_anchors = 3
myst_update_mathjax = False  # no MathJax: the math is MathML (docs/mathml.py)
myst_substitutions = {
    "mode": os.environ.get("CDLN_BOOK_MODE", "quick"),
    "binder": f"[launch it on Binder]({links.binder_url()})",  # a text link: no third-party badge image
}
suppress_warnings = ["myst.header"]  # the notebooks' "###" under "#" headings are deliberate

html_theme = "sphinx_book_theme"
html_title = "cdln-kit: deep linear networks, compressed"
html_static_path = [str(HERE / "_static")]
html_css_files = ["course.css"]
html_last_updated_fmt = None
html_context = {"default_mode": "light"}  # the theme logs a console error when no mode is stored
html_copy_source = False
html_show_sourcelink = False
html_theme_options = {
    "show_toc_level": 2,
    "use_download_button": False,
    "use_fullscreen_button": False,
}
