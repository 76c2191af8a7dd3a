"""Low-rank matrix recovery problems, one module per problem kind (see ``base`` for the contract).

- factorization (MF): ½·mean over all d² entries of (E − Φ)²;
- completion (MC):    ½·mean over the observed set Ω of (E − Φ)², |Ω| = ⌊p·d²⌋;
- sensing (MS):       ½·mean_i (⟨A_i, E⟩ − y_i)², A_i with i.i.d. N(0, 1/d²) entries.

Reference: [K] §5; [Y] §3.
"""

from .base import PROBLEMS, Problem, default_singular_values, make_problem, make_target, register_problem
from .completion import Completion
from .factorization import Factorization
from .sensing import Sensing

__all__ = [
    "PROBLEMS",
    "Problem",
    "Factorization",
    "Completion",
    "Sensing",
    "default_singular_values",
    "make_target",
    "make_problem",
    "register_problem",
]
