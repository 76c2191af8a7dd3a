"""``cdln sweep --grid``: a grid of run flags over seeds, on a process pool or a Dask cluster.

    cdln sweep --grid depth=2,3,4 lr_ratio=1,2,5 --seeds 5 [--workers N] [--scheduler ADDRESS] \
               --problem completion --d 100 --rank 5 --model cdln --lr 10 --steps 20000 --tol 1e-12 \
               --out results/

Every value of the grid is parsed with its flag's own type and every combination is checked
(``run.resolve``: ranges, combinations, memory) before the first run. ``--out`` is a folder: one
``cdln.run/1`` JSON per run in ``runs/<key>.json`` (the key hashes the run's config) and the tidy
table ``results.csv`` (``results.parquet`` too with pyarrow). A rerun of the same command skips the
runs already there, so an interrupted sweep resumes; Ctrl-C loses nothing finished. The local pool
runs one torch/BLAS thread per worker; ``--scheduler tcp://HOST:8786`` sends the runs to a Dask
cluster instead (``pip install "cdln-kit[dask]"``; start one with ``dask scheduler`` and
``dask worker tcp://HOST:8786 --nthreads 1`` on each machine, or with dask-jobqueue on SLURM).
"""

from __future__ import annotations

import argparse
import os

from . import common
from .common import FlagError, flag_name

__all__ = ["add_grid_flags", "parse_grid", "configs", "handler", "check_folder"]

RUN_ONE = "cdln_core.cli.run:run_config"


def add_grid_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--grid", nargs="+", metavar="FLAG=V1,V2", default=None,
                   help="grid mode: one or more FLAG=V1,V2,… (every combination is run); --out is then a folder")
    p.add_argument("--seeds", type=common.number(int, 1, 10**4), default=None,
                   help="grid mode: run each combination for seeds 0 … N−1 (N in [1, 10⁴], default 1)")
    p.add_argument("--workers", type=common.number(int, 1, 256), default=None,
                   help="grid mode: local worker processes, one thread each (default: the free cores; 1 = serial)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="grid mode: a Dask scheduler address (tcp://host:8786) to run on instead of the local pool")
    p.add_argument("--no-progress", action="store_true", help="grid mode: no progress bar")


def parse_grid(items: list[str]) -> dict[str, list]:
    """``["depth=2,3", "lr-ratio=1,2"]`` → {"depth": [2, 3], "lr_ratio": [1.0, 2.0]}; FlagError naming
    ``--grid`` and the bad item otherwise."""
    from .run import RUN_FLAGS

    grid: dict[str, list] = {}
    for item in items:
        name, eq, text = item.partition("=")
        name = name.strip().lstrip("-").replace("-", "_")
        if not eq or not text.strip():
            raise FlagError(f"--grid items must look like FLAG=V1,V2, got {item!r}")
        if name not in RUN_FLAGS or name == "seed":
            allowed = ", ".join(n for n in RUN_FLAGS if n != "seed")
            raise FlagError(f"--grid: {name!r} is not a run flag (one of {allowed}; seeds come from --seeds)")
        if name in grid:
            raise FlagError(f"--grid names {name} twice")
        kind, _, extra = RUN_FLAGS[name]
        values = []
        for v in text.split(","):
            v = v.strip()
            if "choices" in extra and v not in extra["choices"]:
                raise FlagError(f"--grid {name}: values must be among {', '.join(extra['choices'])}, got {v!r}")
            try:
                values.append(kind(v))
            except argparse.ArgumentTypeError as err:
                raise FlagError(f"--grid {name}: {flag_name(name)} {err}") from None
        if len(set(map(str, values))) != len(values):
            raise FlagError(f"--grid {name}: the values repeat ({text})")
        grid[name] = values
    return grid


def configs(args) -> list[dict]:
    """Every run of the grid, resolved (checked and with its defaults) before any runs."""
    from ..sweeps import expand_grid
    from .run import RUN_FLAGS, data_paths, resolve

    grid = parse_grid(args.grid)
    base = {n: getattr(args, n) for n in RUN_FLAGS} | data_paths(args)
    both = [flag_name(n) for n in grid if base.get(n) is not None]
    if both:
        raise FlagError(f"{', '.join(both)} given and also in --grid; give one of them")
    if args.seeds is not None and base.get("seed") is not None:
        raise FlagError("--seed and --seeds: give one of them (--seeds N runs seeds 0 … N−1)")
    seeds = [base["seed"]] if base.get("seed") is not None else list(range(args.seeds or 1))
    out = []
    for raw in expand_grid({k: v for k, v in base.items() if k != "seed"}, grid, seeds=seeds):
        try:
            out.append(resolve(raw))
        except FlagError as err:
            at = ", ".join(f"{n}={raw[n]}" for n in grid)
            raise FlagError(f"{err} (at --grid {at})") from None
    return out


def check_folder(path: str | None) -> None:
    """``--out`` in grid mode: a folder that exists or can be made (refused before any work)."""
    if path is None:
        raise FlagError("--out FOLDER is required with --grid (the runs and the table go there)")
    if path == "-" or path.strip() == "":
        raise FlagError(f"--out must be a folder with --grid, got {path!r}")
    real = os.path.realpath(path)
    if os.path.exists(real) and not os.path.isdir(real):
        raise FlagError(f"--out must be a folder with --grid, and {path!r} is a file")
    parent = real if os.path.isdir(real) else os.path.dirname(real)
    if not os.path.isdir(parent):
        raise FlagError(f"--out: the folder {os.path.dirname(path) or '.'!r} does not exist (for {path!r})")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise FlagError(f"--out: the folder {parent!r} is not writable")


def handler(args, parser) -> int:
    from ..sweeps import run_sweep
    from ..threads import available_cores

    if args.vary is not None or args.values:
        raise FlagError("--grid and --vary: give one of them")
    check_folder(args.out)
    runs = configs(args)
    if args.workers is not None and args.scheduler is not None:
        raise FlagError("--workers and --scheduler: give one of them (the cluster has its own workers)")
    if args.scheduler is not None:
        try:
            import dask.distributed  # noqa: F401
        except ImportError:
            raise FlagError('--scheduler needs Dask: pip install "cdln-kit[dask]"') from None
    workers = args.workers or min(len(runs), available_cores())
    where = f"the Dask cluster at {args.scheduler}" if args.scheduler else (
        "this process" if workers == 1 else f"{workers} local workers")
    common.say(f"sweep: {len(runs)} runs on {where}, results in {args.out}", "-")
    try:
        with common.quiet_native_output():
            summary = run_sweep(runs, RUN_ONE, out=args.out, workers=workers, scheduler=args.scheduler,
                                progress=not args.no_progress)
    except OSError as err:
        if args.scheduler is not None:
            raise FlagError(f"--scheduler {args.scheduler}: cannot reach the cluster ({err})") from None
        raise
    common.say(f"sweep: {summary.ran} run, {summary.skipped} already done, {summary.failed} failed, "
               f"{summary.diverged} diverged; table {summary.table}", "-")
    if summary.failed:
        return 1
    return common.EXIT_DIVERGED if summary.diverged else common.EXIT_OK
