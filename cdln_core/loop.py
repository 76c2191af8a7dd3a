"""The loop policy: one training loop shape for every model in the kit.

Matrix recovery (``training``), LoRA fitting (``lora``) and nonlinear training (``nonlinear``) each
say how to *evaluate* the loss at the current iterate (computing what the step needs), how to
*update*, and how to *record*; ``run`` does the rest, the same way for all of them:

- **clock**: wall time counts ``evaluate`` and ``update`` only; recording and callbacks are excluded;
- **records** at step 0, every ``record_every`` steps, and at the last step, whatever ended the run;
- **one divergence rule**: the loss is non-finite, or grows past ``diverge_factor`` times its value
  at step 0, or the numbers leave the finite range anywhere in a step or a record
  (``FloatingPointError``, ``torch.linalg.LinAlgError``): the run stops and reports the step;
- **stops**: ``steps`` reached, training loss ≤ ``tol`` (converged), ``max_seconds`` of
  optimization spent, a callback returning True (``stopped_step``; a diverging record still sets
  ``diverged_step``);
- **Ctrl-C**: ``Interrupted`` (a ``KeyboardInterrupt``) is raised with the records so far and an
  ``Outcome`` whose ``interrupted_step`` is set, so a caller can save the partial run and exit 130.

    records, outcome = run(evaluate, update, record, LoopConfig(steps=1000, tol=1e-12))

Results share one frozen family: a record is a ``StepRecord`` (step, train_loss, wall_time) with the
fields of its kind added, and a run is a ``RunResult`` (records, outcome) whose ``to_dict()`` carries the
outcome fields (``stop_reason``, ``converged_step``, ``diverged_step``, ``stopped_step``,
``interrupted_step``, ``divergence_note``). ``training.Record``/``Trajectory`` extend them.

Reference: [K] Algorithm 1 (full-batch gradient descent with two step sizes); the divergence and
timing conventions are the kit's own.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from .checks import check_int, check_number

__all__ = ["REASONS", "LoopConfig", "Outcome", "StepRecord", "RunResult", "Interrupted", "Clock", "divergence", "run"]

REASONS = ("steps", "converged", "diverged", "max_seconds", "callback", "interrupted")
_NUMERIC_ERRORS = (FloatingPointError, torch.linalg.LinAlgError, OverflowError)


@dataclass(frozen=True)
class LoopConfig:
    """steps: the most updates (≥ 0).  record_every: k ≥ 1.  tol: stop when the training loss ≤ tol
    (0: never).  diverge_factor: > 1, the growth over the step-0 loss that counts as divergence.
    max_seconds: an optimization-time budget (None: none)."""

    steps: int
    record_every: int = 100
    tol: float = 0.0
    diverge_factor: float = 1e8
    max_seconds: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "steps", check_int("steps", self.steps, 0))
        object.__setattr__(self, "record_every", check_int("record_every", self.record_every, 1))
        object.__setattr__(self, "tol", check_number("tol", self.tol, low=0.0))
        object.__setattr__(self, "diverge_factor", check_number("diverge_factor", self.diverge_factor, low=1.0,
                                                                 low_open=True))
        if self.max_seconds is not None:
            object.__setattr__(self, "max_seconds", check_number("max_seconds", self.max_seconds, low=0.0,
                                                                  low_open=True))


@dataclass(frozen=True)
class Outcome:
    """How a run ended. ``reason`` is one of REASONS; ``last_step`` the step of the last evaluation;
    ``wall_time`` the optimization seconds; ``note`` a sentence on a divergence (what was non-finite)."""

    reason: str
    last_step: int
    wall_time: float
    converged_step: int | None = None
    diverged_step: int | None = None
    stopped_step: int | None = None
    interrupted_step: int | None = None
    note: str | None = None

    def to_dict(self) -> dict:
        return {
            "stop_reason": self.reason,
            "converged_step": self.converged_step,
            "diverged_step": self.diverged_step,
            "stopped_step": self.stopped_step,
            "interrupted_step": self.interrupted_step,
            "divergence_note": self.note,
        }


@dataclass(frozen=True)
class StepRecord:
    """What every record holds: the step, the training loss there and the optimization seconds so far.
    Subclass it (``@dataclass(frozen=True, kw_only=True)``) to add the fields of a kind of run."""

    step: int
    train_loss: float
    wall_time: float


@dataclass(frozen=True)
class RunResult:
    """A finished (or interrupted) run: its records in step order and how it ended. Subclass it
    (``kw_only=True``) to add what a kind of run returns (final weights, parameter counts, ...)."""

    records: tuple = ()
    outcome: Outcome = Outcome("steps", 0, 0.0)

    def __post_init__(self):
        object.__setattr__(self, "records", tuple(self.records))

    def column(self, name: str) -> list:
        """One field of every record, in step order."""
        return [getattr(r, name) for r in self.records]

    @property
    def steps(self) -> list[int]:
        return self.column("step")

    @property
    def train_loss(self) -> list[float]:
        return self.column("train_loss")

    @property
    def wall_time(self) -> list[float]:
        return self.column("wall_time")

    # how the run ended, read from the outcome (``stop_reason`` is ``outcome.reason``, ``divergence_note`` its note)
    stop_reason = property(lambda self: self.outcome.reason)
    converged_step = property(lambda self: self.outcome.converged_step)
    diverged_step = property(lambda self: self.outcome.diverged_step)
    stopped_step = property(lambda self: self.outcome.stopped_step)
    interrupted_step = property(lambda self: self.outcome.interrupted_step)
    divergence_note = property(lambda self: self.outcome.note)

    @property
    def seconds(self) -> float:
        """Optimization seconds of the whole run (recording excluded)."""
        return self.outcome.wall_time

    def to_dict(self) -> dict:
        """Plain lists and numbers: the recorded columns and the outcome fields."""
        return {"steps": self.steps, "train_loss": self.train_loss, "wall_time": self.wall_time,
                **self.outcome.to_dict()}


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a run. ``records`` and ``outcome`` hold what was done; a caller that wraps them
    in its own result type sets ``result`` and re-raises."""

    def __init__(self, records: list, outcome: Outcome, result: Any = None):
        super().__init__(f"interrupted at step {outcome.interrupted_step}")
        self.records, self.outcome, self.result = records, outcome, result


class Clock:
    """Accumulates the seconds spent inside ``with clock:`` blocks."""

    def __init__(self):
        self.seconds = 0.0
        self._tic = 0.0

    def __enter__(self):
        self._tic = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds += time.perf_counter() - self._tic
        return False


def divergence(loss: float, loss0: float, factor: float) -> str | None:
    """Why ``loss`` counts as diverged against the step-0 ``loss0`` (None if it does not)."""
    if not math.isfinite(loss):
        return f"the training loss is {loss}"
    if loss > factor * max(loss0, 1e-300):
        return f"the training loss grew to {loss:.3g}, past {factor:g} times its start {loss0:.3g}"
    return None


def run(
    evaluate: Callable[[int], float],
    update: Callable[[int], None],
    record: Callable[[int, float, float], Any],
    config: LoopConfig,
    *,
    callback: Callable[[Any], bool | None] | None = None,
) -> tuple[list, Outcome]:
    """The loop. ``evaluate(t)`` returns the training loss at step t's iterate (and prepares the
    step); ``update(t)`` applies it; ``record(t, loss, wall_time)`` returns a record (or None to keep
    nothing). Returns (records, outcome); raises ``Interrupted`` on Ctrl-C."""
    clock, records = Clock(), []
    loss0 = loss = math.nan
    t = 0

    def keep(step: int, value: float) -> bool:
        """Record; True if the callback asks to stop. A record that leaves the finite range raises."""
        rec = record(step, value, clock.seconds)
        if rec is None:
            return False
        records.append(rec)
        return bool(callback(rec)) if callback is not None else False

    def outcome(reason: str, **steps) -> Outcome:
        return Outcome(reason=reason, last_step=t, wall_time=clock.seconds, **steps)

    factor, tol, budget, every, steps = (config.diverge_factor, config.tol, config.max_seconds,
                                         config.record_every, config.steps)
    now = time.perf_counter
    try:
        while True:
            note = None
            tic = now()
            try:
                loss = float(evaluate(t))
            except _NUMERIC_ERRORS as err:
                loss, note = math.nan, f"the numbers left the finite range ({err})".split("\n")[0]
            clock.seconds += now() - tic
            if t == 0:
                loss0 = loss
            if note is None and not (-math.inf < loss <= factor * max(loss0, 1e-300)):  # NaN fails it too
                note = divergence(loss, loss0, factor)
            converged = note is None and loss <= tol
            out_of_time = budget is not None and clock.seconds >= budget
            last = t >= steps or note is not None or converged or out_of_time
            stop = False
            if last or t % every == 0:
                try:
                    stop = keep(t, loss)
                except _NUMERIC_ERRORS as err:
                    note = note or f"a record left the finite range ({err})".split("\n")[0]
            if note is not None:
                return records, outcome("diverged", diverged_step=t, stopped_step=t if stop else None, note=note)
            if converged:
                return records, outcome("converged", converged_step=t, stopped_step=t if stop else None)
            if stop:
                return records, outcome("callback", stopped_step=t)
            if out_of_time:
                return records, outcome("max_seconds")
            if last:
                return records, outcome("steps")
            tic = now()
            try:
                update(t)
            except _NUMERIC_ERRORS as err:
                clock.seconds += now() - tic
                t += 1
                note = f"the update left the finite range ({err})".split("\n")[0]
                return records, outcome("diverged", diverged_step=t, note=note)
            clock.seconds += now() - tic
            t += 1
    except KeyboardInterrupt:
        done = outcome("interrupted", interrupted_step=t)
        raise Interrupted(records, done) from None
