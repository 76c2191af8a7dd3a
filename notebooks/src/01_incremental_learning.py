# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · Incremental learning: the staircase
#
# **Prerequisites:** notebook 00 (notation), the SVD. **Time:** 25 minutes in class; its compute time is printed by
# the last cell.
#
# **Objectives.** After this lesson you can
# 1. say what *incremental learning* is: a deep linear network fits the singular values of its target **one at a
#    time, largest first**, each after a plateau;
# 2. watch the singular *vectors* of E line up with the target's, and say when that happens relative to the jumps;
# 3. predict how depth L, init scale ε and step size η change the staircase;
# 4. write the closed-form gradient of a factor and check it.
#
# **Setting** ([Y] §2; Saxe et al. 2014; Arora et al. 2019). Deep matrix factorization: factors
# $W_1,\dots,W_L \in \mathbb{R}^{d\times d}$, $W_l(0)=\varepsilon O_l$ with $O_l$ Haar-orthogonal, end-to-end matrix
# $E = W_L\cdots W_1$, loss
#
# $$\ell(E) = \tfrac12\,\operatorname{mean}_{ij}\,(E-\Phi)_{ij}^2,\qquad \Phi = U\,\mathrm{diag}(\sigma)\,V^\top \text{ of rank } r,$$
#
# trained by plain gradient descent with step η. Key equation: in Φ's singular basis, each singular value $s_i$ of E
# evolves (for aligned, balanced factors, in gradient flow) as
#
# $$ \dot s_i = \eta'\,L\,s_i^{2-2/L}\,(\sigma_i - s_i),\qquad \eta' = \eta/d^2,$$
#
# so for $L\ge3$ a value starting at $\varepsilon^L$ waits about $\varepsilon^{2-L}/((L-2)\,\eta'\sigma_i)$ steps before
# it jumps (at $L=2$ about $\ln(\sigma_i/\varepsilon^2)/(2\eta'\sigma_i)$): **larger σ first, and deeper or
# smaller-ε networks wait longer** (`spectra.escape_time`).

# %%
import numpy as np

from cdln_core import TrainConfig, make_network, make_problem, plots, spectra, train
from cdln_core.lesson import Notice, check, preamble, predict, sci, show_claims
from cdln_core.plots.dynamics import alignment_series
from cdln_core.widgets import bind, live, slider

# %% tags=["parameters"]
INTERACTIVE = True  # False: plain plotly figures (papermill, static HTML, nbviewer)
QUICK = False  # True: smaller runs, the whole notebook in well under 30 s
SEED = 0

# %%
setup = preamble(INTERACTIVE, QUICK, SEED)
D, R, L, EPS, LR = 20, 3, 3, 1e-2, 10.0  # width, rank, depth, init scale, step size
STEPS = 3000
setup

# %% [markdown]
# ## One run, computed
#
# A width-20, rank-3 target, a depth-3 network. `fit_steps` gives the first recorded step at which the i-th singular
# value of E reaches half of σ_i; the alignment of the i-th singular vector pair is
# $|\langle u_i(E),u_i(\Phi)\rangle|\cdot|\langle v_i(E),v_i(\Phi)\rangle|$ (1 = aligned).

# %%
problem = make_problem("factorization", D, R, seed=SEED)
net = make_network("dln", problem, L, init_scale=EPS, seed=SEED)
config = TrainConfig(lr=LR, steps=STEPS, record_every=setup.record_every(STEPS), tol=1e-12, keep_factors=True)
traj = train(problem, net, config)
sigma, U, V = problem.sigma.numpy(), problem.U.numpy(), problem.V.numpy()
print("target σ:        ", np.round(sigma, 2))
print("half-fitted at t:", spectra.fit_steps(traj.steps, traj.column("e2e_singular_values"), sigma))
plots.staircase(traj.records, sigma, U=U, V=V, loss=True)


# %% [markdown]
# ## Live: move a slider, watch the staircase form
#
# Each slider reruns the training on release and streams it into the figure. Left: the singular values of E (solid)
# against σ_i(Φ) (dotted); the grey line is σ_{r+1}(E). Middle: the alignment of the i-th singular vector pair with
# Φ's. Right: the training loss. The sentences under "What to notice" are measured from the run on screen.

# %%
def staircase_sentences(traj, sigma, U, V, depth, init_scale, lr, width):
    """What the live figure shows, measured from the run on screen."""
    if traj.diverged_step is not None:
        return [f"The run diverged at step {traj.diverged_step}: η = {lr:g} is too large at depth {depth}."]
    steps = traj.steps
    fits = spectra.fit_steps(steps, traj.column("e2e_singular_values"), sigma)
    if fits[0] is None:
        est = spectra.escape_time(sigma, depth, init_scale, lr / width**2)[0]
        return [f"The network learned nothing in {steps[-1]} steps: still on its first plateau (recovery error "
                f"{traj.recovery_error[-1]:.2f}); the estimated plateau is {sci(est)} steps. Raise the steps, η or ε."]
    out = []
    fitted = [f for f in fits if f is not None]
    distinct = len(set(fitted)) == len(fitted) > 1
    apart = "one at a time" if distinct else ("all at the same recorded step" if len(set(fitted)) == 1 else
                                              "some at the same recorded step")
    order = "largest first" if fitted == sorted(fitted) else "not in order of size"
    missing = f" ({len(fits) - len(fitted)} not reached in the run)" if len(fitted) < len(fits) else ""
    head = "Plateaus then jumps." if distinct else "No clean staircase here."
    out.append(f"**{head}** The singular values of E were half-fitted at steps "
               f"{', '.join(map(str, fitted))}{missing}: {apart}, {order}.")
    align = alignment_series(traj.records, U, V)
    aligned = spectra.first_crossing(steps, np.nan_to_num(align), 0.9)
    pairs = [(i, a, f) for i, (a, f) in enumerate(zip(aligned, fits)) if a is not None and f is not None]
    if pairs:
        before = sum(a < f for _, a, f in pairs)
        text = "; ".join(f"pair {i + 1} at step {a} (its value at {f})" for i, a, f in pairs)
        all_before_first = all(a < fits[0] for _, a, _ in pairs) and len(pairs) == len(fits)
        grow = " one at a time" if distinct else ""
        tail = (f" Every pair was aligned before even σ_1 was half-fitted: the network finds all {len(fits)} "
                f"directions first, then grows along them{grow}." if all_before_first else
                f" {before} of {len(pairs)} pairs aligned before their value was half-fitted.")
        head = "Vectors before values." if before == len(pairs) else "Vectors and values."
        out.append(f"**{head}** Alignment ≥ 0.9 was reached by {text}.{tail}")
    loss = traj.train_loss
    at = [loss[steps.index(f)] for f in fitted]
    head = "The loss falls in steps too" if distinct else "The training loss"
    out.append(f"**{head}**: {sci(loss[0])} at the start, then {', '.join(sci(v) for v in at)} "
               f"at the fit steps, {sci(loss[-1])} at the end.")
    extra = max(float(rec.e2e_singular_values[len(sigma)]) for rec in traj.records) if width > len(sigma) else 0.0
    verdict = ("no direction the target lacks was grown" if extra < 0.1 * sigma[-1] else
               "a direction the target lacks grew noticeably (large ε or η)")
    out.append(f"σ_{{r+1}}(E) (grey) peaked at {sci(extra)}: {verdict}.")
    return out


def run_staircase(stream, depth, width, rank, init_scale, lr, steps):
    problem = make_problem("factorization", width, rank, seed=SEED)
    net = make_network("dln", problem, depth, init_scale=init_scale, seed=SEED)
    sigma, U, V = problem.sigma.numpy(), problem.U.numpy(), problem.V.numpy()
    draw = lambda records, diverged=None: plots.staircase(records, sigma, U=U, V=V, loss=True, diverged_step=diverged)
    config = TrainConfig(lr=lr, steps=steps, record_every=setup.record_every(steps), tol=1e-12, keep_factors=True)
    traj = train(problem, net, config, callback=stream.recorder(draw, total=config.steps))
    stream.show(lambda: draw(traj.records, traj.diverged_step), final=True)
    staircase_notice.update(staircase_sentences(traj, sigma, U, V, depth, init_scale, lr, width))
    return traj


staircase_notice = Notice("What to notice: the live staircase")
predict("do the singular *vectors* of E line up with Φ's before, while, or after the matching value jumps?")

# %%
staircase_fig = live(plots.staircase([], sigma, U=U, V=V, loss=True), INTERACTIVE)
staircase_panel = bind(
    {
        "depth": slider("depth L", L, 1, 6),
        "width": slider("width d", D, 2, 60),
        "rank": slider("rank r", R, 1, 8),
        "init_scale": slider("init scale ε", EPS, 1e-4, 0.3, log=True, step=0.25),
        "lr": slider("step size η", LR, 0.5, 100.0, log=True, step=0.05),
        "steps": slider("steps", STEPS, 500, 30000, step=500),
    },
    run_staircase,
    [staircase_fig],
    **setup.live,
)
staircase_panel


# %% [markdown]
# Try: depth 1 (no plateaus), depth 4 (at ε = 0.01 it needs about 48 000 steps: raise ε to 0.03 instead),
# ε = 0.1 vs 0.001, a step size that is too large (the run diverges and says so), rank above width (a message,
# not a crash).
#
# ## Depth 1 vs 2 vs 3, side by side
#
# Same target, same ε and η, three depths (log-scaled step axis).

# %%
def depth_sentences(runs, sigma):
    fits = {name: spectra.fit_steps([r.step for r in recs], [r.e2e_singular_values for r in recs], sigma)
            for name, recs in runs.items()}
    parts, firsts = [], []
    for name, f in fits.items():
        if f[0] is None:
            parts.append(f"{name}: nothing fitted")
            continue
        done = [t for t in f if t is not None]
        shape = "all together" if len(set(done)) == 1 else f"spread over {done[-1] - done[0]} steps"
        parts.append(f"{name}: {', '.join(map(str, done))} ({shape})")
        firsts.append(f[0])
    trend = ("The first plateau lengthened with depth." if len(firsts) == len(fits) and firsts == sorted(firsts)
             and len(set(firsts)) == len(firsts) else "Here the first plateau did not lengthen with every extra layer.")
    return [f"**Half-fit steps by depth** — {'; '.join(parts)}. {trend}"]


def run_depths(stream, init_scale, lr):
    problem = make_problem("factorization", D, R, seed=SEED)
    sigma = problem.sigma.numpy()
    runs = {}
    for depth in (1, 2, 3):
        net = make_network("dln", problem, depth, init_scale=init_scale, seed=SEED)
        config = TrainConfig(lr=lr, steps=STEPS, record_every=5, tol=1e-12)  # fine grid: L = 1 is done in ~50 steps
        name = f"L = {depth}"
        runs[name] = []
        draw = lambda records, name=name: plots.staircases({**runs, name: records}, sigma, log_x=True)
        traj = train(problem, net, config, callback=stream.recorder(draw, total=config.steps))
        runs[name] = traj.records
        if traj.diverged_step is not None:
            depth_notice.update([f"{name} diverged at step {traj.diverged_step}: lower η."])
            return traj
    stream.show(lambda: plots.staircases(runs, sigma, log_x=True), final=True)
    depth_notice.update(depth_sentences(runs, sigma))
    return traj


depth_notice = Notice("What to notice: depth side by side")
predict("which depth has no staircase at all, and which waits longest before its first jump?")

# %%
depth_fig = live(plots.staircases({f"L = {k}": [] for k in (1, 2, 3)}, sigma, log_x=True), INTERACTIVE)
depth_panel = bind(
    {
        "init_scale": slider("init scale ε", EPS, 1e-4, 0.3, log=True, step=0.25),
        "lr": slider("step size η", LR, 0.5, 30.0, log=True, step=0.05),
    },
    run_depths,
    [depth_fig],
    **{**setup.live, "pace": setup.pace / 3},
)
depth_panel


# %% [markdown]
# ## Exercises
#
# **1 · Write the gradient.** Gradient descent needs, for every factor, the gradient of the loss given
# $G = \nabla_E\ell$ (shape (d_L, d_0)):
#
# $$\nabla_{W_l}\ell = (W_L\cdots W_{l+1})^\top\, G\, (W_{l-1}\cdots W_1)^\top .$$
#
# Fill in `factor_gradients` (a list of the L gradients, shapes as the factors) and run the check, which compares it
# with the kit's own on factors of several depths and rectangular shapes.

# %%
def factor_gradients(Ws, G):
    """Ws: [W_1, ..., W_L], W_l of shape (d_l, d_{l-1}); G: (d_L, d_0). Returns [∇W_1, ..., ∇W_L]."""
    raise NotImplementedError  # your code here


check(factor_gradients, "factor_gradient")

# %% [markdown]
# 2. With depth 3, halve the step size. How do the fit steps change? Why?
# 3. Set ε = 0.1. Is there still a staircase? What about ε = 1e-3 (raise the steps)?
# 4. Find the largest step size at which depth 3 still converges in 3000 steps. How does it change with depth?
# 5. Make σ_2 and σ_3 close (`make_problem(..., singular_values=[8, 4.2, 4])`). What happens to the last two steps?
#
# <details><summary>Solutions</summary>
#
# 1. For each l, multiply the factors after l (transposed) on the left of G and the factors before l (transposed)
#    on the right; for $W_1$ the right product is empty, for $W_L$ the left one. `cdln_core.dln.factor_grads`
#    computes the same with fewer products. Extra check: compare with `torch.autograd` on
#    `0.5 * ((end_to_end(Ws) - Phi) ** 2).sum()`.
# 2. Every fit step roughly doubles: the dynamics depend on η·t only (gradient flow, time rescaled), as long as η is
#    small enough to be stable. The sentence under the live figure gives the new steps.
# 3. At ε = 0.1 the plateaus are short and overlap; at ε = 1e-3 (depth 3) the estimate grows 10× and the jumps get
#    sharper. Read the measured steps in "What to notice".
# 4. Raise η until the panel reports a divergence or the loss stops converging; the stable range shrinks with depth
#    because the curvature at the target grows like $L\,\sigma_1^{2-2/L}/d^2$.
# 5. Close singular values are learned at almost the same time: the plateau between them disappears, the escape
#    times being ∝ 1/σ_i.
# </details>

# %% [markdown]
# ### Solution of exercise 1, for after the class
#
# Uncomment to see that the kit's own closed form passes the same check.

# %%
# from cdln_core.dln import factor_grads
# check(factor_grads, "factor_gradient")

# %%
staircase_notice

# %%
depth_notice

# %% [markdown]
# ## Claims checked in this notebook
#
# The claims ledger's entries for this notebook, measured over several seeds.

# %%
# NBVAL_CHECK_OUTPUT
show_claims("01")

# %%
setup.done()
