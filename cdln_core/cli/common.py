"""What every ``cdln`` subcommand shares: the parser, number flags, errors, the writer, exit codes.

(The error type, the strict-JSON writer and the summary lines are written in ``output`` and
re-exported here, so a subcommand needs ``common`` alone.)

A subcommand is one module in ``cdln_core/cli/`` with ``add_parser(subparsers)``; it registers itself
with ``add_command`` and does its work in a handler ``handler(args, parser) -> int``::

    from . import common

    def add_parser(subparsers):
        p = common.add_command(subparsers, "claims", handler, help="check the papers' claims")
        p.add_argument("--seed", type=common.SEED, default=0, help=common.SEED_HELP)
        p.add_argument("--steps", type=common.number(int, 1, 10**7), default=100, help="... in [1, 10⁷]")
        common.add_out(p)                           # --out FILE, '-' for stdout; checked before any work
        return p

    def handler(args, parser) -> int:
        import cdln_core.claims as claims        # heavy imports here, never at the top of the module
        if args.steps > 10 and args.seed == 0:    # a cross-flag check: one line naming the flag, exit 2
            raise common.FlagError("--steps must be ≤ 10 with --seed 0, got 12")
        with common.quiet_native_output():        # LAPACK/MKL chatter never reaches stdout
            result = {"schema": common.CLAIMS_SCHEMA, "rows": claims.check(args.seed)}
        common.emit(result, args.out, summary="3 of 3 claims hold")  # summary line + atomic JSON
        return common.EXIT_OK

``execute`` (called by ``cli.main``) runs the handler and keeps the promise for all of them: a
``FlagError`` (or argparse's own errors) is one line on stderr and exit 2; a Ctrl-C prints
"interrupted at step N", writes the partial result of a ``loop.Interrupted`` whose ``result`` is a
JSON-ready dict to ``--out`` atomically, and exits 130; a closed stdout pipe is quiet; an unexpected
exception is one line (``CDLN_TRACEBACK=1`` shows the traceback). JSON is strict: non-finite numbers
become ``null`` (say why in the record), ``json.dumps(..., allow_nan=False)``.
"""

from __future__ import annotations

import argparse
import errno
import math
import os
import re
import signal
import sys
from collections.abc import Callable

from ..seeds import MAX_SEED
from .output import (
    FlagError,
    check_out,
    drop_stdout,
    dumps,
    emit,
    quiet_native_output,
    say,
    strict,
    write_out,
    write_text,
)

__all__ = [
    "EXIT_OK", "EXIT_USAGE", "EXIT_DIVERGED", "EXIT_INTERRUPTED",
    "RUN_SCHEMA", "SWEEP_SCHEMA", "LORA_SCHEMA", "CLAIMS_SCHEMA",
    "SEED", "SEED_HELP", "FlagError", "Parser", "number", "flag_name", "add_command", "add_out",
    "check_out", "strict", "dumps", "write_out", "write_text", "say", "emit",
    "available_bytes", "check_size", "format_bytes", "load_array", "load_factors",
    "quiet_native_output", "execute",
]

EXIT_OK, EXIT_USAGE, EXIT_DIVERGED, EXIT_INTERRUPTED = 0, 2, 3, 130
RUN_SCHEMA, SWEEP_SCHEMA = "cdln.run/1", "cdln.sweep/1"
LORA_SCHEMA, CLAIMS_SCHEMA = "cdln.lora/1", "cdln.claims/1"

# a negative number (-1, -1e-3, -.5, -inf, -nan) is a value, never a flag
_NEGATIVE = re.compile(r"^-(\d[\d_]*\.?[\d_]*|\.\d[\d_]*)([eE][+-]?\d+)?$|^-(inf|infinity|nan)$", re.IGNORECASE)


class Parser(argparse.ArgumentParser):
    """argparse, but a bad flag gives exactly one line on stderr and exit 2, and ``--lr -1e-3`` reads
    ``-1e-3`` as the value of ``--lr`` (so the range check, not "expected one argument", answers)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = _NEGATIVE

    def error(self, message: str):
        message = " ".join(str(message).split())  # one line whatever argparse or the core wrote
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


def flag_name(name: str) -> str:
    """``rank_hat`` → ``--rank-hat``."""
    return "--" + name.replace("_", "-")


def _show(v) -> str:
    if v == MAX_SEED:
        return "2**63 - 1"
    return f"{v}" if isinstance(v, int) else f"{v:g}"


def _interval(low, high, low_open: bool, high_open: bool) -> str:
    lo = "(-∞" if low is None else ("(" if low_open else "[") + _show(low)
    hi = "∞)" if high is None else _show(high) + (")" if high_open else "]")
    return f"{lo}, {hi}"


def number(kind: type, low=None, high=None, *, low_open: bool = False, high_open: bool = False) -> Callable:
    """An argparse ``type`` for an int or a finite float in an interval; the error states the interval.

    Integers may be written 1000, 1_000 or 1e3 (an integral value); floats never accept inf or nan."""
    if kind not in (int, float):
        raise TypeError(f"kind must be int or float, got {kind!r}")
    rng = _interval(low, high, low_open, high_open)
    need = f"an integer in {rng}" if kind is int else f"a finite number in {rng}"

    def parse(text: str):
        try:
            value = float(text) if kind is float else _integer(text)
        except (ValueError, OverflowError):
            raise argparse.ArgumentTypeError(f"must be {need}, got {text!r}") from None
        if kind is float and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be {need}, got {text!r}")
        bad_low = low is not None and (value < low or (low_open and value == low))
        bad_high = high is not None and (value > high or (high_open and value == high))
        if bad_low or bad_high:
            raise argparse.ArgumentTypeError(f"must be {need}, got {text}")
        return value

    parse.__name__ = f"{kind.__name__} in {rng}"  # argparse names the type in some messages
    return parse


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        value = float(text)  # 1e3, 2.0: accepted when integral and finite
        if not math.isfinite(value) or not value.is_integer():
            raise ValueError(text) from None
        return int(value)


SEED = number(int, 0, MAX_SEED)
SEED_HELP = "seed in [0, 2**63 - 1] (default 0); every seed gives its own independent random streams"


def add_command(subparsers, name: str, handler: Callable, *, out_is_file: bool = True, **kwargs) -> Parser:
    """Register subcommand ``name`` whose work is ``handler(args, parser) -> exit status``.
    ``--out`` is checked as a file (or '-') before the handler runs, unless ``out_is_file`` is False
    (the handler then checks it itself, e.g. as a folder)."""
    p = subparsers.add_parser(name, **kwargs)
    p.set_defaults(_handler=handler, _parser=p, _out_is_file=out_is_file)
    return p


def add_out(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default=None, metavar="FILE",
                   help="write the JSON result to FILE, atomically ('-' for stdout: the summary then goes to stderr)")


def available_bytes() -> int | None:
    """Memory this machine can give now (MemAvailable, else free pages), or None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def format_bytes(n: float) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} bytes"


def check_size(need: float, what: str, fraction: float = 0.8) -> None:
    """Refuse (FlagError) when ``need`` bytes exceed ``fraction`` of the available memory.
    ``what`` starts with the flag(s) responsible: "--d 100000 needs … for the wide network"."""
    have = available_bytes()
    if have is not None and need > fraction * have:
        raise FlagError(f"{what.format(need=format_bytes(need))}; this machine has {format_bytes(have)} available")


def _load(flag: str, path: str):
    """``np.load(path)`` without pickles; a FlagError naming the flag when it cannot be read."""
    import zipfile

    import numpy as np

    if not isinstance(path, str) or not os.path.isfile(path):
        raise FlagError(f"{flag} {path}: no such file")
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        raise FlagError(f"{flag} {path}: not a NumPy file written by np.save or np.savez (or one holding Python "
                        "objects, which are never loaded)") from None


def load_array(flag: str, path: str):
    """The one array of a ``.npy`` file (``np.save``) for ``flag``; FlagError (one line) otherwise."""
    import numpy as np

    array = _load(flag, path)
    if not isinstance(array, np.ndarray):
        array.close()
        raise FlagError(f"{flag} {path}: expected a .npy file holding one array (np.save), got an .npz archive")
    return array


def load_factors(flag: str, path: str) -> tuple[list, list[str]]:
    """The factors of an ``.npz`` archive, in application order, and their keys: W1 … WL, or arr_0 …
    arr_(L−1) as ``np.savez(path, *Ws)`` names them. Floats narrower than float64 are widened (exactly)."""
    import re

    import numpy as np

    archive = _load(flag, path)
    if isinstance(archive, np.ndarray):
        raise FlagError(f"{flag} {path}: expected an .npz archive of factors (np.savez(FILE, W1=…, W2=…)), "
                        "got a .npy array")
    with archive:
        keys = list(archive.files)
        for pattern, first in ((r"W(\d+)", 1), (r"arr_(\d+)", 0)):
            numbers = [re.fullmatch(pattern, k) for k in keys]
            wanted = list(range(first, first + len(keys)))
            if keys and all(numbers) and sorted(int(m.group(1)) for m in numbers) == wanted:
                keys.sort(key=lambda k: int(re.search(r"\d+", k).group()))
                break
        else:
            raise FlagError(f"{flag} {path}: the keys must be W1 … WL or arr_0 … arr_(L−1) (application order), "
                            f"got {', '.join(sorted(keys)) or 'none'}")
        Ws = [archive[k] for k in keys]
    return [W.astype(np.float64) if W.dtype.kind == "f" and W.dtype.itemsize < 8 else W for W in Ws], keys


def _interrupted(err: KeyboardInterrupt, args, prog: str) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the partial write
    try:
        outcome = getattr(err, "outcome", None)
        step = getattr(outcome, "interrupted_step", None)
        sys.stderr.write("interrupted" + (f" at step {step}" if step is not None else "") + "\n")
        result, out = getattr(err, "result", None), getattr(args, "out", None)
        if isinstance(result, dict) and out is not None:
            try:
                write_out(result, out)
            except FlagError:
                pass  # the one line above is all a Ctrl-C prints; the old file (if any) is unchanged
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    return EXIT_INTERRUPTED


def execute(args: argparse.Namespace) -> int:
    """Run the chosen subcommand's handler, keeping the exit-status and one-line promises."""
    parser: Parser = args._parser
    try:
        if getattr(args, "_out_is_file", True):
            check_out(getattr(args, "out", None))
        return int(args._handler(args, parser))
    except FlagError as err:
        parser.error(str(err))
    except KeyboardInterrupt as err:
        return _interrupted(err, args, parser.prog)
    except BrokenPipeError:  # `cdln run ... --out - | head`: the reader left, nothing to say
        drop_stdout()
        return EXIT_OK
    except OSError as err:  # stdout on a full disk, a file the system would not give: one line
        if err.errno in (errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EROFS, errno.EBADF):
            drop_stdout()
        where = err.filename or "stdout"
        sys.stderr.write(f"{parser.prog}: error: could not use {where}: {err.strerror or err}\n")
        return EXIT_USAGE
    except Exception as err:  # a bug: still one line, the traceback only on request
        if os.environ.get("CDLN_TRACEBACK"):
            raise
        message = " ".join(str(err).split())[:300]
        sys.stderr.write(f"{parser.prog}: internal error: {type(err).__name__}: {message} "
                         "(set CDLN_TRACEBACK=1 for the traceback)\n")
        return 1
