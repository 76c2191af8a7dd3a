"""Headless wiring: a slider change reruns and redraws; a bad combination is a message, not an error."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from cdln_core import TrainConfig, make_network, make_problem, plots, train
from cdln_core.widgets import Stream, bind, dropdown, live, refresh, slider


def _run(stream, depth, width, rank, lr):
    problem = make_problem("factorization", width, rank, seed=0)
    net = make_network("dln", problem, depth, seed=0)
    sigma = problem.sigma.numpy()
    draw = lambda records, diverged=None: plots.staircase(records, sigma, diverged_step=diverged)
    traj = train(problem, net, TrainConfig(lr=lr, steps=600, record_every=20), callback=stream.recorder(draw))
    stream.show(lambda: draw(traj.records, traj.diverged_step), final=True)
    return traj


def _panel(interactive=True):
    fig = live(plots.staircase([], [1.0, 0.5]), interactive)
    controls = {
        "depth": slider("depth L", 2, 1, 5),
        "width": slider("width d", 10, 2, 30),
        "rank": slider("rank r", 2, 1, 8),
        "lr": slider("step size η", 5.0, 0.5, 200.0, log=True),
    }
    return bind(controls, _run, [fig], interactive=interactive), fig


def _ys(fig):
    return [np.asarray(t.y, dtype=float) for t in fig.data]


def test_slider_kinds_and_release_only():
    assert type(slider("n", 3, 1, 5)).__name__ == "IntSlider"
    assert type(slider("x", 0.5, 0.0, 1.0)).__name__ == "FloatSlider"
    log = slider("η", 1e-2, 1e-4, 1.0, log=True)
    assert type(log).__name__ == "FloatLogSlider" and log.min == pytest.approx(-4) and log.max == pytest.approx(0)
    assert all(not s.continuous_update for s in (slider("n", 3, 1, 5), log))
    with pytest.raises(ValueError, match="low"):
        slider("η", 1e-2, 0.0, 1.0, log=True)


@pytest.mark.parametrize("interactive", [True, False])
def test_slider_change_redraws(interactive):
    panel, fig = _panel(interactive)
    assert isinstance(fig, go.FigureWidget) == interactive
    assert panel.error is None and panel.stream.frames >= 1
    before = _ys(fig)
    panel.controls["depth"].value = 3  # as a user releasing the slider
    after = _ys(fig)
    assert len(before) == len(after)
    assert any(not np.array_equal(a, b, equal_nan=True) for a, b in zip(before, after)), "the figure changed"
    assert len(panel.result.records[0].factor_singular_values) == 3, "the run used the new depth"


def test_streams_several_frames():
    panel, fig = _panel()
    panel.min_interval = 0.0  # draw every record
    panel.update()
    assert panel.stream.frames == len(panel.result.records) + 1  # every record, then the final frame


def test_invalid_combination_is_a_message():
    panel, fig = _panel()
    before = _ys(fig)
    panel.set(rank=8, width=4)  # rank above width
    assert panel.error is not None and "rank" in panel.error
    assert panel.message.kind == "error" and "rank" in panel.message.text
    assert "Traceback" not in panel.message.widget.value
    assert all(np.array_equal(a, b, equal_nan=True) for a, b in zip(before, _ys(fig))), "last frame kept"
    panel.set(rank=2)  # back to valid: the message clears and the run happens
    assert panel.error is None and panel.message.text == ""


def test_set_reruns_once():
    calls = []
    panel = bind({"a": slider("a", 1, 0, 5), "b": slider("b", 1, 0, 5)}, lambda s, a, b: calls.append((a, b)),
                 [], interactive=True)
    panel.set(a=2, b=3)
    assert calls == [(1, 1), (2, 3)]
    with pytest.raises(KeyError):
        panel.set(c=1)


def test_divergence_is_reported():
    panel, fig = _panel()
    panel.set(lr=200.0)
    assert panel.result.diverged_step is not None
    assert panel.message.kind == "warning" and "Diverged at step" in panel.message.text
    assert any("diverged" in (a.text or "") for a in fig.layout.annotations), "the figure says so too"
    panel.set(lr=5.0)  # a stable step again: message and marker go away
    assert panel.message.text == ""
    assert not any("diverged" in (a.text or "") for a in fig.layout.annotations)


def test_refresh_replaces_traces_when_their_number_changes():
    fig = go.FigureWidget(plots.staircase([], [1.0, 0.5]))
    n = len(fig.data)
    refresh(fig, plots.staircase([], [1.0, 0.5, 0.2]))
    assert len(fig.data) == n + 2


def test_stream_checks_output_count():
    stream = Stream([go.Figure()], interactive=True)
    with pytest.raises(TypeError):
        stream.show(lambda: (go.Figure(), go.Figure()))


def test_dropdown():
    d = dropdown("problem", ["factorization", "completion"])
    assert d.value == "factorization"


def test_pace_spreads_a_fast_run():
    fig = live(plots.staircase([], [1.0, 0.5]), True)
    controls = {"depth": slider("depth L", 2, 1, 5), "width": slider("width d", 10, 2, 30),
                "rank": slider("rank r", 2, 1, 8), "lr": slider("step size η", 5.0, 0.5, 200.0, log=True)}

    def run(stream, **values):
        problem = make_problem("factorization", values["width"], values["rank"], seed=0)
        net = make_network("dln", problem, values["depth"], seed=0)
        draw = lambda records: plots.staircase(records, problem.sigma.numpy())
        config = TrainConfig(lr=values["lr"], steps=600, record_every=20)
        return train(problem, net, config, callback=stream.recorder(draw, total=config.steps))

    panel = bind(controls, run, [fig], interactive=True, min_interval=0.05, pace=0.6)
    assert panel.stream.last_frame >= 0.5, "the run is spread over the pace"
    assert panel.stream.frames >= 5, "several frames along the way"
    assert panel.result.wall_time[-1] < 0.5, "recorded wall time excludes the pacing"
