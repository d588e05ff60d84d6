"""Every built-in scenario file parses, runs cleanly and yields a run document of the contract.

The contract (``rmaplab run --json``) may gain fields but never loses or renames one, so
these tests check that each listed field is present with its JSON type, not that nothing
else is there. Numbers must be JSON integers (``int``, never ``bool`` or ``float``).
"""

import json
from pathlib import Path

import pytest

from app.engine import available_designs, parse_scenario, run_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
FILES = sorted(SCENARIOS.glob("*.json"))
PROTS = ("none", "r", "w", "x", "rw", "rx", "wx", "rwx")


def load(path):
    return json.loads(path.read_text())


#: options that reproduce a historical bug: their scenarios show violations on purpose
BUGGY = {"rfc2_literal", "exact_267", "v2_6_34_rc3"}


def is_literal(data):
    """A scenario run in a buggy teaching mode (violations are its lesson)."""
    return bool(BUGGY & set(data.get("options", [])))


def by_file(ids_filter=None):
    """The scenario files as parametrize values, id = file stem."""
    return [pytest.param(p, id=p.stem) for p in FILES
            if ids_filter is None or ids_filter(load(p))]


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
    broken = [(s["index"], s["invariants"]["violations"]) for s in doc["steps"]
              if not s["invariants"]["ok"]]
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


# ----- the run document's fields and types ---------------------------------------------------


def is_int(x):
    return type(x) is int


def is_str(x):
    return type(x) is str


def is_bool(x):
    return type(x) is bool


def opt(pred):
    return lambda x: x is None or pred(x)


def one_of(*values):
    return lambda x: x in values


def list_of(pred):
    return lambda x: type(x) is list and all(pred(i) for i in x)


def has_fields(obj, fields, where):
    """``obj`` is a JSON object holding every field of ``fields`` with an accepted value."""
    assert type(obj) is dict, f"{where} is {type(obj).__name__}, not an object"
    missing = sorted(set(fields) - set(obj))
    assert not missing, f"{where} lacks {missing}"
    for key, ok in fields.items():
        assert ok(obj[key]), f"{where}.{key} = {obj[key]!r}"


def ref(kinds):
    """An object reference ``{"kind", "id"}``."""
    return lambda x: (type(x) is dict and x.get("kind") in kinds and is_int(x.get("id")))


def check_state(state, where):
    has_fields(state, {"design": is_str, "options": list_of(is_str), "step": is_int,
                       "mms": list_of(lambda x: type(x) is dict),
                       "pages": list_of(lambda x: type(x) is dict),
                       "swap": list_of(lambda x: type(x) is dict),
                       "anon_vmas": list_of(lambda x: type(x) is dict)}, where)
    for i, mm in enumerate(state["mms"]):
        at = f"{where}.mms[{i}]"
        has_fields(mm, {"pid": is_int, "vmas": list_of(lambda x: type(x) is dict),
                        "ptes": list_of(lambda x: type(x) is dict)}, at)
        for j, vma in enumerate(mm["vmas"]):
            has_fields(vma, {"id": is_int, "vm_start": is_int, "vm_end": is_int,
                             "vm_pgoff": is_int, "prot": one_of(*PROTS),
                             "anon_vma": opt(is_int), "pages": is_int}, f"{at}.vmas[{j}]")
        for j, pte in enumerate(mm["ptes"]):
            pat = f"{at}.ptes[{j}]"
            has_fields(pte, {"addr": is_int, "kind": one_of("page", "zero", "swap"),
                             "pfn": opt(is_int), "slot": opt(is_int), "writable": is_bool}, pat)
            shape = (pte["pfn"] is not None, pte["slot"] is not None)
            assert shape == {"page": (True, False), "swap": (False, True),
                             "zero": (False, False)}[pte["kind"]], pat
    for i, page in enumerate(state["pages"]):
        has_fields(page, {"pfn": is_int,
                          "flags": list_of(one_of("anon", "direct", "swapcache",
                                                  "exclusive")),
                          "mapping": opt(ref(("vma", "anon_vma", "anonmm", "pte",
                                              "pte_chain", "swapper_space"))),
                          "index": opt(is_int),
                          "mapcount": is_int, "swap_slot": opt(is_int), "value": is_int,
                          "page_mapping": opt(is_str)}, f"{where}.pages[{i}]")
    for i, entry in enumerate(state["swap"]):
        has_fields(entry, {"slot": is_int, "ptes": is_int, "cached_pfn": opt(is_int),
                           "value": is_int}, f"{where}.swap[{i}]")
    for i, av in enumerate(state["anon_vmas"]):
        has_fields(av, {"id": is_int, "vmas": list_of(is_int)}, f"{where}.anon_vmas[{i}]")


def check_invariants(inv, where):
    has_fields(inv, {"ok": is_bool, "violations": list_of(lambda x: type(x) is dict)}, where)
    for i, v in enumerate(inv["violations"]):
        has_fields(v, {"rule": is_str, "text": is_str}, f"{where}.violations[{i}]")
    assert inv["ok"] == (not inv["violations"]), where


def check_step(found, where):
    has_fields(found, {"index": is_int, "op": lambda x: type(x) is dict and is_str(x.get("op")),
                       "outcome": one_of("ok", "segv"), "value": opt(is_int),
                       "events": list_of(lambda x: type(x) is dict),
                       "walks": list_of(lambda x: type(x) is dict),
                       "counters": lambda x: type(x) is dict,
                       "result": lambda x: type(x) is dict,
                       "invariants": lambda x: type(x) is dict,
                       "state": lambda x: type(x) is dict}, where)
    for i, event in enumerate(found["events"]):
        has_fields(event, {"kind": is_str, "func": is_str, "text": is_str,
                           "objects": list_of(lambda x: type(x) is dict and is_str(x.get("kind")))},
                   f"{where}.events[{i}]")
    for i, walk in enumerate(found["walks"]):
        wat = f"{where}.walks[{i}]"
        has_fields(walk, {"pfn": is_int, "via": opt(ref(("vma", "anon_vma"))),
                          "visited": list_of(lambda x: type(x) is dict), "candidates": is_int,
                          "unmapped": is_int, "remaining": is_int}, wat)
        for j, visit in enumerate(walk["visited"]):
            has_fields(visit, {"kind": is_str, "id": is_int,
                               "result": one_of("hit", "miss", "skip"), "pid": opt(is_int),
                               "addr": opt(is_int)}, f"{wat}.visited[{j}]")
        assert len(walk["visited"]) <= walk["candidates"], wat
    for name, count in found["counters"].items():
        assert is_str(name) and is_int(count), f"{where}.counters.{name} = {count!r}"
    check_invariants(found["invariants"], f"{where}.invariants")
    check_state(found["state"], f"{where}.state")
    assert found["state"]["step"] == found["index"], where


@pytest.mark.parametrize("path", by_file())
def test_builtin_run_document_has_contract_fields_and_types(path):
    doc = run_scenario(load(path), all_states=True)
    has_fields(doc, {"design": is_str, "options": list_of(is_str),
                     "scenario": lambda x: type(x) is dict,
                     "steps": list_of(lambda x: type(x) is dict),
                     "state": lambda x: type(x) is dict,
                     "invariants": lambda x: type(x) is dict}, "doc")
    has_fields(doc["scenario"], {"name": is_str, "title": is_str, "description": is_str},
               "doc.scenario")
    for i, found in enumerate(doc["steps"]):
        check_step(found, f"doc.steps[{i}]")
    check_state(doc["state"], "doc.state")
    check_invariants(doc["invariants"], "doc.invariants")


@pytest.mark.parametrize("path", by_file())
def test_builtin_run_document_omits_states_unless_asked(path):
    doc = run_scenario(load(path))
    assert [s for s in doc["steps"] if "state" in s] == []
