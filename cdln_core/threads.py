"""Thread policy: how many torch (and BLAS) threads a run uses, chosen once, restored after.

One rule for every loop in the kit (matrix recovery, LoRA fitting, nonlinear training): small or
memory-bound steps run on one thread (a hand-off between cores costs more than such a step, and on
a busy machine it costs far more); large matmul-bound steps use the cores the machine can give now,
never more than torch's own setting.

    n = choose(work=d * d * k)             # multiply-adds of the step's largest product
    with use(n):
        ...                                # the loop

Reference: the contention measurements in ``benchmarks/``.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import torch

__all__ = ["SMALL_WORK", "available_cores", "choose", "use"]

SMALL_WORK = 2**21  # multiply-adds below which a step is too short for a thread hand-off to pay


def available_cores() -> int:
    """Cores this process may use that are not already busy (affinity minus the 1-minute load, ≥ 1)."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except OSError:
        busy = 0.0
    return max(1, min(n, round(n - busy + 1)))  # +1: this process's own load counts in the average


def choose(work: int | None = None, *, requested: int | None = None, memory_bound: bool = False) -> int:
    """Threads for a run: ``requested`` if given; 1 for small (``work`` < SMALL_WORK) or memory-bound
    steps; otherwise the free cores, at most torch's setting."""
    if requested is not None:
        return requested
    if memory_bound or (work is not None and work < SMALL_WORK):
        return 1
    return max(1, min(torch.get_num_threads(), available_cores()))


@contextmanager
def use(n: int | None):
    """Run the block with ``n`` torch threads (None: leave torch alone); restores the setting after."""
    before = torch.get_num_threads()
    if n is not None and n != before:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
