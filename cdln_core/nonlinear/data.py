"""Data: scikit-learn's bundled 8×8 handwritten digits (no download), split and standardized.

x: (N, 64) float32 images flattened row by row, y: (N,) int64 labels in 0…9.

Reference: [K] Kwon et al., AISTATS 2024 (arXiv 2311.05061), §6 (the MLP experiments).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..checks import check_int

__all__ = ["Digits", "load_digits"]


@dataclass(frozen=True, eq=False)
class Digits:
    """scikit-learn's bundled 8×8 digits (1797 images), standardized with the training split's
    mean and std. x: (N, 64) float32, y: (N,) int64."""

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor


def load_digits(*, test_fraction: float = 0.25, seed: int = 0) -> Digits:
    """A stratified train/test split of the digits, reproducible from ``seed`` (needs scikit-learn,
    which ships the data: nothing is downloaded)."""
    if not (isinstance(test_fraction, float) and 0.0 < test_fraction < 1.0):
        raise ValueError(f"test_fraction must be a float in (0, 1), got {test_fraction!r}")
    check_int("seed", seed, 0)
    from sklearn.datasets import load_digits as _sk_digits
    from sklearn.model_selection import train_test_split

    x, y = _sk_digits(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_fraction, stratify=y, random_state=seed)
    mean, std = x_tr.mean(), x_tr.std()
    as_x = lambda a: torch.tensor((a - mean) / std, dtype=torch.float32)
    as_y = lambda a: torch.tensor(a, dtype=torch.int64)
    return Digits(as_x(x_tr), as_y(y_tr), as_x(x_te), as_y(y_te))
