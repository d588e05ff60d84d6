"""The engine worker's own work: a log it replayed already is not replayed again."""

from __future__ import annotations

import json
from typing import Any

import pytest

import app.api.worker as worker
from app.api.config import Settings
from app.api.worker import Engine
from app.scenarios import load_builtin

SEED = load_builtin("seed-story")
RFC2 = [{"design": "anon_vma_rfc2", "options": []}]


@pytest.fixture
def applied(monkeypatch) -> list[int]:
    """How many times the worker applied an op to a state."""
    count = [0]
    real = worker.apply

    def counting(*args: Any) -> Any:
        count[0] += 1
        return real(*args)

    monkeypatch.setattr(worker, "apply", counting)
    return count


def _open(engine: Engine, sid: str, designs: list[dict[str, Any]], step: int) -> dict[str, Any]:
    head = {"id": sid, "step": step, "length": len(SEED["ops"])}
    return json.loads(engine.create(sid, "v1", designs, SEED["ops"], head))


def test_a_second_session_on_the_same_log_is_not_replayed(applied):
    engine = Engine(Settings(db=":memory:"))
    first = _open(engine, "a", RFC2, 6)
    replayed = applied[0]
    assert replayed >= len(SEED["ops"])  # every op, under the design, at least once
    second = _open(engine, "b", RFC2, 6)
    assert applied[0] == replayed  # nothing applied again
    assert {**second, "id": "a"} == first
    assert engine.live["b"].snapshots[0] is engine.live["a"].snapshots[0]


def test_another_design_or_log_is_replayed(applied):
    engine = Engine(Settings(db=":memory:"))
    _open(engine, "a", RFC2, 6)
    before = applied[0]
    _open(engine, "b", [{"design": "anon_vma_267", "options": []}], 6)
    assert applied[0] > before
    head = {"id": "c", "step": 3, "length": 3}
    before = applied[0]
    engine.create("c", "v1", RFC2, SEED["ops"][:3], head)
    assert applied[0] > before


def test_sessions_sharing_a_replay_change_apart():
    engine = Engine(Settings(db=":memory:"))
    length = len(SEED["ops"])
    first = _open(engine, "a", RFC2, length)
    _open(engine, "b", RFC2, length)
    op = {"op": "write", "pid": 1, "addr": 0x1000, "value": 77}
    engine.apply_op("b", "v1", "v2", length, op, {"id": "b", "step": length + 1})
    again = json.loads(engine.view("a", "v1", {"id": "a", "step": length}, length, True))
    assert again["view"] == first["view"]
    assert again["ops"] == SEED["ops"]
