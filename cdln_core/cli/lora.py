"""``cdln lora``: LoRA against Deep LoRA on the kit's few-shot tasks, as a table and ``cdln.lora/1`` JSON.

    cdln lora                                  # teacher–student, vs the number of samples
    cdln lora --vary rank --samples 16         # vs the rank
    cdln lora --task digits --values 1,5,10    # the pretrained MLP on scikit-learn's digits
    cdln lora --out lora.json                  # every run and the summary, with the paper's numbers

The conventions are ``cdln run``'s: the same flag names and ranges (``--lr``, ``--steps``,
``--init-scale``, ``--depth``, ``--lr-ratio`` (γ of the compressed bases), ``--seed``), every
value checked before the first run, exit 3 when a run diverged, ``--out -`` for stdout, 130 on
Ctrl-C with the finished runs written.

Reference: [Y] §5 (Deep LoRA; the paper's numbers are printed beside ours, never asserted).
"""

from __future__ import annotations

import math
import time

from ..seeds import MAX_SEED
from . import common
from .common import FlagError, number

__all__ = ["TASKS", "add_parser", "handler"]

TASKS = ("teacher_student", "digits")
_DEFAULT_VALUES = {("teacher_student", "samples"): "4,8,16,32,64", ("teacher_student", "rank"): "2,4,8,16,32",
                   ("digits", "samples"): "1,2,5,10", ("digits", "rank"): "1,2,4,8"}
_MAX_SAMPLES = {"teacher_student": 100_000, "digits": 100}  # digits: shots per class of 5–9
_KINDS = ("lora", "deep_wide", "deep_narrow", "deep_compressed")  # checked against cdln_core.lora.KINDS
_STEP_SECONDS = 3e-4  # a rough cost of one full-batch AdamW step on these small tasks, per 1000 samples
_TIME_LIMIT = 86_400.0


def add_parser(subparsers):
    """Register the ``lora`` subcommand on an argparse subparsers object."""
    import argparse

    p = common.add_command(subparsers, "lora", handler, help="LoRA vs Deep LoRA on few-shot fine-tuning ([Y] §5)",
                           description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", choices=TASKS, default="teacher_student")
    p.add_argument("--vary", choices=("samples", "rank"), default="samples",
                   help="sweep the number of training samples (shots per class on digits) or the rank")
    p.add_argument("--values", nargs="+", default=None, metavar="V",
                   help="sweep values, integers ≥ 1, comma- or space-separated (default depends on the task)")
    p.add_argument("--kinds", default="lora,deep_narrow", help=f"comma-separated, from {','.join(_KINDS)}")
    p.add_argument("--rank", type=number(int, 1, 10**6), default=None,
                   help="adapter rank when sweeping samples, ≥ 1 (default 8)")
    p.add_argument("--samples", type=number(int, 1, 100_000), default=None,
                   help="samples (shots per class on digits) when sweeping the rank, in [1, 100000] (default 16)")
    p.add_argument("--seeds", type=number(int, 1, 50), default=3, help="number of seeds, in [1, 50] (default 3)")
    p.add_argument("--seed", type=common.SEED, default=0,
                   help="the first seed, in [0, 2**63 - 1] (default 0); the runs use seed … seed + seeds − 1")
    p.add_argument("--steps", type=number(int, 1, 10**7), default=None,
                   help="AdamW steps, in [1, 10⁷] (default 100; 400 on digits)")
    p.add_argument("--lr", type=number(float, 0, low_open=True), default=1e-2, help="AdamW step size η > 0 (1e-2)")
    p.add_argument("--lr-ratio", dest="lr_ratio", type=number(float, 0), default=1e-2,
                   help="γ ≥ 0: the compressed adapter's bases step with γ·η (default 1e-2)")
    p.add_argument("--init-scale", dest="init_scale", type=number(float, 0, 1, low_open=True), default=1e-3,
                   help="ε in (0, 1] of Deep LoRA's factors (default 1e-3)")
    p.add_argument("--depth", type=number(int, 2, 100), default=3, help="Deep LoRA depth L in [2, 100] (default 3)")
    common.add_out(p)
    return p


def _values(args) -> list[int]:
    texts = args.values or [_DEFAULT_VALUES[args.task, args.vary]]
    raw = [t for text in texts for t in text.split(",")]
    high = _MAX_SAMPLES[args.task] if args.vary == "samples" else 10**6
    parse = number(int, 1, high)
    try:
        values = [parse(t.strip()) for t in raw]
    except Exception:  # argparse.ArgumentTypeError: say which flag and the range
        raise FlagError(f"--values must be integers in [1, {high}] ({args.vary} on {args.task}), "
                        f"got {' '.join(texts)!r}") from None
    return values


def _plan(args, lora):
    """Check every flag and combination; returns (kinds, values, seeds, samples, cfg)."""
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    if not kinds or any(k not in lora.KINDS for k in kinds):
        raise FlagError(f"--kinds must be a comma-separated list from {','.join(lora.KINDS)}, got {args.kinds!r}")
    values = _values(args)
    if args.vary == "rank" and args.rank is not None:
        raise FlagError("--rank is given and also varied by --vary rank; give --values instead")
    if args.vary == "samples" and args.samples is not None:
        raise FlagError("--samples is given and also varied by --vary samples; give --values instead")
    samples = 16 if args.samples is None else args.samples
    if samples > _MAX_SAMPLES[args.task]:
        raise FlagError(f"--samples must be in [1, {_MAX_SAMPLES[args.task]}] for --task {args.task}, got {samples}")
    if args.seed + args.seeds - 1 > MAX_SEED:
        raise FlagError(f"--seed + --seeds − 1 must be ≤ 2**63 - 1, got --seed {args.seed} --seeds {args.seeds}")
    steps = args.steps if args.steps is not None else (400 if args.task == "digits" else 100)
    rank = 8 if args.rank is None else args.rank
    n_max = max(values) if args.vary == "samples" else samples
    n_max *= 5 if args.task == "digits" else 1  # shots per class of five classes
    runs = len(kinds) * len(values) * args.seeds
    est = runs * steps * _STEP_SECONDS * max(1.0, n_max / 1000)
    if est > _TIME_LIMIT:
        raise FlagError(f"--steps {steps} × {runs} runs would take about {est / 3600:.3g} hours by a rough estimate, "
                        f"past the limit of {_TIME_LIMIT / 3600:g} hours: ask for fewer --steps, --seeds or --values")
    try:
        cfg = lora.FitConfig(rank=rank, steps=steps, lr=args.lr, outer_lr_ratio=args.lr_ratio,
                             init_scale=args.init_scale, depth=args.depth)
    except (ValueError, TypeError) as err:
        raise FlagError(_as_flag(str(err), args.vary)) from None
    return kinds, values, list(range(args.seed, args.seed + args.seeds)), samples, cfg


_CORE_TO_FLAG = {"outer_lr_ratio": "--lr-ratio", "init_scale": "--init-scale", "rank": "--rank", "lr": "--lr",
                 "steps": "--steps", "depth": "--depth", "shots": "--values", "n_samples": "--values"}


def _as_flag(message: str, vary: str) -> str:
    for name in sorted(_CORE_TO_FLAG, key=len, reverse=True):
        if message.startswith(name + " "):
            flag = "--values" if name == "rank" and vary == "rank" else _CORE_TO_FLAG[name]
            return flag + message[len(name):]
    return message


def handler(args, parser) -> int:
    from dataclasses import replace

    from .. import lora

    kinds, values, seeds, samples, cfg = _plan(args, lora)

    def make(n: int, s: int):
        return lora.teacher_student(n, seed=s) if args.task == "teacher_student" else lora.digits(n, seed=s)

    with common.quiet_native_output():
        try:  # every (kind, rank) against the task's layers, before the first run
            probe = make(values[0] if args.vary == "samples" else samples, seeds[0])
            for kind in kinds:
                for rank in (values if args.vary == "rank" else [cfg.rank]):
                    lora.check_rank(probe, replace(cfg, kind=kind, rank=rank))
        except (ValueError, TypeError) as err:
            raise FlagError(_as_flag(str(err), args.vary)) from None
    _check_underflow(kinds, cfg, probe.X_train.dtype)
    config = {"task": args.task, "vary": args.vary, "values": values, "kinds": kinds, "rank": cfg.rank,
              "samples": samples, "seeds": len(seeds), "seed": seeds[0], "steps": cfg.steps, "lr": cfg.lr,
              "lr_ratio": cfg.outer_lr_ratio, "init_scale": cfg.init_scale, "depth": cfg.depth}
    from .. import __version__

    result = {"schema": common.LORA_SCHEMA, "version": __version__, "config": config, "task": args.task,
              "vary": args.vary, "steps": cfg.steps, "lr": cfg.lr, "rows": [], "summary": [], "warnings": [],
              "paper": _paper(lora.PAPER)}
    start = time.perf_counter()
    try:
        with common.quiet_native_output():
            for kind in kinds:
                for value in values:
                    for seed in seeds:  # one run per call, so a Ctrl-C keeps every finished row
                        result["rows"] += lora.sweep(make, [value], args.vary, [kind], [seed], cfg, fixed=samples)
    except KeyboardInterrupt as err:  # in a fit (a loop.Interrupted) or between two: keep the finished rows
        _finish(result, args)
        err.result = {**result, "interrupted_step": getattr(getattr(err, "outcome", None), "interrupted_step", None)}
        raise
    except (ValueError, TypeError) as err:
        _finish(result, args)
        common.write_out(result, args.out)  # keep what finished, then name the flag
        raise FlagError(_as_flag(str(err), args.vary)) from None
    _finish(result, args)
    common.emit(result, args.out, _table(result, args, time.perf_counter() - start))
    diverged = any(r.get("diverged_step") is not None for r in result["rows"])
    return common.EXIT_DIVERGED if diverged else common.EXIT_OK


def _check_underflow(kinds: list[str], cfg, dtype) -> None:
    """Deep LoRA's ΔW(0) ≈ ε^L and each factor's gradient ∝ ε^(L−1): past the dtype's range both are 0
    and AdamW never moves (LoRA starts from B = 0 and is not concerned)."""
    import torch

    if not any(k.startswith("deep") for k in kinds):
        return
    tiny = torch.finfo(dtype).tiny
    if (cfg.depth - 1) * math.log10(cfg.init_scale) < math.log10(tiny):
        top = 1 + math.floor(math.log10(tiny) / math.log10(cfg.init_scale)) if cfg.init_scale < 1 else cfg.depth
        raise FlagError(f"--depth {cfg.depth} at --init-scale {cfg.init_scale:g} starts Deep LoRA's gradients at "
                        f"ε^(L−1) = 1e{(cfg.depth - 1) * math.log10(cfg.init_scale):.0f}, below {dtype} "
                        f"(the task's precision), so nothing can be learned: use --depth ≤ {top} or a larger ε")


def _paper(paper: dict) -> dict:
    return {k: {str(kk): vv for kk, vv in v.items()} if isinstance(v, dict) else v for k, v in paper.items()}


def _finish(result: dict, args) -> None:
    from .. import lora

    metrics = ["train", "test", "best_test", "rel_test", "update_rank"] + (["accuracy"] if args.task == "digits"
                                                                            else [])
    result["summary"] = lora.summarize(result["rows"], args.vary, metrics) if result["rows"] else []
    result["warnings"] = [f"{r['kind']} {args.vary}={r[args.vary]} seed {r['seed']}: {w}"
                          for r in result["rows"] for w in [*r.get("warnings", []), *_learned_nothing(r)]]


def _learned_nothing(row: dict) -> list[str]:
    rel, rank = row.get("rel_test"), row.get("update_rank")
    if row.get("diverged_step") is None and rank == 0 and rel is not None and rel >= 0.999:
        return [f"learned nothing: every update ΔW stayed at rank 0 and the test loss at {rel:.3g} of the "
                "pretrained model's (more --steps or a larger --lr or --init-scale)"]
    return []


def _table(result: dict, args, seconds: float) -> list[str]:
    c, vary = result["config"], args.vary
    head, key = ("rel test", "rel_test") if args.task == "teacher_student" else ("accuracy", "accuracy")
    lines = [f"{args.task}: vs {vary}, {c['seeds']} seeds, AdamW lr={c['lr']:g}, {c['steps']} steps ({seconds:.1f} s)",
             f"{'kind':<16}{vary:>9}  {'train loss':>18}{'test loss':>18}{'best test':>18}{head:>18}"
             f"{'update rank':>14}"]
    for r in result["summary"]:
        def cell(m: str, r: dict = r) -> str:
            return f"{r[m + '_mean']:.3g} ± {r[m + '_std']:.2g}"

        lines.append(f"{r['kind']:<16}{r[vary]:>9}  {cell('train'):>18}{cell('test'):>18}{cell('best_test'):>18}"
                     f"{cell(key):>18}{r['update_rank_mean']:>14.2f}")
    paper = result["paper"][vary]
    lines.append("test: at the last step; best test: the lowest over the run (early stopping chosen in hindsight)")
    lines.append(f"paper ([Y], STS-B Pearson, BERT-base) vs {vary}: "
                 + ", ".join(f"{k}: LoRA {a:.3f} / Deep LoRA {b:.3f}" for k, (a, b) in paper.items()))
    lines.append(f"paper, update rank: {result['paper']['update_rank']}")
    return lines + [f"warning: {w}" for w in result["warnings"]]
