"""Limits and honest errors of issue 10, through the app (TestClient)."""

from __future__ import annotations

import time

from .conftest import make_client

SPAWN = {"op": "spawn", "pid": 1}


def test_a_session_opens_without_a_body(client):
    r = client.post("/api/sessions")
    assert r.status_code == 201 and r.json()["step"] == 0


def test_a_chunked_body_over_the_limit_is_413(small_client):
    def chunks():
        for _ in range(10):
            yield b" " * 1000

    r = small_client.post(
        "/api/sessions", content=chunks(), headers={"content-type": "application/json"}
    )
    assert r.status_code == 413 and "RMAPLAB_MAX_BODY" in r.text


def test_errors_quote_at_most_200_characters_of_the_input(client):
    r = client.post("/api/sessions", json={"ops": "x" * 500_000})
    assert r.status_code == 422
    assert len(r.content) < 2000


def test_options_lists_every_method(client):
    sid = client.post("/api/sessions").json()["id"]
    r = client.options(f"/api/sessions/{sid}")
    assert r.status_code == 204
    assert set(r.headers["allow"].split(", ")) == {"GET", "HEAD", "DELETE", "OPTIONS"}


def test_ids_are_bounded(client):
    sid = client.post("/api/sessions").json()["id"]
    for op in (
        {"op": "spawn", "pid": 2**64},
        {"op": "spawn", "pid": 4194305},
        {"op": "reclaim", "pfn": 2**31 + 1},
    ):
        r = client.post(f"/api/sessions/{sid}/ops", json={"op": op})
        assert r.status_code == 422, (op, r.text)
    r = client.post(f"/api/sessions/{sid}/ops", json={"op": {"op": "spawn", "pid": 4194304}})
    assert r.status_code == 200
    assert client.get(f"/api/sessions/{sid}/walk", params={"pfn": 2**40}).status_code == 422


def test_a_view_id_reads_but_cannot_change(client):
    doc = client.post("/api/sessions", json={"ops": [SPAWN], "at_step": 1}).json()
    view = doc["view_id"]
    seen = client.get(f"/api/sessions/{view}")
    assert seen.status_code == 200 and seen.json()["read_only"] is True
    assert seen.json()["id"] == view and doc["id"] not in seen.text
    assert client.get(f"/api/sessions/{view}/steps/1").status_code == 200
    assert client.get(f"/api/sessions/{view}/counters").status_code == 200
    for r in (
        client.post(f"/api/sessions/{view}/undo"),
        client.post(f"/api/sessions/{view}/ops", json={"op": {"op": "spawn", "pid": 2}}),
        client.delete(f"/api/sessions/{view}"),
    ):
        assert r.status_code == 403, r.text
    assert client.post(f"/api/sessions/{doc['id']}/undo").status_code == 200


def test_idle_sessions_expire_by_time():
    c = make_client(session_ttl=1)
    sid = c.post("/api/sessions").json()["id"]
    assert c.get(f"/api/sessions/{sid}").status_code == 200
    time.sleep(1.2)
    r = c.get(f"/api/sessions/{sid}")
    assert r.status_code == 404 and "RMAPLAB_SESSION_TTL" in r.text


def test_a_big_answer_is_refused_naming_the_limit():
    c = make_client(max_response=20_000)
    ops = [
        SPAWN,
        {"op": "mmap", "pid": 1, "addr": 65536, "pages": 256, "prot": "rw"},
        {"op": "write", "pid": 1, "addr": 65536, "value": 1, "pages": 256},
    ]
    r = c.post("/api/runs", json={"scenario": {"ops": ops}, "states": "all"})
    assert r.status_code == 409 and "RMAPLAB_MAX_RESPONSE" in r.text
    sid = c.post("/api/sessions", json={"ops": ops[:2], "at_step": 2}).json()["id"]
    r = c.post(f"/api/sessions/{sid}/ops", json={"op": ops[2]})
    assert r.status_code == 409 and "RMAPLAB_MAX_RESPONSE" in r.text
    assert c.get(f"/api/sessions/{sid}").json()["length"] == 2  # refused: unchanged


def test_the_pte_limit_counts_zero_page_ptes():
    c = make_client(max_ptes=100)
    ops = [
        SPAWN,
        {"op": "mmap", "pid": 1, "addr": 65536, "pages": 64, "prot": "rw"},
        {"op": "read", "pid": 1, "addr": 65536, "pages": 64},
    ]
    sid = c.post("/api/sessions", json={"ops": ops, "at_step": 3}).json()["id"]
    r = c.post(f"/api/sessions/{sid}/ops", json={"op": {"op": "fork", "pid": 1, "child": 2}})
    assert r.status_code == 409 and "RMAPLAB_MAX_PTES" in r.text
    r = c.post(
        "/api/compare", json={"scenario": {"ops": [*ops, {"op": "fork", "pid": 1, "child": 2}]}}
    )
    assert r.status_code == 409 and "RMAPLAB_MAX_PTES" in r.text


def test_healthz_checks_the_store(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"


def test_a_worker_keeps_session_states_within_its_memory_budget():
    from app.api.config import Settings
    from app.api.worker import Engine

    engine = Engine(Settings(db=":memory:", live_memory_mb=2))
    ops = [
        SPAWN,
        {"op": "mmap", "pid": 1, "addr": 65536, "pages": 4096, "prot": "rw"},
        {"op": "write", "pid": 1, "addr": 65536, "value": 1, "pages": 4096},
    ]
    head = {"id": "x", "step": 3}
    for sid in ("a", "b", "c"):
        engine.create(sid, 1, [{"design": "anon_vma_rfc2"}], ops, head)
    assert list(engine.live) == ["c"] or len(engine.live) < 3
    assert engine.held <= 2 << 20 or len(engine.live) == 1
    assert "a" not in engine.live  # the least recent went first; its log brings it back
