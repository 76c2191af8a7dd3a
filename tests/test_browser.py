"""A real browser: JupyterLab + headless Debian Chromium (Playwright) runs a notebook and moves a slider.

Starts JupyterLab on a free loopback port (no token, a private settings folder with notebook windowing
and autosave off) over a temporary copy of ``notebooks/``, so a long run can never save outputs into
the committed notebook. Opens ``00_tour.ipynb``, runs all cells, types a new
depth into the first slider's readout, and checks that the plotted line changed, that the "what to notice"
prose was re-rendered from the new run, and that no traceback
appeared. A screenshot is kept in ``artifacts/``. Needs ``/usr/bin/chromium`` (``apt-get install
chromium``); never downloads a browser.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
NOTEBOOK = "notebooks/00_tour.ipynb"  # relative to the served copy
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory, wait_until_serving):
    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} is missing: apt-get install -y chromium (make test does it as root)"
        if os.environ.get("CI"):  # in CI a missing browser is a failure, never a quiet skip
            pytest.fail(message)
        pytest.skip(message)
    tmp = tmp_path_factory.mktemp("lab")
    settings = tmp / "settings"
    (settings / "@jupyterlab" / "notebook-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings").write_text(
        json.dumps({"windowingMode": "none"})
    )
    (settings / "@jupyterlab" / "docmanager-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "docmanager-extension" / "plugin.jupyterlab-settings").write_text(
        json.dumps({"autosave": False})
    )
    (settings / "@jupyterlab" / "apputils-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        json.dumps({"checkForUpdates": False, "fetchNews": "false"})
    )
    served = tmp / "root"
    # the notebooks alone, not their jupytext sources: the copy is a plain .ipynb, as a student downloads it
    ignore = shutil.ignore_patterns(".ipynb_checkpoints", "src", "jupytext.toml")
    shutil.copytree(ROOT / "notebooks", served / "notebooks", ignore=ignore)
    port = _free_port()
    env = {
        **os.environ,
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "workspaces"),
        "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
    }
    log = open(tmp / "lab.log", "w")
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
            "--allow-root", "--ServerApp.token=", "--ServerApp.password=",
            "--LabApp.expose_app_in_browser=True", f"--ServerApp.root_dir={served}",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        with urllib.request.urlopen(f"{url}/api/status", timeout=2) as r:
            return r.status == 200

    try:
        wait_until_serving(proc, answers, tmp / "lab.log", "JupyterLab")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        (ROOT / "artifacts").mkdir(exist_ok=True)
        shutil.copy(tmp / "lab.log", ROOT / "artifacts" / "browser_lab.log")  # the server's side, kept


def _run_all(page, attempts: int = 4) -> None:
    """Run all cells; on a loaded machine the first command can come before the session is ready and be
    dropped silently, so retry until a cell shows it is queued or ran ([*] or a number)."""
    started = "() => [...document.querySelectorAll('.jp-InputPrompt')].some(e => /\\[(\\*|\\d+)\\]/.test(e.textContent))"
    for _ in range(attempts):
        time.sleep(3)
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
        try:
            page.wait_for_function(started, timeout=30_000)
            return
        except Exception:  # playwright's TimeoutError: try again
            continue
    raise AssertionError(f"run-all-cells never started a cell in {attempts} attempts")


def _lines(page) -> list[str]:
    return page.eval_on_selector_all("path.js-line", "els => els.map(e => e.getAttribute('d'))")


def test_slider_redraws_in_jupyterlab(lab):
    from playwright.sync_api import sync_playwright

    artifacts = ROOT / "artifacts"
    artifacts.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(f"{lab}/lab/tree/{NOTEBOOK}", timeout=90_000)
            page.wait_for_function("window.jupyterapp !== undefined", timeout=90_000)
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
            # the kernel reports idle in the toolbar, then a few seconds for the session to settle
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
            _run_all(page)
            # an output no committed cell holds: the demo's "what to notice", rendered once its first run ended
            # (scoped to outputs: the table of contents lists the same heading, hidden)
            page.wait_for_selector(".jp-OutputArea-output >> text=What the demo shows", timeout=300_000)
            page.wait_for_selector(".widget-readout", timeout=120_000)
            page.wait_for_function("document.querySelectorAll('path.js-line').length > 0", timeout=60_000)
            time.sleep(2)  # the first run's final frame
            before = _lines(page)
            readout = page.locator(".widget-readout").first
            readout.click()
            page.keyboard.press("Control+A")
            page.keyboard.type("2")
            page.keyboard.press("Enter")
            deadline = time.time() + 60
            while _lines(page) == before and time.time() < deadline:
                time.sleep(0.25)
            after = _lines(page)
            # the "what to notice" prose is re-rendered in place from the new run (a display handle update)
            page.wait_for_selector(".jp-OutputArea-output >> text=for depth 2 at", timeout=60_000)
            time.sleep(2)
            page.screenshot(path=str(artifacts / "browser_00_tour.png"), full_page=True)
            body = page.inner_text("body")
        except Exception:
            page.screenshot(path=str(artifacts / "browser_00_tour_failed.png"), full_page=True)
            raise
        finally:
            browser.close()
    assert after != before, "the plotted line changed after the slider moved"
    assert "Traceback" not in body and not page_errors(body), "no traceback in the page"
    assert "Cannot run with these settings" not in body


def page_errors(text: str) -> str:
    """Lines that look like a Python error in rendered output."""
    return "\n".join(line for line in text.splitlines() if line.strip().endswith("Error") or "Error:" in line)

