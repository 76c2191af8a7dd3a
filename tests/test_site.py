"""The course site (``make book``), built in quick mode and read in a real browser.

Builds the site once per session with ``docs/build_book.py`` (notebooks executed under papermill with
``INTERACTIVE=False``; executed notebooks are reused from ``build/book/executed`` when their content hash
matches) into a temporary folder, then checks what a student with no Python needs:

- every internal link and every local script, stylesheet and image resolves (anchors included), and no
  page loads anything from the network (the site works in a classroom with no internet);
- in headless Debian Chromium, opened from ``file://`` with every non-file request blocked, every page
  loads with no console error, every plotly figure has drawn traces, and no page shows a traceback or
  stderr output; the math is MathML in the page;
- the landing page maps the whole series and the reference pages are there; the pages cite the papers,
  never a file the repository does not hold; a second Sphinx pass over the same notebooks gives the
  same bytes.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs"))

import build_book  # noqa: E402  (docs/build_book.py)
from test_browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

CACHE = build_book.DEFAULT_BUILD / "executed"


def require_chromium() -> None:
    """Skip without Debian's Chromium, except in CI, where a missing browser fails (never a quiet skip)."""
    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} is missing: apt-get install -y chromium (make test does it as root)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def stop(proc: subprocess.Popen) -> None:
    """End a server this test started: its own process group, politely, then for good."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=wait)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("book")
    return build_book.build(quick=True, build_dir=work, out=work / "html", cache=CACHE, log=lambda *a: None)


def _pages(site: Path) -> list[Path]:
    return sorted(p for p in site.rglob("*.html") if "_static" not in p.parts)


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name == "id" and value:
                self.ids.add(value)
            if value and (name == "href" and tag in ("a", "link") or name == "src"):
                self.refs.append((tag, name, value))


def _parse(path: Path) -> _Refs:
    parser = _Refs()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def test_internal_links_resolve_and_nothing_comes_from_the_network(site):
    parsed = {p: _parse(p) for p in _pages(site)}
    broken, remote = [], []
    for page, refs in parsed.items():
        for tag, attr, value in refs.refs:
            url = urlsplit(value)
            if url.scheme in ("http", "https") or value.startswith("//"):
                if not (tag == "a" and attr == "href"):  # a link away is fine; a script, style or image is not
                    remote.append(f"{page.relative_to(site)}: <{tag} {attr}={value}>")
                continue
            if url.scheme in ("mailto", "data", "javascript"):
                continue
            target = (page.parent / unquote(url.path)).resolve() if url.path else page
            if not target.exists():
                broken.append(f"{page.relative_to(site)}: {value}")
                continue
            if url.fragment and target.suffix == ".html":
                ids = parsed[target].ids if target in parsed else _parse(target).ids
                if unquote(url.fragment) not in ids:
                    broken.append(f"{page.relative_to(site)}: {value} (no such anchor)")
    assert not broken, "broken internal links:\n" + "\n".join(broken[:40])
    assert not remote, "pages load from the network:\n" + "\n".join(remote[:40])


def test_landing_page_maps_the_series_and_the_reference_pages_exist(site):
    index = (site / "index.html").read_text(encoding="utf-8")
    for notebook in build_book.notebooks():
        assert (site / "notebooks" / f"{notebook.stem}.html").is_file(), notebook.name
        assert f'href="notebooks/{notebook.stem}.html"' in index, f"the map links {notebook.stem}"
    for page in build_book.PAGES[1:] + [p for p in build_book.OPTIONAL_PAGES if (ROOT / "docs" / p).exists()]:
        name = page.removesuffix(".md") + ".html"
        assert (site / name).is_file(), name
        assert f'href="{name}"' in index, f"the landing page links {name}"
    assert "quick mode" in index, "the landing page says which mode built it"


def test_pages_cite_papers_not_files_users_lack(site):
    offenders = []
    for page in _pages(site):
        text = re.sub(r"<[^>]+>", " ", page.read_text(encoding="utf-8"))
        for m in re.finditer(r"SPEC(\.md| ?§)", text):
            offenders.append(f"{page.relative_to(site)}: …{text[max(0, m.start() - 60) : m.end() + 20]!r}")
    assert not offenders, "cite [K] §x / [Y] §x, never SPEC:\n" + "\n".join(offenders[:30])


def test_math_is_mathml_and_figures_are_local(site):
    notation = (site / "notation.html").read_text(encoding="utf-8")
    assert notation.count("<math") > 20 and "mathjax" not in notation.lower()
    figures = sum(p.read_text(encoding="utf-8").count('class="cdln-plotly"') for p in _pages(site))
    assert figures >= len(build_book.notebooks()), f"only {figures} plotly figures in the whole site"
    assert (site / "_static" / "plotly.min.js").stat().st_size > 1_000_000


def test_sphinx_step_is_deterministic(site, tmp_path):
    executed = sorted((site.parent / "src" / "notebooks").glob("*.ipynb"))  # the same runs, staged again
    again = build_book.render(executed, mode="quick", build_dir=tmp_path, out=tmp_path / "html")
    first = {p.relative_to(site): p.read_bytes() for p in site.rglob("*") if p.is_file()}
    second = {p.relative_to(again): p.read_bytes() for p in again.rglob("*") if p.is_file()}
    assert first.keys() == second.keys()
    differ = sorted(str(k) for k in first if first[k] != second[k] and k.name != ".buildinfo")
    assert not differ, f"two builds from the same notebooks differ in {differ[:10]}"


@pytest.mark.browser
def test_every_page_in_chromium(site):
    require_chromium()
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    checked_figures = 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            network: list[str] = []

            def route(r):
                if r.request.url.startswith("file:"):
                    return r.continue_()
                network.append(r.request.url)
                return r.abort()

            context.route("**/*", route)
            for page_path in _pages(site):
                name = str(page_path.relative_to(site))
                page = context.new_page()
                errors: list[str] = []
                page.on("console", lambda m, e=errors: e.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda exc, e=errors: e.append(f"uncaught: {exc}"))
                page.goto(page_path.as_uri(), wait_until="load", timeout=60_000)
                n = page.evaluate("document.querySelectorAll('div.cdln-plotly').length")
                if n:
                    page.wait_for_function(
                        "Array.from(document.querySelectorAll('div.cdln-plotly')).every(d => d._fullLayout)",
                        timeout=60_000,
                    )
                drawn = page.evaluate(
                    """() => Array.from(document.querySelectorAll('div.cdln-plotly')).map(d =>
                        (d.data || []).length > 0 && d.querySelectorAll('g.trace, .hm, image').length > 0)"""
                )
                checked_figures += len(drawn)
                blank = [i for i, ok in enumerate(drawn) if not ok]
                shown = page.evaluate(
                    """() => ({tracebacks: document.querySelectorAll('.output.traceback, .output.stderr').length,
                              text: document.body.innerText})"""
                )
                page.close()
                if errors:
                    problems.append(f"{name}: console errors {errors[:3]}")
                if blank:
                    problems.append(f"{name}: figures {blank} of {len(drawn)} have no drawn trace")
                if shown["tracebacks"] or "Traceback (most recent call last)" in shown["text"]:
                    problems.append(f"{name}: shows a traceback or stderr output")
        finally:
            browser.close()
    assert not network, f"pages asked the network for {sorted(set(network))[:10]}"
    assert checked_figures > 0
    assert not problems, "\n".join(problems)
