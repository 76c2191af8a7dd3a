"""Low-dimensional updates: the spectrum and effective rank of ΔW = W(t) − W(0).

For each weight matrix W_l of a trained network, the update ΔW_l(t) = W_l(t) − W_l(0) has few
significant singular values: its effective rank (``spectra.effective_rank``) stays far below
min(d_l, d_{l−1}) ([K] §6, [Y]).

Reference: [K] Kwon et al., AISTATS 2024 (arXiv 2311.05061), §6; [Y] Yaras et al., ICML 2024 (arXiv 2406.04112).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from ..factors import Factors
from ..spectra import effective_rank

__all__ = ["weight_matrices", "update_spectrum", "update_effective_rank", "energy_rank"]


def weight_matrices(model: nn.Module) -> dict[str, Tensor]:
    """Every weight matrix of ``model``, by name: each ``nn.Linear``'s weight (d_out, d_in), and
    for each factor list (``cdln_core.factors.Factors``: a factored layer, an adapter's ΔW) its
    end-to-end E (under its own name) and every factor W_l (``name.W1`` … ``name.WL``). Detached
    float64 copies."""
    out: dict[str, Tensor] = {}
    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, nn.Linear):
                out[name] = m.weight.detach().to(torch.float64).clone()
            elif isinstance(m, Factors):
                out[name] = m.end_to_end().detach().to(torch.float64)
                for l, W in enumerate(m.Ws, start=1):
                    out[f"{name}.W{l}"] = W.detach().to(torch.float64).clone()
    return out


def update_spectrum(W: Tensor, W0: Tensor) -> np.ndarray:
    """Singular values (descending, float64) of the update ΔW = W − W0, both (m, n): shape (min(m, n),);
    NaN (and no LAPACK call) when ΔW is not finite, as after a divergence."""
    if W.shape != W0.shape:
        raise ValueError(f"W and W0 must have the same shape, got {tuple(W.shape)} and {tuple(W0.shape)}")
    D = W.to(torch.float64) - W0.to(torch.float64)
    if not bool(torch.isfinite(D).all()):
        return np.full(min(D.shape), np.nan)
    return torch.linalg.svdvals(D).numpy()


def update_effective_rank(W: Tensor, W0: Tensor) -> float:
    """Effective rank (entropy, ``spectra.effective_rank``) of ΔW = W − W0; 0 when W = W0."""
    return effective_rank(W.to(torch.float64) - W0.to(torch.float64))


def energy_rank(singular_values, fraction: float = 0.9) -> int:
    """The fewest leading singular values whose squares hold ``fraction`` of the total ‖·‖_F²
    (0 for the zero matrix)."""
    if not (isinstance(fraction, float) and 0.0 < fraction <= 1.0):
        raise ValueError(f"fraction must be a float in (0, 1], got {fraction!r}")
    s2 = np.sort(np.asarray(singular_values, dtype=np.float64))[::-1] ** 2
    total = s2.sum()
    if total <= 0:
        return 0
    return int(np.searchsorted(np.cumsum(s2) / total, fraction - 1e-12) + 1)
