"""Fast paths: the completion step's three paths agree, the sampled one never forms a d×d array, sensing
reads its operator in chunks from independent streams, rank-one sensing matches autograd, threads."""

import math
import pathlib
import sys

import numpy as np
import pytest
import torch

import cdln_core as C
from cdln_core import threads
from cdln_core.dln import end_to_end
from cdln_core.problems.completion import DENSE_MAX_D, PATHS, Completion, _sample_index
from cdln_core.problems.factored import observed_set, sampled_entries
from cdln_core.problems.sensing import CHUNK
from cdln_core.seeds import generator


def _factors(d, k, seed):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(d, k, generator=g, dtype=torch.float64),
            torch.randn(k, d, generator=g, dtype=torch.float64) / math.sqrt(d))


def _thin_problem(d, r, p, seed=0, path=None):
    """A completion problem without make_target's O(d³) draws (for the large-d tests)."""
    g = torch.Generator().manual_seed(seed)
    U = torch.linalg.qr(torch.randn(d, r, generator=g, dtype=torch.float64)).Q  # (d, r)
    V = torch.linalg.qr(torch.randn(d, r, generator=g, dtype=torch.float64)).Q
    sigma = torch.linspace(2 * math.sqrt(d), math.sqrt(d), r, dtype=torch.float64)
    return Completion(U, sigma, V, index=_sample_index(d, math.floor(p * d * d), g), path=path)


def _rel(a, b):
    a, b = torch.as_tensor(a), torch.as_tensor(b)
    return (torch.linalg.norm(a - b) / torch.linalg.norm(b)).item()


@pytest.mark.parametrize("d,k,p", [(300, 8, 0.1), (64, 5, 0.5), (257, 3, 0.004), (120, 40, 0.3)])
@pytest.mark.parametrize("seed", [0, 1])
def test_every_completion_path_gives_the_dense_numbers_in_both_engines(d, k, p, seed):
    problem = C.make_problem("completion", d, 2, observed=p, seed=seed)
    A, B = _factors(d, k, seed)
    E = A @ B  # (d, d): the dense reference
    G = problem.grad(E)
    ref = (problem.loss(E).item(), A.T @ G, G @ B.T)
    assert ref[0] > 0
    for path in PATHS:
        forced = Completion(problem.U, problem.sigma, problem.V, index=problem.index, path=path)
        for X, Y in ((A, B), (A.numpy(), B.numpy())):
            loss, AtG, GBt = forced.loss_and_products(X, Y)
            assert type(AtG) is type(X) and type(GBt) is type(X)  # the engine's own kind of array
            assert AtG.shape == (k, d) and GBt.shape == (d, k)
            assert abs(loss - ref[0]) <= 1e-12 * ref[0]
            assert _rel(AtG, ref[1]) < 1e-12 and _rel(GBt, ref[2]) < 1e-12


@pytest.mark.parametrize("rows_per_block", [1, 37, 299])
def test_the_gather_path_in_row_blocks_gives_the_dense_numbers(monkeypatch, rows_per_block):
    """Past the buffer budget the gather path forms A·B a block of rows at a time; the blocks' edges
    (a block with no entry of Ω, a last block shorter than the rest) change nothing."""
    from cdln_core.problems import completion

    d, k = 300, 6
    monkeypatch.setattr(completion, "BUFFER_MAX_BYTES", 8 * d * rows_per_block)
    problem = C.make_problem("completion", d, 2, observed=0.05, seed=3)
    blocked = Completion(problem.U, problem.sigma, problem.V, index=problem.index, path="gather")
    assert len(blocked._blocks[1]) == -(-d // rows_per_block)  # ⌈d / rows⌉ blocks
    A, B = _factors(d, k, 3)
    E = A @ B
    G = problem.grad(E)
    loss, AtG, GBt = blocked.loss_and_products(A, B)
    assert abs(loss - problem.loss(E).item()) <= 1e-12 * loss
    assert _rel(AtG, A.T @ G) < 1e-12 and _rel(GBt, G @ B.T) < 1e-12
    assert blocked._work[("A·B", A.dtype)].shape == (rows_per_block, d)  # the one buffer: a block, never d×d


def test_sampled_entries_equal_the_product_on_omega_including_empty_rows():
    d, k = 50, 4
    index = torch.tensor([3, 7, 151, 152, 2499])  # rows 0, 3 and 49 only: most rows empty
    A, B = _factors(d, k, 3)
    got = sampled_entries(A, B, observed_set(index, d))
    torch.testing.assert_close(got, (A @ B).view(-1)[index], rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(sampled_entries(A.numpy(), B.numpy(), observed_set(index, d)).numpy(), got.numpy())


def test_sampled_entries_row_by_row_equal_the_product_on_omega():
    """The padded row-by-row layout (rows of even length) with an empty row and rows of 1–3 entries."""
    d, k = 6, 3
    rows = [[0, 4], [], [1, 2, 5], [3], [0, 5], [2, 3]]
    index = torch.tensor([i * d + j for i, cols in enumerate(rows) for j in cols])
    omega = observed_set(index, d)
    assert omega.padded is not None and omega.padded[0].shape == (d, 3)
    A, B = _factors(d, k, 5)
    torch.testing.assert_close(sampled_entries(A, B, omega), (A @ B).view(-1)[index], rtol=1e-14, atol=1e-15)
    skewed = observed_set(torch.tensor([0, 1, 2, 3, 4, 5, 7 * d]), 8)  # one full row, one single entry
    assert skewed.padded is None  # padding would be 64 slots for 7 entries: entry by entry instead


def test_the_path_is_chosen_by_shape():
    small = C.make_problem("completion", 100, 5, observed=0.3)
    assert small.choose_path(10) == "dense" and small.thread_hint(10)["memory_bound"] is False
    mid = _thin_problem(1000, 5, 0.2)
    assert mid.choose_path(10) == "gather" and mid.choose_path(400) == "dense"
    sparse = _thin_problem(1000, 5, 0.002)
    assert sparse.choose_path(10) == "sampled" and sparse.thread_hint(10)["memory_bound"] is True
    with pytest.raises(ValueError, match="path"):
        Completion(small.U, small.sigma, small.V, index=small.index, path="fast")


def test_large_completion_never_forms_a_dense_array():
    d = 3 * DENSE_MAX_D  # a d×d float64 array would be 302 MB
    problem = _thin_problem(d, 3, 2e-4)  # |Ω| = 7,549
    assert problem.choose_path(6) == "sampled"
    A, B = _factors(d, 6, 0)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True) as prof:
        loss, AtG, GBt = problem.loss_and_products(A, B)
        rec = problem.recovery_error_from(A, B)
        test = problem.test_loss_from(A, B)
    biggest = max(e.cpu_memory_usage for e in prof.events())
    assert 0 < biggest < 8 * d * d / 100  # nothing near d×d was allocated
    assert "Phi" not in vars(problem) and "mask" not in vars(problem)  # built only on demand
    assert math.isfinite(loss) and rec > 0 and test > 0
    # the sampled numbers are those of the factors: check them on Ω against a direct gather
    i, j = problem.index // d, problem.index % d
    r = (torch.sum(A[i] * B.T[j], 1) - problem.target_on(problem.index)) / problem.index.numel()
    assert loss == pytest.approx(0.5 * problem.index.numel() * torch.dot(r, r).item(), rel=1e-12)
    GBt_ref = torch.zeros(d, 6, dtype=torch.float64).index_add_(0, i, r[:, None] * B.T[j])
    assert _rel(GBt, GBt_ref) < 1e-12


@pytest.mark.parametrize("seed", [0, 4])
def test_factored_metrics_match_the_dense_ones(seed):
    problem = C.make_problem("completion", 80, 4, observed=0.3, seed=seed)
    A, B = _factors(80, 6, seed)
    E = A @ B
    assert problem.recovery_error_from(A, B) == pytest.approx(problem.recovery_error(E), rel=1e-10)
    assert problem.test_loss_from(A, B) == pytest.approx(problem.test_loss(E), rel=1e-10)
    # near the target the cancellation floor is far below the 1e-3 tolerance the large runs use
    U, s = problem.U * problem.sigma, problem.V.T
    near = U + 1e-6 * torch.randn(80, 4, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    assert problem.recovery_error_from(near, s) == pytest.approx(problem.recovery_error(near @ s), rel=1e-3)


def test_truncated_surrogate_svd_spans_the_dense_one():
    problem = C.make_problem("completion", 150, 4, observed=0.2, seed=2)
    Uk, Vk = problem.surrogate_top(4)
    U, _, Vh = torch.linalg.svd(problem.surrogate(), full_matrices=False)
    cos_u = torch.linalg.svdvals(Uk.T @ U[:, :4])
    cos_v = torch.linalg.svdvals(Vk.T @ Vh[:4].T)
    assert cos_u.min() > 1 - 1e-8 and cos_v.min() > 1 - 1e-8


def test_large_d_omega_is_distinct_sorted_uniform_and_seeded():
    d, n = DENSE_MAX_D + 1, 50_000
    a = _sample_index(d, n, torch.Generator().manual_seed(0))
    b = _sample_index(d, n, torch.Generator().manual_seed(0))
    c = _sample_index(d, n, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.numel() == n and torch.all(a[1:] > a[:-1]) and a[0] >= 0 and a[-1] < d * d
    rows = torch.bincount(a // d, minlength=d).double()  # every row about n/d = 12 entries
    assert abs(rows.mean().item() - n / d) < 1e-9 and rows.var().item() < 2 * n / d


@pytest.mark.parametrize("seed", [0, 3])
def test_sensing_chunked_equals_dense_and_one_pass_equals_two(seed):
    d, r, m = 12, 2, 2 * CHUNK + 37  # three chunks, the last one short
    dense = C.make_problem("sensing", d, r, measurements=m, seed=seed)
    free = C.make_problem("sensing", d, r, measurements=m, seed=seed, max_operator_bytes=1)
    assert dense._dense_op is not None and free._dense_op is None
    torch.testing.assert_close(dense.y, free.y, rtol=1e-12, atol=1e-15)
    A, B = _factors(d, 4, seed)
    E = A @ B
    two_pass = dense.adjoint(dense.apply(E) - dense.y) / m
    for problem in (dense, free):
        r, G = problem.residual_and_grad(E)
        torch.testing.assert_close(G, two_pass, rtol=1e-12, atol=1e-16)
        loss, AtG, GBt = problem.loss_and_products(A, B)
        assert loss == pytest.approx(dense.loss(E).item(), rel=1e-12)
        torch.testing.assert_close(AtG, A.T @ two_pass, rtol=1e-12, atol=1e-16)
        torch.testing.assert_close(GBt, two_pass @ B.T, rtol=1e-12, atol=1e-16)


def test_sensing_chunks_come_from_independent_named_streams():
    d, m = 10, CHUNK + 5
    problem = C.make_problem("sensing", d, 2, measurements=m, seed=7)
    op = problem._dense_op
    for c in (0, 1):  # chunk c is exactly the ("operator", c) stream of the seed
        n = min(CHUNK, m - c * CHUNK)
        expect = torch.randn(n, d * d, generator=generator(7, "operator", c), dtype=torch.float64) * (1.0 / d)
        torch.testing.assert_close(op[c * CHUNK : c * CHUNK + n], expect, rtol=0, atol=0)
    # the old offsets collided: seed s, chunk c + 1_000_003 against seed s + 1, chunk c
    draws = {(s, c): torch.randn(64, generator=generator(s, "operator", c)) for s in (0, 1) for c in (0, 1, 1_000_003)}
    draws["noise"] = torch.randn(64, generator=generator(0, "noise"))
    draws["problem"] = torch.randn(64, generator=generator(0, "problem"))
    values = list(draws.values())
    for i in range(len(values)):
        for j in range(i + 1, len(values)):
            corr = torch.corrcoef(torch.stack([values[i], values[j]]))[0, 1].abs().item()
            assert corr < 0.5  # 64 samples: independent streams give |corr| ≈ 0.12
    a = C.make_problem("sensing", d, 2, measurements=40, seed=0)
    b = C.make_problem("sensing", d, 2, measurements=40, seed=1)
    assert not torch.equal(a._dense_op, b._dense_op)


def test_noise_has_its_own_stream():
    quiet = C.make_problem("sensing", 10, 2, measurements=300, seed=5)
    noisy = C.make_problem("sensing", 10, 2, measurements=300, seed=5, noise=0.1)
    torch.testing.assert_close(noisy._dense_op, quiet._dense_op, rtol=0, atol=0)  # same operator
    expect = 0.1 * torch.randn(300, generator=generator(5, "noise"), dtype=torch.float64)
    torch.testing.assert_close(noisy.y - quiet.y, expect, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("seed", [0, 2])
def test_rank_one_sensing_gradient_matches_autograd_in_both_engines(seed):
    d, k, m = 25, 6, 700
    problem = C.make_problem("rank_one", d, 3, measurements=m, seed=seed)
    assert problem.a.shape == (m, d) and problem.b.shape == (m, d)  # O(m·d), not m·d²
    A, B = (t.requires_grad_() for t in _factors(d, k, seed))
    loss = problem.loss(A @ B)
    loss.backward()
    for X, Y in ((A.detach(), B.detach()), (A.detach().numpy(), B.detach().numpy())):
        value, AtG, GBt = problem.loss_and_products(X, Y)
        assert value == pytest.approx(loss.item(), rel=1e-12)
        assert _rel(AtG, B.grad) < 1e-12 and _rel(GBt, A.grad) < 1e-12
    E = (A @ B).detach()
    torch.testing.assert_close(problem.grad(E), torch.func.grad(lambda X: problem.loss(X))(E))


def test_rank_one_measurements_are_normalized_and_the_surrogate_concentrates():
    d, m = 20, 20_000
    problem = C.make_problem("rank_one", d, 2, measurements=m, seed=1)
    X = torch.randn(d, d, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    assert problem.loss(X + problem.Phi).item() == pytest.approx(0.5 * torch.mean(X**2).item(), rel=0.1)
    assert _rel(problem.surrogate(), problem.Phi) < 0.35  # ≈ sqrt(d²/m)·(a tail factor): far below 1


def test_cdln_recovers_the_target_from_rank_one_measurements():
    problem = C.make_problem("rank_one", 20, 2, measurements=800, seed=0)
    net = C.make_network("cdln", problem, 3, lr_ratio=2.0, seed=0)
    traj = C.train(problem, net, C.TrainConfig(lr=5.0, steps=6000, tol=1e-14, record_every=10**6))
    assert traj.recovery_error[0] > 0.9 and traj.recovery_error[-1] < 1e-4


@pytest.mark.parametrize("kind,kwargs", [
    ("sensing", dict(measurements=10**12)), ("rank_one", dict(measurements=10**13)),
    ("sensing", dict(measurements=2.5)), ("rank_one", dict(noise=-1.0)),
])
def test_sizes_and_values_that_cannot_run_are_refused_by_name(kind, kwargs):
    with pytest.raises((ValueError, TypeError), match="measurements|noise"):
        C.make_problem(kind, 200, 2, **kwargs)


def test_thread_policy():
    assert threads.choose(memory_bound=True) == 1 and threads.choose(work=10) == 1
    assert threads.choose(requested=3) == 3
    with pytest.raises(ValueError, match="threads"):
        threads.choose(requested=0)
    assert 1 <= threads.choose(work=10**12) <= torch.get_num_threads()
    idle = threads.idle_cores()
    assert idle is None or 0 <= idle <= len(threads._affinity()) + 1e-9
    before = torch.get_num_threads()
    with threads.use(1):
        assert torch.get_num_threads() == 1
        from threadpoolctl import threadpool_info
        assert all(p["num_threads"] == 1 for p in threadpool_info() if p["user_api"] == "blas")
    assert torch.get_num_threads() == before


def test_training_picks_the_sampled_path_and_matches_the_dense_run():
    problem = C.make_problem("completion", 300, 2, observed=0.01, seed=1)
    dense = Completion(problem.U, problem.sigma, problem.V, index=problem.index, path="dense")
    assert problem.choose_path(4) == "sampled"
    net = C.make_network("cdln", problem, 3, lr_ratio=2.0, seed=1)
    config = C.TrainConfig(lr=20.0, steps=200, record_every=50)
    a, b = C.train(problem, net, config), C.train(dense, net, config)
    np.testing.assert_allclose(a.train_loss, b.train_loss, rtol=1e-12)
    for Wa, Wb in zip(a.Ws, b.Ws):
        torch.testing.assert_close(Wa, Wb, rtol=1e-12, atol=1e-15)
    assert end_to_end(list(a.Ws)).shape == (300, 300)


def test_the_readme_speed_tables_are_the_benchmarks_output():
    root = pathlib.Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root / "benchmarks"))
    try:
        import report
    finally:
        sys.path.remove(str(root / "benchmarks"))
    block = report.readme_block((root / "README.md").read_text())
    assert block, "README.md lost its generated bench_recovery block"
    results, scale = report.saved()
    assert block == report.render(results, scale)  # regenerate: python benchmarks/report.py
    assert results["command"] in block
