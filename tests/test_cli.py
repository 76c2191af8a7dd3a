"""The cdln command: its JSON contract, its exit codes, one-line errors, and each class of hostile input."""

import errno
import json
import os
import subprocess
import sys

import pytest

from cdln_core.cli import common, main
from cdln_core.cli import run as run_cmd

BASE = ["run", "--problem", "completion", "--d", "30", "--rank", "2", "--observed", "0.5", "--depth", "3", "--lr", "10",
        "--steps", "3000", "--tol", "1e-10", "--record-every", "50", "--seed", "3"]
SMALL = ["run", "--problem", "factorization", "--d", "10", "--rank", "2", "--model", "dln", "--depth", "2",
         "--lr", "1", "--steps", "20"]
REQUIRED_KEYS = {"config", "n_params", "steps", "train_loss", "recovery_error", "test_loss", "wall_time",
                 "e2e_singular_values", "factor_singular_values", "target_singular_values", "converged_step",
                 "diverged_step", "warnings", "stop_reason", "interrupted_step"}


def _strict_load(text):
    def bad(token):
        raise AssertionError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=bad)


def _run(tmp_path, *extra):
    out = tmp_path / "out.json"
    code = main([*BASE, *extra, "--out", str(out)])
    return code, _strict_load(out.read_text())


def _exit2(argv, capsys):
    """Run argv expecting exit 2; returns the one stderr line (stdout must be empty)."""
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr()
    lines = err.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err.err and err.out == "", err
    return lines[0]


def test_run_writes_the_documented_json(tmp_path, capsys):
    code, result = _run(tmp_path, "--model", "cdln", "--lr-ratio", "2")
    assert code == 0
    assert REQUIRED_KEYS <= set(result) and result["schema"] == "cdln.run/1"
    summary = capsys.readouterr().out.strip().splitlines()
    assert len(summary) == 1 and "converged at step" in summary[0]
    config = result["config"]
    assert list(config) == list(run_cmd.all_flags())
    assert list(config)[:len(run_cmd.RUN_FLAGS)] == list(run_cmd.RUN_FLAGS)
    assert config["rank_hat"] == 4  # the default 2r, as used
    assert config["measurements"] is None and config["noise"] is None  # flags of sensing: not in force
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
    assert result["warnings"] == []  # converged on enough data


def test_same_seed_same_problem_for_every_model(tmp_path):
    results = {m: _run(tmp_path, "--model", m)[1] for m in ("dln", "cdln", "compressed")}
    targets = {tuple(r["target_singular_values"]) for r in results.values()}
    assert len(targets) == 1
    # the same Ω too: every model's E(0) is ~ε^L = 1e-6, so the step-0 training loss is ½·mean_Ω Φ² for all,
    # up to ~1e-6 relative (another Ω would move it by percents)
    losses = [r["train_loss"][0] for r in results.values()]
    assert max(losses) - min(losses) < 1e-5 * max(losses)
    assert results["dln"]["test_loss"][0] is not None and results["dln"]["config"]["rank_hat"] is None


def test_same_seed_same_bits_and_other_seeds_other_problems(tmp_path):
    def once(seed):
        out = tmp_path / f"s{seed}.json"
        assert main([*SMALL, "--seed", str(seed), "--out", str(out)]) == 0
        return _strict_load(out.read_text())

    a, b = once(7), once(7)
    for key in ("train_loss", "recovery_error", "e2e_singular_values", "target_singular_values"):
        assert a[key] == b[key]  # bit for bit: the same seed and the same thread count
    sigmas = {tuple(once(s)["target_singular_values"]) for s in (0, 2**32, 2**63 - 1)}
    assert len(sigmas) == 3  # seeds that used to wrap give distinct problems


def test_factorization_has_null_test_loss(tmp_path):
    out = tmp_path / "f.json"
    assert main([*SMALL, "--lr", "5", "--out", str(out)]) == 0
    result = _strict_load(out.read_text())
    assert result["test_loss"] == [None] * len(result["steps"]) and result["converged_step"] is None


def test_diverged_run_exits_3_with_its_step_and_strict_json(tmp_path, capsys):
    out = tmp_path / "d.json"
    code = main(["run", "--problem", "sensing", "--d", "20", "--rank", "2", "--model", "cdln", "--depth", "3",
                 "--lr", "1000", "--steps", "200", "--out", str(out)])
    assert code == 3
    text = out.read_text()
    assert "NaN" not in text and "Infinity" not in text
    result = _strict_load(text)
    assert result["diverged_step"] is not None and result["steps"][-1] == result["diverged_step"]
    assert result["stop_reason"] == "diverged" and result["divergence_note"]  # the reason, beside the nulls
    assert f"DIVERGED at step {result['diverged_step']}" in capsys.readouterr().out


@pytest.mark.parametrize("extra", [["--lr", "1e300"], ["--init-scale", "1e50"], ["--init-scale", "1e120"]])
@pytest.mark.parametrize("model", ["dln", "cdln", "compressed"])
def test_huge_values_are_divergence_not_a_traceback(extra, model, capfd):
    argv = ["run", "--problem", "completion", "--d", "12", "--rank", "2", "--model", model, "--depth", "3",
            "--lr", "1", "--steps", "30", *extra, "--out", "-"]
    assert main(argv) == 3
    captured = capfd.readouterr()
    result = _strict_load(captured.out)  # stdout is the JSON and nothing else (no LAPACK chatter)
    assert result["diverged_step"] is not None and result["stop_reason"] == "diverged"
    assert "Traceback" not in captured.err and "DIVERGED" in captured.err


def test_a_stopping_callback_on_the_diverging_record_keeps_diverged_step():
    config = run_cmd.resolve({**dict.fromkeys(run_cmd.RUN_FLAGS), "problem": "factorization", "d": 10, "rank": 2,
                              "model": "dln", "depth": 3, "lr": 1e300, "steps": 50})
    seen = []
    # stop on every record after step 0: the first such record is the diverging one
    result = run_cmd.run_config(config, callback=lambda rec: seen.append(rec.step) or rec.step > 0)
    assert seen == [0, 1] and result["diverged_step"] == 1 and result["stopped_step"] == 1
    assert result["stop_reason"] == "diverged"


def test_sweep_varies_one_flag(tmp_path):
    out = tmp_path / "s.json"
    code = main(["sweep", "--vary", "lr-ratio", "1", "3", "--problem", "factorization", "--d", "20", "--rank", "2",
                 "--model", "cdln", "--depth", "3", "--lr", "5", "--steps", "3000", "--tol", "1e-10",
                 "--out", str(out)])
    assert code == 0
    result = _strict_load(out.read_text())
    assert result["schema"] == "cdln.sweep/1" and result["values"] == [1.0, 3.0]
    steps = [r["converged_step"] for r in result["runs"]]
    assert None not in steps and steps[1] < steps[0]  # a larger ratio converges sooner


@pytest.mark.parametrize("vary,values,flag", [
    (["depth"], ["3", "2", "1"], "--depth"),  # cdln needs L ≥ 2: the third value is bad
    (["lr"], ["1", "-1e-3"], "--lr"),
    (["observed"], ["0.5", "0.2"], "--observed"),  # not a flag of factorization
    (["model"], ["cdln", "tensor"], "model"),
    (["rank"], ["2", "40"], "--rank"),
])
def test_sweep_checks_every_value_before_any_run(vary, values, flag, monkeypatch, capsys, tmp_path):
    calls = []
    monkeypatch.setattr(run_cmd, "run_config", lambda *a, **k: calls.append(a) or {})
    base = {"problem": "factorization", "d": "20", "rank": "2", "model": "cdln", "depth": "3", "lr": "5",
            "steps": "10"}
    base.pop(vary[0], None)
    argv = ["sweep", "--vary", vary[0], *values, *[x for k, v in base.items() for x in (f"--{k}", v)],
            "--out", str(tmp_path / "never.json")]
    line = _exit2(argv, capsys)
    assert flag in line and calls == [] and not (tmp_path / "never.json").exists()


@pytest.mark.parametrize("args,flag", [
    (["--rank", "40"], "--rank"),
    (["--rank", "2.5"], "--rank"),
    (["--observed", "0"], "--observed"),
    (["--observed", "1.5"], "--observed"),
    (["--observed", "1e-5"], "--observed"),  # no entry observed at d = 30
    (["--lr", "-1"], "--lr"),
    (["--lr", "0"], "--lr"),
    (["--lr", "nan"], "--lr"),
    (["--lr", "inf"], "--lr"),
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
    assert flag in _exit2([*base, *args], capsys)


@pytest.mark.parametrize("value", ["-1e-3", "-.5", "-1", "-inf", "-1E+2"])
@pytest.mark.parametrize("form", ["space", "equals"])
def test_negative_values_get_the_range_not_expected_one_argument(value, form, capsys):
    extra = ["--lr", value] if form == "space" else [f"--lr={value}"]
    line = _exit2([*SMALL, *extra], capsys)
    assert "--lr" in line and "(0, ∞)" in line and "expected one argument" not in line


@pytest.mark.parametrize("seed", [str(2**63), str(2**64), "4294967296" + "0" * 20, "1e30"])
def test_seed_overflow_names_seed_and_its_range(seed, capsys):
    line = _exit2([*SMALL, "--seed", seed], capsys)
    assert "--seed" in line and "2**63 - 1" in line


def test_seed_range_is_in_the_help(capsys):
    with pytest.raises(SystemExit) as info:
        main(["run", "--help"])
    assert info.value.code == 0
    assert "[0, 2**63 - 1]" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("argv,flag", [
    (["--problem", "factorization", "--observed", "0.5"], "--observed"),
    (["--problem", "completion", "--measurements", "50"], "--measurements"),
    (["--problem", "completion", "--noise", "0.1"], "--noise"),
    (["--problem", "factorization", "--model", "dln", "--rank-hat", "3"], "--rank-hat"),
])
def test_a_flag_of_another_problem_or_model_is_an_error(argv, flag, capsys):
    base = ["run", "--d", "10", "--rank", "2", "--model", "cdln", "--depth", "3", "--lr", "1", "--steps", "5"]
    line = _exit2([*base, *argv], capsys)
    assert line.startswith(f"cdln run: error: {flag} applies to ")


@pytest.mark.parametrize("extra,flags", [
    (["--d", "100000"], "--d 100000"),
    (["--problem", "sensing", "--measurements", "1e12"], "--measurements"),
    (["--steps", "1e10", "--record-every", "1"], "--steps"),
    (["--d", "2000", "--depth", "10", "--steps", "1e9"], "--steps"),  # fits in memory, not in a day
    (["--depth", "100000"], "--depth"),
    (["--depth", "500"], "--depth 500"),  # ε^L = 1e-1000: past float64
])
def test_sizes_this_machine_cannot_hold_are_refused_before_allocating(extra, flags, capsys):
    base = ["run", "--problem", "factorization", "--d", "10", "--rank", "2", "--model", "dln", "--depth", "3",
            "--lr", "1", "--steps", "5"]
    line = _exit2([*base, *extra], capsys)
    assert flags in line


def test_size_refusal_states_the_estimate(monkeypatch, capsys):
    monkeypatch.setattr(common, "available_bytes", lambda: 10**8)  # a 100 MB machine
    line = _exit2(["run", "--problem", "factorization", "--d", "2000", "--rank", "2", "--model", "dln", "--depth",
                   "3", "--lr", "1", "--steps", "5"], capsys)
    assert "--d 2000 --depth 3 needs 609 MB" in line and "wide network" in line and "100 MB available" in line


@pytest.mark.parametrize("out", ["{tmp}", "{tmp}/missing/x.json", ""])
def test_out_is_checked_before_any_work(out, tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(run_cmd, "run_config", lambda *a, **k: calls.append(a) or {})
    line = _exit2([*SMALL, "--out", out.format(tmp=tmp_path)], capsys)
    assert "--out" in line and calls == []


def test_a_failed_write_keeps_the_old_file_whole(tmp_path, monkeypatch, capsys):
    out = tmp_path / "result.json"
    out.write_text('{"old": true}')

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(SystemExit) as info:
        main([*SMALL, "--out", str(out)])
    captured = capsys.readouterr()
    assert info.value.code == 2 and "stopped at step 20" in captured.out  # the summary still says what ran
    line, = captured.err.strip().splitlines()
    assert "--out" in line and "No space left" in line
    assert out.read_text() == '{"old": true}' and sorted(os.listdir(tmp_path)) == ["result.json"]


def test_write_is_atomic_and_strict(tmp_path):
    out = tmp_path / "x.json"
    common.write_out({"a": float("nan"), "b": [1.0, float("inf")], "c": {"d": -float("inf")}}, str(out))
    assert _strict_load(out.read_text()) == {"a": None, "b": [1.0, None], "c": {"d": None}}
    assert os.listdir(tmp_path) == ["x.json"]


def test_native_output_never_reaches_stdout(capfd):
    with common.quiet_native_output():
        os.write(1, b"Intel MKL ERROR: Parameter 4 was incorrect on entry to DLASCL.\n")
    print("ours")
    assert capfd.readouterr().out == "ours\n"


def test_warnings_for_runs_that_cannot_identify_or_did_not_learn(tmp_path, capsys):
    out = tmp_path / "w.json"
    assert main(["run", "--problem", "completion", "--d", "30", "--rank", "3", "--observed", "0.05", "--model",
                 "cdln", "--depth", "3", "--lr", "1", "--steps", "20", "--out", str(out)]) == 0
    warnings = _strict_load(out.read_text())["warnings"]
    assert any("|Ω| = 45" in w and "r(2d − r) = 171" in w for w in warnings)
    assert any("first plateau" in w for w in warnings)
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 1 + len(warnings) and all(line.startswith("warning: ") for line in printed[1:])
    assert main(["run", "--problem", "sensing", "--d", "10", "--rank", "2", "--measurements", "30", "--model",
                 "cdln", "--depth", "2", "--lr", "1", "--steps", "5", "--out", str(out)]) == 0
    assert any("m = 30 measurements" in w for w in _strict_load(out.read_text())["warnings"])


def test_an_unexpected_error_is_one_line(monkeypatch, capsys):
    def boom(*a, **k):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(run_cmd, "run_config", boom)
    monkeypatch.delenv("CDLN_TRACEBACK", raising=False)
    assert main(SMALL) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "internal error: RuntimeError: boom second line" in err[0]


def test_lora_follows_run_conventions(capsys):
    argv = ["lora", "--steps", "3", "--seeds", "1", "--values", "4", "--kinds", "lora", "--out", "-"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    result = _strict_load(captured.out)
    assert result["schema"] == "cdln.lora/1" and result["config"]["lr_ratio"] == 1e-2
    assert len(result["rows"]) == 1 and "teacher_student" in captured.err
    assert main(["lora", "--lr", "1e6", "--steps", "20", "--seeds", "1", "--values", "4", "--kinds", "lora"]) == 3
    assert "diverged at step" in capsys.readouterr().out
    for bad, flag in ((["--lr", "-1e-3"], "--lr"), (["--seed", str(2**63)], "--seed"),
                      (["--rank", "100000", "--kinds", "deep_compressed"], "--rank"),
                      (["--values", "0"], "--values"), (["--kinds", "lora,bert"], "--kinds"),
                      (["--lr-ratio", "-1"], "--lr-ratio"), (["--depth", "1"], "--depth"),
                      (["--out", ""], "--out")):
        line = _exit2(["lora", "--steps", "2", "--seeds", "1", *bad], capsys)
        assert flag in line and "rank_hat" not in line


def test_run_never_imports_plotting_or_sklearn():
    code = ("import sys; from cdln_core.cli import main; "
            "main(['run', '--problem', 'factorization', '--d', '6', '--rank', '1', '--model', 'cdln', '--depth', "
            "'2', '--lr', '1', '--steps', '2']); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'plotly', 'sklearn', 'ipywidgets', 'scipy'}))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip().splitlines()[-1] == "[]", proc.stderr


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
    assert proc.returncode == 0 and _strict_load(proc.stdout)["schema"] == "cdln.run/1"


def test_a_closed_pipe_is_quiet():
    cmd = (f"{sys.executable} -m cdln_core run --problem factorization --d 40 --rank 2 --model dln --depth 3 "
           "--lr 1 --steps 50 --record-every 1 --out - | head -c 10 > /dev/null")
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True)
    assert "Traceback" not in proc.stderr and "Error" not in proc.stderr.replace("error", "")


PLUGIN = """
from dataclasses import dataclass

import torch

from cdln_core.checks import check_number
from cdln_core.problems import Problem, register_problem


@dataclass(frozen=True, eq=False)
class Shrunk(Problem):
    Y: torch.Tensor = None
    kind = "shrunk"

    def loss(self, E):
        return 0.5 * torch.mean((E - self.Y) ** 2)

    def grad(self, E):
        return (E - self.Y) / self.Y.numel()

    def surrogate(self):
        return self.Y


@register_problem("shrunk", replace=True)
def build(U, sigma, V, *, generator, seed, shrink: float = 0.5):
    shrink = check_number("shrink", shrink, low=0.0, high=1.0)
    return Shrunk(U, sigma, V, Y=shrink * (U * sigma) @ V.T)
"""


def test_a_registered_problem_brings_its_own_flag(tmp_path):
    (tmp_path / "shrunk_plugin.py").write_text(PLUGIN)
    env = {**os.environ, "CDLN_PLUGINS": "shrunk_plugin", "PYTHONPATH": str(tmp_path)}
    base = [sys.executable, "-m", "cdln_core", "run", "--problem", "shrunk", "--d", "8", "--rank", "2", "--model",
            "cdln", "--depth", "2", "--lr", "1", "--steps", "5"]
    proc = subprocess.run([*base, "--shrink", "0.25", "--out", "-"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert _strict_load(proc.stdout)["config"]["shrink"] == 0.25
    proc = subprocess.run([*base, "--shrink", "2"], capture_output=True, text=True, env=env)
    assert proc.returncode == 2 and proc.stderr.startswith("cdln run: error: --shrink must be")
    proc = subprocess.run([*base, "--problem", "factorization", "--shrink", "0.5"], capture_output=True, text=True,
                          env=env)
    assert proc.returncode == 2 and "--shrink applies to --problem shrunk only" in proc.stderr


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_a_full_stdout_is_one_line_not_a_traceback():
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "cdln_core", *SMALL, "--out", "-"], stdout=full,
                              stderr=subprocess.PIPE, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == "cdln run: error: could not use stdout: No space left on device"
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr
