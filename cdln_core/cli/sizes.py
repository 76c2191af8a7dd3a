"""What a ``cdln run`` will cost, estimated before anything is allocated.

Memory: the target and the problem's data (Ω, the sensing operator), the model's factors with what a
gradient step keeps beside them, and the records (every singular value of E and of each factor, held
as arrays, lists and JSON text). Time: initialization, the gradient steps and the records' SVDs, at a
rate this kind of machine reaches (float64, a few cores). The estimates are rough (a factor of a few);
they exist to refuse what cannot finish — "--d 100000 needs 80 GB" — not to predict run times.
"""

from __future__ import annotations

import math

from .common import FlagError, check_size

__all__ = ["FLOP_RATE", "STEP_OVERHEAD", "TIME_LIMIT", "memory", "seconds", "check", "check_all"]

FLOP_RATE = 5e10  # float64 flop/s of a matmul on a couple of cores (README: 65 GFLOP/s measured on 2 cores)
GAUSS_RATE = 1e8  # Gaussian draws per second, for a sensing operator regenerated chunk by chunk
STEP_OVERHEAD = 2e-5  # seconds of Python and dispatch per factor per step
TIME_LIMIT = 86_400.0  # a run estimated past a day is refused (bound it with --steps or --max-seconds)
_F = 8  # bytes per float64
_PER_RECORDED_NUMBER = 64  # bytes per recorded singular value: numpy, a Python float in a list, JSON text
_FASTEST_STEP = 1e-5  # seconds: no gradient step of the kit is faster
_OPERATOR_BYTES = 2**31  # a sensing operator up to this size is kept (unless the problem says); larger: in chunks


def _width(c: dict) -> int:
    """The narrow width of the model: d (dln), r̂ (cdln) or 2r̂ (compressed)."""
    d, k = c["d"], c.get("rank_hat")
    if c["model"] == "dln" or k is None:
        return d
    return min(d, 2 * k if c["model"] == "compressed" else k)


def _operator_kept(c: dict) -> bool:
    return c["measurements"] * c["d"] ** 2 * _F <= (c.get("max_operator_bytes") or _OPERATOR_BYTES)


def memory(c: dict) -> list[tuple[float, str]]:
    """(bytes, what) for each part of a resolved run config; ``what`` names the flags responsible.
    The last part is the records (kept until the end of a sweep); the others are freed after the run."""
    d, L, k = c["d"], c["depth"], _width(c)
    parts = [(5.0 * d * d * _F, f"--d {d} for the target Φ and its draw")]
    if c["problem"] == "completion":
        n = math.floor(c["observed"] * d * d)
        parts.append((3.0 * d * d * _F + 6.0 * n * _F, f"--d {d} --observed {c['observed']:g} for the mask Ω"))
    if c["problem"] == "rank_one":  # vectors a_i, b_i: no d² per measurement
        m = c["measurements"]
        parts.append((8.0 * (2 * d + 4) * m, f"--measurements {m} --d {d} for the rank-one measurements"))
    if c["problem"] == "sensing":
        m = c["measurements"]
        kept = m * d * d * _F if _operator_kept(c) else 256.0 * d * d * _F
        parts.append((kept + 4.0 * m * _F, f"--measurements {m} --d {d} for the sensing operator"))
    if c["model"] == "dln":
        parts.append((4.0 * L * d * d * _F + 2.0 * d * d * _F, f"--d {d} --depth {L} for the wide network"))
    elif c["model"] == "cdln":
        params = 2.0 * d * k + (L - 2) * k * k
        parts.append((4.0 * params * _F + 5.0 * d * d * _F, f"--d {d} --depth {L} for the C-DLN and its surrogate"))
    else:  # compressed: the wide init is drawn first, then projected
        parts.append(((L + 5.0) * d * d * _F + 4.0 * (2.0 * d * k + L * k * k) * _F,
                      f"--d {d} --depth {L} for the wide init of the compressed network"))
    per_record, steps = d + L * k, c["steps"]
    if c.get("max_seconds") is not None:  # the budget bounds the steps, at the fastest a step can be
        steps = min(steps, math.ceil(c["max_seconds"] / _FASTEST_STEP))
    parts.append((_records(c, steps) * per_record * _PER_RECORDED_NUMBER,
                  f"--steps {c['steps']} --record-every {c['record_every']} for the records"))
    return parts


def _records(c: dict, steps: float | None = None) -> float:
    steps = c["steps"] if steps is None else steps
    return steps // c["record_every"] + 2


def _step_seconds(c: dict) -> float:
    d, L, k = c["d"], c["depth"], _width(c)
    if c["model"] == "dln":
        flops = 6.0 * L * d**3
    else:
        flops = 8.0 * d * d * k + 6.0 * L * k**3 + (4.0 * d * d * k if c["model"] == "compressed" else 0.0)
    extra = 0.0
    if c["problem"] == "sensing":
        m = c["measurements"]
        flops += 4.0 * m * d * d
        if not _operator_kept(c):
            extra = 2.0 * m * d * d / GAUSS_RATE
    if c["problem"] == "rank_one":
        flops += 4.0 * c["measurements"] * d * (d + k)
    return flops / FLOP_RATE + extra + STEP_OVERHEAD * (L + 2)


def seconds(c: dict) -> float:
    """A rough wall-clock estimate for the whole run (a ``--max-seconds`` budget caps the steps)."""
    d, L, k = c["d"], c["depth"], _width(c)
    init = 20.0 * d**3 * (1 + (L if c["model"] != "cdln" else 1)) / FLOP_RATE  # σ's draw, orthogonal factors
    if c["problem"] == "sensing":
        init += c["measurements"] * d * d * (1 / GAUSS_RATE + 2 / FLOP_RATE)
    step = _step_seconds(c)
    steps = c["steps"]
    if c.get("max_seconds") is not None:
        steps = min(steps, math.ceil(c["max_seconds"] / step) + 1)
    record = 20.0 * (d**3 + L * d * k * k) / FLOP_RATE + STEP_OVERHEAD * L
    return init + steps * step + _records(c, steps) * record


def _duration(s: float) -> str:
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if s >= size:
            return f"{s / size:.3g} {unit}"
    return f"{s:.3g} s"


def check(c: dict) -> None:
    """Refuse (FlagError) a run this machine cannot hold, or one estimated to take past TIME_LIMIT."""
    parts = memory(c)
    total = sum(b for b, _ in parts)
    biggest = max(parts)[1]
    flags, _, what = biggest.partition(" for ")
    check_size(total, f"{flags} needs {{need}} (most of it for {what})")
    s = seconds(c)
    if s > TIME_LIMIT:
        raise FlagError(f"--steps {c['steps']} at --d {c['d']} --depth {c['depth']} (--model {c['model']}) would "
                        f"take about {_duration(s)} by a rough estimate, past the limit of {_duration(TIME_LIMIT)}: "
                        "ask for fewer --steps or bound the run with --max-seconds")


def check_all(configs: list[dict]) -> None:
    """``check`` each run of a sweep, then the sweep: its records add up, and so does its time."""
    for c in configs:
        check(c)
    parts = [memory(c) for c in configs]
    need = sum(p[-1][0] for p in parts) + max(sum(b for b, _ in p[:-1]) for p in parts)
    check_size(need, f"--vary with {len(configs)} values needs {{need}} (the records of every run)")
    s = sum(seconds(c) for c in configs)
    if s > TIME_LIMIT:
        raise FlagError(f"--vary with {len(configs)} values would take about {_duration(s)} by a rough estimate, "
                        f"past the limit of {_duration(TIME_LIMIT)}: fewer values, fewer --steps or --max-seconds")
