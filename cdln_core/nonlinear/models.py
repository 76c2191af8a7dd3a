"""Models with swappable wide layers: an MLP and a small vision transformer for the digits.

``MLP`` (64 → width → ReLU → [width → width → ReLU] × n_wide → 10, the wide layers swappable) and a
small ``ViT`` (8×8 digits cut into p×p patches, a few pre-norm attention blocks, the MLP layers of
each block swappable). Each lists its wide layers in ``wide_names``; ``make_model`` builds either
with wide layers of a kind from ``layers.KINDS``. Shapes: B batch, T tokens, C token width,
d = width, s = image side, p = patch side.

Reference: [K] Kwon et al., AISTATS 2024 (arXiv 2311.05061), §6.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import skip_init

from ..checks import check_choice, check_int
from ..seeds import check_seed, generator
from .layers import KINDS, _init_plain_, factorize

__all__ = ["ARCHS", "MLP", "ViT", "make_model"]

ARCHS = ("mlp", "vit")


def _init_linear_(layer: nn.Linear, generator: torch.Generator) -> nn.Linear:
    """PyTorch's default Linear init, U(−1/√d_in, 1/√d_in) for weight and bias, from ``generator``."""
    bound = 1.0 / math.sqrt(layer.in_features)
    with torch.no_grad():
        nn.init.uniform_(layer.weight, -bound, bound, generator=generator)
        if layer.bias is not None:
            nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
    return layer


def _linear(d_in: int, d_out: int, generator: torch.Generator) -> nn.Linear:
    # skip_init: no draw from (or advance of) torch's global generator.
    return _init_linear_(skip_init(nn.Linear, d_in, d_out), generator)


class MLP(nn.Module):
    """x (B, d_in) → Linear(d_in, d) → ReLU → [wide Linear(d, d) → ReLU] × n_wide → Linear(d, classes).

    The wide layers ``wide.0``, ``wide.1``, … (listed in ``wide_names``) start as plain
    orthogonal layers; ``factorize`` swaps them.
    """

    def __init__(
        self, width: int = 256, *, n_wide: int = 1, in_features: int = 64, classes: int = 10,
        generator: torch.Generator,
    ):  # fmt: skip
        super().__init__()
        check_int("width", width, 1)
        check_int("n_wide", n_wide, 1)
        self.inp = _linear(in_features, width, generator)
        self.wide = nn.ModuleList(
            _init_plain_(skip_init(nn.Linear, width, width), generator=generator) for _ in range(n_wide)
        )
        self.out = _linear(width, classes, generator)
        self.wide_names = tuple(f"wide.{i}" for i in range(n_wide))

    def forward(self, x: Tensor) -> Tensor:  # (B, d_in) → (B, classes)
        h = F.relu(self.inp(x))  # (B, d)
        for layer in self.wide:
            h = F.relu(layer(h))  # (B, d)
        return self.out(h)


class _Attention(nn.Module):
    def __init__(self, dim: int, heads: int, generator: torch.Generator):
        super().__init__()
        self.heads = heads
        self.qkv = _linear(dim, 3 * dim, generator)
        self.proj = _linear(dim, dim, generator)

    def forward(self, x: Tensor) -> Tensor:  # (B, T, C)
        B, T, C = x.shape
        qkv = self.qkv(x).view(B, T, 3, self.heads, C // self.heads)  # (B, T, 3, H, C/H)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, H, T, C/H)
        y = F.scaled_dot_product_attention(q, k, v)  # (B, H, T, C/H)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class _Block(nn.Module):
    def __init__(self, dim: int, heads: int, hidden: int, generator: torch.Generator):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = _Attention(dim, heads, generator)
        self.mlp = nn.Sequential()
        self.mlp.fc1 = _init_plain_(skip_init(nn.Linear, dim, hidden), generator=generator)
        self.mlp.act = nn.GELU()
        self.mlp.fc2 = _init_plain_(skip_init(nn.Linear, hidden, dim), generator=generator)

    def forward(self, x: Tensor) -> Tensor:  # (B, T, C)
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class ViT(nn.Module):
    """A small vision transformer for s×s images: p×p patches → tokens of width C, learned
    positions, ``blocks`` pre-norm blocks (attention, then MLP C → width → C), mean pooling, a
    linear head. The wide layers are every block's ``mlp.fc1`` and ``mlp.fc2`` (``wide_names``).
    """

    def __init__(
        self, width: int = 128, *, dim: int = 32, blocks: int = 2, heads: int = 4, patch: int = 2,
        image_size: int = 8, classes: int = 10, generator: torch.Generator,
    ):  # fmt: skip
        super().__init__()
        check_int("width", width, 1)
        check_int("blocks", blocks, 1)
        check_int("heads", heads, 1)
        check_int("patch", patch, 1, image_size)
        if image_size % patch:
            raise ValueError(f"patch must divide image_size={image_size}, got {patch}")
        if dim % heads:
            raise ValueError(f"dim must be a multiple of heads={heads}, got {dim}")
        self.patch, self.image_size = patch, image_size
        tokens = (image_size // patch) ** 2
        self.embed = _linear(patch * patch, dim, generator)
        self.pos = nn.Parameter(0.02 * torch.randn(1, tokens, dim, generator=generator))
        self.blocks = nn.ModuleList(_Block(dim, heads, width, generator) for _ in range(blocks))
        self.norm = nn.LayerNorm(dim)
        self.head = _linear(dim, classes, generator)
        self.wide_names = tuple(f"blocks.{i}.mlp.{fc}" for i in range(blocks) for fc in ("fc1", "fc2"))

    def forward(self, x: Tensor) -> Tensor:  # (B, s·s) → (B, classes)
        B, s, p = x.shape[0], self.image_size, self.patch
        x = x.view(B, s // p, p, s // p, p).transpose(2, 3).reshape(B, -1, p * p)  # (B, T, p²)
        h = self.embed(x) + self.pos  # (B, T, C)
        for block in self.blocks:
            h = block(h)
        return self.head(self.norm(h).mean(dim=1))  # (B, classes)


def make_model(
    arch: str,
    kind: str,
    *,
    width: int = 256,
    depth: int = 3,
    rank_hat: int | None = 16,
    init_scale: float = 1.0,
    lr_ratio: float = 1.0,
    seed: int = 0,
    **arch_kwargs,
) -> nn.Module:
    """An ``"mlp"`` or ``"vit"`` whose wide layers are of ``kind`` (``KINDS``), their outer factors
    stepping with α·η (α = ``lr_ratio``).

    The same ``seed`` gives the same non-wide layers for every kind (they come from the stream
    ``seeds.generator(seed, "init")``, the wide layers from ``(seed, "init_wide")``), so the three
    variants differ only in the swapped layers.
    ``arch_kwargs`` go to ``MLP`` (``n_wide``) or ``ViT`` (``dim``, ``blocks``, ``heads``, ``patch``).
    """
    check_choice("arch", arch, ARCHS)
    check_choice("kind", kind, KINDS)
    seed = check_seed(seed)
    model = (MLP if arch == "mlp" else ViT)(width, generator=generator(seed, "init"), **arch_kwargs)
    g_wide = generator(seed, "init_wide")
    if kind == "plain":  # re-draw from the wide stream so plain and dln start alike in distribution
        modules = dict(model.named_modules())
        for name in model.wide_names:
            _init_plain_(modules[name], generator=g_wide, init_scale=init_scale)
        return model
    return factorize(model, model.wide_names, kind, depth=depth, rank_hat=rank_hat, init_scale=init_scale,
                     lr_ratio=lr_ratio, generator=g_wide)
