"""The README's own numbers come from the commands beside them: rerun them and compare."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _block_after(heading: str, lang: str) -> str:
    part = README.split(heading, 1)[1]
    return part.split(f"```{lang}\n", 1)[1].split("```", 1)[0]


def test_from_python_example_prints_what_the_readme_says():
    code = _block_after("## From Python", "python")
    expected = [line.split("#", 1)[1].strip() for line in code.splitlines() if line.startswith("print(")]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=True,
                         env={"OMP_NUM_THREADS": "1", "PATH": ""}, cwd=ROOT)
    assert out.stdout.split("\n")[: len(expected)] == expected


def test_command_example_prints_what_the_readme_says():
    block = _block_after("## The `cdln` command", "console").splitlines()
    i = next(k for k, line in enumerate(block) if line.startswith("$ cdln run"))
    command = block[i][2:].rstrip("\\").split() + block[i + 1].split()
    command = [a for a in command if a != "--out" and not a.endswith(".json")]
    printed = block[i + 2]
    out = subprocess.run([sys.executable, "-m", "cdln_core", *command[1:]], capture_output=True, text=True,
                         timeout=600, check=True, cwd=ROOT)
    # everything but the wall time must match exactly
    strip = lambda s: re.sub(r", [0-9.]+ s$", "", s.strip())
    assert strip(out.stdout.splitlines()[0]) == strip(printed)
