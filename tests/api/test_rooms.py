"""Rooms: every route of the contract and its errors (the event stream: test_rooms_live.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

import app.api.rooms as rooms_module
from app.api.config import Settings
from app.main import create_app
from app.scenarios import load_builtin
from tests.api.conftest import make_client

#: every test with a client runs over SQLite and over Redis (tests/api/conftest.py)
BOTH_STORES = True

LESSON = {
    "name": "tiny",
    "title": "A tiny lesson",
    "design": "anon_vma_rfc2",
    "ops": [
        {"op": "spawn", "pid": 1},
        {"op": "mmap", "pid": 1, "addr": "0x10000", "pages": 1, "prot": "rw"},
        {"op": "write", "pid": 1, "addr": "0x10000", "value": 7},
        {"op": "fork", "pid": 1, "child": 2},
        {"op": "reclaim", "pfn": 1},
    ],
    "questions": [
        {"step": 4, "prompt": "mapcount after the fork?", "answer": {"kind": "mapcount", "pfn": 1}},
        {
            "step": 5,
            "prompt": "vmas visited?",
            "choices": ["1", "2", "3"],
            "answer": {"kind": "walk_visits"},
        },
    ],
}


def limit(client: TestClient, **limits) -> None:
    rooms = client.app.state.rooms
    rooms.limits = dataclasses.replace(rooms.limits, **limits)


@pytest.fixture
def room(client):
    doc = client.post("/api/rooms", json={"scenario": LESSON}).json()
    return doc["code"], {"X-Room-Key": doc["key"]}


def join(client, code) -> str:
    r = client.post(f"/api/rooms/{code}/join")
    assert r.status_code == 200, r.text
    return r.json()["participant"]


# ----- creating ----------------------------------------------------------------------------


def test_a_room_has_a_typable_code_and_a_long_key(client):
    codes = set()
    for _ in range(20):
        r = client.post("/api/rooms", json={"scenario": "seed-story"})
        assert r.status_code == 201, r.text
        doc = r.json()
        assert re.fullmatch(r"[2-9A-HJKMNP-Z]{6,10}", doc["code"]), doc["code"]
        assert not set(doc["code"]) & set("0O1Il")
        assert len(doc["key"]) * 6 >= 128 and re.fullmatch(r"[A-Za-z0-9_-]+", doc["key"])
        assert doc["step"] == 0 and doc["length"] == 12
        assert doc["designs"] == [{"design": "anon_vma_rfc2", "options": []}]
        assert len(doc["questions"]) == len(load_builtin("seed-story")["questions"])
        codes.add(doc["code"])
    assert len(codes) == 20


def test_a_room_from_an_inline_scenario_with_designs_and_a_step(client):
    r = client.post(
        "/api/rooms",
        json={
            "scenario": LESSON,
            "step": 3,
            "designs": ["anon_vma_267+exact_267", {"design": "anon_vma_chain", "options": []}],
        },
    )
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["step"] == 3 and doc["scenario"]["name"] == "tiny"
    assert doc["designs"] == [
        {"design": "anon_vma_267", "options": ["exact_267"]},
        {"design": "anon_vma_chain", "options": []},
    ]
    # at step 3 the lesson's question about step 4 is put to the room
    assert doc["question"]["prompt"] == "mapcount after the fork?"
    assert doc["question"]["answer"] == "2"  # the instructor's view
    assert "answer" not in client.get(f"/api/rooms/{doc['code']}").json()["question"]
    assert [q["answer"] for q in doc["questions"]] == ["2", "2"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"scenario": "no-such"}, 404, "no built-in scenario 'no-such'"),
        ({"scenario": {"ops": [{"op": "fly"}]}}, 422, "step 1 (fly)"),
        (
            {"scenario": {**LESSON, "questions": [{"step": 9, "prompt": "x"}]}},
            422,
            "beyond the scenario's 5 steps",
        ),
        (
            {
                "scenario": {
                    **LESSON,
                    "questions": [{"step": 2, "prompt": "x", "answer": {"kind": "walk_visits"}}],
                }
            },
            422,
            "the step makes no rmap walk",
        ),
        ({"scenario": {"ops": [{"op": "exit", "pid": 1}]}}, 422, "step 1 under anon_vma_rfc2"),
        ({"scenario": "seed-story", "designs": ["pte_chain+nonsense"]}, 422, "designs:"),
        ({"scenario": "seed-story", "step": 13}, 422, "beyond the scenario's 12 steps"),
        ({"scenario": "seed-story", "colour": "red"}, 422, "colour"),
        ({}, 422, "scenario"),
    ],
)
def test_bad_rooms_are_refused_by_name(client, body, status, message):
    r = client.post("/api/rooms", json=body)
    assert r.status_code == status, r.text
    assert message in json.dumps(r.json()["detail"])


def test_the_server_limits_its_rooms_and_the_scenario_sizes():
    client = make_client(max_pages=8, max_steps=10)
    limit(client, max_rooms=2)
    for _ in range(2):
        assert client.post("/api/rooms", json={"scenario": LESSON}).status_code == 201
    r = client.post("/api/rooms", json={"scenario": LESSON})
    assert r.status_code == 409 and "RMAPLAB_MAX_ROOMS" in r.json()["detail"]
    limit(client, max_rooms=10)
    big = {
        "ops": [
            {"op": "spawn", "pid": 1},
            {"op": "mmap", "pid": 1, "addr": "0x10000", "pages": 9, "prot": "rw"},
        ]
    }
    assert "RMAPLAB_MAX_PAGES" in client.post("/api/rooms", json={"scenario": big}).text
    long = {"ops": [{"op": "spawn", "pid": i} for i in range(1, 12)]}
    assert "the limit is 10" in client.post("/api/rooms", json={"scenario": long}).text


def test_idle_rooms_expire(client, room, monkeypatch):
    code, _ = room
    later = rooms_module.time.time() + 7 * 3600
    monkeypatch.setattr(rooms_module.time, "time", lambda: later)
    r = client.get(f"/api/rooms/{code}")
    assert r.status_code == 404 and "ended" in r.json()["detail"]
    assert client.app.state.rooms.store.count() == 0


def test_a_restart_loses_no_room(tmp_path):
    db = str(tmp_path / "rooms.sqlite3")
    first = TestClient(create_app(Settings(db=db)))
    doc = first.post("/api/rooms", json={"scenario": LESSON}).json()
    code, key = doc["code"], {"X-Room-Key": doc["key"]}
    first.post(f"/api/rooms/{code}/cursor", json={"step": 3}, headers=key)
    who = join(first, code)
    first.post(
        f"/api/rooms/{code}/answers", json={"participant": who, "question": 1, "answer": "2"}
    )
    second = TestClient(create_app(Settings(db=db)))
    again = second.get(f"/api/rooms/{code}", headers=key).json()
    assert again["step"] == 3 and again["participants"] == 1 and again["question"]["id"] == 1
    assert second.get(f"/api/rooms/{code}/tally?question=1", headers=key).json()["counts"] == {
        "2": 1
    }


# ----- reading -----------------------------------------------------------------------------


def test_anyone_reads_a_room_without_its_answers(client, room):
    code, key = room
    doc = client.get(f"/api/rooms/{code.lower()}").json()
    assert {"code", "step", "length", "scenario", "designs", "question"} <= set(doc)
    assert doc["code"] == code and "key" not in doc and "questions" not in doc
    assert doc["join"] == f"/r/{code}" and doc["following"] == 0
    assert client.get(f"/api/rooms/{code}", headers=key).json()["questions"][0]["answer"] == "2"


@pytest.mark.parametrize(
    ("path", "status"),
    [("/api/rooms/ZZZZZZZZ", 404), ("/api/rooms/abc", 422), ("/api/rooms/ABC-DEF-GH", 422)],
)
def test_unknown_and_malformed_codes(client, path, status):
    assert client.get(path).status_code == status


def test_a_wrong_key_is_refused_everywhere(client, room):
    code, _ = room
    bad = {"X-Room-Key": "not-the-key"}
    for method, path, body in [
        ("GET", "", None),
        ("POST", "/cursor", {"step": 1}),
        ("POST", "/designs", {"designs": ["anonmm"]}),
        ("POST", "/question", {"question": 1, "revealed": True}),
        ("POST", "/questions", {"prompt": "p", "choices": ["a", "b"]}),
        ("GET", "/tally?question=1", None),
    ]:
        for headers in (bad, {}):
            if method == "GET" and path == "" and not headers:
                continue  # reading without a key is everyone's right
            r = client.request(method, f"/api/rooms/{code}{path}", json=body, headers=headers)
            assert r.status_code == 403, (path, headers, r.text)
            assert "X-Room-Key" in r.json()["detail"]
    assert client.get(f"/api/rooms/{code}").json()["step"] == 0


def test_step_views_are_the_rooms_designs_at_that_step(client, room):
    code, _ = room
    r = client.get(f"/api/rooms/{code}/steps/4")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    view = r.json()
    assert view["step"] == 4 and view["op"] == {"op": "fork", "pid": 1, "child": 2}
    [d] = view["designs"]
    assert d["design"] == "anon_vma_rfc2" and d["invariants"]["ok"]
    assert sorted(m["pid"] for m in d["state"]["mms"]) == [1, 2]
    assert client.get(f"/api/rooms/{code}/steps/4").content == r.content
    zero = client.get(f"/api/rooms/{code}/steps/0").json()
    assert zero["op"] is None and zero["designs"][0]["state"]["mms"] == []
    assert client.get(f"/api/rooms/{code}/steps/6").status_code == 404
    # a session over the same ops shows the same state
    sid = client.post("/api/sessions", json={"ops": LESSON["ops"], "at_step": 4}).json()
    assert (
        client.get(f"/api/sessions/{sid['id']}/steps/4").json()["designs"][0]["state"] == d["state"]
    )


# ----- the instructor ----------------------------------------------------------------------


def test_the_instructor_moves_the_room_and_the_lesson_follows(client, room):
    code, key = room
    r = client.post(f"/api/rooms/{code}/cursor", json={"step": 3}, headers=key)
    assert r.status_code == 200
    assert r.json()["step"] == 3 and r.json()["question"]["id"] == 1
    r = client.post(f"/api/rooms/{code}/cursor", json={"step": 2}, headers=key)
    assert r.json()["question"] is None
    r = client.post(f"/api/rooms/{code}/cursor", json={"step": 6}, headers=key)
    assert r.status_code == 409 and "5 steps" in r.json()["detail"]
    r = client.post(f"/api/rooms/{code}/cursor", json={"step": -1}, headers=key)
    assert r.status_code == 422
    assert client.get(f"/api/rooms/{code}").json()["step"] == 2


def test_the_instructor_changes_the_designs(client, room):
    code, key = room
    r = client.post(
        f"/api/rooms/{code}/designs", json={"designs": ["pte_chain", "anonmm"]}, headers=key
    )
    assert r.status_code == 200
    assert [d["design"] for d in r.json()["designs"]] == ["pte_chain", "anonmm"]
    view = client.get(f"/api/rooms/{code}/steps/5").json()
    assert [d["design"] for d in view["designs"]] == ["pte_chain", "anonmm"]
    r = client.post(f"/api/rooms/{code}/designs", json={"designs": ["pte_chain+nope"]}, headers=key)
    assert r.status_code == 422
    r = client.post(f"/api/rooms/{code}/designs", json={"designs": []}, headers=key)
    assert r.status_code == 422


def test_the_instructor_asks_and_reveals(client, room):
    code, key = room
    ident = client.post(
        f"/api/rooms/{code}/questions",
        json={"prompt": "Ready?", "choices": ["yes", "no"]},
        headers=key,
    )
    assert ident.status_code == 201 and ident.json() == {"id": 3}
    doc = client.get(f"/api/rooms/{code}").json()
    assert doc["question"] == {
        "id": 3,
        "step": None,
        "prompt": "Ready?",
        "choices": ["yes", "no"],
        "revealed": False,
    }
    who = join(client, code)
    client.post(
        f"/api/rooms/{code}/answers", json={"participant": who, "question": 3, "answer": "yes"}
    )
    r = client.post(
        f"/api/rooms/{code}/question", json={"question": 3, "revealed": True}, headers=key
    )
    assert r.status_code == 200
    shown = client.get(f"/api/rooms/{code}").json()["question"]
    assert shown["revealed"] and shown["tally"]["counts"] == {"yes": 1, "no": 0}
    r = client.post(f"/api/rooms/{code}/question", json={"question": None}, headers=key)
    assert r.json()["question"] is None
    assert (
        client.post(f"/api/rooms/{code}/question", json={"question": 9}, headers=key).status_code
        == 404
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"prompt": "", "choices": ["a", "b"]}, "prompt"),
        ({"prompt": "p", "choices": ["a"]}, "at least 2 items"),
        ({"prompt": "p", "choices": ["a", "a"]}, "distinct"),
        ({"prompt": "p", "choices": ["a", "b"], "answer": "c"}, "not one of the choices"),
        ({"prompt": "p", "step": 99}, "beyond the scenario's 5 steps"),
    ],
)
def test_bad_questions_are_refused(client, room, body, message):
    code, key = room
    r = client.post(f"/api/rooms/{code}/questions", json=body, headers=key)
    assert r.status_code == 422 and message in json.dumps(r.json()["detail"])


# ----- the class ---------------------------------------------------------------------------


def test_participants_answer_and_answering_again_replaces(client, room):
    code, key = room
    a, b = join(client, code), join(client, code)
    assert a != b and len(a) >= 16
    for who, answer in [(a, "1"), (b, "2"), (a, "2")]:
        r = client.post(
            f"/api/rooms/{code}/answers", json={"participant": who, "question": 2, "answer": answer}
        )
        assert r.status_code == 201, r.text
    r = client.get(f"/api/rooms/{code}/tally?question=2", headers=key)
    assert r.json() == {
        "question": 2,
        "counts": {"1": 0, "2": 2, "3": 0},
        "answers": 2,
        "answer": "2",
    }
    assert client.get(f"/api/rooms/{code}").json()["participants"] == 2


def test_typed_answers_are_tallied_alike(client, room):
    code, key = room
    for answer in ["2", " 02 ", 2, "Two", "two"]:
        client.post(
            f"/api/rooms/{code}/answers",
            json={"participant": join(client, code), "question": 1, "answer": answer},
        )
    assert client.get(f"/api/rooms/{code}/tally?question=1", headers=key).json()["counts"] == {
        "2": 3,
        "two": 2,
    }


@pytest.mark.parametrize(
    ("who", "question", "answer", "status", "message"),
    [
        ("stranger", 1, "2", 403, "join first"),
        (None, 9, "2", 404, "no question 9"),
        (None, 2, "7", 422, "not one of the choices"),
        (None, 1, "", 422, "1 to 40 characters"),
        (None, 1, 2.5, 422, "answer"),
    ],
)
def test_bad_answers_are_refused(client, room, who, question, answer, status, message):
    code, key = room
    me = join(client, code)
    r = client.post(
        f"/api/rooms/{code}/answers",
        json={"participant": who or me, "question": question, "answer": answer},
    )
    assert r.status_code == status and message in json.dumps(r.json()["detail"])
    assert client.get(f"/api/rooms/{code}/tally?question=1", headers=key).json()["answers"] == 0


def test_a_revealed_question_takes_no_more_answers(client, room):
    code, key = room
    me = join(client, code)
    client.post(f"/api/rooms/{code}/question", json={"question": 1, "revealed": True}, headers=key)
    r = client.post(
        f"/api/rooms/{code}/answers", json={"participant": me, "question": 1, "answer": "2"}
    )
    assert r.status_code == 409 and "revealed" in r.json()["detail"]


def test_answers_per_second_are_limited(client, room):
    code, _ = room
    limit(client, room_answers_per_second=2)
    me = join(client, code)
    statuses = [
        client.post(
            f"/api/rooms/{code}/answers", json={"participant": me, "question": 1, "answer": "1"}
        ).status_code
        for _ in range(5)
    ]
    assert statuses[:2] == [201, 201] and 429 in statuses
    r = client.post(
        f"/api/rooms/{code}/answers", json={"participant": me, "question": 1, "answer": "1"}
    )
    assert r.status_code == 429 and r.headers["retry-after"] == "1"
    assert "RMAPLAB_ROOM_ANSWERS_PER_SECOND" in r.json()["detail"]


def test_a_full_room_takes_no_more_participants(client, room):
    code, _ = room
    limit(client, room_participants=2)
    join(client, code)
    join(client, code)
    r = client.post(f"/api/rooms/{code}/join")
    assert r.status_code == 409 and "RMAPLAB_ROOM_PARTICIPANTS" in r.json()["detail"]


def test_tally_needs_a_known_question(client, room):
    code, key = room
    assert client.get(f"/api/rooms/{code}/tally?question=9", headers=key).status_code == 404
    assert client.get(f"/api/rooms/{code}/tally", headers=key).status_code == 422


# ----- pages -------------------------------------------------------------------------------


def test_the_pages_and_the_qr_code(client, room):
    code, key = room
    r = client.get(f"/r/{code}")
    assert r.status_code == 200 and "content-security-policy" in r.headers
    assert 'data-role="follower"' in r.text
    r = client.get(f"/r/{code}?key={key['X-Room-Key']}")
    assert r.status_code == 200 and 'data-role="instructor"' in r.text
    assert client.get(f"/r/{code}?key=wrong").status_code == 403
    missing = client.get("/r/ZZZZZZZZ")
    assert missing.status_code == 404 and "no room" in missing.text
    qr = client.get(f"/r/{code}/qr.svg")
    assert qr.status_code == 200 and qr.headers["content-type"] == "image/svg+xml"
    assert qr.text.startswith("<svg") and "viewBox" in qr.text
    assert client.get("/r/ZZZZZZZZ/qr.svg").status_code == 404


def test_an_expired_room_ends_its_streams(client, room, monkeypatch):
    code, _ = room
    service = client.app.state.rooms

    async def follow() -> list[bytes]:
        stream = service.events(await service.channel(await service.room(code)), -1)
        got = [await anext(stream), await anext(stream)]
        monkeypatch.setattr(rooms_module.time, "time", lambda: 1e12)
        await service.expire()
        got += [chunk async for chunk in stream]
        return got

    # a loop of its own in a thread: browser tests in the same run may leave one running here
    with ThreadPoolExecutor(1) as pool:
        retry, first, closed = pool.submit(asyncio.run, follow()).result()
    assert retry == b"retry: 2000\n\n" and first.startswith(b"id: 1\ndata: {")
    assert closed == b"event: closed\ndata: {}\n\n"
    assert service.streams == 0


def test_a_builtin_lesson_with_its_answers(client):
    r = client.get("/api/lessons/aim7-shape")
    assert r.status_code == 200
    questions = r.json()["questions"]
    assert [(q["step"], q["answer"]) for q in questions] == [
        (4, "2"),
        (8, "6"),
        (12, "3"),
        (12, "1"),
        (13, "5"),
    ]
    assert client.get("/api/lessons/s1-first-touch").json()["questions"] == []
    assert client.get("/api/lessons/no-such").status_code == 404


def test_a_long_choice_is_a_valid_answer(client, room):
    code, key = room
    long = "no: the two vmas have different anon_vmas, so vma_merge refuses"
    ident = client.post(
        f"/api/rooms/{code}/questions",
        json={"prompt": "Why?", "choices": [long, "yes"]},
        headers=key,
    ).json()
    r = client.post(
        f"/api/rooms/{code}/answers",
        json={"participant": join(client, code), "question": ident["id"], "answer": long},
    )
    assert r.status_code == 201, r.text


def test_unknown_rooms_leave_nothing_behind(client):
    for code in ("AAAAAAAA", "BBBBBBBB", "CCCCCCCC"):
        r = client.post(f"/api/rooms/{code}/cursor", json={"step": 1}, headers={"X-Room-Key": "k"})
        assert r.status_code == 404
    assert client.app.state.rooms.locks == {}


def test_a_room_obeys_the_state_limits():
    client = make_client(max_processes=2)
    doc = client.post("/api/rooms", json={"scenario": LESSON}).json()
    r = client.post(
        f"/api/rooms/{doc['code']}/designs",
        json={"designs": ["pte_chain"]},
        headers={"X-Room-Key": doc["key"]},
    )
    assert r.status_code == 200
    three = {
        **LESSON,
        "ops": [*LESSON["ops"], {"op": "fork", "pid": 1, "child": 3}],
        "questions": [],
    }
    r = client.post("/api/rooms", json={"scenario": three})
    assert r.status_code == 422 and "RMAPLAB_MAX_PROCESSES" in r.json()["detail"]


def test_a_choice_the_schema_takes_has_a_character_the_engine_keeps():
    """The schema's pattern for a choice is Python's whitespace, not JSON Schema's ``\\s``
    (which lacks U+001C-U+001F and U+0085): a choice of those alone is refused by both."""
    import re

    from app.api.rooms import VISIBLE

    for code in range(0x3001):
        char = chr(code)
        assert (re.search(VISIBLE, char) is None) == char.isspace(), hex(code)
