# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 06 · Beyond linear: compressed layers in nonlinear networks
#
# **Prerequisites:** notebook 03 (the C-DLN); an MLP in PyTorch. **Time:** about 25 minutes in class. Computing it
# takes about 50 s of CPU at the defaults and about 15 s in quick mode (measured on this project's shared 2-core
# machine); the fair comparison it quotes is a run of ≈22 minutes of CPU made once (`benchmarks/bench_nonlinear.py`)
# and shipped with the kit.
#
# **Objectives.**
# 1. Replace the wide layer of an MLP by a **deep linear product** (overparameterized) or by a **C-DLN bottleneck** (compressed), as in [K] §6, and train all three on real data: **MNIST-1D**, 1-D signals of ten classes built offline by the `mnist1d` package, hard enough that the variants differ by points (on digits every variant sits at ≈0.96–0.98).
# 2. Read a **fair comparison**: every variant gets the same learning-rate grid, chosen on a validation split, early stopping on validation, five seeds, mean with a 95% interval — and check [K]'s claims against it.
# 3. See how the **updates of a nonlinear network** $\Delta W_l(t) = W_l(t) - W_l(0)$ spread over directions.
#
# **Key equations** ([K] §6). A wide layer $y = \phi(Wx + b)$ with $W\in\mathbb R^{d\times d}$ becomes
#
# $$\text{deep linear: } y = \phi(W_L\cdots W_1 x + b),\ W_l\in\mathbb R^{d\times d}\quad (L d^2 \text{ parameters}),$$
# $$\text{C-DLN: } y = \phi(\tilde W_L\cdots\tilde W_1 x + b),\ \tilde W_1\in\mathbb R^{\hat r\times d},\ \tilde W_l\in\mathbb R^{\hat r\times\hat r},\ \tilde W_L\in\mathbb R^{d\times\hat r}\quad (2d\hat r + (L-2)\hat r^2),$$
#
# with $\tilde W_1,\tilde W_L$ stepping at $\alpha\eta$ and the rest at $\eta$. Every factor starts at $\varepsilon\,O_l$ with $O_l$ Haar-orthogonal — and here $\varepsilon = 1$: a product of independent Haar-orthogonal matrices is Haar-orthogonal, so the deep linear layer starts *exactly like an orthogonally initialized ordinary layer*, and the C-DLN starts as a rank-$\hat r$ piece of one. (There is no surrogate to align with in a nonlinear network; the small $\varepsilon$ of the matrix problems would switch the layer off — exercise 1.) The low-rank measure is the effective rank $\exp\big(-\sum_i p_i\log p_i\big)$, $p_i = \sigma_i(\Delta W)/\sum_j\sigma_j(\Delta W)$.

# %%
from pathlib import Path

import numpy as np
import torch
from IPython.display import Markdown

import cdln_core
from cdln_core import cdln_n_params, claims
from cdln_core import nonlinear as nl
from cdln_core.lesson import Notice, preamble, predict
from cdln_core.nonlinear import report
from cdln_core.plots import nonlinear as nlplots
from cdln_core.widgets import bind, dropdown, live, race, slider

# %% tags=["parameters"]
INTERACTIVE = True  # False: plain plotly figures (papermill, static HTML, nbviewer)
QUICK = False  # True: smaller runs, the whole notebook in seconds
SEED = 0

# %%
setup = preamble(INTERACTIVE, QUICK, SEED, threads=None)  # nl.FitConfig sets its own threads
RESULTS = report.load(Path("../benchmarks/results_nonlinear.json"))  # the shipped full run (see its "command")
BEST = report.best_cdln(RESULTS)  # the C-DLN arm chosen on validation, never on test
ARM = {a["label"]: a for a in RESULTS["arms"]}
LR = {s["kind"]: s["lr"] for s in RESULTS["summary"] if s["kind"] != "cdln"} | {"cdln": BEST["lr"]}  # tuned η
WIDTH, DEPTH, RANK_HAT, ALPHA = 100, 3, ARM[BEST["arm"]]["rank_hat"], ARM[BEST["arm"]]["lr_ratio"]  # d, L, r̂, α
EPOCHS = 3 if QUICK else 15
data = nl.load_mnist1d(num_samples=3000 if QUICK else 20_000, seed=0)  # built offline, cached
PER_EPOCH = -(-len(data.y_train) // 64)  # mini-batches of 64 per epoch; one record per epoch
KINDS = {"plain": "plain", "deep linear": "dln", "C-DLN": "cdln"}  # display name → layer kind
CHANCE = float(np.bincount(data.y_test.numpy()).max() / len(data.y_test))  # the majority class's share
notices = {k: Notice(t) for k, t in [("fair", "The fair comparison (shipped run)"), ("live", "The live race"),
                                     ("updates", "Updates")]}
print(f"cdln_core {cdln_core.__version__}: MNIST-1D {data.sizes}, x of width {data.x_train.shape[1]}; "
      f"tuned η {LR}; C-DLN r̂ = {RANK_HAT}, α = {ALPHA}")
setup


# %%
def at_chance(acc: float) -> bool:
    """An accuracy no better than 1.25× the majority class: the run learned nothing, whatever else it shows."""
    return not acc > 1.25 * CHANCE


def acc_text(acc: float) -> str:
    return f"{acc:.3f}" + (" (**at chance**: it learned nothing)" if at_chance(acc) else "")


def fit_config(kind: str, epochs: int = EPOCHS, **kw) -> nl.FitConfig:
    """Adam at the η tuned for ``kind`` on validation, one record per epoch."""
    return nl.FitConfig(lr=LR[kind], optimizer="adam", epochs=epochs, record_every=PER_EPOCH, **kw)


# %% [markdown]
# ## 1 · Three ways to build one wide layer
#
# The MLP is 40 → d → ReLU → **[d → d]** → ReLU → 10 with d = 100; the bracketed layer is the one we swap. At
# initialization the plain and the deep-linear layer have the same distribution (an orthogonal matrix: d singular
# values equal to 1); the C-DLN passes only r̂ directions.

# %%
g = torch.Generator().manual_seed(SEED)
for name, kind in KINDS.items():
    layer = nl.make_layer(kind, WIDTH, WIDTH, depth=DEPTH, rank_hat=RANK_HAT, generator=g)
    E = layer.weight if kind == "plain" else layer.end_to_end()  # (d, d)
    s = torch.linalg.svdvals(E.detach())
    print(f"{name:12s} {nl.n_params(layer):9,d} parameters; E(0) has {int((s > 1e-4).sum()):4d} singular values, "
          f"all ≈ {s[0]:.3f}")
print(f"C-DLN count 2·d·r̂ + (L−2)·r̂² = {cdln_n_params(WIDTH, DEPTH, RANK_HAT):,} (+ {WIDTH} bias)")

# %% [markdown]
# ## 2 · The fair comparison
#
# One run of `benchmarks/bench_nonlinear.py`, shipped as `benchmarks/results_nonlinear.json`: every arm (plain, deep
# linear, and C-DLNs at several r̂ and α) got the same budget — one fit per learning rate of the same grid on a tuning
# seed, the best chosen on the **validation** split — then ran on five other seeds with early stopping on validation.
# The test accuracy is read at the epoch of best validation accuracy; a run that diverged or ended at chance is named,
# never averaged in.

# %%
predict("[K] found the deep-linear MLP 0.8 points more accurate than the plain one on FashionMNIST, and the C-DLN "
        "as accurate as the deep-linear one in under half its time. Which of the three will hold on MNIST-1D?")

# %%
def fixed_lr_lines(doc: dict) -> list[str]:
    """What one fixed η would have said: plain against deep linear on validation, per η of the tuning grid."""
    plain, deep = ({t["lr"]: t["val"] for t in doc["tuning"][a["arm"]]}
                   for a in (next(s for s in doc["summary"] if s["kind"] == k) for k in ("plain", "dln")))
    parts = [f"η = {lr:g}: deep linear {deep[lr]:.3f}, plain {plain[lr]:.3f}" for lr in plain]
    signs = {deep[lr] > plain[lr] for lr in plain}
    verdict = ("the leader changes with η: one fixed η would have decided the comparison" if len(signs) == 2
               else "the same leader at every η")
    return [f"At one fixed η, on the tuning seed's validation split: {'; '.join(parts)} — {verdict}."]


notices["fair"].update([f"**{v['id']}: {v['verdict']}.** {v['sentence']}" for v in report.verdicts(RESULTS)]
                       + fixed_lr_lines(RESULTS))
Markdown(report.table(RESULTS))

# %%
nlplots.accuracy_vs_time(
    {r["arm"]: [(x["seconds_per_epoch"], x["test"]) for x in RESULTS["rows"] if x["arm"] == r["arm"] and not x["flags"]]
     for r in RESULTS["summary"]},
    {r["arm"]: r["kind"] for r in RESULTS["summary"]},
    title="Test accuracy (early stopped) against seconds per epoch, one marker per seed (shipped run)")

# %% [markdown]
# ## 3 · Live: r̂, depth L, α and width
#
# Each change retrains the three MLPs (plain, then deep linear, then C-DLN) on one seed, each at its tuned η, and
# streams them into the figure. The message line compares the C-DLN with the deep linear network on the run you just
# made, and says when a run learned nothing. One seed: differences of a point are within the seed-to-seed spread
# (the table above has the intervals).

# %%
predict(f"r̂ = 4 with 10 classes: will the C-DLN still learn? And with r̂ = {WIDTH // 2}, how close does it get?")

# %%
race_fig = live(nlplots.accuracy_race({n: [] for n in KINDS}, KINDS), INTERACTIVE)


def race_lines(result) -> list[str]:
    """name → FitResult of one seed: what the run supports, chance runs named."""
    lines = [f"{n}: test accuracy {acc_text(r.val_best.test_accuracy)} at the best-validation epoch, "
             f"{r.seconds:.1f} s" for n, r in result.items()]
    gap = result["C-DLN"].val_best.test_accuracy - result["deep linear"].val_best.test_accuracy
    ratio = result["C-DLN"].seconds / result["deep linear"].seconds
    lines.append(f"C-DLN − deep linear: {100 * gap:+.1f} points, in {ratio:.2f}× its time (one seed).")
    return lines


def run_race(stream, width, depth, rank_hat, lr_ratio):
    alpha = {k: lr_ratio if k == "cdln" else 1.0 for k in KINDS.values()}  # α acts on the C-DLN only
    models = {n: nl.make_model("mlp", k, width=width, in_features=40, depth=depth, rank_hat=min(rank_hat, width),
                               lr_ratio=alpha[k], seed=SEED) for n, k in KINDS.items()}
    params = {n: nl.n_params(m) for n, m in models.items()}
    fits = {n: (lambda cb, n=n: nl.fit(models[n], data, fit_config(KINDS[n]), seed=SEED, callback=cb)) for n in KINDS}
    result = race(stream, fits, lambda runs, diverged: nlplots.accuracy_race(runs, KINDS, n_params=params),
                  metric="test_accuracy", higher_is_better=True)
    if result.diverged_step is not None:  # the panel says where; the notice must not keep the last run's words
        who = next(n for n, step in result.diverged.items() if step is not None)
        notices["live"].update([f"The {who} network diverged at step {result.diverged_step}: lower α."])
        return result
    lines = race_lines(result)
    notices["live"].update(lines)
    stream.warn(" · ".join(lines).replace("**", ""),
                "warning" if any(at_chance(r.test_accuracy) for r in result.values()) else "info")
    return result


race_panel = bind(
    {
        "width": slider("width d", WIDTH, 32, 512, 4),
        "depth": slider("depth L", DEPTH, 2, 6),
        "rank_hat": slider("r̂", RANK_HAT, 1, 100),
        "lr_ratio": slider("α", ALPHA, 0.25, 16.0, log=True),
    },
    run_race,
    [race_fig],
    interactive=INTERACTIVE,
    min_interval=2.0 if QUICK else 0.2,
)
race_panel

# %% [markdown]
# ## 4 · How the updates of a nonlinear network spread
#
# Train the plain MLP and record, every epoch, the singular values of $\Delta W_l(t) = W_l(t) - W_l(0)$ for its three
# weight matrices. The wide layer's update is a 100×100 matrix: count how many of its directions carry the change.

# %%
predict(f"of the {WIDTH} directions of the wide layer's update, how many hold 90% of its energy after Adam?")

# %%
upd = nl.fit(nl.make_model("mlp", "plain", width=WIDTH, in_features=40, seed=SEED), data,
             fit_config("plain", track=None), seed=SEED)
last = upd.records[-1]
lines = [f"{name}: ΔW with {len(s)} singular values has effective rank {last.update_effective_rank(name):.1f}; 90% of "
         f"‖ΔW‖² lies in {nl.energy_rank(s, 0.9)} directions." for name, s in last.update_sv.items()]
if at_chance(upd.test_accuracy):
    lines.append(f"**This run is at chance accuracy ({upd.test_accuracy:.3f})**: its update says nothing about learning.")
notices["updates"].update(lines)
nlplots.update_spectra(upd.records, list(last.update_sv),
                       labels={"inp": "input layer", "wide.0": "wide layer", "out": "output layer"})

# %% [markdown]
# Live: choose the kind of wide layer; the spectra stream in as training goes.

# %%
spec_fig = live(nlplots.update_spectra([], []), INTERACTIVE)


def run_updates(stream, kind):
    model = nl.make_model("mlp", KINDS[kind], width=WIDTH, in_features=40, depth=DEPTH, rank_hat=RANK_HAT,
                          lr_ratio=ALPHA if KINDS[kind] == "cdln" else 1.0, seed=SEED)
    names = list(nl.weight_matrices(model))
    res = nl.fit(model, data, fit_config(KINDS[kind], track=tuple(names)), seed=SEED,
                 callback=stream.recorder(lambda recs: nlplots.update_spectra(recs, names)))
    if at_chance(res.test_accuracy):
        stream.warn(f"This run is at chance accuracy ({res.test_accuracy:.3f}): its updates say nothing about "
                    "learning.")
    return res


updates_panel = bind(
    {"kind": dropdown("wide layer", list(KINDS), "C-DLN")},
    run_updates,
    [spec_fig],
    interactive=INTERACTIVE,
    min_interval=2.0 if QUICK else 0.2,
)
updates_panel

# %% [markdown]
# ## Exercises
#
# 1. Build the C-DLN with `init_scale=1e-2` (the ε of the matrix problems):
#    `m = nl.make_model("mlp", "cdln", width=WIDTH, in_features=40, rank_hat=RANK_HAT, init_scale=1e-2)`, train it
#    with `nl.fit(m, data, fit_config("cdln", lr_ratio=ALPHA), seed=SEED)` and pass the result's `test_accuracy` to
#    `acc_text`. What happens, and why?
# 2. Find the smallest r̂ at which the C-DLN gets within a point of the deep linear network (live panel, section 3;
#    then check it on three seeds). How does it compare with the number of directions holding 90% of the plain
#    network's update (section 4)?
# 3. For d = 4096, L = 3, r̂ = 32, how many times fewer multiply-adds per example does the C-DLN layer need than the
#    deep linear one? Than a plain layer? Why does the table of section 2 show no such saving at d = 100?
# 4. `nl.compare` is the protocol of section 2. Run it yourself on a small budget:
#    `rows, _ = nl.compare([nl.Arm("plain", "plain"), nl.Arm("C-DLN", "cdln", rank_hat=8)], data,
#    fit_config("plain", epochs=5), [1e-3, 3e-3], tune_seeds=[100], seeds=[0, 1, 2], width=WIDTH)` and read
#    `nl.summarize(rows)`. Which learning rate did each arm get, and from which split?
# 5. Trained with plain SGD, the output layer's update (10 × d) has only **9** nonzero singular values. Why exactly
#    9? Is that so for the Adam run of section 4 (read its output-layer spectrum)? Why not?
#
# <details><summary>Solutions</summary>
#
# 1. With ε = 10⁻², E(0) = ε³·(…) ≈ 10⁻⁶: the wide layer passes almost no signal, and the gradient of each factor
#    carries a factor ε^{L−1} = 10⁻⁴, so the network sits at a saddle for far longer than the budget; `acc_text` flags
#    the run as at chance if it stays there. In the matrix problems the small ε was harmless (even useful: it gives the
#    incremental, low-rank bias) because the loss acts on E directly; here the layers after the bottleneck see nothing.
# 2. The message line prints both accuracies at each r̂ you try; the shipped run (section 2) has the intervals for
#    r̂ = 10, 25 and 50. Compare with the 90%-energy count printed under "What to notice".
# 3. Deep linear: L·d² = 3·4096² ≈ 5.0·10⁷; C-DLN: 2·d·r̂ + (L−2)·r̂² = 262,144 + 1,024 ≈ 2.6·10⁵, about 190× fewer;
#    plain: d² ≈ 1.7·10⁷, about 64× fewer. At d = 100 the matrices are so small that a step's time is mostly the
#    fixed cost of each operation, and the C-DLN makes as many operations as the deep linear layer. The benchmark's
#    per-step table (README, beyond linear) shows it: the times at d = 100 are close, at d = 1000 the C-DLN's step is
#    about a tenth of the deep linear one.
# 4. Each arm's η is the grid value with the best mean validation accuracy on the tuning seed (`tune`); the test split
#    is read only for the reported accuracy, at the epoch chosen on validation.
# 5. The cross-entropy gradient with respect to the logits is p − y (softmax minus one-hot), whose entries sum to 0.
#    So every gradient of the output weight, (p − y)·hᵀ summed over a batch, has columns orthogonal to the all-ones
#    vector of ℝ¹⁰, and so does any sum of them (SGD, with or without momentum): ΔW lives in a 9-dimensional column
#    space. Adam divides each entry by its own running scale, which breaks the zero column sums: its update has 10
#    nonzero singular values (section 4's spectrum shows the 10th well above zero).
# </details>

# %% [markdown]
# ## What to notice
#
# Rendered from the runs above (the live block follows the sliders).

# %%
notices["fair"]

# %%
notices["live"]

# %%
notices["updates"]

# %% [markdown]
# - **Fair means the same budget.** A learning rate that suits one arm can flatter it (the last line of the first
#   block above says whether it did here). Tuning every arm on the same grid, on validation, removes that.
# - **Per step vs per second.** Per example the C-DLN does $O(d\hat r)$ work in the swapped layer against $O(Ld^2)$
#   for the deep linear layer, but at d = 100 the clock is dominated by the number of operations, not their size.
# - **MNIST-1D is small but not easy.** 4,000 test signals resolve about a point; the seed-to-seed spread is of the
#   same order, so the intervals, not single runs, decide.

# %% [markdown]
# ## Claims checked in this notebook

# %%
# NBVAL_CHECK_OUTPUT
wide = {name: nl.n_params(nl.make_model("mlp", kind, width=WIDTH, in_features=40, depth=DEPTH, rank_hat=RANK_HAT,
                                        seed=SEED).wide[0]) for name, kind in KINDS.items()}
assert wide["C-DLN"] == cdln_n_params(WIDTH, DEPTH, RANK_HAT) + WIDTH and wide["deep linear"] == DEPTH * WIDTH**2 + WIDTH
flops = {"plain": WIDTH**2, "deep linear": DEPTH * WIDTH**2, "C-DLN": cdln_n_params(WIDTH, DEPTH, RANK_HAT)}
print(f"MLP 40-{WIDTH}-[{WIDTH}×{WIDTH}]-10, L = {DEPTH}, C-DLN r̂ = {RANK_HAT}, α = {ALPHA}")
print(f"{'wide layer':12s} {'params':>9s} {'mult-adds/example':>18s}")
for n in KINDS:
    print(f"{n:12s} {wide[n]:9,d} {flops[n]:18,d}")
assert RESULTS["mode"] == "full" and not set(RESULTS["seeds"]) & set(RESULTS["tune_seeds"])
print(f"shipped run: seeds {RESULTS['seeds']}, tuned on {RESULTS['tune_seeds']} over η ∈ {RESULTS['lrs']}")
for v in report.verdicts(RESULTS):
    print(f"{v['id']}: {v['verdict']}")

# %% [markdown]
# The kit's claims ledger (`cdln claims --only …`), its entries for this notebook: the paper's number beside ours,
# per seed, on a smaller MNIST-1D in quick mode (one seed when `QUICK`, where a verdict may differ from the expected
# one).

# %%
# NBVAL_CHECK_OUTPUT
entries = claims.check(claims.for_notebook("06"), quick=True, seeds=1 if QUICK else None)
print(claims.table(entries))
assert QUICK or not claims.changed(entries), f"verdicts changed: {claims.changed(entries)}"

# %%
setup.done()
