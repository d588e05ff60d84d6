"""One conformance suite for both stores: SQLite (the default) and Redis (RMAPLAB_STORE).

Every test runs against each; the Redis ones need ``redis-server`` (tests/conftest.py
starts one, or skips them saying so).
"""

from __future__ import annotations

import threading

import pytest

from app.api.redis_store import RedisRoomStore, RedisStore
from app.api.room_store import QuestionRecord, RoomRecord, SqliteRoomStore
from app.api.store import SessionRecord, SqliteStore, new_token

OP1 = {"op": "spawn", "pid": 1}
OP2 = {"op": "mmap", "pid": 1, "addr": "0x1000", "pages": 2, "prot": "rw"}
OP3 = {"op": "write", "pid": 1, "addr": "0x1000", "value": 7}


@pytest.fixture(params=["sqlite", "redis"])
def kind(request):
    return request.param


@pytest.fixture
def opener(kind, request, tmp_path):
    """Opens another connection to the same store (as another process would)."""
    if kind == "sqlite":
        path = str(tmp_path / "store.sqlite3")
        return lambda: (SqliteStore(path), SqliteRoomStore(path))
    url = request.getfixturevalue("redis_url")
    return lambda: (RedisStore(url), RedisRoomStore(url))


@pytest.fixture
def store(opener):
    return opener()[0]


@pytest.fixture
def rooms(opener):
    return opener()[1]


def record(sid="s1", ops=(), cursor=0, updated=100.0, view="v1") -> SessionRecord:
    tag = new_token()
    return SessionRecord(
        sid,
        [{"design": "anon_vma_rfc2", "options": []}],
        None,
        list(ops),
        cursor,
        50.0,
        updated,
        view,
        tag,
        tag,
    )


# ----- sessions -------------------------------------------------------------------------


def test_a_session_is_found_by_its_id_and_its_view_id(store):
    r = record(ops=[OP1, OP2], cursor=1)
    r.scenario = {"name": "x", "ops": [OP1, OP2]}
    store.create(r)
    for token in ("s1", "v1"):
        got = store.load(token)
        assert got == r
        head = store.head(token)
        assert (
            head.id,
            head.view_id,
            head.cursor,
            head.length,
            head.rev,
            head.log_tag,
            head.updated,
        ) == ("s1", "v1", 1, 2, r.rev, r.log_tag, 100.0)
    assert store.load("nope") is None and store.head("nope") is None


def test_an_op_drops_the_redo_tail_and_replaces_the_revision_and_the_log_tag(store):
    r = record(ops=[OP1, OP2, OP3], cursor=1)
    store.create(r)
    new = new_token()
    assert store.record_op("s1", r.rev, 1, OP3, new, 200.0)
    got = store.load("s1")
    assert (got.ops, got.cursor, got.rev, got.log_tag, got.updated) == (
        [OP1, OP3],
        2,
        new,
        new,
        200.0,
    )
    assert store.record_op("s1", new, 0, OP2, new_token(), 201.0)
    assert store.load("s1").ops == [OP2]


def test_a_write_from_a_stale_revision_writes_nothing(store):
    r = record(ops=[OP1], cursor=1)
    store.create(r)
    first = new_token()
    assert store.record_op("s1", r.rev, 1, OP2, first, 200.0)
    assert not store.record_op("s1", r.rev, 1, OP3, new_token(), 201.0)
    assert not store.set_cursor("s1", r.rev, 0, new_token(), 201.0)
    got = store.load("s1")
    assert (got.ops, got.cursor, got.rev) == ([OP1, OP2], 2, first)
    assert not store.record_op("gone", r.rev, 0, OP1, new_token(), 1.0)


def test_a_retried_write_that_landed_is_not_applied_twice(store):
    r = record()
    store.create(r)
    new = new_token()
    assert store.record_op("s1", r.rev, 0, OP1, new, 200.0)
    assert store.record_op("s1", r.rev, 0, OP1, new, 200.0)  # its answer was lost: again
    assert store.load("s1").ops == [OP1]


def test_a_cursor_move_keeps_the_log_tag(store):
    r = record(ops=[OP1, OP2], cursor=2)
    store.create(r)
    new = new_token()
    assert store.set_cursor("s1", r.rev, 0, new, 300.0)
    head = store.head("s1")
    assert (head.cursor, head.length, head.rev, head.log_tag, head.updated) == (
        0,
        2,
        new,
        r.log_tag,
        300.0,
    )


def test_touch_delete_count_and_idleness(store):
    for i, updated in enumerate((30.0, 10.0, 20.0)):
        store.create(record(f"s{i}", updated=updated, view=f"v{i}"))
    assert store.count() == 3
    assert store.oldest_idle(2) == ["s1", "s2"]
    assert sorted(store.idle_since(25.0)) == ["s1", "s2"]
    store.touch("s1", 40.0)
    assert store.oldest_idle(1) == ["s2"]
    assert store.load("s1").updated == 40.0
    assert store.delete("s1") and not store.delete("s1")
    assert store.load("s1") is None and store.load("v1") is None and store.count() == 2
    store.touch("s1", 50.0)  # a deleted session stays deleted
    assert store.load("s1") is None and store.count() == 2
    store.probe()


def test_concurrent_writers_through_two_connections_lose_nothing(opener):
    """Two connections (two processes), each appending 25 ops with the compare-and-set
    the service uses: exactly 50 ops, each once."""
    first, second = opener()[0], opener()[0]
    first.create(record())

    def writer(store, name):
        for i in range(25):
            op = {"op": "write", "pid": 1, "addr": "0x1000", "value": f"{name}{i}"}
            while True:
                head = store.head("s1")
                if store.record_op("s1", head.rev, head.cursor, op, new_token(), 1.0):
                    break

    threads = [
        threading.Thread(target=writer, args=(s, n)) for s, n in ((first, "a"), (second, "b"))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    ops = first.load("s1").ops
    assert len(ops) == 50 and first.head("s1").cursor == 50
    assert sorted(o["value"] for o in ops) == sorted(f"{n}{i}" for n in "ab" for i in range(25))


# ----- rooms ----------------------------------------------------------------------------


def room(code="ROOM2345", updated=100.0) -> RoomRecord:
    return RoomRecord(
        code,
        "hash",
        {"name": "x", "ops": [OP1, OP2]},
        [{"design": "anon_vma_rfc2", "options": []}],
        0,
        1,
        1,
        50.0,
        updated,
    )


QUESTIONS = [
    QuestionRecord(1, 1, "how many?", ["1", "2"], "2"),
    QuestionRecord(2, None, "why?", None, None),
]


def test_a_room_is_created_once_with_its_questions(rooms):
    r = room()
    assert rooms.create(r, QUESTIONS)
    assert not rooms.create(room(), [])
    assert rooms.load("ROOM2345") == r and rooms.load("NOPE2345") is None
    assert rooms.questions("ROOM2345") == QUESTIONS
    assert rooms.count() == 1


def test_a_change_counts_and_sets_what_it_names(rooms):
    rooms.create(room(), QUESTIONS)
    changed = rooms.change("ROOM2345", 200.0, step=2)
    assert (changed.step, changed.question, changed.seq, changed.updated) == (2, 1, 2, 200.0)
    changed = rooms.change(
        "ROOM2345", 201.0, question=None, designs=[{"design": "anon_vma_267", "options": []}]
    )
    assert (changed.step, changed.question, changed.seq) == (2, None, 3)
    assert changed.designs == [{"design": "anon_vma_267", "options": []}]
    assert rooms.load("ROOM2345") == changed


def test_questions_are_added_under_the_next_id_and_revealed(rooms):
    rooms.create(room(), QUESTIONS)
    q = QuestionRecord(0, None, "typed?", None, "yes")
    assert rooms.add_question("ROOM2345", q, 150.0) == 3 and q.id == 3
    rooms.reveal("ROOM2345", 3, True, 160.0)
    got = rooms.questions("ROOM2345")
    assert [(x.id, x.revealed) for x in got] == [(1, False), (2, False), (3, True)]
    assert rooms.load("ROOM2345").seq == 2  # a reveal is a change the followers see
    rooms.reveal("ROOM2345", 3, False, 170.0)
    assert not rooms.questions("ROOM2345")[2].revealed


def test_participants_and_their_answers(rooms):
    rooms.create(room(), QUESTIONS)
    for who in ("a", "b", "c"):
        rooms.join("ROOM2345", who, 110.0)
    assert rooms.participants("ROOM2345") == 3
    assert rooms.is_participant("ROOM2345", "a") and not rooms.is_participant("ROOM2345", "z")
    for who, answer in (("a", "1"), ("b", "2"), ("c", "2"), ("a", "2"), ("b", "1")):
        rooms.answer("ROOM2345", 1, who, answer, 120.0)
    assert rooms.answers("ROOM2345", 1) == {"2": 2, "1": 1}
    assert list(rooms.answers("ROOM2345", 1)) == ["2", "1"]
    assert rooms.answers("ROOM2345", 2) == {}
    assert rooms.load("ROOM2345").updated == 120.0


def test_idle_rooms_expire_with_everything_in_them(rooms):
    rooms.create(room("OLDROOM2", 10.0), QUESTIONS)
    rooms.join("OLDROOM2", "a", 10.0)
    rooms.answer("OLDROOM2", 1, "a", "1", 10.0)
    rooms.create(room("NEWROOM2", 100.0), [])
    assert rooms.expire(50.0) == ["OLDROOM2"]
    assert rooms.load("OLDROOM2") is None and rooms.count() == 1
    assert rooms.questions("OLDROOM2") == [] and rooms.participants("OLDROOM2") == 0
    assert rooms.answers("OLDROOM2", 1) == {}


def test_a_room_lock_is_held_and_released(rooms):
    rooms.create(room(), [])
    release = rooms.lock("ROOM2345")
    release()
    rooms.lock("ROOM2345")()  # free again


def test_a_sqlite_store_from_before_revisions_gets_them(tmp_path):
    """A file written before view links and revisions (no view_id, rev, log_tag columns)
    opens, and its sessions get them on first read and can be stepped."""
    import sqlite3

    path = str(tmp_path / "old.sqlite3")
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE sessions (id TEXT PRIMARY KEY, designs TEXT NOT NULL, scenario TEXT,
            cursor INTEGER NOT NULL, created REAL NOT NULL, updated REAL NOT NULL);
        CREATE TABLE ops (session TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
            seq INTEGER NOT NULL, op TEXT NOT NULL, PRIMARY KEY (session, seq)) WITHOUT ROWID;
        INSERT INTO sessions VALUES ('old', '[{"design": "anon_vma_rfc2", "options": []}]',
            NULL, 1, 1.0, 2.0);
        INSERT INTO ops VALUES ('old', 1, '{"op": "spawn", "pid": 1}');
    """)
    db.commit()
    db.close()
    store = SqliteStore(path)
    got = store.load("old")
    assert got.ops == [OP1] and got.cursor == 1 and got.view_id and got.rev and got.log_tag
    assert store.load(got.view_id).id == "old"
    assert store.record_op("old", got.rev, 1, OP2, new_token(), 3.0)
    assert store.load("old").ops == [OP1, OP2]
