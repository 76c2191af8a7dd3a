"""Every notebook is paired with a reviewable text source, and the two never drift.

``notebooks/NN_name.ipynb`` ↔ ``notebooks/src/NN_name.py`` (py:percent, paired by notebooks/jupytext.toml):
the same cells, of the same types, with the same sources and tags. Regenerate a notebook from its source
with ``jupytext --sync notebooks/src/NN_name.py`` (or ``python notebooks/src/build_notebooks.py NN_name``).
"""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def _cells(nb) -> list[tuple[str, str, tuple]]:
    return [(c.cell_type, c.source.strip(), tuple(c.get("metadata", {}).get("tags", []))) for c in nb.cells]


def test_pairing_is_configured():
    lines = [line.strip() for line in (NOTEBOOKS / "jupytext.toml").read_text().splitlines()]
    assert 'formats = "ipynb,src//py:percent"' in lines  # read without tomllib: Python 3.10 has none


def test_every_notebook_has_a_source_and_every_source_a_notebook():
    assert PATHS, "no notebooks found"
    sources = {p.stem for p in (NOTEBOOKS / "src").glob("[0-9][0-9]_*.py")}
    notebooks = {p.stem for p in PATHS}
    assert notebooks - sources == set(), f"notebooks without a source in notebooks/src: {sorted(notebooks - sources)}"
    assert sources - notebooks == set(), f"sources without a notebook: {sorted(sources - notebooks)}"


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_equals_its_source(path: Path):
    source = NOTEBOOKS / "src" / f"{path.stem}.py"
    if not source.exists():
        pytest.fail(f"{path.name} has no source {source.relative_to(NOTEBOOKS.parent)}")
    from_ipynb = _cells(nbformat.read(path, as_version=4))
    from_py = _cells(jupytext.read(source))
    if from_ipynb != from_py:
        first = next((i for i, (a, b) in enumerate(zip(from_ipynb, from_py)) if a != b), min(len(from_ipynb),
                                                                                            len(from_py)))
        pytest.fail(f"{path.name} and src/{source.name} differ from cell {first} on ({len(from_ipynb)} cells vs "
                    f"{len(from_py)}): run `jupytext --sync notebooks/src/{source.name}`")


def test_a_drifted_notebook_is_caught(tmp_path: Path):
    """The comparison itself can fail: one changed character in a cell is a difference."""
    path = next(p for p in PATHS if (NOTEBOOKS / "src" / f"{p.stem}.py").exists())
    nb = nbformat.read(path, as_version=4)
    code = next(c for c in nb.cells if c.cell_type == "code")
    code.source += "\n# drift"
    assert _cells(nb) != _cells(jupytext.read(NOTEBOOKS / "src" / f"{path.stem}.py"))


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_committed_form(path: Path):
    """Kernelspec python3, no widget state (≈5 MB of plotly.js), outputs only in nbval-checked cells."""
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", f"{path.name}: kernelspec must be python3"
    assert "widgets" not in nb.metadata, f"{path.name} carries widget state"
    for cell in nb.cells:
        if cell.cell_type == "code" and "# NBVAL_CHECK_OUTPUT" not in cell.source:
            assert not cell.outputs, f"{path.name}: outputs outside the claims cells"
