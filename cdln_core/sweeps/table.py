"""The tidy table of a sweep: one row per run, every config field then the outcome columns.

``results.csv`` always, ``results.parquet`` too when pyarrow is installed; both written atomically.
"""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path

from .grid import config_key

__all__ = ["TABLE_COLUMNS", "staircase", "tidy_row", "write_table", "read_table"]

TABLE_COLUMNS = ("key", "status", "converged_step", "diverged_step", "stop_reason", "final_step", "train_loss",
                 "recovery_error", "test_loss", "wall_time", "n_params", "half_fit_steps", "rise_fraction",
                 "warnings", "error")


def _last(values):
    return values[-1] if values else None


def staircase(result: dict) -> tuple[str | None, float | None]:
    """From a ``cdln.run/1`` result: the steps at which E's i-th singular value first reaches half of
    σ_i ("t1 t2 …", "-" for never), and the rise fraction, the median over i of (t₉₀ − t₁₀)/t₉₀: the
    share of the time to fit σ_i spent rising from 10% to 90% of it (small: a sharp staircase, long
    plateaus and quick jumps). None when the run kept no singular values or fitted none."""
    from ..spectra import fit_steps

    steps, sv, sigma = result.get("steps"), result.get("e2e_singular_values"), result.get("target_singular_values")
    if not steps or not sv or not sigma or any(s is None for row in sv for s in row[: len(sigma)]):
        return None, None
    half = fit_steps(steps, sv, sigma, 0.5)
    lo, hi = fit_steps(steps, sv, sigma, 0.1), fit_steps(steps, sv, sigma, 0.9)
    rises = [(b - a) / b for a, b in zip(lo, hi) if a is not None and b is not None and b > 0]
    text = " ".join("-" if t is None else str(t) for t in half)
    return text, (float(sorted(rises)[len(rises) // 2]) if rises else None)


def tidy_row(config: dict, result: dict | None, *, error: str | None = None) -> dict:
    """One table row: the config fields, then TABLE_COLUMNS read from a ``cdln.run/1`` result."""
    r = result or {}
    steps = r.get("steps") or []
    half, rise = staircase(r)
    row = dict(config)
    row.update({
        "key": config_key(config),
        "status": "failed" if error else ("diverged" if r.get("diverged_step") is not None else "finished"),
        "converged_step": r.get("converged_step"),
        "diverged_step": r.get("diverged_step"),
        "stop_reason": r.get("stop_reason"),
        "final_step": _last(steps),
        "train_loss": _last(r.get("train_loss") or []),
        "recovery_error": _last(r.get("recovery_error") or []),
        "test_loss": _last(r.get("test_loss") or []),
        "wall_time": _last(r.get("wall_time") or []),
        "n_params": r.get("n_params"),
        "half_fit_steps": half,
        "rise_fraction": rise,
        "warnings": "; ".join(r.get("warnings") or []),
        "error": error,
    })
    return row


def write_table(out: Path, rows: list[dict]) -> Path:
    columns: list[str] = []
    for r in rows:
        columns += [k for k in r if k not in columns]
    path = out / "results.csv"
    fd, tmp = tempfile.mkstemp(dir=out, prefix=".results.", suffix=".csv.tmp")
    with os.fdopen(fd, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        for r in rows:
            w.writerow({k: "" if r.get(k) is None else r.get(k) for k in columns})
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return path
    pq.write_table(pa.Table.from_pylist(rows), out / "results.parquet")
    return path


def read_table(path: str | os.PathLike) -> list[dict]:
    """Rows of a sweep's results.csv (a folder or the file), numbers parsed back from text."""
    p = Path(path)
    p = p / "results.csv" if p.is_dir() else p
    with open(p, newline="") as f:
        return [{k: _parse(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _parse(text: str):
    if text == "":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"True": True, "False": False}.get(text, text)
