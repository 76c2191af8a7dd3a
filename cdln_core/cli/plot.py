"""``cdln plot RESULTS --x FLAG [--y FLAG] --metric NAME [--group FLAG] [--out FILE.html]``.

A sweep's table (``results.csv``, or the folder that holds it) as a figure: with ``--x`` alone, the
metric against that flag as the median over seeds with a min–max band (one line per ``--group``
value); with ``--x`` and ``--y``, a heat map of the median. Written as one self-contained HTML file
(plotly.js inside: it opens offline), ``sweep.html`` beside the table by default.
"""

from __future__ import annotations

import os

from . import common
from .common import FlagError

__all__ = ["add_parser", "handler"]


def add_parser(subparsers):
    p = common.add_command(subparsers, "plot", handler, help="a figure from a sweep's results table",
                           description=__doc__.split("\n\n")[0])
    p.add_argument("results", metavar="RESULTS", help="a sweep's results.csv, or the folder holding it")
    p.add_argument("--x", required=True, metavar="FLAG", help="the flag across the x axis")
    p.add_argument("--y", default=None, metavar="FLAG", help="a second flag: draw a heat map instead")
    p.add_argument("--group", default=None, metavar="FLAG", help="one line per value of this flag (line plots)")
    p.add_argument("--metric", default="final_step",
                   help="the column to show (default final_step; e.g. converged_step, recovery_error, wall_time)")
    p.add_argument("--out", default=None, metavar="FILE.html", help="where to write the figure (default: "
                   "sweep.html beside the table)")
    return p


def handler(args, parser) -> int:
    from ..sweeps import read_table

    path = args.results
    table = os.path.join(path, "results.csv") if os.path.isdir(path) else path
    if not os.path.isfile(table):
        raise FlagError(f"RESULTS must be a sweep's results.csv or its folder, got {path!r}")
    try:
        rows = read_table(table)
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise FlagError(f"RESULTS: cannot read {table!r} ({err})") from None
    if not rows:
        raise FlagError(f"RESULTS: {table!r} has no rows")
    norm = lambda n: None if n is None else n.lstrip("-").replace("-", "_")
    x, y, group, metric = norm(args.x), norm(args.y), norm(args.group), norm(args.metric)
    for flag, name in (("--x", x), ("--y", y), ("--group", group), ("--metric", metric)):
        if name is not None and name not in rows[0]:
            raise FlagError(f"{flag} must be a column of the table ({', '.join(rows[0])}), got {name!r}")
    if y is not None and group is not None:
        raise FlagError("--group applies to line plots only (without --y)")
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(table)), "sweep.html")
    common.check_out(out)
    from ..plots.sweeps import sweep_line, sweep_map

    fig = sweep_map(rows, x, y, metric) if y is not None else sweep_line(rows, x, metric, group=group)
    common.write_text(fig.to_html(include_plotlyjs=True, full_html=True), out)
    common.say(f"plot: {metric} against {x}{f' and {y}' if y else ''} from {len(rows)} runs → {out}", args.out)
    return common.EXIT_OK
