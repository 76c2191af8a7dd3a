"""Few-shot text tasks on a real pretrained transformer: MiniLM adapted to VADER's human-rated movie snippets.

The pretrained network is all-MiniLM-L6-v2 (``cdln_core.lora.bert``); the data are 10,605 movie-review snippets
rated by humans for sentiment, each with its mean valence in [−4, 4] (Hutto & Gilbert, ICWSM 2014; fetched once by
``python -m cdln_core.lora.data fetch``). Two targets:

- ``"valence"``: regress the mean valence (½·mean squared error), the analogue of STS-B's similarity score
  on which [Y] §5 reports its few-shot claims;
- ``"sign"``: positive against negative (cross-entropy; the 37 snippets at valence 0 are left out), balanced.

``text_task(n, seed=…)`` builds a ``Task``: the model is MiniLM's encoder, mean pooling (L2-normalized, as
sentence-transformers embeds) and a frozen linear head fitted on the frozen embeddings of the n training snippets
along one direction (``centroid_head``: it cannot interpolate them, so the adapters, on the encoder's attention
projections ``LAYERS``, have something to fit). ``baseline`` is the usual frozen-encoder baseline beside it: ridge
or L2 logistic regression on the embeddings, its strength chosen on validation. Inputs are token ids (N, T),
padded with 0.

Splits (``split``), all from named streams of ``cdln_core.seeds``: the test set from (seed, "test"), then the
validation set from (seed, "validation") among the rest, then the n training snippets from (seed, "data", n)
among what is left; so one seed has one test and one validation set for every n, and no snippet is in two.

Reference: [Y] Yaras et al., ICML 2024 (arXiv 2406.04112), §5; Hutto & Gilbert, ICWSM 2014.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.utils import skip_init

from ..checks import check_choice, check_int
from ..seeds import check_seed, numpy_rng
from ..threads import use
from .bert import BertEncoder, Tokenizer, attention_bias, load_encoder, mean_pool
from .tasks import Task

__all__ = ["TARGETS", "LAYERS", "SentenceModel", "load_snippets", "split", "baseline_head", "centroid_head", "baseline",
           "text_task"]

TARGETS = ("valence", "sign")
LAYERS = ("query", "value")  # the attention projections LoRA adapts by default (Hu et al., §4.2)
_REGULARIZATION = (1e-4, 1e-3, 1e-2, 1e-1)  # the head's L2 strengths λ, chosen on validation


class SentenceModel(nn.Module):
    """X → MiniLM's layers from ``start`` on → mean pooling (B, h) → head (B, k), k = 1 (valence) or 2 (sign).

    start = 0: X is token ids (B, T), [PAD] = 0. start > 0: X is the frozen hidden states (B, T, h) entering layer
    ``start`` (``BertEncoder.hidden``), zero at padded tokens; the layers below are frozen, so computing them once
    per snippet changes no number and saves their cost at every step."""

    def __init__(self, encoder: BertEncoder, head: nn.Linear, start: int = 0):
        super().__init__()
        self.start = check_int("start", start, 0, len(encoder.encoder.layer) - 1)
        self.embeddings = encoder.embeddings if start == 0 else None
        self.layers = nn.ModuleList(list(encoder.encoder.layer)[start:])
        self.head = head

    def forward(self, X: Tensor) -> Tensor:
        if self.start == 0:
            mask, x = X != 0, self.embeddings(X)  # (B, T), (B, T, h)
        else:
            mask, x = (X != 0).any(-1), X
        bias = attention_bias(mask, x.dtype)  # (B, 1, 1, T)
        for layer in self.layers:
            x = layer(x, bias)
        return self.head(mean_pool(x, mask))  # (B, k)


@functools.lru_cache(maxsize=1)
def load_snippets() -> tuple[tuple[str, ...], np.ndarray]:
    """The 10,605 movie snippets and their mean human valence in [−4, 4] (float64, shape (10605,))."""
    from .data import snippets_path  # here, so that ``python -m cdln_core.lora.data`` runs a module not yet imported

    texts, valence = [], []
    for line in snippets_path().read_text(encoding="utf-8").splitlines():
        if line.strip():
            _, v, text = line.split("\t", 2)
            texts.append(text.strip())
            valence.append(float(v))
    return tuple(texts), np.asarray(valence)


def _draw(rng: np.random.Generator, pool: np.ndarray, k: int, labels: np.ndarray | None, what: str) -> np.ndarray:
    """k indices of ``pool`` without replacement; balanced over the two labels when ``labels`` is given."""
    if labels is None:
        if k > len(pool):
            raise ValueError(f"{what} must be at most {len(pool)} here, got {k}")
        return rng.permutation(pool)[:k]
    if k % 2:
        raise ValueError(f"{what} must be even for target 'sign' (balanced classes), got {k}")
    parts = []
    for c in (0, 1):
        members = pool[labels[pool] == c]
        if k // 2 > len(members):
            raise ValueError(f"{what} must be at most {2 * len(members)} here, got {k}")
        parts.append(rng.permutation(members)[: k // 2])
    return np.sort(np.concatenate(parts))


def split(n: int, *, seed: int, target: str = "valence", n_val: int = 64, n_test: int = 400) -> dict[str, np.ndarray]:
    """Indices into ``load_snippets()``: "train" (n), "val" (n_val), "test" (n_test), disjoint, deterministic in
    ``seed`` (the test and validation sets do not depend on n). For "sign" every set is balanced."""
    seed = check_seed(seed)
    check_choice("target", target, TARGETS)
    check_int("n", n, 1, 4096)
    check_int("n_val", n_val, 2, 2048)
    check_int("n_test", n_test, 2, 4096)
    _, valence = load_snippets()
    labels = None if target == "valence" else (valence > 0).astype(int)
    pool = np.arange(len(valence)) if target == "valence" else np.flatnonzero(valence != 0)
    test = _draw(numpy_rng(seed, "test"), pool, n_test, labels, "n_test")
    pool = np.setdiff1d(pool, test)
    val = _draw(numpy_rng(seed, "validation"), pool, n_val, labels, "n_val")
    pool = np.setdiff1d(pool, val)
    return {"train": _draw(numpy_rng(seed, "data", n), pool, n, labels, "n"), "val": val, "test": test}


def _ridge(Z: Tensor, y: Tensor, lam: float) -> nn.Linear:
    """Ridge regression y ≈ Z·w + b on features Z (N, h), y (N,), ‖w‖² weighted by λ·N (b not penalized)."""
    N, h = Z.shape
    mu_z, mu_y = Z.mean(0), y.mean()
    Zc = (Z - mu_z).double()
    w = torch.linalg.solve(Zc.T @ Zc + lam * N * torch.eye(h, dtype=torch.float64), Zc.T @ (y - mu_y).double())
    head = skip_init(nn.Linear, h, 1)  # no draw from the global generator: every weight is set below
    with torch.no_grad():
        head.weight.copy_(w.float()[None])
        head.bias.copy_(mu_y - mu_z @ w.float())
    return head.requires_grad_(False)


def _logistic(Z: Tensor, y: Tensor, lam: float) -> nn.Linear:
    """L2 logistic regression, two logits ±t/2, mean cross-entropy + λ/2·‖w‖², by L-BFGS from zero (deterministic)."""
    h, X = Z.shape[1], Z
    w, b = torch.zeros(X.shape[1], requires_grad=True), torch.zeros((), requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=200, tolerance_grad=1e-9, line_search_fn="strong_wolfe")
    sign = torch.tensor([-0.5, 0.5])

    def closure():
        opt.zero_grad()
        loss = nn.functional.cross_entropy((X @ w + b)[:, None] * sign, y) + 0.5 * lam * (w**2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    head = skip_init(nn.Linear, h, 2)  # no draw from the global generator: every weight is set below
    with torch.no_grad():
        head.weight.copy_(sign[:, None] * w.detach())
        head.bias.copy_(sign * b.detach())
    return head.requires_grad_(False)


def baseline_head(Z: Tensor, y: Tensor, Zv: Tensor, yv: Tensor, target: str) -> tuple[nn.Linear, float]:
    """The frozen-encoder baseline: a linear head on embeddings Z (N, h) → y (ridge, or L2 logistic regression),
    its L2 strength λ chosen among ``_REGULARIZATION`` by the validation loss on (Zv, yv). Returns (head, λ)."""
    check_choice("target", target, TARGETS)
    best = None
    for lam in _REGULARIZATION:
        head = _ridge(Z, y, lam) if target == "valence" else _logistic(Z, y, lam)
        with torch.no_grad():
            loss = float(0.5 * ((head(Zv).squeeze(1) - yv) ** 2).mean() if target == "valence"
                         else nn.functional.cross_entropy(head(Zv), yv))
        if best is None or loss < best[0]:
            best = (loss, head, lam)
    return best[1], best[2]


def centroid_head(Z: Tensor, y: Tensor, target: str) -> nn.Linear:
    """The head the adapters fine-tune under: one direction u of the embedding space, fitted along it only.

    u = Σ_i (y_i − ȳ)·(z_i − z̄) (the limit of ridge regression at strong regularization; for "sign" the
    difference of the class means), then the score a·(z·u) + b by least squares (valence) or a 1-D linear
    discriminant (sign). Unlike the baseline it cannot interpolate the n training snippets, so fine-tuning the
    encoder has something to fit; Z (N, h), y (N,)."""
    check_choice("target", target, TARGETS)
    yc = y.float() - y.float().mean()
    u = nn.functional.normalize((Z - Z.mean(0)).T @ yc, dim=0)  # (h,)
    s = Z @ u  # (N,)
    if target == "sign":  # 1-D linear discriminant: logit = (m₁ − m₀)/σ²·(s − (m₁ + m₀)/2), σ² pooled
        m0, m1 = s[y == 0].mean(), s[y == 1].mean()
        var = float(torch.cat([s[y == 0] - m0, s[y == 1] - m1]).pow(2).mean()) + 1e-6
        a, c = float(m1 - m0) / var, float(m0 + m1) / 2
        head = skip_init(nn.Linear, Z.shape[1], 2)  # no draw from the global generator: every weight is set below
        with torch.no_grad():
            head.weight.copy_(torch.tensor([-0.5, 0.5])[:, None] * a * u[None])
            head.bias.copy_(torch.tensor([0.5, -0.5]) * a * c)
        return head.requires_grad_(False)
    sc = s - s.mean()
    a = float(sc @ yc) / max(float(sc @ sc), 1e-12)
    head = skip_init(nn.Linear, Z.shape[1], 1)  # no draw from the global generator: every weight is set below
    with torch.no_grad():
        head.weight.copy_(a * u[None])
        head.bias.fill_(float(y.float().mean()) - a * float(s.mean()))
    return head.requires_grad_(False)


@functools.lru_cache(maxsize=1)
def _encoder() -> BertEncoder:
    return load_encoder()


@functools.lru_cache(maxsize=4)
def _ids(max_len: int) -> Tensor:
    texts, _ = load_snippets()
    return Tokenizer(max_len)(list(texts))  # (10605, T)


_EMBEDDED: dict[tuple[int, int], Tensor] = {}  # (max_len, snippet) → frozen embedding (h,): baselines reuse them


def _embeddings(idx: np.ndarray, max_len: int) -> Tensor:
    """Frozen embeddings (len(idx), h) of the snippets ``idx`` (computed 64 at a time, then kept)."""
    todo = [int(i) for i in dict.fromkeys(idx.tolist()) if (max_len, int(i)) not in _EMBEDDED]
    ids = _ids(max_len)
    with torch.no_grad():
        for j in range(0, len(todo), 64):
            chunk = ids[torch.as_tensor(todo[j : j + 64])]
            for i, z in zip(todo[j : j + 64], mean_pool(_encoder()(chunk), chunk != 0)):
                _EMBEDDED[max_len, i] = z
    return torch.stack([_EMBEDDED[max_len, int(i)] for i in idx]) if len(idx) else torch.zeros(0, 384)


def _hidden(idx: np.ndarray, max_len: int, start: int) -> Tensor:
    """Frozen hidden states (len(idx), T, h) entering layer ``start``, 64 snippets at a time."""
    ids = _ids(max_len)[torch.as_tensor(idx)]
    with torch.no_grad():
        return torch.cat([_encoder().hidden(ids[i : i + 64], start) for i in range(0, len(ids), 64)])


def text_task(n: int, *, seed: int, target: str = "valence", max_len: int = 32, n_val: int = 64, n_test: int = 400,
              layers: tuple[str, ...] = LAYERS, adapt_layers: int = 2) -> Task:
    """MiniLM + a frozen head fitted on the frozen embeddings of ``n`` snippets (``centroid_head``), to be adapted on
    the attention projections ``layers`` (of "query", "key", "value") of its top ``adapt_layers`` layers (1–6).

    X: token ids (N, T), T = ``max_len``, when all 6 layers are adapted; else the frozen hidden states (N, T, h)
    entering the first adapted layer (see ``SentenceModel``). Y: valence (N, 1) float32, or labels (N,) long.
    Validation and test sets as ``split``."""
    target = check_choice("target", target, TARGETS)
    check_int("max_len", max_len, 3, 512)
    if isinstance(layers, str) or not layers or any(x not in ("query", "key", "value") for x in layers):
        raise ValueError(f"layers must be a non-empty tuple of 'query', 'key', 'value', got {layers!r}")
    depth = len(_encoder().encoder.layer)
    start = depth - check_int("adapt_layers", adapt_layers, 1, depth)
    parts = split(n, seed=seed, target=target, n_val=n_val, n_test=n_test)
    _, valence = load_snippets()

    def xy(key: str) -> tuple[Tensor, Tensor]:
        idx = parts[key]
        v = torch.as_tensor(valence[idx], dtype=torch.float32)
        X = _ids(max_len)[torch.as_tensor(idx)] if start == 0 else _hidden(idx, max_len, start)
        return X, v[:, None] if target == "valence" else (v > 0).long()

    with use(1):
        (X, Y), (Xv, Yv), (Xt, Yt) = xy("train"), xy("val"), xy("test")
        Z = _embeddings(parts["train"], max_len)  # (N, h)
    head = centroid_head(Z, Y.squeeze(1) if target == "valence" else Y, target)
    model = SentenceModel(_encoder(), head, start).requires_grad_(False)
    names = tuple(f"layers.{i}.attention.self.{x}" for i in range(len(model.layers)) for x in layers)
    return Task(name=f"minilm_{target}", model=model, X_train=X, Y_train=Y, X_test=Xt, Y_test=Yt,
                loss="mse" if target == "valence" else "ce", targets=names, X_val=Xv, Y_val=Yv,
                info={"target": target, "n": n, "seed": seed, "max_len": max_len, "adapt_layers": depth - start})


def baseline(n: int, *, seed: int, target: str = "sign", max_len: int = 32, n_val: int = 64,
             n_test: int = 400) -> dict[str, float]:
    """The frozen encoder with a fitted head, on the split of ``text_task(n, seed=seed, ...)``: test loss (and
    accuracy for "sign") of the baseline (``baseline_head``, λ chosen on validation) and of the centroid head the
    adapters start from. Keys: loss, accuracy, l2, centroid_loss, centroid_accuracy (accuracies NaN for valence)."""
    target = check_choice("target", target, TARGETS)
    check_int("max_len", max_len, 3, 512)
    parts = split(n, seed=seed, target=target, n_val=n_val, n_test=n_test)
    _, valence = load_snippets()
    with use(1):
        Z, Zv, Zt = (_embeddings(parts[k], max_len) for k in ("train", "val", "test"))
    y, yv, yt = (torch.as_tensor(valence[parts[k]], dtype=torch.float32) for k in ("train", "val", "test"))
    if target == "sign":
        y, yv, yt = (y > 0).long(), (yv > 0).long(), (yt > 0).long()
    head, lam = baseline_head(Z, y, Zv, yv, target)
    out = {"l2": lam}
    for name, h in (("", head), ("centroid_", centroid_head(Z, y, target))):
        with torch.no_grad():
            o = h(Zt)
        if target == "valence":
            out[name + "loss"], out[name + "accuracy"] = float(0.5 * ((o.squeeze(1) - yt) ** 2).mean()), float("nan")
        else:
            out[name + "loss"] = float(nn.functional.cross_entropy(o, yt))
            out[name + "accuracy"] = float((o.argmax(1) == yt).float().mean())
    return out
