"""Slider latency of the lecture notebooks: time to the first updated frame and to the end of the run.

For each notebook, runs its code cells (not the claims cells) in this process with ``INTERACTIVE = True``
(headless ``FigureWidget``s), then moves the main slider of its first panel the way a user does and reads
the panel's stream: seconds from the change to the first frame drawn and to the run's end. Each change is
made ``--repeat`` times, back and forth, and the worst is reported. Budget (issue 3): first frame
≤ 0.5 s, end ≤ 3 s on a 2-core CPU.

    python benchmarks/bench_latency.py [--repeat 3] [notebooks/01_incremental_learning.ipynb ...]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent

# (panel variable, control, new value): the slider each lesson is about. Others: first panel, first control.
MAIN_SLIDER = {
    "00_tour": ("demo_panel", "depth", 2),
    "01_incremental_learning": ("staircase_panel", "depth", 2),
    "02_invariant_subspace": ("invariance_panel", "depth", 2),
    "03_compressed_dln": ("compare_panel", "rank_hat", 8),
    "04_completion_and_sensing": ("problems_panel", "observed", 0.6),
}


def _setup(path: Path) -> dict:
    """Run the notebook's cells except the claims, in a fresh namespace, from the notebooks folder."""
    nb = nbformat.read(path, as_version=4)
    ns: dict = {"__name__": "__bench__"}
    cwd = os.getcwd()
    os.chdir(path.parent)
    try:
        for cell in nb.cells:
            if cell.cell_type != "code" or "# NBVAL_CHECK_OUTPUT" in cell.source:
                continue
            src = cell.source
            if "parameters" in cell.metadata.get("tags", []):
                src += "\nINTERACTIVE = True\nQUICK = False\n"
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(src, str(path), "exec"), ns)
    finally:
        os.chdir(cwd)
    return ns


def _pick(ns: dict, stem: str):
    from cdln_core.widgets import Panel

    if stem in MAIN_SLIDER:
        name, control, value = MAIN_SLIDER[stem]
        return name, ns[name], control, value
    for name, obj in ns.items():
        if isinstance(obj, Panel):
            control, widget = next(iter(obj.controls.items()))
            if hasattr(widget, "options"):
                options = list(widget.options)
                value = options[(options.index(widget.value) + 1) % len(options)]
            else:
                step = getattr(widget, "step", 1)
                value = widget.value + step if widget.value + step <= widget.max else widget.value - step
            return name, obj, control, value
    return None


def bench(path: Path, repeat: int) -> tuple[str, str, float, float, int] | None:
    ns = _setup(path)
    picked = _pick(ns, path.stem)
    if picked is None:
        return None
    name, panel, control, value = picked
    original = panel.controls[control].value
    first, end, frames = 0.0, 0.0, 0
    for i in range(repeat):
        new = value if i % 2 == 0 else original
        tic = time.perf_counter()
        panel.controls[control].value = new  # as a user releasing the slider
        elapsed = time.perf_counter() - tic
        if panel.error is not None:
            raise RuntimeError(f"{path.name}: {control}={new!r} gave a message: {panel.error}")
        first = max(first, panel.stream.first_frame or elapsed)
        end = max(end, elapsed)
        frames = max(frames, panel.stream.frames)
    return f"{name}.{control}", f"{original!r} ↔ {value!r}", first, end, frames


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    import torch

    threads = torch.get_num_threads()
    print(f"# slider latency, worst of {args.repeat} changes; {os.cpu_count()} CPUs, torch threads {threads}")
    head = "first frame (s) | end of run (s) | frames | budget |"
    print(f"| {'notebook':28s} | {'slider':30s} | {'change':14s} | {head}")
    print(f"|{'-' * 30}|{'-' * 32}|{'-' * 16}|-----------------|----------------|--------|--------|")
    ok = True
    for path in paths:
        row = bench(path.resolve(), args.repeat)
        if row is None:
            print(f"| {path.stem:28s} | (no panel) | | | | | |")
            continue
        slider, change, first, end, frames = row
        within = first <= 0.5 and end <= 3.0
        ok &= within
        print(f"| {path.stem:28s} | {slider:30s} | {change:14s} | {first:15.3f} | {end:14.3f} | {frames:6d} | "
              f"{'ok' if within else 'OVER':6s} |")
        sys.stdout.flush()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
