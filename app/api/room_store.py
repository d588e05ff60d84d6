"""Where rooms live: a small interface, and SQLite (the default) behind it.

A room is a scenario, its designs, the instructor's step and current question, the
questions asked (from the scenario's lesson or by the instructor), the participants'
tokens and their answers. Every change is committed before the response leaves, so a
restart loses no room. ``seq`` counts the changes a follower sees; it is the event id
of the room's event stream. The instructor's key is kept only as its SHA-256. Redis is
the shared implementation (redis_store.py); both pass the same conformance tests.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .store import connect_sqlite


@dataclass(slots=True)
class RoomRecord:
    code: str
    key_hash: str
    #: the scenario in the scenario format, questions included
    scenario: dict[str, Any]
    designs: list[dict[str, Any]]
    step: int
    #: the id of the question put to the room now, or None
    question: int | None
    seq: int
    created: float
    updated: float


@dataclass(slots=True)
class QuestionRecord:
    id: int
    #: the step the question is about (None for a question the instructor typed in)
    step: int | None
    prompt: str
    #: the choices, or None when the answer is typed
    choices: list[str] | None
    #: the right answer, when known
    answer: str | None
    revealed: bool = False


class RoomStore(Protocol):
    """Durable room storage. Every method is atomic; ``now`` is a Unix time."""

    #: names the store in an error message
    name: str
    #: other processes use it too (then room events go through the store's fan-out)
    shared: bool

    def create(self, room: RoomRecord, questions: list[QuestionRecord]) -> bool:
        """Store a new room; False (and nothing stored) if its code is taken."""

    def load(self, code: str) -> RoomRecord | None: ...

    def change(self, code: str, now: float, **fields: Any) -> RoomRecord:
        """Set ``step``, ``designs`` and/or ``question``, count a change (``seq``)."""

    def questions(self, code: str) -> list[QuestionRecord]: ...

    def add_question(self, code: str, question: QuestionRecord, now: float) -> int:
        """Store a question under the next free id and return that id."""

    def reveal(self, code: str, question: int, revealed: bool, now: float) -> None:
        """Show or hide a question's answer and tally to followers (a change)."""

    def join(self, code: str, participant: str, now: float) -> None: ...

    def participants(self, code: str) -> int: ...

    def is_participant(self, code: str, participant: str) -> bool: ...

    def answer(self, code: str, question: int, participant: str, answer: str, now: float) -> None:
        """Record ``participant``'s answer, replacing an earlier one to the question."""

    def answers(self, code: str, question: int) -> dict[str, int]:
        """How many participants gave each answer."""

    def count(self) -> int: ...

    def expire(self, idle_before: float) -> list[str]:
        """Delete the rooms idle since before ``idle_before``; their codes."""

    def lock(self, code: str) -> Callable[[], None]:
        """Hold the room's lock against the other processes (blocking a few seconds at
        most); the function that releases it."""


SCHEMA = """
CREATE TABLE IF NOT EXISTS rooms (
    code TEXT PRIMARY KEY,
    key_hash TEXT NOT NULL,
    scenario TEXT NOT NULL,
    designs TEXT NOT NULL,
    step INTEGER NOT NULL,
    question INTEGER,
    seq INTEGER NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS rooms_updated ON rooms (updated);
CREATE TABLE IF NOT EXISTS room_questions (
    room TEXT NOT NULL REFERENCES rooms (code) ON DELETE CASCADE,
    id INTEGER NOT NULL,
    step INTEGER,
    prompt TEXT NOT NULL,
    choices TEXT,
    answer TEXT,
    revealed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (room, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS room_participants (
    room TEXT NOT NULL REFERENCES rooms (code) ON DELETE CASCADE,
    token TEXT NOT NULL,
    joined REAL NOT NULL,
    PRIMARY KEY (room, token)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS room_answers (
    room TEXT NOT NULL,
    question INTEGER NOT NULL,
    participant TEXT NOT NULL,
    answer TEXT NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (room, question, participant),
    FOREIGN KEY (room, question) REFERENCES room_questions (room, id) ON DELETE CASCADE
) WITHOUT ROWID;
"""

_ROOM_COLUMNS = "code, key_hash, scenario, designs, step, question, seq, created, updated"


def _room(row: tuple[Any, ...]) -> RoomRecord:
    code, key_hash, scenario, designs, step, question, seq, created, updated = row
    return RoomRecord(
        code,
        key_hash,
        json.loads(scenario),
        json.loads(designs),
        step,
        question,
        seq,
        created,
        updated,
    )


class SqliteRoomStore:
    """Rooms in their own tables of the service's SQLite file (WAL), or ``:memory:``."""

    shared = False

    def __init__(self, path: str) -> None:
        self.name = f"RMAPLAB_DB={path}"
        self._lock = threading.Lock()
        with self._lock:
            self._db = connect_sqlite(path, SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _tx(self, statements: list[tuple[str, tuple[Any, ...]]]) -> list[sqlite3.Cursor]:
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                cursors = [db.execute(sql, args) for sql, args in statements]
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return cursors

    def _one(self, sql: str, args: tuple[Any, ...]) -> Any:
        with self._lock:
            row = self._db.execute(sql, args).fetchone()
        return None if row is None else row[0]

    def create(self, room: RoomRecord, questions: list[QuestionRecord]) -> bool:
        statements = [
            (
                f"INSERT INTO rooms ({_ROOM_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    room.code,
                    room.key_hash,
                    json.dumps(room.scenario),
                    json.dumps(room.designs),
                    room.step,
                    room.question,
                    room.seq,
                    room.created,
                    room.updated,
                ),
            )
        ]
        statements += [self._insert_question(room.code, q) for q in questions]
        try:
            self._tx(statements)
        except sqlite3.IntegrityError:
            return False
        return True

    @staticmethod
    def _insert_question(code: str, q: QuestionRecord) -> tuple[str, tuple[Any, ...]]:
        return (
            "INSERT INTO room_questions (room, id, step, prompt, choices, answer, revealed) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                code,
                q.id,
                q.step,
                q.prompt,
                None if q.choices is None else json.dumps(q.choices),
                q.answer,
                int(q.revealed),
            ),
        )

    def load(self, code: str) -> RoomRecord | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_ROOM_COLUMNS} FROM rooms WHERE code = ?", (code,)
            ).fetchone()
        return None if row is None else _room(row)

    def change(self, code: str, now: float, **fields: Any) -> RoomRecord:
        sets = []
        args: list[Any] = []
        for name in ("step", "designs", "question"):
            if name in fields:
                sets.append(f"{name} = ?")
                value = fields[name]
                args.append(json.dumps(value) if name == "designs" else value)
        self._tx(
            [
                (
                    f"UPDATE rooms SET {', '.join([*sets, 'seq = seq + 1', 'updated = ?'])} "
                    "WHERE code = ?",
                    (*args, now, code),
                )
            ]
        )
        room = self.load(code)
        assert room is not None
        return room

    def questions(self, code: str) -> list[QuestionRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, step, prompt, choices, answer, revealed FROM "
                "room_questions WHERE room = ? ORDER BY id",
                (code,),
            ).fetchall()
        return [
            QuestionRecord(
                i,
                step,
                prompt,
                None if choices is None else json.loads(choices),
                answer,
                bool(revealed),
            )
            for i, step, prompt, choices, answer, revealed in rows
        ]

    def add_question(self, code: str, question: QuestionRecord, now: float) -> int:
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                ident = int(
                    db.execute(
                        "SELECT COALESCE(MAX(id), 0) + 1 FROM room_questions WHERE room = ?",
                        (code,),
                    ).fetchone()[0]
                )
                question.id = ident
                db.execute(*self._insert_question(code, question))
                db.execute("UPDATE rooms SET updated = ? WHERE code = ?", (now, code))
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        return ident

    def reveal(self, code: str, question: int, revealed: bool, now: float) -> None:
        self._tx(
            [
                (
                    "UPDATE room_questions SET revealed = ? WHERE room = ? AND id = ?",
                    (int(revealed), code, question),
                ),
                ("UPDATE rooms SET seq = seq + 1, updated = ? WHERE code = ?", (now, code)),
            ]
        )

    def join(self, code: str, participant: str, now: float) -> None:
        self._tx(
            [
                (
                    "INSERT INTO room_participants (room, token, joined) VALUES (?, ?, ?)",
                    (code, participant, now),
                ),
                ("UPDATE rooms SET updated = ? WHERE code = ?", (now, code)),
            ]
        )

    def participants(self, code: str) -> int:
        return int(self._one("SELECT COUNT(*) FROM room_participants WHERE room = ?", (code,)))

    def is_participant(self, code: str, participant: str) -> bool:
        return (
            self._one(
                "SELECT 1 FROM room_participants WHERE room = ? AND token = ?", (code, participant)
            )
            is not None
        )

    def answer(self, code: str, question: int, participant: str, answer: str, now: float) -> None:
        self._tx(
            [
                (
                    "INSERT INTO room_answers (room, question, participant, answer, at) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (room, question, participant) "
                    "DO UPDATE SET answer = excluded.answer, at = excluded.at",
                    (code, question, participant, answer, now),
                ),
                ("UPDATE rooms SET updated = ? WHERE code = ?", (now, code)),
            ]
        )

    def answers(self, code: str, question: int) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute(
                "SELECT answer, COUNT(*) FROM room_answers WHERE room = ? "
                "AND question = ? GROUP BY answer ORDER BY COUNT(*) DESC, "
                "answer",
                (code, question),
            ).fetchall()
        return dict(rows)

    def count(self) -> int:
        return int(self._one("SELECT COUNT(*) FROM rooms", ()))

    def expire(self, idle_before: float) -> list[str]:
        with self._lock:
            codes = [
                r[0]
                for r in self._db.execute(
                    "SELECT code FROM rooms WHERE updated < ?", (idle_before,)
                )
            ]
        if codes:
            self._tx(
                [("DELETE FROM room_answers WHERE room = ?", (c,)) for c in codes]
                + [("DELETE FROM rooms WHERE code = ?", (c,)) for c in codes]
            )
        return codes

    def lock(self, code: str) -> Callable[[], None]:
        """Nothing to hold: one process serves the file, and it orders a room's changes
        itself."""
        return _nothing


def _nothing() -> None:
    return None
