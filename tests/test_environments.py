"""The three ways in agree: pyproject.toml (pip, ``make``), environment.yml (conda), binder/ (Binder).

- binder/environment.yml holds the kit's runtime (core + ``notebooks`` + ``sweep`` extras) and torch is
  conda-forge's CPU-only build; binder/postBuild installs the kit without letting pip resolve torch;
- environment.yml holds everything of the ``test`` extra (conda where conda-forge has it, pip otherwise);
- every version floor is the same in all three files, and no file lists a package pyproject does not;
- the README's Binder badge is the one docs/links.py builds and opens the tour; ``make lab`` serves the
  repository (README and docs reachable) and opens the tour; the README names only files that exist.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

try:
    import tomllib
except ImportError:  # Python 3.10: the copy pip vendors
    from pip._vendor import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs"))

import links  # noqa: E402  (docs/links.py)
from test_browser import _free_port  # noqa: E402
from test_site import stop  # noqa: E402

CONDA_NAME = {"torch": "pytorch-cpu"}  # pip name → conda-forge name, where they differ
GPU_TORCH = {"pytorch", "pytorch-gpu", "cudatoolkit", "cuda-version", "pytorch-cuda"}
NOT_PACKAGES = {"python", "pip"}


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _expand(extras: list[str]) -> dict[str, Requirement]:
    """Requirements of the core and the named extras, following ``cdln-kit[...]`` self-references."""
    project = _pyproject()
    seen, todo, reqs = set(), list(extras), {}
    for line in project["dependencies"]:
        req = Requirement(line)
        reqs[req.name.lower()] = req
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for line in project["optional-dependencies"][extra]:
            req = Requirement(line)
            if req.name == project["name"]:
                todo.extend(req.extras)
                continue
            reqs[req.name.lower()] = req
            if req.name == "dask" and "distributed" in req.extras:  # conda-forge splits dask[distributed]
                reqs["distributed"] = Requirement(f"distributed{req.specifier}")
    return reqs


def _conda_env(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """({conda name: spec}, {pip name: spec}) of an environment file."""
    env = yaml.safe_load(path.read_text())
    conda, pip = {}, {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for line in dep["pip"]:
                if line.startswith("-"):
                    continue
                req = Requirement(line)
                pip[req.name.lower()] = str(req.specifier)
            continue
        m = re.match(r"^([A-Za-z0-9_.\-]+)\s*(.*)$", dep)
        conda[m.group(1).lower()] = m.group(2).strip()
    return conda, pip


def _floor(spec: str) -> str | None:
    m = re.search(r">=\s*([0-9][0-9.]*)", spec)
    return m.group(1) if m else None


def _check_env(path: Path, wanted: dict[str, Requirement]) -> None:
    conda, pip = _conda_env(path)
    listed = {**conda, **pip}
    for name, req in wanted.items():
        key = CONDA_NAME.get(name, name)
        assert key in listed, f"{path.relative_to(ROOT)} misses {key} (pyproject: {req})"
        assert _floor(listed[key]) == _floor(str(req.specifier)), (
            f"{path.relative_to(ROOT)}: {key} {listed[key]!r} but pyproject says {req.specifier}"
        )
    known = {CONDA_NAME.get(n, n) for n in wanted} | NOT_PACKAGES
    extra = sorted(set(listed) - known)
    assert not extra, f"{path.relative_to(ROOT)} lists packages pyproject.toml does not: {extra}"
    assert not GPU_TORCH & set(conda), f"{path.relative_to(ROOT)}: GPU torch {GPU_TORCH & set(conda)}"
    assert "pytorch-cpu" in conda, f"{path.relative_to(ROOT)}: torch must be conda-forge's CPU-only pytorch-cpu"
    assert "torch" not in pip, f"{path.relative_to(ROOT)}: torch from pip could be a CUDA build"


def test_binder_environment_is_the_runtime_with_cpu_torch():
    _check_env(ROOT / "binder" / "environment.yml", _expand(["notebooks", "sweep"]))
    channels = yaml.safe_load((ROOT / "binder" / "environment.yml").read_text())["channels"]
    assert channels == ["conda-forge"], "pytorch-cpu is a conda-forge package"


def test_conda_environment_is_the_test_extra():
    _check_env(ROOT / "environment.yml", {**_expand(["test"]), **_site_extras()})


def _site_extras() -> dict[str, Requirement]:
    """Packages the Makefile installs for the site beyond pyproject (until they move into its `docs` extra)."""
    m = re.search(r"^SITE_EXTRAS \?= (.+)$", (ROOT / "Makefile").read_text(), re.M)
    return {Requirement(s).name: Requirement(s) for s in re.findall(r'"([^"]+)"', m.group(1))} if m else {}


def test_postbuild_installs_the_kit_without_resolving_torch():
    text = (ROOT / "binder" / "postBuild").read_text()
    assert os.access(ROOT / "binder" / "postBuild", os.X_OK), "repo2docker runs postBuild only if executable"
    installs = [line for line in text.splitlines() if "pip install" in line and not line.lstrip().startswith("#")]
    assert installs and all("--no-deps" in line for line in installs), installs


def test_readme_binder_badge_opens_the_tour():
    readme = (ROOT / "README.md").read_text()
    assert links.badge_markdown() in readme, f"README needs the badge: {links.badge_markdown()}"
    assert links.binder_url().endswith("?urlpath=lab/tree/notebooks/00_tour.ipynb")
    assert (ROOT / links.START).is_file()
    with pytest.raises(ValueError, match="repo"):
        links.binder_url("no-slash")


def test_readme_names_only_files_that_exist():
    readme = (ROOT / "README.md").read_text()
    readme = re.sub(r"```.*?```", "", readme, flags=re.S)  # commands and code, not file references
    names = set(re.findall(r"\]\((?!https?:|#)([^)\s]+)\)", readme))  # Markdown links and images
    # a backticked name is a file reference if it has a file's extension or starts in a folder of the repo
    # (`cdln.run/1` is a schema name, not a path)
    names |= {
        n for n in re.findall(r"`([^`\s]+)`", readme)
        if re.search(r"\.(py|md|yml|toml|ipynb|png|html)$", n) or (ROOT / n.split("/")[0]).is_dir() and "/" in n
    }  # fmt: skip
    generated = ("build/", "artifacts/", ".venv/")  # made by make book / make test / make lab
    missing = sorted(
        n for n in names
        if not n.startswith(generated) and not n.startswith("-") and "*" not in n and "…" not in n
        and not (ROOT / n.split("#")[0]).exists() and not list(ROOT.glob(n.split("#")[0] + "*"))
    )  # fmt: skip
    assert not missing, f"README names files the repository does not hold: {missing}"
    assert "SPEC" not in readme, "the README cites papers' sections, never SPEC"


@pytest.mark.slow
def test_make_lab_serves_the_repository_and_opens_the_tour(tmp_path):
    port = _free_port()
    cmd = subprocess.run(["make", "-s", "-n", "lab", f"PORT={port}"], cwd=ROOT, capture_output=True, text=True)
    text = " ".join(cmd.stdout.replace("\\\n", " ").split())  # the recipe, continuation lines joined
    assert "/bin/jupyter lab" in text, cmd.stdout + cmd.stderr
    line = text[text.rfind(" ", 0, text.index("/bin/jupyter lab")) + 1 :]  # set-up steps dropped, if any
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path), "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "ws")}
    full = line + " --no-browser --ServerApp.token= --ServerApp.password="
    proc = subprocess.Popen(["bash", "-c", full], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    try:
        deadline, redirect, names = time.time() + 90, None, []
        while time.time() < deadline:
            try:
                opener = urllib.request.build_opener(_NoRedirect)
                try:
                    opener.open(f"http://127.0.0.1:{port}/", timeout=3)
                except urllib.error.HTTPError as err:
                    redirect = err.headers.get("Location")
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents/", timeout=3) as r:
                    names = [c["name"] for c in json.load(r)["content"]]
                break
            except OSError:
                time.sleep(0.5)
    finally:
        stop(proc)
    assert redirect and redirect.rstrip("?").endswith("/lab/tree/notebooks/00_tour.ipynb"), redirect
    assert {"README.md", "docs", "notebooks"} <= set(names), f"the server's root is the repository: {names}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None
