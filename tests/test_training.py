"""Training on the loop policy: an oracle loop, outcomes, frozen results, Ctrl-C, threads, registries."""

import dataclasses
import json
import math
import warnings

import numpy as np
import pytest
import torch

import cdln_core as C
from cdln_core import networks, threads
from cdln_core.problems import Factorization


def _plain_descent(problem, net, lr, steps):
    """The oracle: W_l ← W_l − η·s_l·∇_{W_l}, gradients from the dense ∇_E and dln.factor_grads."""
    Ws = [W.clone() for W in net.Ws]
    losses = []
    for t in range(steps + 1):
        E = C.end_to_end(Ws)
        losses.append(problem.loss(E).item())
        if t == steps:
            break
        grads = C.factor_grads(Ws, problem.grad(E))
        Ws = [W - lr * s * g for W, g, s in zip(Ws, grads, net.lr_scales)]
    return losses, Ws


@pytest.mark.parametrize("kind", C.PROBLEMS)
@pytest.mark.parametrize("model", ["dln", "cdln", "compressed"])
def test_train_equals_a_plain_gradient_descent_loop(kind, model):
    problem = C.make_problem(kind, 12, 2, observed=0.5, measurements=200, seed=3)
    net = C.make_network(model, problem, 3, init_scale=0.4, lr_ratio=2.0 if model != "compressed" else 0.5, seed=3)
    traj = C.train(problem, net, C.TrainConfig(lr=2.0, steps=60, record_every=1))
    losses, Ws = _plain_descent(problem, net, 2.0, 60)
    np.testing.assert_allclose(traj.train_loss, losses[: len(traj.records)], rtol=1e-11)
    assert losses[-1] < 0.9 * losses[0]  # it moved
    for a, b in zip(traj.Ws, Ws):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-13)


def test_records_and_trajectories_are_frozen_and_json_strict():
    problem = C.make_problem("completion", 15, 2, seed=0)
    traj = C.train(problem, C.make_network("cdln", problem, 3, seed=0), C.TrainConfig(lr=5.0, steps=30, record_every=10))
    with pytest.raises(dataclasses.FrozenInstanceError):
        traj.records[0].train_loss = 0.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        traj.model = "x"
    assert isinstance(traj.records, tuple) and isinstance(traj.Ws, tuple)
    d = traj.to_dict()
    assert d["stop_reason"] == "steps" and d["stopped_step"] is None and d["interrupted_step"] is None
    assert d["divergence_note"] is None and d["steps"] == [0, 10, 20, 30]
    json.dumps(d, allow_nan=False)
    assert isinstance(traj.records[0], C.StepRecord) and isinstance(traj, C.RunResult)


@pytest.mark.parametrize("lr,init_scale", [(1e300, 1e-2), (1e4, 1.0), (1e6, 1e50 ** (1 / 3))])
def test_divergence_is_reported_with_its_step_and_nothing_on_the_output(lr, init_scale, capfd):
    """A huge step or init: the loop reports divergence with its step; records hold NaN where the
    iterate left the finite range; no linear-algebra traceback and no LAPACK chatter on stdout."""
    problem = C.make_problem("factorization", 10, 2, seed=0)
    net = C.make_network("cdln", problem, 3, init_scale=init_scale, seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        traj = C.train(problem, net, C.TrainConfig(lr=lr, steps=200, record_every=1))
    out, err = capfd.readouterr()
    assert out == "" and err == ""  # no LAPACK/MKL chatter
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]  # no overflow warnings either
    assert traj.stop_reason == "diverged" and traj.diverged_step is not None
    assert traj.records[-1].step == traj.diverged_step and traj.divergence_note
    assert traj.to_dict()["diverged_step"] == traj.diverged_step
    last = traj.records[-1]
    for s in [last.e2e_singular_values, *last.factor_singular_values]:
        assert np.all(np.isnan(s)) or np.all(np.isfinite(s))


def test_a_callback_stopping_on_the_diverging_record_still_reports_divergence():
    problem = C.make_problem("factorization", 10, 2, seed=0)
    net = C.make_network("cdln", problem, 3, init_scale=1.0, seed=0)
    traj = C.train(problem, net, C.TrainConfig(lr=1e4, steps=100, record_every=1),
                   callback=lambda r: not math.isfinite(r.train_loss) or r.train_loss > 1e3)
    assert traj.diverged_step is not None and traj.stopped_step == traj.diverged_step


def test_ctrl_c_raises_interrupted_with_the_partial_trajectory():
    problem = C.make_problem("completion", 15, 2, seed=0)
    net = C.make_network("dln", problem, 3, seed=0)

    def callback(rec):
        if rec.step == 40:
            raise KeyboardInterrupt

    with pytest.raises(C.Interrupted) as info:
        C.train(problem, net, C.TrainConfig(lr=5.0, steps=1000, record_every=20), callback=callback)
    partial = info.value.result
    assert isinstance(partial, C.Trajectory) and partial.interrupted_step == 40
    assert partial.steps == [0, 20, 40]
    assert partial.to_dict()["stop_reason"] == "interrupted" and len(partial.Ws) == 3


class _MemoryBound(Factorization):
    """A problem that says its step is memory-bound: the thread policy must give it one thread."""

    def thread_hint(self, k):
        return {"work": 10**12, "memory_bound": True}


def test_thread_choice_goes_through_the_problems_hint(monkeypatch):
    seen = []
    real = threads.choose

    def spy(*args, **kwargs):
        seen.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr("cdln_core.training.choose", spy)
    base = C.make_problem("factorization", 20, 2, seed=1)
    problem = _MemoryBound(base.U, base.sigma, base.V)
    net = C.make_network("dln", problem, 2, seed=1)
    during = []
    C.train(problem, net, C.TrainConfig(lr=1.0, steps=3, record_every=1),
            callback=lambda r: during.append(torch.get_num_threads()))
    assert seen[-1] == {"requested": None, "work": 10**12, "memory_bound": True}
    assert set(during) == {1}
    C.train(base, net, C.TrainConfig(lr=1.0, steps=3))
    assert seen[-1] == {"requested": None, "work": 20 * 20 * 20, "memory_bound": False}  # default: d²·k


def test_same_seed_same_thread_count_same_bits_and_one_vs_two_threads_within_tolerance():
    """Determinism: bit-for-bit at a fixed thread count; across 1 and 2 threads the BLAS splits its sums
    differently, so the last bits differ (measured ≤ 1.2e-15 relative in the loss after 300 steps)."""
    problem = C.make_problem("completion", 120, 3, seed=3)
    net = C.make_network("dln", problem, 3, init_scale=0.3, seed=3)

    def go(n):
        return C.train(problem, net, C.TrainConfig(lr=5.0, steps=300, record_every=50, threads=n, engine="torch"))

    one, two, again = go(1), go(2), go(1)
    assert one.train_loss == again.train_loss
    assert all(torch.equal(a, b) for a, b in zip(one.Ws, again.Ws))
    np.testing.assert_allclose(two.train_loss, one.train_loss, rtol=1e-10, atol=0)
    for a, b in zip(one.Ws, two.Ws):
        assert (a - b).abs().max() <= 1e-10 * a.abs().max()
    assert one.train_loss[-1] < 0.99 * one.train_loss[0]  # the runs moved


def test_network_carries_its_hyper_parameters():
    problem = C.make_problem("completion", 20, 3, seed=0)
    cdln = C.make_network("cdln", problem, 4, init_scale=np.float64(0.05), lr_ratio=np.int64(3), seed=np.int64(7))
    assert cdln.hyper_parameters() == dict(kind="cdln", depth=4, rank_hat=6, init_scale=0.05, lr_ratio=3.0, seed=7)
    comp = C.make_network("compressed", problem, 3, seed=0)
    assert comp.depth == 3 and comp.n_factors == 5 and comp.rank_hat == 3  # inner width 2r̂ = 6
    assert comp.Ws[1].shape == (6, 6)
    dln = C.make_network("dln", problem, 2, rank_hat=4)
    assert dln.rank_hat is None and dln.depth == 2
    module = cdln.factors()
    assert isinstance(module, C.Factors) and module.lr_scales == cdln.lr_scales
    torch.testing.assert_close(module.end_to_end().detach(), cdln.end_to_end())


def test_given_initial_factors_are_used_and_validated():
    problem = C.make_problem("factorization", 10, 2, seed=0)
    base = C.make_network("cdln", problem, 3, lr_ratio=2.0, seed=0)
    g = torch.Generator().manual_seed(0)
    Ws = [0.3 * torch.randn(W.shape, generator=g, dtype=torch.float64) for W in base.Ws]
    net = C.make_network("cdln", problem, 3, lr_ratio=2.0, Ws=Ws)
    assert all(torch.equal(a, b) for a, b in zip(net.Ws, Ws)) and net.lr_scales == base.lr_scales
    Ws[0].zero_()
    assert net.Ws[0].abs().max() > 0  # copied, not aliased
    with pytest.raises(ValueError, match="Ws"):
        C.make_network("cdln", problem, 3, Ws=[W.T for W in base.Ws])
    with pytest.raises(ValueError, match="Ws"):
        C.make_network("cdln", problem, 3, Ws=list(base.Ws[:2]))
    with pytest.raises(TypeError, match=r"Ws\[1\]"):
        C.make_network("cdln", problem, 3, Ws=[base.Ws[0], base.Ws[1].float(), base.Ws[2]])
    with pytest.raises(ValueError, match=r"Ws\[2\]"):
        C.make_network("cdln", problem, 3, Ws=[base.Ws[0], base.Ws[1], base.Ws[2] * math.inf])
    with pytest.raises(TypeError, match="Ws"):
        C.make_network("cdln", problem, 3, Ws=base.Ws[0])


@pytest.fixture
def registered():
    """Register a test model and remove it afterwards, so other tests see the kit's own registry."""
    names = []
    yield names
    for name in names:
        networks._SPECS.pop(name, None)
        if name in networks.MODELS:
            networks.MODELS.remove(name)


def test_register_model_adds_a_parametrization_make_network_dispatches_to(registered):
    @C.register_model("test_balanced", rank_hat_default=lambda d, r: r)
    def balanced(problem, depth, *, rank_hat, init_scale, lr_ratio, generator):
        """A narrow C-DLN started from Gaussian factors (not the spectral init)."""
        shapes = [(rank_hat, problem.d), *[(rank_hat, rank_hat)] * (depth - 2), (problem.d, rank_hat)]
        return [init_scale * torch.randn(s, generator=generator, dtype=torch.float64) for s in shapes]

    registered.append("test_balanced")
    assert "test_balanced" in C.MODELS
    problem = C.make_problem("factorization", 12, 2, seed=0)
    net = C.make_network("test_balanced", problem, 3, init_scale=0.3, lr_ratio=2.0, seed=5)
    assert net.rank_hat == 2 and [tuple(W.shape) for W in net.Ws] == [(2, 12), (2, 2), (12, 2)]
    assert net.lr_scales == (2.0, 1.0, 2.0)
    again = C.make_network("test_balanced", problem, 3, init_scale=0.3, lr_ratio=2.0, seed=5)
    assert all(torch.equal(a, b) for a, b in zip(net.Ws, again.Ws))  # the seed's init stream
    traj = C.train(problem, net, C.TrainConfig(lr=2.0, steps=200, record_every=50))
    assert traj.model == "test_balanced" and traj.train_loss[-1] < traj.train_loss[0]
    with pytest.raises(ValueError, match="already registered"):
        C.register_model("test_balanced")(balanced)
    with pytest.raises(ValueError, match="rank_hat"):
        C.make_network("test_balanced", problem, 3, rank_hat=13)


def test_train_checks_its_arguments():
    problem = C.make_problem("factorization", 10, 2, seed=0)
    net = C.make_network("dln", problem, 2)
    with pytest.raises(TypeError, match="config"):
        C.train(problem, net, {"lr": 1.0, "steps": 5})
    with pytest.raises(TypeError, match="network"):
        C.train(problem, list(net.Ws), C.TrainConfig(lr=1.0, steps=5))
    with pytest.raises(TypeError, match="problem"):
        C.train("factorization", net, C.TrainConfig(lr=1.0, steps=5))
    other = C.make_problem("factorization", 12, 2, seed=0)
    with pytest.raises(ValueError, match="network"):
        C.train(other, net, C.TrainConfig(lr=1.0, steps=5))
