"""Every built-in scenario file parses, runs cleanly and yields a run document of the contract.

The contract's fields and types are checked against the response models in
tests/api/test_models.py.
"""

import json
from pathlib import Path

import pytest

from app.engine import available_designs, parse_scenario, run_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
FILES = sorted(SCENARIOS.glob("*.json"))


def load(path):
    return json.loads(path.read_text())


#: options that reproduce a historical bug: their scenarios show violations on purpose
BUGGY = {"rfc2_literal", "exact_267", "v2_6_34_rc3"}


def is_literal(data):
    """A scenario run in a buggy teaching mode (violations are its lesson)."""
    return bool(BUGGY & set(data.get("options", [])))


def by_file(ids_filter=None):
    """The scenario files as parametrize values, id = file stem."""
    return [pytest.param(p, id=p.stem) for p in FILES if ids_filter is None or ids_filter(load(p))]


def test_builtin_scenarios_exist():
    assert len(FILES) >= 13


# ----- the file format -----------------------------------------------------------------------


@pytest.mark.parametrize("path", by_file())
def test_builtin_scenario_name_is_file_stem(path):
    assert load(path)["name"] == path.stem


@pytest.mark.parametrize("path", by_file())
def test_builtin_scenario_has_title_and_description(path):
    data = load(path)
    assert isinstance(data["title"], str)
    assert data["title"].strip()
    assert isinstance(data["description"], str)
    assert data["description"].strip()


@pytest.mark.parametrize("path", by_file())
def test_builtin_scenario_parses_for_an_available_design(path):
    data = load(path)
    scenario = parse_scenario(data)
    assert scenario.design in available_designs()
    assert len(scenario.ops) == len(data["ops"]) > 0


# ----- running -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", by_file(lambda d: not is_literal(d)))
def test_builtin_scenario_invariants_hold_after_every_step(path):
    doc = run_scenario(load(path))
    broken = [
        (s["index"], s["invariants"]["violations"])
        for s in doc["steps"]
        if not s["invariants"]["ok"]
    ]
    assert broken == []
    assert doc["invariants"] == {"ok": True, "violations": []}


@pytest.mark.parametrize("path", by_file(is_literal))
def test_builtin_literal_scenario_shows_violations(path):
    """A literal-mode scenario exists to show what the posted patch breaks."""
    doc = run_scenario(load(path))
    assert any(not s["invariants"]["ok"] for s in doc["steps"])


@pytest.mark.parametrize("path", by_file())
def test_builtin_scenario_run_is_deterministic(path):
    data = load(path)
    assert run_scenario(data, all_states=True) == run_scenario(data, all_states=True)


@pytest.mark.parametrize("path", by_file())
def test_builtin_run_document_survives_json_round_trip(path):
    doc = run_scenario(load(path), all_states=True)
    assert json.loads(json.dumps(doc)) == doc


@pytest.mark.parametrize("path", by_file())
def test_builtin_run_document_final_state_is_last_step_state(path):
    doc = run_scenario(load(path), all_states=True)
    assert doc["state"] == doc["steps"][-1]["state"]
    assert doc["invariants"] == doc["steps"][-1]["invariants"]


@pytest.mark.parametrize("path", by_file())
def test_builtin_run_document_echoes_scenario(path):
    data = load(path)
    doc = run_scenario(data)
    assert doc["design"] == data["design"]
    assert doc["options"] == sorted(data["options"])
    assert doc["scenario"] == {k: data[k] for k in ("name", "title", "description")}
    assert [s["index"] for s in doc["steps"]] == list(range(1, len(data["ops"]) + 1))
    assert [s["op"]["op"] for s in doc["steps"]] == [op["op"] for op in data["ops"]]


# The run document's fields and types: tests/api/test_models.py validates every built-in
# scenario's documents against the response models (app/api/models.py), which are the
# contract's one statement (/openapi.json).


@pytest.mark.parametrize("path", by_file())
def test_builtin_run_document_omits_states_unless_asked(path):
    doc = run_scenario(load(path))
    assert [s for s in doc["steps"] if "state" in s] == []
