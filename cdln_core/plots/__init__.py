"""Figures for the series: pure functions from data to ``plotly.graph_objects.Figure``.

``theme`` gives one look across the series (colors per model, big fonts, ``uirevision``); ``dynamics``
builds the figures of one network's learning dynamics (notebooks 00–02: incremental learning, the
invariant subspace), ``comparison`` those that compare runs (notebooks 03–04: DLN vs C-DLN, sweeps,
train vs test). Other topics add their own module on the same theme (``lora``, ``nonlinear``).
Needs plotly; ``import cdln_core`` does not.
"""

from . import comparison, dynamics, theme
from .comparison import error_curves, losses, sweep
from .dynamics import alignment_series, factor_spectra, invariance, mark_diverged, staircase, staircases
from .theme import COLORS, apply_theme, color, figure, label, subplots

__all__ = [
    "COLORS",
    "alignment_series",
    "apply_theme",
    "comparison",
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
