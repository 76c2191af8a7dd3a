"""The ledger's registry: every claim the series makes, as data.

A ``Claim`` is one sentence a reader sees, its source (a paper's section, figure or table, or
"observed in this kit"), the paper's number where there is one, and a ``measure`` function that
checks it on one seed. It is run in one of two ``Setting``s: ``full`` (the papers' sizes, the
numbers in docs/claims.md) and ``quick`` (smaller sizes and fewer seeds, for CI and for a
notebook's claims cell). Each setting records the criterion in words and the verdict the ledger
expects, so that a rerun can tell when a verdict changed.

Verdicts: "holds" (every seed passes), "holds partly" (some do: "holds on 3 of 5"), "does not hold
here" (none does; the claim keeps the likely reason in ``reason``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = [
    "VERDICTS",
    "SOURCES",
    "Measurement",
    "Setting",
    "Claim",
    "settings",
    "register",
    "ledger",
    "get",
    "for_notebook",
]

VERDICTS = ("holds", "holds partly", "does not hold here")
SOURCES = {
    "K": "[K] Kwon et al., AISTATS 2024 (arXiv 2311.05061)",
    "Y": "[Y] Yaras et al., ICML 2024 (arXiv 2406.04112)",
    "LoP": "Law of Parsimony, Yaras et al. (arXiv 2306.01154)",
    "kit": "observed in this kit",
}


@dataclass(frozen=True)
class Measurement:
    """What one seed gave: named numbers (in display order) and whether the criterion passed."""

    values: Mapping[str, float]
    passed: bool
    note: str = ""


@dataclass(frozen=True)
class Setting:
    """Where a claim is measured: keyword arguments of ``measure``, the seeds, the criterion in
    words and the verdict the ledger expects there."""

    params: Mapping[str, object]
    seeds: tuple[int, ...]
    criterion: str
    expected: str = "holds"

    def __post_init__(self):
        if self.expected not in VERDICTS:
            raise ValueError(f"expected must be one of {', '.join(VERDICTS)}, got {self.expected!r}")
        if not self.seeds:
            raise ValueError("seeds must not be empty")
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))


@dataclass(frozen=True)
class Claim:
    """One claim of the series.

    id: short and stable (``mc-iterations``).  sentence: what a reader sees.  source: paper and
    section/figure/table, or "observed in this kit".  paper: the paper's number (None: no number).
    measure(seed, **params) -> Measurement.  full / quick: the two settings.  notebooks: the
    notebooks that state it ("01", …).  formats: value name → "int", "sig" (3 significant digits),
    "order" (a power of ten: for rounding-level quantities) or "pct".  reason: why it may not hold.
    """

    id: str
    sentence: str
    source: str
    paper: str | None
    measure: Callable[..., Measurement]
    full: Setting
    quick: Setting
    notebooks: tuple[str, ...]
    formats: Mapping[str, str] = field(default_factory=dict)
    reason: str = ""

    def setting(self, quick: bool) -> Setting:
        return self.quick if quick else self.full


def settings(
    params: Mapping[str, object], criterion: str, *, full_seeds: tuple[int, ...] = (0, 1, 2, 3, 4),
    quick_seeds: tuple[int, ...] = (0, 1, 2), quick_params: Mapping[str, object] | None = None,
    quick_criterion: str | None = None, expected: str = "holds", expected_quick: str | None = None,
) -> tuple[Setting, Setting]:  # fmt: skip
    """The (full, quick) pair of a claim: the quick one reuses what it does not override."""
    full = Setting(params, full_seeds, criterion, expected)
    quick = Setting(params if quick_params is None else quick_params, quick_seeds, quick_criterion or criterion,
                    expected if expected_quick is None else expected_quick)
    return full, quick


_LEDGER: dict[str, Claim] = {}


def register(claim: Claim) -> Claim:
    """Add ``claim`` to the ledger (ids are unique)."""
    if claim.id in _LEDGER:
        raise ValueError(f"claim {claim.id!r} is already in the ledger")
    _LEDGER[claim.id] = claim
    return claim


_ORDER = ("theory", "recovery", "adaptation", "beyond")  # the series: 00–02, 03–04, 05, 06


def _rank(claim: Claim) -> int:
    module = claim.measure.__module__.rsplit(".", 1)[-1]
    return _ORDER.index(module) if module in _ORDER else len(_ORDER)


def ledger() -> tuple[Claim, ...]:
    """Every claim, in the order of the series (theory, recovery, Deep LoRA, beyond linear)."""
    return tuple(sorted(_LEDGER.values(), key=_rank))


def get(claim_id: str) -> Claim:
    """The claim called ``claim_id``, or a ValueError listing the ids."""
    if not isinstance(claim_id, str) or claim_id not in _LEDGER:
        raise ValueError(f"claim must be one of {', '.join(_LEDGER)}, got {claim_id!r}")
    return _LEDGER[claim_id]


def for_notebook(notebook: str) -> list[Claim]:
    """The claims notebook ``notebook`` ("00" … "06", or a file name starting with it) states."""
    if not isinstance(notebook, str) or len(notebook) < 2 or not notebook[:2].isdigit():
        raise ValueError(f"notebook must be a two-digit number such as '03', got {notebook!r}")
    return [c for c in ledger() if notebook[:2] in c.notebooks]
