"""The kit's public addresses, built from ONE placeholder: the GitHub ``org/repo`` it is published under.

    python docs/links.py            # print the Binder URL and the badge Markdown (README, notebook 00)

When the repository's GitHub name is known, change ``GITHUB_REPO`` here and paste the printed badge into
the README and ``notebooks/00_tour.ipynb``; ``tests/test_environments.py`` checks that the README's badge is
the one this module builds.
"""

from __future__ import annotations

__all__ = ["BINDER_BADGE_SVG", "GITHUB_REPO", "PLACEHOLDER", "badge_markdown", "binder_url"]

PLACEHOLDER = "YOUR-GITHUB-ORG/cdln-kit"
GITHUB_REPO = PLACEHOLDER  # ← PLACEHOLDER: set to the real "org/repo" once the kit is on GitHub
BINDER_BADGE_SVG = "https://mybinder.org/badge_logo.svg"
START = "notebooks/00_tour.ipynb"  # the notebook Binder opens; the server's root stays the repository


def binder_url(repo: str = GITHUB_REPO, ref: str = "HEAD", path: str = START) -> str:
    """mybinder.org URL that builds ``repo`` from ``binder/`` and opens JupyterLab on ``path``."""
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise ValueError(f"repo must be 'org/name', got {repo!r}")
    return f"https://mybinder.org/v2/gh/{repo}/{ref}?urlpath=lab/tree/{path}"


def badge_markdown(repo: str = GITHUB_REPO) -> str:
    """The Binder badge as Markdown: an image link that opens the tour in JupyterLab."""
    return f"[![Launch on Binder]({BINDER_BADGE_SVG})]({binder_url(repo)})"


if __name__ == "__main__":
    print(binder_url())
    print(badge_markdown())
