"""The cdln command: its JSON contract, its exit codes, and one-line errors without tracebacks."""

import json
import subprocess
import sys

import pytest

from cdln_core.cli import main

BASE = ["run", "--problem", "completion", "--d", "30", "--rank", "2", "--observed", "0.5", "--depth", "3", "--lr", "10",
        "--steps", "3000", "--tol", "1e-10", "--record-every", "50", "--seed", "3"]
REQUIRED_KEYS = {"config", "n_params", "steps", "train_loss", "recovery_error", "test_loss", "wall_time",
                 "e2e_singular_values", "factor_singular_values", "target_singular_values", "converged_step",
                 "diverged_step"}


def _run(tmp_path, *extra):
    out = tmp_path / "out.json"
    code = main([*BASE, *extra, "--out", str(out)])
    return code, json.loads(out.read_text())


def test_run_writes_the_documented_json(tmp_path, capsys):
    code, result = _run(tmp_path, "--model", "cdln", "--lr-ratio", "2")
    assert code == 0
    assert REQUIRED_KEYS <= set(result) and result["schema"] == "cdln.run/1"
    summary = capsys.readouterr().out.strip().splitlines()
    assert len(summary) == 1 and "converged at step" in summary[0]
    config = result["config"]
    for flag in ("problem", "d", "rank", "observed", "measurements", "noise", "model", "depth", "rank_hat",
                 "init_scale", "lr", "lr_ratio", "steps", "tol", "record_every", "seed"):
        assert flag in config
    assert config["rank_hat"] == 4  # the default 2r, as used
    n = len(result["steps"])
    assert result["steps"][0] == 0 and n > 2
    assert all(len(result[k]) == n for k in ("train_loss", "recovery_error", "test_loss", "wall_time",
                                              "e2e_singular_values", "factor_singular_values"))
    assert result["converged_step"] == result["steps"][-1] and result["train_loss"][-1] <= 1e-10
    assert result["n_params"] == 2 * 30 * 4 + 4**2
    assert [len(s) for s in result["factor_singular_values"][0]] == [4, 4, 4]
    assert len(result["e2e_singular_values"][0]) == 30
    for svs in result["e2e_singular_values"]:
        assert svs == sorted(svs, reverse=True)
    assert result["wall_time"] == sorted(result["wall_time"])


def test_same_seed_same_problem_for_every_model(tmp_path):
    results = {m: _run(tmp_path, "--model", m)[1] for m in ("dln", "cdln", "compressed")}
    targets = {tuple(r["target_singular_values"]) for r in results.values()}
    assert len(targets) == 1
    # the same Ω too: every model's E(0) is ~ε^L = 1e-6, so the step-0 training loss is ½·mean_Ω Φ² for all,
    # up to ~1e-6 relative (another Ω would move it by percents)
    losses = [r["train_loss"][0] for r in results.values()]
    assert max(losses) - min(losses) < 1e-5 * max(losses)
    assert results["dln"]["test_loss"][0] is not None and results["dln"]["config"]["rank_hat"] is None


def test_factorization_has_null_test_loss(tmp_path):
    out = tmp_path / "f.json"
    assert main(["run", "--problem", "factorization", "--d", "12", "--rank", "2", "--model", "dln", "--depth", "2",
                 "--lr", "5", "--steps", "20", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["test_loss"] == [None] * len(result["steps"]) and result["converged_step"] is None


def test_diverged_run_exits_3_and_reports_its_step(tmp_path, capsys):
    out = tmp_path / "d.json"
    code = main(["run", "--problem", "sensing", "--d", "20", "--rank", "2", "--model", "cdln", "--depth", "3",
                 "--lr", "1000", "--steps", "200", "--out", str(out)])
    assert code == 3
    result = json.loads(out.read_text())
    assert result["diverged_step"] is not None and result["steps"][-1] == result["diverged_step"]
    assert "DIVERGED" in capsys.readouterr().out


def test_sweep_varies_one_flag(tmp_path):
    out = tmp_path / "s.json"
    code = main(["sweep", "--vary", "lr-ratio", "1", "3", "--problem", "factorization", "--d", "20", "--rank", "2",
                 "--model", "cdln", "--depth", "3", "--lr", "5", "--steps", "3000", "--tol", "1e-10",
                 "--out", str(out)])
    assert code == 0
    result = json.loads(out.read_text())
    assert result["schema"] == "cdln.sweep/1" and result["values"] == [1.0, 3.0]
    steps = [r["converged_step"] for r in result["runs"]]
    assert None not in steps and steps[1] < steps[0]  # a larger ratio converges sooner


@pytest.mark.parametrize("args,flag", [
    (["--rank", "40"], "--rank"),
    (["--rank", "2.5"], "--rank"),
    (["--observed", "0"], "--observed"),
    (["--observed", "1.5"], "--observed"),
    (["--lr", "-1"], "--lr"),
    (["--lr", "0"], "--lr"),
    (["--steps", "-5"], "--steps"),
    (["--steps", "ten"], "--steps"),
    (["--depth", "0"], "--depth"),
    (["--model", "cdln", "--depth", "1"], "--depth"),
    (["--model", "cdln", "--rank-hat", "1"], "--rank-hat"),
    (["--model", "compressed", "--rank-hat", "16"], "--rank-hat"),
    (["--init-scale", "0"], "--init-scale"),
    (["--problem", "tensor"], "--problem"),
    (["--noise", "-0.1"], "--noise"),
    (["--seed", "-1"], "--seed"),
])
def test_bad_flags_exit_2_with_one_line(args, flag, capsys):
    base = ["run", "--problem", "completion", "--d", "30", "--rank", "2", "--model", "dln", "--depth", "3",
            "--lr", "1", "--steps", "5"]
    # later flags win in argparse, so the bad value overrides the good one
    with pytest.raises(SystemExit) as exit_info:
        main([*base, *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr()
    lines = err.err.strip().splitlines()
    assert len(lines) == 1 and flag in lines[0] and "Traceback" not in err.err
    assert err.out == ""


def test_bad_flag_in_a_real_process_has_no_traceback():
    proc = subprocess.run([sys.executable, "-m", "cdln_core", "run", "--problem", "completion", "--d", "10",
                           "--rank", "20", "--model", "cdln", "--depth", "3", "--lr", "1", "--steps", "5"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == "cdln run: error: --rank must be in [1, --d=10], got 20"


def test_console_script_and_module_agree(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "cdln_core", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("cdln ")
    proc = subprocess.run([sys.executable, "-m", "cdln_core", *BASE, "--model", "dln", "--out", "-"],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and json.loads(proc.stdout)["schema"] == "cdln.run/1"
