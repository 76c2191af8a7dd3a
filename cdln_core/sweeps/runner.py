"""Running a sweep: serially, on a local process pool (one thread per worker) or on a Dask cluster;
each finished run written atomically to ``out/runs/<key>.json``, so a rerun resumes.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .grid import config_key
from .table import tidy_row, write_table

__all__ = ["SweepSummary", "run_sweep"]

_THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def _resolve(path: str) -> Callable[[dict], dict]:
    module, _, name = path.partition(":")
    if not name:
        raise ValueError(f"run must be 'package.module:function', got {path!r}")
    return getattr(importlib.import_module(module), name)


def _one_thread() -> None:
    """Worker initializer: one torch/BLAS thread per worker process (a worker's environment is its own)."""
    for var in _THREAD_ENV:
        os.environ[var] = "1"
    import torch

    torch.set_num_threads(1)


def _work(run: str, config: dict, *, worker: bool = True) -> tuple[dict, dict | None, str | None]:
    """Run one config; never raises (a failure is a row with its error). In a worker (``worker``) it pins
    one thread first; the serial path pins its own, restored after, instead of touching the caller's
    environment for good (a later process it starts would inherit one thread and draw other numbers)."""
    if worker:
        _one_thread()
    try:
        return config, _resolve(run)(dict(config)), None
    except Exception as err:  # a failed run is data, not the end of the sweep
        return config, None, f"{type(err).__name__}: {err}".split("\n")[0]


def _write_json(path: Path, obj: Any) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, allow_nan=False)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@dataclass
class SweepSummary:
    """What a sweep did: runs in the grid, skipped (already done), run now, failed, and the table."""

    total: int
    skipped: int = 0
    ran: int = 0
    failed: int = 0
    diverged: int = 0
    table: Path | None = None
    rows: list[dict] = field(default_factory=list)


def _store(out: Path, config: dict, result: dict | None, error: str | None) -> dict:
    _write_json(out / "runs" / f"{config_key(config)}.json", {"config": config, "result": result, "error": error})
    return tidy_row(config, result, error=error)


def _load_done(out: Path, configs: Iterable[dict]) -> dict[str, dict]:
    done = {}
    for c in configs:
        p = out / "runs" / f"{config_key(c)}.json"
        if p.exists():
            try:
                rec = json.loads(p.read_text())
            except (OSError, json.JSONDecodeError):
                continue  # a damaged file is run again
            if rec.get("error") is None:
                done[config_key(c)] = tidy_row(c, rec.get("result"))
    return done


def _executor(workers: int, scheduler):
    if scheduler is not None:
        from dask.distributed import Client  # optional: pip install "cdln-kit[dask]"

        client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
        return client, client is not scheduler
    import multiprocessing as mp

    return ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                               initializer=_one_thread), True


def run_sweep(
    configs: Sequence[dict],
    run: str,
    *,
    out: str | os.PathLike,
    workers: int = 1,
    scheduler=None,
    progress: bool = True,
    on_row: Callable[[dict], None] | None = None,
) -> SweepSummary:
    """Run every config not already in ``out/runs`` and write ``out/results.csv``.

    ``workers`` = 1 and no scheduler runs serially in this process (with one thread, as the workers
    do). Ctrl-C: finished runs are kept, the table is written, then ``KeyboardInterrupt`` propagates.
    """
    out = Path(out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    keys = [config_key(c) for c in configs]
    if len(set(keys)) != len(keys):
        raise ValueError("the grid has duplicate configurations")
    done = _load_done(out, configs)
    todo = [c for c, k in zip(configs, keys) if k not in done]
    summary = SweepSummary(total=len(configs), skipped=len(done))
    rows = dict(done)
    bar = _bar(len(configs), len(done), progress)

    def take(config, result, error):
        row = _store(out, config, result, error)
        rows[row["key"]] = row
        summary.ran += 1
        summary.failed += error is not None
        summary.diverged += row["status"] == "diverged"
        if bar is not None:
            bar.update(1)
            bar.set_postfix(failed=summary.failed, diverged=summary.diverged)
        if on_row is not None:
            on_row(row)

    try:
        if workers == 1 and scheduler is None:
            from ..threads import use

            with use(1):  # one thread, as in the workers; restored after
                for c in todo:
                    take(*_work(run, c, worker=False))
        elif todo:
            _parallel(todo, run, workers, scheduler, take)
    finally:
        if bar is not None:
            bar.close()
        summary.rows = [rows[k] for k in keys if k in rows]
        summary.table = write_table(out, summary.rows)
    return summary


def _parallel(todo, run, workers, scheduler, take) -> None:
    pool, owned = _executor(workers, scheduler)
    try:
        if scheduler is not None:
            from dask.distributed import as_completed

            futures = [pool.submit(_work, run, c, pure=False) for c in todo]
            for fut in as_completed(futures):
                take(*fut.result())
            return
        pending = {pool.submit(_work, run, c) for c in todo}
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                take(*fut.result())
    except BaseException:
        if scheduler is None:
            pool.shutdown(wait=False, cancel_futures=True)
            owned = False
        raise
    finally:
        if owned:
            pool.close() if scheduler is not None else pool.shutdown()


def _bar(total: int, initial: int, progress: bool):
    if not progress:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is optional (the "sweep" extra)
        return None
    return tqdm(total=total, initial=initial, unit="run", desc="sweep", dynamic_ncols=True)
