"""``python -m cdln_core.claims`` is ``cdln claims``."""

from ..cli import main

raise SystemExit(main(["claims", *__import__("sys").argv[1:]]))
