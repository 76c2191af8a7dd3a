"""Ctrl-C in a real process: one line "interrupted at step N", exit 130, the partial result written
atomically (with ``interrupted_step``) when --out was given; never a KeyboardInterrupt traceback."""

import json
import signal
import subprocess
import sys
import time

import pytest

# imports first, then a line on stderr, so the signal lands in the work and not in `import torch`
LAUNCH = ("import sys; from cdln_core.cli import main; sys.stderr.write('ready\\n'); sys.stderr.flush(); "
          "sys.exit(main(sys.argv[1:]))")
LONG_RUN = ["--problem", "completion", "--d", "40", "--rank", "2", "--model", "dln", "--depth", "3", "--lr", "1",
            "--steps", "100000000", "--record-every", "50", "--max-seconds", "120"]


def _interrupt(argv, wait: float):
    proc = subprocess.Popen([sys.executable, "-c", LAUNCH, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stderr.readline() == "ready\n"
        time.sleep(wait)
        assert proc.poll() is None, "the run ended before the signal"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, out, err


def _step(err: str) -> int:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("interrupted at step "), err
    return int(lines[0].rsplit(" ", 1)[1])


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_sigint_writes_the_partial_result_and_exits_130(command, tmp_path):
    out = tmp_path / "partial.json"
    out.write_text('{"old": true}')
    argv = ["run", *LONG_RUN] if command == "run" else ["sweep", "--vary", "lr-ratio", "1", "2", *LONG_RUN]
    code, stdout, err = _interrupt([*argv, "--out", str(out)], wait=2.5)
    assert code == 130 and stdout == ""
    step = _step(err)
    result = json.loads(out.read_text())
    if command == "sweep":
        assert result["schema"] == "cdln.sweep/1" and result["interrupted_step"] == step
        result = result["runs"][-1]
    assert result["schema"] == "cdln.run/1" and result["interrupted_step"] == step > 0
    assert result["stop_reason"] == "interrupted" and result["steps"][-1] <= step
    assert sorted(p.name for p in tmp_path.iterdir()) == ["partial.json"]  # no temporary file left


def test_sigint_with_out_dash_puts_the_partial_json_on_stdout():
    code, stdout, err = _interrupt(["run", *LONG_RUN, "--out", "-"], wait=2.5)
    assert code == 130
    assert json.loads(stdout)["interrupted_step"] == _step(err)


def test_sigint_in_lora_exits_130_with_one_line(tmp_path):
    out = tmp_path / "lora.json"
    argv = ["lora", "--steps", "10000000", "--seeds", "1", "--values", "4", "--kinds", "lora", "--out", str(out)]
    code, stdout, err = _interrupt(argv, wait=4.0)
    assert code == 130
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("interrupted") and "Traceback" not in err
    if lines[0] != "interrupted":  # in the fit loop (not while the task was being drawn): the partial result
        assert json.loads(out.read_text())["schema"] == "cdln.lora/1"


def test_a_ctrl_c_during_the_final_write_waits_for_the_rename(tmp_path, monkeypatch):
    import os

    from cdln_core.cli import common

    out = tmp_path / "r.json"
    out.write_text('{"old": true}')
    real_fsync = os.fsync

    def fsync_then_ctrl_c(fd):
        real_fsync(fd)
        os.kill(os.getpid(), signal.SIGINT)  # the user presses Ctrl-C in the middle of the write

    monkeypatch.setattr(os, "fsync", fsync_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        common.write_out({"finished": [1.0, 2.0]}, str(out))
    assert json.loads(out.read_text()) == {"finished": [1.0, 2.0]}  # written whole, then the interrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_a_ctrl_c_between_sweep_runs_keeps_the_finished_ones(tmp_path, monkeypatch, capsys):
    from cdln_core.cli import main
    from cdln_core.cli import run as run_cmd

    real, calls = run_cmd.run_config, []

    def second_is_interrupted(config, **kwargs):
        calls.append(config["lr_ratio"])
        if len(calls) == 2:
            raise KeyboardInterrupt  # a plain one: not inside a training loop
        return real(config, **kwargs)

    monkeypatch.setattr(run_cmd, "run_config", second_is_interrupted)
    out = tmp_path / "s.json"
    code = main(["sweep", "--vary", "lr-ratio", "1", "2", "3", "--problem", "factorization", "--d", "8", "--rank", "2",
                 "--model", "cdln", "--depth", "2", "--lr", "1", "--steps", "5", "--out", str(out)])
    assert code == 130 and capsys.readouterr().err == "interrupted\n"
    result = json.loads(out.read_text())
    assert [r["config"]["lr_ratio"] for r in result["runs"]] == [1.0] and result["interrupted_step"] is None
