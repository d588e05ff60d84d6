"""Sessions: op logs with time travel, several designs stepping together.

A session is an op log, a cursor (the current step; 0 is the empty machine) and the
designs it runs. The log is the truth: the states live in an engine worker (``Pool``),
rebuilt by replay whenever the worker does not hold them. Applying an op after an undo
drops the redo tail, like an editor. Every change is written to the store before the
response leaves; requests on one session never interleave: in one process they take the
session's lock, and every write is a compare-and-set on the session's revision (store.py),
so a write that another process beat is done again from the session as it is now. With a
shared store (Redis), a read first reads the session's head (a log another process changed
is read again); a write goes ahead on what the process holds, and its compare-and-set, or
a refusal, brings the session up to date first. The worker's states are keyed by the
log's tag.

A session has two tokens: its ``id``, which may step and delete it, and a ``view_id``,
which may only look (a shared link). Creation is rate-limited per client address; any
request counts as activity; sessions idle for ``session_ttl`` expire, and so do the
longest idle when the store holds ``max_sessions``.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from hashlib import blake2b
from typing import Any, TypeVar

import redis

from ..engine.designs import DEFAULT_DESIGN
from .config import Settings
from .errors import Conflict, Forbidden, NotFound, TooManyRequests, Unavailable, Unprocessable
from .pool import NeedLog, Pool
from .store import SessionRecord, SessionStore, new_token
from .worker import variant_json, variants_of

#: sessions whose records the service keeps in memory (the others are read from the store)
RECORDS = 1024
#: a read refreshes a session's idle time at most this often (seconds): reads cost no write
TOUCH_EVERY = 60.0

#: a write that lost the race to another process is tried again this often at most
RETRIES = 100
#: what a store raises when it cannot do its work (503)
STORE_FAULTS: tuple[type[Exception], ...] = (sqlite3.Error, redis.RedisError)

T = TypeVar("T")


@dataclass
class Open:
    """A session the service has in memory: its record (whose ``log_tag`` names the log
    the engine worker caches states of) and a lock for this process's requests."""

    record: SessionRecord
    #: when its activity was last written to the store (reads write it at most every
    #: TOUCH_EVERY seconds; ``record.updated`` is the last use)
    stored: float = field(default_factory=time.time)
    #: when a request other than its creation last used it
    used: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: during a request (under ``lock``): the record is as the store has it now (read or
    #: written by this request, or the store is this process's alone)
    current: bool = True

    @property
    def version(self) -> str:
        return self.record.log_tag


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


async def store_call(
    name: str, fn: Callable[..., T], *args: Any, remote: bool, what: str = "session store"
) -> T:
    """A store operation; a storage fault is a 503 that names the store (``name``) and the
    cause. A ``remote`` store's calls (Redis: the network, up to its timeout) run in a
    thread, never on the event loop; the embedded SQLite file's (a local commit, no fsync
    in WAL mode) run in place, as they always have."""
    try:
        return await asyncio.to_thread(fn, *args) if remote else fn(*args)
    except STORE_FAULTS as exc:
        raise Unavailable(f"the {what} ({name}) failed: {exc}", {"Retry-After": "5"}) from None


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

    async def _store(self, fn: Callable[..., T], *args: Any) -> T:
        return await store_call(self.store.name, fn, *args, remote=self.store.shared)

    # ----- finding a session ---------------------------------------------------------------

    @staticmethod
    def _gone(token: str) -> NotFound:
        return NotFound(f"no session {token!r} (it never existed, was deleted, or expired)")

    async def _find(self, token: str) -> tuple[Open, bool]:
        """The session of an id or view id, and whether it was just read from the store."""
        builtin = self._builtin.get(token)
        if builtin is not None:
            return builtin, True
        entry = self._open.get(self._views.get(token, token))
        if entry is not None:
            return entry, False
        record = await self._store(self.store.load, token)
        if record is None:
            raise self._gone(token)
        entry = self._open.get(record.id)
        if entry is not None:  # another request read it meanwhile, and may have changed it
            return entry, False
        entry = Open(record)
        self._remember(entry)
        return entry, True

    async def _refresh(self, entry: Open, token: str) -> None:
        """Bring the session up to date with the store, which other processes write:
        its cursor and revision, and its log when that changed."""
        r = entry.record
        head = await self._store(self.store.head, r.id)
        if head is None:
            self._forget(r)
            raise self._gone(token)
        if head.log_tag != r.log_tag:
            record = await self._store(self.store.load, r.id)
            if record is None:
                self._forget(r)
                raise self._gone(token)
            record.updated = max(record.updated, r.updated)
            entry.record = record
        else:
            r.cursor, r.rev, r.updated = head.cursor, head.rev, max(r.updated, head.updated)

    async def _check(self, entry: Open, token: str, write: bool, fresh: bool) -> None:
        """The session is alive and ``token`` may do this; counted as activity. A read
        brings a shared store's session up to date first; a write need not (optimistic:
        its compare-and-set finds out, and so does any refusal before it is answered)."""
        if token in self._builtin:
            if write:
                raise Forbidden(
                    "this is a built-in scenario's read-only view: open a session "
                    "of it to change it"
                )
            return
        entry.current = fresh or not self.store.shared
        if not (entry.current or write):
            await self._bring_up_to_date(entry, token)
        record = entry.record
        now = time.time()
        if record.updated < now - self.settings.session_ttl and not entry.current:
            await self._bring_up_to_date(entry, token)  # another process may have used it
            record = entry.record
        if record.updated < now - self.settings.session_ttl:
            self._forget(record)
            await self._store(self.store.delete, record.id)
            raise NotFound(
                f"no session {token!r}: it expired after "
                f"{self.settings.session_ttl} s idle (RMAPLAB_SESSION_TTL)"
            )
        if token != record.id and write:
            raise Forbidden(
                "this is a read-only link to a session (its view id): open a copy to change it"
            )
        if record.id in self._open:
            self._open.move_to_end(record.id)
        if now - entry.stored > TOUCH_EVERY:
            await self._store(self.store.touch, record.id, now)
            entry.stored = now
        record.updated = entry.used = now

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
        return {
            "id": token,
            "view_id": r.view_id,
            "read_only": read_only,
            "step": r.cursor,
            "length": len(r.ops),
            "scenario": r.scenario,
        }

    async def _job(self, entry: Open, name: str, *args: Any) -> bytes | None:
        """A job on the session's worker, sending the log first when it does not hold it."""
        r = entry.record
        try:
            return await self.pool.session(name, r.id, entry.version, *args)
        except NeedLog:
            await self.pool.session("load", r.id, entry.version, r.designs, r.ops)
            return await self.pool.session(name, r.id, entry.version, *args)

    async def _locked(self, token: str, write: bool, body: Callable[[Open], Awaitable[T]]) -> T:
        """``body`` on the session, after this process's earlier requests on it (the
        store's compare-and-set orders them against other processes')."""
        entry, fresh = await self._find(token)
        async with entry.lock:
            await self._check(entry, token, write, fresh)
            return await body(entry)

    async def _bring_up_to_date(self, entry: Open, token: str) -> None:
        await self._refresh(entry, token)
        entry.current = True

    async def _changed(self, entry: Open, token: str, tries: int) -> None:
        """Another process changed the session first: read it again (or give up)."""
        if tries == RETRIES - 1:
            raise Unavailable(
                "the session kept changing under this request (other requests "
                "on it, from other processes); try again",
                {"Retry-After": "1"},
            )
        await self._bring_up_to_date(entry, token)

    async def _refuse(self, entry: Open, token: str, refusal: Conflict) -> None:
        """Raise ``refusal`` if the record is current, else bring it up to date (the
        caller looks again)."""
        if entry.current:
            raise refusal
        await self._bring_up_to_date(entry, token)

    # ----- operations ----------------------------------------------------------------------

    async def create(
        self,
        client: str,
        designs: list[dict[str, Any]],
        scenario: dict[str, Any] | None,
        ops: list[dict[str, Any]],
        at_step: int | None,
    ) -> bytes | None:
        """A new session over ``ops`` (all replayed once to prove they apply), at step
        ``at_step`` (default 0: step forward through the scenario with redo)."""
        s = self.settings
        if len(ops) > min(s.max_steps, s.max_run_ops):
            raise Unprocessable(
                f"ops: {len(ops)} ops; the limit is "
                f"{min(s.max_steps, s.max_run_ops)} (RMAPLAB_MAX_STEPS)"
            )
        if at_step is not None and at_step > len(ops):  # well formed, but not for this log
            raise Conflict(f"at_step: {at_step} is beyond the {len(ops)} ops")
        now = time.time()
        wait = self.creations.take(client, now)
        if wait:
            raise TooManyRequests(
                f"too many new sessions from {client}: {s.create_burst} at once, then "
                f"{s.create_per_minute} a minute (RMAPLAB_CREATE_BURST, "
                "RMAPLAB_CREATE_PER_MINUTE); reuse your session or try again shortly",
                {"Retry-After": str(int(wait) + 1)},
            )
        if not designs:
            designs = [
                {
                    "design": scenario.get("design", DEFAULT_DESIGN)
                    if scenario
                    else DEFAULT_DESIGN,
                    "options": scenario.get("options", []) if scenario else [],
                }
            ]
        tag = new_token()
        record = SessionRecord(
            secrets.token_urlsafe(24),
            [variant_json(v) for v in variants_of(designs)],
            scenario,
            list(ops),
            at_step or 0,
            now,
            now,
            secrets.token_urlsafe(24),
            tag,
            tag,
        )
        entry = Open(record)
        data = await self.pool.session(
            "create",
            record.id,
            entry.version,
            record.designs,
            record.ops,
            self._head(entry, record.id),
        )
        await self._expire(now)
        await self._store(self.store.create, record)
        self._remember(entry)
        return data

    async def _expire(self, now: float) -> None:
        """Drop the sessions idle past the TTL, then the longest idle beyond the count;
        never one used since its creation in the last TOUCH_EVERY seconds (someone is
        looking at it, and that use may not be stored yet)."""
        opened = self._open

        def in_use(sid: str) -> bool:
            entry = opened.get(sid)
            return entry is not None and now - entry.used < TOUCH_EVERY

        def expire() -> list[str]:  # in a thread: the store only
            gone = [
                g for g in self.store.idle_since(now - self.settings.session_ttl) if not in_use(g)
            ]
            excess = self.store.count() - len(gone) - (self.settings.max_sessions - 1)
            if excess > 0:  # the sessions in use are skipped: ask for as many more
                recent = sum(now - e.used < TOUCH_EVERY for e in list(opened.values()))
                gone += [
                    g
                    for g in self.store.oldest_idle(excess + len(gone) + recent)
                    if g not in gone and not in_use(g)
                ][:excess]
            for session_id in gone:
                self.store.delete(session_id)
            return gone

        for session_id in await self._store(expire):
            entry = self._open.get(session_id)
            if entry is not None:
                self._forget(entry.record)

    async def get(self, token: str) -> bytes | None:
        async def body(entry: Open) -> bytes | None:
            return await self._job(
                entry, "view", self._head(entry, token), entry.record.cursor, True
            )

        return await self._locked(token, False, body)

    async def apply_op(
        self, sid: str, op_json: dict[str, Any], expected_step: int | None
    ) -> bytes | None:
        async def body(entry: Open) -> bytes | None:
            for tries in range(RETRIES):
                r = entry.record
                if expected_step is not None and expected_step != r.cursor:
                    await self._refuse(
                        entry,
                        sid,
                        Conflict(
                            f"the session is at step {r.cursor}, not {expected_step}", step=r.cursor
                        ),
                    )
                    continue
                if r.cursor >= self.settings.max_steps:
                    await self._refuse(
                        entry,
                        sid,
                        Conflict(
                            f"the session has {r.cursor} steps; the limit is "
                            f"{self.settings.max_steps} (RMAPLAB_MAX_STEPS)"
                        ),
                    )
                    continue
                rev = new_token()
                head = {**self._head(entry, sid), "step": r.cursor + 1, "length": r.cursor + 1}
                data = await self._job(entry, "apply_op", rev, r.cursor, op_json, head)
                now = time.time()
                if await self._store(
                    self.store.record_op, r.id, r.rev, r.cursor, op_json, rev, now
                ):
                    del r.ops[r.cursor :]
                    r.ops.append(op_json)
                    r.cursor += 1
                    r.updated = now
                    r.rev = r.log_tag = rev
                    return data
                await self._changed(entry, sid, tries)
            raise AssertionError("unreachable")

        return await self._locked(sid, True, body)

    async def move(self, sid: str, step: int | None, delta: int) -> bytes | None:
        """Undo (-1), redo (+1) or jump to ``step`` without changing the log."""

        async def body(entry: Open) -> bytes | None:
            for tries in range(RETRIES):
                r = entry.record
                target = r.cursor + delta if step is None else step
                if target < 0:
                    await self._refuse(
                        entry, sid, Conflict("nothing to undo: the session is at step 0")
                    )
                    continue
                if target > len(r.ops):
                    await self._refuse(
                        entry,
                        sid,
                        Conflict(
                            f"nothing to redo: the session is at its last step {r.cursor}"
                            if step is None
                            else f"step {step} does not exist; the log has {len(r.ops)} steps"
                        ),
                    )
                    continue
                data = await self._job(
                    entry, "view", {**self._head(entry, sid), "step": target}, target, False
                )
                now, rev = time.time(), new_token()
                if await self._store(self.store.set_cursor, r.id, r.rev, target, rev, now):
                    r.cursor, r.updated, r.rev = target, now, rev
                    return data
                await self._changed(entry, sid, tries)
            raise AssertionError("unreachable")

        return await self._locked(sid, True, body)

    async def step(self, token: str, step: int) -> bytes | None:
        async def body(entry: Open) -> bytes | None:
            if step > len(entry.record.ops):
                raise NotFound(
                    f"step {step} does not exist; the log has {len(entry.record.ops)} steps"
                )
            return await self._job(entry, "step", step)

        return await self._locked(token, False, body)

    async def scenario(self, token: str) -> dict[str, Any]:
        """The session up to its current step, as a scenario file."""

        async def body(entry: Open) -> dict[str, Any]:
            r = entry.record
            base = r.scenario or {}
            first = r.designs[0]
            return {
                "name": base.get("name", "session"),
                "title": base.get("title", ""),
                "description": base.get("description", ""),
                "design": first["design"],
                "options": first["options"],
                "ops": r.ops[: r.cursor],
            }

        return await self._locked(token, False, body)

    async def series(self, token: str) -> bytes | None:
        """Per design, the counters after every step of the whole log (for the chart)."""

        async def body(entry: Open) -> bytes | None:
            return await self._job(entry, "series")

        return await self._locked(token, False, body)

    async def delete(self, sid: str) -> None:
        async def body(entry: Open) -> None:
            self._forget(entry.record)
            if not await self._store(self.store.delete, sid):
                raise NotFound(f"no session {sid!r}")

        await self._locked(sid, True, body)

    async def walk(self, token: str, pfn: int, step: int | None) -> bytes | None:
        """What reclaiming ``pfn`` would do now, in each design, without doing it."""

        async def body(entry: Open) -> bytes | None:
            at = entry.record.cursor if step is None else step
            if at > len(entry.record.ops):
                raise NotFound(f"step {at} does not exist")
            return await self._job(entry, "walk", at, pfn)

        return await self._locked(token, False, body)

    async def builtin(
        self,
        name: str,
        designs: list[dict[str, Any]],
        scenario: dict[str, Any],
        ops: list[dict[str, Any]],
    ) -> bytes | None:
        """A built-in scenario as a read-only session shared by every viewer (no session
        is created for looking): its view id names the scenario and the designs."""
        if not designs:
            designs = [
                {
                    "design": scenario.get("design") or DEFAULT_DESIGN,
                    "options": scenario.get("options") or [],
                }
            ]
        designs = [variant_json(v) for v in variants_of(designs)]
        digest = blake2b(json.dumps([name, designs]).encode(), digest_size=12).hexdigest()
        view_id = f"scenario-{digest}"
        entry = self._builtin.get(view_id)
        if entry is None:
            now = time.time()
            tag = new_token()
            entry = Open(
                SessionRecord(
                    secrets.token_urlsafe(24),
                    designs,
                    scenario,
                    ops,
                    0,
                    now,
                    now,
                    view_id,
                    tag,
                    tag,
                )
            )
            await self.pool.session(
                "create", entry.record.id, entry.version, designs, ops, self._head(entry, view_id)
            )
            self._builtin[view_id] = entry
            while len(self._builtin) > RECORDS:
                self._builtin.popitem(last=False)
        self._builtin.move_to_end(view_id)
        return await self.get(view_id)

    async def healthy(self) -> None:
        """Raise ``Unavailable`` unless the store can be written (probed at most once a
        second: a health check is not a write load)."""
        now = time.monotonic()
        if now - self._probed[0] >= 1:
            try:
                await self._store(self.store.probe)
                self._probed = (now, None)
            except Unavailable as exc:
                self._probed = (now, exc)
        if self._probed[1] is not None:
            raise self._probed[1]
