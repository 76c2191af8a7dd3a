"""Boundary checks: public entry points reject bad input with a clear error.

Each check returns the value, converted to a plain Python type, or raises: a ``TypeError`` when the
value has the wrong type, a ``ValueError`` when it is out of range; both name the argument and the
allowed range. numpy scalars are accepted wherever Python numbers are; ``bool`` is never a number;
inf and nan are rejected unless a check says otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["check_int", "check_positive", "check_number", "check_bool", "check_choice"]


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_real(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def check_int(name: str, value, low: int, high: int | None = None) -> int:
    """An integer in [low, high] (high None or inf: no upper bound)."""
    if high is not None and math.isinf(high):
        high = None
    allowed = f"an integer in [{low}, {high}]" if high is not None else f"an integer ≥ {low}"
    if not _is_int(value):
        if _is_real(value) and float(value).is_integer() and isinstance(value, (float, np.floating)):
            raise TypeError(f"{name} must be {allowed} (an int, not a float), got {value!r}")
        raise TypeError(f"{name} must be {allowed}, got {value!r} of type {type(value).__name__}")
    if value < low or (high is not None and value > high):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return int(value)


def check_number(
    name: str,
    value,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    allow_inf: bool = False,
) -> float:
    """A real number in the interval given by low/high (open ends on request), as a float."""
    lo = "(-∞" if low is None else ("(" if low_open else "[") + f"{low:g}"
    hi = "∞)" if high is None else f"{high:g}" + (")" if high_open else "]")
    allowed = f"a {'' if allow_inf else 'finite '}number in {lo}, {hi}"
    if not _is_real(value):
        raise TypeError(f"{name} must be {allowed}, got {value!r} of type {type(value).__name__}")
    v = float(value)
    if math.isnan(v) or (math.isinf(v) and not allow_inf):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    if low is not None and (v < low or (low_open and v == low)):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    if high is not None and (v > high or (high_open and v == high)):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return v


def check_positive(name: str, value, *, allow_zero: bool = False) -> float:
    """A finite number > 0 (≥ 0 with ``allow_zero``)."""
    return check_number(name, value, low=0.0, low_open=not allow_zero)


def check_bool(name: str, value) -> bool:
    """True or False (numpy bools accepted); never a string or a number."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_choice(name: str, value, choices: Sequence[str]) -> str:
    """One of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value
