"""Random streams: one seed, many independent generators, named by what they draw.

A run's seed s spawns a ``numpy.random.SeedSequence`` keyed by (s, name): the problem's target and
mask ("problem"), each chunk c of a sensing operator ("operator", c), the model's init ("init"), an
adapter's draw ("adapter"), the mini-batch order ("shuffle") … Two different names, or two different
seeds, give streams that are independent in the sense of ``SeedSequence`` (no offsets that collide,
no wrap-around): every seed in the accepted range [0, 2⁶³) gives a distinct problem.

    g = generator(seed, "problem")          # a torch.Generator
    g = generator(seed, "operator", c)      # chunk c of the sensing operator
    rng = numpy_rng(seed, "shuffle")        # a numpy Generator

Reference: NumPy's SeedSequence (``numpy.random.SeedSequence``, entropy + spawn key).
"""

from __future__ import annotations

import zlib

import numpy as np
import torch

__all__ = ["MAX_SEED", "check_seed", "seed_state", "generator", "numpy_rng"]

MAX_SEED = 2**63 - 1  # the accepted range is [0, MAX_SEED]; every value gives distinct streams


def check_seed(seed, name: str = "seed") -> int:
    """``seed`` as an int in [0, 2⁶³ − 1] (numpy integers accepted), or a ValueError naming ``name``."""
    ok = isinstance(seed, (int, np.integer)) and not isinstance(seed, (bool, np.bool_))
    if not ok or not 0 <= int(seed) <= MAX_SEED:
        raise ValueError(f"{name} must be an integer in [0, 2**63 - 1], got {seed!r}")
    return int(seed)


def _key(part) -> int:
    if isinstance(part, str):
        return zlib.crc32(part.encode())  # stable across runs and platforms (unlike hash())
    return int(part)


def seed_state(seed: int, name: str, *index: int) -> int:
    """A 63-bit integer drawn from SeedSequence(entropy=seed, spawn_key=(name, *index))."""
    ss = np.random.SeedSequence(check_seed(seed), spawn_key=(_key(name), *(_key(i) for i in index)))
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))


def generator(seed: int, name: str, *index: int) -> torch.Generator:
    """A ``torch.Generator`` (CPU) for the stream ``name`` (and ``index``) of ``seed``."""
    return torch.Generator().manual_seed(seed_state(seed, name, *index))


def numpy_rng(seed: int, name: str, *index: int) -> np.random.Generator:
    """A ``numpy.random.Generator`` for the stream ``name`` (and ``index``) of ``seed``."""
    ss = np.random.SeedSequence(check_seed(seed), spawn_key=(_key(name), *(_key(i) for i in index)))
    return np.random.default_rng(ss)
