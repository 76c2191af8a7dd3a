"""Boundary checks: public entry points reject bad input with a clear error (STYLE §7).

Each check returns the value, converted, or raises a ``ValueError`` that names the argument and the
allowed range. Used by ``problems``, ``lora``, ``lora_experiments`` and ``nonlinear``.

Reference: STYLE.md, "The core package" §7.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["check_int", "check_positive"]


def check_int(name: str, value, low: int, high: int | None = None) -> int:
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if high is not None and math.isinf(high):
        high = None
    if not ok or value < low or (high is not None and value > high):
        allowed = f"an integer in [{low}, {high}]" if high is not None else f"an integer ≥ {low}"
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return int(value)


def check_positive(name: str, value, *, allow_zero: bool = False) -> float:
    ok = isinstance(value, (int, float, np.floating)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be a finite number {'≥' if allow_zero else '>'} 0, got {value!r}")
    return float(value)
