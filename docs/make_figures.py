"""Render the README's pictures from the kit itself (plotly → HTML → PNG in headless Chromium).

    python docs/make_figures.py        # writes docs/staircase.png and docs/cdln_vs_dln.png

Needs Debian's chromium at /usr/bin/chromium; plotly.js is inlined, so nothing is downloaded.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import cdln_core as C
from cdln_core import plots

HERE = Path(__file__).parent
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run",
                  "--hide-scrollbars"]


def to_png(fig, path: Path, width: int = 1200, height: int = 560) -> None:
    fig.update_layout(width=width, height=height)
    with tempfile.TemporaryDirectory() as tmp:
        html = Path(tmp) / "fig.html"
        fig.write_html(html, include_plotlyjs=True, full_html=True, config={"staticPlot": True})
        subprocess.run(["/usr/bin/chromium", *CHROMIUM_FLAGS, f"--user-data-dir={tmp}/profile",
                        f"--window-size={width},{height}", f"--screenshot={path.resolve()}",
                        "--virtual-time-budget=4000", html.as_uri()], check=True, capture_output=True)


def main() -> None:
    problem = C.make_problem("factorization", 30, 3, seed=0)
    net = C.make_network("dln", problem, 3, seed=0)
    traj = C.train(problem, net, C.TrainConfig(lr=3.0, steps=9000, record_every=50, keep_factors=True))
    fig = plots.staircase(traj.records, problem.sigma.numpy(), U=problem.U.numpy(), V=problem.V.numpy(),
                          title="A deep linear network fits Φ's singular values one at a time (d=30, r=3, L=3)")
    to_png(fig, HERE / "staircase.png")

    problem = C.make_problem("completion", 100, 5, observed=0.3, seed=0)
    config = C.TrainConfig(lr=10.0, steps=20000, tol=1e-12, record_every=100)
    runs = {"DLN": C.train(problem, C.make_network("dln", problem, 3), config),
            "C-DLN": C.train(problem, C.make_network("cdln", problem, 3, lr_ratio=5.0), config)}
    fig = plots.error_curves({k: t.records for k, t in runs.items()}, kinds={"DLN": "dln", "C-DLN": "cdln"},
                             n_params={k: t.n_params for k, t in runs.items()},
                             title="Completion, d=100, r=5, p=0.3: the C-DLN recovers Φ in a fraction of the time")
    to_png(fig, HERE / "cdln_vs_dln.png")


if __name__ == "__main__":
    main()
