# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (cdln-kit)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 00 · A tour of cdln-kit
#
# **What this kit shows.** Deep *linear* networks trained by gradient descent from a small initialization learn in a
# **low-dimensional** way: they fit the target's singular values one at a time (incremental learning), and every layer
# only ever changes inside a 2r-dimensional subspace (the invariant subspace). That makes them **compressible**: a
# narrow network started in the right subspace learns the same thing in fewer, much cheaper steps. The kit reproduces
# the claims of two papers, with every figure computed live and every sentence about a figure measured from it:
#
# - **[K]** Kwon, Zhang, Song, Balzano, Qu, *Efficient Compression of Overparameterized Deep Models through
#   Low-Dimensional Learning Dynamics*, AISTATS 2024, [arXiv:2311.05061](https://arxiv.org/abs/2311.05061) — the
#   compressed DLN (C-DLN);
# - **[Y]** Yaras, Wang, Balzano, Qu, *Compressible Dynamics in Deep Overparameterized Low-Rank Learning &
#   Adaptation*, ICML 2024, [arXiv:2406.04112](https://arxiv.org/abs/2406.04112) — compressed completion, Deep LoRA;
#   and its predecessor *The Law of Parsimony in Gradient Descent for Learning Deep Linear Networks*,
#   [arXiv:2306.01154](https://arxiv.org/abs/2306.01154) — the invariant subspace.
#
# **Objectives of this tour.** Learn the notation, watch one run, and find your way through the series.
#
# **Prerequisites:** linear algebra (SVD, orthogonal matrices, projections), gradient descent, reading Python.
# **Time:** 10 minutes in class.
#
# ## The series, and a 60-minute core path
#
# | notebook | lesson | prerequisites | class time | core path (60 min) |
# |---|---|---|---|---|
# | `00_tour` | notation, one live run, this map | SVD, gradient descent | 10 min | all (5 min) |
# | `01_incremental_learning` | the staircase: values fitted one at a time, vectors aligning; depth 1 vs 2 vs 3 | 00 | 25 min | the live staircase and "depth side by side" (15 min) |
# | `02_invariant_subspace` | every factor moves in 2r directions; principal angles; ρ(t) and its recursion; completion | 01, principal angles | 25 min | the live panel, factorization only (10 min) |
# | `03_compressed_dln` | the C-DLN: spectral init, α, DLN vs C-DLN in iterations and seconds, [K]'s theorem | 02 | 25 min | the first comparison and the theorem check (15 min) |
# | `04_completion_and_sensing` | the three problems, depth and generalization, the α ablation, the Yaras compression with γ | 03 | 30 min | three problems, two networks (10 min) |
# | `05_deep_lora` | LoRA vs Deep LoRA: few-shot overfitting, rank robustness, the rank of the updates | 01, 03 | 25 min | homework |
# | `06_beyond_linear` | C-DLN layers inside an MLP and a small vision transformer on digits | 03 | 25 min | homework (5 min of results) |
# | `07_research_sweeps` | sweeps over seeds with one command: the α ablation, depth × ε | 01, 03 | 15 min | homework |
#
# **Core path:** 00 → 01 → 02 → 03 → 04, the sections named in the last column (55 minutes, 5 to spare).
# **Homework:** every notebook's exercises (the write-the-code ones in 01 and 02 check themselves), the completion
# half of 02, the α ablation and the Yaras compression in 04, and notebooks 05–07. Class times are planned; compute
# times are measured: each notebook's last cell prints its own (`computed in … s, … s of CPU`), and on the project's
# 2-core CPU notebooks 00, 01 and 02 took 18, 17 and 17 s of CPU at the defaults (their claims cells, which run
# the claims ledger, `cdln claims`, in its quick mode, included; wall-clock time adds ≥ 1.5 s per live run, which
# is paced so a class sees it unfold).
#
# ## Notation (used everywhere: code, docstrings, notebooks)
#
# | symbol | code name | meaning |
# |---|---|---|
# | d | `width` | width of the square layers and size of the target |
# | L | `depth` | number of factor matrices |
# | r | `rank` | rank of the target Φ |
# | r̂ | `rank_hat` | width of the compressed network (default 2r) |
# | ε | `init_scale` | scale of the orthogonal initialization |
# | η | `lr` | step size of gradient descent (η' = η/d² on the unnormalized loss) |
# | α | `lr_ratio` | the first and last factor step with αη |
# | p, m | `observed`, `measurements` | observed fraction (completion), number of measurements (sensing) |
# | $W_1,\dots,W_L$ | `Ws` | factors in application order |
# | $E=W_L\cdots W_1$ | `end_to_end(Ws)` | the end-to-end matrix |
#
# **Key equation.** Everything is gradient descent on a loss of the end-to-end matrix, here deep matrix factorization:
#
# $$\min_{W_1,\dots,W_L}\ \tfrac12\,\operatorname{mean}_{ij}\big(W_L\cdots W_1-\Phi\big)_{ij}^2,\qquad W_l(0)=\varepsilon\,O_l .$$

# %%
from cdln_core import TrainConfig, make_network, make_problem, plots, spectra, train
from cdln_core.lesson import Notice, preamble, predict, sci, show_claims
from cdln_core.widgets import bind, live, slider

# %% tags=["parameters"]
INTERACTIVE = True  # False: plain plotly figures (papermill, static HTML, nbviewer)
QUICK = False  # True: smaller runs, the whole notebook in well under 30 s
SEED = 0

# %%
setup = preamble(INTERACTIVE, QUICK, SEED)
D, R, L, EPS, LR = 20, 3, 3, 1e-2, 10.0  # width, rank, depth, init scale, step size
MAX_STEPS = 8000 if QUICK else 20000  # the most steps a live run may take
setup


# %% [markdown]
# ## One-minute demo: watch a deep network learn one direction at a time
#
# A rank-3 target of width 20 and a deep linear network. Dotted lines: the target's singular values; solid: the
# network's. A deeper network waits longer on each plateau (about $\varepsilon^{2-L}/((L-2)\,\eta'\sigma_i)$ steps for
# $L\ge3$), so each run gets twice the steps that estimate predicts for its smallest σ, up to 20 000.

# %%
def budget(depth, init_scale, lr, sigma):
    """Steps for a run: twice the estimated plateau of the smallest σ, rounded, in [300, MAX_STEPS]."""
    t = 2 * float(spectra.escape_time(sigma, depth, init_scale, lr / D**2).max())
    return int(min(MAX_STEPS, max(300, round(t, -2))))


def run_demo(stream, depth, init_scale, lr):
    problem = make_problem("factorization", D, R, seed=SEED)
    net = make_network("dln", problem, depth, init_scale=init_scale, seed=SEED)
    sigma = problem.sigma.numpy()
    steps = budget(depth, init_scale, lr, sigma)
    draw = lambda records, diverged=None: plots.staircase(records, sigma, diverged_step=diverged)
    config = TrainConfig(lr=lr, steps=steps, record_every=setup.record_every(steps), tol=1e-12)
    traj = train(problem, net, config, callback=stream.recorder(draw, total=config.steps))
    stream.show(lambda: draw(traj.records, traj.diverged_step), final=True)
    notice.update(demo_sentences(traj, sigma, depth, init_scale, lr, steps))
    return traj


def demo_sentences(traj, sigma, depth, init_scale, lr, steps):
    """What the figure shows, measured from the run on screen."""
    if traj.diverged_step is not None:
        return [f"The run diverged at step {traj.diverged_step}: η = {lr:g} is too large for depth {depth} at "
                f"ε = {init_scale:.2g}; the panel says so and the plot stops there instead of drawing garbage."]
    fits = spectra.fit_steps(traj.steps, traj.column("e2e_singular_values"), sigma)
    err = traj.recovery_error[-1]
    estimate = spectra.escape_time(sigma, depth, init_scale, lr / D**2)
    if fits[0] is None:
        return [f"At depth {depth} and ε = {init_scale:.2g} the network learned nothing in {steps} steps: E is still on "
                f"its first plateau (recovery error {err:.2f}). The estimated plateau is {sci(estimate[0])} steps, "
                f"growing like ε^(2−L): raise ε or lower the depth."]
    out = []
    if None in fits:
        out.append(f"Only {sum(f is not None for f in fits)} of the {len(sigma)} singular values reached half their "
                   f"target in {steps} steps (recovery error {err:.2g}).")
    elif len(set(fits)) == 1:
        out.append(f"All {len(sigma)} singular values were half-fitted at the same recorded step ({fits[0]}): "
                   "no staircase" + (" — at depth 1 every direction is fitted at the same rate." if depth == 1 else
                                     " at this resolution: the plateaus are shorter than one record."))
    else:
        order = "largest first" if fits == sorted(fits) else "not in order of size"
        apart = "one at a time" if len(set(fits)) == len(fits) else "some together, at the same recorded step"
        out.append(f"The singular values of E reached half their targets at steps {', '.join(map(str, fits))}: "
                   f"{apart}, {order}.")
    out.append(f"σ_1 was half-fitted at step {fits[0]}; the gradient-flow estimate of that step for depth {depth} at "
               f"ε = {init_scale:.2g} is {sci(estimate[0])}.")
    return out


sigma = make_problem("factorization", D, R, seed=SEED).sigma.numpy()
notice = Notice("What the demo shows")
predict("at depth 3, which of the three target values does the network fit first, and does it fit them together?")

# %%
demo_fig = live(plots.staircase([], sigma), INTERACTIVE)
demo_panel = bind(
    {
        "depth": slider("depth L", L, 1, 5),
        "init_scale": slider("init scale ε", EPS, 1e-3, 0.3, log=True, step=0.25),
        "lr": slider("step size η", LR, 1.0, 60.0, log=True, step=0.05),
    },
    run_demo,
    [demo_fig],
    **setup.live,
)
demo_panel

# %% [markdown]
# Try depth 1 (no staircase); depth 4 at ε = 0.01 (its plateau outlasts the 20 000-step budget: the panel says so),
# then at ε = 0.03 (a long wait, then a staircase); and a step size that is too large (the run diverges and says so).

# %% [markdown]
# ## Exercises
#
# 1. What is the smallest depth with a staircase? Why?
# 2. At depth 3, raise η until the run diverges. What does the notebook show?
# 3. At ε = 0.03, how much longer is the first plateau at depth 4 than at depth 3? Compare with the estimate
#    $\varepsilon^{2-L}/((L-2)\eta'\sigma_1)$.
#
# <details><summary>Solutions</summary>
#
# 1. Depth 2: at depth 1 gradient descent on a linear model fits every singular value at the same rate, (1 − η')ᵗ;
#    from depth 2 on, the growth rate of each singular value depends on its own size, so larger targets escape
#    first. Whether the steps are visibly apart at depth 2 depends on how far apart the σ_i are (read it off the
#    sentence below the figure).
# 2. A message "Diverged at step …" and a red marker on the plot: the run stops as soon as the loss blows up.
# 3. The estimate grows by a factor 1/(2ε) from L = 3 to L = 4 (≈17× at ε = 0.03); the sentence below the figure
#    gives the measured step and the estimate side by side.
# </details>

# %%
notice

# %% [markdown]
# ## Glossary
#
# - **Haar (random orthogonal matrix):** drawn from the uniform distribution on orthogonal matrices (the QR of a
#   Gaussian matrix with signs fixed); the target's U, V and the factors' $O_l$ are Haar.
# - **Surrogate:** a matrix computable from the data whose singular vectors approximate the target's (Φ itself in
#   factorization, $P_\Omega(\Phi)/p$ in completion, $\tfrac1m\sum_i y_iA_i$ in sensing); the C-DLN starts from it.
# - **Balanced:** factors with $W_{l+1}^\top W_{l+1} = W_lW_l^\top$; a small orthogonal init is (nearly) balanced,
#   and gradient descent keeps it so.
# - **Effective rank:** $\exp(-\sum_i p_i\log p_i)$ with $p_i = \sigma_i/\sum_j\sigma_j$: how many directions a
#   matrix really uses.
# - **Plateau / saddle:** a stretch of steps where the loss barely moves because the iterate sits near a saddle point
#   of the loss (at init, near E = 0); each jump of the staircase is an escape from one saddle to the next.
# - **Whitened data:** inputs with identity covariance; a linear regression on them is matrix factorization, which is
#   why the exact invariance results of 02 cover it.
#
# ## References
#
# - [K] S. M. Kwon, Z. Zhang, D. Song, L. Balzano, Q. Qu. AISTATS 2024. [arXiv:2311.05061](https://arxiv.org/abs/2311.05061)
# - [Y] C. Yaras, P. Wang, L. Balzano, Q. Qu. ICML 2024. [arXiv:2406.04112](https://arxiv.org/abs/2406.04112)
# - C. Yaras, P. Wang, W. Hu, Z. Zhu, L. Balzano, Q. Qu. *The Law of Parsimony in Gradient Descent for Learning Deep
#   Linear Networks.* [arXiv:2306.01154](https://arxiv.org/abs/2306.01154)
# - A. M. Saxe, J. L. McClelland, S. Ganguli. *Exact solutions to the nonlinear dynamics of learning in deep linear
#   neural networks.* ICLR 2014. [arXiv:1312.6120](https://arxiv.org/abs/1312.6120)
# - S. Arora, N. Cohen, W. Hu, Y. Luo. *Implicit Regularization in Deep Matrix Factorization.* NeurIPS 2019.
#   [arXiv:1905.13655](https://arxiv.org/abs/1905.13655)
# - G. Gidel, F. Bach, S. Lacoste-Julien. *Implicit Regularization of Discrete Gradient Dynamics in Linear Neural
#   Networks.* NeurIPS 2019. [arXiv:1904.13262](https://arxiv.org/abs/1904.13262)
# - Z. Li, Y. Luo, K. Lyu. *Towards Resolving the Implicit Bias of Gradient Descent for Matrix Factorization: Greedy
#   Low-Rank Learning.* ICLR 2021. [arXiv:2012.09839](https://arxiv.org/abs/2012.09839)
# - E. J. Hu et al. *LoRA: Low-Rank Adaptation of Large Language Models.* ICLR 2022.
#   [arXiv:2106.09685](https://arxiv.org/abs/2106.09685)
#
# ## Claims checked in this notebook
#
# The entries of the kit's claims ledger that this notebook states, measured over several seeds (`cdln claims --only …`
# prints the same table).

# %%
# NBVAL_CHECK_OUTPUT
show_claims("00")

# %%
setup.done()
