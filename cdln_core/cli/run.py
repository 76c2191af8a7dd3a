"""``cdln run``: one model on one problem, its trajectory as a summary line and ``cdln.run/1`` JSON.

Every flag is checked before any work: its own range (argparse types from ``common.number``), then the
combination (``resolve``: r ≤ d, r̂'s range, flags that do not apply to the chosen problem or model,
ε^L inside float64's range), then the cost (``sizes.check``). A run that diverges exits 3 with its
step; a run that finishes without learning, or on too little data to identify Φ, says so in
``warnings``. Problem and model choices, and the flags each problem takes, come from the core's
registries (``problems.PROBLEMS`` and each builder's keyword options; ``networks.MODELS``).

Bring your own (``DATA_FLAGS``, ``cdln run`` and ``cdln sweep``): ``--target FILE.npy`` (Φ; --d and --rank read from
it when left out), ``--mask FILE.npy`` (Ω, completion) and ``--init FILE.npz`` (the initial factors),
each loaded and checked in ``resolve``; the config records their paths.

Reference: [K] §3–§5 (C-DLN, spectral init, two step sizes); [Y] §3 (compressed matrix completion).
"""

from __future__ import annotations

import inspect
import math
import os
import re

from .. import networks, problems
from . import common, sizes
from .common import FlagError, flag_name, number

__all__ = ["RUN_FLAGS", "DATA_FLAGS", "all_flags", "data_paths", "problem_flags", "add_parser", "add_run_flags",
           "resolve", "run_config", "summary"]

_MAX_D, _MAX_DEPTH, _MAX_STEPS = 10**6, 10**4, 10**10

# flag → (argparse type, help, extra); every flag but the required ones defaults to None and is
# filled in by ``resolve``, so a flag given for the wrong problem or model can be told from a default
RUN_FLAGS = {
    "problem": (str, "the problem: " + ", ".join(problems.PROBLEMS), dict(choices=problems.PROBLEMS, required=True)),
    "d": (number(int, 1, _MAX_D), "width d of the target and of the wide layers, in [1, 10⁶] (memory permitting)",
          dict(required=True)),
    "rank": (number(int, 1, _MAX_D), "rank r of the target, in [1, d]", dict(required=True)),
    "observed": (number(float, 0, 1, low_open=True), "completion: observed fraction p in (0, 1] (default 0.3)", {}),
    "measurements": (number(int, 1, 10**12), "sensing: number of measurements m ≥ 1 (default 5·d·r)", {}),
    "noise": (number(float, 0), "sensing: std of Gaussian noise on y, ≥ 0 (default 0)", {}),
    "model": (str, "the model: dln (wide), cdln (spectral C-DLN) or compressed (Yaras)",
              dict(choices=networks.MODELS, required=True)),
    "depth": (number(int, 1, _MAX_DEPTH), "depth L in [1, 10⁴] (≥ 2 for cdln)", dict(required=True)),
    "rank_hat": (number(int, 1, _MAX_D), "cdln, compressed: r̂ ≥ r (default 2r for cdln, r for compressed, whose "
                 "inner width is 2r̂)", {}),
    "init_scale": (number(float, 0, low_open=True), "ε > 0 (default 1e-2)", {}),
    "lr": (number(float, 0, low_open=True), "step size η > 0", dict(required=True)),
    "lr_ratio": (number(float, 0), "α for dln/cdln, γ for compressed, ≥ 0 (default 1)", {}),
    "steps": (number(int, 0, _MAX_STEPS), "most gradient steps, in [0, 10¹⁰]", dict(required=True)),
    "tol": (number(float, 0), "stop when the training loss ≤ tol, ≥ 0 (default 0: never)", {}),
    "record_every": (number(int, 1, _MAX_STEPS), "record every K steps, K ≥ 1 (default 100)", {}),
    "max_seconds": (number(float, 0, low_open=True), "stop after this many seconds of optimization (> 0)", {}),
    "seed": (common.SEED, common.SEED_HELP + "; the same seed gives the same problem for every model", {}),
}
DATA_FLAGS = {
    "target": ("FILE.npy", "your own target Φ: a finite (d, d) array of any rank (np.save). --d is read from it and "
               "--rank defaults to its numerical rank (singular values above σ₁·d·2.2e-16)"),
    "mask": ("FILE.npy", "completion: your own Ω, a boolean (d, d) mask (or 0/1 numbers), unique flat indices (n,) "
             "or unique (row, column) pairs (n, 2); replaces --observed"),
    "init": ("FILE.npz", "your own initial factors (float64; float32 is widened), in application order: keys "
             "W1 … WL, or arr_0 … arr_(L−1) as np.savez(FILE, *Ws) writes them; W_l of shape (d_l, d_(l−1)) in the "
             "model's layout (dln: L of (d, d); cdln: (r̂, d), (r̂, r̂)…, (d, r̂); compressed: (2r̂, d), L of "
             "(2r̂, 2r̂), (d, 2r̂))"),
}
DEFAULTS = {"init_scale": 1e-2, "lr_ratio": 1.0, "tol": 0.0, "record_every": 100, "seed": 0}
MODEL_FLAGS = ("rank_hat",)  # flags a model may take beyond depth, ε, α and the seed (networks.model_options)


def _option_flag(name: str, default) -> tuple:
    """The flag of a problem option that is not a run flag above: typed by its default."""
    kind = int if isinstance(default, int) and not isinstance(default, bool) else float
    return (number(kind), f"a problem option (default {default!r}); see its builder", {})


def all_flags() -> dict:
    """RUN_FLAGS, then a flag for every other option of a registered problem's builder (a problem
    added with ``register_problem`` brings its own flags)."""
    flags = dict(RUN_FLAGS)
    for kind in problems.PROBLEMS:
        for name, default in problems.problem_options(kind).items():
            if name not in flags:
                flags[name] = _option_flag(name, default)
    return flags


def problem_flags() -> dict[str, tuple[str, ...]]:
    """Each flag that belongs to some problem → the problems that take it."""
    takers: dict[str, list[str]] = {}
    for kind in problems.PROBLEMS:
        for name in problems.problem_options(kind):
            takers.setdefault(name, []).append(kind)
    return {name: tuple(kinds) for name, kinds in takers.items()}


def add_run_flags(p, *, required: bool = True, data: bool = False) -> None:
    """Every run flag (argparse-required ones only if ``required``), then ``DATA_FLAGS`` if ``data`` (a
    command that takes them passes ``config[name]`` for each to ``resolve``)."""
    for name, (kind, help_, extra) in all_flags().items():
        extra = dict(extra, required=extra.get("required", False) and required)
        p.add_argument(flag_name(name), dest=name, type=kind, help=help_, default=None, **extra)
    common.add_out(p)
    for name, (metavar, help_) in DATA_FLAGS.items() if data else ():
        p.add_argument(flag_name(name), dest=name, metavar=metavar, default=None, help=help_)


def data_paths(args) -> dict:
    """The ``DATA_FLAGS`` given, as absolute paths: a sweep's workers (a pool, a Dask cluster on a shared
    file system) read them from wherever they run."""
    return {n: os.path.abspath(getattr(args, n)) for n in DATA_FLAGS if getattr(args, n, None) is not None}


def add_parser(subparsers):
    """Register ``run`` and ``sweep`` (the sweep shares every run flag)."""
    from . import sweep

    p = common.add_command(subparsers, "run", handler, help="train one model on one problem, report its trajectory",
                           description=__doc__.split("\n\n")[0])
    add_run_flags(p, required=False, data=True)  # resolve says what is missing (--target brings --d, --rank)
    sweep.add_parser(subparsers)
    return p


def _only(names: str) -> str:
    return " or ".join(names)


def resolve(config: dict) -> dict:
    """Check a run's flags together and fill in the defaults as used; raises FlagError (one line)."""
    flags = all_flags()
    c = {name: config.get(name) for name in flags}
    data = {name: config[name] for name in DATA_FLAGS if config.get(name) is not None}
    if "target" in data:
        _target_shape(c, data["target"])  # fills --d and --rank
    missing = [flag_name(n) for n, (_, _, e) in flags.items() if e.get("required") and c[n] is None]
    if missing:
        raise FlagError(f"the following arguments are required: {', '.join(missing)}")
    d, r, L, model, kind = c["d"], c["rank"], c["depth"], c["model"], c["problem"]
    if kind not in problems.PROBLEMS or model not in networks.MODELS:
        raise FlagError(f"--problem must be one of {', '.join(problems.PROBLEMS)} and --model one of "
                        f"{', '.join(networks.MODELS)}, got {kind!r} and {model!r}")
    own = problems.problem_options(kind)
    for name, takers in problem_flags().items():
        if c[name] is not None and kind not in takers:
            raise FlagError(f"{flag_name(name)} applies to --problem {_only(takers)} only, not {kind}")
        if name in own and c[name] is None:
            c[name] = None if own[name] is inspect.Parameter.empty else own[name]
    for name in MODEL_FLAGS:
        takers = tuple(m for m in networks.MODELS if name in networks.model_options(m))
        if c[name] is not None and model not in takers:
            raise FlagError(f"{flag_name(name)} applies to --model {_only(takers)} only, not {model}")
    c.update({k: v for k, v in DEFAULTS.items() if c[k] is None})
    if r > d:
        raise FlagError(f"--rank must be in [1, --d={d}], got {r}")
    spec = networks.model_spec(model)
    if L < spec.min_depth:
        raise FlagError(f"--depth must be ≥ {spec.min_depth} for --model {model}, got {L}")
    if spec.rank_hat_default is not None:
        high = spec.rank_hat_max(d, r) if spec.rank_hat_max is not None else d
        if high < r:
            raise FlagError(f"--model {model} needs --rank ≤ {high} at --d {d} (r̂ ≥ r), got --rank {r}")
        if c["rank_hat"] is None:
            c["rank_hat"] = spec.rank_hat_default(d, r)
        elif not r <= c["rank_hat"] <= high:
            raise FlagError(f"--rank-hat must be in [--rank={r}, {high}] for --model {model}, got {c['rank_hat']}")
    if "mask" in data:
        _mask_fraction(c, config, data["mask"])
    if "init" in data:
        _init_chain(c, data["init"])
    if kind == "completion" and math.floor(c["observed"] * d * d) < 1:
        raise FlagError(f"--observed {c['observed']:g} leaves no observed entry at --d {d}: it must be ≥ 1/d² "
                        f"= {1 / d**2:.3g}")
    if "measurements" in own and c["measurements"] is None:
        c["measurements"] = 5 * d * r
    eps = c["init_scale"]
    if L * math.log10(eps) < -300:
        top = math.floor(-300 / math.log10(eps))
        raise FlagError(f"--depth {L} at --init-scale {eps:g} starts from E ≈ ε^L = 1e{L * math.log10(eps):.0f}, "
                        f"past float64's range, so nothing can be learned: use --depth ≤ {top} or a larger ε")
    sizes.check(c)
    return {**c, **data}  # in the order of the flags (then the files given): the order of ``config`` in the JSON


def _target_shape(c: dict, path: str) -> None:
    """--target's d, and its numerical rank as --rank's default (a given --rank must not exceed it)."""
    from ..problems.given import as_matrix, target_rank

    try:
        Phi = as_matrix("target", common.load_array("--target", path))  # (d, d)
        found = target_rank(Phi)  # the SVD make_problem makes
    except (TypeError, ValueError) as err:
        raise FlagError(f"--target {path}: {err}") from None
    d = Phi.shape[0]
    if c["d"] is not None and c["d"] != d:
        raise FlagError(f"--d {c['d']} does not match --target {path} of shape {tuple(Phi.shape)}; leave --d out")
    if c["rank"] is not None and c["rank"] > found:
        raise FlagError(f"--rank must be in [1, {found}] (the numerical rank of --target {path}), got {c['rank']}")
    c["d"], c["rank"] = d, c["rank"] or found


def _mask_fraction(c: dict, config: dict, path: str) -> None:
    """--mask checked against d; --observed becomes the mask's fraction |Ω|/d² (for the cost and the JSON)."""
    from ..problems.given import as_index

    if c["problem"] != "completion":
        raise FlagError(f"--mask applies to --problem completion only, not {c['problem']}")
    if config.get("observed") is not None:
        raise FlagError("--observed and --mask: give one of them (the mask sets p = |Ω|/d²)")
    try:
        n = as_index(common.load_array("--mask", path), c["d"]).numel()
    except (TypeError, ValueError) as err:
        raise FlagError(f"--mask {path}: {err}") from None
    c["observed"] = n / c["d"] ** 2


def _init_chain(c: dict, path: str) -> tuple[list, list[str]]:
    """--init's factors (float64 tensors) if they chain from d to d, and their keys; the model's layout is
    checked when it is built."""
    Ws, keys = common.load_factors("--init", path)
    try:
        return networks.as_factors(Ws, c["d"]), keys
    except (TypeError, ValueError) as err:
        raise _init_error(path, keys, err) from None


def _init_error(path: str, keys: list[str], err: Exception) -> FlagError:
    """A core error about ``Ws[i]`` as one about --init's key for that factor."""
    return FlagError(f"--init {path}: " + re.sub(r"Ws\[(\d+)\]", lambda m: keys[int(m.group(1))], str(err)))


def run_config(config: dict, *, callback=None) -> dict:
    """Run one resolved configuration; returns the ``cdln.run/1`` JSON-ready dict. On Ctrl-C raises
    ``loop.Interrupted`` with ``.result`` the partial JSON (``interrupted_step`` set)."""
    from .. import __version__
    from ..loop import Interrupted
    from ..training import TrainConfig, train
    from . import diagnostics

    c = config
    options = {name: c[name] for name in problems.problem_options(c["problem"])}
    data = {}
    if c.get("target") is not None:
        data["target"] = common.load_array("--target", c["target"])
    if c.get("mask") is not None:
        data["mask"] = common.load_array("--mask", c["mask"])
        options.pop("observed")  # the mask's own fraction
    Ws, keys = (None, []) if c.get("init") is None else _init_chain(c, c["init"])
    head = {"schema": common.RUN_SCHEMA, "version": __version__, "config": dict(c)}
    try:
        problem = problems.make_problem(c["problem"], c["d"], c["rank"], seed=c["seed"], **options, **data)
        try:
            network = networks.make_network(c["model"], problem, c["depth"], rank_hat=c["rank_hat"],
                                            init_scale=c["init_scale"], lr_ratio=c["lr_ratio"], seed=c["seed"], Ws=Ws)
        except ValueError as err:
            if Ws is None or "Ws" not in str(err):
                raise
            raise _init_error(c["init"], keys, err) from None
        train_config = TrainConfig(lr=c["lr"], steps=c["steps"], tol=c["tol"], record_every=c["record_every"],
                                   max_seconds=c["max_seconds"])
    except diagnostics.NUMERIC_ERRORS as err:  # the init itself left the finite range
        return diagnostics.diverged_at_init(head, err)
    except (ValueError, TypeError) as err:  # the core names its argument: say it as the flag
        raise FlagError(_as_flags(str(err))) from None
    except (MemoryError, RuntimeError) as err:
        raise diagnostics.out_of_memory(c, err) from None
    sigma = problem.sigma.tolist()
    try:
        traj = train(problem, network, train_config, callback=callback)
    except Interrupted as err:
        if err.result is not None and hasattr(err.result, "to_dict"):
            err.result = diagnostics.finish({**head, **err.result.to_dict()}, sigma, problem)
        raise
    except (MemoryError, RuntimeError) as err:
        raise diagnostics.out_of_memory(c, err) from None
    return diagnostics.finish({**head, **traj.to_dict()}, sigma, problem)


def _as_flags(message: str) -> str:
    """A core message that opens with an argument's name ("rank_hat must be …") opens with its flag."""
    for name in sorted(all_flags(), key=len, reverse=True):  # rank_hat before rank
        if re.match(rf"{name}(?=[ =])", message):
            return flag_name(name) + message[len(name):]
    return message


def summary(result: dict) -> list[str]:
    """The summary line of a run, then one line per warning."""
    c = result["config"]
    alpha = "γ" if c["model"] == "compressed" else "α"
    head = (f"{c['problem']} d={c['d']} r={c['rank']} | {c['model']} L={c['depth']} "
            f"{alpha}={c['lr_ratio']:g} η={c['lr']:g} | {result.get('n_params', '?')} params")
    steps = result.get("steps") or [None]
    if result.get("diverged_step") is not None:
        state = f"DIVERGED at step {result['diverged_step']}"
    elif result.get("interrupted_step") is not None:
        state = f"interrupted at step {result['interrupted_step']}"
    elif result.get("converged_step") is not None:
        state = f"converged at step {result['converged_step']}"
    else:
        state = f"stopped at step {steps[-1]}"

    def last(key: str) -> str:
        values = result.get(key) or [None]
        return "n/a" if values[-1] is None else f"{values[-1]:.3e}"

    test = "" if not result.get("test_loss") or result["test_loss"][-1] is None else f", test {last('test_loss')}"
    wall = (result.get("wall_time") or [0.0])[-1] or 0.0
    line = (f"{head} | {state}: train loss {last('train_loss')}, recovery {last('recovery_error')}{test}, "
            f"{wall:.3f} s")
    return [line] + [f"warning: {w}" for w in result.get("warnings", [])]


def handler(args, parser) -> int:
    config = resolve({name: getattr(args, name, None) for name in [*all_flags(), *DATA_FLAGS]})
    with common.quiet_native_output():
        result = run_config(config)
    common.emit(result, args.out, summary(result))
    return common.EXIT_DIVERGED if result["diverged_step"] is not None else common.EXIT_OK

