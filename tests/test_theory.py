"""The papers' claims, each over several seeds, with tolerances that mean something."""

import numpy as np
import pytest
import torch

import cdln_core as C
from cdln_core import spectra

SEEDS = [0, 1, 2]


@pytest.fixture(scope="module", params=SEEDS)
def mf_run(request):
    """DLN on factorization, d = 30, r = 3, L = 3, run past all three plateaus."""
    seed = request.param
    problem = C.make_problem("factorization", 30, 3, seed=seed)
    net = C.make_network("dln", problem, 3, seed=seed)
    traj = C.train(problem, net, C.TrainConfig(lr=3.0, steps=9000, record_every=100, keep_factors=True))
    return problem, net, traj


def test_invariant_subspace_middle_singular_values_stay_equal(mf_run):
    problem, _, traj = mf_run
    r = problem.rank
    for rec in traj.records:
        for s in rec.factor_singular_values:
            rho, spread = spectra.middle_spread(s, r)
            # equal to each other to ~1e-13 (SVD's own precision at these norms), where a
            # generic perturbation would spread them by O(ρ) = O(1e-2)
            assert spread < 5e-13 * max(1.0, s[0]) and spread < 1e-10 * rho
    first, last = traj.records[0], traj.records[-1]
    for s0, s1 in zip(first.factor_singular_values, last.factor_singular_values):
        rho0, rho1 = s0[r], s1[r]
        assert np.all(s1[:r] > 100 * rho0)  # r grow
        assert np.all(s1[-r:] < rho0) and np.all(s1[-r:] >= 0)  # r shrink
        assert rho1 < rho0


@pytest.mark.parametrize("seed", SEEDS)
def test_rho_follows_its_recursion(seed):
    """ρ(t+1) = ρ(t) − η'·ρ(t)^{2L−1}; a large ε makes ρ move enough for the check to bite."""
    problem = C.make_problem("factorization", 20, 2, seed=seed)
    net = C.make_network("dln", problem, 3, init_scale=0.5, seed=seed)
    traj = C.train(problem, net, C.TrainConfig(lr=1.0, steps=3000, record_every=100))
    for factor in range(3):
        rho = np.array([spectra.middle_spread(r.factor_singular_values[factor], 2)[0] for r in traj.records])
        predicted = spectra.rho_prediction(rho[0], 1.0 / problem.d**2, net.depth, traj.steps)
        assert np.max(np.abs(rho - predicted) / predicted) < 1e-11
    assert predicted[-1] < 0.9 * rho[0]  # ρ really moved


def test_updates_stay_in_the_fixed_active_subspace(mf_run):
    """W_1(t) − W_1(0) = (active part) + (ρ(t)/ε − 1)·W_1(0) on the complement: nothing else moves."""
    problem, net, traj = mf_run
    W0 = torch.as_tensor(traj.records[0].factors[0])
    basis = spectra.active_subspace(problem.Phi, net.end_to_end(), 1e-2, net.depth)  # (d, 2r)
    complement = torch.eye(problem.d, dtype=W0.dtype) - basis @ basis.T
    for rec in traj.records[1:]:
        delta = torch.as_tensor(rec.factors[0]) - W0  # (d, d)
        rho = spectra.middle_spread(rec.factor_singular_values[0], problem.rank)[0]
        off = delta @ complement - (rho / 1e-2 - 1) * W0 @ complement
        assert torch.linalg.matrix_norm(off) <= 1e-9 * torch.linalg.matrix_norm(delta)
    assert torch.linalg.matrix_norm(delta) > 1.0  # the factor did move


def test_incremental_learning_largest_singular_value_first(mf_run):
    problem, _, traj = mf_run
    hits = spectra.fit_steps(traj.steps, [r.e2e_singular_values for r in traj.records], problem.sigma)
    assert None not in hits
    assert hits == sorted(hits) and len(set(hits)) == len(hits), hits  # strictly one at a time
    E = torch.as_tensor(traj.records[-1].factors[2]) @ torch.as_tensor(traj.records[-1].factors[1]) @ \
        torch.as_tensor(traj.records[-1].factors[0])
    assert np.all(spectra.singular_vector_alignment(E, problem.U, problem.V) > 0.999)


@pytest.mark.parametrize("seed", SEEDS)
def test_kwon_theorem_cdln_error_never_above_dln_in_factorization(seed):
    problem = C.make_problem("factorization", 40, 3, seed=seed)
    config = C.TrainConfig(lr=5.0, steps=8000, tol=1e-12, record_every=25)
    dln = C.train(problem, C.make_network("dln", problem, 3, seed=seed), config)
    cdln = C.train(problem, C.make_network("cdln", problem, 3, seed=seed), config)
    n = min(len(dln.records), len(cdln.records))
    e_dln, e_cdln = np.array(dln.recovery_error[:n]), np.array(cdln.recovery_error[:n])
    assert np.all(e_cdln <= e_dln), np.max(e_cdln - e_dln)
    assert cdln.converged_step < dln.converged_step


@pytest.mark.parametrize("seed", SEEDS)
def test_yaras_compression_reproduces_the_wide_trajectory(seed):
    """Full observation, γ = 0: compressed E(t) = E_wide(t)·V·Vᵀ at every step ([Y] §3)."""
    problem = C.make_problem("completion", 30, 2, observed=1.0, seed=seed)
    wide = C.make_network("dln", problem, 3, seed=seed)
    comp = C.make_network("compressed", problem, 3, rank_hat=2, lr_ratio=0.0, seed=seed)
    V = comp.Ws[0].T  # (d, 2r̂)
    config = C.TrainConfig(lr=30.0, steps=3000, record_every=100, keep_factors=True)
    a, b = C.train(problem, wide, config), C.train(problem, comp, config)
    worst = 0.0
    for ra, rb in zip(a.records, b.records):
        Ea = torch.as_tensor(np.linalg.multi_dot(ra.factors[::-1]))
        Eb = torch.as_tensor(np.linalg.multi_dot(rb.factors[::-1]))
        worst = max(worst, (Ea @ V @ V.T - Eb).abs().max().item() / problem.Phi.abs().max().item())
    assert worst < 1e-11
    assert a.recovery_error[-1] < 0.5  # E grew from 1e-6 to fit Φ's top direction: agreement is not trivial
    assert comp.n_params < wide.n_params / 4


@pytest.mark.parametrize("seed", SEEDS)
def test_completion_paper_setting_cdln_recovers_in_fewer_steps(seed):
    """d=100, r=5, p=0.3, L=3, ε=1e-2, η=10, α=5 ([K] Fig. 4)."""
    problem = C.make_problem("completion", 100, 5, observed=0.3, seed=seed)
    config = C.TrainConfig(lr=10.0, steps=25000, tol=1e-12, record_every=500)
    dln = C.train(problem, C.make_network("dln", problem, 3, seed=seed), config)
    cdln = C.train(problem, C.make_network("cdln", problem, 3, lr_ratio=5.0, seed=seed), config)
    assert dln.converged_step is not None and cdln.converged_step is not None
    assert cdln.recovery_error[-1] < 1e-4 and dln.recovery_error[-1] < 1e-4
    assert cdln.converged_step < 0.6 * dln.converged_step


@pytest.mark.parametrize("seed", [0, 1])
def test_depth_three_generalizes_where_depth_two_stalls(seed):
    """Completion, d=100, r=10, p=0.3, η=50, α=2, to training loss 1e-12 ([Y] §3, deep matrix completion)."""
    problem = C.make_problem("completion", 100, 10, observed=0.3, seed=seed)
    config = C.TrainConfig(lr=50.0, steps=20000, tol=1e-12, record_every=1000)
    errors = {}
    for depth in (2, 3):
        traj = C.train(problem, C.make_network("dln", problem, depth, lr_ratio=2.0, seed=seed), config)
        assert traj.converged_step is not None  # both fit the observed entries
        errors[depth] = traj.recovery_error[-1]
    assert errors[2] > 0.1 and errors[3] < 1e-3


def test_divergence_stops_and_reports_its_step():
    problem = C.make_problem("factorization", 20, 2, seed=0)
    traj = C.train(problem, C.make_network("cdln", problem, 3, init_scale=1.0), C.TrainConfig(lr=1e4, steps=1000))
    assert traj.diverged_step is not None and traj.diverged_step < 1000
    assert traj.records[-1].step == traj.diverged_step and traj.converged_step is None


def test_same_seed_same_numbers():
    def run():
        problem = C.make_problem("completion", 30, 2, seed=11)
        net = C.make_network("cdln", problem, 3, lr_ratio=2.0, seed=11)
        return C.train(problem, net, C.TrainConfig(lr=5.0, steps=500, record_every=50)).train_loss
    assert run() == run()
