"""Lecture mode: serve one notebook with Voila as a presentation for a projector.

    python docs/present.py 03              # make present NB=03
    python docs/present.py 03 --quick      # the lesson's quick mode (QUICK=True), for a slow laptop
    python docs/present.py 03 --port 8870 --print-command

Voila runs the notebook and shows only its markdown, controls and figures (no code; the kit's
``present`` template hides every input area and sets large type), with the sliders live. It runs with
``--progressive_rendering=True``: in Voila's default mode a ``FigureWidget`` shows only what it held when
created, so the kit's live figures would stay empty until a slider moved; rendering progressively, each
figure draws as its cell runs. The template (``docs/present/voila/templates/present``) extends Voila's
``lab`` template without its CDN stylesheets, so a lecture room needs no internet.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["ROOT", "TEMPLATES", "find_notebook", "main", "prepare", "voila_command"]

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = Path(__file__).resolve().parent / "present"  # a Jupyter data dir holding voila/templates/present


def find_notebook(name: str) -> Path:
    """``notebooks/<name>*.ipynb`` for a prefix such as ``03`` or a full name; ValueError if not exactly one."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"NB must name a notebook (a prefix such as 03), got {name!r}")
    book = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    hits = [p for p in book if p.name.startswith(name) or p.stem == Path(name).stem]
    if len(hits) != 1:
        raise ValueError(f"NB={name!r} matches {len(hits)} notebooks; choose one of {[p.stem[:2] for p in book]}")
    return hits[0]


def prepare(notebook: Path, *, quick: bool, out_dir: Path) -> Path:
    """The notebook to serve: the lesson itself, or with ``QUICK=True`` injected (papermill, not executed)."""
    if not quick:
        return notebook
    import papermill

    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / notebook.name
    papermill.execute_notebook(str(notebook), str(target), parameters={"QUICK": True}, prepare_only=True,
                               kernel_name="python3", progress_bar=False)  # fmt: skip
    return target


def voila_command(notebook: Path, *, port: int, open_browser: bool = False) -> list[str]:
    """The Voila command line for ``notebook`` (a list for subprocess)."""
    return [
        sys.executable, "-m", "voila", str(notebook), f"--port={port}", "--template=present", "--theme=light",
        "--progressive_rendering=True", "--strip_sources=True", "--show_tracebacks=False",
        "--Voila.ip=127.0.0.1", *([] if open_browser else ["--no-browser"]),
    ]  # fmt: skip


def voila_env() -> dict[str, str]:
    """The environment Voila needs to find the ``present`` template (an extra Jupyter data directory)."""
    extra = os.environ.get("JUPYTER_PATH", "")
    return {**os.environ, "JUPYTER_PATH": os.pathsep.join(p for p in [str(TEMPLATES), extra] if p)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", help="notebook prefix (00 … 06) or name")
    parser.add_argument("--quick", action="store_true", help="serve the lesson's quick mode (QUICK=True)")
    parser.add_argument("--port", type=int, default=8866, help="port on 127.0.0.1 (default 8866)")
    parser.add_argument("--open", action="store_true", help="open a browser tab")
    parser.add_argument("--print-command", action="store_true", help="print the Voila command and exit")
    args = parser.parse_args(argv)
    if not 1 <= args.port <= 65535:
        parser.error(f"--port must be in [1, 65535], got {args.port}")
    try:
        notebook = find_notebook(args.notebook)
    except ValueError as err:
        parser.error(str(err))
    if shutil.which("voila") is None and not (Path(sys.executable).parent / "voila").exists():
        print("present: Voila is not installed (pip install -e '.[docs]')", file=sys.stderr)
        return 1
    served = prepare(notebook, quick=args.quick, out_dir=ROOT / "build" / "present")
    cmd = voila_command(served, port=args.port, open_browser=args.open)
    if args.print_command:
        print(" ".join(cmd))
        return 0
    print(f"present: {notebook.name} at http://127.0.0.1:{args.port}/ (Ctrl-C stops)", flush=True)
    root = notebook.parent if served == notebook else served.parent
    return subprocess.call(cmd, env=voila_env(), cwd=root)


if __name__ == "__main__":
    sys.exit(main())
