"""Regenerate notebooks from their sources: ``python notebooks/src/build_notebooks.py [NN_name ...]``.

For each source ``notebooks/src/NN_name.py`` (all of them by default): write ``notebooks/NN_name.ipynb``
from it (jupytext, paired by ``notebooks/jupytext.toml``), execute it at its default parameters, and keep
only what is committed: the outputs of the cells marked ``# NBVAL_CHECK_OUTPUT`` (nbval compares them),
no widget state, no execution counts, kernelspec ``python3``. Needs the project's ``python3`` kernel.
"""

from __future__ import annotations

import sys
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
NOTEBOOKS = HERE.parent
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def build(name: str, *, execute: bool = True, timeout: int = 900) -> Path:
    source = HERE / f"{name}.py"
    if not source.exists():
        raise SystemExit(f"no source {source}")
    nb = jupytext.read(source)
    nb.metadata = {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}}
    if execute:
        resources = {"metadata": {"path": str(NOTEBOOKS)}}
        NotebookClient(nb, timeout=timeout, kernel_name="python3", resources=resources).execute()
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if "computed in" in out.get("text", ""):
                print(f"{name}: {out['text'].strip()}")  # the measured compute time (not committed)
        cell.metadata = {k: v for k, v in cell.metadata.items() if k == "tags"}
        if cell.cell_type == "code":
            if "# NBVAL_CHECK_OUTPUT" in cell.source:
                cell.execution_count = 1  # nbval skips a cell with outputs but no count ("unrun")
            else:
                cell.execution_count = None
                cell.outputs = []
    nb.metadata.pop("widgets", None)
    target = NOTEBOOKS / f"{name}.ipynb"
    nbformat.write(nb, target)
    return target


if __name__ == "__main__":
    names = sys.argv[1:] or sorted(p.stem for p in HERE.glob("[0-9][0-9]_*.py"))
    for n in names:
        print("built", build(n))
