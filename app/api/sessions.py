"""Sessions: op logs with time travel, several designs stepping together.

A session is an op log, a cursor (the current step; 0 is the empty machine) and the
designs it runs. The log is the truth: the states live in an engine worker (``Pool``),
rebuilt by replay whenever the worker does not hold them. Applying an op after an undo
drops the redo tail, like an editor. Every change is written to the store before the
response leaves; requests on one session never interleave.

A session has two tokens: its ``id``, which may step and delete it, and a ``view_id``,
which may only look (a shared link). Creation is rate-limited per client address; any
request counts as activity; sessions idle for ``session_ttl`` expire, and so do the
longest idle when the store holds ``max_sessions``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from hashlib import blake2b
from typing import Any, TypeVar

from ..engine.designs import DEFAULT_DESIGN
from .config import Settings
from .errors import Conflict, Forbidden, NotFound, TooManyRequests, Unavailable, Unprocessable
from .pool import NeedLog, Pool
from .store import SessionRecord, SessionStore
from .worker import variant_json, variants_of

#: sessions whose records the service keeps in memory (the others are read from the store)
RECORDS = 1024
#: a read refreshes a session's idle time at most this often (seconds): reads cost no write
TOUCH_EVERY = 60.0

T = TypeVar("T")
_versions = itertools.count(1)


@dataclass
class Open:
    """A session the service has in memory: its record and the version of its log."""

    record: SessionRecord
    version: int = field(default_factory=lambda: next(_versions))
    #: when its activity was last written to the store (reads write it at most every
    #: TOUCH_EVERY seconds; ``record.updated`` is the last use)
    stored: float = field(default_factory=time.time)
    #: when a request other than its creation last used it
    used: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class RateLimit:
    """A token bucket per client address: ``burst`` at once, then ``per_minute``."""

    def __init__(self, burst: int, per_minute: int) -> None:
        self.burst, self.rate = burst, per_minute / 60
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, who: str, now: float) -> float:
        """0 if ``who`` may go on now (a token is spent), else the seconds to wait."""
        tokens, then = self._buckets.get(who, (float(self.burst), now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        if tokens < 1:
            self._buckets[who] = (tokens, now)
            return (1 - tokens) / self.rate
        self._buckets[who] = (tokens - 1, now)
        if len(self._buckets) > 10000:  # forget the full buckets
            self._buckets = {k: v for k, v in self._buckets.items() if v[0] < self.burst - 1}
        return 0.0


def store_call(settings: Settings, fn: Callable[[], T]) -> T:
    """A store operation; a storage fault is a 503 that names the store and the cause."""
    try:
        return fn()
    except sqlite3.Error as exc:
        raise Unavailable(f"the session store (RMAPLAB_DB={settings.db}) failed: {exc}",
                          {"Retry-After": "5"}) from None


class SessionManager:
    """Every session operation; the routes only parse, call and answer."""

    def __init__(self, store: SessionStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.pool = Pool.shared(settings)
        self.creations = RateLimit(settings.create_burst, settings.create_per_minute)
        self._open: OrderedDict[str, Open] = OrderedDict()
        self._views: dict[str, str] = {}
        #: when the store was last probed for /healthz, and the fault it showed
        self._probed: tuple[float, Unavailable | None] = (float("-inf"), None)
        #: read-only sessions of the built-in scenarios, by view id (never stored)
        self._builtin: OrderedDict[str, Open] = OrderedDict()

    def _store(self, fn: Callable[[], T]) -> T:
        return store_call(self.settings, fn)

    # ----- finding a session ---------------------------------------------------------------

    def _find(self, token: str, write: bool) -> Open:
        """The session of an id (or, to read, of a view id), counted as activity."""
        builtin = self._builtin.get(token)
        if builtin is not None:
            if write:
                raise Forbidden("this is a built-in scenario's read-only view: open a session "
                                "of it to change it")
            return builtin
        sid = self._views.get(token, token)
        entry = self._open.get(sid)
        if entry is None:
            record = self._store(lambda: self.store.load(token))
            if record is None:
                raise NotFound(f"no session {token!r} (it never existed, was deleted, or "
                               "expired)")
            entry = Open(record)
            self._remember(entry)
        record = entry.record
        now = time.time()
        if record.updated < now - self.settings.session_ttl:
            self._forget(record)
            self._store(lambda: self.store.delete(record.id))
            raise NotFound(f"no session {token!r}: it expired after "
                           f"{self.settings.session_ttl} s idle (RMAPLAB_SESSION_TTL)")
        if token != record.id and write:
            raise Forbidden("this is a read-only link to a session (its view id): open a copy "
                            "to change it")
        self._open.move_to_end(record.id)
        if now - entry.stored > TOUCH_EVERY:
            self._store(lambda: self.store.touch(record.id, now))
            entry.stored = now
        record.updated = entry.used = now
        return entry

    def _remember(self, entry: Open) -> None:
        self._open[entry.record.id] = entry
        self._views[entry.record.view_id] = entry.record.id
        while len(self._open) > RECORDS:
            _, old = self._open.popitem(last=False)
            self._views.pop(old.record.view_id, None)

    def _forget(self, record: SessionRecord) -> None:
        self._open.pop(record.id, None)
        self._views.pop(record.view_id, None)

    def _head(self, entry: Open, token: str) -> dict[str, Any]:
        """What the document says about the session itself; a view link sees its view id."""
        r = entry.record
        read_only = token != r.id
        return {"id": token, "view_id": r.view_id, "read_only": read_only, "step": r.cursor,
                "length": len(r.ops), "scenario": r.scenario}

    async def _job(self, entry: Open, name: str, *args: Any) -> bytes | None:
        """A job on the session's worker, sending the log first when it does not hold it."""
        r = entry.record
        try:
            return await self.pool.session(name, r.id, entry.version, *args)
        except NeedLog:
            await self.pool.session("load", r.id, entry.version, r.designs, r.ops)
            return await self.pool.session(name, r.id, entry.version, *args)

    async def _locked(self, token: str, write: bool,
                      body: Callable[[Open], Awaitable[T]]) -> T:
        entry = self._find(token, write)
        async with entry.lock:
            return await body(entry)

    # ----- operations ----------------------------------------------------------------------

    async def create(self, client: str, designs: list[dict[str, Any]],
                     scenario: dict[str, Any] | None, ops: list[dict[str, Any]],
                     at_step: int | None) -> bytes | None:
        """A new session over ``ops`` (all replayed once to prove they apply), at step
        ``at_step`` (default 0: step forward through the scenario with redo)."""
        s = self.settings
        if len(ops) > min(s.max_steps, s.max_run_ops):
            raise Unprocessable(f"ops: {len(ops)} ops; the limit is "
                                f"{min(s.max_steps, s.max_run_ops)} (RMAPLAB_MAX_STEPS)")
        if at_step is not None and at_step > len(ops):  # well formed, but not for this log
            raise Conflict(f"at_step: {at_step} is beyond the {len(ops)} ops")
        now = time.time()
        wait = self.creations.take(client, now)
        if wait:
            raise TooManyRequests(
                f"too many new sessions from {client}: {s.create_burst} at once, then "
                f"{s.create_per_minute} a minute (RMAPLAB_CREATE_BURST, "
                "RMAPLAB_CREATE_PER_MINUTE); reuse your session or try again shortly",
                {"Retry-After": str(int(wait) + 1)})
        if not designs:
            designs = [{"design": scenario.get("design", DEFAULT_DESIGN) if scenario else
                        DEFAULT_DESIGN,
                        "options": scenario.get("options", []) if scenario else []}]
        record = SessionRecord(secrets.token_urlsafe(24),
                               [variant_json(v) for v in variants_of(designs)],
                               scenario, list(ops), at_step or 0, now, now,
                               secrets.token_urlsafe(24))
        entry = Open(record)
        data = await self.pool.session("create", record.id, entry.version, record.designs,
                                       record.ops, self._head(entry, record.id))
        self._expire(now)
        self._store(lambda: self.store.create(record))
        self._remember(entry)
        return data

    def _expire(self, now: float) -> None:
        """Drop the sessions idle past the TTL, then the longest idle beyond the count;
        never one used since its creation in the last TOUCH_EVERY seconds (someone is
        looking at it, and that use may not be stored yet)."""
        recent = {sid for sid, e in self._open.items() if now - e.used < TOUCH_EVERY}

        def in_use(sid: str) -> bool:
            return sid in recent

        def expire() -> None:
            gone = [g for g in self.store.idle_since(now - self.settings.session_ttl)
                    if not in_use(g)]
            excess = self.store.count() - len(gone) - (self.settings.max_sessions - 1)
            if excess > 0:
                gone += [g for g in self.store.oldest_idle(excess + len(gone) + len(recent))
                         if g not in gone and not in_use(g)][:excess]
            for session_id in gone:
                self.store.delete(session_id)
                entry = self._open.get(session_id)
                if entry is not None:
                    self._forget(entry.record)
        self._store(expire)

    async def get(self, token: str) -> bytes | None:
        async def body(entry: Open) -> bytes | None:
            return await self._job(entry, "view", self._head(entry, token),
                                   entry.record.cursor, True)
        return await self._locked(token, False, body)

    async def apply_op(self, sid: str, op_json: dict[str, Any],
                       expected_step: int | None) -> bytes | None:
        async def body(entry: Open) -> bytes | None:
            r = entry.record
            if expected_step is not None and expected_step != r.cursor:
                raise Conflict(f"the session is at step {r.cursor}, not {expected_step}",
                               step=r.cursor)
            if r.cursor >= self.settings.max_steps:
                raise Conflict(f"the session has {r.cursor} steps; the limit is "
                               f"{self.settings.max_steps} (RMAPLAB_MAX_STEPS)")
            version = next(_versions)
            head = {**self._head(entry, sid), "step": r.cursor + 1, "length": r.cursor + 1}
            data = await self._job(entry, "apply_op", version, r.cursor, op_json, head)
            now = time.time()
            self._store(lambda: self.store.record_op(r.id, r.cursor, op_json, now))
            del r.ops[r.cursor:]
            r.ops.append(op_json)
            r.cursor += 1
            r.updated = now
            entry.version = version
            return data
        return await self._locked(sid, True, body)

    async def move(self, sid: str, step: int | None, delta: int) -> bytes | None:
        """Undo (-1), redo (+1) or jump to ``step`` without changing the log."""
        async def body(entry: Open) -> bytes | None:
            r = entry.record
            target = r.cursor + delta if step is None else step
            if target < 0:
                raise Conflict("nothing to undo: the session is at step 0")
            if target > len(r.ops):
                raise Conflict(f"nothing to redo: the session is at its last step {r.cursor}"
                               if step is None else
                               f"step {step} does not exist; the log has {len(r.ops)} steps")
            data = await self._job(entry, "view", {**self._head(entry, sid), "step": target},
                                   target, False)
            now = time.time()
            self._store(lambda: self.store.set_cursor(r.id, target, now))
            r.cursor, r.updated = target, now
            return data
        return await self._locked(sid, True, body)

    async def step(self, token: str, step: int) -> bytes | None:
        async def body(entry: Open) -> bytes | None:
            if step > len(entry.record.ops):
                raise NotFound(f"step {step} does not exist; the log has "
                               f"{len(entry.record.ops)} steps")
            return await self._job(entry, "step", step)
        return await self._locked(token, False, body)

    async def scenario(self, token: str) -> dict[str, Any]:
        """The session up to its current step, as a scenario file."""
        r = self._find(token, False).record
        base = r.scenario or {}
        first = r.designs[0]
        return {"name": base.get("name", "session"),
                "title": base.get("title", ""),
                "description": base.get("description", ""),
                "design": first["design"], "options": first["options"],
                "ops": r.ops[:r.cursor]}

    async def series(self, token: str) -> bytes | None:
        """Per design, the counters after every step of the whole log (for the chart)."""
        async def body(entry: Open) -> bytes | None:
            return await self._job(entry, "series")
        return await self._locked(token, False, body)

    async def delete(self, sid: str) -> None:
        entry = self._find(sid, True)
        self._forget(entry.record)
        if not self._store(lambda: self.store.delete(sid)):
            raise NotFound(f"no session {sid!r}")

    async def walk(self, token: str, pfn: int, step: int | None) -> bytes | None:
        """What reclaiming ``pfn`` would do now, in each design, without doing it."""
        async def body(entry: Open) -> bytes | None:
            at = entry.record.cursor if step is None else step
            if at > len(entry.record.ops):
                raise NotFound(f"step {at} does not exist")
            return await self._job(entry, "walk", at, pfn)
        return await self._locked(token, False, body)

    async def builtin(self, name: str, designs: list[dict[str, Any]],
                      scenario: dict[str, Any], ops: list[dict[str, Any]]) -> bytes | None:
        """A built-in scenario as a read-only session shared by every viewer (no session
        is created for looking): its view id names the scenario and the designs."""
        if not designs:
            designs = [{"design": scenario.get("design") or DEFAULT_DESIGN,
                        "options": scenario.get("options") or []}]
        designs = [variant_json(v) for v in variants_of(designs)]
        digest = blake2b(json.dumps([name, designs]).encode(), digest_size=12).hexdigest()
        view_id = f"scenario-{digest}"
        entry = self._builtin.get(view_id)
        if entry is None:
            now = time.time()
            entry = Open(SessionRecord(secrets.token_urlsafe(24), designs, scenario, ops, 0,
                                       now, now, view_id))
            await self.pool.session("create", entry.record.id, entry.version, designs, ops,
                                    self._head(entry, view_id))
            self._builtin[view_id] = entry
            while len(self._builtin) > RECORDS:
                self._builtin.popitem(last=False)
        self._builtin.move_to_end(view_id)
        return await self.get(view_id)

    def healthy(self) -> None:
        """Raise ``Unavailable`` unless the store can be written (probed at most once a
        second: a health check is not a write load)."""
        now = time.monotonic()
        if now - self._probed[0] >= 1:
            try:
                self._store(self.store.probe)
                self._probed = (now, None)
            except Unavailable as exc:
                self._probed = (now, exc)
        if self._probed[1] is not None:
            raise self._probed[1]
