"""The lesson machinery shared by every notebook: the preamble, measured prose, predictions, exercises.

- ``preamble(INTERACTIVE, QUICK, SEED, ...)`` → ``Setup``: the one parameters/timing cell of every
  notebook (checked values, frame pacing for live runs, steps for quick mode, one torch thread for
  small matrices, a clock); ``setup.live`` are the keyword arguments of ``widgets.bind``;
  ``setup.done()`` prints how long the notebook computed (the measured times of notebook 00);
- ``Notice(title)``: a "what to notice" block rendered from the numbers of the run on screen
  (``IPython.display.Markdown``) and re-rendered in place each time a slider reruns;
- ``predict(question)``: the one-line "Predict:" prompt before a live figure;
- ``show_claims("01")``: a notebook's claims cell: the claims ledger's entries for that notebook,
  measured over their seeds, printed as a table; an AssertionError names any verdict that changed;
- ``check(student_fn, reference, cases)``: an exercise checker in the style of Neuromatch Academy, which
  says right or wrong (which case, by how much) with a hint; ``check(student_fn, "factor_gradient")``
  uses one of the kit's exercises (``EXERCISES``), whose reference solution is the core's own function,
  never printed.

Interface layer: imports IPython (and the core), never ipywidgets or plotly.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .checks import check_bool, check_int, check_number
from .compression import spectral_init
from .dln import end_to_end, factor_grads
from .seeds import check_seed, generator
from .spectra import rho_prediction

__all__ = [
    "EXERCISES",
    "Exercise",
    "Notice",
    "Result",
    "Setup",
    "check",
    "predict",
    "preamble",
    "sci",
    "show_claims",
]


# --- the preamble ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    """What the parameters cell decides. ``frame_every``: seconds between two streamed frames (quick
    runs are tests: nobody watches, so frames are rare); ``pace``: the least time a live run lasts on
    screen so a class sees it unfold (0 in quick mode); ``frames``: records per run."""

    interactive: bool
    quick: bool
    seed: int
    frames: int
    frame_every: float
    pace: float
    start: float = field(default_factory=time.perf_counter, compare=False)
    cpu_start: float = field(default_factory=time.process_time, compare=False)

    @property
    def live(self) -> dict[str, Any]:
        """Keyword arguments for ``widgets.bind``: ``interactive``, ``min_interval``, ``pace``."""
        return {"interactive": self.interactive, "min_interval": self.frame_every, "pace": self.pace}

    def steps(self, full: int, quick: int | None = None) -> int:
        """``full`` steps, or ``quick`` (default full // 3) in quick mode."""
        return (quick if quick is not None else max(1, full // 3)) if self.quick else full

    def record_every(self, steps: int) -> int:
        """Record spacing that gives about ``frames`` records over ``steps``."""
        return max(1, steps // self.frames)

    def elapsed(self) -> float:
        """Seconds since the preamble ran."""
        return time.perf_counter() - self.start

    def done(self) -> None:
        """Print how long the notebook computed: wall-clock seconds (live runs are paced to last
        ≥ ``pace`` s each) and CPU seconds of this kernel (what a busy shared machine does not inflate).
        Not stable: keep it out of nbval-checked cells."""
        cpu = time.process_time() - self.cpu_start
        print(f"computed in {self.elapsed():.1f} s, {cpu:.1f} s of CPU ({'quick' if self.quick else 'full'} mode)")

    def _repr_markdown_(self) -> str:
        mode = "live figures and sliders" if self.interactive else "static figures"
        return f"*{mode}; {'quick' if self.quick else 'full'} mode; seed {self.seed}*"


def preamble(
    interactive: bool,
    quick: bool,
    seed: int,
    *,
    frames: int = 150,
    pace: float = 1.5,
    frame_every: float = 0.1,
    threads: int | None = 1,
) -> Setup:
    """Check the parameters cell's values and return the notebook's ``Setup``.

    ``threads``: torch threads for the notebook (1: the matrices here are small, and extra threads only
    wait on each other on a shared machine; None leaves torch's setting)."""
    interactive = check_bool("INTERACTIVE", interactive)
    quick = check_bool("QUICK", quick)
    seed = check_seed(seed, "SEED")
    frames = check_int("frames", frames, 2)
    pace = check_number("pace", pace, low=0.0)
    frame_every = check_number("frame_every", frame_every, low=0.0, low_open=True)
    if threads is not None:
        torch.set_num_threads(check_int("threads", threads, 1))
    return Setup(interactive, quick, seed, frames, 2.0 if quick else frame_every, 0.0 if quick else pace)


# --- prose rendered from measurements ------------------------------------------------------------------


def sci(x: float | None, digits: int = 2) -> str:
    """A number for prose: ``1.3e-14``, ``0.25``, ``3,000``, ``502``; ``—`` for None or NaN."""
    if x is None or math.isnan(x := float(x)):
        return "—"
    if x == 0:
        return "0"
    if 100 <= abs(x) < 1e6:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}" if 1e-3 <= abs(x) < 100 else f"{x:.{digits - 1}e}"


def _markdown(text: str):
    from IPython.display import Markdown

    return Markdown(text)


def predict(question: str):
    """The one-line prompt before a live figure: ``**Predict:** question``, as Markdown."""
    return _markdown(f"**Predict:** {question}")


class Notice:
    """A "what to notice" block whose sentences come from a run. ``update(sentences)`` re-renders it in
    place (a display handle), so it follows the sliders; display the object once, where it belongs."""

    def __init__(self, title: str = "What to notice"):
        self.title = title
        self.sentences: list[str] = []
        self._handle = None

    @property
    def markdown(self) -> str:
        body = "\n".join(f"- {s}" for s in self.sentences) or "- (run the cells above first)"
        return f"### {self.title}\n\n{body}"

    def update(self, sentences: Iterable[str]) -> None:
        self.sentences = [s for s in sentences if s]
        if self._handle is not None:
            self._handle.update(_markdown(self.markdown))

    def _ipython_display_(self) -> None:
        from IPython.display import display

        self._handle = display(_markdown(self.markdown), display_id=True)


def show_claims(notebook: str, *, quick: bool = True, seeds: int | None = None) -> None:
    """The claims cell: check the ledger's claims for ``notebook`` ("00" … "07") over ``seeds`` seeds
    (None: the ledger's own number), print the table,
    raise an AssertionError naming the claims whose verdict is not the expected one. Returns nothing,
    so the cell's output is the table alone (nbval compares it)."""
    from . import claims  # the experiments layer: imported when a claims cell runs

    verdicts = claims.check(claims.for_notebook(notebook), quick=quick, seeds=seeds)
    print(claims.table(verdicts))
    changed = claims.changed(verdicts)
    if changed:
        raise AssertionError(f"verdicts changed from the ledger's expectation: {', '.join(changed)}")


# --- exercises -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    """What ``check`` found: ``ok``, and ``text`` for the student (rendered as Markdown)."""

    ok: bool
    text: str

    def __bool__(self) -> bool:
        return self.ok

    def _repr_markdown_(self) -> str:
        return ("✅ " if self.ok else "❌ ") + self.text

    def __repr__(self) -> str:
        return ("right: " if self.ok else "wrong: ") + self.text


def _as_list(out) -> list:
    return list(out) if isinstance(out, (list, tuple)) else [out]


def _compare(got, want, rtol: float, atol: float) -> str | None:
    """None when equal within tolerance, else what differs."""
    got, want = _as_list(got), _as_list(want)
    if len(got) != len(want):
        return f"returned {len(got)} items, expected {len(want)}"
    for i, (g, w) in enumerate(zip(got, want)):
        g, w = np.asarray(g, dtype=float), np.asarray(w, dtype=float)
        where = f"item {i}: " if len(want) > 1 else ""
        if g.shape != w.shape:
            return f"{where}shape {g.shape}, expected {w.shape}"
        if not np.allclose(g, w, rtol=rtol, atol=atol):
            return f"{where}largest difference {np.max(np.abs(g - w)):.3g} (entries up to {np.max(np.abs(w)):.3g})"
    return None


@dataclass(frozen=True)
class Exercise:
    """A write-the-code exercise: ``reference`` (the core's function), ``cases`` (argument tuples and a
    label each), a ``hint``, and an optional ``canonical`` map applied to both outputs before comparing
    (for answers defined only up to a sign)."""

    reference: Callable
    cases: Callable[[], list[tuple[str, tuple]]]
    hint: str
    canonical: Callable | None = None


def check(
    student_fn: Callable,
    reference: Callable | str,
    cases: Sequence[tuple[str, tuple]] | None = None,
    *,
    hint: str = "",
    rtol: float = 1e-9,
    atol: float = 1e-12,
) -> Result:
    """Run ``student_fn(*args)`` and ``reference(*args)`` on every case (label, args) and compare.

    ``reference`` may name an exercise of ``EXERCISES`` (its cases and hint are then used). A stub
    that raises ``NotImplementedError`` is "not written yet"; an exception is reported with its case."""
    canonical = None
    if isinstance(reference, str):
        if reference not in EXERCISES:
            raise ValueError(f"reference must be a function or one of {', '.join(EXERCISES)}, got {reference!r}")
        ex = EXERCISES[reference]
        reference, cases, hint, canonical = ex.reference, cases or ex.cases(), hint or ex.hint, ex.canonical
    if not callable(student_fn):
        raise TypeError(f"student_fn must be a function, got {type(student_fn).__name__}")
    if not cases:
        raise ValueError("cases must hold at least one (label, args) pair")
    tip = f" Hint: {hint}" if hint else ""
    for label, args in cases:
        try:
            got = student_fn(*args)
        except NotImplementedError:
            return Result(False, f"not written yet: replace the `raise NotImplementedError` with your code.{tip}")
        except Exception as err:  # the student's bug, reported with its case instead of a traceback
            return Result(False, f"on {label} your function raised {type(err).__name__}: {err}.{tip}")
        want = reference(*args)
        if canonical is not None:
            got, want = canonical(got), canonical(want)
        diff = _compare(got, want, rtol, atol)
        if diff is not None:
            return Result(False, f"on {label}: {diff}.{tip}")
    return Result(True, f"all {len(cases)} cases match the reference.")


def _factors(shapes: Sequence[int], seed: int) -> list[torch.Tensor]:
    g = generator(seed, "lesson")
    return [torch.randn(shapes[l + 1], shapes[l], generator=g, dtype=torch.float64) for l in range(len(shapes) - 1)]


def _gradient_cases() -> list[tuple[str, tuple]]:
    out = []
    for i, shapes in enumerate([(4, 4), (3, 5, 2), (4, 4, 4, 4), (2, 3, 4, 5, 6)]):
        Ws = _factors(shapes, i)
        G = torch.randn(shapes[-1], shapes[0], generator=generator(i, "lesson", 1), dtype=torch.float64)
        out.append((f"depth {len(Ws)}, shapes {[tuple(W.shape) for W in Ws]}", (Ws, G)))
    return out


def _spectral_cases() -> list[tuple[str, tuple]]:
    out = []
    for i, (d, depth, rank_hat) in enumerate([(6, 2, 2), (8, 3, 3), (10, 4, 4)]):
        S = torch.randn(d, d, generator=generator(i, "lesson", 2), dtype=torch.float64)
        out.append((f"d = {d}, L = {depth}, r̂ = {rank_hat}", (S, depth, rank_hat, 0.01)))
    return out


def _spectral_canonical(Ws) -> list:
    """The factors' shapes, the middle factors and E(0): SVD signs may differ, E(0) may not."""
    Ws = [torch.as_tensor(np.asarray(W, dtype=float)) for W in _as_list(Ws)]
    return [*Ws[1:-1], end_to_end(Ws), torch.tensor([float(n) for W in Ws for n in W.shape])]


def _rho_cases() -> list[tuple[str, tuple]]:
    return [(f"ρ0 = {r}, η' = {e}, L = {L}, t = {t}", (r, e, L, t))
            for r, e, L, t in [(0.01, 0.025, 2, 10), (0.01, 0.025, 3, 1000), (0.5, 0.1, 2, 50), (0.3, 0.2, 4, 200)]]


EXERCISES: dict[str, Exercise] = {
    "factor_gradient": Exercise(
        reference=lambda Ws, G: factor_grads(Ws, G),
        cases=_gradient_cases,
        hint="∇_{W_l} = (W_L ⋯ W_{l+1})ᵀ · G · (W_{l-1} ⋯ W_1)ᵀ; an empty product is the identity of the "
        "right size (W_1 has nothing to its right, W_L nothing to its left), and W_1 is applied first.",
    ),
    "spectral_init": Exercise(
        reference=lambda S, depth, rank_hat, eps: spectral_init(S, depth, rank_hat, init_scale=eps),
        cases=_spectral_cases,
        hint="U, _, Vh = torch.linalg.svd(S); W̃_1 = ε·Vh[:r̂] (r̂, d), the middle factors ε·I (r̂, r̂), "
        "W̃_L = ε·U[:, :r̂] (d, r̂): Σ̂ is discarded.",
        canonical=_spectral_canonical,
    ),
    "rho_recursion": Exercise(
        reference=lambda rho0, lr_prime, depth, t: float(rho_prediction(rho0, lr_prime, depth, [t])[0]),
        cases=_rho_cases,
        hint="repeat t times: ρ ← ρ − η'·ρ^(2L−1) (the exponent is 2L − 1, not L).",
    ),
}
