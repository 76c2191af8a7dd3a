"""The claims ledger and ``cdln claims``: verdicts, the JSON contract, exit codes, determinism."""

import dataclasses
import json
from pathlib import Path

import pytest

from cdln_core import claims
from cdln_core.claims import registry, runs
from cdln_core.cli import main

IDS = [c.id for c in claims.ledger()]


# ---------------------------------------------------------------- the ledger itself


def test_ledger_is_complete_and_well_formed():
    assert len(IDS) == len(set(IDS)) >= 20
    for c in claims.ledger():
        assert c.sentence and c.source and c.notebooks, c.id
        assert len(c.full.seeds) >= 3 and len(c.quick.seeds) >= 1, c.id
        assert c.full.expected in claims.VERDICTS and c.quick.expected in claims.VERDICTS, c.id
        if "does not hold here" in (c.full.expected, c.quick.expected):
            assert c.reason, f"{c.id}: a claim expected not to hold must say why"
    covered = {n for c in claims.ledger() for n in c.notebooks}
    assert covered == {"00", "01", "02", "03", "04", "05", "06"}
    for must in ("invariant-middle-equal", "rho-recursion", "incremental-order", "kwon-theorem-mf", "yaras-exact",
                 "mc-iterations", "alpha-ablation", "depth-generalization", "mf-iterations", "lora-few-shot",
                 "lora-rank-robust", "mlp-cdln-keeps-accuracy", "mf-plateau", "alignment-before-jump",
                 "gamma-tradeoff", "lora-gap-closes"):
        assert must in IDS


def test_for_notebook_and_get():
    ids = [c.id for c in claims.for_notebook("03")]
    assert "kwon-theorem-mf" in ids and all("03" in claims.get(i).notebooks for i in ids)
    assert [c.id for c in claims.for_notebook("03_compressed_dln.ipynb")] == ids
    with pytest.raises(ValueError, match="notebook"):
        claims.for_notebook("three")
    with pytest.raises(ValueError, match="claim must be one of"):
        claims.get("no-such-claim")


def test_check_rejects_bad_arguments():
    with pytest.raises(ValueError, match="seeds"):
        claims.check(["rho-recursion"], seeds=0)
    with pytest.raises(TypeError, match="quick"):
        claims.check(["rho-recursion"], quick="yes")


# ---------------------------------------------------------------- verdicts from fake measurements


def _fake(claim_id, passing, monkeypatch, *, raises=False):
    """Swap ``claim_id``'s measure for one that passes on the seeds in ``passing``."""

    def measure(seed, **_):
        if raises:
            raise FloatingPointError("loss is nan at step 7")
        return claims.Measurement({"steps": 100.0 + seed}, seed in passing)

    fake = dataclasses.replace(claims.get(claim_id), measure=measure)
    monkeypatch.setitem(registry._LEDGER, claim_id, fake)
    return fake


def test_verdicts_count_seeds(monkeypatch):
    v = claims.check(_fake("rho-recursion", {0, 1}, monkeypatch), quick=True)[0]
    assert (v.verdict, v.seeds_passing, v.matches) == ("holds partly", "2 of 3", False)
    assert v.ours() == "steps 101 [100, 102]"
    v = claims.check(_fake("rho-recursion", {0, 1, 2}, monkeypatch), quick=True)[0]
    assert (v.verdict, v.matches) == ("holds", True)
    v = claims.check(_fake("rho-recursion", set(), monkeypatch), quick=True, seeds=5)[0]
    assert (v.verdict, v.seeds, v.seeds_passing) == ("does not hold here", (0, 1, 2, 3, 4), "0 of 5")
    v = claims.check(_fake("rho-recursion", {0}, monkeypatch, raises=True), quick=True)[0]
    assert v.verdict == "does not hold here" and "FloatingPointError" in v.notes[0] and "step 7" in v.notes[0]


def test_exit_one_names_the_changed_claim(monkeypatch, capsys):
    _fake("rho-recursion", {0, 1, 2}, monkeypatch)
    _fake("yaras-exact", {0}, monkeypatch)  # expected "holds": now holds on 1 of 3
    assert main(["claims", "--quick", "--only", "rho-recursion"]) == 0
    assert main(["claims", "--quick", "--only", "rho-recursion", "yaras-exact"]) == 1
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == "1 of 2 verdicts as the ledger expects; changed: yaras-exact"


def test_only_runs_the_named_claims_in_order(monkeypatch, tmp_path):
    _fake("rho-recursion", {0, 1, 2}, monkeypatch)
    _fake("yaras-exact", {0, 1, 2}, monkeypatch)
    out = tmp_path / "c.json"
    assert main(["claims", "--quick", "--only", "yaras-exact", "rho-recursion", "--out", str(out)]) == 0
    assert [c["id"] for c in json.loads(out.read_text())["claims"]] == ["yaras-exact", "rho-recursion"]


def test_bad_flags_exit_two(capsys):
    for argv in (["--only", "nope"], ["--seeds", "0"], ["--seeds", "2.5"], ["--markdown", "-"],
                 ["--out", "/no/such/dir/x.json"]):
        with pytest.raises(SystemExit) as err:
            main(["claims", "--quick", *argv])
        assert err.value.code == 2, argv
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("cdln claims: error:"), (argv, lines)


def test_json_schema(monkeypatch, tmp_path):
    _fake("rho-recursion", {0, 2}, monkeypatch)
    out, md = tmp_path / "c.json", tmp_path / "c.md"
    assert main(["claims", "--quick", "--only", "rho-recursion", "--out", str(out), "--markdown", str(md)]) == 1
    doc = json.loads(out.read_text(), parse_constant=lambda name: pytest.fail(f"non-standard JSON token {name}"))
    assert doc["schema"] == "cdln.claims/1" and doc["mode"] == "quick" and isinstance(doc["version"], str)
    assert doc["changed"] == ["rho-recursion"] and doc["all_as_expected"] is False
    (c,) = doc["claims"]
    types = {"id": str, "sentence": str, "source": str, "paper": (str, type(None)), "notebooks": list, "mode": str,
             "params": dict, "criterion": str, "seeds": list, "values": dict, "summary": str, "passed": list,
             "seeds_passing": str, "notes": list, "verdict": str, "expected": str, "matches": bool, "reason": str}
    assert set(c) == set(types)
    for key, kind in types.items():
        assert isinstance(c[key], kind), key
    assert c["seeds"] == [0, 1, 2] and c["passed"] == [True, False, True] and c["values"] == {"steps": [100, 101, 102]}
    assert (c["verdict"], c["expected"], c["seeds_passing"]) == ("holds partly", "holds", "2 of 3")
    page = md.read_text()
    assert page.startswith("# What the kit checks") and "| **rho-recursion**" in page and "holds partly" in page


def test_ctrl_c_writes_the_claims_finished_so_far(monkeypatch, tmp_path, capsys):
    _fake("rho-recursion", {0, 1, 2}, monkeypatch)

    def interrupt(seed, **_):
        raise KeyboardInterrupt

    monkeypatch.setitem(registry._LEDGER, "yaras-exact", dataclasses.replace(claims.get("yaras-exact"), measure=interrupt))
    out = tmp_path / "c.json"
    assert main(["claims", "--quick", "--only", "rho-recursion", "yaras-exact", "--out", str(out)]) == 130
    doc = json.loads(out.read_text())
    assert doc["interrupted"] is True and [c["id"] for c in doc["claims"]] == ["rho-recursion"]
    assert capsys.readouterr().err.strip() == "interrupted"


def test_from_renders_saved_runs_against_the_current_ledger(monkeypatch, tmp_path, capsys):
    _fake("rho-recursion", {0, 1}, monkeypatch)
    saved = tmp_path / "c.json"
    assert main(["claims", "--quick", "--only", "rho-recursion", "--out", str(saved)]) == 1
    first = capsys.readouterr().out
    assert main(["claims", "--from", str(saved)]) == 1  # nothing is run: the fake is not even called
    assert capsys.readouterr().out.splitlines() == first.splitlines()[1:]  # the same table, no header line
    relaxed = dataclasses.replace(claims.get("rho-recursion"),
                                  quick=dataclasses.replace(claims.get("rho-recursion").quick, expected="holds partly"))
    monkeypatch.setitem(registry._LEDGER, "rho-recursion", relaxed)
    assert main(["claims", "--from", str(saved)]) == 0


def test_readme_flag_rewrites_only_the_marked_table(monkeypatch, tmp_path):
    _fake("rho-recursion", {0, 1, 2}, monkeypatch)
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\nbefore\n{claims.README_START}\nold table\n{claims.README_END}\nafter\n")
    assert main(["claims", "--quick", "--only", "rho-recursion", "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith("# title\n\nbefore\n") and text.endswith(f"{claims.README_END}\nafter\n")
    assert "old table" not in text and "| `rho-recursion` | to machine precision | steps 101 [100, 102] | 3 of 3 | holds |" in text
    readme.write_text("no markers here\n")
    with pytest.raises(SystemExit) as err:
        main(["claims", "--quick", "--only", "rho-recursion", "--readme", str(readme)])
    assert err.value.code == 2


def _rows(text: str) -> dict[str, list[str]]:
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if line.startswith("| `") or line.startswith("| **"):
            rows[cells[0].split("`")[1] if cells[0].startswith("`") else cells[0].split("**")[1]] = cells
    return rows


def test_readme_table_matches_docs_claims_md():
    """The README's claims table is the full run's: the same numbers as docs/claims.md, and every claim."""
    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    section = readme.split(claims.README_START)[1].split(claims.README_END)[0]
    short, full = _rows(section), _rows((root / "docs" / "claims.md").read_text())
    assert set(short) == set(full) == set(IDS)
    for cid, (_, paper, ours, seeds, verdict) in short.items():
        _, _, paper_full, ours_full, seeds_full, verdict_full = full[cid]
        assert (paper, ours, seeds) == (paper_full, ours_full, seeds_full), cid
        assert verdict_full.startswith(verdict), cid


# ---------------------------------------------------------------- real measurements


def test_printed_table_is_deterministic():
    """Same seeds, same table, to the character (what nbval checks in a notebook's claims cell)."""
    ids = ["rho-recursion", "depth-plateaus"]
    first = claims.table(claims.check(ids, quick=True))
    runs.clear()  # measure again from scratch, not from the cache
    again = claims.table(claims.check(ids, quick=True))
    assert first == again
    assert "holds" in first and "L=2" in first


@pytest.mark.parametrize("claim_id", IDS)
def test_quick_ledger_gives_the_expected_verdicts(claim_id):
    (v,) = claims.check([claim_id], quick=True)
    assert v.matches, f"{claim_id}: {v.verdict} (expected {v.expected}); ours: {v.ours()}; notes: {v.notes}"
