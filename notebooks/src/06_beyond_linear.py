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
# **Prerequisites:** notebook 03 (the C-DLN); an MLP and a transformer block in PyTorch. **Time:** about 25 minutes in
# class. Computing it takes about 2.5 minutes of CPU at the defaults and 35 s in quick mode (measured on this project's
# 2-core machine; on that machine shared with other jobs the wall-clock times were 11 minutes and 2.5 minutes).
#
# **Objectives.**
# 1. Replace a wide layer of a nonlinear network by a **deep linear product** (overparameterized) or by a **C-DLN bottleneck** (compressed), as in [K] §6, and train all three on real data (scikit-learn's handwritten digits, shipped offline).
# 2. See the compressed network reach the deep-linear network's accuracy in a fraction of its training time, with a fraction of its parameters — per second, not per step.
# 3. See that the **updates of a nonlinear network are low-rank too**: $\Delta W_l(t) = W_l(t) - W_l(0)$ concentrates in a few directions, the fact that makes the compression possible.
#
# **Key equations** ([K] §6). A wide layer $y = \phi(Wx + b)$ with $W\in\mathbb R^{d\times d}$ becomes
#
# $$\text{deep linear: } y = \phi(W_L\cdots W_1 x + b),\ W_l\in\mathbb R^{d\times d}\quad (L d^2 \text{ parameters}),$$
# $$\text{C-DLN: } y = \phi(\tilde W_L\cdots\tilde W_1 x + b),\ \tilde W_1\in\mathbb R^{\hat r\times d},\ \tilde W_l\in\mathbb R^{\hat r\times\hat r},\ \tilde W_L\in\mathbb R^{d\times\hat r}\quad (2d\hat r + (L-2)\hat r^2),$$
#
# with $\tilde W_1,\tilde W_L$ stepping at $\alpha\eta$ and the rest at $\eta$. Every factor starts at $\varepsilon\,O_l$ with $O_l$ Haar-orthogonal — and here $\varepsilon = 1$: a product of independent Haar-orthogonal matrices is Haar-orthogonal, so the deep linear layer starts *exactly like an orthogonally initialized ordinary layer*, and the C-DLN starts as a rank-$\hat r$ piece of one. (There is no surrogate to align with in a nonlinear network; the small $\varepsilon$ of the matrix problems would switch the layer off — exercise 1.) The low-rank measure is the effective rank $\exp\big(-\sum_i p_i\log p_i\big)$, $p_i = \sigma_i(\Delta W)/\sum_j\sigma_j(\Delta W)$.

# %%
import numpy as np
import torch

import cdln_core
from cdln_core import cdln_n_params, claims
from cdln_core import nonlinear as nl
from cdln_core.lesson import Notice, preamble, predict
from cdln_core.lora import t_quantile
from cdln_core.plots import nonlinear as nlplots
from cdln_core.widgets import bind, dropdown, live, race, slider

# %% tags=["parameters"]
INTERACTIVE = True  # False: plain plotly figures (papermill, static HTML, nbviewer)
QUICK = False  # True: smaller runs, the whole notebook in well under a minute
SEED = 0

# %%
setup = preamble(INTERACTIVE, QUICK, SEED, threads=None)  # nl.FitConfig sets its own threads
WIDTH, DEPTH, RANK_HAT, ALPHA, LR = (256 if QUICK else 512), 3, 16, 2.0, 0.02  # d, L, r̂, α, η (SGD, momentum 0.9)
EPOCHS = 4 if QUICK else 20  # 22 mini-batches of 64 per epoch
SEEDS = [SEED] if QUICK else [SEED, SEED + 1, SEED + 2]
RECORD = 11  # steps between two test-set evaluations
KINDS = {"plain": "plain", "deep linear": "dln", "C-DLN": "cdln"}  # display name → layer kind
data = nl.load_digits(seed=SEED)  # 1347 train / 450 test images, 8×8 = 64 pixels, 10 classes
CHANCE = float(np.bincount(data.y_test.numpy()).max() / len(data.y_test))  # the majority class's share
notices = {k: Notice(t) for k, t in [("race", "The race on digits"), ("live", "The live race"),
                                     ("updates", "Low-rank updates"), ("vit", "The ViT")]}
print(f"cdln_core {cdln_core.__version__}: train {tuple(data.x_train.shape)}, test {tuple(data.x_test.shape)}")
setup


# %%
def at_chance(acc: float) -> bool:
    """An accuracy no better than 1.25× the majority class: the run learned nothing, whatever else it shows."""
    return not acc > 1.25 * CHANCE


def acc_text(acc: float) -> str:
    return f"{acc:.3f}" + (" (**at chance**: it learned nothing)" if at_chance(acc) else "")


def interval(values) -> str:
    """mean ± 95% t-interval over seeds (one seed: the value)."""
    v = np.asarray(values, dtype=float)
    if v.size < 2:
        return f"{v.mean():.3f} (one seed)"
    return f"{v.mean():.3f} ± {t_quantile(v.size - 1) * v.std(ddof=1) / np.sqrt(v.size):.3f}"


# %% [markdown]
# ## 1 · Three ways to build one wide layer
#
# The MLP is 64 → d → ReLU → **[d → d]** → ReLU → 10; the bracketed layer is the one we swap. At initialization the
# plain and the deep-linear layer have the same distribution (an orthogonal matrix: d singular values equal to 1); the
# C-DLN passes only r̂ directions.

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
# ## 2 · The race on digits: plain vs deep linear vs C-DLN
#
# Same data order, same non-wide layers (one seed draws them for all three), same optimizer; the deep linear layer
# steps with α = 1 (the overparameterized reference), the C-DLN with α = 2. Time is optimization only, one CPU thread
# (wall-clock seconds vary from run to run and machine to machine; the ratios are what to read). On 450 test images,
# one image is 0.0022 of accuracy.

# %%
predict("[K] found the deep-linear MLP slightly more accurate than the plain one on FashionMNIST (0.902 vs 0.894). "
        "Will 450 digits test images show that?")


# %%
def fit_config(arch: str, kind: str, lr_ratio: float, epochs: int) -> nl.FitConfig:
    adam = arch == "vit"
    return nl.FitConfig(lr=3e-3 if adam else LR, optimizer="adam" if adam else "sgd", epochs=epochs,
                        record_every=RECORD, lr_ratio=lr_ratio if kind == "cdln" else 1.0)


def train_variants(arch, seed, *, width, depth, rank_hat, lr_ratio, epochs, **model_kwargs):
    """Train the three variants of ``arch`` from one seed; returns name → FitResult."""
    out = {}
    for name, kind in KINDS.items():
        model = nl.make_model(arch, kind, width=width, depth=depth, rank_hat=rank_hat, seed=seed, **model_kwargs)
        out[name] = nl.fit(model, data, fit_config(arch, kind, lr_ratio, epochs), seed=seed)
    return out


def verdicts(results: dict) -> list[str]:
    """name → [FitResult over seeds]: the sentences the race supports, chance runs named, never averaged in."""
    lines, ok = [], {}
    for name, runs in results.items():
        accs = [r.test_accuracy for r in runs]
        bad = [i for i, a in enumerate(accs) if at_chance(a)]
        if bad:
            lines.append(f"**{name}: {len(bad)} of {len(accs)} run(s) at chance accuracy** (≤ {1.25 * CHANCE:.3f}): "
                         "left out below; try a larger α, r̂ or learning rate.")
        ok[name] = [a for a in accs if not at_chance(a)]
    sec = {n: np.mean([r.seconds for r in runs]) for n, runs in results.items()}
    for name in results:
        if ok[name]:
            ratio = "" if name == "deep linear" else f" ({sec[name] / sec['deep linear']:.2f}× the deep linear time)"
            lines.append(f"{name}: test accuracy {interval(ok[name])}, {sec[name]:.2f} s{ratio}.")
    if ok["plain"] and ok["deep linear"]:
        paired = [d.test_accuracy - p.test_accuracy for d, p in zip(results["deep linear"], results["plain"])
                  if not (at_chance(d.test_accuracy) or at_chance(p.test_accuracy))]
        gap = float(np.mean(paired))
        ci = t_quantile(len(paired) - 1) * np.std(paired, ddof=1) / np.sqrt(len(paired)) if len(paired) > 1 else None
        resolved = ci is not None and abs(gap) > ci
        lines.append(f"Deep linear minus plain: {gap:+.3f} ({gap * len(data.y_test):+.1f} test images"
                     + (f", 95% interval ±{ci:.3f} over {len(paired)} seeds" if ci is not None else ", one seed")
                     + "). [K]'s +0.008 on FashionMNIST: "
                     + ("reproduced in sign and resolved here." if resolved and gap > 0 else
                        "the opposite sign, resolved here." if resolved else
                        "not resolved by these runs (the gap is within the seed-to-seed noise, or one seed)."))
    if ok["C-DLN"] and ok["deep linear"]:
        drop = np.mean(ok["deep linear"]) - np.mean(ok["C-DLN"])
        lines.append(f"The C-DLN is {abs(drop):.3f} {'below' if drop > 0 else 'above'} the deep linear accuracy in "
                     f"{sec['C-DLN'] / sec['deep linear']:.0%} of its time"
                     + (": it keeps the accuracy at a fraction of the time." if drop < 0.01 else
                        ": it does **not** keep the deep linear accuracy here."))
    return lines


race_runs = {s: train_variants("mlp", s, width=WIDTH, depth=DEPTH, rank_hat=RANK_HAT, lr_ratio=ALPHA, epochs=EPOCHS)
             for s in SEEDS}
first = race_runs[SEEDS[0]]
notices["race"].update(verdicts({n: [race_runs[s][n] for s in SEEDS] for n in KINDS}))
nlplots.accuracy_race({n: r.records for n, r in first.items()}, KINDS, n_params={n: r.n_params for n, r in first.items()})

# %%
nlplots.accuracy_vs_time({n: [(race_runs[s][n].seconds, race_runs[s][n].test_accuracy) for s in SEEDS] for n in KINDS},
                         KINDS)

# %% [markdown]
# ## 3 · Live: r̂, depth L, α and width
#
# Each change retrains the three MLPs (plain, then deep linear, then C-DLN) and streams them into the figure. The
# message line compares the C-DLN with the deep linear network on the run you just made, and says when a run learned
# nothing.

# %%
predict("r̂ = 4 with 10 classes: will the C-DLN still learn? And at α = 32?")

# %%
race_fig = live(nlplots.accuracy_race({n: [] for n in KINDS}, KINDS), INTERACTIVE)


def run_race(stream, width, depth, rank_hat, lr_ratio):
    models = {n: nl.make_model("mlp", k, width=width, depth=depth, rank_hat=rank_hat, seed=SEED)
              for n, k in KINDS.items()}
    params = {n: nl.n_params(m) for n, m in models.items()}
    fits = {n: (lambda cb, n=n: nl.fit(models[n], data, fit_config("mlp", KINDS[n], lr_ratio, EPOCHS), seed=SEED,
                                       callback=cb)) for n in KINDS}
    result = race(stream, fits, lambda runs, diverged: nlplots.accuracy_race(runs, KINDS, n_params=params),
                  metric="test_accuracy", higher_is_better=True)
    if result.diverged_step is not None:  # the panel says where; the notice must not keep the last run's words
        who = next(n for n, step in result.diverged.items() if step is not None)
        notices["live"].update([f"The {who} network diverged at step {result.diverged_step}: lower α or η."])
        return result
    lines = verdicts({n: [r] for n, r in result.items()})
    notices["live"].update(lines)
    stream.warn(" · ".join(lines).replace("**", ""),
                "warning" if any(at_chance(r.test_accuracy) for r in result.values()) else "info")
    return result


race_panel = bind(
    {
        "width": slider("width d", WIDTH, 32, 1024, 32),
        "depth": slider("depth L", DEPTH, 2, 6),
        "rank_hat": slider("r̂", RANK_HAT, 1, 128),
        "lr_ratio": slider("α", ALPHA, 0.25, 64.0, log=True),
    },
    run_race,
    [race_fig],
    interactive=INTERACTIVE,
    min_interval=2.0 if QUICK else 0.2,
)
race_panel

# %% [markdown]
# ## 4 · The updates of a nonlinear network are low-rank
#
# Train the plain MLP and record, every few steps, the singular values of $\Delta W_l(t) = W_l(t) - W_l(0)$ for its
# three weight matrices. The wide layer's update is a d×d matrix; watch how few of its d directions carry the change.
# With the deep linear layer, every factor $W_1, W_2, W_3$ of the product shows the same.

# %%
predict(f"of the {WIDTH} directions of the wide layer's update, how many hold 90% of its energy?")

# %%
TRACK_EVERY = 22 if QUICK else 44
upd_model = nl.make_model("mlp", "plain", width=WIDTH, seed=SEED)
upd = nl.fit(upd_model, data, nl.FitConfig(lr=LR, epochs=EPOCHS, record_every=TRACK_EVERY, track=None), seed=SEED)
last = upd.records[-1]
lines = [f"{name}: ΔW with {len(s)} singular values has effective rank {last.update_effective_rank(name):.1f}; 90% of "
         f"‖ΔW‖² lies in {nl.energy_rank(s, 0.9)} directions." for name, s in last.update_sv.items()]
if at_chance(upd.test_accuracy):
    lines.append(f"**This run is at chance accuracy ({upd.test_accuracy:.3f})**: its update says nothing about learning.")
notices["updates"].update(lines)
nlplots.update_spectra(upd.records, list(last.update_sv),
                       labels={"inp": "input layer", "wide.0": "wide layer", "out": "output layer"})

# %% [markdown]
# Live: choose the kind of wide layer and the width; the spectra stream in as training goes.

# %%
spec_fig = live(nlplots.update_spectra([], []), INTERACTIVE)


def run_updates(stream, kind, width):
    model = nl.make_model("mlp", KINDS[kind], width=width, depth=DEPTH, rank_hat=RANK_HAT, seed=SEED)
    names = list(nl.weight_matrices(model))
    cfg = nl.FitConfig(lr=LR, epochs=EPOCHS, record_every=TRACK_EVERY, track=tuple(names),
                       lr_ratio=ALPHA if KINDS[kind] == "cdln" else 1.0)
    res = nl.fit(model, data, cfg, seed=SEED, callback=stream.recorder(lambda recs: nlplots.update_spectra(recs, names)))
    if at_chance(res.test_accuracy):
        stream.warn(f"This run is at chance accuracy ({res.test_accuracy:.3f}): its updates say nothing about "
                    "learning.")
    return res


updates_panel = bind(
    {"kind": dropdown("wide layer", list(KINDS), "deep linear"), "width": slider("width d", WIDTH, 32, 1024, 32)},
    run_updates,
    [spec_fig],
    interactive=INTERACTIVE,
    min_interval=2.0 if QUICK else 0.2,
)
updates_panel

# %% [markdown]
# ## 5 · The same swap in a small vision transformer
#
# Each 8×8 digit is cut into four 4×4 patches (tokens of width 64 after embedding); two pre-norm attention blocks
# follow, and the swapped layers are every block's MLP (64 → width → 64, four layers in all). Adam, η = 3·10⁻³, α = 2
# on the C-DLN. Attention and the other layers are untouched, so the C-DLN saves only on the MLPs.

# %%
predict("the C-DLN saves only on the MLPs here: how much of the deep linear ViT's time will it save?")

# %%
VIT = dict(dim=64, blocks=2, heads=4, patch=4)
vit = train_variants("vit", SEED, width=128 if QUICK else 256, depth=DEPTH, rank_hat=RANK_HAT, lr_ratio=ALPHA,
                     epochs=EPOCHS, **VIT)
notices["vit"].update([f"{name}: {r.n_params:,} parameters, accuracy {acc_text(r.test_accuracy)}, {r.seconds:.2f} s"
                       for name, r in vit.items()]
                      + ["One seed: a ViT's final accuracy moves by a point or more from seed to seed, so read the "
                         "times, not the ranking of the accuracies."])
nlplots.accuracy_race({n: r.records for n, r in vit.items()}, KINDS, n_params={n: r.n_params for n, r in vit.items()},
                      title="ViT on digits")

# %% [markdown]
# ## Exercises
#
# 1. Build the C-DLN with `init_scale=1e-2` (the ε of the matrix problems):
#    `m = nl.make_model("mlp", "cdln", width=256, rank_hat=16, init_scale=1e-2)`, train it with
#    `nl.fit(m, data, nl.FitConfig(lr=LR, epochs=EPOCHS, lr_ratio=ALPHA), seed=SEED)` and pass the result's
#    `test_accuracy` to `acc_text`. What happens, and why?
# 2. Find the smallest r̂ at which the C-DLN still reaches the plain network's accuracy (live panel, section 3). Relate
#    it to the number of classes and to the number of directions holding 90% of the plain network's update (section 4).
# 3. For d = 4096, L = 3, r̂ = 32, how many times fewer multiply-adds per example does the C-DLN layer need than the
#    deep linear one? Than a plain layer?
# 4. `nl.factorize` works on any torch model. Swap the attention projections `blocks.0.attn.proj` and
#    `blocks.1.attn.proj` of the ViT for C-DLN layers too. Does accuracy hold? (One seed cannot tell: use three.)
# 5. In section 4 the output layer's update (10 × d) has only **9** nonzero singular values, the 10th is ~10⁻⁶ of the
#    first. Why exactly 9?
#
# <details><summary>Solutions</summary>
#
# 1. With ε = 10⁻², E(0) = ε³·(…) ≈ 10⁻⁶: the wide layer passes almost no signal, and the gradient of each factor
#    carries a factor ε^{L−1} = 10⁻⁴, so the network sits at a saddle for far longer than the budget; `acc_text` flags
#    the run as at chance. In the matrix problems the small ε was harmless (even useful: it gives the incremental,
#    low-rank bias) because the loss acts on E directly; here the layers after the bottleneck see nothing.
# 2. The message line of the live panel prints the C-DLN's and the plain network's accuracy at each r̂ you try; the
#    bottleneck needs about as many directions as the wide layer actually moves in (the 90%-energy count of section
#    4, printed in "What to notice"), which is close to the number of classes.
# 3. Deep linear: L·d² = 3·4096² ≈ 5.0·10⁷; C-DLN: 2·d·r̂ + (L−2)·r̂² = 262,144 + 1,024 ≈ 2.6·10⁵, about 190× fewer;
#    plain: d² ≈ 1.7·10⁷, about 64× fewer.
# 4. `m = nl.make_model("vit", "cdln", width=256, rank_hat=16, **VIT); nl.factorize(m, ["blocks.0.attn.proj",
#    "blocks.1.attn.proj"], "cdln", depth=3, rank_hat=16, generator=torch.Generator().manual_seed(1))`, then
#    `nl.fit(m, data, fit_config("vit", "cdln", ALPHA, EPOCHS), seed=SEED)`. The projections are only 64×64, so the
#    saving is small; compare the accuracies over three seeds with `interval`.
# 5. The cross-entropy gradient with respect to the logits is p − y (softmax minus one-hot), whose entries sum to 0.
#    So every gradient of the output weight, (p − y)·hᵀ summed over a batch, has columns orthogonal to the all-ones
#    vector of ℝ¹⁰, and so does any sum of them (SGD with momentum only adds gradients): ΔW lives in a 9-dimensional
#    column space. A low-rank update forced by the loss itself.
# </details>

# %% [markdown]
# ## What to notice
#
# Rendered from the runs above (the live block follows the sliders).

# %%
notices["race"]

# %%
notices["live"]

# %%
notices["updates"]

# %%
notices["vit"]

# %% [markdown]
# - **Per step vs per second.** At initialization the C-DLN's bottleneck passes only r̂ directions, and it must find
#   the useful ones; each of its steps costs $O(d\hat r)$ per example in the swapped layer, against $O(Ld^2)$ for the
#   deep linear layer. The two panels of the race show both views; the blocks above give the measured times.
# - **Low-rank updates** are the nonlinear echo of the invariant subspace of notebook 02, and the reason a rank-r̂
#   bottleneck can lose little.
# - **Digits are small.** 450 test images resolve differences of about a point; [K]'s effect on FashionMNIST is
#   0.8 points. A run at chance accuracy is flagged everywhere above, never reported as an ordinary result.

# %% [markdown]
# ## Claims checked in this notebook

# %%
# NBVAL_CHECK_OUTPUT
wide = {name: nl.n_params(nl.make_model("mlp", kind, width=WIDTH, depth=DEPTH, rank_hat=RANK_HAT, seed=SEED).wide[0])
        for name, kind in KINDS.items()}
assert wide["C-DLN"] == cdln_n_params(WIDTH, DEPTH, RANK_HAT) + WIDTH and wide["deep linear"] == DEPTH * WIDTH**2 + WIDTH
assert wide["C-DLN"] < wide["deep linear"] / 10, "the C-DLN layer has under a tenth of the deep linear layer's parameters"
flops = {"plain": WIDTH**2, "deep linear": DEPTH * WIDTH**2, "C-DLN": cdln_n_params(WIDTH, DEPTH, RANK_HAT)}
accs = {n: [race_runs[s][n].test_accuracy for s in SEEDS] for n in KINDS}
chance = {n: sum(at_chance(a) for a in v) for n, v in accs.items()}
assert not any(chance.values()), f"no run of the race is at chance accuracy: {chance}"
acc = {n: float(np.mean(v)) for n, v in accs.items()}
BAR, GAP = (0.85, 0.05) if QUICK else (0.96, 0.015)
assert min(acc.values()) > BAR, f"every variant learns digits above {BAR}: {acc}"
assert acc["C-DLN"] >= acc["deep linear"] - GAP, f"the C-DLN keeps the deep linear accuracy (within {GAP}): {acc}"
s = upd.records[-1].update_sv["wide.0"]
erank, k90 = upd.records[-1].update_effective_rank("wide.0"), nl.energy_rank(s, 0.9)
assert erank < WIDTH / 8 and k90 < WIDTH / 10, f"the wide layer's update is low-rank: {erank:.1f}, {k90} of {WIDTH}"
print(f"digits, MLP 64-{WIDTH}-{WIDTH}-10, L = {DEPTH}, r̂ = {RANK_HAT}, {EPOCHS} epochs, seeds {SEEDS}")
print(f"{'wide layer':12s} {'params':>9s} {'mult-adds/example':>18s} {'test accuracy':>14s} {'at chance':>10s}")
for n in KINDS:
    print(f"{n:12s} {wide[n]:9,d} {flops[n]:18,d} {acc[n]:14.2f} {chance[n]:>7d}/{len(SEEDS)}")
gap = acc["deep linear"] - acc["plain"]
print(f"[K] FashionMNIST: deep linear − plain = +0.008; here {gap:+.3f} on {len(data.y_test)} test images "
      f"({gap * len(data.y_test):+.1f} images): {'the same sign' if gap > 0 else 'not the same sign'} (the ledger "
      "below counts the seeds on which it holds)")
print(f"update of the wide layer: effective rank < {WIDTH // 8}, 90% energy in < {WIDTH // 10} of {WIDTH} directions")

# %% [markdown]
# The kit's claims ledger (`cdln claims --only …`), its entries for this notebook: the paper's number beside ours,
# over the ledger's seeds (one seed in quick mode, where a verdict may differ from the expected one).

# %%
# NBVAL_CHECK_OUTPUT
entries = claims.check(claims.for_notebook("06"), quick=True, seeds=1 if QUICK else None)
print(claims.table(entries))
assert QUICK or not claims.changed(entries), f"verdicts changed: {claims.changed(entries)}"

# %%
setup.done()
