"""The beyond-linear claims of [K] §6 on MNIST-1D: a deep-linear wide layer in an MLP against a
plain one, the C-DLN bottleneck against the deep-linear layer, and the low rank of the updates.

MLP 40 → 100 → [wide 100×100] → 10 on MNIST-1D (``nonlinear.load_mnist1d``: 14,000 train / 2,000
validation / 4,000 test in the full setting), Adam, early stopping on validation; each seed is one
paired comparison (same data, same non-wide layers, same batch order). The learning rates are the
ones ``benchmarks/bench_nonlinear.py`` chose on validation for each arm (same grid and budget for
all), and the C-DLN is the arm it chose on validation; the benchmark adds the 95% intervals and the
times (this ledger prints no timings). [K] measures on FashionMNIST.

Reference: [K] Kwon et al., AISTATS 2024 (arXiv 2311.05061), §6.
"""

from __future__ import annotations

import functools

import torch

from .. import nonlinear as nl
from ..seeds import generator
from ..spectra import effective_rank
from .registry import SOURCES, Claim, Measurement, register, settings

__all__ = ["race"]

KINDS = ("plain", "dln", "cdln")


@functools.lru_cache(maxsize=32)
def race(seed: int, num_samples: int, epochs: int, patience: int, lr_plain: float, lr_dln: float, lr_cdln: float,
         rank_hat: int, lr_ratio: float) -> dict:
    """kind → (test accuracy at the best-validation epoch, trainable parameters, last record, warnings)
    of the MLP 40 → 100 → [wide] → 10 on MNIST-1D (generation seed 0; ``seed`` drives init and order)."""
    data = nl.load_mnist1d(num_samples=num_samples, seed=0)
    per_epoch = -(-len(data.y_train) // 64)
    arms = {"plain": (nl.Arm("plain", "plain"), lr_plain), "dln": (nl.Arm("deep linear", "dln"), lr_dln),
            "cdln": (nl.Arm("C-DLN", "cdln", rank_hat=rank_hat, lr_ratio=lr_ratio), lr_cdln)}
    out = {}
    for kind, (arm, lr) in arms.items():
        cfg = nl.FitConfig(lr=lr, optimizer="adam", epochs=epochs, record_every=per_epoch, patience=patience,
                           track=("wide.0",) if kind == "plain" else ())
        res = nl.fit_arm(arm, data, cfg, seed=seed, width=100)
        best = res.val_best
        out[kind] = (best.test_accuracy if best else float("nan"), res.n_params, res.records[-1], res.warnings)
    return out


def _flags(r: dict, kinds) -> str:
    bad = [f"{k}: {'; '.join(r[k][3])}" for k in kinds if r[k][3]]
    return "; ".join(bad)


def deep_linear_better(seed: int, **run) -> Measurement:
    r = race(seed, **run)
    a, b, bad = r["plain"][0], r["dln"][0], _flags(r, ("plain", "dln"))
    return Measurement({"accuracy plain": a, "accuracy deep linear": b, "difference (points)": 100 * (b - a)},
                       b > a and not bad, f"seed {seed}: flagged: {bad}" if bad else "")


def cdln_keeps(seed: int, gap: float, **run) -> Measurement:
    r = race(seed, **run)
    a, b, bad = r["dln"][0], r["cdln"][0], _flags(r, ("dln", "cdln"))
    values = {"accuracy deep linear": a, "accuracy C-DLN": b, "difference (points)": 100 * (b - a),
              "C-DLN / deep-linear params": r["cdln"][1] / r["dln"][1]}
    return Measurement(values, b >= a - gap and not bad, f"seed {seed}: flagged: {bad}" if bad else "")


def low_rank_updates(seed: int, **run) -> Measurement:
    rec = race(seed, **run)["plain"][2]
    s = rec.update_sv["wide.0"]
    erank, k90 = rec.update_effective_rank("wide.0"), nl.energy_rank(s, 0.9)
    noise = torch.randn(len(s), len(s), generator=generator(seed, "reference"), dtype=torch.float64)
    return Measurement({"effective rank of ΔW": erank, "directions for 90% of ‖ΔW‖²": k90,
                        "effective rank of a Gaussian matrix": effective_rank(noise)},
                       erank < len(s) / 4 and k90 < len(s) / 4)


# η per arm and the C-DLN (r̂, α) as chosen on validation by benchmarks/results_nonlinear.json.
_RACE = {"num_samples": 20_000, "epochs": 50, "patience": 8, "lr_plain": 1e-2, "lr_dln": 3e-3, "lr_cdln": 3e-3,
         "rank_hat": 50, "lr_ratio": 1.0}
_QUICK = {**_RACE, "num_samples": 4_000, "epochs": 10, "patience": 3}
_SRC = f"{SOURCES['K']}, §6 (FashionMNIST MLP table)"
_WHERE = "MNIST-1D, MLP 40-100-[100×100]-10, Adam, η tuned on validation, early stopping on validation"
register(Claim(
    "mlp-deep-linear-better",
    "Replacing an MLP's wide layer by a deep linear product (L = 3) trains to a slightly better test accuracy.",
    _SRC, "0.902 (deep linear) vs 0.894 (plain): +0.8 points", deep_linear_better,
    *settings(_RACE, f"deep-linear test accuracy > plain on the same seed, neither run flagged ({_WHERE})",
              quick_params=_QUICK,
              quick_criterion="deep-linear test accuracy > plain on the same seed (4,000 signals, 10 epochs)",
              expected="holds partly", expected_quick="does not hold here"),
    ("06",), {"accuracy plain": "sig", "accuracy deep linear": "sig", "difference (points)": "sig"},
    reason="the full benchmark measures −0.8 ± 0.9 points over 5 paired seeds (deep linear 0.795, plain 0.802): "
           "[K]'s sign does not show here, and the ledger's own runs put deep linear ahead on 1 seed of 5. A run "
           "whose inits differed only by the QR's rounding (≈1e-7, before the init was pinned to one thread) "
           "measured +1.7 ± 2.8: the gap lies within the run-to-run spread. The quick setting (2,800 training "
           "signals, 10 epochs) is too short for it: there the plain MLP, at its larger tuned η, leads",
))
register(Claim(
    "mlp-cdln-keeps-accuracy",
    "A C-DLN bottleneck keeps the deep-linear MLP's accuracy with a fraction of its parameters.",
    _SRC, "0.901 (C-DLN) vs 0.902 (deep linear)", cdln_keeps,
    *settings({**_RACE, "gap": 0.01},
              f"C-DLN (r̂ = {_RACE['rank_hat']}, α = {_RACE['lr_ratio']:g}) test accuracy ≥ deep linear − 1 point, "
              f"same seed, no run flagged ({_WHERE})",
              quick_params={**_QUICK, "gap": 0.01},
              quick_criterion="C-DLN accuracy ≥ deep linear − 1 point (4,000 signals, 10 epochs)",
              expected="holds partly", expected_quick="holds partly"),
    ("06",), {"accuracy deep linear": "sig", "accuracy C-DLN": "sig", "difference (points)": "sig",
              "C-DLN / deep-linear params": "pct"},
    reason="only r̂ = 50 (half the width, half the deep-linear parameters) came within a point on average "
           "(−0.2 ± 1.0 points); r̂ = 10 and 25 lost 2.1–4.2 points (benchmarks/RESULTS_nonlinear.md), and single "
           "seeds at r̂ = 50 fall up to 1.05 points below",
))
register(Claim(
    "mlp-updates-low-rank",
    "The update ΔW of a nonlinear network's wide layer is low-rank: a few directions carry it.",
    f"{SOURCES['K']}, §6; {SOURCES['Y']}, §5", None, low_rank_updates,
    *settings(_RACE, f"plain MLP's 100×100 wide layer: effective rank of ΔW < d/4 and 90% of ‖ΔW‖² in < d/4 "
              f"directions ({_WHERE})", quick_params=_QUICK, expected="does not hold here"),
    ("06",), {"effective rank of ΔW": "sig", "directions for 90% of ‖ΔW‖²": "int",
              "effective rank of a Gaussian matrix": "sig"},
    reason="trained with Adam on MNIST-1D the wide layer's update spreads over a third or more of its 100 "
           "directions: more concentrated than a Gaussian matrix, but not low-rank (a likely cause, not "
           "isolated here: Adam's per-entry step scaling; the kit's digits MLP, trained with SGD, has a "
           "low-rank update)",
))
