"""Closed-form gradients against autograd, shapes and parameter counts."""

import pytest
import torch

import cdln_core as C
from cdln_core.dln import factor_grads, factor_grads_from


def _autograd(Ws, problem):
    Ws = [W.detach().clone().requires_grad_(True) for W in Ws]
    problem.loss(C.end_to_end(Ws)).backward()
    return [W.grad for W in Ws]


@pytest.mark.parametrize("kind", C.PROBLEMS)
@pytest.mark.parametrize("model,depth", [("dln", 1), ("dln", 2), ("dln", 4), ("cdln", 2), ("cdln", 3),
                                         ("cdln", 5), ("compressed", 3)])
@pytest.mark.parametrize("seed", [0, 1])
def test_closed_form_gradients_equal_autograd(kind, model, depth, seed):
    problem = C.make_problem(kind, 12, 2, observed=0.4, measurements=150, seed=seed)
    net = C.make_network(model, problem, depth, seed=seed)
    g = torch.Generator().manual_seed(seed + 7)
    Ws = [torch.randn(W.shape, generator=g, dtype=W.dtype) / W.shape[0] ** 0.5 for W in net.Ws]
    expected = _autograd(Ws, problem)
    E = C.end_to_end(Ws)
    closed = factor_grads(Ws, problem.grad(E))
    A = C.end_to_end(Ws[1:]) if len(Ws) > 1 else torch.eye(problem.d, dtype=E.dtype)
    loss, AtG, GBt = problem.loss_and_products(A, Ws[0])  # the training loop's fast path
    fast = factor_grads_from(Ws, AtG, GBt)
    assert loss == pytest.approx(problem.loss(E).item(), rel=1e-12)
    for a, b, c in zip(expected, closed, fast):
        assert a.shape == b.shape == c.shape
        scale = a.abs().max()
        assert (a - b).abs().max() <= 1e-12 * scale
        assert (a - c).abs().max() <= 1e-12 * scale


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sparse_completion_path_matches_dense(seed):
    """At d ≥ 256 a narrow model's completion gradient is a sparse matrix on Ω."""
    problem = C.make_problem("completion", 256, 3, observed=0.1, seed=seed)
    Ws = list(C.make_network("cdln", problem, 3, seed=seed).Ws)
    g = torch.Generator().manual_seed(seed)
    Ws = [W + 0.1 * torch.randn(W.shape, generator=g, dtype=W.dtype) for W in Ws]
    A = C.end_to_end(Ws[1:])
    loss, AtG, GBt = problem.loss_and_products(A, Ws[0])
    G = problem.grad(A @ Ws[0])
    assert loss == pytest.approx(problem.loss(A @ Ws[0]).item(), rel=1e-12)
    torch.testing.assert_close(AtG, A.T @ G, rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(GBt, G @ Ws[0].T, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("seed", [0, 3])
def test_orthogonal_init(seed):
    g = torch.Generator().manual_seed(seed)
    for rows, cols in [(7, 7), (3, 9), (9, 3)]:
        O = C.orthogonal(rows, cols, generator=g)
        k = min(rows, cols)
        gram = O @ O.T if rows <= cols else O.T @ O
        torch.testing.assert_close(gram, torch.eye(k, dtype=O.dtype), atol=1e-13, rtol=0)
    Ws = C.init_dln(10, 3, init_scale=1e-2, generator=g)
    torch.testing.assert_close(torch.linalg.svdvals(C.end_to_end(Ws)), torch.full((10,), 1e-6, dtype=torch.float64))


def test_orthogonal_gives_the_same_bits_at_any_thread_count():
    """LAPACK's blocked QR rounds by thread count (≈3e-15 apart at n = 100): the draw pins one thread, and
    gives the caller's setting back."""
    before = torch.get_num_threads()
    try:
        draws = []
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            draws.append(C.orthogonal(200, 120, generator=torch.Generator().manual_seed(5)))
            assert torch.get_num_threads() == threads
    finally:
        torch.set_num_threads(before)
    assert all(torch.equal(draws[0], other) for other in draws[1:])


@pytest.mark.parametrize("d,depth,rank_hat", [(20, 2, 4), (50, 3, 10), (100, 5, 7)])
def test_parameter_counts(d, depth, rank_hat):
    problem = C.make_problem("factorization", d, 2, seed=0)
    dln = C.make_network("dln", problem, depth)
    cdln = C.make_network("cdln", problem, depth, rank_hat=rank_hat)
    assert dln.n_params == depth * d**2
    assert cdln.n_params == 2 * d * rank_hat + (depth - 2) * rank_hat**2 == C.cdln_n_params(d, depth, rank_hat)
    shapes = [tuple(W.shape) for W in cdln.Ws]
    assert shapes == [(rank_hat, d), *[(rank_hat, rank_hat)] * (depth - 2), (d, rank_hat)]


def test_spectral_init_is_the_surrogates_top_singular_pairs():
    problem = C.make_problem("factorization", 30, 3, seed=4)
    net = C.make_network("cdln", problem, 4, rank_hat=3, init_scale=1e-2)
    E0 = net.end_to_end()
    # ε^L·Û_r·V̂_rᵀ: the rank-3 target's singular directions, every singular value ε^L
    torch.testing.assert_close(torch.linalg.svdvals(E0)[:3], torch.full((3,), 1e-8, dtype=torch.float64))
    P = problem.U @ problem.U.T
    torch.testing.assert_close(P @ E0, E0, atol=1e-20, rtol=1e-9)


@pytest.mark.parametrize("kind", ["factorization", "completion"])
@pytest.mark.parametrize("model,depth", [("dln", 1), ("dln", 3), ("cdln", 2), ("cdln", 4), ("compressed", 3)])
def test_numpy_and_torch_engines_give_the_same_trajectory(kind, model, depth):
    problem = C.make_problem(kind, 40, 3, observed=0.4, seed=5)
    # a large ε skips the first plateau, so the 400 steps move the loss a lot
    net = C.make_network(model, problem, depth, init_scale=0.3, lr_ratio=2.0 if model != "compressed" else 0.5,
                         seed=5)
    runs = [C.train(problem, net, C.TrainConfig(lr=5.0, steps=400, record_every=50, engine=engine))
            for engine in ("torch", "numpy")]
    a, b = (torch.tensor(r.train_loss) for r in runs)
    torch.testing.assert_close(a, b, rtol=1e-12, atol=0)
    assert a[-1] < 0.5 * a[0]  # it trained
    for Wa, Wb in zip(runs[0].Ws, runs[1].Ws):
        assert isinstance(Wb, torch.Tensor)
        torch.testing.assert_close(Wa, Wb, rtol=1e-11, atol=1e-14)


def test_numpy_engine_refused_where_the_problem_needs_torch():
    problem = C.make_problem("sensing", 10, 2, measurements=50)
    with pytest.raises(ValueError, match="engine"):
        C.train(problem, C.make_network("cdln", problem, 3), C.TrainConfig(lr=1.0, steps=5, engine="numpy"))
    with pytest.raises(ValueError, match="engine"):
        C.TrainConfig(lr=1.0, steps=5, engine="jax")
