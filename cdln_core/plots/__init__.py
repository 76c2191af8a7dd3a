"""Figures for the series: pure functions from data to ``plotly.graph_objects.Figure``.

``theme`` gives one look across the series (colors per model, big fonts, ``uirevision``); ``dynamics``
builds the figures of notebooks 00–04 (incremental learning, invariant subspace, C-DLN). Other topics
add their own module on the same theme. Needs plotly; ``import cdln_core`` does not.
"""

from . import dynamics, theme
from .dynamics import (
    error_curves,
    factor_spectra,
    invariance,
    losses,
    mark_diverged,
    staircase,
    staircases,
    sweep,
)
from .theme import COLORS, apply_theme, color, figure, label, subplots

__all__ = [
    "COLORS",
    "apply_theme",
    "color",
    "dynamics",
    "error_curves",
    "factor_spectra",
    "figure",
    "invariance",
    "label",
    "losses",
    "mark_diverged",
    "staircase",
    "staircases",
    "subplots",
    "sweep",
    "theme",
]
