"""cdln_core: the math of the cdln-kit.

Deep linear networks and their low-dimensional learning dynamics ([Y] Yaras et al., ICML 2024;
Law of Parsimony, arXiv 2306.01154), and how to compress them: the C-DLN of [K] (Kwon et al.,
AISTATS 2024, arXiv 2311.05061) and the gradient-based compression behind Deep LoRA ([Y]).

The spine: a parametrization (``networks``) produces E; a problem (``problems``) scores E;
``training`` composes the two and returns a trajectory; ``spectra`` and ``plots`` read it.
``lora`` (Deep LoRA adapters) and ``nonlinear`` (compressed layers in MLPs and ViTs) carry the idea
beyond matrix recovery. ``plots`` needs plotly and ``widgets`` ipywidgets: import them by name.
"""

from . import compression, dln, lora, networks, nonlinear, problems, spectra, training
from .compression import cdln_n_params, compressed_init, spectral_init, yaras_bases
from .dln import end_to_end, factor_grads, factor_grads_from, init_dln, n_params, orthogonal
from .networks import MODELS, Network, make_network
from .problems import (
    PROBLEMS,
    Completion,
    Factorization,
    Problem,
    Sensing,
    make_problem,
    make_target,
)
from .training import Record, TrainConfig, Trajectory, train

__version__ = "0.1.0"

__all__ = [
    "MODELS",
    "PROBLEMS",
    "Completion",
    "Factorization",
    "Network",
    "Problem",
    "Record",
    "Sensing",
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
    "spectral_init",
    "train",
    "yaras_bases",
    "compression",
    "dln",
    "lora",
    "networks",
    "nonlinear",
    "problems",
    "spectra",
    "training",
]
