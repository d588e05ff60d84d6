"""Sessions: creation, ops, time travel, export, deletion, and every error status."""

from __future__ import annotations

import pytest

#: every test runs over SQLite and over Redis (tests/api/conftest.py)
BOTH_STORES = True

SPAWN = {"op": "spawn", "pid": 1}
MMAP = {"op": "mmap", "pid": 1, "addr": "0x1000", "pages": 4, "prot": "rw"}
WRITE = {"op": "write", "pid": 1, "addr": "0x1000", "value": 42}
FORK = {"op": "fork", "pid": 1, "child": 2}


def new(client, **body):
    r = client.post("/api/sessions", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def op(client, sid, o, **extra):
    return client.post(f"/api/sessions/{sid}/ops", json={"op": o, **extra})


def test_session_create_empty_is_step_0(client):
    s = new(client)
    assert (s["step"], s["length"], s["ops"]) == (0, 0, [])
    assert s["designs"] == [{"design": "anon_vma_rfc2", "options": []}]
    view = s["view"]["designs"][0]
    assert view["state"]["mms"] == [] and view["events"] == []
    assert len(s["id"]) >= 22  # >= 128 bits of token


def test_session_ops_advance_and_return_the_step(client):
    sid = new(client)["id"]
    for expected, o in enumerate((SPAWN, MMAP, WRITE, FORK), start=1):
        r = op(client, sid, o)
        assert r.status_code == 200
        assert r.json()["step"] == expected
    view = r.json()["view"]["designs"][0]
    assert [e["kind"] for e in view["events"]][:2] == ["fork", "copy_page_range"]
    assert view["state"]["anon_vmas"] == [{"id": 1, "vmas": [1, 2]}]
    assert view["invariants"] == {"ok": True, "violations": []}


def test_session_from_builtin_scenario_starts_at_step_0(client):
    s = new(client, scenario="s3-fork-shares")
    assert s["step"] == 0 and s["length"] == 5
    assert s["scenario"]["name"] == "s3-fork-shares"
    r = client.post(f"/api/sessions/{s['id']}/cursor", json={"step": 5})
    walk = r.json()["view"]["designs"][0]["walks"][0]
    assert [v["result"] for v in walk["visited"]] == ["hit", "hit"]


def test_session_several_designs_step_together(client):
    s = new(
        client,
        scenario="s4-aim7-shape",
        designs=[{"design": "anon_vma_rfc2"}, {"design": "anon_vma_267"}],
        at_step=7,
    )
    walks = [d["walks"][0] for d in s["view"]["designs"]]
    assert [(len(w["visited"]), w["candidates"]) for w in walks] == [(1, 1), (2, 3)]


def test_session_undo_redo_and_redo_tail_dropped_by_a_new_op(client):
    sid = new(client, ops=[SPAWN, MMAP, WRITE], at_step=3)["id"]
    assert client.post(f"/api/sessions/{sid}/undo").json()["step"] == 2
    assert client.post(f"/api/sessions/{sid}/undo").json()["step"] == 1
    assert client.post(f"/api/sessions/{sid}/redo").json()["step"] == 2
    r = op(client, sid, {"op": "mmap", "pid": 1, "addr": "0x9000", "pages": 1, "prot": "r"})
    body = r.json()
    assert (body["step"], body["length"]) == (3, 3) and "ops" not in body
    assert client.get(f"/api/sessions/{sid}").json()["ops"][2]["addr"] == 0x9000
    r = client.post(f"/api/sessions/{sid}/redo")
    assert r.status_code == 409 and "nothing to redo" in r.json()["detail"]


def test_session_undo_at_step_0_is_409(client):
    sid = new(client)["id"]
    r = client.post(f"/api/sessions/{sid}/undo")
    assert r.status_code == 409 and "nothing to undo" in r.json()["detail"]


def test_session_steps_rebuild_any_step_alone(client):
    sid = new(client, scenario="seed-story")["id"]
    full = client.post(f"/api/sessions/{sid}/cursor", json={"step": 12}).json()
    for n in (0, 1, 6, 12):
        r = client.get(f"/api/sessions/{sid}/steps/{n}")
        assert r.status_code == 200
        assert r.json()["step"] == n
    assert client.get(f"/api/sessions/{sid}/steps/12").json() == full["view"]
    assert client.get(f"/api/sessions/{sid}/steps/13").status_code == 404


def test_session_refused_op_changes_nothing(client):
    sid = new(client, ops=[SPAWN, MMAP, WRITE], at_step=3)["id"]
    before = client.get(f"/api/sessions/{sid}").json()
    bad = [
        ({"op": "fork", "pid": 7, "child": 3}, "unknown pid 7"),
        ({"op": "mmap", "pid": 1, "addr": "0x2000", "pages": 1, "prot": "r"}, "overlaps"),
        (
            {
                "op": "mremap",
                "pid": 1,
                "addr": "0x1000",
                "pages": 4,
                "new_pages": 4,
                "new_addr": "0x3000",
            },
            "overlaps the old one",
        ),
        ({"op": "spawn", "pid": 1}, "already in use"),
    ]
    for o, words in bad:
        r = op(client, sid, o)
        assert r.status_code == 409, r.text
        assert words in r.json()["detail"]
        assert client.get(f"/api/sessions/{sid}").json() == before


@pytest.mark.parametrize(
    ("o", "loc"),
    [
        (
            {"op": "mmap", "pid": 1, "addr": "0x1001", "pages": 1, "prot": "rw"},
            ["body", "op", "mmap", "addr"],
        ),
        (
            {"op": "mmap", "pid": 1, "addr": -4096, "pages": 1, "prot": "rw"},
            ["body", "op", "mmap", "addr"],
        ),
        ({"op": "mmap", "pid": 1, "pages": 0, "prot": "rw"}, ["body", "op", "mmap", "pages"]),
        ({"op": "mmap", "pid": 1, "pages": 1, "prot": "rwz"}, ["body", "op", "mmap", "prot"]),
        (
            {"op": "write", "pid": 1, "addr": 1, "value": 1, "colour": 2},
            ["body", "op", "write", "colour"],
        ),
        ({"op": "teleport"}, ["body", "op"]),
        ({"op": "write", "pid": 1, "addr": 1, "value": 2**60}, ["body", "op", "write", "value"]),
    ],
    ids=["unaligned", "negative", "zero-pages", "prot", "unknown-field", "unknown-op", "value"],
)
def test_session_malformed_op_is_422_with_location(client, o, loc):
    sid = new(client)["id"]
    r = op(client, sid, o)
    assert r.status_code == 422
    body = r.json()
    assert body["errors"][0]["loc"] == loc
    # one shape: the sentence names each location past "body"
    assert " › ".join(map(str, loc[1:])) in body["detail"]  # noqa: RUF001


def test_session_expected_step_conflict(client):
    sid = new(client, ops=[SPAWN], at_step=1)["id"]
    r = op(client, sid, MMAP, expected_step=0)
    assert r.status_code == 409
    assert r.json() == {"detail": "the session is at step 1, not 0", "step": 1}
    assert op(client, sid, MMAP, expected_step=1).status_code == 200


def test_session_export_is_a_scenario_of_the_visible_steps(client):
    sid = new(client, scenario="s3-fork-shares", at_step=3)["id"]
    doc = client.get(f"/api/sessions/{sid}/scenario").json()
    assert doc["name"] == "s3-fork-shares" and len(doc["ops"]) == 3
    again = new(client, ops=doc["ops"], at_step=3)
    assert (
        again["view"]["designs"][0]["state"]
        == client.get(f"/api/sessions/{sid}").json()["view"]["designs"][0]["state"]
    )


def test_session_walk_preview_changes_nothing(client):
    sid = new(client, scenario="s4-aim7-shape", at_step=6, designs=[{"design": "anon_vma_267"}])[
        "id"
    ]
    before = client.get(f"/api/sessions/{sid}").json()
    r = client.get(f"/api/sessions/{sid}/walk", params={"pfn": 2})
    walk = r.json()["designs"][0]["walks"][0]
    assert (len(walk["visited"]), walk["candidates"]) == (2, 3)
    assert client.get(f"/api/sessions/{sid}").json() == before
    absent = client.get(f"/api/sessions/{sid}/walk", params={"pfn": 99}).json()
    assert absent["designs"][0]["resident"] is False


def test_session_delete_and_unknown(client):
    sid = new(client)["id"]
    assert client.delete(f"/api/sessions/{sid}").status_code == 204
    for method, path in (("get", ""), ("post", "/undo"), ("get", "/scenario"), ("delete", "")):
        r = getattr(client, method)(f"/api/sessions/{sid}{path}")
        assert r.status_code == 404
    assert client.get("/api/sessions/bad id!").status_code in (404, 422)


def test_session_create_errors(client):
    assert client.post("/api/sessions", json={"scenario": "nope"}).status_code == 404
    r = client.post("/api/sessions", json={"scenario": "s1-first-touch", "ops": []})
    assert r.status_code == 422
    r = client.post(
        "/api/sessions", json={"designs": [{"design": "anon_vma_267", "options": ["turbo"]}]}
    )
    assert r.status_code == 422 and "no option 'turbo'" in r.text
    r = client.post("/api/sessions", json={"ops": [SPAWN, {"op": "exit", "pid": 2}]})
    assert r.status_code == 409 and "step 2" in r.json()["detail"]
    r = client.post("/api/sessions", json={"ops": [SPAWN], "at_step": 5})
    assert r.status_code == 409 and "beyond the 1 ops" in r.text  # well formed, not here


def test_session_limits(small_client):
    c = small_client
    r = c.post("/api/sessions", json={"ops": [SPAWN, {**MMAP, "pages": 9}]})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "ops", 1, "pages"]
    sid = new(c, ops=[SPAWN, MMAP], at_step=2)["id"]
    r = op(c, sid, {"op": "write", "pid": 1, "addr": "0x1000", "value": 1, "pages": 4})
    assert r.status_code == 200
    r = op(c, sid, {"op": "mmap", "pid": 1, "addr": "0x9000", "pages": 4, "prot": "rw"})
    r = op(c, sid, {"op": "write", "pid": 1, "addr": "0x9000", "value": 1, "pages": 4})
    assert r.status_code == 409 and "frames" in r.json()["detail"]
    for child in (2, 3):
        op(c, sid, {"op": "fork", "pid": 1, "child": child})
    r = op(c, sid, {"op": "fork", "pid": 1, "child": 4})
    assert r.status_code == 409 and "processes" in r.json()["detail"]


def test_session_step_limit(small_client):
    sid = new(small_client, ops=[SPAWN], at_step=1)["id"]
    for i in range(9):
        assert op(small_client, sid, {"op": "read", "pid": 1, "addr": i}).status_code == 200
    r = op(small_client, sid, {"op": "read", "pid": 1, "addr": 0})
    assert r.status_code == 409 and "limit is 10" in r.json()["detail"]


def test_session_oldest_idle_expire(small_client):
    ids = [new(small_client)["id"] for _ in range(4)]
    assert small_client.get(f"/api/sessions/{ids[0]}").status_code == 404
    assert all(small_client.get(f"/api/sessions/{i}").status_code == 200 for i in ids[1:])


def test_session_body_too_large(small_client):
    r = small_client.post("/api/sessions", json={"ops": [SPAWN] * 500})
    assert r.status_code == 413 and "larger than 4096 bytes" in r.json()["detail"]
