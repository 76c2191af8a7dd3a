"""``cdln sweep --vary FLAG V1 V2 …``: the same run for several values of one flag, side by side.

Every value is checked — its range, the combination with the other flags, the cost — before any run
starts, so a bad third value never throws away two finished runs. The result is ``cdln.sweep/1``:
``{"schema", "version", "vary", "values", "runs": [cdln.run/1, …]}``; on Ctrl-C the finished runs and
the interrupted one are written, with ``interrupted_step``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util

from . import common, sizes
from .common import FlagError, flag_name

__all__ = ["add_parser", "handler", "parse_values"]


def _grid():
    """The grid mode (``cli/grid.py``: ``--grid FLAG=V1,V2 …`` over seeds, on a pool or Dask), if installed."""
    if importlib.util.find_spec(f"{__package__}.grid") is None:
        return None
    return importlib.import_module(f"{__package__}.grid")


def add_parser(subparsers):
    p = common.add_command(subparsers, "sweep", handler, out_is_file=False, description=__doc__.split("\n\n")[0],
                           help="the same run for several values of one flag")
    p.add_argument("--vary", default=None, metavar="FLAG", help="the run flag to vary, e.g. lr-ratio, model or depth")
    p.add_argument("values", nargs="*", metavar="VALUE", help="its values (each checked before any run)")
    from .run import add_run_flags

    add_run_flags(p, required=False, data=True)  # your own --target/--mask/--init, the same for every run
    grid = _grid()
    if grid is not None:
        grid.add_grid_flags(p)
    return p


def parse_values(vary: str, texts: list[str]) -> tuple[str, list]:
    """(the flag's name, its values parsed), or FlagError naming ``--vary`` and the bad value."""
    from .run import all_flags

    flags = all_flags()
    name = vary.lstrip("-").replace("-", "_")
    if name not in flags:
        raise FlagError(f"--vary must name a run flag ({', '.join(n.replace('_', '-') for n in flags)}), "
                        f"got {vary!r}")
    kind, _, extra = flags[name]
    values = []
    for text in texts:
        if "choices" in extra and text not in extra["choices"]:
            raise FlagError(f"--vary {name.replace('_', '-')}: values must be among {', '.join(extra['choices'])}, "
                            f"got {text!r}")
        try:
            values.append(kind(text))
        except argparse.ArgumentTypeError as err:
            raise FlagError(f"--vary {name.replace('_', '-')}: {flag_name(name)} {err}") from None
    return name, values


def handler(args, parser) -> int:
    from .. import __version__
    from .run import all_flags, data_paths, resolve, run_config, summary

    if getattr(args, "grid", None) is not None:
        return _grid().handler(args, parser)
    if args.vary is None or not args.values:
        raise FlagError("--vary FLAG and its values are required, e.g. --vary lr-ratio 1 2 5")
    common.check_out(args.out)
    name, values = parse_values(args.vary, args.values)
    base = {n: getattr(args, n, None) for n in all_flags()} | data_paths(args)
    if base[name] is not None:
        raise FlagError(f"{flag_name(name)} is given and also varied by --vary; give one of them")
    configs = []
    for value in values:  # all checked before the first run
        try:
            configs.append(resolve(dict(base, **{name: value})))
        except FlagError as err:
            raise FlagError(f"{err} (at --vary {name.replace('_', '-')} value {value})") from None
    sizes.check_all(configs)
    sweep = {"schema": common.SWEEP_SCHEMA, "version": __version__, "vary": name, "values": values, "runs": []}
    diverged = False
    try:
        for config in configs:
            try:
                with common.quiet_native_output():
                    result = run_config(config)
            except FlagError:
                common.write_out(sweep, args.out)  # keep the finished runs, then say what stopped the sweep
                raise
            sweep["runs"].append(result)
            common.say(summary(result), args.out)
            diverged |= result["diverged_step"] is not None
    except KeyboardInterrupt as err:  # in a run (a loop.Interrupted with its partial result) or between runs
        partial = getattr(err, "result", None)
        if isinstance(partial, dict):
            sweep["runs"].append(partial)
        err.result = {**sweep, "interrupted_step": getattr(getattr(err, "outcome", None), "interrupted_step", None)}
        raise
    common.write_out(sweep, args.out)
    return common.EXIT_DIVERGED if diverged else common.EXIT_OK
