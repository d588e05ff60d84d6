"""Where sessions live: an op log per session behind a small interface.

The embedded default is SQLite in WAL mode: every acknowledged step is committed before
the response leaves, so a restart (or a kill -9 between requests) loses nothing that was
acknowledged. ``RMAPLAB_STORE=redis://...`` selects the shared store of several processes
(redis_store.py), which implements the same interface and passes the same conformance tests.

Every change of a session (an op, a cursor move) is a compare-and-set on its ``rev``, a
random token that the change replaces: a writer that saw an older revision writes nothing
and learns it (False), so two requests on one session never interleave, across processes
too, and a retried write whose answer was lost is recognised (its new ``rev`` is there).
``log_tag`` names the op log itself (it changes with the log, not with the cursor): a
process caches replayed states under it.
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
    #: the revision: a random token replaced by every op and cursor move
    rev: str = ""
    #: names the op log: replaced by every op, kept by cursor moves
    log_tag: str = ""


@dataclass(slots=True)
class SessionHead:
    """What a request must know of a session to tell whether its memory of it is current."""

    id: str
    view_id: str
    cursor: int
    length: int
    rev: str
    log_tag: str
    updated: float


def new_token() -> str:
    """A fresh ``rev`` or ``log_tag`` (64 random bits)."""
    return secrets.token_hex(8)


class SessionStore(Protocol):
    """Durable session storage. Every method is atomic."""

    #: names the store in an error message (``RMAPLAB_DB=...``, ``RMAPLAB_STORE=...``)
    name: str
    #: other processes write it too: a process's memory of a session may be stale
    shared: bool

    def create(self, record: SessionRecord) -> None: ...

    def load(self, token: str) -> SessionRecord | None:
        """The session whose id, or view id, is ``token``."""

    def head(self, token: str) -> SessionHead | None:
        """The session's cursor, length, revision and log tag (no ops): cheap."""

    def record_op(
        self, session_id: str, rev: str, cursor: int, op: dict[str, Any], new_rev: str, now: float
    ) -> bool:
        """If the session is still at revision ``rev``: drop the log beyond ``cursor``,
        append ``op`` as step cursor + 1, move there; ``new_rev`` becomes its revision and
        its log tag. False (nothing written) if the session moved on or is gone; True
        also when ``new_rev`` is already there (a retried write that landed)."""

    def set_cursor(self, session_id: str, rev: str, cursor: int, new_rev: str, now: float) -> bool:
        """Move to step ``cursor`` if still at revision ``rev`` (as ``record_op``)."""

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
    view_id TEXT,
    rev TEXT,
    log_tag TEXT
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

    shared = False

    def __init__(self, path: str) -> None:
        self.path = path
        self.name = f"RMAPLAB_DB={path}"
        self._lock = threading.Lock()
        with self._lock:
            self._db = connect_sqlite(path, SCHEMA)
            columns = [r[1] for r in self._db.execute("PRAGMA table_info(sessions)")]
            for column in ("view_id", "rev", "log_tag"):  # a store from before them
                if column not in columns:
                    self._db.execute(f"ALTER TABLE sessions ADD COLUMN {column} TEXT")
            self._db.execute(
                "CREATE UNIQUE INDEX IF NOT EXISTS sessions_view ON sessions (view_id)"
            )

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
        statements: list[tuple[str, tuple[Any, ...]]]
        statements = [
            (
                "INSERT INTO sessions (id, designs, scenario, cursor, created, updated, "
                "view_id, rev, log_tag) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.id,
                    json.dumps(record.designs),
                    None if record.scenario is None else json.dumps(record.scenario),
                    record.cursor,
                    record.created,
                    record.updated,
                    record.view_id,
                    record.rev,
                    record.log_tag,
                ),
            )
        ]
        statements += [
            ("INSERT INTO ops (session, seq, op) VALUES (?, ?, ?)", (record.id, i, json.dumps(op)))
            for i, op in enumerate(record.ops, 1)
        ]
        self._tx(statements)

    def load(self, token: str) -> SessionRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, designs, scenario, cursor, created, updated, "
                "view_id, rev, log_tag FROM sessions WHERE id = ? OR "
                "view_id = ?",
                (token, token),
            ).fetchone()
            if row is None:
                return None
            session_id, designs, scenario, cursor, created, updated, view_id, rev, tag = row
            ops = [
                json.loads(r[0])
                for r in self._db.execute(
                    "SELECT op FROM ops WHERE session = ? ORDER BY seq", (session_id,)
                )
            ]
        if view_id is None or rev is None or tag is None:  # from before view links, revs
            view_id, rev, tag = (
                view_id or secrets.token_urlsafe(24),
                rev or new_token(),
                tag or new_token(),
            )
            self._tx(
                [
                    (
                        "UPDATE sessions SET view_id = ?, rev = ?, log_tag = ? WHERE id = ?",
                        (view_id, rev, tag, session_id),
                    )
                ]
            )
        return SessionRecord(
            session_id,
            json.loads(designs),
            None if scenario is None else json.loads(scenario),
            ops,
            cursor,
            created,
            updated,
            view_id,
            rev,
            tag,
        )

    def head(self, token: str) -> SessionHead | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, view_id, cursor, (SELECT COUNT(*) FROM ops WHERE session = id), "
                "rev, log_tag, updated FROM sessions WHERE id = ? OR view_id = ?",
                (token, token),
            ).fetchone()
        if row is None:
            return None
        sid, view_id, cursor, length, rev, tag, updated = row
        return SessionHead(sid, view_id or "", cursor, length, rev or "", tag or "", updated)

    def _swap(
        self, session_id: str, rev: str, new_rev: str, statements: list[tuple[str, tuple[Any, ...]]]
    ) -> bool:
        """Run ``statements`` in one transaction if the session is at ``rev``."""
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT rev FROM sessions WHERE id = ?", (session_id,)).fetchone()
                done = row is not None and row[0] == rev
                if done:
                    for sql, args in statements:
                        db.execute(sql, args)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        return done or (row is not None and row[0] == new_rev)

    def record_op(
        self, session_id: str, rev: str, cursor: int, op: dict[str, Any], new_rev: str, now: float
    ) -> bool:
        return self._swap(
            session_id,
            rev,
            new_rev,
            [
                ("DELETE FROM ops WHERE session = ? AND seq > ?", (session_id, cursor)),
                (
                    "INSERT INTO ops (session, seq, op) VALUES (?, ?, ?)",
                    (session_id, cursor + 1, json.dumps(op)),
                ),
                (
                    "UPDATE sessions SET cursor = ?, updated = ?, rev = ?, log_tag = ? "
                    "WHERE id = ?",
                    (cursor + 1, now, new_rev, new_rev, session_id),
                ),
            ],
        )

    def set_cursor(self, session_id: str, rev: str, cursor: int, new_rev: str, now: float) -> bool:
        return self._swap(
            session_id,
            rev,
            new_rev,
            [
                (
                    "UPDATE sessions SET cursor = ?, updated = ?, rev = ? WHERE id = ?",
                    (cursor, now, new_rev, session_id),
                )
            ],
        )

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
            return [
                r[0]
                for r in self._db.execute("SELECT id FROM sessions ORDER BY updated LIMIT ?", (n,))
            ]

    def idle_since(self, then: float) -> list[str]:
        with self._lock:
            return [
                r[0] for r in self._db.execute("SELECT id FROM sessions WHERE updated < ?", (then,))
            ]

    def probe(self) -> None:
        if self.path != ":memory:":
            folder = os.path.dirname(os.path.abspath(self.path))
            if os.statvfs(folder).f_bavail == 0:
                raise sqlite3.OperationalError(
                    f"database or disk is full (no space left in {folder})"
                )
        self._tx([("INSERT OR REPLACE INTO health (id, at) VALUES (1, julianday('now'))", ())])
