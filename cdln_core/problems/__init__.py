"""Low-rank matrix recovery problems, one module per problem kind (see ``base`` for the contract).

- factorization (MF): ½·mean over all d² entries of (E − Φ)²;
- completion (MC):    ½·mean over the observed set Ω of (E − Φ)², |Ω| = ⌊p·d²⌋;
- sensing (MS):       ½·mean_i (⟨A_i, E⟩ − y_i)², A_i with i.i.d. N(0, 1/d²) entries;
- rank_one:           sensing with rank-one measurements A_i = a_i·b_iᵀ (a structured operator).

Each kind is a ``Problem`` subclass and a builder registered with ``register_problem``; importing its
module registers it. ``PROBLEMS`` lists the registered kinds, ``problem_options(kind)`` its options.
Bring your own Φ, Ω or operator with ``make_problem(kind, target=, mask=, operators=)``; ``given``
checks and converts those arrays.

Reference: [K] §5; [Y] §3.
"""

from .base import (
    PROBLEMS,
    Problem,
    default_singular_values,
    make_problem,
    make_target,
    problem_options,
    register_problem,
)
from .completion import Completion
from .factorization import Factorization
from .rank_one import RankOneSensing
from .sensing import Sensing

__all__ = [
    "PROBLEMS",
    "Problem",
    "Factorization",
    "Completion",
    "Sensing",
    "RankOneSensing",
    "default_singular_values",
    "make_target",
    "make_problem",
    "problem_options",
    "register_problem",
]
