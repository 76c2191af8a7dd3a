"""The ``cdln`` command: scripted runs and sweeps with a stable JSON contract.

    cdln run   --problem P --d D --rank R --model M --depth L --lr ETA --steps N [...] [--out FILE]
    cdln sweep --vary FLAG V1 V2 ... <the run flags>                                [--out FILE]
    cdln lora  ...   (Deep LoRA against LoRA; see ``cdln lora --help``)

Exit status: 0 for a finished run (converged or out of steps), 2 for a bad flag (one line on
stderr naming the flag and its allowed range), 3 when a run diverged. The JSON schema
``cdln.run/1`` is documented in the README ("The cdln command"); fields are only ever added.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import sys

from . import __version__
from .networks import MODELS, make_network
from .problems import PROBLEMS, make_problem
from .training import TrainConfig, Trajectory, train

__all__ = ["main", "run_config"]

RUN_SCHEMA = "cdln.run/1"
SWEEP_SCHEMA = "cdln.sweep/1"


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad flag gives exactly one line on stderr and exit status 2."""

    def error(self, message: str):
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


class _FlagError(Exception):
    pass


def _number(kind, low=None, high=None, low_open=False):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            need = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{need} is needed, got {text!r}") from None
        if kind is float and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"a finite number is needed, got {text!r}")
        lo_ok = low is None or (value > low if low_open else value >= low)
        if not lo_ok or (high is not None and value > high):
            opening, closing = "(" if low_open else "[", ")" if high is None else "]"
            rng = f"{opening}{low}, {'∞' if high is None else high}{closing}"
            raise argparse.ArgumentTypeError(f"must be in {rng}, got {text}")
        return value

    return parse


# flag → (type, help); order is the order of ``config`` in the JSON
RUN_FLAGS = {
    "problem": (str, "factorization, completion or sensing", dict(choices=PROBLEMS, required=True)),
    "d": (_number(int, 1), "width d of the target and of the wide layers (≥ 1)", dict(required=True)),
    "rank": (_number(int, 1), "rank r of the target, 1 ≤ r ≤ d", dict(required=True)),
    "observed": (_number(float, 0, 1, low_open=True), "completion: observed fraction p in (0, 1]", dict(default=0.3)),
    "measurements": (_number(int, 1), "sensing: number of measurements m (default 5·d·r)", dict(default=None)),
    "noise": (_number(float, 0), "sensing: std of Gaussian noise on y (≥ 0)", dict(default=0.0)),
    "model": (str, "dln (wide), cdln (spectral C-DLN) or compressed (Yaras)", dict(choices=MODELS, required=True)),
    "depth": (_number(int, 1), "depth L (≥ 1; ≥ 2 for cdln)", dict(required=True)),
    "rank_hat": (_number(int, 1), "r̂ ≥ r: C-DLN width (default 2r), compressed inner width 2r̂ (default r)",
                 dict(default=None)),
    "init_scale": (_number(float, 0, low_open=True), "ε > 0 (default 1e-2)", dict(default=1e-2)),
    "lr": (_number(float, 0, low_open=True), "step size η > 0", dict(required=True)),
    "lr_ratio": (_number(float, 0), "α for dln/cdln, γ for compressed (≥ 0, default 1)", dict(default=1.0)),
    "steps": (_number(int, 0), "most gradient steps (≥ 0)", dict(required=True)),
    "tol": (_number(float, 0), "stop when the training loss ≤ tol (default 0: never)", dict(default=0.0)),
    "record_every": (_number(int, 1), "record every K steps (≥ 1, default 100)", dict(default=100)),
    "max_seconds": (_number(float, 0, low_open=True), "stop after this many seconds of optimization (> 0)",
                    dict(default=None)),
    "seed": (_number(int, 0), "seed ≥ 0: the same seed gives the same problem for every model", dict(default=0)),
}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _add_run_flags(p: argparse.ArgumentParser, *, required: bool = True) -> None:
    for name, (kind, help_, extra) in RUN_FLAGS.items():
        extra = dict(extra)
        if not required:
            extra["required"] = False
        p.add_argument(_flag(name), dest=name, type=kind, help=help_, **extra)
    p.add_argument("--out", default=None, help="write the JSON result to FILE ('-' for stdout)")


def _check(config: dict) -> None:
    """Cross-flag checks; raises _FlagError with one line naming the flag."""
    d, r, L, model = config["d"], config["rank"], config["depth"], config["model"]
    if r > d:
        raise _FlagError(f"--rank must be in [1, --d={d}], got {r}")
    if model == "cdln" and L < 2:
        raise _FlagError(f"--depth must be ≥ 2 for --model cdln, got {L}")
    k = config["rank_hat"]
    if k is not None:
        high = d if model != "compressed" else d // 2
        if model == "dln":
            raise _FlagError("--rank-hat applies to --model cdln or compressed only")
        if not r <= k <= high:
            raise _FlagError(f"--rank-hat must be in [--rank={r}, {high}] for --model {model}, got {k}")
    elif model == "compressed" and 2 * r > d:
        raise _FlagError(f"--model compressed needs 2·--rank ≤ --d, got rank {r}, d {d}")
    if config["problem"] == "sensing":
        m = config["measurements"] if config["measurements"] is not None else 5 * d * r
        config["measurements"] = m


def run_config(config: dict) -> tuple[dict, Trajectory]:
    """Run one configuration (the keys of RUN_FLAGS); returns (JSON-ready dict, trajectory)."""
    _check(config)
    try:
        problem = make_problem(config["problem"], config["d"], config["rank"], observed=config["observed"],
                               measurements=config["measurements"], noise=config["noise"], seed=config["seed"])
        network = make_network(config["model"], problem, config["depth"], rank_hat=config["rank_hat"],
                               init_scale=config["init_scale"], lr_ratio=config["lr_ratio"], seed=config["seed"])
        train_config = TrainConfig(lr=config["lr"], steps=config["steps"], tol=config["tol"],
                                   record_every=config["record_every"], max_seconds=config["max_seconds"])
    except ValueError as err:  # the core names its argument; say it as the flag
        message = str(err)
        for name in RUN_FLAGS:
            if message.startswith(name + " "):
                message = _flag(name) + message[len(name):]
        raise _FlagError(message) from None
    if config["model"] != "dln":  # record the r̂ in force, default or not
        config["rank_hat"] = network.Ws[0].shape[0] // (2 if config["model"] == "compressed" else 1)
    traj = train(problem, network, train_config)
    result = {"schema": RUN_SCHEMA, "version": __version__, "config": dict(config)}
    result.update(traj.to_dict())
    result["target_singular_values"] = problem.sigma.tolist()
    return result, traj


def _summary(result: dict) -> str:
    c = result["config"]
    alpha = "γ" if c["model"] == "compressed" else "α"
    head = (f"{c['problem']} d={c['d']} r={c['rank']} | {c['model']} L={c['depth']} "
            f"{alpha}={c['lr_ratio']:g} η={c['lr']:g} | {result['n_params']} params")
    last = result["steps"][-1]
    state = (f"DIVERGED at step {result['diverged_step']}" if result["diverged_step"] is not None
             else f"converged at step {result['converged_step']}" if result["converged_step"] is not None
             else f"stopped at step {last}")
    test = "" if result["test_loss"][-1] is None else f", test {result['test_loss'][-1]:.3e}"
    return (f"{head} | {state}: train loss {result['train_loss'][-1]:.3e}, recovery "
            f"{result['recovery_error'][-1]:.3e}{test}, {result['wall_time'][-1]:.3f} s")


def _write(obj: dict, out: str | None) -> None:
    if out is None:
        return
    text = json.dumps(obj, indent=None, separators=(",", ":"))
    if out == "-":
        sys.stdout.write(text + "\n")
    else:
        with open(out, "w") as f:
            f.write(text)


def _cmd_run(args, parser) -> int:
    config = {name: getattr(args, name) for name in RUN_FLAGS}
    try:
        result, _ = run_config(config)
    except _FlagError as err:
        parser.error(str(err))
    print(_summary(result), file=sys.stderr if args.out == "-" else sys.stdout)
    _write(result, args.out)
    return 3 if result["diverged_step"] is not None else 0


def _cmd_sweep(args, parser) -> int:
    name = args.vary.replace("-", "_")
    if name not in RUN_FLAGS or name == "problem":
        parser.error(f"--vary must name a run flag other than --problem, got {args.vary!r}")
    kind, _, extra = RUN_FLAGS[name]
    values = []
    for text in args.values:
        if "choices" in extra and text not in extra["choices"]:
            parser.error(f"--vary {args.vary}: values must be among {', '.join(extra['choices'])}, got {text!r}")
        try:
            values.append(kind(text))
        except argparse.ArgumentTypeError as err:
            parser.error(f"--vary {args.vary}: {err}")
    base = {n: getattr(args, n) for n in RUN_FLAGS}
    missing = [_flag(n) for n, (_, _, e) in RUN_FLAGS.items() if e.get("required") and base[n] is None and n != name]
    if missing:
        parser.error(f"the following arguments are required: {', '.join(missing)}")
    runs, diverged = [], False
    for value in values:
        config = dict(base, **{name: value})
        try:
            result, _ = run_config(config)
        except _FlagError as err:
            parser.error(f"{err} (at --{args.vary} {value})")
        print(_summary(result), file=sys.stderr if args.out == "-" else sys.stdout)
        runs.append(result)
        diverged |= result["diverged_step"] is not None
    _write({"schema": SWEEP_SCHEMA, "version": __version__, "vary": name, "values": values, "runs": runs}, args.out)
    return 3 if diverged else 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cdln", description="Deep linear networks and their compression, from the command line.")
    parser.add_argument("--version", action="version", version=f"cdln {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser("run", help="train one model on one problem and report its trajectory")
    _add_run_flags(run)
    run.set_defaults(func=functools.partial(_cmd_run, parser=run))
    sweep = sub.add_parser("sweep", help="the same run for several values of one flag, side by side")
    sweep.add_argument("--vary", required=True, help="the flag to vary, e.g. lr-ratio or model")
    sweep.add_argument("values", nargs="+", help="its values")
    _add_run_flags(sweep, required=False)
    sweep.set_defaults(func=functools.partial(_cmd_sweep, parser=sweep))
    try:
        from .lora_cli import add_parser as add_lora
    except ImportError:  # the Deep LoRA subcommand is optional
        add_lora = None
    if add_lora is not None:
        add_lora(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
