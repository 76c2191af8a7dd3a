"""Running the ledger: a claim measured over its seeds becomes a ``Verdict``; verdicts print as a
plain-text or Markdown table and serialize as the ``cdln.claims/1`` JSON.

Every printed number is rounded (3 significant digits, step counts as integers, rounding-level
quantities as a power of ten) and no timing is ever printed, so the same seeds print the same table.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ..checks import check_bool, check_int
from .registry import VERDICTS, Claim, Measurement, get

__all__ = ["SCHEMA", "README_START", "README_END", "Verdict", "evaluate", "check", "table", "document", "readme",
           "report", "from_report", "changed"]

SCHEMA = "cdln.claims/1"


@dataclass(frozen=True)
class Verdict:
    """A claim measured over seeds. ``values``: name → one number per seed (None where a seed
    failed to run); ``passed``: per seed; ``verdict`` one of VERDICTS; ``matches``: verdict == expected."""

    claim: Claim
    quick: bool
    seeds: tuple[int, ...]
    values: dict[str, list[float | None]]
    passed: tuple[bool, ...]
    notes: tuple[str, ...]
    verdict: str
    expected: str

    @property
    def n_pass(self) -> int:
        return sum(self.passed)

    @property
    def matches(self) -> bool:
        return self.verdict == self.expected

    @property
    def seeds_passing(self) -> str:
        return f"{self.n_pass} of {len(self.seeds)}"

    def ours(self) -> str:
        """Our numbers: each value's median [min, max] over seeds, rounded for display."""
        parts = []
        for name, vals in self.values.items():
            kind = self.claim.formats.get(name, "sig")
            ok = [v for v in vals if v is not None and math.isfinite(v)]
            if not ok:
                parts.append(f"{name}: n/a")
            elif len(ok) == 1:
                parts.append(f"{name} {_fmt(ok[0], kind)}")
            else:
                med = float(np.median(ok))
                parts.append(f"{name} {_fmt(med, kind)} [{_fmt(min(ok), kind)}, {_fmt(max(ok), kind)}]")
        return "; ".join(parts)

    def to_dict(self) -> dict:
        c, s = self.claim, self.claim.setting(self.quick)
        return {
            "id": c.id, "sentence": c.sentence, "source": c.source, "paper": c.paper,
            "notebooks": list(c.notebooks), "mode": "quick" if self.quick else "full",
            "params": {k: _plain(v) for k, v in s.params.items()}, "criterion": s.criterion,
            "seeds": list(self.seeds),
            "values": {k: [v if v is not None and math.isfinite(v) else None for v in vs]
                       for k, vs in self.values.items()},
            "summary": self.ours(), "passed": list(self.passed), "seeds_passing": self.seeds_passing,
            "notes": list(self.notes), "verdict": self.verdict, "expected": self.expected, "matches": self.matches,
            "reason": c.reason,
        }


def _plain(v):
    return list(v) if isinstance(v, tuple) else v


def _fmt(v: float, kind: str) -> str:
    if kind == "int":
        return f"{round(v):,}"
    if kind == "pct":
        return f"{100 * v:.1f}%"
    if kind == "order":
        return "0" if v == 0 else f"1e{round(math.log10(abs(v)))}"
    return f"{v:.3g}"


def _verdict(n_pass: int, n: int) -> str:
    return VERDICTS[0] if n_pass == n else VERDICTS[2] if n_pass == 0 else VERDICTS[1]


def evaluate(claim: Claim, *, quick: bool = True, seeds: int | None = None) -> Verdict:
    """Measure ``claim`` on the seeds of its setting (the first ``seeds`` of them, or seeds
    0 … seeds−1 when more are asked than the setting lists). A seed whose measurement raises
    counts as failing, with the error in its note."""
    setting = claim.setting(quick)
    chosen = setting.seeds if seeds is None else tuple(range(seeds)) if seeds > len(setting.seeds) \
        else setting.seeds[:seeds]
    results: list[Measurement] = []
    for seed in chosen:
        try:
            results.append(claim.measure(seed, **setting.params))
        except Exception as err:  # a claim that cannot be measured fails, and says why
            results.append(Measurement({}, False, f"seed {seed}: {type(err).__name__}: {err}"))
    names = list(dict.fromkeys(k for m in results for k in m.values))
    values = {k: [None if k not in m.values else float(m.values[k]) for m in results] for k in names}
    passed = tuple(bool(m.passed) for m in results)
    n_pass = sum(passed)
    return Verdict(claim, quick, tuple(chosen), values, passed, tuple(m.note for m in results if m.note),
                   _verdict(n_pass, len(chosen)), setting.expected)


def check(claims: Iterable[str | Claim] | str | Claim, *, quick: bool = True,
          seeds: int | None = None) -> list[Verdict]:
    """Measure the given claims (ids or ``Claim``s). seeds: how many seeds (None: the setting's)."""
    check_bool("quick", quick)
    if seeds is not None:
        check_int("seeds", seeds, 1, 20)
    if isinstance(claims, (str, Claim)):
        claims = [claims]
    resolved = [c if isinstance(c, Claim) else get(c) for c in claims]
    return [evaluate(c, quick=quick, seeds=seeds) for c in resolved]


_COLUMNS = ("claim", "paper", "ours: median [min, max]", "seeds passing", "verdict")


def _rows(verdicts: Sequence[Verdict]) -> list[tuple[str, ...]]:
    rows = []
    for v in verdicts:
        flag = "" if v.matches else f" (expected: {v.expected})"
        rows.append((v.claim.id, v.claim.paper or "—", v.ours() or "—", v.seeds_passing, v.verdict + flag))
    return rows


def table(verdicts: Sequence[Verdict], *, markdown: bool = False, short: bool = False) -> str:
    """The verdicts as a table: plain text (aligned columns) or Markdown (one row per claim, with
    the sentence and its source; ``short``: without them, as in the README)."""
    if markdown and short:
        lines = ["| claim | paper | " + " | ".join(_COLUMNS[2:]) + " |", "|---|---|---|---|---|"]
        for r in _rows(verdicts):
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in (f"`{r[0]}`", *r[1:])) + " |")
        return "\n".join(lines)
    if markdown:
        head = "| claim | source | paper | ours: median [min, max] | seeds passing | verdict |"
        lines = [head, "|---|---|---|---|---|---|"]
        for v, row in zip(verdicts, _rows(verdicts)):
            cells = [f"**{row[0]}**: {v.claim.sentence}", v.claim.source, row[1], row[2], row[3], row[4]]
            if v.verdict != "holds" and v.claim.reason:
                cells[-1] += f": {v.claim.reason}"
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        return "\n".join(lines)
    rows = [_COLUMNS, *_rows(verdicts)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(_COLUMNS))]
    widths[2] = min(widths[2], 90)
    out = []
    for i, r in enumerate(rows):
        out.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def changed(verdicts: Sequence[Verdict]) -> list[str]:
    """Ids of the claims whose verdict is not the one the ledger expects."""
    return [v.claim.id for v in verdicts if not v.matches]


def from_report(doc: dict) -> list[Verdict]:
    """The verdicts of a saved ``cdln.claims/1`` document, judged against the ledger's current
    expectations (a claim no longer in the ledger is a ValueError naming it)."""
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        found = doc.get("schema") if isinstance(doc, dict) else None
        raise ValueError(f"not a {SCHEMA} document (its schema is {found!r})")
    out = []
    for c in doc["claims"]:
        claim, quick = get(c["id"]), c["mode"] == "quick"
        values = {k: [None if v is None else float(v) for v in vs] for k, vs in c["values"].items()}
        passed = tuple(bool(p) for p in c["passed"])
        out.append(Verdict(claim, quick, tuple(c["seeds"]), values, passed, tuple(c["notes"]),
                           _verdict(sum(passed), len(passed)), claim.setting(quick).expected))
    return out


def report(verdicts: Sequence[Verdict], *, quick: bool, version: str) -> dict:
    """The ``cdln.claims/1`` document."""
    return {
        "schema": SCHEMA, "version": version, "mode": "quick" if quick else "full",
        "claims": [v.to_dict() for v in verdicts], "changed": changed(verdicts),
        "all_as_expected": not changed(verdicts),
    }


README_START, README_END = "<!-- claims table: start -->", "<!-- claims table: end -->"


def readme(text: str, verdicts: Sequence[Verdict], *, command: str) -> str:
    """``text`` (a README) with the part between ``README_START`` and ``README_END`` replaced by the
    short table of ``verdicts``. Raises ValueError when the markers are missing."""
    one = text.count(README_START) == 1 and text.count(README_END) == 1
    if not one or text.index(README_START) > text.index(README_END):
        raise ValueError(f"the README must hold one {README_START!r} line and one {README_END!r} line after it")
    head, rest = text.split(README_START)
    _, tail = rest.split(README_END)
    body = f"\n\n<!-- generated by `{command}`: do not edit -->\n{table(verdicts, markdown=True, short=True)}\n\n"
    return head + README_START + body + README_END + tail


def document(verdicts: Sequence[Verdict], *, quick: bool, command: str) -> str:
    """A Markdown page: the table, then how each claim was measured (settings, criterion, notes)."""
    mode = "the quick run: smaller sizes, fewer seeds" if quick else "the full run"
    lines = [
        "# What the kit checks: the claims ledger", "",
        f"Generated by `{command}` ({mode}); do not edit by hand. Each claim is measured on every seed listed;",
        "*ours* is the median [min, max] over those seeds. Verdicts: **holds** (every seed passes), **holds partly**",
        "(some do), **does not hold here** (none does; the likely reason follows the verdict).", "",
        table(verdicts, markdown=True), "", "## How each claim is measured", "",
    ]
    for v in verdicts:
        s = v.claim.setting(v.quick)
        params = ", ".join(f"{k}={_plain(x)}" for k, x in s.params.items())
        lines.append(f"- **{v.claim.id}** (notebooks {', '.join(v.claim.notebooks)}): {s.criterion}. "
                     f"Seeds {list(v.seeds)}; settings: {params}.")
        if v.claim.reason:
            lines.append(f"  - where ours differs from the paper: {v.claim.reason}")
        lines.extend(f"  - note: {n}" for n in v.notes)
    return "\n".join(lines) + "\n"
