"""Build the course site: execute the notebooks (papermill, ``INTERACTIVE=False``), then Sphinx + myst-nb.

    python docs/build_book.py            # quick mode (QUICK=True: every lesson's small runs), as CI builds it
    python docs/build_book.py --full     # the full lessons (QUICK=False), as taught; several minutes
    make book / make book FULL=1         # the same, through the Makefile

Steps, all offline:
1. each ``notebooks/NN_*.ipynb`` runs under papermill with ``INTERACTIVE=False`` and ``QUICK`` set, in its own
   kernel, into ``build/book/executed/<mode>/``; a notebook is re-run only when it, the kit's sources or the
   mode changed (a content hash is stored next to it), so a second build costs only the Sphinx step;
2. a staging folder ``build/book/src/`` gets the site's pages from ``docs/`` (the landing page, notation,
   glossary, references, and the claims ledger and architecture notes when they exist) and the executed
   notebooks, with papermill's timing metadata removed;
3. ``sphinx-build`` writes the HTML to ``build/book/html/`` (``index.html`` is the map of the series).

The numbers on the pages are the notebooks' seeded runs, so they are the same every build; only the
measured wall-clock seconds a lesson prints differ from machine to machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

__all__ = [
    "DEFAULT_BUILD", "OPTIONAL_PAGES", "PAGES", "ROOT", "build", "execute", "main", "notebooks", "render", "stage",
]

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS))

import links  # noqa: E402  (docs/links.py: the Binder address)

PAGES = ["index.md", "notation.md", "glossary.md", "references.md"]  # written for the site (docs/)
OPTIONAL_PAGES = ["claims.md", "architecture.md"]  # written by others; linked when present
DEFAULT_BUILD = ROOT / "build" / "book"


def notebooks() -> list[Path]:
    """The lecture series, in order: ``notebooks/NN_*.ipynb``."""
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _sources_hash(notebook: Path, quick: bool) -> str:
    h = hashlib.sha256(f"quick={quick}\n".encode())
    h.update(notebook.read_bytes())
    for path in sorted((ROOT / "cdln_core").rglob("*.py")):
        h.update(path.relative_to(ROOT).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _kernel_env() -> dict[str, str]:
    # plotly's JSON mime output only (what docs/plotly_mime.py renders); never a CDN renderer
    return {**os.environ, "PLOTLY_RENDERER": "plotly_mimetype", "PYTHONHASHSEED": "0"}


def execute(paths: list[Path], cache: Path, *, quick: bool, jobs: int = 2, log=print) -> list[Path]:
    """Run each notebook under papermill (INTERACTIVE=False) into ``cache``; reuse unchanged results.

    Returns the executed notebooks in the order given. Raises RuntimeError naming the notebook that failed,
    with the end of papermill's output.
    """
    cache.mkdir(parents=True, exist_ok=True)
    todo, out, failed = [], [], []
    for path in paths:
        target = cache / path.name
        stamp = target.with_suffix(".sha256")
        digest = _sources_hash(path, quick)
        out.append(target)
        if target.exists() and stamp.exists() and stamp.read_text() == digest:
            log(f"  {path.name}: unchanged, reusing the executed copy in {cache}")
            continue
        todo.append((path, target, stamp, digest))
    running: list[tuple] = []
    while todo or running:
        while todo and len(running) < max(1, jobs):
            path, target, stamp, digest = todo.pop(0)
            stamp.unlink(missing_ok=True)
            cmd = [
                sys.executable, "-m", "papermill", str(path), str(target), "-k", "python3",
                "-p", "INTERACTIVE", "False", "-p", "QUICK", str(quick), "--cwd", str(path.parent),
                "--no-progress-bar", "--log-level", "WARNING",
            ]  # fmt: skip
            proc = subprocess.Popen(cmd, env=_kernel_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            running.append((proc, path, stamp, digest, time.perf_counter()))
        proc, path, stamp, digest, t0 = running.pop(0)
        output, _ = proc.communicate()
        if proc.returncode != 0:  # keep going: one report names every notebook that failed
            failed.append(f"{path.name} failed under papermill (exit {proc.returncode}):\n{output[-3000:]}")
            log(f"  {path.name}: FAILED")
            continue
        stamp.write_text(digest)
        log(f"  {path.name}: executed in {time.perf_counter() - t0:.0f} s")
    if failed:
        raise RuntimeError("\n\n".join(failed))
    return out


# the Binder badge is an image on mybinder.org: on the site (offline, no third-party requests) it is text
_BADGE = re.compile(r"\[!\[([^\]]*)\]\(" + re.escape(links.BINDER_BADGE_SVG) + r"\)\]\(([^)]+)\)")


def _clean_notebook(src: Path, dst: Path) -> None:
    """Copy an executed notebook without papermill's per-run metadata (timestamps, durations), and with
    the Binder badge as a text link."""
    nb = json.loads(src.read_text())
    nb.get("metadata", {}).pop("papermill", None)
    for cell in nb.get("cells", []):
        cell.get("metadata", {}).pop("papermill", None)
        cell.get("metadata", {}).pop("execution", None)
        if cell.get("cell_type") == "markdown":
            text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            cell["source"] = _BADGE.sub(lambda m: f"[{m.group(1) or 'Launch on Binder'}]({m.group(2)})", text)
    dst.write_text(json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False))


def stage(executed: list[Path], src: Path) -> Path:
    """Fill the staging folder ``src`` with the site's pages and the executed notebooks."""
    if src.exists():
        shutil.rmtree(src)
    (src / "notebooks").mkdir(parents=True)
    present = [p for p in OPTIONAL_PAGES if (DOCS / p).exists()]
    for name in PAGES + present:
        shutil.copyfile(DOCS / name, src / name)
    index = (src / "index.md").read_text()
    for name in OPTIONAL_PAGES:  # a toctree entry for a page that is not there would be a broken link
        if name not in present:
            index = "\n".join(line for line in index.splitlines() if line.strip() != name[:-3]) + "\n"
    (src / "index.md").write_text(index)
    for path in executed:
        _clean_notebook(path, src / "notebooks" / path.name)
    for picture in sorted(DOCS.glob("*.png")):
        shutil.copyfile(picture, src / picture.name)
    return src


def build(*, quick: bool = True, out: Path | None = None, build_dir: Path = DEFAULT_BUILD, jobs: int = 2,
          only: list[str] | None = None, cache: Path | None = None, log=print) -> Path:
    """Execute, stage and build the site; returns the HTML folder (``index.html`` inside).

    ``only``: notebook name prefixes (``["00", "03"]``) for a partial site while writing a lesson;
    ``cache``: where executed notebooks are kept (default ``build_dir/executed``; the tests share
    ``make book``'s, since an entry is reused only when its content hash matches).
    """
    mode = "quick" if quick else "full"
    paths = [p for p in notebooks() if not only or any(p.name.startswith(o) for o in only)]
    if not paths:
        raise RuntimeError(f"no notebook matches {only}; choose from {[p.name for p in notebooks()]}")
    log(f"executing {len(paths)} notebooks ({mode} mode, INTERACTIVE=False)")
    cache = Path(cache) if cache is not None else build_dir / "executed"
    executed = execute(paths, cache / mode, quick=quick, jobs=jobs, log=log)
    out = render(executed, mode=mode, build_dir=build_dir, out=out, strict=len(paths) == len(notebooks()))
    log(f"site ({mode} mode): {out / 'index.html'}")
    return out


def render(executed: list[Path], *, mode: str, build_dir: Path = DEFAULT_BUILD, out: Path | None = None,
           strict: bool = True) -> Path:
    """Stage the pages and the executed notebooks in ``build_dir/src`` and run Sphinx into ``out``.

    ``strict``: warnings are errors (a partial site, with links to lessons it lacks, is built without).
    """
    out = Path(out) if out is not None else build_dir / "html"
    src = stage(executed, build_dir / "src")
    if out.exists():
        shutil.rmtree(out)
    env = {**os.environ, "CDLN_BOOK_MODE": mode, "SOURCE_DATE_EPOCH": "0", "PYTHONHASHSEED": "0"}
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-q", *(["-W", "--keep-going"] if strict else []), "-E",
           "-c", str(DOCS), "-d", str(build_dir / "doctrees"), str(src), str(out)]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"sphinx-build failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}{proc.stderr[-6000:]}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="run the full lessons (QUICK=False); default quick")
    parser.add_argument("--out", type=Path, default=None, help="HTML folder (default build/book/html)")
    parser.add_argument("--jobs", type=int, default=2, help="notebooks executed at once (default 2)")
    parser.add_argument("--only", nargs="+", metavar="NN", help="only these notebooks (name prefixes), e.g. 00 03")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be >= 1, got {args.jobs}")
    try:
        build(quick=not args.full, out=args.out, jobs=args.jobs, only=args.only)
    except RuntimeError as err:
        print(f"build_book: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
