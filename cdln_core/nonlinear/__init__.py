"""Beyond linear: deep-linear and compressed (C-DLN) layers inside nonlinear networks.

[K] §6: replace a wide linear layer y = W·x + b of a nonlinear network (W of shape
(d_out, d_in), d = width) by an overparameterized product E = W_L ⋯ W_1 (``DeepLinear``) or by the
compressed bottleneck d_in → r̂ → … → r̂ → d_out (``CDLNLinear``), train on real data, and watch the
updates ΔW_l(t) = W_l(t) − W_l(0) stay low-rank. One module per concept:

- ``layers``: the factored layers (``cdln_core.factors.Factors`` with a bias), their initialization
  (ε = 1 by default, and why), ``make_layer``, ``factorize`` (swap the layers of any model through
  ``factors.swap_linears``), ``set_lr_ratio`` (α), and the kit's ``param_groups`` and ``n_params``;
- ``models``: ``MLP`` and a small ``ViT`` with swappable wide layers, ``make_model``;
- ``data``: scikit-learn's bundled digits (``load_digits``) and MNIST-1D built offline
  (``load_mnist1d``, with a validation split), no download;
- ``training``: ``FitConfig``, ``fit`` on the kit's loop policy (``loop.run``), its records and result;
- ``updates``: the spectrum and effective rank of a weight update;
- ``protocol``: the fair comparison (``Arm``, ``tune`` and ``compare`` on validation, ``summarize``
  and ``paired`` with 95% intervals, flagged runs named).

Every public name is re-exported here: ``from cdln_core.nonlinear import fit`` and
``cdln_core.nonlinear.fit`` both work.

Reference: [K] Kwon et al., AISTATS 2024 (arXiv 2311.05061), §6; [Y] Yaras et al., ICML 2024
(arXiv 2406.04112).
"""

from .data import Digits, load_digits, load_mnist1d, mnist1d_cache_dir
from .layers import (
    KINDS,
    CDLNLinear,
    DeepLinear,
    FactoredLinear,
    factorize,
    make_layer,
    n_params,
    param_groups,
    set_lr_ratio,
)
from .models import ARCHS, MLP, ViT, make_model
from .protocol import Arm, compare, fit_arm, interval, paired, summarize, tune
from .training import OPTIMIZERS, FitConfig, FitRecord, FitResult, accuracy, fit
from .updates import energy_rank, update_effective_rank, update_spectrum, weight_matrices

__all__ = [
    "KINDS",
    "ARCHS",
    "FactoredLinear",
    "DeepLinear",
    "CDLNLinear",
    "make_layer",
    "factorize",
    "set_lr_ratio",
    "param_groups",
    "n_params",
    "MLP",
    "ViT",
    "make_model",
    "OPTIMIZERS",
    "Digits",
    "load_digits",
    "load_mnist1d",
    "mnist1d_cache_dir",
    "FitConfig",
    "FitRecord",
    "FitResult",
    "fit",
    "accuracy",
    "weight_matrices",
    "update_spectrum",
    "update_effective_rank",
    "energy_rank",
    "Arm",
    "fit_arm",
    "tune",
    "compare",
    "summarize",
    "paired",
    "interval",
]
