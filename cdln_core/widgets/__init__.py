"""Notebook wiring: sliders that rerun a computation and stream it into live plotly figures.

The one place that imports ipywidgets. Generic: nothing here knows about deep linear networks.

Three modules, re-exported here (each docstring has the details):

- ``controls``: ``live(fig, interactive)`` (a ``FigureWidget`` or the plain figure), ``slider`` (fires on
  release), ``dropdown``, ``refresh(target, new)`` (update a figure in place), ``Message``;
- ``panel``: ``Stream`` (the frame pump a run draws through, throttled and paced) and
  ``bind(controls, run, outputs, ...)`` → ``Panel`` (reruns on every control change; bad settings,
  divergence and runs that learned nothing become messages, never tracebacks);
- ``race``: ``race(stream, fits, draw)`` (several models streamed into one figure), ``stalled``,
  ``stalled_message`` and ``verdict`` (never "holds" for a claim no run exercised).

Typical use in a notebook::

    fig = live(plots.staircase(...), INTERACTIVE)
    def run(stream, depth, lr):
        problem, net = ..., ...                      # may raise ValueError: shown as a message
        return train(problem, net, cfg, callback=stream.recorder(lambda recs: plots.staircase(recs, ...)))
    bind({"depth": slider("depth L", 3, 1, 5), "lr": slider("step η", 1.0, 0.1, 10, log=True)},
         run, [fig], interactive=INTERACTIVE)
"""

from .controls import Message, dropdown, live, refresh, slider
from .panel import Panel, Stream, bind
from .race import Race, race, stalled, stalled_message, verdict

__all__ = [
    "Message",
    "Panel",
    "Race",
    "Stream",
    "bind",
    "dropdown",
    "live",
    "race",
    "refresh",
    "slider",
    "stalled",
    "stalled_message",
    "verdict",
]
