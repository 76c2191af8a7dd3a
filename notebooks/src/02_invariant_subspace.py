# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · The invariant subspace: why deep linear networks are secretly small
#
# **Prerequisites:** notebook 01; orthogonal projections and principal angles between subspaces. **Time:** 25 minutes
# in class; its compute time is printed by the last cell.
#
# **Objectives.**
# 1. See that every factor $W_l$ of a deep linear network changes in only **2r** directions: r singular values rise,
#    r fall, and the other $d-2r$ stay **equal to each other** at a common value ρ(t).
# 2. Measure the principal angles between the active input subspace of $W_1$ and the one predicted at
#    initialization.
# 3. Check ρ(t) against its exact recursion (and write that recursion), and see the structure hold only
#    approximately in matrix completion.
#
# **Key equation** (Law of Parsimony, Yaras et al., arXiv 2306.01154, Theorem 1; [Y] §3). For factorization (or
# whitened data) with Φ of rank r, $d\ge 2r$ and $W_l(0)=\varepsilon O_l$, for all t
#
# $$W_l(t) = U_l\begin{pmatrix}\tilde W_l(t) & 0\\ 0 & \rho(t)\,I_{d-2r}\end{pmatrix}V_l^\top,\qquad V_{l+1}=U_l,\quad \tilde W_l(0)=\varepsilon I_{2r},$$
#
# with $U_l, V_l$ **fixed**, and $\rho(t+1)=\rho(t)-\eta'\rho(t)^{2L-1}$ ($\eta'=\eta/d^2$ for the mean loss). The
# first 2r columns of $V_1$ span $\{\text{row space of }\Phi,\ Q^\top\cdot\text{column space of }\Phi\}$,
# $Q = E(0)/\varepsilon^L$. So the learning happens in a $2r\times 2r$ network: the idea behind every compression in
# notebooks 03–04.

# %%
import numpy as np

from cdln_core import TrainConfig, make_network, make_problem, plots, spectra, train
from cdln_core.lesson import Notice, check, preamble, predict, sci, show_claims
from cdln_core.widgets import bind, dropdown, live, slider

# %% tags=["parameters"]
INTERACTIVE = True  # False: plain plotly figures (papermill, static HTML, nbviewer)
QUICK = False  # True: smaller runs, the whole notebook in well under 30 s
SEED = 0

# %%
setup = preamble(INTERACTIVE, QUICK, SEED, frames=100)
D, R, L, EPS, LR = 20, 3, 3, 1e-2, 10.0  # width, rank, depth, init scale, step size
OBSERVED = 0.6  # fraction p of observed entries, for completion
STEPS = 3000
setup


# %% [markdown]
# ## Measuring the invariant structure
#
# At each recorded step, for the first factor $W_1(t)$ (`spectra.invariance_series`):
# - ρ(t) is the mean of its middle $d-2r$ singular values, and the *spread* (max − min) says how equal they are;
# - by the theorem $M = W_1(t) - \tfrac{\rho(t)}{\varepsilon}W_1(0) = U_1\,\mathrm{diag}(\tilde W_1-\rho I,\,0)\,V_1^\top$
#   has rank 2r and its row space **is** the active subspace. We measure the largest **principal angle** between the
#   predicted subspace and (a) the r directions $W_1$ grows in (M's top r right singular vectors), (b) all 2r
#   directions. Angles use the sine form, exact down to ~1e-16 rad.

# %%
def invariance(records, problem, start, lr, cache=None):
    """spectra.invariance_series of a run; ``start`` = (W_1(0), E(0)); ``cache`` keeps records already measured."""
    W1_0, E0 = start
    return spectra.invariance_series(records, problem.Phi, W1_0, E0, init_scale=EPS, depth=len(records[0].factors),
                                     lr_prime=lr / (problem.d**2 * getattr(problem, "observed", 1.0)), cache=cache)


problem = make_problem("factorization", D, R, seed=SEED)
net = make_network("dln", problem, L, init_scale=EPS, seed=SEED)
start = (net.Ws[0].detach().clone(), net.end_to_end().detach().clone())
traj = train(problem, net, TrainConfig(lr=LR, steps=STEPS, record_every=setup.record_every(STEPS), keep_factors=True))
inv = invariance(traj.records, problem, start, LR)
print(f"largest principal angle, the r growing directions: {np.nanmax(inv.angle):.1e} rad")
print(f"largest principal angle, all 2r directions:        {np.nanmax(inv.angle_2r):.1e} rad")
print(f"largest spread of the middle block:                {inv.spread.max():.1e}")
print(f"largest |ρ − recursion|:                           {np.max(np.abs(inv.rho - inv.rho_theory)):.1e}")


# %% [markdown]
# ## Live: every factor's singular values, the subspace, ρ(t)
#
# Top: the singular values of each factor (log scale), grouped: the top r, the bottom r, the middle $d-2r$ (drawn as
# one grey group). Bottom left: the principal angles and the spread of the middle block. Bottom right: ρ(t)/ε − 1
# measured against its recursion. Switch the problem to **completion** to see what a partial mask does.

# %%
def invariance_sentences(traj, inv, kind, rank, width, observed):
    if traj.diverged_step is not None:
        return [f"The run diverged at step {traj.diverged_step}."]
    final = [np.asarray(s) for s in traj.records[-1].factor_singular_values]
    rise = all(np.all(s[:rank] > 10 * EPS) for s in final)
    fall = all(np.all(s[-rank:] < EPS) for s in final)
    groups = (f"In every factor the top {rank} singular values {'rose above 10ε' if rise else 'did not all rise above 10ε'}"
              f" and the bottom {rank} {'fell below ε' if fall else 'did not all fall below ε'} by step {traj.steps[-1]}")
    spread, rho_gap = inv.spread.max(), np.max(np.abs(inv.rho - inv.rho_theory))
    equal = "stayed equal (to round-off)" if spread < 1e-10 else "spread apart"
    head = "Three groups, not d lines." if rise and fall and spread < 1e-10 else "The three groups blur."
    out = [f"**{head}** {groups}; the middle {width - 2 * rank} {equal}: largest spread {sci(spread)}."]
    if kind == "completion":
        seen, dof = int(observed * width**2), rank * (2 * width - rank)  # |Ω| = ⌊p·d²⌋
        if seen < dof:
            out.append(f"**Too few observations.** p = {observed:.2f} observes {seen} entries, fewer than "
                       f"Φ's r(2d − r) = {dof} degrees of freedom: no method can identify Φ from them.")
    a_r, a_2r = np.nanmax(inv.angle), np.nanmax(inv.angle_2r)
    if a_r < 1e-10:
        falling = (f" All 2r directions within {sci(a_2r)} rad (the falling ones change by little, so round-off "
                   "blurs their direction more)." if a_2r < 1e-3 else
                   f" The r falling directions changed too little in this run for round-off to fix their direction "
                   f"(angle up to {sci(a_2r)} rad).")
        out.append(f"**Nothing else moves.** The r directions $W_1$ grows in stay inside the predicted subspace: "
                   f"largest principal angle {sci(a_r)} rad over the run.{falling}")
    else:
        out.append(f"**The subspace moved.** The largest principal angle between the growing directions and the "
                   f"predicted subspace reached {sci(a_r)} rad (ended at {sci(inv.angle[-1])}), all 2r directions "
                   f"{sci(a_2r)} rad: the invariance is {'approximate' if a_r < 0.3 else 'lost'} here"
                   + (" (completion: the mask couples the blocks)." if kind == "completion" else "."))
    out.append(f"**ρ(t) {'follows' if rho_gap < 1e-12 else 'departs from'} its recursion**: largest gap "
               f"{sci(rho_gap)} (ρ itself ≈ {sci(inv.rho[-1])}).")
    return out


def run_invariance(stream, problem_kind, depth, width, rank, observed):
    problem = make_problem(problem_kind, width, rank, observed=observed, seed=SEED)
    net = make_network("dln", problem, depth, init_scale=EPS, seed=SEED)
    spectra.middle_spread(np.zeros(width), rank)  # d > 2r, or a clear message before training
    start, cache = (net.Ws[0].detach().clone(), net.end_to_end().detach().clone()), {}

    def draw(records, diverged=None):
        series = invariance(records, problem, start, LR, cache) if records else None
        return (
            plots.factor_spectra(records, rank, diverged_step=diverged),
            plots.invariance(series, rho_scale=EPS) if series is not None else invariance_fig0,
        )

    config = TrainConfig(lr=LR, steps=STEPS, record_every=setup.record_every(STEPS), keep_factors=True)
    traj = train(problem, net, config, callback=stream.recorder(draw, total=config.steps))
    stream.show(lambda: draw(traj.records, traj.diverged_step), final=True)
    inv = invariance(traj.records, problem, start, LR, cache)
    invariance_notice.update(invariance_sentences(traj, inv, problem_kind, rank, width, observed))
    return traj


invariance_notice = Notice("What to notice: the invariant subspace")
invariance_fig0 = plots.invariance(inv, rho_scale=EPS)
predict("of the 20 singular values of each factor, how many move during training — and do the rest stay equal?")

# %%
spectra_fig = live(plots.factor_spectra(traj.records[:1], R), INTERACTIVE)
invariance_fig = live(invariance_fig0, INTERACTIVE)
invariance_panel = bind(
    {
        "problem_kind": dropdown("problem", ["factorization", "completion"], "factorization"),
        "depth": slider("depth L", L, 2, 5),
        "width": slider("width d", D, 3, 50),
        "rank": slider("rank r", R, 1, 8),
        "observed": slider("observed p (completion)", OBSERVED, 0.1, 1.0, step=0.05),
    },
    run_invariance,
    [spectra_fig, invariance_fig],
    **setup.live,
)
invariance_panel


# %% [markdown]
# Try width = 2·rank: there is no middle block, and the notebook says so.
#
# ## Exercises
#
# **1 · Write the ρ recursion.** The shared middle singular value obeys $\rho(t+1)=\rho(t)-\eta'\rho(t)^{2L-1}$ with
# $\rho(0)=\varepsilon$. Write `rho_after(rho0, lr_prime, depth, t)`, the value after t steps, and check it.

# %%
def rho_after(rho0, lr_prime, depth, t):
    """ρ(t) from ρ(0) = rho0 by the recursion; lr_prime is η' (η/d² here)."""
    raise NotImplementedError  # your code here


check(rho_after, "rho_recursion")


# %% [markdown]
# **2 · Start in the subspace: the spectral initialization of notebook 03.** Since only 2r directions per layer ever
# move, a network can start *in* them. [K] §3 takes the SVD of a surrogate $S=\hat U\hat\Sigma\hat V^\top$ and sets
# $\tilde W_1(0)=\varepsilon\hat V_{:,:\hat r}^\top$ (r̂ × d), $\tilde W_l(0)=\varepsilon I_{\hat r}$ (l = 2…L−1),
# $\tilde W_L(0)=\varepsilon\hat U_{:,:\hat r}$ (d × r̂). Write it (any SVD routine: signs may differ, E(0) may not).

# %%
def my_spectral_init(S, depth, rank_hat, eps):
    """S: (d, d) surrogate. Returns [W̃_1, ..., W̃_L] with the shapes above."""
    raise NotImplementedError  # your code here


check(my_spectral_init, "spectral_init")

# %% [markdown]
# 3. Count the numbers that really change during training: how many parameters does the "small" network of the
#    theorem have, for d = 1000, r = 5, L = 3?
# 4. Why do the bottom r singular values fall instead of staying at ε?
# 5. Predict ρ after 10⁴ steps at L = 2 and at L = 4 with your `rho_after`, then compare with
#    `spectra.rho_prediction(EPS, LR / D**2, depth, [10_000])`.
# 6. In completion, which p makes the principal angles largest? Why does p = 1 give back factorization?
#
# <details><summary>Solutions</summary>
#
# 1. Repeat t times `rho = rho - lr_prime * rho ** (2 * depth - 1)`.
# 2. `U, _, Vh = torch.linalg.svd(S)`, then `[eps * Vh[:rank_hat]] + [eps * torch.eye(rank_hat)] * (depth - 2) +
#    [eps * U[:, :rank_hat]]`.
# 3. $L\cdot(2r)^2 = 300$ numbers plus the fixed bases, against $Ld^2 = 3\cdot10^6$.
# 4. At the start $W_1 \approx \varepsilon O$: the gradient has a component that cancels the part of $E(0)$ pointing
#    in the target's directions but "crossed" ($Q^\top$ times Φ's column space): those directions are pushed to 0.
# 5. At L = 2 each step removes η'ρ³ = 0.025·1e-6 = 2.5e-8 (relative 2.5e-6), so after 10⁴ steps ρ ≈ 0.975·ε; at
#    L = 4 the relative step is η'ρ⁶ = 2.5e-14, and ρ/ε − 1 ≈ −2.5e-10 after 10⁴ steps.
# 6. Move the p slider and read the angles in "What to notice"; at p = 1 the mask is all ones and the loss is
#    exactly the factorization loss, so the exact invariance comes back.
# </details>

# %%
invariance_notice

# %% [markdown]
# ## Claims checked in this notebook
#
# The claims ledger's entries for this notebook, measured over several seeds.

# %%
# NBVAL_CHECK_OUTPUT
show_claims("02")

# %%
setup.done()
