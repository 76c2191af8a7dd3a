"""Deep LoRA adapters: invariants at init, merge/unmerge, parameter counts, the compressed bases,
argument checks, and the few-shot claim of [Y] on the kit's teacher–student task."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from cdln_core.dln import factor_grads
from cdln_core.lora import (
    KINDS,
    CompressedDeepLoRA,
    DeepLoRA,
    LoRA,
    adapters,
    add_adapters,
    deltas,
    fit_compressed,
    merge_adapters,
    n_trainable,
    param_groups,
    unmerge_adapters,
)
from cdln_core.lora_experiments import FitConfig, Task, compressed_tracks_wide, fit, sweep, teacher_student

EPS = 1e-3


def _mlp(n: int, m: int, seed: int, dtype=torch.float64) -> nn.Sequential:
    g = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Linear(n, m), nn.Tanh(), nn.Linear(m, 3)).to(dtype)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=dtype) / np.sqrt(p.shape[-1]))
    return model


def _adapted(kind: str, n: int = 12, m: int = 20, rank: int = 3, seed: int = 0, dtype=torch.float64, targets=None):
    """The MLP n → m → 3 with adapters; the compressed head (m = 3) can only take r̂ = 1."""
    model = _mlp(n, m, seed, dtype)
    if kind == "deep_compressed" and targets is None:
        rank = 1
    add_adapters(model, kind, rank=rank, generator=torch.Generator().manual_seed(seed + 1), targets=targets)
    g = torch.Generator().manual_seed(seed + 2)
    x = torch.randn(9, n, generator=g, dtype=dtype)
    y = torch.randn(9, 3, generator=g, dtype=dtype)
    loss = lambda mod: 0.5 * ((mod(x) - y) ** 2).mean()
    if kind == "deep_compressed":
        fit_compressed(model, loss)
    return model, x, y, loss


def _train(model, loss, steps=20, lr=1e-2):
    opt = torch.optim.Adam(param_groups(model, lr, outer_lr_ratio=0.1))  # Adam leaves the ε-saddle fast
    for _ in range(steps):
        opt.zero_grad()
        loss(model).backward()
        opt.step()


@pytest.mark.parametrize("shape", [(12, 20), (20, 12)])
@pytest.mark.parametrize("kind", KINDS)
def test_noop_at_init(kind, shape):
    n, m = shape
    model, x, _, _ = _adapted(kind, n=n, m=m)
    plain = _mlp(n, m, 0)
    out, ref = model(x), plain(x)
    dW = deltas(model)
    if kind == "lora":
        assert torch.equal(out, ref)  # B = 0: exactly the pretrained model
        assert all(torch.count_nonzero(D) == 0 for D in dW.values())
    else:  # ΔW(0) = ε³·(product of orthonormal maps): spectral norm exactly ε³, so a no-op to ~ε³
        for D in dW.values():
            assert torch.linalg.matrix_norm(D, 2).item() == pytest.approx(EPS**3, rel=1e-6)
        assert torch.allclose(out, ref, rtol=0, atol=10 * EPS**3)
        assert not torch.equal(out, ref)


@pytest.mark.parametrize("kind", KINDS)
def test_merge_unmerge_roundtrip_and_agreement(kind):
    model, x, _, loss = _adapted(kind)
    _train(model, loss)  # a non-trivial ΔW
    before = {k: a.base.weight.detach().clone() for k, a in adapters(model).items()}
    assert all(torch.linalg.norm(D) > 1e-3 for D in deltas(model).values())
    out = model(x)
    merge_adapters(model)
    merge_adapters(model)  # idempotent
    for k, a in adapters(model).items():
        assert a.merged and not torch.allclose(a.base.weight, before[k])
    assert torch.allclose(model(x), out, rtol=0, atol=1e-12)
    unmerge_adapters(model)
    unmerge_adapters(model)
    for k, a in adapters(model).items():
        assert torch.allclose(a.base.weight, before[k], rtol=0, atol=1e-14)
    assert torch.allclose(model(x), out, rtol=0, atol=1e-12)


def test_merge_float32_and_eval_has_no_side_effect():
    model, x, _, loss = _adapted("deep_narrow", dtype=torch.float32)
    _train(model, loss)
    w = model[0].base.weight.detach().clone()
    out = model(x)
    model.eval()  # unlike loralib, eval() never merges
    assert not model[0].merged and torch.equal(model[0].base.weight, w)
    merge_adapters(model)
    assert torch.allclose(model(x), out, atol=1e-5)
    with pytest.raises(RuntimeError, match="unmerge"):
        model.train()
    unmerge_adapters(model)
    assert torch.allclose(model[0].base.weight, w, atol=1e-6)


@pytest.mark.parametrize(
    "kind, expected",
    [
        # layer 0: W₀ (m=20, n=12); layer 2: W₀ (3, 20); rank 3 → r = w = 3, r̂ = 1 (inner 2)
        ("lora", 3 * (12 + 20) + 3 * (20 + 3)),
        ("deep_narrow", (3 * 12 + 9 + 20 * 3) + (3 * 20 + 9 + 3 * 3)),
        ("deep_wide", (12 * 12 + 12 * 12 + 20 * 12) + (3 * 20 + 3 * 3 + 3 * 3)),
        ("deep_compressed", (20 * 2 + 12 * 2 + 3 * 4) + (3 * 2 + 20 * 2 + 3 * 4)),
    ],
)
def test_trainable_parameter_counts(kind, expected):
    model = _mlp(12, 20, 0)
    add_adapters(model, kind, rank=3 if kind != "deep_compressed" else 1, generator=torch.Generator().manual_seed(0))
    assert n_trainable(model) == expected
    frozen = [p for a in adapters(model).values() for p in a.base.parameters()]
    assert frozen and not any(p.requires_grad for p in frozen)


def test_add_adapters_targets_and_freeze():
    model = _mlp(12, 20, 0)
    names = add_adapters(model, "lora", rank=2, generator=torch.Generator().manual_seed(0), targets=["2"])
    assert names == ["2"] and isinstance(model[2], LoRA) and isinstance(model[0], nn.Linear)
    assert not model[0].weight.requires_grad  # frozen although not adapted
    model = _mlp(12, 20, 0)
    names = add_adapters(model, "deep_wide", rank=1, generator=torch.Generator().manual_seed(0),
                         targets=lambda name, mod: mod.out_features > 3)
    assert names == ["0"] and isinstance(model[0], DeepLoRA) and model[0].width == 12
    # adapting again reaches only the layers still plain, never an adapter's own base
    names = add_adapters(model, "lora", rank=2, generator=torch.Generator().manual_seed(0))
    assert names == ["2"] and isinstance(model[0].base, nn.Linear) and isinstance(model[2], LoRA)


@pytest.mark.parametrize("shape", [(12, 20), (20, 12), (16, 16)])
def test_compressed_bases_orthonormal_and_match_wide_init(shape):
    n, m = shape
    model, x, y, loss = _adapted("deep_compressed", n=n, m=m, rank=3, targets=["0"])
    a = model[0]
    assert isinstance(a, CompressedDeepLoRA) and a.fitted
    k = 2 * a.rank_hat
    eye = torch.eye(k, dtype=torch.float64)
    assert torch.allclose(a.U.T @ a.U, eye, atol=1e-12)
    assert torch.allclose(a.V.T @ a.V, eye, atol=1e-12)
    # the compressed ΔW(0) is the wide ΔW(0) projected on the bases (SPEC §4): E(0)·V·Vᵀ or U·Uᵀ·E(0)
    W1, W2, W3 = a.wide_init()
    E0 = W3 @ W2 @ W1
    proj = E0 @ a.V @ a.V.T if n <= m else a.U @ a.U.T @ E0
    assert torch.allclose(a.delta(), proj, rtol=0, atol=1e-18)
    assert torch.allclose(a.project(E0), proj, rtol=0, atol=1e-18)
    # the bases contain the top singular vectors of the first factor's gradient at init, computed
    # here by autograd on the pretrained model (right basis for n ≤ m; left one, transposed, for n > m)
    probe = _mlp(n, m, 0)
    probe[0].weight.requires_grad_(True)
    G0 = torch.autograd.grad(loss(probe), probe[0].weight)[0]  # (m, n)
    if n <= m:
        top = a.V.T @ torch.linalg.svd(factor_grads([W1, W2, W3], G0)[0])[2][0]
    else:
        top = a.U.T @ torch.linalg.svd(factor_grads([W3.T, W2.T, W1.T], G0.T)[0])[2][0]
    assert torch.linalg.norm(top).item() == pytest.approx(1.0, abs=1e-10)
    # param groups: the bases step with γ·lr
    groups = param_groups(model, 0.5, outer_lr_ratio=0.1)
    outer = next(gr for gr in groups if any(p is a.U for p in gr["params"]))
    assert outer["lr"] == pytest.approx(0.05)


def test_compressed_refuses_to_run_unfitted():
    model = _mlp(12, 20, 0)
    add_adapters(model, "deep_compressed", rank=2, generator=torch.Generator().manual_seed(0), targets=["0"])
    with pytest.raises(RuntimeError, match="fit_compressed"):
        model(torch.zeros(1, 12, dtype=torch.float64))


def test_compressed_tracks_wide_exactly_on_whitened_data():
    """SPEC §4: with whitened inputs (XᵀX = N·I, a factorization problem) and γ = 0, the compressed
    ΔW_c(t) equals the wide ΔW(t)·V·Vᵀ at every step of gradient descent."""
    d, N = 10, 20
    g = torch.Generator().manual_seed(5)
    X = np.sqrt(N) * torch.linalg.qr(torch.randn(N, d, generator=g, dtype=torch.float64))[0]  # (N, d)
    W0 = torch.randn(d, d, generator=g, dtype=torch.float64) / np.sqrt(d)
    P = torch.linalg.qr(torch.randn(d, 2, generator=g, dtype=torch.float64))[0]
    Q = torch.linalg.qr(torch.randn(d, 2, generator=g, dtype=torch.float64))[0]
    delta_star = 3 * P @ torch.diag(torch.tensor([1.0, 0.6], dtype=torch.float64)) @ Q.T
    model = nn.Sequential()
    model.add_module("layer", nn.Linear(d, d, bias=False).double())
    with torch.no_grad():
        model.layer.weight.copy_(W0)
    Y = X @ (W0 + delta_star).T
    task = Task("whitened", model, X, Y, X, Y, "mse", ("layer",))
    out = compressed_tracks_wide(task, rank_hat=2, lr=1.0, steps=300, outer_lr_ratio=0.0, record_every=50)
    assert max(out["rel_gap"]) < 1e-12, out["rel_gap"]
    assert out["wide_test"][-1] < 0.1 * out["wide_test"][0]  # the run did learn the change
    assert out["compressed_test"][-1] < 0.1 * out["compressed_test"][0]


def test_compressed_tracks_wide_early_on_teacher_student():
    """With 64 noisy, unwhitened samples the correspondence is approximate: the test losses agree
    to 2% while the wide network is still on its first plateau."""
    task = teacher_student(64, seed=0, d=16, rank_star=2, dtype=torch.float64, decay=0.0)
    out = compressed_tracks_wide(task, rank_hat=2, lr=1.0, steps=150, record_every=30)
    for w, c in zip(out["wide_test"], out["compressed_test"]):
        assert abs(w - c) < 0.02 * w
    assert max(out["rel_gap"]) < 0.15


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: LoRA(nn.Linear(4, 6), 5, generator=torch.Generator()), r"rank must be an integer in \[1, 4\]"),
        (lambda: LoRA(nn.Linear(4, 6), 2, generator=torch.Generator(), alpha=-1.0), "alpha must be"),
        (lambda: DeepLoRA(nn.Linear(4, 6), 0, generator=torch.Generator()), r"width must be an integer in \[1, 4\]"),
        (lambda: DeepLoRA(nn.Linear(4, 6), 2, generator=torch.Generator(), init_scale=0.0), "init_scale must be"),
        (lambda: CompressedDeepLoRA(nn.Linear(4, 6), 3, generator=torch.Generator()),
         r"rank_hat must be an integer in \[1, 2\]"),
        (lambda: LoRA(nn.Conv1d(1, 1, 1), 1, generator=torch.Generator()), "base must be a torch.nn.Linear"),
        (lambda: add_adapters(_mlp(4, 6, 0), "lorax", rank=1, generator=torch.Generator()), "kind must be one of"),
        (lambda: add_adapters(_mlp(4, 6, 0), "lora", rank=1, generator=torch.Generator(), targets=["fc9"]),
         "not Linear layers"),
        (lambda: param_groups(_mlp(4, 6, 0), -1.0), "lr must be"),
        (lambda: FitConfig(kind="lora", steps=0), r"steps must be an integer ≥ 1"),
        (lambda: teacher_student(8, seed=0, rank_star=40), r"rank_star must be an integer in \[1, 32\]"),
        (lambda: teacher_student(8, seed=0, noise=-1), "noise must be a finite number ≥ 0"),
    ],
)
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_few_shot_claims_teacher_student():
    """[Y] §5 on the kit's setting, 4 seeds, the default budget (AdamW, lr 1e-2, 100 steps, r = 8).

    With N = 8 and 16 samples Deep LoRA's test loss is lower than LoRA's in every seed, its learned
    update has lower rank, and LoRA fits the training set more closely (it overfits)."""
    seeds = [0, 1, 2, 3]
    rows = sweep(lambda n, s: teacher_student(n, seed=s), [8, 16], "samples", ["lora", "deep_narrow"], seeds,
                 FitConfig(), fixed=0)
    by = {(r["kind"], r["samples"], r["seed"]): r for r in rows}
    for n in (8, 16):
        lora = [by["lora", n, s] for s in seeds]
        deep = [by["deep_narrow", n, s] for s in seeds]
        ratios = [d["test"] / lo["test"] for d, lo in zip(deep, lora)]
        assert max(ratios) < 1.0, ratios  # better in every seed
        assert np.mean(ratios) < 0.6, ratios  # and clearly so on average
        assert np.mean([d["update_rank"] for d in deep]) < 4 <= min(lo["update_rank"] for lo in lora)
        assert np.mean([lo["train"] for lo in lora]) < np.mean([d["train"] for d in deep])


def test_rank_robustness_teacher_student():
    """LoRA's test loss grows with the rank (8 → 32); Deep LoRA's grows much less."""
    seeds = [0, 1, 2]
    rows = sweep(lambda n, s: teacher_student(n, seed=s), [8, 32], "rank", ["lora", "deep_narrow"], seeds,
                 FitConfig(), fixed=16)
    mean = lambda kind, r: np.mean([x["rel_test"] for x in rows if x["kind"] == kind and x["rank"] == r])
    assert mean("lora", 32) > 1.5 * mean("lora", 8)
    assert mean("deep_narrow", 32) < mean("lora", 32) / 1.5
    assert mean("deep_narrow", 8) < mean("lora", 8)


def test_fit_is_deterministic_and_records_curves():
    task = teacher_student(8, seed=3)
    cfg = FitConfig(kind="deep_compressed", rank=4, steps=20, record_every=10)
    a, b = fit(task, cfg, seed=1), fit(task, cfg, seed=1)
    assert a.steps == [0, 10, 20] and a.test_loss == b.test_loss and a.train_loss == b.train_loss
    assert a.train_loss[-1] < a.train_loss[0]


def _cli(argv):
    import argparse

    from cdln_core.lora_cli import add_parser

    parser = argparse.ArgumentParser(prog="cdln")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["lora", *argv])
    return args.func(args)


@pytest.mark.parametrize(
    "argv, flag",
    [
        (["--seeds", "0"], "--seeds must be in [1, 50]"),
        (["--kinds", "lora,foo"], "--kinds must be a comma-separated list"),
        (["--values", "8,x"], "--values must be comma-separated integers"),
        (["--lr", "-1"], "--lr must be a finite number > 0"),
        (["--vary", "rank", "--values", "2,40", "--seeds", "1", "--kinds", "lora"], "--values: rank must be an integer in [1, 32]"),
    ],
)
def test_cli_bad_flags_exit_2_with_one_line(argv, flag, capsys):
    with pytest.raises(SystemExit) as exc:
        _cli(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("cdln lora: error: ") and flag in err[0]


def test_cli_writes_json(tmp_path, capsys):
    import json

    out = tmp_path / "lora.json"
    assert _cli(["--values", "8", "--seeds", "2", "--steps", "20", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert {r["kind"] for r in data["rows"]} == {"lora", "deep_narrow"} and len(data["rows"]) == 4
    assert {r["kind"] for r in data["summary"]} == {"lora", "deep_narrow"}
    assert data["paper"]["samples"]["16"] == [0.529, 0.598]
    assert "deep_narrow" in capsys.readouterr().out
