# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 · Completion and sensing: beyond factorization
#
# **Prerequisites:** notebook 03 (the C-DLN). **Time:** about 35 minutes in class. Computing it takes about 100 s of
# CPU at the defaults and 23 s in quick mode (measured on this project's 2-core machine; shared with other jobs, the
# wall-clock times were 3.1 minutes and 40 s).
#
# **Objectives.**
# 1. Run the DLN and the C-DLN on the three problems of the kit (factorization, completion, sensing) and see where
#    the C-DLN's advantage holds without a theorem.
# 2. See that **depth helps generalization** in completion: at few observations depth 2 fits the observed entries but
#    recovers the matrix less well than depth 3 (by how much depends on the seed: the claims cell counts the seeds).
# 3. Sweep the learning-rate ratio α, and try the gradient-based compression of Yaras et al. [Y] with its outer step
#    ratio γ.
# 4. Watch both networks fill in a real photograph, which is only approximately low-rank, and see what that changes.
#
# **Key equations** ([K] §5, [Y] §3). Completion observes a set Ω of $\lfloor p d^2\rfloor$ entries, sensing $m$
# measurements $y_i=\langle A_i,\Phi\rangle$:
#
# $$\ell_{\mathrm{MC}}(E)=\tfrac12\operatorname{mean}_{(i,j)\in\Omega}(E-\Phi)_{ij}^2,\qquad
#   \ell_{\mathrm{MS}}(E)=\tfrac12\operatorname{mean}_i\big(\langle A_i,E\rangle-y_i\big)^2.$$
#
# The C-DLN's spectral initialization uses a surrogate of Φ: $P_\Omega(\Phi)/p$ in completion,
# $\frac{d^2}{m}\sum_i y_iA_i$ in sensing. The Yaras compression instead reads its bases off the **gradient at
# initialization** and keeps learning them with step $\gamma\eta$: $E = U\,\tilde W_L\cdots\tilde W_1\,V^\top$ with
# $2\hat r\times2\hat r$ inner factors from $\varepsilon I$. A rank-r matrix has $r(2d-r)$ degrees of freedom: no
# method recovers it from fewer observations.

# %%
from dataclasses import replace

import numpy as np

from cdln_core import TrainConfig, claims, make_network, make_problem, photograph, plots, spectra, train
from cdln_core.lesson import Notice, preamble, predict, sci
from cdln_core.plots import photograph as photo_plots
from cdln_core.widgets import bind, dropdown, live, race, slider

# %% tags=["parameters"]
INTERACTIVE = True  # False: plain plotly figures (papermill, static HTML, nbviewer)
QUICK = False  # True: smaller runs, the whole notebook in well under 30 s
SEED = 0

# %%
setup = preamble(INTERACTIVE, QUICK, SEED, frames=120)
D, R, L, EPS, LR = 30, 3, 3, 1e-2, 10.0  # width, rank, depth, init scale, step size
OBSERVED, MEASUREMENTS = 0.5, 600  # p (completion), m (sensing)
STEPS = 4000
ALPHAS = (0.5, 1.0, 2.0, 4.0) if QUICK else (0.5, 1.0, 2.0, 3.0, 4.0, 6.0)
KINDS = {"DLN": "dln", "C-DLN": "cdln", "compressed": "compressed", "wide DLN": "dln"}
notices = {k: Notice(t) for k, t in [("problems", "Three problems"), ("depth", "Depth and generalization"),
                                     ("alpha", "The α ablation"), ("yaras", "The Yaras compression")]}
setup


# %%
def outcome(name: str, traj) -> str:
    """One sentence on how a run ended, measured on it."""
    if traj.diverged_step is not None:
        return f"{name} diverged at step {traj.diverged_step:,}"
    name, end = name[0].upper() + name[1:], f"recovery error {sci(traj.recovery_error[-1])}"
    if traj.converged_step is not None and traj.recovery_error[-1] > 0.1:
        return (f"{name} fitted its training data (loss ≤ 10⁻¹² at step {traj.converged_step:,}) but did **not** "
                f"recover Φ ({end})")
    if traj.converged_step is not None:
        return f"{name} converged at step {traj.converged_step:,} ({end})"
    return f"{name} did not reach the tolerance in {traj.steps[-1]:,} steps ({end})"


def streamed(stream, problem, nets: dict, config, draw):
    """Race ``nets`` on ``problem``: one figure, every record streamed in."""
    fits = {name: (lambda cb, net=net: train(problem, net, config, callback=cb)) for name, net in nets.items()}
    return race(stream, fits, draw, total=config.steps)


# %% [markdown]
# ## Three problems, two networks
#
# Pick the problem; the sliders for the observed fraction p and the number of measurements m act on completion and
# sensing. α acts on the C-DLN only (the DLN steps every factor with η).

# %%
predict("in sensing at m = 200 (just above the 171 degrees of freedom of a 30×30 rank-3 matrix), which network "
        "recovers Φ, if either?")


# %%
def run_problems(stream, problem_kind, observed, measurements, depth, lr_ratio, steps):
    problem = make_problem(problem_kind, D, R, observed=observed, measurements=measurements, seed=SEED)
    nets = {
        "DLN": make_network("dln", problem, depth, init_scale=EPS, seed=SEED),
        "C-DLN": make_network("cdln", problem, depth, init_scale=EPS, lr_ratio=lr_ratio, seed=SEED),
    }
    config = TrainConfig(lr=LR, steps=steps, record_every=setup.record_every(steps), tol=1e-12, max_seconds=30.0)
    n_params = {name: net.n_params for name, net in nets.items()}
    result = streamed(stream, problem, nets, config, lambda runs, diverged: plots.error_curves(
        runs, kinds=KINDS, n_params=n_params, diverged=diverged, title=f"{problem_kind}: recovery error"))
    dof, n_obs = R * (2 * D - R), {"completion": int(observed * D * D), "sensing": measurements}.get(problem_kind)
    lines = [outcome(name, t) + "." for name, t in result.items()]
    if len(result) == 2 and all(t.steps[-1] > 0 for t in result.values()):
        per = {k: t.wall_time[-1] / t.steps[-1] for k, t in result.items()}
        lines.append(f"Per step the C-DLN was {per['DLN'] / per['C-DLN']:.1f}× cheaper than the DLN.")
    if n_obs is not None:
        lines.append(f"{n_obs} observations for {dof} degrees of freedom ({n_obs / dof:.1f}×)"
                     + (": too few for any method to identify Φ." if n_obs < dof else "."))
    notices["problems"].update(lines)
    stream.warn(" ".join(lines).replace("**", ""), "warning" if result.warnings or (n_obs or dof) < dof else "info")
    return result


problems_fig = live(plots.error_curves({"DLN": [], "C-DLN": []}, kinds=KINDS), INTERACTIVE)
problems_panel = bind(
    {
        "problem_kind": dropdown("problem", ["factorization", "completion", "sensing"], "completion"),
        "observed": slider("observed p", OBSERVED, 0.05, 1.0, step=0.05),
        "measurements": slider("measurements m", MEASUREMENTS, 50, 2000, step=50),
        "depth": slider("depth L", L, 2, 5),
        "lr_ratio": slider("α (C-DLN)", 2.0, 0.5, 6.0, step=0.5),
        "steps": slider("steps", STEPS, 1000, 100_000, log=True, step=0.1, readout_format=".3g"),
    },
    lambda stream, steps, **v: run_problems(stream, steps=int(round(steps)), **v),
    [problems_fig],
    **setup.live,
)
problems_panel


# %% [markdown]
# ## Depth and generalization in completion
#
# A width-40, rank-4 target with 30 % of its entries observed, DLNs of depth 2 and 3 (α = 2, η = 20). Solid: the
# mean squared error on the **observed** entries (twice the training loss ½·MSE, so both curves are on one scale);
# dashed: the mean squared error on the **unobserved** entries (the test loss).

# %%
predict("both depths drive the error on the observed entries down. Which one also fills in the missing entries?")


# %%
def same_scale(records) -> list:
    """Training loss ½·MSE → MSE on the observed entries, the scale of the test loss."""
    return [replace(r, train_loss=2 * r.train_loss) for r in records]


def draw_losses(runs, diverged=None):
    fig = plots.losses({name: same_scale(recs) for name, recs in runs.items()},
                       title="MSE on observed (solid) and unobserved (dashed) entries")
    fig.for_each_trace(lambda t: t.update(name=t.name.replace(": train", ": observed")))
    return fig.update_yaxes(title_text="mean squared error")


def run_generalization(stream, observed, steps):
    problem = make_problem("completion", 40, 4, observed=observed, seed=SEED)
    config = TrainConfig(lr=20.0, steps=steps, record_every=setup.record_every(steps), tol=1e-14, max_seconds=30.0)
    nets = {f"L = {depth}": make_network("dln", problem, depth, init_scale=EPS, lr_ratio=2.0, seed=SEED)
            for depth in (2, 3)}
    result = streamed(stream, problem, nets, config, draw_losses)
    lines = [f"{name}: MSE {sci(2 * t.train_loss[-1])} on the observed entries, {sci(t.records[-1].test_loss)} on "
             f"the unobserved ones, recovery error {sci(t.recovery_error[-1])}." for name, t in result.items()]
    e2, e3 = (result[f"L = {d}"].recovery_error[-1] for d in (2, 3))
    lines.append(f"Depth 3 recovers Φ {e2 / e3:.0f}× better than depth 2." if e3 < e2
                 else "Here depth 3 does **not** recover Φ better than depth 2.")
    notices["depth"].update(lines)
    stream.warn(" ".join(lines).replace("**", ""), "info")
    return result


general_fig = live(draw_losses({"L = 2": [], "L = 3": []}), INTERACTIVE)
general_panel = bind(
    {"observed": slider("observed p", 0.3, 0.1, 0.9, step=0.05),
     "steps": slider("steps", setup.steps(12_000, 4000), 1000, 50_000, step=1000)},
    run_generalization,
    [general_fig],
    **setup.live,
)
general_panel

# %% [markdown]
# ## The α ablation: how much the outer learning rate buys
#
# C-DLN iterations to reach a training loss of 10⁻¹² in completion (p = 0.5) against α; the dashed line is the DLN.
# A missing point: that α did not converge within 8000 steps.

# %%
predict("doubling α halves the steps? Up to which α?")

# %%
problem = make_problem("completion", D, R, observed=OBSERVED, seed=SEED)
config = TrainConfig(lr=LR, steps=8000, record_every=50, tol=1e-12)
alpha_runs = [train(problem, make_network("cdln", problem, L, init_scale=EPS, lr_ratio=a, seed=SEED), config)
              for a in ALPHAS]
alpha_steps = [t.converged_step for t in alpha_runs]
dln_steps = train(problem, make_network("dln", problem, L, init_scale=EPS, seed=SEED), config).converged_step
ok = [(a, s) for a, s in zip(ALPHAS, alpha_steps) if s is not None]
lines = [f"α = {a:g}: {outcome('the C-DLN', t)}." for a, t in zip(ALPHAS, alpha_runs)]
if len(ok) >= 2:
    (a0, s0), (a1, s1) = ok[0], ok[-1]
    lines.append(f"From α = {a0:g} to α = {a1:g} (×{a1 / a0:g}) the steps fell from {s0:,} to {s1:,} (×{s0 / s1:.1f}): "
                 + ("roughly in proportion." if s0 / s1 > 0.7 * a1 / a0 else "less than in proportion."))
failed = [f"{a:g}" for a, s in zip(ALPHAS, alpha_steps) if s is None]
if failed:
    lines.append(f"α = {', '.join(failed)} never converged in {config.steps:,} steps: the outer factors overshoot.")
lines.append(f"The DLN (one step size) converged at step {dln_steps:,}." if dln_steps else "The DLN did not converge.")
notices["alpha"].update(lines)
plots.sweep(ALPHAS, {"C-DLN": alpha_steps, "DLN": [dln_steps]}, kinds=KINDS, xlabel="α (outer / inner step)",
            ylabel="iterations to converge", log_x=True, title="The α ablation (completion)")


# %% [markdown]
# ## The Yaras compression and its γ
#
# The compressed network of [Y] starts from the *same* wide initialization as the DLN and keeps only a
# $2\hat r$-dimensional slice of it, chosen from the gradient at step 0. The inner factors step with η, the bases with
# γη. With every entry observed (p = 1) and γ = 0 it follows the wide network exactly.

# %%
predict("at p = 0.4, can the compressed network recover Φ with γ = 0, with its bases frozen?")


# %%
def run_yaras(stream, observed, gamma):
    problem = make_problem("completion", D, R, observed=observed, seed=SEED)
    nets = {
        "wide DLN": make_network("dln", problem, L, init_scale=EPS, seed=SEED),
        "compressed": make_network("compressed", problem, L, init_scale=EPS, lr_ratio=gamma, seed=SEED),
    }
    config = TrainConfig(lr=LR, steps=3000, record_every=setup.record_every(3000), tol=1e-12)
    n_params = {name: net.n_params for name, net in nets.items()}
    result = streamed(stream, problem, nets, config, lambda runs, diverged: plots.error_curves(
        runs, kinds=KINDS, n_params=n_params, diverged=diverged, title=f"Yaras compression, γ = {gamma:g}"))
    lines = [outcome(name, t) + "." for name, t in result.items()]
    if len(result) == 2:
        w, c = (np.asarray(result[k].recovery_error) for k in ("wide DLN", "compressed"))
        n = min(len(w), len(c))
        lines.append(f"Largest gap between the two recovery curves: {sci(np.max(np.abs(w[:n] - c[:n])))}.")
    notices["yaras"].update(lines)
    stream.warn(" ".join(lines).replace("**", ""), "warning" if result.warnings else "info")
    return result


yaras_fig = live(plots.error_curves({"wide DLN": [], "compressed": []}, kinds=KINDS), INTERACTIVE)
yaras_panel = bind(
    {
        "observed": slider("observed p", 0.4, 0.1, 1.0, step=0.05),
        "gamma": slider("γ (basis step ratio)", 0.3, 0.0, 1.0, step=0.01),
    },
    run_yaras,
    [yaras_fig],
    **setup.live,
)
yaras_panel

# %% [markdown]
# ## A real photograph
#
# Every target so far was exactly rank r. A photograph is not: its singular values fall fast and then keep falling
# slowly, all the way to σ_d. Here is the grayscale centre of `china.jpg`, one of the two photographs scikit-learn
# ships inside its package (nothing is downloaded), box-averaged to d×d pixels and scaled to ‖Φ‖_F = 1. We observe
# a fraction p of its pixels and let a DLN and a C-DLN fill in the rest, with the same ε and the same η (half the
# largest stable step, η_max = 2d²/(σ_1^{2(L−1)/L}·Σ_l s_l), where s_l are the factors' step scales), as [K] §5
# compares them. Left to right: the observed pixels (light blue: not observed), each network's E as it trains, the
# original; below, E's singular values rising against the image's own, and the whole spectrum at the end. A C-DLN of
# width r̂ can at best reach the best rank-r̂ approximation of the image: its error, the *truncation error*
# $\sqrt{\sum_{i>\hat r}\sigma_i^2}/\lVert\sigma\rVert$, is printed beside what each network gets.

# %%
predict("the image has no rank to find. Does the C-DLN (r̂ = 16) get down to the best rank-16 error of the image, "
        "and is it faster or slower than the DLN at getting as good as the DLN?")

# %%
PHOTO_D, PHOTO_STEPS = (48, 3000) if QUICK else (96, 5000)  # image width d, steps per network
PHOTO_EPS = 0.03  # ε: at 1e-2 the same staircase takes about three times as many steps
notices["photo"] = Notice("A real photograph")


def draw_photo(problem, runs, diverged=None):
    """The three views of the photograph panel, from the records so far."""
    return (photo_plots.photo_frames(problem, runs), photo_plots.photo_staircases(problem, runs, k=6),
            photo_plots.photo_spectrum(problem, runs))


def photo_notice(problem, result, rank_hat, lr_ratio) -> list[str]:
    """What the photograph panel showed, measured on its runs."""
    dln, cdln = result["DLN"], result["C-DLN"]
    n_obs, steps = problem.index.numel(), int(dln.steps[-1])
    lines = [f"At p = {problem.observed:.2g} ({n_obs:,} of {problem.d ** 2:,} pixels), after {steps:,} steps at "
             f"η = {dln.lr:.3g}: the DLN's recovery error is {sci(dln.recovery_error)} ({sci(dln.test_error)} on the "
             f"unobserved pixels) in {dln.wall_time:.2f} s; the C-DLN's (r̂ = {rank_hat}, α = {lr_ratio:g}) "
             f"{sci(cdln.recovery_error)} ({sci(cdln.test_error)}) in {cdln.wall_time:.2f} s, with "
             f"{cdln.n_params:,} parameters against {dln.n_params:,}."]
    if cdln.wall_time > 0:
        lines.append(f"The C-DLN took {dln.wall_time / cdln.wall_time:.1f}× less time for the same number of steps.")
    lines.append(f"The best rank-{rank_hat} approximation of the whole image has error {sci(cdln.truncation_error)}: "
                 f"the C-DLN ends {cdln.recovery_error / cdln.truncation_error:.1f}× above it, the DLN (which can fit "
                 f"every observed pixel) at {sci(dln.recovery_error)}.")
    target = 1.05 * dln.best()[0]
    a, b = dln.steps_to(target), cdln.steps_to(target)
    lines.append(f"Within 5% of the DLN's best error on the unobserved pixels ({sci(dln.best()[0])}): the DLN at step "
                 f"{a:,}, " + (f"the C-DLN at step {b:,}." if b is not None else "the C-DLN **never**."))
    for name, run in result.items():
        best, at = run.best()
        rise = run.test_error / best - 1
        lines.append(f"The {name}'s error on the unobserved pixels was lowest at step {at:,} ({sci(best)}) and ended at "
                     f"{sci(run.test_error)}" + (f": **{rise:.0%} worse**, from fitting the image's tail on the observed "
                                                 "pixels (an exactly low-rank target has no tail)." if rise > 0.02
                                                 else "."))
    hits = spectra.fit_steps(dln.steps, dln.singular_values, problem.sigma[:4].numpy())
    order = None not in hits and all(x < y for x, y in zip(hits, hits[1:]))
    lines.append("The DLN's σ_1(E) … σ_4(E) reached half the image's σ_i at steps "
                 + ", ".join("never" if h is None else f"{h:,}" for h in hits)
                 + (": one at a time, largest first." if order else ": **not** one at a time in order here."))
    return lines


def run_photo(stream, observed, depth, rank_hat, lr_ratio):
    problem = photograph.image_problem(photograph.load_image("china", PHOTO_D), observed=observed, seed=SEED)
    lr = photograph.default_lr(problem, depth, max(lr_ratio, 1.0))  # stable for both networks
    common = dict(init_scale=PHOTO_EPS, lr=lr, steps=PHOTO_STEPS, frames=40, seed=SEED)
    fits = {"DLN": lambda cb: photograph.complete(problem, "dln", depth, callback=cb, **common),
            "C-DLN": lambda cb: photograph.complete(problem, "cdln", depth, rank_hat=rank_hat, lr_ratio=lr_ratio,
                                                    callback=cb, **common)}
    result = race(stream, fits, lambda runs, diverged: draw_photo(problem, runs), total=PHOTO_STEPS)
    result.problem = problem
    if result.diverged_step is None and len(result) == 2:
        lines = photo_notice(problem, result, rank_hat, lr_ratio)
        notices["photo"].update(lines)
        stream.warn(" ".join(lines).replace("**", ""), "info")
    return result


photo_empty = photograph.image_problem(photograph.load_image("china", PHOTO_D), observed=0.5, seed=SEED)
photo_figs = [live(fig, INTERACTIVE) for fig in draw_photo(photo_empty, {"DLN": [], "C-DLN": []})]
photo_panel = bind(
    {
        "observed": slider("observed p", 0.5, 0.1, 0.9, step=0.05),
        "depth": slider("depth L", 3, 2, 4),
        "rank_hat": slider("r̂ (C-DLN)", 16, 2, 40),
        "lr_ratio": slider("α (C-DLN)", 2.0, 0.5, 6.0, step=0.5),
    },
    run_photo,
    photo_figs,
    **setup.live,
)
photo_panel

# %% [markdown]
# The same run, frame by frame: drag the slider under the images or press play (plotly's own controls, which also
# work on a static page). It follows the panel's last run.

# %%
if photo_panel.result is not None and len(photo_panel.result) == 2:
    photo_runs = {name: run.records for name, run in photo_panel.result.items()}
    photo_movie = photo_plots.photo_frames(photo_panel.result.problem, photo_runs, animate=True, max_frames=15)
else:
    photo_movie = "(the panel above did not finish a run: change its settings)"
photo_movie

# %% [markdown]
# ## Exercises
#
# 1. In sensing, lower m until neither network recovers Φ. Compare with the degrees of freedom $r(2d-r)$.
# 2. In the generalization panel, raise p. Is there a threshold at which depth 2 suddenly recovers Φ, or does its
#    error fall gradually?
# 3. Why does the α sweep have an optimum rather than "bigger is always better"?
# 4. Set p = 1 and γ = 0 in the last panel. Why do the two curves coincide?
# 5. In the photograph panel, lower p from 0.5 to 0.2, then raise r̂ from 16 to 40. Which change makes the error on
#    the unobserved pixels rise again before the end of the run, and for which network? (The notice prints how much.)
#
# <details><summary>Solutions</summary>
#
# 1. With d = 30, r = 3 there are 171 degrees of freedom. The claims cell below measures m = 100, 200 and 300 on three
#    seeds (4000 steps, α = 2) and prints the recovery errors: read the threshold off its table rather than from a
#    rule of thumb.
# 2. Gradually: the claims cell prints depth 2's recovery error at p = 0.3, 0.5, 0.7 and 0.9 on three seeds; it falls
#    by about an order of magnitude per step of 0.2 in p, with no sharp threshold.
# 3. The outer factors' step is αη; beyond the stability limit of gradient descent on them (∝ 1/curvature) they
#    oscillate and never settle (the α = 6 point is missing: it neither converged nor diverged).
# 4. With all entries observed the loss is the factorization loss, the invariant-subspace theorem holds exactly, and
#    the compressed network is the wide one restricted to its invariant subspace: E_compressed(t) = E_wide(t)·V·Vᵀ,
#    which differs from E_wide only by the frozen part of size ρ(t)^L ≈ ε^L.
# 5. Read the answer off the notice at each setting. The reason it can rise at all: beyond the few singular values
#    that p·d² pixels pin down, the image's tail acts like noise on the observed pixels, and a network that keeps
#    fitting the observed pixels fits that noise too. The fewer pixels observed, the sooner that starts; the DLN
#    reaches its higher ranks later (incremental learning), so it starts later. A larger r̂ lowers the C-DLN's floor
#    (the truncation error) but also gives it room for more of the tail: which of the two wins, the notice's “% worse”
#    tells you.
# </details>

# %% [markdown]
# ## What to notice
#
# Rendered from the runs above; the panels' blocks follow their sliders.

# %%
notices["problems"]

# %%
notices["depth"]

# %%
notices["alpha"]

# %%
notices["yaras"]

# %%
notices["photo"]

# %% [markdown]
# - **Sensing is dominated by the measurement operator**: both networks pay the same cost to evaluate
#   $\langle A_i,E\rangle$; compare the per-step ratio of the first block in completion and in sensing.
# - **Depth generalizes** because it strengthens the implicit bias towards low rank, and low rank is what fills in the
#   missing entries.

# %% [markdown]
# ## Claims checked in this notebook
#
# Three seeds each (one in quick mode, which only checks that the notebook runs); a claim that holds on only some
# seeds says so.

# %%
# NBVAL_CHECK_OUTPUT
SEEDS = (0,) if QUICK else (0, 1, 2)
M_LIST, P_LIST, GEN_STEPS = ((100, 300), (0.3, 0.9), 4000) if QUICK else ((100, 200, 300), (0.3, 0.5, 0.7, 0.9), 12_000)
cfg = TrainConfig(lr=LR, steps=STEPS, record_every=50, tol=1e-12)
print("problem        seed  DLN steps  C-DLN steps (α = 2)")
for kind in ("factorization", "completion", "sensing"):
    for seed in SEEDS:
        pr = make_problem(kind, D, R, observed=OBSERVED, measurements=MEASUREMENTS, seed=seed)
        res = {k: train(pr, make_network(k, pr, L, init_scale=EPS, lr_ratio=2.0 if k == "cdln" else 1.0, seed=seed), cfg)
               for k in ("dln", "cdln")}
        assert all(t.recovery_error[-1] < 1e-4 for t in res.values()), f"{kind}: both networks recover Φ"
        assert res["cdln"].converged_step < res["dln"].converged_step, f"{kind}: the C-DLN needs fewer iterations"
        print(f"{kind:14s} {seed:4d}  {res['dln'].converged_step:9d}  {res['cdln'].converged_step:11d}")

print("sensing, recovery error after 4000 steps (DLN / C-DLN), dof = 171:")
for m in M_LIST:
    errs = []
    for seed in SEEDS:
        pr = make_problem("sensing", D, R, measurements=m, seed=seed)
        errs.append([train(pr, make_network(k, pr, L, init_scale=EPS, lr_ratio=2.0 if k == "cdln" else 1.0, seed=seed),
                           cfg).recovery_error[-1] for k in ("dln", "cdln")])
    print(f"  m = {m}: " + ", ".join(f"{sci(a)} / {sci(b)}" for a, b in errs))
    if m == 100:
        assert all(min(e) > 0.5 for e in errs), "m = 100 < dof: neither network recovers Φ"
    if m == 300:
        assert all(max(e) < 1e-3 for e in errs), "m = 300: both recover Φ"

gen_cfg = TrainConfig(lr=20.0, steps=GEN_STEPS, record_every=500, tol=1e-14)
print("completion d=40, r=4: recovery error of depth 2 against p; depth 3 at p = 0.3")
gen = {}
for seed in SEEDS:
    for depth, ps in ((2, P_LIST), (3, (0.3,))):
        for p in ps:
            pr = make_problem("completion", 40, 4, observed=p, seed=seed)
            gen[seed, depth, p] = train(pr, make_network("dln", pr, depth, init_scale=EPS, lr_ratio=2.0, seed=seed),
                                        gen_cfg).recovery_error[-1]
    print(f"  seed {seed}: L=2 " + ", ".join(f"p={p}: {sci(gen[seed, 2, p])}" for p in P_LIST)
          + f" | L=3 p=0.3: {sci(gen[seed, 3, 0.3])}")
better = sum(gen[s, 3, 0.3] < gen[s, 2, 0.3] / 10 for s in SEEDS)
print(f"  depth 3 recovers at least 10× better than depth 2 at p = 0.3 on {better} of {len(SEEDS)} seeds")
assert all(all(gen[s, 2, a] > gen[s, 2, b] for a, b in zip(P_LIST, P_LIST[1:])) for s in SEEDS), "depth 2 improves with p"

a_cfg = TrainConfig(lr=LR, steps=8000, record_every=50, tol=1e-12)
print("α ablation, completion p = 0.5: C-DLN steps to converge (None: not within 8000)")
for seed in SEEDS:
    pr = make_problem("completion", D, R, observed=OBSERVED, seed=seed)
    steps = [train(pr, make_network("cdln", pr, L, init_scale=EPS, lr_ratio=a, seed=seed), a_cfg).converged_step
             for a in (0.5, 1.0, 2.0, 3.0, 4.0, 6.0)]
    print(f"  seed {seed}: α = 0.5, 1, 2, 3, 4, 6 → {steps}")
    assert steps[:4] == sorted(steps[:4], reverse=True), "larger α, fewer iterations up to α = 3"
    assert steps[-1] is None, "α = 6 does not converge"

y_cfg = TrainConfig(lr=LR, steps=3000, record_every=30, tol=1e-12)
print("Yaras compression: gap to the wide DLN at p = 1, γ = 0; recovery error at p = 0.4 for γ = 0 and 0.3")
for seed in SEEDS:
    full = make_problem("completion", D, R, observed=1.0, seed=seed)
    wide = train(full, make_network("dln", full, L, init_scale=EPS, seed=seed), y_cfg)
    comp = train(full, make_network("compressed", full, L, init_scale=EPS, lr_ratio=0.0, seed=seed), y_cfg)
    gap = np.max(np.abs(np.array(wide.recovery_error) - np.array(comp.recovery_error)))
    assert len(wide.records) == len(comp.records) and gap < 1e-6, "p = 1, γ = 0: the compressed network follows the wide one"
    part = make_problem("completion", D, R, observed=0.4, seed=seed)
    err = {g: train(part, make_network("compressed", part, L, init_scale=EPS, lr_ratio=g, seed=seed), y_cfg)
           .recovery_error[-1] for g in (0.0, 0.3)}
    assert err[0.0] > 0.1, "p = 0.4, γ = 0: frozen bases do not recover Φ"
    print(f"  seed {seed}: gap < 1e-6: {gap < 1e-6} | p = 0.4: γ = 0 → {sci(err[0.0])}, γ = 0.3 → {sci(err[0.3])}")

# %% [markdown]
# The kit's claims ledger (`cdln claims --only …`), its entries for this notebook: the paper's number beside ours,
# over the ledger's seeds (one seed in quick mode, where a verdict may differ from the expected one).

# %%
# NBVAL_CHECK_OUTPUT
entries = claims.check(claims.for_notebook("04"), quick=True, seeds=1 if QUICK else None)
print(claims.table(entries))
assert QUICK or not claims.changed(entries), f"verdicts changed: {claims.changed(entries)}"

# %%
setup.done()
