"""Packaging promises: `import cdln_core` needs torch and numpy only, and touches no global seed."""

import subprocess
import sys


def test_import_needs_only_torch_and_numpy():
    code = ("import sys, cdln_core; heavy = [m for m in ('plotly', 'ipywidgets', 'sklearn', 'matplotlib', "
            "'anywidget') if m in sys.modules]; print(heavy)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


def test_core_never_touches_the_global_generator():
    import torch

    import cdln_core as C

    torch.manual_seed(123)
    before = torch.get_rng_state()
    problem = C.make_problem("sensing", 10, 2, measurements=40, noise=0.1, seed=4)
    for kind in ("dln", "cdln", "compressed"):
        net = C.make_network(kind, problem, 3, rank_hat=2 if kind != "dln" else None, seed=4)
        C.train(problem, net, C.TrainConfig(lr=1.0, steps=5))
    assert torch.equal(before, torch.get_rng_state())
