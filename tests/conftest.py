"""What several test modules share: waiting for a server a test started (JupyterLab, Voila) to answer."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest


def _wait_until_serving(proc: subprocess.Popen, ready: Callable[[], bool], log: Path, name: str,
                        timeout: float = 90.0) -> None:
    """Call ``ready()`` every half second until it returns True (an ``OSError`` from it means "not yet").

    Raises RuntimeError, with the last 3000 characters of the server's ``log``, when ``proc`` exits first or
    ``timeout`` seconds pass."""
    deadline = time.time() + timeout
    while True:
        try:
            if ready():
                return
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            raise RuntimeError(f"{name} did not start: " + log.read_text()[-3000:])
        time.sleep(0.5)


@pytest.fixture(scope="session")
def wait_until_serving() -> Callable[..., None]:
    """``wait_until_serving(proc, ready, log, name, timeout=90.0)``: block until a server this test started
    answers, or fail with its log."""
    return _wait_until_serving
