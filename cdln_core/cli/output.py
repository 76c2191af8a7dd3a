"""What a ``cdln`` subcommand says and writes, and nothing else.

- ``FlagError``: a bad flag or combination, one line naming the flag and its allowed range;
- ``check_out``: the ``--out`` path, checked before any work ('-' is stdout);
- ``strict``/``dumps``: strict JSON, every non-finite number as ``null`` (no NaN or Infinity tokens);
- ``write_out``/``write_text``: atomic writes (a temporary file beside the target, then ``os.replace``;
  a Ctrl-C during the write waits for the rename), so a failed write leaves any old file whole;
- ``say``/``emit``: the summary lines on stdout, or on stderr when the JSON takes stdout;
- ``quiet_native_output``: what LAPACK/MKL print on file descriptor 1 never reaches stdout.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import sys
import tempfile
import threading

import numpy as np

__all__ = ["FlagError", "check_out", "strict", "dumps", "write_out", "write_text", "say", "emit",
           "quiet_native_output", "drop_stdout"]


class FlagError(Exception):
    """A bad flag or combination: the message is one line naming the flag and its allowed range."""


def check_out(path: str | None, flag: str = "--out") -> None:
    """Refuse an output path that cannot be written, before any work starts."""
    if path is None or path == "-":
        return
    if not isinstance(path, str) or path.strip() == "":
        raise FlagError(f"{flag} must be a file path or '-' for stdout, got {path!r}")
    try:
        real = os.path.realpath(path)
    except (ValueError, OSError) as err:  # an embedded NUL byte, a name too long
        raise FlagError(f"{flag} must be a usable file path, got {path!r} ({err})") from None
    if os.path.isdir(real):
        raise FlagError(f"{flag} must be a file, not the directory {path!r}")
    if len(os.path.basename(real).encode(errors="surrogateescape")) > 200:  # room for the temporary name
        raise FlagError(f"{flag}: the file name must be at most 200 bytes, got {len(os.path.basename(real))}")
    parent = os.path.dirname(real) or "."
    if not os.path.isdir(parent):
        raise FlagError(f"{flag}: {os.path.dirname(path) or '.'!r} is not an existing folder (for {path!r})")
    if os.path.exists(real) and not os.access(real, os.W_OK):
        raise FlagError(f"{flag}: {path!r} is not writable")
    if os.path.isfile(real) or not os.path.exists(real):
        if not os.access(parent, os.W_OK | os.X_OK):
            raise FlagError(f"{flag}: the folder {parent!r} is not writable (for {path!r})")


def strict(obj):
    """``obj`` with numpy/torch values made plain and every non-finite float made None."""
    if isinstance(obj, dict):
        return {str(k): strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict(v) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):  # numpy arrays and scalars, tensors
        return strict(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    return obj


def dumps(obj) -> str:
    """Strict JSON (no NaN or Infinity tokens) on one line."""
    return json.dumps(strict(obj), allow_nan=False, separators=(",", ":"))


def write_out(obj, path: str | None, flag: str = "--out") -> None:
    """Write ``obj`` as strict JSON to ``path`` ('-': stdout) with ``write_text``."""
    if path is not None:
        write_text(dumps(obj) + "\n", path, flag)


def write_text(text: str, path: str, flag: str = "--out") -> None:
    """Write ``text`` to stdout for '-', else atomically (a temporary file beside the target, then
    ``os.replace``), so a failed write leaves any old file whole. Raises FlagError naming ``flag``."""
    if path == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    real = os.path.realpath(path)
    if os.path.exists(real) and not os.path.isfile(real):  # a device or a pipe: write through it
        try:
            with open(real, "w") as f:
                f.write(text)
        except OSError as err:
            raise FlagError(f"{flag}: could not write {path!r} ({err.strerror or err})") from None
        return
    with _sigint_deferred():  # a Ctrl-C now would lose a finished result: it waits for the rename
        _replace(text, path, real, flag)


def _replace(text: str, path: str, real: str, flag: str) -> None:
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(real) or ".", prefix="." + os.path.basename(real) + ".",
                                   suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _file_mode(real))  # mkstemp makes 0600; a result file gets the usual mode
        os.replace(tmp, real)
        tmp = None
    except OSError as err:
        raise FlagError(f"{flag}: could not write {path!r} ({err.strerror or err}); "
                        "any earlier file there is unchanged") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


@contextlib.contextmanager
def _sigint_deferred():
    """Hold a Ctrl-C until the block is done (main thread only; elsewhere signals do not arrive)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    seen = []
    before = signal.signal(signal.SIGINT, lambda *a: seen.append(True))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)
    if not seen or before in (signal.SIG_IGN, None):
        return
    if callable(before) and before is not signal.default_int_handler:
        before(signal.SIGINT, None)
    else:  # Python's own handler (or the system default): the Ctrl-C arrives now, after the write
        raise KeyboardInterrupt


def say(lines: str | list[str], out: str | None) -> None:
    """Print summary line(s): on stdout, or on stderr when the JSON takes stdout (``out`` is '-')."""
    stream = sys.stderr if out == "-" else sys.stdout
    for line in [lines] if isinstance(lines, str) else lines:
        stream.write(line + "\n")
    stream.flush()


def emit(result, out: str | None, summary: str | list[str] = ()) -> None:
    """``say`` the summary, then write the JSON result to ``out`` (if given)."""
    say(summary, out)
    write_out(result, out)


@contextlib.contextmanager
def quiet_native_output():
    """Send what native code (LAPACK, MKL, OpenMP) prints on file descriptor 1 to /dev/null, so
    stdout carries only what the user asked for. Python's own ``sys.stdout`` is flushed around it."""
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError, AttributeError):  # no real fd 1 (an embedding host): nothing to guard
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
        yield
    finally:
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def drop_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush has nothing to complain about."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _file_mode(path: str) -> int:
    """The mode an ordinary ``open(path, "w")`` would give: the old file's, else 0666 less the umask."""
    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
