"""Grid sweeps: expansion, resumption, the same numbers serially, on a process pool and on Dask."""

from __future__ import annotations

import json

import pytest

from cdln_core import sweeps
from cdln_core.cli.run import RUN_FLAGS, resolve

RUN = "cdln_core.cli.run:run_config"
BASE = {"problem": "factorization", "d": 8, "rank": 2, "model": "cdln", "depth": 2, "lr": 2.0, "steps": 60,
        "record_every": 20}


def grid_configs(seeds=2):
    raw = sweeps.expand_grid(BASE, {"depth": [2, 3], "lr_ratio": [1.0, 2.0]}, seeds=seeds)
    return [resolve({**dict.fromkeys(RUN_FLAGS), **c}) for c in raw]


def numbers(summary):
    return {r["key"]: (r["final_step"], r["train_loss"], r["recovery_error"]) for r in summary.rows}


def test_expand_grid_order_and_count():
    configs = sweeps.expand_grid({"a": 0}, {"x": [1, 2], "y": ["u", "v", "w"]}, seeds=[7, 8])
    assert len(configs) == 12
    assert configs[0] == {"a": 0, "x": 1, "y": "u", "seed": 7}
    assert configs[1] == {"a": 0, "x": 1, "y": "u", "seed": 8}
    assert configs[-1] == {"a": 0, "x": 2, "y": "w", "seed": 8}
    assert len({sweeps.config_key(c) for c in configs}) == 12
    with pytest.raises(ValueError, match="grid value list for 'x'"):
        sweeps.expand_grid({}, {"x": []})
    with pytest.raises(ValueError, match="seeds"):
        sweeps.expand_grid({}, {"x": [1]}, seeds=0)


def test_serial_resume_and_table(tmp_path):
    configs = grid_configs()
    first = sweeps.run_sweep(configs, RUN, out=tmp_path, progress=False)
    assert (first.total, first.ran, first.skipped, first.failed) == (8, 8, 0, 0)
    again = sweeps.run_sweep(configs, RUN, out=tmp_path, progress=False)
    assert (again.ran, again.skipped) == (0, 8)
    assert numbers(first) == numbers(again)
    rows = sweeps.read_table(tmp_path)
    assert len(rows) == 8
    for col in (*BASE, "seed", *sweeps.TABLE_COLUMNS):
        assert col in rows[0]
    assert all(isinstance(r["train_loss"], float) and isinstance(r["final_step"], int) for r in rows)
    assert {r["depth"] for r in rows} == {2, 3}
    saved = json.loads(next((tmp_path / "runs").glob("*.json")).read_text())
    assert saved["result"]["schema"] == "cdln.run/1"


def test_a_serial_sweep_gives_the_callers_threads_and_environment_back(tmp_path, monkeypatch):
    """It runs on one thread, as the pool's workers do, but must not leave OMP_NUM_THREADS=1 behind: a process
    started later (a notebook kernel) would inherit it and draw other numbers."""
    import os

    import torch

    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    before = torch.get_num_threads()
    seen = []
    sweeps.run_sweep(grid_configs()[:2], RUN, out=tmp_path, progress=False,
                     on_row=lambda row: seen.append(torch.get_num_threads()))
    assert seen == [1, 1]
    assert torch.get_num_threads() == before
    assert not {"OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"} & set(os.environ)


def test_interrupt_keeps_finished_runs(tmp_path):
    configs = grid_configs()
    seen = []

    def stop_after_three(row):
        seen.append(row)
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sweeps.run_sweep(configs, RUN, out=tmp_path, progress=False, on_row=stop_after_three)
    assert len(list((tmp_path / "runs").glob("*.json"))) == 3
    assert len(sweeps.read_table(tmp_path)) == 3  # the table of what finished is written
    resumed = sweeps.run_sweep(configs, RUN, out=tmp_path, progress=False)
    assert (resumed.skipped, resumed.ran) == (3, 5)


def test_pool_and_dask_give_the_serial_numbers(tmp_path):
    configs = grid_configs(seeds=1)
    serial = sweeps.run_sweep(configs, RUN, out=tmp_path / "serial", progress=False)
    pool = sweeps.run_sweep(configs, RUN, out=tmp_path / "pool", workers=2, progress=False)
    assert numbers(pool) == numbers(serial)
    from dask import distributed  # the "dask" extra, part of the test set-up

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as lc:
        with distributed.Client(lc) as client:
            dask = sweeps.run_sweep(configs, RUN, out=tmp_path / "dask", scheduler=client, progress=False)
            by_address = sweeps.run_sweep(configs, RUN, out=tmp_path / "dask2", scheduler=lc.scheduler_address,
                                          progress=False)
    assert numbers(dask) == numbers(serial)
    assert numbers(by_address) == numbers(serial)


def test_a_failing_run_is_a_row_not_the_end(tmp_path):
    configs = grid_configs(seeds=1)[:2]
    bad = dict(configs[0], d="not a number")  # the runner raises inside the worker
    summary = sweeps.run_sweep([bad, configs[1]], RUN, out=tmp_path, progress=False)
    assert summary.failed == 1 and summary.ran == 2
    failed = [r for r in summary.rows if r["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["error"]
    rerun = sweeps.run_sweep([bad, configs[1]], RUN, out=tmp_path, progress=False)
    assert (rerun.skipped, rerun.ran) == (1, 1)  # a failure is retried, a finished run is not


def test_sweep_figures():
    from cdln_core.plots.sweeps import sweep_line, sweep_map

    rows = [{"depth": L, "lr_ratio": a, "seed": s, "final_step": 10 * L + a + s}
            for L in (2, 3) for a in (1, 2, 5) for s in range(3)]
    line = sweep_line(rows, "lr_ratio", "final_step", group="depth")
    assert len(line.data) == 4  # a band and a median line per depth
    assert list(line.data[1].y) == [22.0, 23.0, 26.0]  # 20 + α + the median seed 1, at depth 2
    heat = sweep_map(rows, "lr_ratio", "depth", "final_step")
    assert heat.data[0].z.shape == (2, 3)
    with pytest.raises(ValueError, match="not a column"):
        sweep_line(rows, "alpha", "final_step")
