"""The theory claims: the invariant subspace and ρ's recursion (Law of Parsimony), incremental
learning, [K]'s theorem in factorization, and the Yaras compression's exactness at γ = 0.

Each is checked to the precision the theory allows (rounding level, ~1e-13 in float64), on a wide
network small enough to run in about a second.
"""

from __future__ import annotations

import numpy as np
import torch

from .. import spectra
from .registry import SOURCES, Claim, Measurement, register, settings
from .runs import problem, recovery

__all__ = ["mf_run", "end_to_end_at"]

MF = {"d": 30, "rank": 3, "depth": 3, "lr": 3.0, "steps": 9000}  # past all three plateaus


def mf_run(seed: int, d: int, rank: int, depth: int, lr: float, steps: int):
    """The DLN on factorization behind the invariant-subspace and incremental-learning claims."""
    prob = problem("factorization", d, rank, seed)
    traj = recovery("factorization", d, rank, "dln", depth, seed=seed, lr=lr, steps=steps, record_every=25,
                    keep_factors=True)
    return prob, traj


def end_to_end_at(record) -> torch.Tensor:
    """E = W_L ⋯ W_1 from a record's kept factors. Shape (d_L, d_0)."""
    return torch.as_tensor(np.linalg.multi_dot(record.factors[::-1]) if len(record.factors) > 1 else record.factors[0])


def middle_equal(seed: int, **run) -> Measurement:
    prob, traj = mf_run(seed, **run)
    r, worst, worst_abs, ok = prob.rank, 0.0, 0.0, True
    for rec in traj.records:
        for s in rec.factor_singular_values:
            rho, spread = spectra.middle_spread(s, r)
            worst, worst_abs = max(worst, spread / rho), max(worst_abs, spread)
            ok &= spread < 5e-13 * max(1.0, s[0])  # SVD's own precision at these norms
    for s0, s1 in zip(traj.records[0].factor_singular_values, traj.records[-1].factor_singular_values):
        ok &= bool(np.all(s1[:r] > 100 * s0[r]) and np.all(s1[-r:] < s0[r]))  # r grow, r shrink
    return Measurement({"spread": worst_abs, "spread / ρ": worst}, ok and worst < 1e-10)


def subspace_fixed(seed: int, **run) -> Measurement:
    prob, traj = mf_run(seed, **run)
    L, eps = len(traj.records[0].factors), 1e-2
    W0 = torch.as_tensor(traj.records[0].factors[0])  # (d, d)
    basis = spectra.active_subspace(prob.Phi, end_to_end_at(traj.records[0]), eps, L)  # (d, 2r)
    complement = torch.eye(prob.d, dtype=W0.dtype) - basis @ basis.T
    worst = 0.0
    for rec in traj.records[1:]:
        delta = torch.as_tensor(rec.factors[0]) - W0  # (d, d)
        rho = spectra.middle_spread(rec.factor_singular_values[0], prob.rank)[0]
        off = delta @ complement - (rho / eps - 1) * W0 @ complement  # what moved outside the subspace
        worst = max(worst, float(torch.linalg.matrix_norm(off) / torch.linalg.matrix_norm(delta)))
    moved = float(torch.linalg.matrix_norm(delta)) > 1.0
    return Measurement({"off-subspace part": worst}, worst < 1e-9 and moved)


def rho_recursion(seed: int, d: int, rank: int, depth: int, init_scale: float, lr: float, steps: int) -> Measurement:
    prob = problem("factorization", d, rank, seed)
    traj = recovery("factorization", d, rank, "dln", depth, seed=seed, lr=lr, steps=steps, init_scale=init_scale)
    worst, moved = 0.0, True
    for k in range(depth):
        rho = np.array([spectra.middle_spread(r.factor_singular_values[k], rank)[0] for r in traj.records])
        predicted = spectra.rho_prediction(rho[0], lr / prob.d**2, depth, traj.steps)  # η' = η/d² (mean loss)
        worst = max(worst, float(np.max(np.abs(rho - predicted) / predicted)))
        moved &= bool(predicted[-1] < 0.9 * rho[0])
    return Measurement({"max |ρ − recursion| / ρ": worst}, worst < 1e-11 and moved)


def incremental(seed: int, **run) -> Measurement:
    prob, traj = mf_run(seed, **run)
    hits = spectra.fit_steps(traj.steps, [r.e2e_singular_values for r in traj.records], prob.sigma)
    if None in hits:
        return Measurement({}, False, f"seed {seed}: not every σ_i was fitted: {hits}")
    align = spectra.singular_vector_alignment(end_to_end_at(traj.records[-1]), prob.U, prob.V)
    ordered = all(a < b for a, b in zip(hits, hits[1:]))
    return Measurement({"σ_1 half-fit step": hits[0], "σ_r half-fit step": hits[-1]},
                       ordered and bool(np.all(align > 0.999)))


def alignment_first(seed: int, **run) -> Measurement:
    prob, traj = mf_run(seed, **run)
    hits = spectra.fit_steps(traj.steps, [r.e2e_singular_values for r in traj.records], prob.sigma)
    aligned = np.array([spectra.singular_vector_alignment(end_to_end_at(r), prob.U, prob.V) for r in traj.records])
    leads = []
    for i, hit in enumerate(hits):
        first = np.nonzero(aligned[:, i] >= 0.9)[0]
        if hit is None or not first.size:
            return Measurement({}, False, f"seed {seed}: pair {i + 1} never aligned or never fitted")
        leads.append(hit - traj.steps[first[0]])
    return Measurement({"lead of alignment over the jump (steps)": min(leads)}, min(leads) > 0)


def kwon_theorem(seed: int, d: int, rank: int, depth: int, lr: float, steps: int) -> Measurement:
    run = dict(seed=seed, lr=lr, steps=steps, tol=1e-12, record_every=25)
    dln = recovery("factorization", d, rank, "dln", depth, **run)
    cdln = recovery("factorization", d, rank, "cdln", depth, **run)
    n = min(len(dln.records), len(cdln.records))
    worse = int(np.sum(np.array(cdln.recovery_error[:n]) > np.array(dln.recovery_error[:n]) * (1 + 1e-9)))
    learned = dln.converged_step is not None and cdln.converged_step is not None
    if not learned:
        return Measurement({"records where C-DLN is worse": worse}, False, f"seed {seed}: a network did not converge")
    return Measurement({"records where C-DLN is worse": worse, "records compared": n}, worse == 0)


def yaras_exact(seed: int, d: int, rank: int, depth: int, lr: float, steps: int) -> Measurement:
    run = dict(seed=seed, lr=lr, steps=steps, record_every=100, observed=1.0, keep_factors=True)
    wide = recovery("completion", d, rank, "dln", depth, **run)
    comp = recovery("completion", d, rank, "compressed", depth, rank_hat=rank, lr_ratio=0.0, **run)
    V = torch.as_tensor(comp.records[0].factors[0]).T  # (d, 2r̂): the right basis, fixed at γ = 0
    scale = problem("completion", d, rank, seed, 1.0).Phi.abs().max().item()
    worst = max((end_to_end_at(a) @ V @ V.T - end_to_end_at(b)).abs().max().item() / scale
                for a, b in zip(wide.records, comp.records))
    return Measurement({"max |E_c − E_wide·V·Vᵀ| / max|Φ|": worst}, worst < 1e-11 and wide.recovery_error[-1] < 0.5)


register(Claim(
    "invariant-middle-equal",
    "In every layer r singular values grow, r shrink, and the middle d − 2r stay equal to each other (to rounding).",
    f"{SOURCES['LoP']}, main theorem; [Y] §3", "equal to ~1e-13 in float64", middle_equal,
    *settings(MF, "spread of the middle values < 5e-13·max(1, σ_1) and < 1e-10·ρ at every record; "
                  "top r ×100, bottom r < ρ(0)"),
    ("02",), {"spread": "order", "spread / ρ": "order"},
))
register(Claim(
    "active-subspace-fixed",
    "W_1's update stays in the fixed 2r-dimensional subspace span{row space of Φ, Qᵀ·column space of Φ}.",
    f"{SOURCES['LoP']}, main theorem; [Y] §3", "exact (MF)", subspace_fixed,
    *settings(MF, "off-subspace part of W_1(t) − W_1(0) < 1e-9 of it, and the factor moved"),
    ("02",), {"off-subspace part": "order"},
))
_RHO = {"d": 20, "rank": 2, "depth": 3, "init_scale": 0.5, "lr": 1.0, "steps": 3000}
register(Claim(
    "rho-recursion",
    "The shared middle singular value follows ρ(t+1) = ρ(t) − η'·ρ(t)^{2L−1}.",
    f"{SOURCES['LoP']}, main theorem", "to machine precision", rho_recursion,
    *settings(_RHO, "relative deviation < 1e-11 in every factor, and ρ fell by ≥ 10%"),
    ("02",), {"max |ρ − recursion| / ρ": "order"},
))
register(Claim(
    "incremental-order",
    "E's singular values are fitted one at a time, largest first, and its singular vectors end aligned with Φ's.",
    f"{SOURCES['Y']}, §3; Saxe et al. (arXiv 1312.6120)", None, incremental,
    *settings(MF, "half-fit steps strictly increasing; final alignment > 0.999 for every pair"),
    ("00", "01"), {"σ_1 half-fit step": "int", "σ_r half-fit step": "int"},
))
register(Claim(
    "alignment-before-jump",
    "Each pair of E's singular vectors aligns with Φ's (alignment ≥ 0.9) before its singular value jumps.",
    SOURCES["kit"], None, alignment_first,
    *settings(MF, "for every i, alignment ≥ 0.9 at a step before σ_i(E) reaches σ_i/2"),
    ("01",), {"lead of alignment over the jump (steps)": "int"},
))
_KT = {"d": 40, "rank": 3, "depth": 3, "lr": 5.0, "steps": 8000}
register(Claim(
    "kwon-theorem-mf",
    "In factorization, with the same ε and η (α = 1), the C-DLN's recovery error is ≤ the DLN's at every iteration.",
    f"{SOURCES['K']}, §4 (theorem)", "≤ at every iteration", kwon_theorem,
    *settings(_KT, "e_C-DLN ≤ e_DLN·(1 + 1e-9) at every record (every 25 steps); both converge"),
    ("03",), {"records where C-DLN is worse": "int", "records compared": "int"},
))
_YE = {"d": 30, "rank": 2, "depth": 3, "lr": 30.0, "steps": 3000}
register(Claim(
    "yaras-exact",
    "With full observation and γ = 0 the Yaras compression reproduces the wide network: E_c(t) = E_wide(t)·V·Vᵀ.",
    f"{SOURCES['Y']}, §3", "2e-13 over 3000 steps (d = 30)", yaras_exact,
    *settings(_YE, "max deviation < 1e-11 of max|Φ| at every record; the wide network moved (recovery < 0.5)"),
    ("04",), {"max |E_c − E_wide·V·Vᵀ| / max|Φ|": "order"},
))
