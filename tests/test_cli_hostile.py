"""A hostile but fair user, generated: any combination of flags and values ends with exit 0, 2 or 3,
one line on stderr for an error, only what was asked on stdout, never a traceback, in bounded time
(small d, few steps, or a size that is refused before anything is allocated)."""

import json
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from cdln_core.cli import main
from cdln_core.networks import MODELS
from cdln_core.problems import PROBLEMS

HOSTILE = ["0", "-1", "-1e-3", "1e300", "-1e300", "nan", "inf", "-inf", "abc", "", "2.5", "1e400", str(2**63),
           "9" * 40, "0x10", "1e-320", " 3 ", "1_0", "--", "-.5", "1e3"]
SLOW = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


GOOD = {  # values a fair user gives: small sizes, few steps
    "problem": st.sampled_from(PROBLEMS),
    "d": st.integers(1, 16),
    "rank": st.integers(1, 8),
    "observed": st.floats(0.01, 1.0),
    "measurements": st.integers(1, 300),
    "noise": st.floats(0.0, 1.0),
    "model": st.sampled_from(MODELS),
    "depth": st.integers(1, 5),
    "rank-hat": st.integers(1, 10),
    "init-scale": st.floats(1e-3, 2.0),
    "lr": st.floats(1e-3, 50.0),
    "lr-ratio": st.floats(0.0, 10.0),
    "steps": st.integers(0, 60),
    "tol": st.floats(0.0, 1e-3),
    "record-every": st.integers(1, 30),
    "max-seconds": st.floats(0.01, 1.0),
    "seed": st.integers(0, 2**63 - 1),
}
BAD = {  # and what a hostile one tries: each flag's own traps, then the generic ones
    "problem": ["tensor", "Completion"],
    "d": ["100000", "1e9", "30000"],
    "measurements": ["1e12", "1e8"],
    "model": ["bert", "DLN"],
    "depth": ["100000", "500", "3.5"],
    "init-scale": ["1e50", "1e-200", "1e120"],
    "lr": ["1e300", "1e30", "-1e-3"],
    "steps": ["1e10", "1e20", "1e12"],
    "record-every": ["1e10"],
    "max-seconds": ["1e-300"],
    "seed": [str(2**63), "1e30", str(2**64)],
}
OPTIONAL_RATE = 25  # percent
REQUIRED = {"problem", "d", "rank", "model", "depth", "lr", "steps"}
OUTS = [None, "-", "-", "{tmp}/r.json", "{tmp}/r.json", "{tmp}/r.json", "{tmp}/r.json", "{tmp}", "{tmp}/no/x.json", ""]


OWNER = {"observed": "completion", "measurements": "sensing", "noise": "sensing"}


@st.composite
def run_flags(draw, skip=(), hostile=True):
    """Flags with fair values (a rank that fits d, a problem's own options mostly with that problem),
    optional flags often left out, and a few (0–2) hostile values."""
    chosen = {}
    for name, good in GOOD.items():
        rate = 99 if name in REQUIRED else OPTIONAL_RATE
        if name in OWNER:
            rate = 50 if chosen.get("problem") == OWNER[name] else 3
        if name not in skip and draw(st.integers(0, 99)) < rate:
            if name == "rank" and chosen.get("d", "").isdigit():
                good = st.integers(1, max(1, min(8, int(chosen["d"]) // 2)))
            if name == "rank-hat" and chosen.get("rank", "").isdigit():
                good = st.integers(int(chosen["rank"]), 2 * int(chosen["rank"]))
            chosen[name] = str(draw(good))
    n_bad = draw(st.sampled_from([0, 0, 0, 0, 0, 1, 1, 2])) if hostile else 0
    for name in draw(st.lists(st.sampled_from(sorted(GOOD)), min_size=n_bad, max_size=n_bad, unique=True)):
        if name not in skip:
            chosen[name] = draw(st.sampled_from(BAD.get(name, []) + HOSTILE))
    argv = []
    for name, value in chosen.items():
        argv += [f"--{name}={value}"] if draw(st.booleans()) else [f"--{name}", value]
    return argv


def _call(argv, capsys, tmp_path):
    """main(argv) in this process, from a clean slate: (exit status, captured output, the --out file)."""
    target = tmp_path / "r.json"
    if target.exists():
        target.unlink()
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as stop:  # argparse and flag errors
        code = stop.code
    captured = capsys.readouterr()
    event(f"exit {code}")
    assert code in (0, 2, 3), (argv, code, captured)
    assert "Traceback" not in captured.err and "Traceback" not in captured.out
    return code, captured, target


def _check(argv, capsys, tmp_path):
    out_index = [i for i, a in enumerate(argv) if a == "--out"]
    out = argv[out_index[-1] + 1] if out_index else None
    code, captured, target = _call(argv, capsys, tmp_path)
    err_lines = captured.err.strip().splitlines()
    if code == 2:
        event(" ".join(err_lines[0].split("error: ")[-1].split(" ")[:2]) if err_lines else "no line")
        assert len(err_lines) == 1 and "error: " in err_lines[0] and captured.out == "", (argv, captured)
        assert not target.exists()  # refused before any work
        return
    if out == "-":
        result = json.loads(captured.out, parse_constant=lambda t: pytest.fail(f"non-standard JSON {t}"))
        assert all(line.split(" ")[0] in (*PROBLEMS, "warning:") for line in err_lines), captured.err
    else:
        assert captured.err == "", (argv, captured.err)
        if out is None:
            return
        result = json.loads(target.read_text(), parse_constant=lambda t: pytest.fail(f"non-standard JSON {t}"))
    runs = result.get("runs", [result])
    assert all(r["schema"] == "cdln.run/1" and isinstance(r["warnings"], list) for r in runs)
    assert (code == 3) == any(r["diverged_step"] is not None for r in runs)


def _with_out(argv, out, tmp_path):
    return argv if out is None else [*argv, "--out", out.format(tmp=tmp_path)]


@SLOW
@given(flags=run_flags(), out=st.sampled_from(OUTS))
def test_any_run_keeps_the_promise(flags, out, capsys, tmp_path):
    _check(_with_out(["run", *flags], out, tmp_path), capsys, tmp_path)


@settings(SLOW, max_examples=40)
@given(flags=run_flags(hostile=False), out=st.sampled_from(["-", "{tmp}/r.json"]))
def test_any_fair_run_keeps_the_promise(flags, out, capsys, tmp_path):
    """Only fair values: where the numbers, not the parser, must keep the promise."""
    _check(_with_out(["run", *flags], out, tmp_path), capsys, tmp_path)


SWEPT = ["lr", "lr-ratio", "depth", "model", "observed", "rank", "seed", "init-scale", "bogus"]


@settings(SLOW, max_examples=30)
@given(data=st.data(), out=st.sampled_from(OUTS))
def test_any_sweep_keeps_the_promise(data, out, capsys, tmp_path):
    vary = data.draw(st.sampled_from(SWEPT))
    one = GOOD[vary].map(str) if vary in GOOD else st.just("1")
    values = data.draw(st.lists(st.one_of(one, one, st.sampled_from(BAD.get(vary, []) + HOSTILE)), min_size=1,
                                max_size=3))
    flags = data.draw(run_flags(skip={vary}))
    _check(_with_out(["sweep", "--vary", vary, *values, *flags], out, tmp_path), capsys, tmp_path)


LORA_VALUES = {
    "kinds": st.sampled_from(["lora", "deep_narrow", "deep_compressed,lora", "deep_wide", "bert", ""]),
    "rank": st.one_of(st.integers(1, 8).map(str), st.sampled_from(["100000", "0", "-1"])),
    "steps": st.one_of(st.integers(1, 3).map(str), st.sampled_from(["0", "-1", "1e20"])),
    "lr": st.one_of(st.sampled_from(["1e-2", "1e6", "100"]), st.sampled_from(HOSTILE)),
    "lr-ratio": st.one_of(st.floats(0.0, 1.0).map(str), st.sampled_from(HOSTILE)),
    "init-scale": st.one_of(st.floats(1e-4, 1.0).map(str), st.sampled_from(HOSTILE)),
    "depth": st.one_of(st.integers(2, 4).map(str), st.sampled_from(["1", "1000"])),
    "seed": st.one_of(st.integers(0, 2**63 - 1).map(str), st.sampled_from([str(2**63), "-1"])),
    "values": st.sampled_from(["4", "2,3", "0", "1e9", "abc", "4 8"]),
}


@settings(SLOW, max_examples=12)
@given(data=st.data(), out=st.sampled_from([None, "-", "{tmp}/r.json", ""]))
def test_any_lora_keeps_the_promise(data, out, capsys, tmp_path):
    argv = ["lora", "--seeds", "1", "--steps", "2"]
    for name, values in LORA_VALUES.items():
        if data.draw(st.floats(0, 1)) < 0.3:
            value = data.draw(values)
            argv += [f"--{name}", *value.split(" ")] if name == "values" else [f"--{name}={value}"]
    argv = _with_out(argv, out, tmp_path)
    code, captured, _ = _call(argv, capsys, tmp_path)
    if code == 2:
        assert len(captured.err.strip().splitlines()) == 1 and captured.out == "", (argv, captured)
    elif out == "-":
        assert json.loads(captured.out)["schema"] == "cdln.lora/1"
    else:
        assert captured.err == ""


@pytest.mark.parametrize("argv,code", [
    (["run", "--problem", "completion", "--d", "12", "--rank", "2", "--model", "dln", "--depth", "3", "--lr", "1e300",
      "--steps", "20", "--out", "-"], 3),
    (["run", "--problem", "sensing", "--d", "100000", "--rank", "2", "--model", "cdln", "--depth", "3", "--lr", "1",
      "--steps", "20"], 2),
    (["sweep", "--vary", "depth", "3", "2", "1", "--problem", "factorization", "--d", "8", "--rank", "2", "--model",
      "cdln", "--lr", "1", "--steps", "5"], 2),
    (["run", "--problem", "factorization", "--d", "8", "--rank", "2", "--model", "compressed", "--depth", "3",
      "--lr", "1", "--init-scale", "1e120", "--steps", "5", "--out", "-"], 3),
])
def test_in_a_real_process(argv, code):
    proc = subprocess.run([sys.executable, "-m", "cdln_core", *argv], capture_output=True, text=True)
    assert proc.returncode == code and "Traceback" not in proc.stderr
    if code == 2:
        assert len(proc.stderr.strip().splitlines()) == 1 and proc.stdout == ""
    else:
        assert json.loads(proc.stdout)["diverged_step"] is not None  # stdout is the JSON alone
