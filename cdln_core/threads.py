"""Thread policy: how many torch (and BLAS) threads a run uses, chosen once, restored after.

One rule for every loop in the kit (matrix recovery, LoRA fitting, nonlinear training):

- small steps (``work`` < SMALL_WORK multiply-adds) and memory-bound steps (sparse products, a
  sensing operator read once per step) run on **one thread**: a hand-off between cores costs more
  than such a step gains, and on a busy machine a thread waiting for a taken core costs far more;
- large matmul-bound steps use the cores that are **idle now** (measured over a short window from
  ``/proc/stat``, not the lagging load average), never more than torch's own setting;
- inside ``use(n)`` torch *and* the BLAS behind NumPy run n threads (via ``threadpoolctl`` when it is
  installed), so the NumPy engine and torch never oversubscribe the cores between them.

    n = choose(work=d * d * k)             # multiply-adds of the step's largest product
    with use(n):
        ...                                # the loop

Reference: the contention measurements in ``benchmarks/bench_recovery.py --contention``.
"""

from __future__ import annotations

import os
import time
from contextlib import ExitStack, contextmanager

import torch

from .checks import check_int

__all__ = ["SMALL_WORK", "available_cores", "idle_cores", "choose", "use"]

SMALL_WORK = 2**21  # multiply-adds below which a step is too short for a thread hand-off to pay
_WINDOW = 0.05  # seconds of /proc/stat sampling
_CACHE_SECONDS = 1.0
_cache: dict = {}


def _affinity() -> set[int]:
    try:
        return set(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return set(range(os.cpu_count() or 1))


def _cpu_times(cpus: set[int]) -> tuple[int, int] | None:
    """(idle, total) jiffies summed over ``cpus``, or None without /proc/stat."""
    try:
        with open("/proc/stat") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    idle = total = 0
    for line in lines:
        name, *fields = line.split()
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
            ticks = [int(x) for x in fields[:8]]
            idle += ticks[3] + ticks[4]  # idle + iowait
            total += sum(ticks)
    return (idle, total) if total else None


def idle_cores(window: float = _WINDOW) -> float | None:
    """How many of this process's cores were idle over the last ``window`` seconds (None if unknown).

    Cached for a second, so a run of short calls samples once."""
    now = time.monotonic()
    if _cache and now - _cache["at"] < _CACHE_SECONDS:
        return _cache["idle"]
    cpus = _affinity()
    a = _cpu_times(cpus)
    if a is None:
        return None
    time.sleep(window)  # this process sleeps: its own core counts as idle
    b = _cpu_times(cpus)
    if b is None or b[1] <= a[1]:
        return None
    idle = len(cpus) * (b[0] - a[0]) / (b[1] - a[1])
    _cache.update(at=time.monotonic(), idle=idle)
    return idle


def available_cores() -> int:
    """Cores this process may use that are not busy now (≥ 1): idle cores measured over a short
    window, falling back to affinity minus the 1-minute load average where /proc/stat is absent."""
    n = len(_affinity())
    idle = idle_cores()
    if idle is not None:
        return max(1, min(n, int(idle + 0.25)))  # a core three-quarters idle counts as free
    try:
        busy = os.getloadavg()[0]
    except OSError:
        busy = 0.0
    return max(1, min(n, round(n - busy + 1)))  # +1: this process's own load counts in the average


def choose(work: int | None = None, *, requested: int | None = None, memory_bound: bool = False) -> int:
    """Threads for a run: ``requested`` if given (an int ≥ 1); 1 for small (``work`` < SMALL_WORK) or
    memory-bound steps; otherwise the idle cores, at most torch's setting."""
    if requested is not None:
        return check_int("threads", requested, 1)
    if memory_bound or (work is not None and work < SMALL_WORK):
        return 1
    return max(1, min(torch.get_num_threads(), available_cores()))


@contextmanager
def use(n: int | None):
    """Run the block with ``n`` torch threads and n BLAS threads for NumPy (None: leave both alone);
    restores both after."""
    before = torch.get_num_threads()
    with ExitStack() as stack:
        if n is not None:
            n = check_int("threads", n, 1)
            try:
                from threadpoolctl import threadpool_limits  # optional: NumPy's BLAS pool
            except ImportError:
                pass
            else:
                stack.enter_context(threadpool_limits(limits=n, user_api="blas"))
            if n != before:
                torch.set_num_threads(n)
        try:
            yield
        finally:
            if torch.get_num_threads() != before:
                torch.set_num_threads(before)
