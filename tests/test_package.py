"""Packaging promises: `import cdln_core` needs torch and numpy only, and touches no global seed."""

import ast
import os
import re
import subprocess
import sys
from pathlib import Path


def test_import_needs_only_torch_and_numpy():
    code = ("import sys, cdln_core; heavy = [m for m in ('plotly', 'ipywidgets', 'sklearn', 'matplotlib', "
            "'anywidget') if m in sys.modules]; print(heavy)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


def test_core_never_touches_the_global_generator():
    import torch

    import cdln_core as C

    torch.manual_seed(123)
    before = torch.get_rng_state()
    problem = C.make_problem("sensing", 10, 2, measurements=40, noise=0.1, seed=4)
    for kind in ("dln", "cdln", "compressed"):
        net = C.make_network(kind, problem, 3, rank_hat=2 if kind != "dln" else None, seed=4)
        C.train(problem, net, C.TrainConfig(lr=1.0, steps=5))
    assert torch.equal(before, torch.get_rng_state())


# --- the import graph: core at the bottom, experiments above, interfaces on top, no arrow back up ---

CORE = {"checks", "seeds", "threads", "loop", "dln", "factors", "compression", "problems", "networks", "training",
        "spectra"}
EXPERIMENTS = {"lora", "nonlinear", "claims", "lora_experiments", "photograph"}
INTERFACES = {"cli", "widgets", "plots", "lesson", "lora_cli", "__main__"}
PACKAGE = Path(__file__).resolve().parents[1] / "cdln_core"


def _top(module_path: Path) -> str:
    """The first component under cdln_core: 'problems' for problems/base.py, 'dln' for dln.py; every
    ``__main__.py`` (a ``python -m`` entry point) is an interface."""
    rel = module_path.relative_to(PACKAGE)
    if rel.name == "__main__.py":
        return "__main__"
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imported_tops(module_path: Path) -> set[str]:
    """Every cdln_core component a module imports, anywhere in it (functions included)."""
    rel = module_path.relative_to(PACKAGE)
    package = ["cdln_core", *rel.parts[:-1]]  # the module's own package
    found = set()
    for node in ast.walk(ast.parse(module_path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = [*base, *(node.module.split(".") if node.module else [])]
            names = [".".join(target)] if node.module else [".".join([*target, a.name]) for a in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "cdln_core" and len(parts) > 1:
                found.add(parts[1])
    return found


def test_the_import_graph_has_no_arrow_back_up():
    modules = [p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE]
    seen_core = set()
    bad = []
    for path in modules:
        layer = _top(path)
        forbidden = EXPERIMENTS | INTERFACES if layer in CORE else INTERFACES if layer in EXPERIMENTS else set()
        seen_core |= {layer} & CORE
        for target in _imported_tops(path) & forbidden:
            bad.append(f"{path.relative_to(PACKAGE)} imports {target}")
    assert seen_core == CORE  # the check looked at every core module
    assert not bad, bad


def test_the_import_graph_check_sees_relative_and_nested_imports(tmp_path):
    """The checker itself: a core module importing an interface inside a function is caught."""
    fake = PACKAGE / "problems" / "_probe_for_test.py"
    fake.write_text("def f():\n    from ..plots import theme\n    from .. import widgets\n")
    try:
        assert _imported_tops(fake) == {"plots", "widgets"}
    finally:
        fake.unlink()


# --- docs/architecture.md: its code blocks run, so the page cannot rot ---

ARCHITECTURE = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


def _blocks(text: str) -> list[tuple[str | None, str, str]]:
    """(file name or None, language, code) of every fenced block, in order."""
    return re.findall(r"(?:<!-- file: (\S+) -->\n)?```(\w+)\n(.*?)```", text, re.S)


def test_architecture_page_code_blocks_run(tmp_path):
    blocks = _blocks(ARCHITECTURE.read_text())
    assert sum(lang == "python" for _, lang, _ in blocks) >= 4 and sum(lang == "console" for _, lang, _ in blocks) >= 2
    env = dict(os.environ, PYTHONPATH=str(tmp_path), PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    for i, (name, lang, code) in enumerate(blocks):
        if name:
            (tmp_path / name).write_text(code)
        elif lang == "python":
            script = tmp_path / f"block_{i}.py"
            script.write_text(code)
            proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                                  timeout=600)
            assert proc.returncode == 0, f"block {i}:\n{code}\n{proc.stderr[-3000:]}"
        elif lang == "console":
            for line in code.splitlines():
                if line.startswith("$ "):
                    proc = subprocess.run(["bash", "-c", line[2:]], cwd=tmp_path, env=env, capture_output=True,
                                          text=True, timeout=600)
                    assert proc.returncode == 0, f"{line}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"


def test_the_worked_examples_are_short():
    text = ARCHITECTURE.read_text()
    for title in ("## Worked example: add a problem", "## Worked example: add a parametrization"):
        section = text.split(title, 1)[1].split("\n## ", 1)[0]
        lines = sum(len(code.strip().splitlines()) for _, lang, code in _blocks(section) if lang != "text")
        assert lines < 40, (title, lines)


def test_plugins_named_in_the_environment_are_imported(tmp_path):
    (tmp_path / "probe_plugin.py").write_text("import cdln_core\nLOADED = cdln_core.MODELS[:]\n")
    code = "import cdln_core, probe_plugin; print(probe_plugin.LOADED)"
    env = dict(os.environ, PYTHONPATH=str(tmp_path), CDLN_PLUGINS="probe_plugin")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert "'dln'" in proc.stdout
    env["CDLN_PLUGINS"] = "no_such_plugin_module"
    proc = subprocess.run([sys.executable, "-c", "import cdln_core"], env=env, capture_output=True, text=True)
    assert proc.returncode != 0 and "CDLN_PLUGINS names 'no_such_plugin_module'" in proc.stderr
