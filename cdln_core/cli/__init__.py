"""The ``cdln`` command: scripted runs, sweeps, Deep LoRA and the papers' claims, with a JSON contract.

    cdln run    --problem P --d D --rank R --model M --depth L --lr ETA --steps N [...] [--out FILE]
    cdln sweep  --vary FLAG V1 V2 ... <the run flags>                                 [--out FILE]
    cdln lora   ...   (Deep LoRA against LoRA; see ``cdln lora --help``)
    cdln claims ...   (the claims ledger)
    cdln plot RESULTS --x FLAG --metric NAME   (a grid sweep's table as a figure)

Exit status: 0 finished (converged or out of steps), 2 a bad flag (one line on stderr naming the flag
and its allowed range), 3 a run diverged (its step is reported), 130 interrupted (Ctrl-C; the partial
result is written to ``--out``). The JSON schemas (``cdln.run/1``, ``cdln.sweep/1``, ``cdln.lora/1``)
are documented in the README ("The cdln command"); fields are only ever added.

Each subcommand is a module of this package with ``add_parser(subparsers)``; only the module of the
chosen subcommand is imported, so ``cdln run`` never loads plotting or scikit-learn.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
from collections.abc import Sequence

from . import common

__all__ = ["COMMANDS", "main", "build_parser"]

# subcommand → the module of this package that registers it
COMMANDS = {"run": "run", "sweep": "run", "lora": "lora", "claims": "claims", "plot": "plot"}


def _modules(command: str | None) -> list[str]:
    """The modules to load: the chosen command's alone, or all of them (help, or an unknown command)."""
    names = [COMMANDS[command]] if command in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    return [n for n in names if importlib.util.find_spec(f"{__name__}.{n}") is not None]


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``cdln`` parser with every subcommand (or only ``command``'s module, when given)."""
    from .. import __version__

    parser = common.Parser(prog="cdln", description="Deep linear networks and their compression, "
                                                     "from the command line.")
    parser.add_argument("--version", action="version", version=f"cdln {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=common.Parser, metavar="COMMAND")
    for name in _modules(command):
        importlib.import_module(f"{__name__}.{name}").add_parser(sub)
    return parser


def _command(argv: Sequence[str]) -> str | None:
    return next((a for a in argv if not a.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the subcommand, return its exit status."""
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser(_command(argv))
        args = parser.parse_args(argv)
    except KeyboardInterrupt:  # while the subcommand's modules load: nothing started yet
        sys.stderr.write("interrupted\n")
        return common.EXIT_INTERRUPTED
    return common.execute(args)
