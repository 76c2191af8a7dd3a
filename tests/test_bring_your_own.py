"""Bring your own matrix, mask, operator and initial factors: round trips, another implementation's
trajectory step for step, and one clear error per bad input (API and CLI)."""

import json
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import cdln_core as C
from cdln_core import photograph as P
from cdln_core.cli import main
from cdln_core.problems.given import as_index

D, R, LR, ALPHA, STEPS = 12, 2, 1.0, 2.0, 120
RUN = ["run", "--problem", "completion", "--depth", "3", "--lr", str(LR), "--lr-ratio", str(ALPHA), "--steps",
       str(STEPS), "--record-every", "1"]


def _close(a, b, tol=1e-12):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape and a.size > 10
    np.testing.assert_allclose(a, b, rtol=tol, atol=0)


def _kit(problem, network, steps=STEPS):
    traj = C.train(problem, network, C.TrainConfig(lr=LR, steps=steps, record_every=1))
    return traj.column("train_loss"), traj.recovery_error


def _cli(tmp_path, *flags):
    out = tmp_path / "run.json"
    assert main([*RUN, *flags, "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    return result["train_loss"], result["recovery_error"], result


@pytest.fixture
def saved(tmp_path):
    """The kit saves a seeded problem (Φ, Ω) and a seeded init to .npy/.npz, as a researcher would."""
    problem = C.make_problem("completion", D, R, observed=0.5, seed=3)
    network = C.make_network("dln", problem, 3, init_scale=0.3, lr_ratio=ALPHA, seed=3)
    np.save(tmp_path / "target.npy", problem.Phi.numpy())
    np.save(tmp_path / "mask.npy", problem.mask.numpy().astype(bool))
    np.savez(tmp_path / "init.npz", **{f"W{i + 1}": W.numpy() for i, W in enumerate(network.Ws)})
    return problem, network


def test_a_saved_problem_and_init_give_the_same_trajectory_through_the_api_and_the_cli(saved, tmp_path):
    problem, network = saved
    loss, rec = _kit(problem, network)
    assert rec[-1] < 0.5 * rec[0]  # the run learns something: a trajectory worth comparing

    again = C.make_problem("completion", target=np.load(tmp_path / "target.npy"), mask=np.load(tmp_path / "mask.npy"))
    assert again.rank == R and torch.equal(again.Phi, problem.Phi) and torch.equal(again.index, problem.index)
    with np.load(tmp_path / "init.npz") as z:
        Ws = [z[f"W{i}"] for i in (1, 2, 3)]
    loss2, rec2 = _kit(again, C.make_network("dln", again, 3, lr_ratio=ALPHA, Ws=Ws))
    _close(loss2, loss)
    _close(rec2, rec)

    loss3, rec3, result = _cli(tmp_path, "--model", "dln", "--target", str(tmp_path / "target.npy"),
                               "--mask", str(tmp_path / "mask.npy"), "--init", str(tmp_path / "init.npz"))
    _close(loss3, loss)
    _close(rec3, rec)
    c = result["config"]
    assert (c["d"], c["rank"], c["observed"]) == (D, R, 0.5) and c["target"].endswith("target.npy")


def test_the_cli_from_files_matches_the_cli_from_the_seed(tmp_path):
    """The seeded run and the run from its saved files are one trajectory (cdln run, both ways)."""
    problem = C.make_problem("completion", D, R, seed=4)
    network = C.make_network("cdln", problem, 3, lr_ratio=ALPHA, seed=4)
    np.save(tmp_path / "t.npy", problem.Phi.numpy())
    np.save(tmp_path / "m.npy", problem.index.numpy())  # flat indices, not a mask
    np.savez(tmp_path / "w.npz", *[W.numpy() for W in network.Ws])  # arr_0, arr_1, arr_2
    seeded = _cli(tmp_path, "--model", "cdln", "--d", str(D), "--rank", str(R), "--seed", "4")
    files = _cli(tmp_path, "--model", "cdln", "--target", str(tmp_path / "t.npy"), "--mask", str(tmp_path / "m.npy"),
                 "--init", str(tmp_path / "w.npz"))
    _close(files[0], seeded[0])
    _close(files[1], seeded[1])


def _numpy_descent(M, omega, Ws, steps):
    """Another implementation: plain NumPy gradient descent on ½·mean_Ω (E − Φ)², E = W3·W2·W1, the outer
    factors stepping with α·η. Returns (train loss, recovery error) at every step."""
    W1, W2, W3 = (W.copy() for W in Ws)
    n, out = omega.sum(), []
    for _ in range(steps + 1):
        E = W3 @ W2 @ W1
        R_ = np.where(omega, E - M, 0.0)
        out.append((0.5 * np.sum(R_**2) / n, np.linalg.norm(E - M) / np.linalg.norm(M)))
        G = R_ / n
        g1, g2, g3 = (W3 @ W2).T @ G, W3.T @ G @ W1.T, G @ (W2 @ W1).T
        W1, W2, W3 = W1 - ALPHA * LR * g1, W2 - LR * g2, W3 - ALPHA * LR * g3
    return np.array(out)


@pytest.mark.parametrize("model, width", [("dln", D), ("cdln", 2 * R)])
def test_another_implementations_files_reproduce_its_trajectory_step_for_step(model, width, tmp_path):
    rng = np.random.default_rng(11)
    M = rng.standard_normal((D, R)) @ rng.standard_normal((R, D))  # rank R
    omega = rng.random((D, D)) < 0.6
    Ws = [0.3 * rng.standard_normal((width, D)) / np.sqrt(D), 0.3 * rng.standard_normal((width, width)) / np.sqrt(D),
          0.3 * rng.standard_normal((D, width)) / np.sqrt(D)]
    np.save(tmp_path / "M.npy", M)
    np.save(tmp_path / "omega.npy", omega)
    np.savez(tmp_path / "Ws.npz", W1=Ws[0], W2=Ws[1], W3=Ws[2])
    theirs = _numpy_descent(M, omega, Ws, STEPS)
    assert theirs[-1, 1] < 0.5 * theirs[0, 1]

    problem = C.make_problem("completion", target=M, mask=omega)
    ours = _kit(problem, C.make_network(model, problem, 3, lr_ratio=ALPHA, Ws=Ws))
    _close(ours[0], theirs[:, 0])
    _close(ours[1], theirs[:, 1])
    cli = _cli(tmp_path, "--model", model, "--target", str(tmp_path / "M.npy"), "--mask", str(tmp_path / "omega.npy"),
               "--init", str(tmp_path / "Ws.npz"))
    _close(cli[0], theirs[:, 0])
    _close(cli[1], theirs[:, 1])


def test_sensing_from_given_operators_matches_a_numpy_descent():
    rng = np.random.default_rng(5)
    d, m = 6, 60
    M = rng.standard_normal((d, 1)) @ rng.standard_normal((1, d))
    A = rng.standard_normal((m, d, d)) / d  # (m, d, d), entries of variance 1/d²
    y = np.einsum("mij,ij->m", A, M) + 0.01 * rng.standard_normal(m)  # noisy: y is the researcher's own
    Ws = [0.3 * rng.standard_normal((d, d)) for _ in range(2)]
    problem = C.make_problem("sensing", target=M, operators=A, measurements=y)
    flat = C.make_problem("sensing", target=M, operators=A.reshape(m, d * d), measurements=y)
    assert problem.measurements == m and torch.equal(problem.y, flat.y) and torch.equal(problem.y, torch.tensor(y))
    traj = C.train(problem, C.make_network("dln", problem, 2, Ws=Ws), C.TrainConfig(lr=0.5, steps=60, record_every=1))
    W1, W2, losses = *Ws, []
    for _ in range(61):
        r = np.einsum("mij,ij->m", A, W2 @ W1) - y
        losses.append(0.5 * np.mean(r**2))
        G = np.einsum("m,mij->ij", r, A) / m
        W1, W2 = W1 - 0.5 * W2.T @ G, W2 - 0.5 * G @ W1.T
    _close(traj.column("train_loss"), losses)
    assert losses[-1] < 0.1 * losses[0]
    noiseless = C.make_problem("sensing", target=M, operators=A)  # y = 𝒜(Φ)
    np.testing.assert_allclose(noiseless.y.numpy(), np.einsum("mij,ij->m", A, M), rtol=1e-13)


def test_a_seeded_operator_given_back_is_the_same_problem():
    seeded = C.make_problem("sensing", 6, 2, measurements=50, seed=2)
    A = torch.stack([seeded.adjoint(torch.eye(50, dtype=torch.float64)[i]) for i in range(50)])  # (m, d, d)
    again = C.make_problem("sensing", target=seeded.Phi, operators=A)
    assert torch.equal(again.Phi, seeded.Phi)
    torch.testing.assert_close(again.y, seeded.y, rtol=1e-14, atol=1e-15)
    one = C.make_problem("rank_one", 6, 2, measurements=50, seed=2)
    back = C.make_problem("rank_one", target=one.Phi, operators=(one.a.numpy(), one.b.numpy()))
    assert torch.equal(back.y, one.y)
    net = C.make_network("dln", one, 2, init_scale=0.3, seed=1)
    config = C.TrainConfig(lr=0.5, steps=40, record_every=10)
    assert C.train(one, net, config).column("train_loss") == C.train(back, net, config).column("train_loss")


def test_a_target_of_any_rank_is_kept_exactly():
    rng = np.random.default_rng(0)
    M = rng.standard_normal((10, 10))  # full rank, like a photograph: only approximately low-rank
    full = C.make_problem("factorization", target=M)
    assert full.rank == 10 and full.target is not None
    three = C.make_problem("factorization", target=M, rank=3)
    assert three.rank == 3 and torch.equal(three.Phi, torch.tensor(M))  # Φ is M, not its rank-3 part
    S = np.linalg.svd(M, compute_uv=False)
    low = (three.U * three.sigma) @ three.V.T  # the best rank-3 approximation (Eckart–Young)
    assert torch.linalg.matrix_norm(three.Phi - low).item() == pytest.approx(np.sqrt(np.sum(S[3:] ** 2)), rel=1e-10)
    assert three.recovery_error(torch.tensor(M)) == 0
    drawn = C.make_problem("completion", 10, 2, seed=7)
    own_mask = C.make_problem("completion", 10, 2, seed=7, mask=np.ones((10, 10), bool))
    assert drawn.target is None and torch.equal(own_mask.Phi, drawn.Phi) and own_mask.observed == 1.0


def test_mask_forms_agree():
    omega = np.zeros((5, 5), bool)
    omega[[0, 1, 4], [2, 0, 4]] = True
    flat = as_index(omega, 5)
    assert flat.tolist() == [2, 5, 24]
    assert torch.equal(as_index(np.array([24, 2, 5]), 5), flat)
    assert torch.equal(as_index(np.array([[4, 4], [0, 2], [1, 0]]), 5), flat)
    assert torch.equal(as_index(omega.astype(float), 5), flat)


def _M(d=D):
    rng = np.random.default_rng(1)
    return rng.standard_normal((d, R)) @ rng.standard_normal((R, d))


BAD_PROBLEMS = [
    (dict(target=np.ones((3, 4))), ValueError, "target must be a square"),
    (dict(target=np.ones(9)), ValueError, "target must be a 2-D"),
    (dict(target=np.full((3, 3), np.nan)), ValueError, "target must be finite"),
    (dict(target=np.diag([1.0, np.inf, 1.0])), ValueError, "target must be finite"),
    (dict(target=np.zeros((3, 3))), ValueError, "target must not be zero"),
    (dict(target=np.full((2, 2), 1e308)), ValueError, "target is too large"),
    (dict(target=np.eye(3, dtype=bool)), TypeError, "target must hold real numbers"),
    (dict(target=np.eye(3) * 1j), TypeError, "target must hold real numbers"),
    (dict(target="M.npy"), TypeError, "target must be an array"),
    (dict(target=_M(), rank=3), ValueError, "rank must be in \\[1, 2\\]"),
    (dict(target=_M(), d=D + 1), ValueError, "d=13 does not match"),
    (dict(target=_M(), singular_values=[1, 2]), ValueError, "singular_values applies to a drawn target"),
    (dict(), TypeError, "needs d and rank, or target="),
    (dict(target=_M(), mask=np.ones((D, D), bool)), ValueError, "mask= applies to problem completion only"),
]


@pytest.mark.parametrize("kwargs, error, message", BAD_PROBLEMS)
def test_bad_targets_get_one_clear_error(kwargs, error, message):
    with pytest.raises(error, match=message):
        C.make_problem("factorization", **kwargs)


_EYE = np.eye(D, dtype=bool)
BAD_MASKS = [
    (np.where(_EYE, 2, 0), ValueError, "must be boolean or hold only 0 and 1"),
    (np.zeros((D, D), bool), ValueError, "at least one entry"),
    (np.array([], dtype=np.int64), ValueError, "at least one entry"),
    (np.array([0, 5, 5]), ValueError, "indices must be unique, got 1 repeated"),
    (np.array([[0, 1], [0, 1]]), ValueError, "indices must be unique"),
    (np.array([0, D * D]), ValueError, "flat indices must be in \\[0, d² − 1 = 143\\]"),
    (np.array([-1, 3]), ValueError, "flat indices must be in"),
    (np.array([[0, D]]), ValueError, "pairs must be in \\[0, 11\\]"),
    (np.array([0.0, 3.0]), TypeError, "indices must be integers"),
    (np.ones((D + 1, D + 1), bool), ValueError, "mask must be a \\(12, 12\\) array"),
    (np.array(["a"]), TypeError, "mask must be a boolean"),
]


@pytest.mark.parametrize("mask, error, message", BAD_MASKS)
def test_bad_masks_get_one_clear_error(mask, error, message):
    with pytest.raises(error, match=message):
        C.make_problem("completion", target=_M(), mask=mask)


def test_observed_and_a_mask_conflict():
    with pytest.raises(ValueError, match="observed does not apply with mask="):
        C.make_problem("completion", target=_M(), mask=_EYE, observed=0.3)


BAD_OPERATORS = [
    ("sensing", dict(operators=np.ones((5, 4, 4))), ValueError, "operators must have shape \\(m, 12, 12\\)"),
    ("sensing", dict(operators=np.ones((5, 144, 1))), ValueError, "operators must have shape"),
    ("sensing", dict(operators=np.ones(144)), ValueError, "operators must be a 2-D or 3-D"),
    ("sensing", dict(operators=np.full((5, 144), np.nan)), ValueError, "operators must be finite"),
    ("sensing", dict(operators=np.ones((5, 144)), measurements=np.ones(4)), ValueError, "measurements must have shape"),
    ("sensing", dict(operators=np.ones((5, 144)), measurements=5), TypeError, "measurements must be y"),
    ("sensing", dict(operators=np.ones((5, 144)), measurements=np.ones(5), noise=0.1), ValueError, "noise applies"),
    ("rank_one", dict(operators=np.ones((5, 12))), TypeError, "operators must be the pair \\(a, b\\)"),
    ("rank_one", dict(operators=(np.ones((5, 12)), np.ones((4, 12)))), ValueError, "operators\\[1\\] \\(b\\) must"),
    ("rank_one", dict(operators=(np.ones((5, 3)), np.ones((5, 3)))), ValueError, "operators\\[0\\] \\(a\\) must"),
]


@pytest.mark.parametrize("kind, kwargs, error, message", BAD_OPERATORS)
def test_bad_operators_get_one_clear_error(kind, kwargs, error, message):
    with pytest.raises(error, match=message):
        C.make_problem(kind, target=_M(), **kwargs)


def _factors(*shapes, dtype=np.float64):
    return [np.full(s, 0.1, dtype=dtype) for s in shapes]


BAD_FACTORS = [
    ("dln", np.ones((D, D)), TypeError, "Ws must be a list"),
    ("dln", [], ValueError, "Ws must hold at least one factor"),
    ("dln", [np.ones((D, D)), "W2"], TypeError, "Ws\\[1\\] must be a 2-D float64"),
    ("dln", _factors((D, D), (D, D), dtype=np.float32), TypeError, "Ws\\[0\\] must be float64"),
    ("dln", _factors((D, D), (D, D), dtype=np.int64), TypeError, "Ws\\[0\\] must be float64"),
    ("dln", [np.ones((D, D)), np.full((D, D), np.nan)], ValueError, "Ws\\[1\\] must be finite"),
    ("dln", [np.ones((D, D)), np.ones((1, D, D))], ValueError, "Ws\\[1\\] must be a 2-D"),
    ("dln", _factors((D, 5), (D, D)), ValueError, "Ws\\[0\\] must take the d=12 inputs"),
    ("dln", _factors((D, D), (3, 5), (D, 3)), ValueError, "Ws\\[1\\] has shape \\(3, 5\\) but Ws\\[0\\] gives 12"),
    ("dln", _factors((D, D), (5, D)), ValueError, "Ws\\[1\\] must give the d=12 outputs"),
    ("dln", _factors((D, D), (D, D)), ValueError, "Ws must have 3 factors for this dln model"),
    ("dln", _factors((4, D), (4, 4), (D, 4)), ValueError, "Ws\\[0\\] must have shape \\(12, 12\\)"),
    ("cdln", _factors((3, D), (3, 3), (D, 3)), ValueError, "Ws\\[0\\] must have shape \\(4, 12\\) for this cdln"),
]


@pytest.mark.parametrize("kind, Ws, error, message", BAD_FACTORS)
def test_bad_initial_factors_get_one_clear_error(kind, Ws, error, message):
    problem = C.make_problem("completion", target=_M(), mask=_EYE)
    with pytest.raises(error, match=message):
        C.make_network(kind, problem, 3, Ws=Ws)


def _write(tmp_path, name, value):
    path = tmp_path / name
    if name.endswith(".npz"):
        np.savez(path, **value)
    elif isinstance(value, str):
        path.write_text(value)
    else:
        np.save(path, value)
    return str(path)


BAD_FILES = [  # (flags with {name} placeholders for files written by the test, files, expected start of the line)
    (["--target", "{missing}"], {}, "--target .*missing.npy: no such file"),
    (["--target", "{t}"], {"t": ("t.npy", "not numpy")}, "--target .*t.npy: not a NumPy file"),
    (["--target", "{t}"], {"t": ("t.npz", {"W1": _M()})}, "--target .*t.npz: expected a .npy file"),
    (["--target", "{t}"], {"t": ("t.npy", np.full((D, D), np.nan))}, "--target .*: target must be finite"),
    (["--target", "{t}"], {"t": ("t.npy", np.ones((D, 3)))}, "--target .*: target must be a square"),
    (["--target", "{t}"], {"t": ("t.npy", np.zeros((D, D)))}, "--target .*: target must not be zero"),
    (["--target", "{t}", "--d", "13"], {"t": ("t.npy", _M())}, "--d 13 does not match --target"),
    (["--target", "{t}", "--rank", "3"], {"t": ("t.npy", _M())}, "--rank must be in \\[1, 2\\]"),
    (["--target", "{t}", "--mask", "{m}"], {"t": ("t.npy", _M()), "m": ("m.npy", np.where(_EYE, 2.0, 0.0))},
     "--mask .*: mask of shape \\(12, 12\\) must be boolean or hold only 0 and 1"),
    (["--target", "{t}", "--mask", "{m}"], {"t": ("t.npy", _M()), "m": ("m.npy", np.array([3, 3, 7]))},
     "--mask .*: mask indices must be unique"),
    (["--target", "{t}", "--mask", "{m}", "--observed", "0.3"], {"t": ("t.npy", _M()), "m": ("m.npy", _EYE)},
     "--observed and --mask: give one of them"),
    (["--d", "12", "--rank", "2", "--init", "{w}"], {"w": ("w.npy", _M())}, "--init .*w.npy: expected an .npz"),
    (["--d", "12", "--rank", "2", "--init", "{w}"], {"w": ("w.npz", {"W1": _M(), "W3": _M()})},
     "--init .*: the keys must be W1 … WL or arr_0 … arr_\\(L−1\\)"),
    (["--d", "12", "--rank", "2", "--init", "{w}"], {"w": ("w.npz", {"W1": _M(), "W2": np.full((D, D), np.nan)})},
     "--init .*: W2 must be finite"),
    (["--d", "12", "--rank", "2", "--init", "{w}"], {"w": ("w.npz", {"W1": _M(), "W2": np.ones((D, 5))})},
     "--init .*: W2 has shape \\(12, 5\\) but W1 gives 12 outputs"),
    (["--d", "12", "--rank", "2", "--init", "{w}"], {"w": ("w.npz", {"W1": _M(), "W2": _M()})},
     "--init .*: Ws must have 3 factors for this dln model"),
    (["--d", "12", "--rank", "2", "--init", "{w}"], {"w": ("w.npz", {f"W{i}": _M().astype(int) for i in (1, 2, 3)})},
     "--init .*: W1 must be float64"),
]


@pytest.mark.parametrize("flags, files, expected", BAD_FILES)
def test_bad_files_exit_2_with_one_line_naming_the_flag(flags, files, expected, tmp_path, capsys):
    paths = {key: _write(tmp_path, name, value) for key, (name, value) in files.items()}
    paths["missing"] = str(tmp_path / "missing.npy")
    argv = [*RUN, "--model", "dln", *[f.format(**paths) for f in flags]]
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr()
    lines = err.err.strip().splitlines()
    assert info.value.code == 2 and len(lines) == 1 and err.out == "" and "Traceback" not in err.err, err
    assert lines[0].startswith("cdln run: error: ")
    assert re.match(expected, lines[0].removeprefix("cdln run: error: ")), lines[0]


def test_a_mask_for_another_problem_is_refused_by_the_cli(tmp_path, capsys):
    mask = _write(tmp_path, "m.npy", _EYE)
    with pytest.raises(SystemExit) as info:
        main(["run", "--problem", "sensing", "--d", "12", "--rank", "2", "--model", "dln", "--depth", "2",
              "--lr", "1", "--steps", "2", "--mask", mask])
    assert info.value.code == 2 and "--mask applies to --problem completion only" in capsys.readouterr().err


@settings(max_examples=60, deadline=None)
@given(st.one_of(
    hnp.arrays(st.sampled_from([np.int64, np.int8, np.float64]), hnp.array_shapes(min_dims=1, max_dims=3, min_side=0,
                                                                               max_side=6), elements=st.integers(-3, 40)),
    hnp.arrays(np.bool_, hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=6)),
))
def test_any_mask_is_a_result_or_a_clear_error(mask):
    try:
        index = as_index(mask, 6)
    except (TypeError, ValueError) as err:
        assert "mask" in str(err)
    else:
        assert index.dtype == torch.int64 and index.numel() >= 1
        assert bool((index[1:] > index[:-1]).all()) and 0 <= index.min() and index.max() < 36


def test_past_the_dense_width_a_given_target_is_still_kept_exactly(monkeypatch):
    """Past DENSE_MAX_D completion reads Φ on Ω off U, σ, V; a given target of higher rank must win."""
    from cdln_core.problems import completion

    monkeypatch.setattr(completion, "DENSE_MAX_D", 8)  # d = 12 takes the large-d route
    M = np.random.default_rng(2).standard_normal((D, D))  # full rank, kept at rank 2
    problem = C.make_problem("completion", target=M, rank=2, mask=_EYE | np.eye(D, k=1, dtype=bool))
    assert torch.equal(problem.Phi, torch.tensor(M))
    E = torch.zeros(D, D, dtype=torch.float64)
    loss, _, _ = problem.loss_and_products(E[:, :3], E[:3])
    assert loss == pytest.approx(0.5 * np.mean(M[_EYE | np.eye(D, k=1, dtype=bool)] ** 2), rel=1e-14)
    # the metrics from the factors score against the given matrix, not its rank-2 part
    A = torch.tensor(np.random.default_rng(3).standard_normal((D, 3)))
    B = torch.tensor(np.random.default_rng(4).standard_normal((3, D)))
    assert problem.recovery_error_from(A, B) == pytest.approx(problem.recovery_error(A @ B), rel=1e-12)
    assert problem.test_loss_from(A, B) == pytest.approx(problem.test_loss(A @ B), rel=1e-12)


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5),
                  elements=st.floats(allow_nan=True, allow_infinity=True, width=64)))
def test_any_target_is_a_result_or_a_clear_error(M):
    try:
        problem = C.make_problem("factorization", target=M)
    except (TypeError, ValueError) as err:
        assert "target" in str(err)
    else:
        assert torch.equal(problem.Phi, torch.tensor(M)) and 1 <= problem.rank <= M.shape[0]


def test_a_grid_sweep_over_your_own_files_runs_each_cell_as_cdln_run_does(saved, tmp_path, monkeypatch):
    """--target/--mask/--init hold for every run of a grid; the paths are made absolute for the workers."""
    from cdln_core import sweeps

    files = ["--model", "dln", "--target", "target.npy", "--mask", "mask.npy", "--init", "init.npz"]
    monkeypatch.chdir(tmp_path)  # relative paths, as typed in a shell
    out = tmp_path / "grid"
    no_steps = RUN[1:9] + RUN[11:]  # RUN without its --steps, which the grid varies
    sweep = ["sweep", *no_steps, *files, "--grid", "steps=40,120", "--workers", "1", "--no-progress", "--out", str(out)]
    assert main(sweep) == 0
    rows = {r["steps"]: r for r in sweeps.read_table(out)}
    assert set(rows) == {40, 120} and all(r["target"] == str(tmp_path / "target.npy") for r in rows.values())
    single = _cli(tmp_path, *files)  # the same run, STEPS = 120 steps
    assert rows[120]["train_loss"] == pytest.approx(single[0][-1], rel=1e-12)
    assert rows[40]["train_loss"] == pytest.approx(single[0][40], rel=1e-12)  # record_every 1


def test_too_few_entries_of_your_own_target_say_what_they_can_identify():
    """A photograph (48×48, numerical rank 48) from half its pixels: 1152 entries count for a rank-14 part
    (14·82 = 1148 ≤ 1152 < 15·81), whose best approximation leaves out P.truncation_error(·, 14) of Φ. A drawn
    rank-5 target keeps the old sentence; too few entries for any rank-1 part still say ≈ 1."""
    img = P.load_image("china", 48)
    photo = C.make_problem("completion", target=img, observed=0.5, seed=0)
    (w,) = photo.warnings
    assert "rank-14 part" in w and "≈ 1" not in w
    assert f"{P.truncation_error(photo, 14):.3g}" in w
    (drawn,) = C.make_problem("completion", 40, 5, observed=0.05, seed=0).warnings
    assert "375" in drawn and "≈ 1" in drawn
    (tiny,) = C.make_problem("completion", target=img, observed=0.03, seed=0).warnings
    assert "2d−1=95" in tiny and "≈ 1" in tiny
    assert C.make_problem("completion", target=C.make_problem("factorization", 40, 5, seed=0).Phi, observed=0.5,
                          seed=0).warnings == []


@pytest.mark.parametrize("kind", ["sensing", "rank_one"])
def test_too_few_measurements_of_your_own_target_say_what_they_can_identify(kind):
    """The same rule for measurements: m = 1000 of a 48×48 photograph count for a rank-11 part
    (11·85 = 935 ≤ 1000 < 12·84), not for the whole image; a drawn target keeps the ≈ 1 sentence."""
    img = P.load_image("china", 48)
    (w,) = C.make_problem(kind, target=img, measurements=1000, seed=0).warnings
    assert "rank-11 part" in w and "k(2d−k) ≤ m" in w and "≈ 1" not in w
    photo = C.make_problem("completion", target=img, observed=0.5, seed=0)
    assert f"{P.truncation_error(photo, 11):.3g} of ‖Φ‖_F" in w
    (drawn,) = C.make_problem(kind, 40, 5, measurements=50, seed=0).warnings
    assert "375" in drawn and "≈ 1" in drawn


def test_the_cli_says_what_your_targets_data_can_identify(tmp_path):
    """`cdln run --target` on a full-rank photograph from half its pixels: the JSON's warning is the problem's
    (a rank-14 part), not "cannot be identified"."""
    target = tmp_path / "photo.npy"
    np.save(target, P.load_image("china", 48).numpy())
    out = tmp_path / "run.json"
    assert main(["run", "--problem", "completion", "--target", str(target), "--observed", "0.5", "--model", "dln",
                 "--depth", "3", "--lr", "1", "--steps", "5", "--out", str(out)]) == 0
    warnings = json.loads(out.read_text())["warnings"]
    assert any("rank-14 part" in w for w in warnings) and not any("cannot be identified" in w for w in warnings)
