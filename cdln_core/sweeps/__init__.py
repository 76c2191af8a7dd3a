"""Grid sweeps over seeds: resumable, on a local process pool or a Dask cluster, as a tidy table.

A sweep is a list of run configurations (plain dicts), each run by a function named by a dotted path
(``"package.module:function"``, resolved inside the worker, so nothing but the config is shipped):

    configs = expand_grid(base, {"depth": [2, 3, 4], "lr_ratio": [1, 2, 5]}, seeds=5)   # 45 runs
    summary = run_sweep(configs, "cdln_core.cli.run:run_json", out="results/", workers=2)

- **Keyed**: each run's key is a hash of its canonical JSON config (``config_key``); its result is
  written atomically to ``out/runs/<key>.json``. A rerun skips keys already there, so an interrupted
  sweep resumes where it stopped and Ctrl-C never loses a finished run.
- **Local by default**: a process pool (spawned workers, one torch/BLAS thread each: no
  oversubscription, the same numbers as a serial run).
- **Distributed**: ``scheduler="tcp://host:8786"`` (or a ``dask.distributed.Client``) sends the runs
  to a Dask cluster (``pip install "cdln-kit[dask]"``); same numbers as local.
- **Tidy table**: ``out/results.csv`` (and ``results.parquet`` if pyarrow is installed), one row per
  run: every config field, then the outcome columns of ``tidy_row``.

Modules: ``grid`` (expand_grid, config_key), ``runner`` (run_sweep), ``table`` (tidy_row, staircase,
read_table).

Reference: the sweeps behind [K] §5's ablations (α, depth, p) and [Y] §3's.
"""

from .grid import config_key, expand_grid
from .runner import SweepSummary, run_sweep
from .table import TABLE_COLUMNS, read_table, staircase, tidy_row, write_table

__all__ = ["SweepSummary", "expand_grid", "config_key", "tidy_row", "staircase", "run_sweep", "read_table",
           "write_table", "TABLE_COLUMNS"]
