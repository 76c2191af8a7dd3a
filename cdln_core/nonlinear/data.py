"""Data: two real classification sets that need no download, split and standardized.

- ``load_digits``: scikit-learn's bundled 8×8 handwritten digits (1797 images). x: (N, 64).
- ``load_mnist1d``: MNIST-1D (Greydanus 2020, the ``mnist1d`` package), built offline from the
  templates inside the package: 10 classes of 1-D signals of length 40, made harder by padding,
  dilation, translation, shear and correlated noise. x: (N, 40). Its paper reports ≈32% test
  accuracy for logistic regression; the kit's MLPs reach 0.75–0.80 (benchmarks/RESULTS_nonlinear.md),
  so the variants of [K] §6 differ by points, where on digits all sit at ≈0.96–0.98.

Both return ``Digits``: x_* (N, d_in) float32, y_* (N,) int64 labels in 0…9, and for MNIST-1D a
validation split (x_val, y_val) for tuning and early stopping, so the test split is never read to
choose anything.

Reference: [K] Kwon et al., AISTATS 2024 (arXiv 2311.05061), §6 (the MLP experiments); S. Greydanus,
"Scaling down deep learning with MNIST-1D" (arXiv 2011.14439).
"""

from __future__ import annotations

import functools
import hashlib
import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..checks import check_int, check_number
from ..seeds import numpy_rng

__all__ = ["Digits", "load_digits", "load_mnist1d", "mnist1d_cache_dir"]


@dataclass(frozen=True, eq=False)
class Digits:
    """A classification set split in train / test (and, when built with one, validation).
    x_*: (N, d_in) float32, y_*: (N,) int64. ``x_val``/``y_val`` are None without a validation split."""

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    x_val: Tensor | None = None
    y_val: Tensor | None = None

    @property
    def sizes(self) -> dict[str, int]:
        """Examples per split: {"train": …, "val": …, "test": …} (val 0 without a validation split)."""
        return {"train": len(self.y_train), "val": 0 if self.y_val is None else len(self.y_val),
                "test": len(self.y_test)}


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


def mnist1d_cache_dir() -> Path | None:
    """Where built MNIST-1D arrays are kept between processes: ``$CDLN_CACHE`` if set (the empty
    string: no disk cache), else ``~/.cache/cdln``. Building 20,000 samples takes ≈9 s of CPU
    (a Python loop per sample inside ``mnist1d``); reading the cached arrays takes milliseconds."""
    env = os.environ.get("CDLN_CACHE")
    if env is not None:
        return Path(env) if env else None
    return Path.home() / ".cache" / "cdln"


def _build(num_samples: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The package's own builder (never its ``get_dataset``, which tries a download and writes a
    pickle into the working directory), with the global RNGs it reseeds restored afterwards."""
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.seed = num_samples, seed
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        d = make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return (d["x"].astype(np.float32), d["y"].astype(np.int64), d["x_test"].astype(np.float32),
            d["y_test"].astype(np.int64))


def _arrays(num_samples: int, seed: int) -> tuple[np.ndarray, ...]:
    from importlib.metadata import version

    root = mnist1d_cache_dir()
    key = hashlib.sha256(f"mnist1d {version('mnist1d')} {num_samples} {seed}".encode()).hexdigest()[:16]
    path = None if root is None else root / f"mnist1d-{num_samples}-{seed}-{key}.npz"
    if path is not None and path.exists():
        try:
            with np.load(path) as f:
                return f["x"], f["y"], f["x_test"], f["y_test"]
        except (OSError, KeyError, ValueError):  # a damaged file: rebuild and overwrite it
            pass
    arrays = _build(num_samples, seed)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
            np.savez(tmp, **dict(zip(("x", "y", "x_test", "y_test"), arrays)))
            os.replace(tmp, path)  # atomic: a concurrent reader sees the whole file or none
        except OSError:  # a read-only home: keep going without the disk cache
            pass
    return arrays


def load_mnist1d(*, num_samples: int = 20_000, val_fraction: float = 0.125, seed: int = 0) -> Digits:
    """MNIST-1D built offline by ``mnist1d.data.make_dataset`` with ``num_samples`` signals (a multiple
    of 10 is used: ``num_samples // 10`` per class) from generation seed ``seed``; the package's own
    80/20 train/test split, then ``val_fraction`` of the training part set aside for validation (a
    permutation from the stream ``seeds.numpy_rng(seed, "split")``). The package standardizes x over
    the whole set (mean 0, std 1). Defaults: 14,000 train / 2,000 validation / 4,000 test.

    The same arguments give the same tensors (bit for bit; cached in memory and under
    ``mnist1d_cache_dir()``); treat them as read-only. x: (N, 40) float32, y: (N,) int64.
    """
    check_int("num_samples", num_samples, 100, 10**6)
    check_number("val_fraction", val_fraction, low=0.0, high=0.5, low_open=True)
    check_int("seed", seed, 0, 2**32 - 1)  # mnist1d seeds NumPy's legacy generator: 32 bits
    return _load(int(num_samples), float(val_fraction), int(seed))


@functools.lru_cache(maxsize=8)
def _load(num_samples: int, val_fraction: float, seed: int) -> Digits:
    x, y, x_test, y_test = _arrays(num_samples, seed)
    perm = numpy_rng(seed, "split").permutation(len(y))
    n_val = max(1, int(round(val_fraction * len(y))))
    val, train = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    t = torch.from_numpy
    return Digits(t(x[train]), t(y[train]), t(np.ascontiguousarray(x_test)), t(np.ascontiguousarray(y_test)),
                  t(x[val]), t(y[val]))
