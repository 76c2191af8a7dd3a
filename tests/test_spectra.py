"""Spectra and subspaces on constructed cases with known answers."""

import math

import numpy as np
import pytest
import torch

from cdln_core import spectra


def test_principal_angles_known_cases():
    e = torch.eye(4, dtype=torch.float64)
    assert spectra.principal_angles(e[:, :2], e[:, :2]).abs().max() < 1e-7  # same space
    torch.testing.assert_close(spectra.principal_angles(e[:, :2], e[:, 2:]), torch.full((2,), math.pi / 2,
                                                                                         dtype=torch.float64))
    theta = 0.3
    tilted = torch.stack([torch.tensor([math.cos(theta), 0, math.sin(theta), 0.0], dtype=torch.float64), e[:, 1]], 1)
    torch.testing.assert_close(spectra.principal_angles(e[:, :2], 5 * tilted),  # scale does not matter
                               torch.tensor([0.0, theta], dtype=torch.float64), atol=1e-7, rtol=0)


def test_effective_rank():
    g = torch.Generator().manual_seed(0)
    U, _ = torch.linalg.qr(torch.randn(20, 20, generator=g, dtype=torch.float64))
    for k in (1, 3, 7):
        M = U[:, :k] @ torch.randn(k, 15, generator=g, dtype=torch.float64)
        equal = U[:, :k] @ U[:, :k].T  # k equal singular values: effective rank exactly k
        assert spectra.effective_rank(equal) == pytest.approx(k, rel=1e-10)
        assert 1.0 <= spectra.effective_rank(M) <= k + 1e-9
    assert spectra.effective_rank(torch.zeros(5, 5)) == 0.0


def test_middle_spread_and_rho_prediction():
    rho, spread = spectra.middle_spread([5.0, 4.0, 0.9, 0.4, 0.1, 0.01], 2)  # middle: s[2:4]
    assert rho == pytest.approx(0.65) and spread == pytest.approx(0.5)
    with pytest.raises(ValueError, match="rank"):
        spectra.middle_spread([1.0, 0.5], 1)
    pred = spectra.rho_prediction(0.5, 0.1, 2, [0, 1, 3])
    r1 = 0.5 - 0.1 * 0.5**3
    r2 = r1 - 0.1 * r1**3
    assert pred.tolist() == pytest.approx([0.5, r1, r2 - 0.1 * r2**3])


def test_fit_steps_and_alignment():
    steps = [0, 10, 20, 30]
    svs = np.array([[0.0, 0.0], [3.0, 0.0], [3.0, 0.4], [3.0, 2.0]])
    assert spectra.fit_steps(steps, svs, [4.0, 2.0]) == [10, 30]
    assert spectra.fit_steps(steps, svs, [10.0, 2.0]) == [None, 30]
    g = torch.Generator().manual_seed(1)
    U, _ = torch.linalg.qr(torch.randn(6, 2, generator=g, dtype=torch.float64))
    V, _ = torch.linalg.qr(torch.randn(6, 2, generator=g, dtype=torch.float64))
    E = U @ torch.diag(torch.tensor([3.0, 1.0], dtype=torch.float64)) @ V.T
    np.testing.assert_allclose(spectra.singular_vector_alignment(E, U, V), [1.0, 1.0], atol=1e-12)
    swapped = U @ torch.diag(torch.tensor([1.0, 3.0], dtype=torch.float64)) @ V.T  # order flipped
    assert np.all(spectra.singular_vector_alignment(swapped, U, V) < 1e-10)


@pytest.mark.parametrize("theta", [1e-9, 1e-6, 0.3, 1.2, math.pi / 2])
def test_principal_angles_small_and_large(theta):
    """The sine form keeps a 1e-9 rad angle to ~1e-16 relative error; arccos of its cosine gives 0."""
    e = torch.eye(6, dtype=torch.float64)
    tilted = e[:, 0] * math.cos(theta) + e[:, 3] * math.sin(theta)
    B = torch.stack([tilted, e[:, 1], e[:, 2]], 1)  # (6, 3)
    angles = spectra.principal_angles(e[:, :3], B)
    assert angles[:2].abs().max() < 1e-15
    assert angles[2].item() == pytest.approx(theta, rel=1e-12)
    cos_form = torch.arccos(torch.linalg.svdvals(e[:, :3].T @ B).clamp(max=1.0)).max().item()
    if theta == 1e-9:
        assert abs(cos_form - theta) > 1e-10, "the cosine form would have lost this angle"


def test_principal_angles_unequal_dimensions_and_rotation():
    g = torch.Generator().manual_seed(3)
    Q, _ = torch.linalg.qr(torch.randn(8, 8, generator=g, dtype=torch.float64))
    A, B = Q[:, :2], Q[:, :5]  # A inside B
    assert spectra.principal_angles(A, B).shape == (2,)
    assert spectra.principal_angles(B, A).abs().max() < 1e-14
    assert spectra.principal_angles(Q[:, :2], Q[:, 2:4]).tolist() == pytest.approx([math.pi / 2] * 2)


def test_first_crossing_and_escape_time():
    steps = [0, 5, 10]
    values = np.array([[0.1, 0.0], [0.95, 0.2], [1.0, 0.5]])
    assert spectra.first_crossing(steps, values, 0.9) == [5, None]
    assert spectra.first_crossing(steps, values, [1.0, 0.5]) == [10, 10]
    t = spectra.escape_time([8.0, 4.0], 3, 1e-2, 0.025)
    np.testing.assert_allclose(t, [100 / (0.025 * 8), 100 / (0.025 * 4)])  # ε^{2−L}/((L−2)η'σ)
    assert np.all(spectra.escape_time([8.0], 4, 1e-2, 0.025) > 40 * t[0]), "depth lengthens the plateau"
    assert spectra.escape_time([8.0, 4.0], 1, 1e-2, 0.025).tolist() == pytest.approx([math.log(2) / 0.025] * 2)


def test_escape_time_predicts_a_run():
    """The gradient-flow estimate is within a factor 2 of the measured half-fit step (depth 3)."""
    from cdln_core import TrainConfig, make_network, make_problem, train

    problem = make_problem("factorization", 12, 2, seed=0)
    traj = train(problem, make_network("dln", problem, 3, init_scale=1e-2, seed=0),
                 TrainConfig(lr=5.0, steps=4000, record_every=10))
    fits = spectra.fit_steps(traj.steps, traj.column("e2e_singular_values"), problem.sigma.numpy())
    est = spectra.escape_time(problem.sigma.numpy(), 3, 1e-2, 5.0 / 144)
    assert None not in fits
    assert np.all(est / 2 < np.array(fits)) and np.all(np.array(fits) < 2 * est)


def _run(kind, keep=True, steps=600):
    from cdln_core import TrainConfig, make_network, make_problem, train

    problem = make_problem(kind, 12, 2, observed=0.5, seed=1)
    net = make_network("dln", problem, 3, init_scale=1e-2, seed=1)
    start = (net.Ws[0].detach().clone(), net.end_to_end().detach().clone())
    traj = train(problem, net, TrainConfig(lr=5.0, steps=steps, record_every=30, keep_factors=keep))
    return problem, start, traj


def test_invariance_series_factorization_exact_completion_not():
    series = {}
    for kind in ("factorization", "completion"):
        problem, (W1, E0), traj = _run(kind)
        lr_prime = 5.0 / (144 * getattr(problem, "observed", 1.0))
        series[kind] = spectra.invariance_series(traj.records, problem.Phi, W1, E0, init_scale=1e-2, depth=3,
                                                 lr_prime=lr_prime)
    mf, mc = series["factorization"], series["completion"]
    assert np.isnan(mf.angle[0]) and mf.steps[0] == 0 and len(mf.steps) == len(mf.rho_theory)
    assert np.nanmax(mf.angle) < 1e-10 and mf.spread.max() < 1e-12
    assert np.max(np.abs(mf.rho - mf.rho_theory)) < 1e-14
    assert np.nanmax(mc.angle) > 1e-3 and mc.spread.max() > 1e-6, "completion breaks the exact invariance"


def test_invariance_series_cache_and_errors():
    problem, (W1, E0), traj = _run("factorization", steps=300)
    cache = {}
    kw = dict(init_scale=1e-2, depth=3, lr_prime=5.0 / 144, cache=cache)
    first = spectra.invariance_series(traj.records[:4], problem.Phi, W1, E0, **kw)
    assert sorted(cache) == [r.step for r in traj.records[:4]]
    full = spectra.invariance_series(traj.records, problem.Phi, W1, E0, **kw)
    np.testing.assert_array_equal(full.angle[:4], first.angle)
    assert len(cache) == len(traj.records)
    _, _, bare = _run("factorization", keep=False, steps=60)
    with pytest.raises(ValueError, match="keep_factors"):
        spectra.invariance_series(bare.records, problem.Phi, W1, E0, init_scale=1e-2, depth=3, lr_prime=1.0)
