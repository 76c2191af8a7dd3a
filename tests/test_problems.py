"""Problems: losses, surrogates, determinism and validation at the boundary."""

import math

import pytest
import torch

import cdln_core as C


def test_same_seed_same_problem_and_different_seed_differs():
    a = C.make_problem("completion", 30, 3, observed=0.3, seed=5)
    b = C.make_problem("completion", 30, 3, observed=0.3, seed=5)
    c = C.make_problem("completion", 30, 3, observed=0.3, seed=6)
    assert torch.equal(a.Phi, b.Phi) and torch.equal(a.index, b.index)
    assert not torch.equal(a.Phi, c.Phi)
    # the target does not depend on the problem kind
    assert torch.equal(a.Phi, C.make_problem("factorization", 30, 3, seed=5).Phi)


def test_target_spectrum_and_rank():
    p = C.make_problem("factorization", 40, 4, seed=1)
    s = torch.linalg.svdvals(p.Phi)
    torch.testing.assert_close(s[:4], p.sigma)
    assert s[4] < 1e-12 * s[0]
    assert torch.all(p.sigma[:-1] > 1.05 * p.sigma[1:])  # well separated: a visible staircase
    q = C.make_problem("factorization", 40, 3, singular_values=[1, 3, 2], seed=1)
    assert q.sigma.tolist() == [3.0, 2.0, 1.0]
    k = C.make_problem("factorization", 40, 3, condition_number=100, seed=1)
    assert k.sigma[0] / k.sigma[-1] == pytest.approx(100)


def test_completion_mask_and_losses():
    p = C.make_problem("completion", 20, 2, observed=0.25, seed=0)
    assert p.index.numel() == math.floor(0.25 * 400) == int(p.mask.sum())
    assert p.loss(p.Phi).item() == 0 and p.test_loss(p.Phi) == 0
    E = torch.zeros(20, 20, dtype=torch.float64)
    assert p.loss(E).item() == pytest.approx(0.5 * (p.Phi[p.mask.bool()] ** 2).mean().item())
    assert p.test_loss(E) == pytest.approx((p.Phi[~p.mask.bool()] ** 2).mean().item())
    assert C.make_problem("completion", 20, 2, observed=1.0).test_loss(E) is None
    torch.testing.assert_close(p.surrogate(), p.mask * p.Phi / 0.25)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sensing_surrogate_approximates_target_and_matrix_free_agrees(seed):
    d, r, m = 15, 2, 3000
    dense = C.make_problem("sensing", d, r, measurements=m, seed=seed)
    free = C.make_problem("sensing", d, r, measurements=m, seed=seed, max_operator_bytes=1)
    assert dense._dense_op is not None and free._dense_op is None
    torch.testing.assert_close(dense.y, free.y, rtol=1e-12, atol=1e-14)
    E = torch.randn(d, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    torch.testing.assert_close(dense.grad(E), free.grad(E), rtol=1e-10, atol=1e-14)
    # 𝔼[loss] = ½·mean((E − Φ)²) and the surrogate concentrates at Φ
    assert dense.loss(E).item() == pytest.approx(0.5 * torch.mean((E - dense.Phi) ** 2).item(), rel=0.15)
    rel = torch.linalg.matrix_norm(dense.surrogate() - dense.Phi) / torch.linalg.matrix_norm(dense.Phi)
    assert rel < 0.5  # ~ sqrt(d²/m) = 0.27 on average; far below the 1.0 of a useless surrogate


@pytest.mark.parametrize("kwargs,flag", [
    (dict(kind="matrix", d=10, rank=2), "problem"),
    (dict(kind="completion", d=10, rank=11), "rank"),
    (dict(kind="completion", d=10, rank=0), "rank"),
    (dict(kind="completion", d=0, rank=1), "d"),
    (dict(kind="completion", d=10, rank=2, observed=0.0), "observed"),
    (dict(kind="completion", d=10, rank=2, observed=1.2), "observed"),
    (dict(kind="sensing", d=10, rank=2, measurements=0), "measurements"),
    (dict(kind="sensing", d=10, rank=2, noise=-1.0), "noise"),
    (dict(kind="factorization", d=10, rank=2, singular_values=[1.0, -1.0]), "singular_values"),
    (dict(kind="factorization", d=10, rank=2, condition_number=0.5), "condition_number"),
])
def test_bad_problem_arguments_name_the_argument(kwargs, flag):
    with pytest.raises(ValueError, match=flag):
        C.make_problem(**kwargs)


@pytest.mark.parametrize("kwargs,flag", [
    (dict(kind="cdln", depth=1), "depth"),
    (dict(kind="dln", depth=0), "depth"),
    (dict(kind="cdln", depth=3, rank_hat=1), "rank_hat"),
    (dict(kind="cdln", depth=3, rank_hat=21), "rank_hat"),
    (dict(kind="compressed", depth=3, rank_hat=11), "rank_hat"),
    (dict(kind="dln", depth=3, init_scale=0.0), "init_scale"),
    (dict(kind="dln", depth=3, lr_ratio=-1.0), "lr_ratio"),
    (dict(kind="mlp", depth=3), "model"),
])
def test_bad_network_arguments_name_the_argument(kwargs, flag):
    problem = C.make_problem("factorization", 20, 2)
    with pytest.raises(ValueError, match=flag):
        C.make_network(problem=problem, **kwargs)


@pytest.mark.parametrize("kwargs,flag", [
    (dict(lr=0.0, steps=10), "lr"), (dict(lr=float("nan"), steps=10), "lr"), (dict(lr=1.0, steps=-1), "steps"),
    (dict(lr=1.0, steps=10, record_every=0), "record_every"), (dict(lr=1.0, steps=10, tol=-1.0), "tol"),
])
def test_bad_train_config(kwargs, flag):
    with pytest.raises(ValueError, match=flag):
        C.TrainConfig(**kwargs)


def test_rank_one_is_a_registered_kind_with_the_shared_target():
    assert "rank_one" in C.problems.PROBLEMS
    p = C.make_problem("rank_one", 12, 2, measurements=100, seed=3)
    assert torch.equal(p.Phi, C.make_problem("factorization", 12, 2, seed=3).Phi)
    assert p.y.shape == (100,) and repr(p).startswith("RankOneSensing(d=12")


@pytest.mark.parametrize("kind,kwargs", [
    ("completion", dict(observed=0.05)), ("sensing", dict(measurements=50)), ("rank_one", dict(measurements=50)),
])
def test_too_little_data_to_identify_the_target_is_said(kind, kwargs):
    few = C.make_problem(kind, 40, 5, seed=0, **kwargs)  # r(2d − r) = 375 degrees of freedom
    assert len(few.warnings) == 1 and "375" in few.warnings[0]
    enough = C.make_problem(kind, 40, 5, seed=0, **({"observed": 0.5} if kind == "completion" else
                                                    {"measurements": 2000}))
    assert enough.warnings == []


def test_operator_kept_whole_only_within_its_budget_and_counted_once():
    p = C.make_problem("sensing", 10, 2, measurements=300, seed=0)
    assert p.operator_bytes == 8 * 300 * 100 and p._dense_op.shape == (300, 100)
    exact = C.make_problem("sensing", 10, 2, measurements=300, seed=0, max_operator_bytes=p.operator_bytes)
    over = C.make_problem("sensing", 10, 2, measurements=300, seed=0, max_operator_bytes=p.operator_bytes - 1)
    assert exact._dense_op is not None and over._dense_op is None
    # [K]'s size, m = 4000 and d = 200, is kept whole by default and fits a 2 GB pod with room to spare
    from cdln_core.problems.sensing import DEFAULT_OPERATOR_BYTES
    assert 8 * 4000 * 200**2 <= DEFAULT_OPERATOR_BYTES <= 1.6e9
