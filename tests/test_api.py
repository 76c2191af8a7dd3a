"""The Python API at the boundary: a result, or a ValueError/TypeError that names the argument.

make_problem → make_network → TrainConfig → train over generated values, valid and not: numpy scalars
are numbers, bools are not, inf and nan are rejected where they make no sense, and nothing ends in a
deep traceback. Sizes stay small, so every case runs in bounded time.
"""

import math
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import cdln_core as C
from cdln_core import threads

ARGUMENTS = ("kind", "problem", "d", "rank", "observed", "measurements", "noise", "singular_values",
             "condition_number", "seed", "depth", "rank_hat", "init_scale", "lr_ratio", "Ws", "network", "config",
             "lr", "steps", "tol", "record_every", "keep_factors", "diverge_factor", "threads", "max_seconds",
             "engine")

# values no argument of the API accepts as a number
JUNK = st.sampled_from([None, "3", "0.1", True, False, [1], {"a": 1}, math.nan, -math.inf, math.inf, 1.5, -7,
                        np.float32(0.5), np.int64(-2), 2**70])


def _names_an_argument(err: Exception) -> bool:
    message = str(err)
    return any(re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", message) for name in ARGUMENTS)


def _mostly(valid):
    """``valid`` (as a Python or a numpy number) nine times in ten, junk otherwise: enough cases reach ``train``."""
    return st.integers(0, 9).flatmap(lambda k: JUNK if k == 9 else valid)


def ints(low, high):
    return _mostly(st.one_of(st.integers(low, high), st.integers(low, high).map(np.int64)))


def floats(low, high):
    return _mostly(st.one_of(st.floats(low, high), st.floats(low, high).map(np.float64)))


CASE = st.fixed_dictionaries({
    "problem": st.fixed_dictionaries({
        "kind": _mostly(st.sampled_from(["factorization", "completion", "sensing"])),
        "d": ints(1, 8), "rank": ints(1, 3), "seed": _mostly(st.integers(0, 2**63 - 1)),
    }, optional={"observed": floats(0.01, 1.0), "measurements": ints(1, 200), "noise": floats(0.0, 1.0),
                 "condition_number": floats(1.0, 100.0)}),
    "network": st.fixed_dictionaries({
        "kind": _mostly(st.sampled_from(["dln", "cdln", "compressed"])),
        "depth": ints(1, 5),
    }, optional={"rank_hat": ints(1, 8), "init_scale": floats(1e-4, 10.0), "lr_ratio": floats(0.0, 10.0),
                 "seed": _mostly(st.integers(0, 2**63 - 1))}),
    "config": st.fixed_dictionaries({"lr": floats(1e-6, 1e6), "steps": ints(0, 25)},
                                    optional={"tol": floats(0.0, 1.0), "record_every": ints(1, 10**9),
                                              "keep_factors": _mostly(st.booleans()),
                                              "diverge_factor": floats(1.5, 1e12), "threads": ints(1, 1),
                                              "max_seconds": floats(1e-3, 5.0),
                                              "engine": _mostly(st.sampled_from(["auto", "torch", "numpy"]))}),
    "as_dict": st.integers(0, 9).map(lambda k: k == 9),
})


def _pipeline(case):
    p, n, c = dict(case["problem"]), dict(case["network"]), case["config"]
    # one thread: these matrices are tiny, and a 2-thread LAPACK call can stall on an oversubscribed
    # machine (see cdln_core/__init__.py); the thread count itself is tested in test_training.py
    with threads.use(1):
        problem = C.make_problem(p.pop("kind"), p.pop("d"), p.pop("rank"), **p)
        network = C.make_network(n.pop("kind"), problem, n.pop("depth"), **n)
        config = dict(c) if case["as_dict"] else C.TrainConfig(**c)
        return C.train(problem, network, config)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(CASE)
def test_any_input_ends_in_a_result_or_an_error_naming_an_argument(case):
    try:
        traj = _pipeline(case)
    except (ValueError, TypeError) as err:
        assert _names_an_argument(err), f"{type(err).__name__}: {err}"
        assert "\n" not in str(err)  # one line
        event(f"{type(err).__name__} naming an argument")
        return
    event(f"trained: {traj.stop_reason}")
    assert isinstance(traj, C.Trajectory)
    assert traj.stop_reason in ("steps", "converged", "diverged", "max_seconds")
    losses = np.array(traj.train_loss)
    assert traj.stop_reason == "diverged" or np.all(np.isfinite(losses))  # never a silent NaN


@pytest.mark.parametrize("call,name,error", [
    (lambda p: C.make_network("dln", p, 2, init_scale=math.inf), "init_scale", ValueError),
    (lambda p: C.make_network("dln", p, 2, init_scale="0.1"), "init_scale", TypeError),
    (lambda p: C.make_network("dln", p, 2, lr_ratio=math.inf), "lr_ratio", ValueError),
    (lambda p: C.make_network("dln", p, 2, lr_ratio=math.nan), "lr_ratio", ValueError),
    (lambda p: C.make_network("dln", p, 2, seed=1.5), "seed", ValueError),
    (lambda p: C.make_network("dln", p, 2.0), "depth", TypeError),
    (lambda p: C.make_network("cdln", p, 3, rank_hat=True), "rank_hat", TypeError),
    (lambda p: C.make_network("dln", "factorization", 2), "problem", TypeError),
    (lambda p: C.TrainConfig(lr=True, steps=5), "lr", TypeError),
    (lambda p: C.TrainConfig(lr=1.0, steps=5, diverge_factor=math.nan), "diverge_factor", ValueError),
    (lambda p: C.TrainConfig(lr=1.0, steps=5, diverge_factor=math.inf), "diverge_factor", ValueError),
    (lambda p: C.TrainConfig(lr=1.0, steps=5, keep_factors="no"), "keep_factors", TypeError),
    (lambda p: C.TrainConfig(lr=math.inf, steps=5), "lr", ValueError),
    (lambda p: C.TrainConfig(lr=1.0, steps=5, tol=math.inf), "tol", ValueError),
    (lambda p: C.TrainConfig(lr=1.0, steps=5, threads=0), "threads", ValueError),
    (lambda p: C.TrainConfig(lr=1.0, steps=5, threads=10**6), "threads", ValueError),
    (lambda p: C.TrainConfig(lr=1.0, steps=5, engine=3), "engine", ValueError),
    (lambda p: C.train(p, C.make_network("dln", p, 2), {"lr": 1.0, "steps": 5}), "config", TypeError),
    (lambda p: C.make_problem("factorization", 8, 2, condition_number="3"), "condition_number", TypeError),
    (lambda p: C.make_problem("factorization", 8, 2, singular_values=["a", "b"]), "singular_values", TypeError),
    (lambda p: C.make_problem("factorization", np.float64(8), 2), "d", TypeError),
    (lambda p: C.make_problem(None, 8, 2), "kind", ValueError),
    (lambda p: C.make_problem("factorization", 10**6, 2), "d", ValueError),  # 40 TB: refused before allocating
    (lambda p: C.make_network("dln", C.make_problem("factorization", 500, 2), 10**6), "depth", ValueError),
])
def test_the_issue_cases_name_their_argument(call, name, error):
    problem = C.make_problem("factorization", 8, 2, seed=0)
    with pytest.raises(error, match=rf"\b{name}\b"):
        call(problem)


def test_numpy_scalars_are_accepted_as_numbers_and_stored_as_python_numbers():
    problem = C.make_problem("completion", np.int64(10), np.int32(2), observed=np.float64(0.5), seed=np.uint8(3))
    net = C.make_network("cdln", problem, np.int64(3), rank_hat=np.int16(3), init_scale=np.float32(0.1),
                         lr_ratio=np.int64(2), seed=np.int64(3))
    config = C.TrainConfig(lr=np.float64(2.0), steps=np.int64(20), tol=np.float32(0.0), record_every=np.int8(5),
                           keep_factors=np.bool_(True), diverge_factor=np.float64(1e6), max_seconds=np.float64(9.0))
    assert type(config.lr) is float and type(config.steps) is int and type(config.keep_factors) is bool
    assert type(net.depth) is int and type(net.init_scale) is float and net.hyper_parameters()["seed"] == 3
    traj = C.train(problem, net, config)
    assert traj.steps == [0, 5, 10, 15, 20] and traj.records[0].factors is not None
