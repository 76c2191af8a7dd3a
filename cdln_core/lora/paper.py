"""The numbers [Y] reports for Deep LoRA, with where each comes from.

These are the paper's measurements (BERT-base fine-tuned on GLUE's STS-B, Pearson correlation,
higher is better) and its training protocol. The kit prints them *beside* its own measurements on
its own tasks; they are never used as a measurement, and a test never asserts them.

Reference: [Y] Yaras, Wang, Balzano, Qu, ICML 2024 (arXiv 2406.04112), §5 (Deep LoRA): the
few-shot table on STS-B (samples), the rank-robustness figure (rank), the update-rank histogram.
"""

from __future__ import annotations

__all__ = ["PAPER", "PROTOCOL", "SOURCES"]

PAPER = {
    # N training samples: (LoRA, Deep LoRA) STS-B Pearson
    "samples": {16: (0.529, 0.598), 64: (0.735, 0.751), 256: (0.814, 0.828)},
    # adapter rank r at 16 samples: (LoRA, Deep LoRA)
    "rank": {8: (0.539, 0.635), 16: (0.524, 0.652), 32: (0.456, 0.660), 64: (0.175, 0.667)},
    "update_rank": "about half of Deep LoRA's updates end at rank 0, most others at 1–4; every LoRA update at rank 8",
}

# The paper's training protocol for Deep LoRA (the kit's defaults differ: see ``FitConfig``).
PROTOCOL = {
    "optimizer": "AdamW",
    "lr": 1e-4,
    "schedule": "constant",
    "batch_size": 16,
    "init_scale": 1e-3,  # ε: every Deep LoRA factor starts ε-orthogonal, so ΔW(0) ≈ ε³
    "depth": 3,
    "compressed_inner_width": 8,  # 2r̂
    "outer_lr_ratio": 1e-2,  # γ: the compressed bases step with γ·η
    "model": "BERT-base",
    "samples": (16, 64, 256, 1024),
}

SOURCES = {
    "samples": "[Y] §5, few-shot STS-B table (LoRA vs Deep LoRA, 16/64/256 samples)",
    "rank": "[Y] §5, rank-robustness figure on STS-B at 16 samples (r = 8, 16, 32, 64)",
    "update_rank": "[Y] §5, histogram of the numerical rank of the learned updates",
    "protocol": "[Y] §5, experimental setup (AdamW, lr 1e-4, batch 16, ε = 1e-3, γ = 1e-2)",
}
