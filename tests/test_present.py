"""Lecture mode in a real browser: ``make present NB=03`` (Voila, the kit's ``present`` template) in Chromium.

Serves notebook 03 in its quick mode (``docs/present.py 03 --quick``) and checks what a lecturer needs: no
code cell on the screen, large type, the live figures drawn on load (not empty axes waiting for a slider),
and moving a slider redraws a figure with no error. Needs ``/usr/bin/chromium``; never downloads a browser.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs"))

import present  # noqa: E402  (docs/present.py)
from test_browser import CHROMIUM, CHROMIUM_ARGS, _free_port  # noqa: E402
from test_site import require_chromium, stop  # noqa: E402

NOTEBOOK = "03"


def _lines(page) -> list[str]:
    return page.eval_on_selector_all("path.js-line", "els => els.map(e => e.getAttribute('d'))")


@pytest.fixture(scope="module")
def voila(tmp_path_factory, wait_until_serving):
    require_chromium()
    tmp = tmp_path_factory.mktemp("present")
    served = present.prepare(present.find_notebook(NOTEBOOK), quick=True, out_dir=tmp)
    port = _free_port()
    log = open(tmp / "voila.log", "w")
    env = {**present.voila_env(), "JUPYTER_RUNTIME_DIR": str(tmp / "runtime")}
    proc = subprocess.Popen(present.voila_command(served, port=port), env=env, cwd=tmp, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}/"

    def listening() -> bool:  # a bare connect: a GET of the page would start a kernel and run the notebook
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return True

    try:
        wait_until_serving(proc, listening, tmp / "voila.log", "Voila")
        yield url, tmp
    finally:
        stop(proc)
        log.close()


def test_present_shows_no_code_and_sliders_redraw(voila):
    from playwright.sync_api import sync_playwright

    url, tmp = voila
    artifacts = ROOT / "artifacts"
    artifacts.mkdir(exist_ok=True)
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url, timeout=120_000)
            page.wait_for_selector(".widget-readout", timeout=240_000)
            # drawn on load: the live figures have lines before any slider moves
            page.wait_for_function("document.querySelectorAll('path.js-line').length > 0", timeout=120_000)
            page.wait_for_selector("text=C-DLN error", timeout=240_000)  # the live panel's first run ended
            _settle(page)  # the cells after it (the claims) have run: the kernel is free for the slider
            before = _lines(page)
            code = page.evaluate(
                """() => Array.from(document.querySelectorAll('.jp-InputArea, .jp-CodeMirrorEditor, .cm-editor'))
                     .filter(e => e.offsetParent !== null).length"""
            )
            sources = page.inner_text("body")
            size = page.evaluate(
                "() => parseFloat(getComputedStyle(document.querySelector('.jp-RenderedHTMLCommon p')).fontSize)"
            )
            readout = page.locator(".widget-readout").first
            readout.click()
            page.keyboard.press("Control+A")
            page.keyboard.type(str(_other_value(readout.inner_text())))
            page.keyboard.press("Enter")
            deadline = time.time() + 180
            while _lines(page) == before and time.time() < deadline:
                time.sleep(0.25)
            after = _lines(page)
            time.sleep(2)
            page.screenshot(path=str(artifacts / "present_03.png"), full_page=False)
            body = page.inner_text("body")
        finally:
            browser.close()
    assert before, "the figures are drawn on load, before a slider moves"
    assert code == 0, f"{code} code cells are visible in lecture mode"
    assert "from cdln_core import" not in sources and "INTERACTIVE =" not in sources, "no source code on screen"
    assert size >= 20, f"large type for a projector: paragraphs are {size}px"
    assert after != before, "moving a slider changed a figure"
    assert "Traceback" not in body and not errors, errors


def _settle(page, quiet: float = 8.0, limit: float = 300.0) -> None:
    """Wait until the page's text has not changed for ``quiet`` seconds (Voila renders cell by cell)."""
    last, since, start = None, time.time(), time.time()
    while time.time() - start < limit:
        text = page.inner_text("body")
        if text != last:
            last, since = text, time.time()
        elif time.time() - since >= quiet:
            return
        time.sleep(0.5)


def _other_value(text: str) -> int:
    """A different valid value for the first slider (an integer slider such as r̂ or depth)."""
    value = int(float(text))
    return value + 1 if value < 3 else value - 1


def test_present_names_the_notebook_or_says_which_exist():
    assert present.find_notebook("03").name.startswith("03_")
    for bad in ["99", "", "0"]:
        with pytest.raises(ValueError, match="NB"):
            present.find_notebook(bad)
    cmd = present.voila_command(present.find_notebook("03"), port=8866)
    assert "--progressive_rendering=True" in cmd and "--template=present" in cmd and "--strip_sources=True" in cmd
    assert (present.TEMPLATES / "voila" / "templates" / "present" / "index.html.j2").is_file()
