"""cdln_core: the math of the cdln-kit.

Deep linear networks and their low-dimensional learning dynamics ([Y] Yaras et al., ICML 2024;
Law of Parsimony, arXiv 2306.01154), and how to compress them: the C-DLN of [K] (Kwon et al.,
AISTATS 2024, arXiv 2311.05061) and the gradient-based compression behind Deep LoRA ([Y]).

The spine: a parametrization (``networks``, a registry of factor lists) produces E; a problem
(``problems``, a registry) scores E; ``training`` composes the two with the one loop policy (``loop``)
and returns a trajectory; ``spectra`` and ``plots`` read it. Under them: ``checks`` (boundary
checks), ``seeds`` (independent random streams), ``threads`` (thread policy), ``factors`` (the factor
list as a module). ``lora`` (Deep LoRA adapters) and ``nonlinear`` (compressed layers in MLPs and
ViTs) carry the idea beyond matrix recovery. ``plots`` needs plotly and ``widgets`` ipywidgets:
import them by name. See docs/architecture.md.

Modules named in the environment variable ``CDLN_PLUGINS`` (comma-separated) are imported last, so a
module that registers a problem or a model is seen by ``cdln`` and every notebook.
"""

import os as _os

# OpenMP threads that spin while they wait make small multi-threaded LAPACK calls (a QR of an 8×8 init)
# stall for minutes on a machine with more busy threads than cores (reproduced on this project's
# 2-core machine under load); passive waiting costs microseconds. Takes effect only when cdln_core is
# imported before torch, and never overrides a setting the user made.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from . import (
    checks,
    compression,
    dln,
    factors,
    loop,
    lora,
    networks,
    nonlinear,
    problems,
    seeds,
    spectra,
    threads,
    training,
)
from .compression import cdln_n_params, compressed_init, spectral_init, yaras_bases
from .dln import end_to_end, factor_grads, factor_grads_from, init_dln, n_params, orthogonal
from .factors import Factors, outer_scales, param_groups, swap_linears
from .loop import Interrupted, LoopConfig, Outcome, RunResult, StepRecord
from .networks import MODELS, Network, make_network, register_model
from .problems import (
    PROBLEMS,
    Completion,
    Factorization,
    Problem,
    Sensing,
    make_problem,
    make_target,
    register_problem,
)
from .seeds import MAX_SEED
from .training import Record, TrainConfig, Trajectory, train

__version__ = "0.1.0"

__all__ = [
    "MAX_SEED",
    "MODELS",
    "PROBLEMS",
    "Completion",
    "Factorization",
    "Factors",
    "Interrupted",
    "LoopConfig",
    "Network",
    "Outcome",
    "Problem",
    "Record",
    "RunResult",
    "Sensing",
    "StepRecord",
    "TrainConfig",
    "Trajectory",
    "cdln_n_params",
    "compressed_init",
    "end_to_end",
    "factor_grads",
    "factor_grads_from",
    "init_dln",
    "make_network",
    "make_problem",
    "make_target",
    "n_params",
    "orthogonal",
    "outer_scales",
    "param_groups",
    "register_model",
    "register_problem",
    "spectral_init",
    "swap_linears",
    "train",
    "yaras_bases",
    "checks",
    "compression",
    "dln",
    "factors",
    "loop",
    "lora",
    "networks",
    "nonlinear",
    "problems",
    "seeds",
    "spectra",
    "threads",
    "training",
]


def _load_plugins() -> None:
    """Import the modules named in $CDLN_PLUGINS: each may register problems and models."""
    import importlib
    import os

    for name in filter(None, (part.strip() for part in os.environ.get("CDLN_PLUGINS", "").split(","))):
        try:
            importlib.import_module(name)
        except ImportError as err:
            raise ImportError(f"CDLN_PLUGINS names {name!r}, which cannot be imported: {err}") from err


_load_plugins()
