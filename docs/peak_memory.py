"""Peak memory of each notebook, quick and full: does every lesson fit Binder's 2 GB?

    python docs/peak_memory.py                 # both modes, every notebook (the full mode takes minutes)
    python docs/peak_memory.py --mode quick --only 00 03

Each notebook runs top to bottom under papermill with its own defaults (``INTERACTIVE=True``: live
figures and widgets, as a student runs it on Binder), from a fresh Python process. That process's
``RUSAGE_CHILDREN`` maximum resident set size, read after papermill has shut the kernel down and reaped
it, is the kernel's peak: the kernel is its only child. Prints a Markdown table
(MiB) for the README.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

__all__ = ["BINDER_LIMIT_MIB", "measure", "main"]

ROOT = Path(__file__).resolve().parent.parent
BINDER_LIMIT_MIB = 2048

_CHILD = """
import resource, sys, papermill
papermill.execute_notebook(sys.argv[1], sys.argv[2], parameters={"QUICK": sys.argv[3] == "quick"},
                           kernel_name="python3", cwd=sys.argv[4], progress_bar=False)
print("PEAK_KIB", resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def measure(notebook: Path, mode: str, out_dir: Path) -> float:
    """Peak resident memory (MiB) of the kernel that ran ``notebook`` in ``mode`` ("quick" or "full")."""
    if mode not in ("quick", "full"):
        raise ValueError(f"mode must be 'quick' or 'full', got {mode!r}")
    out = out_dir / f"{notebook.stem}.{mode}.ipynb"
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(notebook), str(out), mode, str(notebook.parent)],
                          capture_output=True, text=True)  # fmt: skip
    lines = [line for line in proc.stdout.splitlines() if line.startswith("PEAK_KIB")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{notebook.name} ({mode}) failed:\n{proc.stdout[-2000:]}{proc.stderr[-3000:]}")
    return int(lines[-1].split()[1]) / 1024  # Linux reports KiB


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["quick", "full", "both"], default="both")
    parser.add_argument("--only", nargs="+", metavar="NN", help="notebook name prefixes, e.g. 00 03")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "memory", help="where the runs are written")
    args = parser.parse_args(argv)
    modes = ["quick", "full"] if args.mode == "both" else [args.mode]
    paths = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    paths = [p for p in paths if not args.only or any(p.name.startswith(o) for o in args.only)]
    args.out.mkdir(parents=True, exist_ok=True)
    print("| notebook | " + " | ".join(f"{m} mode, peak MiB" for m in modes) + " |")
    print("|---|" + "---|" * len(modes))
    worst = 0.0
    for path in paths:
        cells = []
        for mode in modes:
            try:
                peak = measure(path, mode, args.out)
            except RuntimeError as err:
                print(f"peak_memory: {err}", file=sys.stderr)
                cells.append("failed")
                continue
            worst = max(worst, peak)
            cells.append(f"{peak:.0f}")
        print(f"| `{path.stem}` | " + " | ".join(cells) + " |", flush=True)
    print(f"\nlargest peak {worst:.0f} MiB of Binder's {BINDER_LIMIT_MIB} MiB")
    return 0 if worst < BINDER_LIMIT_MIB else 1


if __name__ == "__main__":
    sys.exit(main())
