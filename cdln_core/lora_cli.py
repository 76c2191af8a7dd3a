"""``cdln lora``: LoRA against Deep LoRA on the kit's few-shot tasks, as a table or JSON.

    cdln lora                                  # teacher–student, vs the number of samples
    cdln lora --vary rank --samples 16         # vs the rank
    cdln lora --task digits --values 1,5,10    # the pretrained MLP on scikit-learn's digits
    cdln lora --out lora.json                  # every run and the summary, with the paper's numbers

Reference: SPEC §6; [Y] §5.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from .lora import KINDS

__all__ = ["add_parser", "handler"]

_DEFAULT_VALUES = {("teacher_student", "samples"): "4,8,16,32,64", ("teacher_student", "rank"): "2,4,8,16,32",
                   ("digits", "samples"): "1,2,5,10", ("digits", "rank"): "1,2,4,8"}


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the ``lora`` subcommand on an argparse subparsers object."""
    p = subparsers.add_parser("lora", help="LoRA vs Deep LoRA on few-shot fine-tuning ([Y] §5)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", choices=("teacher_student", "digits"), default="teacher_student")
    p.add_argument("--vary", choices=("samples", "rank"), default="samples",
                   help="sweep the number of training samples (shots per class on digits) or the rank")
    p.add_argument("--values", default=None, help="comma-separated sweep values (default depends on task)")
    p.add_argument("--kinds", default="lora,deep_narrow", help=f"comma-separated, from {','.join(KINDS)}")
    p.add_argument("--rank", type=int, default=8, help="adapter rank when sweeping samples (default 8)")
    p.add_argument("--samples", type=int, default=16, help="samples (shots) when sweeping the rank (default 16)")
    p.add_argument("--seeds", type=int, default=3, help="number of seeds, 1–50 (default 3)")
    p.add_argument("--steps", type=int, default=None, help="AdamW steps (default 100; 400 on digits)")
    p.add_argument("--lr", type=float, default=1e-2, help="AdamW learning rate η (default 1e-2)")
    p.add_argument("--out", default=None, help="write every run and the summary as JSON to this file")
    p.set_defaults(func=handler)
    return p


def _fail(msg: str) -> int:
    print(f"cdln lora: error: {msg}", file=sys.stderr)
    raise SystemExit(2)


def handler(args: argparse.Namespace) -> int:
    from .lora_experiments import PAPER, FitConfig, digits, summarize, sweep, teacher_student

    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        _fail(f"--kinds must be a comma-separated list from {','.join(KINDS)}, got {args.kinds!r}")
    raw = args.values or _DEFAULT_VALUES[args.task, args.vary]
    try:
        values = [int(v) for v in raw.split(",")]
    except ValueError:
        _fail(f"--values must be comma-separated integers ≥ 1, got {raw!r}")
    if not values or min(values) < 1:
        _fail(f"--values must be comma-separated integers ≥ 1, got {raw!r}")
    limit = 100 if args.task == "digits" else 100_000
    if args.vary == "samples" and max(values) > limit:
        _fail(f"--values (shots per class on digits) must be in [1, {limit}], got {raw!r}")
    if not 1 <= args.seeds <= 50:
        _fail(f"--seeds must be in [1, 50], got {args.seeds}")
    if not 1 <= args.rank:
        _fail(f"--rank must be ≥ 1, got {args.rank}")
    if not 1 <= args.samples <= limit:
        _fail(f"--samples must be in [1, {limit}], got {args.samples}")
    steps = args.steps if args.steps is not None else (400 if args.task == "digits" else 100)
    if steps < 1:
        _fail(f"--steps must be ≥ 1, got {steps}")
    if not args.lr > 0 or args.lr == float("inf"):
        _fail(f"--lr must be a finite number > 0, got {args.lr}")

    make = (lambda n, s: teacher_student(n, seed=s)) if args.task == "teacher_student" else (
        lambda n, s: digits(n, seed=s))
    start = time.perf_counter()
    try:
        rows = sweep(make, values, args.vary, kinds, list(range(args.seeds)),
                     FitConfig(rank=args.rank, steps=steps, lr=args.lr), fixed=args.samples)
    except ValueError as e:  # a rank too large for a layer: the flag that set it
        _fail(f"{'--values' if args.vary == 'rank' else '--rank'}: {e}")
    metrics = ["train", "test", "best_test", "rel_test", "update_rank"]
    metrics += ["accuracy"] if args.task == "digits" else []
    summary = summarize(rows, args.vary, metrics)

    head = "rel test" if args.task == "teacher_student" else "accuracy"
    key = "rel_test" if args.task == "teacher_student" else "accuracy"
    print(f"{args.task}: vs {args.vary}, {args.seeds} seeds, AdamW lr={args.lr:g}, {steps} steps "
          f"({time.perf_counter() - start:.1f} s)")
    print(f"{'kind':<16}{args.vary:>9}  {'train loss':>18}{'test loss':>18}{'best test':>18}{head:>18}"
          f"{'update rank':>14}")
    for r in summary:
        def cell(m: str, r: dict = r) -> str:
            return f"{r[m + '_mean']:.3g} ± {r[m + '_std']:.2g}"

        print(f"{r['kind']:<16}{r[args.vary]:>9}  {cell('train'):>18}{cell('test'):>18}{cell('best_test'):>18}"
              f"{cell(key):>18}"
              f"{r['update_rank_mean']:>14.2f}")
    paper = PAPER["samples" if args.vary == "samples" else "rank"]
    print("test: at the last step; best test: the lowest over the run (early stopping chosen in hindsight)")
    print(f"paper ([Y], STS-B Pearson, BERT-base) vs {args.vary}: "
          + ", ".join(f"{k}: LoRA {a:.3f} / Deep LoRA {b:.3f}" for k, (a, b) in paper.items()))
    print(f"paper, update rank: {PAPER['update_rank']}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"task": args.task, "vary": args.vary, "steps": steps, "lr": args.lr, "rows": rows,
                       "summary": summary, "paper": {k: {str(kk): vv for kk, vv in v.items()}
                                                     if isinstance(v, dict) else v for k, v in PAPER.items()}},
                      f, indent=1)
        print(f"wrote {args.out}")
    return 0
