"""The loop policy: stops, the one divergence rule with its step, the clock, callbacks and Ctrl-C."""

import json
import math

import numpy as np
import pytest
import torch

from cdln_core import loop
from cdln_core.loop import Interrupted, LoopConfig, Outcome, RunResult, StepRecord, run


class FakeClock:
    """Replaces time.perf_counter in the loop: time moves only when a test says so."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(loop.time, "perf_counter", fake)
    return fake


def _run(losses, config, *, update=None, record=None, callback=None):
    """A loop over a scripted loss sequence; records are StepRecords."""
    def evaluate(t):
        value = losses(t)
        if isinstance(value, BaseException):
            raise value
        return value
    record = record or (lambda t, loss, wall: StepRecord(t, loss, wall))
    return run(evaluate, update or (lambda t: None), record, config, callback=callback)


def test_runs_to_steps_and_records_step_zero_every_k_and_the_last():
    records, out = _run(lambda t: 1.0 / (t + 1), LoopConfig(steps=25, record_every=10))
    assert [r.step for r in records] == [0, 10, 20, 25]
    assert out.reason == "steps" and out.last_step == 25 and out.converged_step is None


def test_converges_at_the_first_step_below_tol():
    records, out = _run(lambda t: 0.5**t, LoopConfig(steps=100, record_every=7, tol=1e-3))
    assert out.reason == "converged" and out.converged_step == 10  # 0.5**10 < 1e-3 < 0.5**9
    assert records[-1].step == 10


@pytest.mark.parametrize("bad,step,words", [
    (lambda t: math.nan if t == 4 else 1.0, 4, "nan"),
    (lambda t: math.inf if t == 3 else 1.0, 3, "inf"),
    (lambda t: 1.0 if t < 6 else 1e9, 6, "grew"),
    (lambda t: FloatingPointError("overflow in matmul") if t == 2 else 1.0, 2, "finite range"),
    (lambda t: torch.linalg.LinAlgError("svd did not converge") if t == 5 else 1.0, 5, "finite range"),
])
def test_every_way_of_diverging_is_reported_with_its_step(bad, step, words):
    records, out = _run(bad, LoopConfig(steps=50, record_every=100, diverge_factor=1e8))
    assert out.reason == "diverged" and out.diverged_step == step
    assert words in out.note and "\n" not in out.note
    assert records[-1].step == step  # the diverging step is recorded


def test_an_update_that_leaves_the_finite_range_diverges_at_the_next_step():
    def update(t):
        if t == 3:
            raise FloatingPointError("overflow")
    _, out = _run(lambda t: 1.0, LoopConfig(steps=50), update=update)
    assert out.reason == "diverged" and out.diverged_step == 4


def test_a_record_that_leaves_the_finite_range_is_divergence_not_a_traceback():
    def record(t, loss, wall):
        if t == 20:
            raise torch.linalg.LinAlgError("linalg.svd: The algorithm failed to converge")
        return StepRecord(t, loss, wall)
    records, out = _run(lambda t: 1.0, LoopConfig(steps=50, record_every=10), record=record)
    assert out.diverged_step == 20 and "record" in out.note
    assert [r.step for r in records] == [0, 10]


def test_callback_stops_and_a_diverging_record_still_counts_as_divergence():
    _, out = _run(lambda t: 1.0, LoopConfig(steps=50, record_every=5), callback=lambda r: r.step == 15)
    assert out.reason == "callback" and out.stopped_step == 15 and out.diverged_step is None
    _, out = _run(lambda t: math.nan if t == 10 else 1.0, LoopConfig(steps=50, record_every=5),
                  callback=lambda r: not math.isfinite(r.train_loss))
    assert out.reason == "diverged" and out.diverged_step == 10 and out.stopped_step == 10


def test_the_clock_counts_evaluate_and_update_but_not_recording(clock):
    def evaluate(t):
        clock.now += 1.0
        return 1.0

    def update(t):
        clock.now += 2.0

    def record(t, loss, wall):
        clock.now += 100.0  # recording (and the callback) must not count
        return StepRecord(t, loss, wall)

    records, out = run(evaluate, update, record, LoopConfig(steps=10, record_every=5), callback=lambda r: False)
    # step t's record sees t+1 evaluations and t updates
    assert [r.wall_time for r in records] == [1.0, 16.0, 31.0]
    assert out.wall_time == 31.0


def test_max_seconds_stops_after_the_budget(clock):
    def evaluate(t):
        clock.now += 1.0
        return 1.0
    records, out = run(evaluate, lambda t: None, lambda t, loss, wall: StepRecord(t, loss, wall),
                       LoopConfig(steps=100, record_every=50, max_seconds=4.5))
    assert out.reason == "max_seconds" and out.last_step == 4 and records[-1].step == 4


def test_ctrl_c_raises_interrupted_with_the_records_so_far():
    with pytest.raises(Interrupted) as info:
        _run(lambda t: KeyboardInterrupt() if t == 7 else 1.0, LoopConfig(steps=50, record_every=2))
    err = info.value
    assert isinstance(err, KeyboardInterrupt)
    assert err.outcome.reason == "interrupted" and err.outcome.interrupted_step == 7
    assert [r.step for r in err.records] == [0, 2, 4, 6]
    assert str(err) == "interrupted at step 7"


@pytest.mark.parametrize("kwargs,name,error", [
    (dict(steps=-1), "steps", ValueError), (dict(steps=1.0), "steps", TypeError),
    (dict(steps=10, record_every=0), "record_every", ValueError), (dict(steps=10, tol=-1e-3), "tol", ValueError),
    (dict(steps=10, tol=math.inf), "tol", ValueError), (dict(steps=10, diverge_factor=1.0), "diverge_factor", ValueError),
    (dict(steps=10, diverge_factor=math.nan), "diverge_factor", ValueError),
    (dict(steps=10, diverge_factor=math.inf), "diverge_factor", ValueError),
    (dict(steps=10, max_seconds=0.0), "max_seconds", ValueError), (dict(steps=True), "steps", TypeError),
])
def test_loop_config_rejects_bad_values_naming_them(kwargs, name, error):
    with pytest.raises(error, match=name):
        LoopConfig(**kwargs)


def test_loop_config_accepts_numpy_scalars_as_plain_numbers():
    c = LoopConfig(steps=np.int64(10), record_every=np.int32(2), tol=np.float32(0.5), diverge_factor=np.float64(10))
    assert type(c.steps) is int and type(c.record_every) is int and type(c.tol) is float
    assert type(c.diverge_factor) is float


def test_run_result_columns_outcome_and_strict_json():
    records, out = _run(lambda t: 2.0 - t / 10, LoopConfig(steps=3, record_every=1))
    res = RunResult(records=records, outcome=out)
    assert res.steps == [0, 1, 2, 3] and res.train_loss == [2.0, 1.9, 1.8, 1.7] and res.stop_reason == "steps"
    assert isinstance(res.records, tuple)
    with pytest.raises(AttributeError):
        res.records = ()  # frozen
    d = res.to_dict()
    assert {"stop_reason", "converged_step", "diverged_step", "stopped_step", "interrupted_step",
            "divergence_note"} <= set(d)
    json.dumps(d, allow_nan=False)
    assert Outcome("diverged", 3, 0.1, diverged_step=3, note="x").to_dict()["divergence_note"] == "x"
