"""Streams and panels: a run drawn frame by frame into its figures, and controls bound to a run.

- ``Stream``: the frame pump handed to a run; ``stream.show(build)`` draws ``build()`` (a figure or a
  tuple of figures, one per output) at most every ``min_interval`` seconds, ``final=True`` always;
  ``stream.recorder(build, total=steps)`` is a ``train(..., callback=...)`` that collects records and
  draws ``build(records)``, spread over at least ``pace`` seconds so a fast run still unfolds on
  screen; ``stream.warn(text)`` writes to the message area;
- ``bind(controls, run, outputs, *, interactive, min_interval=0.1, pace=0.0)`` → ``Panel``: calls
  ``run(stream, **values)`` once now and again on every control change. A ``ValueError`` (an invalid
  combination such as rank > width) is shown as a message, not a traceback, and the figures keep their
  last frame; a returned result with a ``diverged_step`` is reported as diverged, one that learned
  nothing (``race.stalled``) says so, and a result's ``warnings`` are shown.
  ``panel.set(**values)`` changes controls from Python (one rerun).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as W
import plotly.graph_objects as go

from .controls import Message, refresh
from .race import stalled, stalled_message

__all__ = ["Panel", "Stream", "bind"]


class Stream:
    """Draws frames of a running computation into ``outputs``, throttled to keep the kernel free.

    ``frames`` counts the frames drawn; ``first_frame`` and ``last_frame`` are seconds since the
    stream started (the latency benchmark reads them). Non-interactive streams draw only final
    frames: nobody watches a static page fill up.
    """

    def __init__(
        self,
        outputs: Sequence[go.Figure],
        *,
        interactive: bool = True,
        message: Message | None = None,
        min_interval: float = 0.1,
        pace: float = 0.0,
    ):
        self.outputs = list(outputs)
        self.interactive = interactive
        self.message = message
        self.min_interval = min_interval
        self.pace = pace
        self.start = time.perf_counter()
        self.frames = 0
        self.first_frame: float | None = None
        self.last_frame: float | None = None
        self._last = -math.inf

    def show(self, build: Callable[[], go.Figure | Sequence[go.Figure]], *, final: bool = False) -> bool:
        """Draw ``build()`` if a frame is due (always when ``final``). Returns whether it drew."""
        now = time.perf_counter()
        due = final or (self.interactive and (self.frames == 0 or now - self._last >= self.min_interval))
        if final:  # the run drew its own last frame: nothing is left for ``finish``
            self._pending = None
        if not due:
            return False
        figs = build()
        figs = (figs,) if isinstance(figs, go.Figure) else tuple(figs)
        if len(figs) != len(self.outputs):
            raise TypeError(f"build() gave {len(figs)} figures for {len(self.outputs)} outputs")
        for target, fig in zip(self.outputs, figs):
            refresh(target, fig)
        self._last = time.perf_counter()
        self.frames += 1
        elapsed = self._last - self.start
        self.first_frame = elapsed if self.first_frame is None else self.first_frame
        self.last_frame = elapsed
        return True

    def recorder(
        self, build: Callable[[list], go.Figure | Sequence[go.Figure]], *, total: int | None = None
    ) -> Callable[[Any], None]:
        """A ``train`` callback: keeps every record in ``self.records`` and draws ``build(records)``.

        With ``total`` (the run's step budget) and a ``pace`` > 0, an interactive run is spread over at
        least ``pace`` seconds (record at step t shown no earlier than pace·t/total after the start),
        so a run that takes 0.2 s still unfolds in front of the class. Recorded wall times exclude this.
        """
        self.records: list = []
        start = time.perf_counter()

        def callback(record) -> None:
            self.records.append(record)
            if total and self.pace > 0 and self.interactive:
                lag = self.pace * record.step / total - (time.perf_counter() - start)
                if lag > 0:
                    time.sleep(lag)
            self._pending = lambda: build(self.records)
            if self.show(self._pending):
                self._pending = None

        return callback

    def finish(self) -> bool:
        """Draw the last record a recorder kept if no frame showed it yet (a throttled live run, or a
        static page, which draws only final frames). Returns whether it drew."""
        pending, self._pending = getattr(self, "_pending", None), None
        return self.show(pending, final=True) if pending is not None else False

    def warn(self, text: str, kind: str = "warning") -> None:
        if self.message is not None:
            self.message.show(text, kind)


class Panel:
    """Controls, a message area and the live outputs of one ``bind``; displays itself."""

    def __init__(
        self,
        controls: dict[str, W.Widget],
        run,
        outputs,
        message: Message,
        interactive: bool,
        min_interval: float = 0.1,
        pace: float = 0.0,
    ):
        self.controls = controls
        self.min_interval = min_interval
        self.pace = pace
        self.run = run
        self.outputs = list(outputs)
        self.message = message
        self.interactive = interactive
        self.result: Any = None
        self.error: str | None = None
        self.stream: Stream | None = None
        self.busy = False

    @property
    def values(self) -> dict[str, Any]:
        return {name: c.value for name, c in self.controls.items()}

    def update(self, *_: Any) -> Any:
        """Rerun with the controls' current values (a control change calls this)."""
        if self.busy:  # a programmatic change inside a run: the run in progress reads it
            return self.result
        self.busy = True
        self.message.clear()
        self.error = None
        self.stream = Stream(
            self.outputs,
            interactive=self.interactive,
            message=self.message,
            min_interval=self.min_interval,
            pace=self.pace,
        )
        try:
            self.result = self.run(self.stream, **self.values)
            self.stream.finish()
        except ValueError as err:  # the boundary's contract: a bad combination, said in words
            self.error = str(err)
            self.message.show(f"Cannot run with these settings: {err}", "error")
            return None
        finally:
            self.busy = False
        diverged = getattr(self.result, "diverged_step", None)
        if diverged is not None:
            self.message.show(
                f"Diverged at step {diverged}: the loss blew up. Lower the step size.", "warning", append=True
            )
        elif getattr(self.result, "records", None) and not hasattr(self.result, "runs"):
            if stalled({"This run": self.result.records}):
                self.message.show(stalled_message(["This run"], {"This run": self.result.records}), "warning",
                                  append=True)
        for text in getattr(self.result, "warnings", ()):
            self.message.show(text, "warning", append=True)
        return self.result

    def set(self, **values: Any) -> Any:
        """Set controls from Python (as a user would drag them); reruns once. Returns the result."""
        unknown = set(values) - set(self.controls)
        if unknown:
            raise KeyError(f"no control named {', '.join(sorted(unknown))}")
        self.busy = True  # one rerun for all changes, not one per control
        try:
            for name, v in values.items():
                self.controls[name].value = v
        finally:
            self.busy = False
        return self.update()

    @property
    def widget(self) -> W.Widget:
        rows = list(self.controls.values())
        box = W.Box(rows, layout=W.Layout(display="flex", flex_flow="row wrap", gap="4px 24px"))
        figs = [o for o in self.outputs if isinstance(o, W.Widget)]
        return W.VBox([box, self.message.widget, *figs])

    def _ipython_display_(self) -> None:
        from IPython.display import display

        if self.interactive:
            display(self.widget)
        else:  # static page: the message, if any, then plain figures
            if self.message.text:
                print(self.message.text)
            for fig in self.outputs:
                display(fig)


def bind(
    controls: dict[str, W.Widget],
    run: Callable[..., Any],
    outputs: Sequence[go.Figure],
    *,
    interactive: bool = True,
    min_interval: float = 0.1,
    pace: float = 0.0,
) -> Panel:
    """Wire ``controls`` to ``run(stream, **values)`` drawing into ``outputs``; run once now.

    ``outputs`` are figures from ``live`` (FigureWidgets when interactive). ``min_interval``: the
    shortest time between two streamed frames (seconds). ``pace``: the least time a run streamed
    through ``stream.recorder(..., total=steps)`` takes on screen (seconds; 0 = as fast as it goes).
    Display the returned ``Panel`` (last expression of a cell) to show controls, messages and figures.
    """
    panel = Panel(dict(controls), run, outputs, Message(), interactive, min_interval, pace)
    for c in panel.controls.values():
        c.observe(panel.update, names="value")
    panel.update()
    return panel
