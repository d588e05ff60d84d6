"""compare_scenario: one scenario, several designs, and the agreement check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.engine import DesignUnavailable, available_designs, compare_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
BUILTIN = sorted(p.stem for p in SCENARIOS.glob("*.json"))


def load(name):
    return json.loads((SCENARIOS / f"{name}.json").read_text())


@pytest.mark.parametrize("name", BUILTIN)
def test_compare_every_builtin_scenario_agrees(name):
    doc = compare_scenario(load(name))
    assert [r["design"] for r in doc["designs"]] == list(available_designs())
    assert doc["agreement"]["ok"], doc["agreement"]["differences"]


def test_compare_s4_shows_the_aim7_cost():
    rows = {r["design"]: r for r in compare_scenario(load("s4-aim7-shape"))["designs"]}
    assert [(w["visited"], w["candidates"]) for w in rows["anon_vma_267"]["walks"]] == [(2, 3)]
    assert [(w["visited"], w["candidates"]) for w in rows["anon_vma_rfc2"]["walks"]] == [(1, 1)]


def test_compare_options_go_to_the_design_that_knows_them():
    rows = compare_scenario(load("seed-split-literal"))["designs"]
    options = {r["design"]: r["options"] for r in rows}
    assert options["anon_vma_rfc2"] == ["rfc2_literal"] and options["anon_vma_267"] == []


def test_compare_variants_run_with_exactly_their_options():
    doc = compare_scenario(
        load("s6-mprotect-split-merge"), ["anon_vma_rfc2", "anon_vma_rfc2+rfc2_literal"]
    )
    plain, literal = doc["designs"]
    assert (plain["vmas"], plain["violations"]) == (1, 0)
    assert literal["options"] == ["rfc2_literal"] and literal["vmas"] == 3
    assert literal["violations"] > 0


def test_compare_unknown_variant_is_refused():
    with pytest.raises(DesignUnavailable, match="no option 'turbo'"):
        compare_scenario(load("s1-first-touch"), ["anon_vma_267+turbo"])


def test_compare_reports_a_design_that_refuses_an_op():
    """S15 leaves two vmas under RFC2 and one under 2.6.7: an mremap of the whole range
    is then refused by RFC2 alone, and the other design still runs."""
    data = load("s15-mremap-untouched")
    data["ops"].append(
        {
            "op": "mremap",
            "pid": 1,
            "addr": "0x1000",
            "pages": 4,
            "new_pages": 4,
            "new_addr": "0x20000",
        }
    )
    rows = {r["design"]: r for r in compare_scenario(data)["designs"]}
    assert rows["anon_vma_rfc2"]["ok"] is False
    assert rows["anon_vma_rfc2"]["error"]["step"] == len(data["ops"])
    assert "not inside one vma" in rows["anon_vma_rfc2"]["error"]["reason"]
    assert rows["anon_vma_267"]["ok"] is True
