"""The response models (app/api/models.py) are the engine's documents, field for field.

Every built-in scenario's run, compare, session, step, walk and counter documents validate
strictly (integers are integers, never booleans or floats), and validating loses nothing
and meets no field the model does not name: a new engine field without a model field
fails here. The models accept extra fields in service (the contract may grow); these tests
do not. What the types cannot say (a PTE's fields by its kind, a walk's visits within its
candidates, the verdict agreeing with the violations) is checked beside them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from app.api import models
from app.engine import compare_scenario, run_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
FILES = sorted(SCENARIOS.glob("*.json"))


def _extras(value: Any, where: str) -> list[str]:
    """Every field of a validated document that no model names, by its location."""
    if isinstance(value, BaseModel):
        out = [f"{where}.{k}" for k in value.model_extra or {}]
        for name in type(value).model_fields:
            out += _extras(getattr(value, name), f"{where}.{name}")
        return out
    if isinstance(value, list):
        return [e for i, v in enumerate(value) for e in _extras(v, f"{where}[{i}]")]
    if isinstance(value, dict):
        return [e for k, v in value.items() for e in _extras(v, f"{where}.{k}")]
    return []


def exact(model: type[BaseModel], doc: Any) -> BaseModel:
    """``doc`` validates strictly as ``model``, every field named, nothing changed."""
    found = model.model_validate(doc, strict=True)
    assert _extras(found, model.__name__) == []
    assert found.model_dump(mode="json", exclude_unset=True) == doc
    return found


def semantics(state: dict[str, Any]) -> None:
    for mm in state["mms"]:
        for pte in mm["ptes"]:
            shape = (pte["pfn"] is not None, pte["slot"] is not None)
            assert (
                shape
                == {"page": (True, False), "swap": (False, True), "zero": (False, False)}[
                    pte["kind"]
                ]
            ), pte


def step_semantics(step: dict[str, Any]) -> None:
    assert step["invariants"]["ok"] == (not step["invariants"]["violations"])
    for walk in step["walks"]:
        assert len(walk["visited"]) <= walk["candidates"], walk
    if "state" in step:
        assert step["state"]["step"] == step["index"]
        semantics(step["state"])


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in FILES])
def test_every_builtin_run_and_compare_document_is_its_model(path):
    data = json.loads(path.read_text())
    run = run_scenario(data, all_states=True)
    exact(models.Run, run)
    for step in run["steps"]:
        step_semantics(step)
    exact(models.Run, run_scenario(data))
    exact(models.Compare, compare_scenario(data))


def test_a_compare_of_no_ops_is_its_model():
    """Without a step, a design's counters are the empty machine's (not an empty object)."""
    exact(models.Compare, compare_scenario({"ops": []}))


def test_a_compare_whose_designs_fail_is_its_model():
    doc = compare_scenario(
        {"ops": [{"op": "spawn", "pid": 1}, {"op": "read", "pid": 2, "addr": 4096}]}
    )
    rows = exact(models.Compare, doc).designs
    assert rows and all(row.error is not None and row.error.step == 2 for row in rows)


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in FILES])
def test_every_builtin_session_document_is_its_model(client, path):
    name = path.stem
    scenario = json.loads(path.read_text())
    r = client.post("/api/sessions", json={"scenario": name, "at_step": len(scenario["ops"])})
    assert r.status_code == 201, r.text
    session = exact(models.Session, r.json())
    sid = session.id
    for design in session.view.designs:
        step_semantics(design.model_dump(mode="json", exclude_unset=True))
    start = exact(models.StepView, client.get(f"/api/sessions/{sid}/steps/0").json())
    assert start.op is None and all(d.index == 0 and d.op is None for d in start.designs)
    exact(models.Session, client.get(f"/api/sessions/{sid}").json())
    exact(models.Session, client.post(f"/api/sessions/{sid}/undo").json())
    exact(models.Series, client.get(f"/api/sessions/{sid}/counters").json())
    pages = session.view.designs[0].state.pages
    pfn = pages[0].pfn if pages else 1
    exact(models.WalkView, client.get(f"/api/sessions/{sid}/walk", params={"pfn": pfn}).json())
    exact(models.Scenario, client.get(f"/api/sessions/{sid}/scenario").json())
    exact(models.Scenario, client.get(f"/api/scenarios/{name}").json())
    exact(models.Session, client.get(f"/api/scenarios/{name}/view").json())


def test_runs_and_the_catalogue_are_their_models(client):
    scenario = json.loads((SCENARIOS / "seed-story.json").read_text())
    runs = client.post(
        "/api/runs",
        json={
            "scenario": {
                k: scenario[k] for k in ("name", "title", "description", "design", "options", "ops")
            },
            "states": "all",
        },
    )
    assert runs.status_code == 200, runs.text
    exact(models.Runs, runs.json())
    for doc in client.get("/api/designs").json():
        exact(models.DesignInfo, doc)
    for doc in client.get("/api/scenarios").json():
        exact(models.ScenarioSummary, doc)
    exact(models.Health, client.get("/healthz").json())
    exact(models.Lesson, client.get("/api/lessons/seed-story").json())


def test_room_documents_are_their_models(client):
    created = client.post("/api/rooms", json={"scenario": "seed-story"})
    assert created.status_code == 201, created.text
    room = exact(models.Room, created.json())
    key = {"X-Room-Key": room.key}
    exact(models.Room, client.get(f"/api/rooms/{room.code}").json())
    exact(
        models.Room,
        client.post(f"/api/rooms/{room.code}/cursor", json={"step": 2}, headers=key).json(),
    )
    asked = client.post(
        f"/api/rooms/{room.code}/questions",
        headers=key,
        json={"prompt": "Which?", "choices": ["a", "b"], "answer": "a"},
    )
    question = exact(models.QuestionCreated, asked.json()).id
    exact(
        models.Room,
        client.post(
            f"/api/rooms/{room.code}/question", headers=key, json={"question": question}
        ).json(),
    )
    joined = exact(models.Participant, client.post(f"/api/rooms/{room.code}/join").json())
    exact(
        models.Answered,
        client.post(
            f"/api/rooms/{room.code}/answers",
            json={"participant": joined.participant, "question": question, "answer": "a"},
        ).json(),
    )
    exact(
        models.Room,
        client.post(
            f"/api/rooms/{room.code}/question",
            headers=key,
            json={"question": question, "revealed": True},
        ).json(),
    )
    exact(
        models.Tally,
        client.get(
            f"/api/rooms/{room.code}/tally", headers=key, params={"question": question}
        ).json(),
    )
    exact(models.Room, client.get(f"/api/rooms/{room.code}", headers=key).json())
    exact(models.StepView, client.get(f"/api/rooms/{room.code}/steps/0").json())
    exact(models.StepView, client.get(f"/api/rooms/{room.code}/steps/3").json())


def test_every_json_route_declares_its_bodies(client):
    """No success body of /openapi.json is a free-form object, and every error is the one
    ``ErrorBody`` (FastAPI's own 422 shape included)."""
    spec = client.get("/openapi.json").json()
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            for status, response in op["responses"].items():
                content = response.get("content", {}).get("application/json")
                if content is None:
                    continue
                schema = content["schema"]
                if status.startswith("2"):
                    assert "$ref" in schema or "$ref" in schema.get("items", {}), (
                        method,
                        path,
                        status,
                        schema,
                    )
                else:
                    assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (
                        method,
                        path,
                        status,
                        schema,
                    )


def test_the_schemas_docs_state_names_are_in_openapi(client):
    """docs/state.md points at the schema by component name: each name it gives exists."""
    import re

    text = (Path(__file__).resolve().parents[2] / "docs" / "state.md").read_text()
    names = set(re.findall(r"`([A-Z][A-Za-z]+)`", text))
    assert {"Run", "Step", "State", "Compare", "Session"} <= names
    components = client.get("/openapi.json").json()["components"]["schemas"]
    assert sorted(names - set(components)) == []
