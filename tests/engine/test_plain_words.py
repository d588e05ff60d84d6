"""What students read is plain words: no internal codes (J-3, §4.1, G9, D5.1, E4) and no
Python (None) in event texts, invariant messages, design and option descriptions. The
rule ids stay in the Violation's ``rule`` field, for readers of the code."""

import ast
import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from app.engine import check, design_class, run_scenario
from app.engine.designs import DESIGN_NAMES

from .helpers import corrupt, fork, mmap, reclaim, run_ops, spawn, write

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.json"))
CODE = re.compile(r"\bJ-\d+|§\s?\d|\bE\d{1,2}\b|\b[GD]\d+\.\d+\b|\bG\d{1,2}\b|\bD[1-5]\b")
PYTHON = re.compile(r"\bNone\b|\bTrue\b|\bFalse\b")
RULE_ID = re.compile(r"^[GD]\d+(\.\d+)?$")


def bad_words(text):
    return CODE.findall(text) + PYTHON.findall(text)


def literals(path):
    """Every string constant of a module that is not a docstring."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = {
        id(n.body[0].value)
        for n in ast.walk(tree)
        if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and n.body
        and isinstance(n.body[0], ast.Expr)
        and isinstance(n.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docs
            and not RULE_ID.match(node.value)
        ):
            yield node.lineno, node.value


@pytest.mark.parametrize(
    "path", sorted((ROOT / "app").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT))
)
def test_no_string_in_app_carries_a_spec_code(path):
    found = [(line, CODE.findall(text)) for line, text in literals(path) if CODE.search(text)]
    assert found == []


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_scenario_titles_and_descriptions_are_plain(path):
    data = json.loads(path.read_text())
    assert bad_words(data["title"] + " " + data["description"]) == []
    assert "spec S" not in data["description"]


@pytest.mark.parametrize("design", DESIGN_NAMES)
def test_design_and_option_descriptions_are_plain(design):
    cls = design_class(design)
    for text in (cls.title, cls.era, cls.description, *cls.option_help.values(), *cls.size_table):
        assert bad_words(text) == [], text


def runs():
    for path in SCENARIOS:
        data = json.loads(path.read_text())
        for design in DESIGN_NAMES:
            own = [o for o in data.get("options", []) if o in design_class(design).option_help]
            yield pytest.param(data, design, own, id=f"{path.stem}-{design}")
    for name in ("rc3-oops", "s3-fork-shares", "s9-fork-cow-mremap"):
        data = json.loads((ROOT / "scenarios" / f"{name}.json").read_text())
        yield pytest.param(data, "anon_vma_chain", ["v2_6_34"], id=f"{name}-v2_6_34")


@pytest.mark.parametrize(("data", "design", "options"), list(runs()))
def test_event_texts_and_violations_are_plain(data, design, options):
    doc = run_scenario({**data, "design": design, "options": options})
    for step in doc["steps"]:
        for event in step["events"]:
            assert bad_words(event["text"]) == [], event
            assert "None" not in event["func"]
        for v in step["invariants"]["violations"]:
            assert bad_words(v["text"]) == [], v


def _null_anon_vmas(st):
    vmas = st.w("vmas")
    for vid, vma in list(vmas.items()):
        vmas[vid] = replace(vma, anon_vma=None)


def _drop_mappings(st):
    st.w("page_mapping").clear()


def _free_mapped_frames(st):
    for name in ("page_mapcount", "page_flags", "page_value"):
        st.w(name).clear()


@pytest.mark.parametrize("design", DESIGN_NAMES)
@pytest.mark.parametrize("breakage", [_null_anon_vmas, _drop_mappings, _free_mapped_frames])
def test_violation_texts_of_broken_states_are_plain(design, breakage):
    state = run_ops(
        spawn(),
        mmap(0x1000, 2),
        write(0x1000),
        write(0x2000),
        fork(2),
        reclaim(1),
        {"op": "read", "pid": 1, "addr": 0x1000},
        design=design,
    )
    violations = check(corrupt(state, breakage))
    for v in violations:
        assert bad_words(v.text) == [], v
