"""Random streams: every accepted seed distinct, problem and init independent, overflow a clear error."""

import itertools

import numpy as np
import pytest
import torch

import cdln_core as C
from cdln_core import seeds

SEEDS = [0, 1, 2**32, 2**63 - 1]


def test_the_whole_accepted_range_gives_distinct_problems():
    problems = {s: C.make_problem("completion", 12, 2, observed=0.3, seed=s) for s in SEEDS}
    for a, b in itertools.combinations(SEEDS, 2):
        assert not torch.allclose(problems[a].Phi, problems[b].Phi), (a, b)
        assert not torch.equal(problems[a].index, problems[b].index), (a, b)
    # 2**32 used to wrap to 0
    assert not torch.equal(problems[0].Phi, problems[2**32].Phi)


def test_the_whole_accepted_range_gives_distinct_inits():
    problem = C.make_problem("factorization", 8, 2, seed=0)
    inits = {s: C.make_network("dln", problem, 2, seed=s).Ws[0] for s in SEEDS}
    for a, b in itertools.combinations(SEEDS, 2):
        assert not torch.allclose(inits[a], inits[b]), (a, b)


@pytest.mark.parametrize("seed", [2**63, -1, 10**30])
def test_seeds_out_of_range_are_a_value_error_naming_seed(seed):
    with pytest.raises(ValueError, match="seed"):
        C.make_problem("factorization", 8, 2, seed=seed)
    problem = C.make_problem("factorization", 8, 2)
    with pytest.raises(ValueError, match="seed"):
        C.make_network("dln", problem, 2, seed=seed)
    with pytest.raises(ValueError, match="seed"):
        seeds.generator(seed, "problem")


@pytest.mark.parametrize("seed", [1.5, 1.0, "3", True, None])
def test_seeds_of_the_wrong_type_name_seed(seed):
    with pytest.raises((TypeError, ValueError), match="seed"):
        C.make_problem("factorization", 8, 2, seed=seed)


def test_numpy_integer_seeds_are_the_same_seed():
    a = C.make_problem("completion", 10, 2, seed=np.int64(5))
    b = C.make_problem("completion", 10, 2, seed=5)
    assert torch.equal(a.Phi, b.Phi) and torch.equal(a.index, b.index)


def _corr(x: torch.Tensor, y: torch.Tensor) -> float:
    x, y = x.flatten() - x.mean(), y.flatten() - y.mean()
    return (x @ y / (x.norm() * y.norm())).item()


@pytest.mark.parametrize("seed", [0, 1, 2, 2**40])
def test_problem_and_init_streams_are_independent(seed):
    n = 4000
    draws = {name: torch.randn(n, generator=seeds.generator(seed, name), dtype=torch.float64)
             for name in ("problem", "init", "operator")}
    draws["operator 0"] = torch.randn(n, generator=seeds.generator(seed, "operator", 0), dtype=torch.float64)
    draws["next seed's problem"] = torch.randn(n, generator=seeds.generator(seed + 1, "problem"), dtype=torch.float64)
    for a, b in itertools.combinations(draws, 2):
        assert abs(_corr(draws[a], draws[b])) < 6 / n**0.5, (a, b)  # 6σ of the null correlation
    # and through the API: the init does not depend on the problem's seed, nor the problem on the model
    p1 = C.make_problem("completion", 10, 2, seed=seed)
    p2 = C.make_problem("completion", 10, 2, seed=seed + 1)
    w1, w2 = (C.make_network("dln", p, 3, seed=seed).Ws for p in (p1, p2))
    assert all(torch.equal(a, b) for a, b in zip(w1, w2))
    assert not torch.allclose(w1[0] / 1e-2, C.orthogonal(10, 10, generator=seeds.generator(seed, "problem")))


def test_the_wide_init_is_the_same_for_dln_and_compressed():
    """The Yaras bases are computed from the very wide init the ``dln`` of the same seed starts at."""
    problem = C.make_problem("completion", 20, 2, seed=3)
    wide = C.make_network("dln", problem, 3, seed=3)
    comp = C.make_network("compressed", problem, 3, seed=3)
    U, V = C.yaras_bases(list(wide.Ws), problem.grad(wide.end_to_end()), 2, init_scale=1e-2)
    torch.testing.assert_close(comp.Ws[0], V.T, rtol=0, atol=0)
    torch.testing.assert_close(comp.Ws[-1], U, rtol=0, atol=0)


def test_streams_are_named_and_indexed_without_offsets():
    states = {(s, name, *idx): seeds.seed_state(s, name, *idx)
              for s in (0, 1) for name, idx in [("problem", ()), ("init", ()), ("operator", (0,)), ("operator", (1,))]}
    assert len(set(states.values())) == len(states)
    assert seeds.seed_state(7, "init") == seeds.seed_state(np.int64(7), "init")  # stable, numpy ints too
    a = seeds.numpy_rng(3, "shuffle").permutation(10)
    assert np.array_equal(a, seeds.numpy_rng(3, "shuffle").permutation(10))
