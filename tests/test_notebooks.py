"""Every notebook runs top to bottom in quick mode, interactive and static; nbval checks the claims.

Papermill injects ``QUICK=True`` and ``INTERACTIVE`` after the ``parameters`` cell; a failing cell
(an assertion in a claims cell included) fails the test. How notebooks are committed (paired sources,
no widget state, outputs only in claims cells) is checked in ``test_notebook_sources.py``. The kernel is ``python3``: it must be the
project's environment (``python -m ipykernel install --sys-prefix --name python3``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import papermill
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))


def test_there_are_notebooks():
    assert len(PATHS) >= 5, f"expected the lecture series in {NOTEBOOKS}, found {[p.name for p in PATHS]}"


@pytest.mark.parametrize("interactive", [True, False], ids=["interactive", "static"])
@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_runs(path: Path, interactive: bool, tmp_path: Path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged `parameters`"
    assert "INTERACTIVE" in tagged[0].source and "QUICK" in tagged[0].source
    assert any("# NBVAL_CHECK_OUTPUT" in c.source for c in nb.cells if c.cell_type == "code"), "a claims cell"
    out = tmp_path / path.name
    papermill.execute_notebook(
        str(path),
        str(out),
        parameters={"QUICK": True, "INTERACTIVE": interactive},
        kernel_name="python3",
        cwd=str(NOTEBOOKS),
        progress_bar=False,
    )
    ran = nbformat.read(out, as_version=4)
    errors = [o for c in ran.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
    text = "".join(o.get("text", "") for c in ran.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "Traceback" not in text


@pytest.mark.slow
def test_nbval_claims():
    """nbval --nbval-lax: the claims cells' printed tables match what is committed (default params)."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "-q", "-p", "no:cacheprovider", str(NOTEBOOKS)],
        cwd=NOTEBOOKS.parent,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
