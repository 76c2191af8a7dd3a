"""The claims ledger: every claim the lecture series makes, measured from runs.

API (a notebook's claims cell is three lines)::

    from cdln_core import claims
    verdicts = claims.check(claims.for_notebook("03"), quick=True)   # list[Verdict]
    print(claims.table(verdicts))                                    # plain text, deterministic
    assert all(v.matches for v in verdicts), claims.changed(verdicts)

- ``ledger()`` → every ``Claim``; ``get(id)``; ``for_notebook("03")`` → the claims 03 states;
- ``check(ids or claims, *, quick=True, seeds=None)`` → ``Verdict``s (median [min, max] over seeds,
  seeds passing, "holds" / "holds partly" / "does not hold here", and whether that is expected);
- ``table(verdicts)`` (plain text) and ``table(verdicts, markdown=True)``; ``document(...)`` the Markdown
  page; ``report(...)`` → the ``cdln.claims/1`` JSON document; ``changed(verdicts)`` → the ids whose
  verdict is not the expected one.

The printed table is deterministic (no timings; numbers rounded to 3 significant digits, step counts
as integers, rounding-level quantities as a power of ten), so nbval can check a claims cell. A quick
check of one notebook's claims takes seconds to tens of seconds of CPU (04 and 06 are the longest);
``seeds=1`` makes it faster, at the price of verdicts that may then differ from the expected ones.

``cdln claims [--quick] [--only ID ...] [--seeds N] [--out FILE] [--markdown FILE] [--readme FILE]``
runs the whole ledger (``python -m cdln_core.claims`` too); docs/claims.md is the full run's output.

The theory claims come from the Law of Parsimony (arXiv 2306.01154) and [Y] §3, the compression
claims from [K] §4–§5 and [Y] §3, Deep LoRA from [Y] §5, beyond linear from [K] §6; claims "observed
in this kit" are what the notebooks show on screen.
"""

from . import adaptation, beyond, photograph, recovery, theory  # noqa: F401  (each registers its claims)
from .registry import SOURCES, VERDICTS, Claim, Measurement, Setting, for_notebook, get, ledger, register, settings
from .verdicts import (
    README_END,
    README_START,
    SCHEMA,
    Verdict,
    changed,
    check,
    document,
    evaluate,
    from_report,
    readme,
    report,
    table,
)

__all__ = [
    "README_END",
    "README_START",
    "SCHEMA",
    "SOURCES",
    "VERDICTS",
    "Claim",
    "Measurement",
    "Setting",
    "Verdict",
    "changed",
    "check",
    "document",
    "evaluate",
    "for_notebook",
    "from_report",
    "get",
    "ledger",
    "readme",
    "register",
    "report",
    "settings",
    "table",
]
