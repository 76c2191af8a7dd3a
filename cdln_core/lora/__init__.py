"""Deep LoRA ([Y] §5): low-rank adapters for frozen layers, few-shot tasks, fitting and sweeps.

A frozen weight W₀ (m, n) is fine-tuned as W₀ + ΔW, ΔW a ``cdln_core.factors.Factors``: LoRA's
[A, B] with scale α/r, Deep LoRA's ε-orthogonal list of any depth L ≥ 2, or its compression
[Vᵀ, W̃_1 … W̃_L, U] from the first batch's gradient ([Y] §3). One module per concept:

- ``adapters``: LoRA, DeepLoRA, CompressedDeepLoRA (each ΔW one factor list), ``make_adapter``;
- ``attach``: ``add_adapters`` (swap any model's Linears), ``fit_compressed``, merge/unmerge/disable;
- ``tasks``: ``Task``, ``teacher_student`` (the truth is known) and ``digits`` (a pretrained MLP);
- ``fit``: ``FitConfig``, ``fit`` on the kit's loop policy, ``FitResult`` and its records;
- ``sweeps``: ``sweep`` over kinds × values × seeds, ``summarize`` with intervals and flagged runs,
  ``compressed_tracks_wide`` and ``compressed_gap`` (the compression's gap to the wide one against γ);
- ``protocol``: the fair comparison — ``tune`` on validation over a stated grid, ``compare`` on
  disjoint seeds with early stopping on validation;
- ``paper``: the paper's numbers and protocol, with their source;
- ``bert``: a short BERT encoder (all-MiniLM-L6-v2 from its wheel) whose Linears take adapters;
- ``text``: few-shot tasks on VADER's human-rated movie snippets for it (``text_task``, ``split``, ``baseline``);
- ``data``: the offline set-up (``python -m cdln_core.lora.data fetch``; not imported here, so that the command runs
  cleanly), ``SetupMissing`` when it has not run.

Every public name of ``adapters``, ``attach``, ``tasks``, ``fit``, ``sweeps``, ``protocol`` and ``paper`` is
re-exported here (``from cdln_core.lora import fit`` works), and the entry points of ``bert`` and ``text``;
their building blocks (``attention_bias``, ``mean_pool``, ``centroid_head``, …) stay in their modules.

Reference: [Y] Yaras et al., ICML 2024 (arXiv 2406.04112), §3 and §5.
"""

from .adapters import KINDS, Adapter, CompressedDeepLoRA, DeepLoRA, LoRA, make_adapter
from .attach import (
    adapters,
    add_adapters,
    deltas,
    disabled,
    fit_compressed,
    merge_adapters,
    merge_and_unload,
    n_trainable,
    param_groups,
    unmerge_adapters,
)
from .bert import SETUP, BertEncoder, SetupMissing, Tokenizer, embed, load_encoder, model_dir
from .fit import FitConfig, FitRecord, FitResult, check_rank, fit, update_rank
from .paper import PAPER, PROTOCOL, SOURCES
from .protocol import compare, tune
from .sweeps import VARY, compressed_gap, compressed_tracks_wide, summarize, sweep, t_quantile
from .tasks import LOSSES, Task, chance_accuracy, digits, loss_fn, teacher_student
from .text import SentenceModel, baseline, split, text_task

__all__ = [
    "KINDS",
    "Adapter",
    "LoRA",
    "DeepLoRA",
    "CompressedDeepLoRA",
    "make_adapter",
    "add_adapters",
    "adapters",
    "fit_compressed",
    "param_groups",
    "n_trainable",
    "merge_adapters",
    "unmerge_adapters",
    "merge_and_unload",
    "disabled",
    "deltas",
    "LOSSES",
    "Task",
    "loss_fn",
    "chance_accuracy",
    "teacher_student",
    "digits",
    "FitConfig",
    "FitRecord",
    "FitResult",
    "fit",
    "update_rank",
    "check_rank",
    "VARY",
    "sweep",
    "summarize",
    "t_quantile",
    "compressed_tracks_wide",
    "compressed_gap",
    "tune",
    "compare",
    "PAPER",
    "PROTOCOL",
    "SOURCES",
    "BertEncoder",
    "Tokenizer",
    "embed",
    "load_encoder",
    "model_dir",
    "SETUP",
    "SetupMissing",
    "SentenceModel",
    "baseline",
    "split",
    "text_task",
]
