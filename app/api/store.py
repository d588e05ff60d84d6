"""Where sessions live: an op log per session behind a small interface.

The embedded default is SQLite in WAL mode: every acknowledged step is committed before
the response leaves, so a restart (or a kill -9 between requests) loses nothing that was
acknowledged. A shared store for several workers can implement the same interface.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(slots=True)
class SessionRecord:
    """A session as stored: its designs, where it started from, its op log and cursor.

    ``ops`` is the whole log, redo tail included; ``cursor`` is the current step
    (0 = the empty machine), so ``ops[:cursor]`` is what the session shows.
    """

    id: str
    designs: list[dict[str, Any]]
    scenario: dict[str, Any] | None
    ops: list[dict[str, Any]] = field(default_factory=list)
    cursor: int = 0
    created: float = 0.0
    updated: float = 0.0
    #: the read-only token of the session (a shared link)
    view_id: str = ""


class SessionStore(Protocol):
    """Durable session storage. Every method is atomic."""

    def create(self, record: SessionRecord) -> None: ...

    def load(self, token: str) -> SessionRecord | None:
        """The session whose id, or view id, is ``token``."""

    def record_op(self, session_id: str, cursor: int, op: dict[str, Any], now: float) -> None:
        """Drop the log beyond ``cursor``, append ``op`` as step cursor + 1, move there."""

    def set_cursor(self, session_id: str, cursor: int, now: float) -> None: ...

    def touch(self, session_id: str, now: float) -> None:
        """A request used the session: it is not idle."""

    def delete(self, session_id: str) -> bool: ...

    def count(self) -> int: ...

    def oldest_idle(self, n: int) -> list[str]:
        """The ids of the ``n`` sessions idle the longest."""

    def idle_since(self, then: float) -> list[str]:
        """The ids of the sessions unused since ``then``."""

    def probe(self) -> None:
        """Raise unless the store can be written now."""


SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    designs TEXT NOT NULL,
    scenario TEXT,
    cursor INTEGER NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    view_id TEXT
);
CREATE INDEX IF NOT EXISTS sessions_updated ON sessions (updated);
CREATE TABLE IF NOT EXISTS health (id INTEGER PRIMARY KEY, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS ops (
    session TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    op TEXT NOT NULL,
    PRIMARY KEY (session, seq)
) WITHOUT ROWID;
"""


def connect_sqlite(path: str, schema: str) -> sqlite3.Connection:
    """A connection to the service's SQLite file in WAL mode (or ``:memory:`` for tests),
    shared by threads under the caller's lock, with the tables of ``schema`` made."""
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
    if path != ":memory:":
        db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    db.executescript(schema)
    return db


class SqliteStore:
    """The embedded store: one SQLite file in WAL mode (or ``:memory:`` for tests)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        with self._lock:
            self._db = connect_sqlite(path, SCHEMA)
            columns = [r[1] for r in self._db.execute("PRAGMA table_info(sessions)")]
            if "view_id" not in columns:  # a store from before view links
                self._db.execute("ALTER TABLE sessions ADD COLUMN view_id TEXT")
            self._db.execute("CREATE UNIQUE INDEX IF NOT EXISTS sessions_view "
                             "ON sessions (view_id)")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _tx(self, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                for sql, args in statements:
                    db.execute(sql, args)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def create(self, record: SessionRecord) -> None:
        statements: list[tuple[str, tuple[Any, ...]]] = [(
            "INSERT INTO sessions (id, designs, scenario, cursor, created, updated, view_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (record.id, json.dumps(record.designs),
             None if record.scenario is None else json.dumps(record.scenario),
             record.cursor, record.created, record.updated, record.view_id))]
        statements += [("INSERT INTO ops (session, seq, op) VALUES (?, ?, ?)",
                        (record.id, i, json.dumps(op))) for i, op in enumerate(record.ops, 1)]
        self._tx(statements)

    def load(self, token: str) -> SessionRecord | None:
        with self._lock:
            row = self._db.execute("SELECT id, designs, scenario, cursor, created, updated, "
                                   "view_id FROM sessions WHERE id = ? OR view_id = ?",
                                   (token, token)).fetchone()
            if row is None:
                return None
            session_id, designs, scenario, cursor, created, updated, view_id = row
            ops = [json.loads(r[0]) for r in self._db.execute(
                "SELECT op FROM ops WHERE session = ? ORDER BY seq", (session_id,))]
        if view_id is None:  # a session from before view links gets one now
            view_id = secrets.token_urlsafe(24)
            self._tx([("UPDATE sessions SET view_id = ? WHERE id = ?", (view_id, session_id))])
        return SessionRecord(session_id, json.loads(designs),
                             None if scenario is None else json.loads(scenario), ops, cursor,
                             created, updated, view_id)

    def record_op(self, session_id: str, cursor: int, op: dict[str, Any], now: float) -> None:
        self._tx([
            ("DELETE FROM ops WHERE session = ? AND seq > ?", (session_id, cursor)),
            ("INSERT INTO ops (session, seq, op) VALUES (?, ?, ?)",
             (session_id, cursor + 1, json.dumps(op))),
            ("UPDATE sessions SET cursor = ?, updated = ? WHERE id = ?",
             (cursor + 1, now, session_id)),
        ])

    def set_cursor(self, session_id: str, cursor: int, now: float) -> None:
        self._tx([("UPDATE sessions SET cursor = ?, updated = ? WHERE id = ?",
                   (cursor, now, session_id))])

    def touch(self, session_id: str, now: float) -> None:
        self._tx([("UPDATE sessions SET updated = ? WHERE id = ?", (now, session_id))])

    def delete(self, session_id: str) -> bool:
        with self._lock:
            cur = self._db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
            return cur.rowcount > 0

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0])

    def oldest_idle(self, n: int) -> list[str]:
        with self._lock:
            return [r[0] for r in self._db.execute(
                "SELECT id FROM sessions ORDER BY updated LIMIT ?", (n,))]

    def idle_since(self, then: float) -> list[str]:
        with self._lock:
            return [r[0] for r in self._db.execute(
                "SELECT id FROM sessions WHERE updated < ?", (then,))]

    def probe(self) -> None:
        if self.path != ":memory:":
            folder = os.path.dirname(os.path.abspath(self.path))
            if os.statvfs(folder).f_bavail == 0:
                raise sqlite3.OperationalError(f"database or disk is full (no space left in "
                                               f"{folder})")
        self._tx([("INSERT OR REPLACE INTO health (id, at) VALUES (1, julianday('now'))", ())])
