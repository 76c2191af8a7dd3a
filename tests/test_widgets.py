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

    panel = bind(controls, run, [fig], interactive=True, min_interval=0.0, pace=0.6)  # every record drawn
    assert panel.stream.last_frame >= 0.5, "the run is spread over the pace"
    assert panel.stream.frames == len(panel.result.records), "a frame per record along the way"
    assert panel.result.wall_time[-1] < 0.5, "recorded wall time excludes the pacing"


# --- several models in one figure; honest messages --------------------------------------------------

from cdln_core import lesson  # noqa: E402
from cdln_core.plots import dynamics  # noqa: E402
from cdln_core.widgets import Message, race, stalled, verdict  # noqa: E402


def _fits(problem, steps=400, depth=3, init_scale=1e-2, lr=5.0):
    config = TrainConfig(lr=lr, steps=steps, record_every=20)
    return {kind: (lambda cb, kind=kind: train(problem, make_network(kind, problem, depth, init_scale=init_scale,
                                                                     seed=0), config, callback=cb))
            for kind in ("dln", "cdln")}


def test_race_streams_every_model_into_one_figure():
    problem = make_problem("factorization", 10, 2, seed=0)
    fig = live(plots.error_curves({"dln": [], "cdln": []}), True)
    seen = []

    def draw(runs, diverged):
        seen.append({k: len(v) for k, v in runs.items()})
        return plots.error_curves(runs, diverged=diverged)

    stream = Stream([fig], interactive=True, min_interval=0.0)
    result = race(stream, _fits(problem, steps=2000), draw)
    assert set(result) == {"dln", "cdln"} and set(result.runs) == {"dln", "cdln"}
    assert all(len(result.runs[k]) == len(result[k].records) for k in result)
    assert any(s["dln"] > 0 and s["cdln"] == 0 for s in seen), "the first model streamed alone"
    assert any(s["dln"] == len(result.runs["dln"]) and 0 < s["cdln"] for s in seen), "then the second beside it"
    assert result.diverged_step is None and result.warnings == []
    assert len(fig.data) == 4 and len(fig.data[0].y) == len(result.runs["dln"])  # 2 runs × (steps, seconds)


def test_race_stops_at_divergence_and_the_panel_says_so():
    problem = make_problem("factorization", 10, 2, seed=0)
    fig = live(plots.error_curves({"dln": [], "cdln": []}), True)
    panel = bind({"lr": slider("η", 500.0, 1.0, 1000.0, log=True)},
                 lambda s, lr: race(s, _fits(problem, lr=lr), lambda runs, d: plots.error_curves(runs, diverged=d)),
                 [fig], interactive=True)
    assert panel.result.diverged["dln"] is not None and "cdln" not in panel.result, "stopped at the first"
    assert "Diverged at step" in panel.message.text


def test_a_run_that_learned_nothing_is_said_so():
    problem = make_problem("factorization", 10, 2, seed=0)
    fig = live(plots.error_curves({"dln": [], "cdln": []}), True)
    panel = bind({"depth": slider("L", 5, 2, 6)},  # depth 5 at ε = 1e-2: a plateau of millions of steps
                 lambda s, depth: race(s, _fits(problem, depth=depth), lambda r, d: plots.error_curves(r)),
                 [fig], interactive=True)
    assert panel.result.diverged_step is None
    assert set(stalled(panel.result.runs)) == {"dln", "cdln"}
    assert panel.message.kind == "warning" and "learned nothing" in panel.message.text
    assert "first plateau" in panel.message.text and "dln" in panel.message.text
    panel.set(depth=2)  # depth 2 escapes at once: no warning
    assert stalled(panel.result.runs) == [] and panel.message.text == ""


def test_single_run_stalled_message():
    panel, _ = _panel()
    panel.set(depth=5, lr=0.5)
    assert "learned nothing" in panel.message.text


def test_stalled_and_verdict():
    class R:
        def __init__(self, step, e, acc=0.1):
            self.step, self.recovery_error, self.accuracy = step, e, acc

    runs = {"flat": [R(0, 1.0), R(10, 0.99)], "learned": [R(0, 1.0), R(10, 0.2)], "nan": [R(0, 1.0), R(5, np.nan)],
            "empty": []}
    assert stalled(runs) == ["flat", "nan"]
    assert stalled({"a": [R(0, 0, 0.1), R(9, 0, 0.102)], "b": [R(0, 0, 0.1), R(9, 0, 0.9)]},
                   metric="accuracy", higher_is_better=True) == ["a"]
    text, kind = verdict("C-DLN error ≤ DLN error", True, untested=["DLN", "C-DLN"])
    assert kind == "warning" and "holds" not in text.lower().replace("neither", "") and "Not tested" in text
    assert verdict("x", True)[0].startswith("Holds") and verdict("x", False)[1] == "warning"


def test_message_append_keeps_the_stronger_kind():
    m = Message()
    m.show("one", "info")
    m.show("two", "warning", append=True)
    assert m.text == "one\ntwo" and m.kind == "warning" and "<br>" in m.widget.value
    m.show("three", "info")
    assert m.text == "three" and m.kind == "info"


def test_streamed_alignment_costs_only_new_records(monkeypatch):
    """A frame recomputes E and an SVD only for records it has not seen: O(new records), not O(records)."""
    problem = make_problem("factorization", 8, 2, seed=0)
    net = make_network("dln", problem, 3, seed=0)
    traj = train(problem, net, TrainConfig(lr=5.0, steps=200, record_every=10, keep_factors=True))
    U, V = problem.U.numpy(), problem.V.numpy()
    calls = []
    real = dynamics.singular_vector_alignment
    monkeypatch.setattr(dynamics, "singular_vector_alignment", lambda *a: calls.append(1) or real(*a))
    first = dynamics.alignment_series(traj.records[:10], U, V)
    assert len(calls) == 10
    full = dynamics.alignment_series(traj.records, U, V)
    assert len(calls) == len(traj.records), "only the new records were measured"
    np.testing.assert_array_equal(full[:10], first)
    dynamics.alignment_series(traj.records, U[:, ::-1], V[:, ::-1])  # another target: measured afresh
    assert len(calls) == 2 * len(traj.records)


# --- the lesson machinery ------------------------------------------------------------------------------


def test_preamble_checks_and_paces():
    s = lesson.preamble(True, False, 0)
    assert s.live == {"interactive": True, "min_interval": 0.1, "pace": 1.5}
    q = lesson.preamble(False, True, 3, threads=None)
    assert q.pace == 0.0 and q.frame_every == 2.0 and q.steps(3000) == 1000 and q.steps(3000, 500) == 500
    assert s.record_every(3000) == 20 and s.record_every(10) == 1
    for bad, name in (((1, False, 0), "INTERACTIVE"), ((True, "no", 0), "QUICK"), ((True, False, -1), "SEED")):
        with pytest.raises((TypeError, ValueError), match=name):
            lesson.preamble(*bad)


def test_notice_renders_and_updates_in_place(monkeypatch):
    updates = []

    class Handle:
        def update(self, obj):
            updates.append(obj.data)

    import IPython.display

    monkeypatch.setattr(IPython.display, "display", lambda obj, display_id=False: Handle())
    n = lesson.Notice("What to notice")
    n.update(["first", ""])
    assert n.markdown == "### What to notice\n\n- first"
    n._ipython_display_()
    n.update([f"σ fitted at step {t}" for t in (10, 20)])
    assert updates == ["### What to notice\n\n- σ fitted at step 10\n- σ fitted at step 20"]
    assert lesson.predict("which first?").data == "**Predict:** which first?"
    assert [lesson.sci(v) for v in (501.9, 1.3e-14, 0.25, None, 0)] == ["502", "1.3e-14", "0.25", "—", "0"]


def _numpy_spectral_init(S, depth, rank_hat, eps):
    """A right answer by another route (NumPy's SVD: its signs may differ from torch's, E(0) may not)."""
    U, _, Vh = np.linalg.svd(-S.numpy())  # SVD of −S: flips the sign of one factor of each pair
    return [eps * Vh[:rank_hat]] + [eps * np.eye(rank_hat)] * (depth - 2) + [-eps * U[:, :rank_hat]]


def _rho_loop(rho, lr_prime, depth, t):
    for _ in range(t):
        rho = rho - lr_prime * rho ** (2 * depth - 1)
    return rho


RIGHT = {"factor_gradient": "dln.factor_grads", "spectral_init": _numpy_spectral_init, "rho_recursion": _rho_loop}
WRONG = {
    "factor_gradient": lambda Ws, G: [G for _ in Ws],  # forgets the products around G
    "spectral_init": lambda S, L, k, e: [np.asarray(W) for W in _numpy_spectral_init(S, L, k, e)[:-1]]
    + [e * np.linalg.svd(-S.numpy())[0][:, :k]],  # one sign flipped: E(0) changes sign
    "rho_recursion": lambda r, e, L, t: r - t * e * r ** (2 * L - 1),  # one big step instead of t small ones
}


@pytest.mark.parametrize("name", sorted(lesson.EXERCISES))
def test_exercise_checks_tell_right_from_wrong(name):
    from cdln_core import dln

    right = dln.factor_grads if RIGHT[name] == "dln.factor_grads" else RIGHT[name]
    assert lesson.check(right, name).ok, lesson.check(right, name).text
    result = lesson.check(WRONG[name], name)
    assert not result.ok and "Hint" in result.text and result._repr_markdown_().startswith("❌")

    def stub(*args):
        raise NotImplementedError

    assert "not written yet" in lesson.check(stub, name).text
    assert "raised ZeroDivisionError" in lesson.check(lambda *a: 1 / 0, name).text


def test_check_with_own_reference_and_bad_arguments():
    cases = [("x = 2", (2.0,)), ("x = -1", (-1.0,))]
    assert lesson.check(lambda x: x * x, lambda x: x**2, cases).ok
    assert "x = -1" in lesson.check(abs, lambda x: x, cases).text
    with pytest.raises(ValueError, match="reference"):
        lesson.check(abs, "no such exercise")
    with pytest.raises(TypeError, match="student_fn"):
        lesson.check(3, lambda x: x, cases)
    with pytest.raises(ValueError, match="cases"):
        lesson.check(abs, lambda x: x, [])


def test_show_claims_prints_the_ledger_table(capsys, monkeypatch):
    from cdln_core import claims

    class V:
        def __init__(self, ok):
            self.matches = ok

    monkeypatch.setattr(claims, "for_notebook", lambda nb: [f"claim of {nb}"])
    monkeypatch.setattr(claims, "check", lambda entries, quick, seeds: [V(seeds is None)] if quick else [V(False)])
    monkeypatch.setattr(claims, "table", lambda verdicts: f"table of {len(verdicts)}")
    monkeypatch.setattr(claims, "changed", lambda verdicts: [] if verdicts[0].matches else ["some-claim"])
    assert lesson.show_claims("01") is None and capsys.readouterr().out == "table of 1\n"
    with pytest.raises(AssertionError, match="some-claim"):
        lesson.show_claims("01", quick=False)
    with pytest.raises(AssertionError, match="some-claim"):
        lesson.show_claims("01", seeds=1)


def test_staircase_panels_and_invariance_figure():
    from cdln_core import spectra

    problem = make_problem("factorization", 8, 2, seed=0)
    net = make_network("dln", problem, 3, seed=0)
    start = (net.Ws[0].detach().clone(), net.end_to_end().detach().clone())
    traj = train(problem, net, TrainConfig(lr=5.0, steps=100, record_every=10, keep_factors=True))
    sigma, U, V = problem.sigma.numpy(), problem.U.numpy(), problem.V.numpy()
    plain, full = plots.staircase(traj.records, sigma), plots.staircase(traj.records, sigma, U=U, V=V, loss=True)
    assert len(full.data) == len(plain.data) + 2 + 1, "alignment per σ and one loss trace"
    loss = full.data[-1]
    assert loss.name == "training loss" and np.allclose(loss.y, traj.train_loss) and loss.xaxis == "x3"
    inv = spectra.invariance_series(traj.records, problem.Phi, *start, init_scale=1e-2, depth=3, lr_prime=5 / 64)
    fig = plots.invariance(inv, rho_scale=1e-2)
    assert [t.name for t in fig.data][:2] == ["angle: the r directions W_1 grows in (rad)",
                                              "angle: all 2r active directions (rad)"]
    assert np.all(np.asarray(fig.data[0].y)[1:] < 1e-10), "factorization: the angles are at round-off"
