"""The grid of a sweep: every combination of flag values over seeds, each keyed by a hash of its config.

Reference: the sweeps behind [K] §5's ablations.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Sequence

__all__ = ["expand_grid", "config_key"]


def expand_grid(base: dict, grid: dict[str, Sequence], *, seeds: int | Sequence[int] = 1) -> list[dict]:
    """Every combination of the ``grid`` values over ``base``, for each seed (``seeds``: a count n,
    meaning seeds 0…n−1, or explicit seeds). Order: grid flags in the given order, seeds innermost."""
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    if not seed_list:
        raise ValueError("seeds must give at least one seed")
    for name, values in grid.items():
        if not isinstance(values, (list, tuple)) or not values:
            raise ValueError(f"grid value list for {name!r} must be a non-empty list, got {values!r}")
    names = list(grid)
    out = []
    for combo in itertools.product(*(grid[n] for n in names)):
        for seed in seed_list:
            out.append({**base, **dict(zip(names, combo)), "seed": seed})
    return out


def config_key(config: dict) -> str:
    """A stable 16-hex-digit key of a config (sorted-key JSON, SHA-256)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
