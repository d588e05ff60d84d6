"""The shared store: sessions, rooms, their locks and the rooms' event fan-out in Redis.

``RMAPLAB_STORE=redis://HOST:PORT/DB`` selects it; any number of service processes, on
any number of machines, then serve every session and room. Every change of a session is
one Lua script (atomic in Redis): an op is appended only if the session is still at the revision
the process saw (a compare-and-set, store.py), so ``expected_step`` and "two requests on
one session never interleave" hold across processes. Room events go through Redis
pub/sub to the event streams of every process. Durability is Redis's: run it with
``--appendonly yes --appendfsync always`` (docs/deploy.md) and an acknowledged step
survives a kill -9 of any process, Redis's included.

Keys (``rmaplab:`` first): ``session:ID`` (a hash), ``session:ID:ops`` (a list of JSON
ops), ``view:VIEW_ID`` (the session id), ``sessions`` (ids by last use); ``room:CODE``
(a hash), ``room:CODE:q`` (questions by id), ``room:CODE:revealed``, ``room:CODE:p``
(participants), ``room:CODE:a:Q`` (answers by participant), ``rooms`` (codes by last use);
pub/sub channel ``events:CODE``. A standalone Redis (or a primary), not Redis Cluster: the
scripts reach keys they compute.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
import redis.asyncio as aredis
from redis.backoff import ConstantBackoff
from redis.retry import Retry

from .room_store import QuestionRecord, RoomRecord
from .store import SessionHead, SessionRecord

log = logging.getLogger("rmaplab.store")

P = "rmaplab:"
#: a command that does not answer in this long is a store fault (503)
TIMEOUT = 5.0


def redacted(url: str) -> str:
    """The URL without its password (an error message may show it)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def client(url: str) -> redis.Redis:
    """A thread-safe client: a lost connection is retried once at once (then the fault
    is the caller's: a 503), every command times out after TIMEOUT seconds."""
    return redis.Redis.from_url(
        url,
        socket_timeout=TIMEOUT,
        socket_connect_timeout=2,
        health_check_interval=30,
        decode_responses=True,
        retry=Retry(ConstantBackoff(0.05), 1),
        max_connections=64,
    )


def _str(value: float) -> str:
    return repr(float(value))


# ----- sessions -------------------------------------------------------------------------

_FIND = """
local id = ARGV[1]
if redis.call('EXISTS', 'rmaplab:session:' .. id) == 0 then
  id = redis.call('GET', 'rmaplab:view:' .. id)
  if not id then return false end
end
local key = 'rmaplab:session:' .. id
local h = redis.call('HGETALL', key)
if #h == 0 then return false end
if ARGV[2] == 'head' then return {id, h, redis.call('LLEN', key .. ':ops')} end
return {id, h, redis.call('LRANGE', key .. ':ops', 0, -1)}
"""

# KEYS: session, ops, index; ARGV: rev, cursor, op (or '' for a move), new rev, now, id
_SWAP = """
local rev = redis.call('HGET', KEYS[1], 'rev')
if not rev then return 0 end
if rev == ARGV[4] then return 1 end
if rev ~= ARGV[1] then return 0 end
local cursor = tonumber(ARGV[2])
if ARGV[3] ~= '' then
  if cursor == 0 then redis.call('DEL', KEYS[2])
  else redis.call('LTRIM', KEYS[2], 0, cursor - 1) end
  redis.call('RPUSH', KEYS[2], ARGV[3])
  redis.call('HSET', KEYS[1], 'log_tag', ARGV[4])
  cursor = cursor + 1
end
redis.call('HSET', KEYS[1], 'cursor', cursor, 'updated', ARGV[5], 'rev', ARGV[4])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[6])
return 1
"""

_TOUCH = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'updated', ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
return 1
"""

_DELETE = """
local view = redis.call('HGET', KEYS[1], 'view_id')
if not view then return 0 end
redis.call('DEL', KEYS[1], KEYS[2], 'rmaplab:view:' .. view)
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
"""


class RedisStore:
    """Sessions in Redis (see the module's docstring)."""

    shared = True

    def __init__(self, url: str, connection: redis.Redis | None = None) -> None:
        self.url = url
        self.name = f"RMAPLAB_STORE={redacted(url)}"
        #: the client (its replies' types depend on decode_responses: typed loosely)
        self.redis: Any = connection or client(url)
        self._find = self.redis.register_script(_FIND)
        self._swap_script = self.redis.register_script(_SWAP)
        self._touch = self.redis.register_script(_TOUCH)
        self._delete = self.redis.register_script(_DELETE)

    def close(self) -> None:
        self.redis.close()

    @staticmethod
    def _key(session_id: str) -> str:
        return f"{P}session:{session_id}"

    def create(self, record: SessionRecord) -> None:
        key = self._key(record.id)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                key,
                mapping={
                    "designs": json.dumps(record.designs),
                    "scenario": json.dumps(record.scenario),
                    "cursor": record.cursor,
                    "created": _str(record.created),
                    "updated": _str(record.updated),
                    "view_id": record.view_id,
                    "rev": record.rev,
                    "log_tag": record.log_tag,
                },
            )
            if record.ops:
                pipe.rpush(key + ":ops", *(json.dumps(op) for op in record.ops))
            pipe.set(f"{P}view:{record.view_id}", record.id)
            pipe.zadd(f"{P}sessions", {record.id: record.updated})
            pipe.execute()

    def load(self, token: str) -> SessionRecord | None:
        found = self._find(args=[token, "all"])
        if not found:
            return None
        sid, flat, ops = found
        h = dict(zip(flat[::2], flat[1::2], strict=True))
        return SessionRecord(
            sid,
            json.loads(h["designs"]),
            json.loads(h["scenario"]),
            [json.loads(op) for op in ops],
            int(h["cursor"]),
            float(h["created"]),
            float(h["updated"]),
            h["view_id"],
            h["rev"],
            h["log_tag"],
        )

    def head(self, token: str) -> SessionHead | None:
        found = self._find(args=[token, "head"])
        if not found:
            return None
        sid, flat, length = found
        h = dict(zip(flat[::2], flat[1::2], strict=True))
        return SessionHead(
            sid,
            h["view_id"],
            int(h["cursor"]),
            int(length),
            h["rev"],
            h["log_tag"],
            float(h["updated"]),
        )

    def _swap(
        self, session_id: str, rev: str, cursor: int, op: str, new_rev: str, now: float
    ) -> bool:
        key = self._key(session_id)
        return bool(
            self._swap_script(
                keys=[key, key + ":ops", f"{P}sessions"],
                args=[rev, cursor, op, new_rev, _str(now), session_id],
            )
        )

    def record_op(
        self, session_id: str, rev: str, cursor: int, op: dict[str, Any], new_rev: str, now: float
    ) -> bool:
        return self._swap(session_id, rev, cursor, json.dumps(op), new_rev, now)

    def set_cursor(self, session_id: str, rev: str, cursor: int, new_rev: str, now: float) -> bool:
        return self._swap(session_id, rev, cursor, "", new_rev, now)

    def touch(self, session_id: str, now: float) -> None:
        self._touch(keys=[self._key(session_id), f"{P}sessions"], args=[_str(now), session_id])

    def delete(self, session_id: str) -> bool:
        key = self._key(session_id)
        return bool(self._delete(keys=[key, key + ":ops", f"{P}sessions"], args=[session_id]))

    def count(self) -> int:
        return int(self.redis.zcard(f"{P}sessions"))

    def oldest_idle(self, n: int) -> list[str]:
        return list(self.redis.zrange(f"{P}sessions", 0, n - 1)) if n > 0 else []

    def idle_since(self, then: float) -> list[str]:
        return list(self.redis.zrangebyscore(f"{P}sessions", "-inf", f"({then!r}"))

    def probe(self) -> None:
        self.redis.set(f"{P}health", _str(time.time()))


# ----- rooms ----------------------------------------------------------------------------

# KEYS: room, questions, revealed, index; ARGV: code, now, n (room field/value pairs), the
# pairs, then question id/json pairs
_ROOM_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local n = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], unpack(ARGV, 4, 3 + n))
if #ARGV > 3 + n then redis.call('HSET', KEYS[2], unpack(ARGV, 4 + n, #ARGV)) end
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[1])
return 1
"""

# KEYS: room, index; ARGV: code, now, then field/value pairs to set
_ROOM_CHANGE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
if #ARGV > 2 then redis.call('HSET', KEYS[1], unpack(ARGV, 3, #ARGV)) end
redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('HSET', KEYS[1], 'updated', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return redis.call('HGETALL', KEYS[1])
"""

# KEYS: room, index; ARGV: code, now
_ROOM_USED = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'updated', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1
"""

# KEYS: room, questions, index; ARGV: code, now, question json (without its id)
_ROOM_QUESTION = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local id = redis.call('HINCRBY', KEYS[1], 'qmax', 1)
redis.call('HSET', KEYS[2], id, ARGV[3])
redis.call('HSET', KEYS[1], 'updated', ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
return id
"""

# KEYS: room prefix, index; ARGV: code, idle_before
_ROOM_EXPIRE = """
local updated = redis.call('HGET', KEYS[1], 'updated')
if updated and tonumber(updated) >= tonumber(ARGV[2]) then return 0 end
for _, q in ipairs(redis.call('HKEYS', KEYS[1] .. ':q')) do
  redis.call('DEL', KEYS[1] .. ':a:' .. q)
end
redis.call('DEL', KEYS[1], KEYS[1] .. ':q', KEYS[1] .. ':revealed', KEYS[1] .. ':p')
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
"""


def _room(code: str, flat: list[str]) -> RoomRecord:
    h = dict(zip(flat[::2], flat[1::2], strict=True))
    return RoomRecord(
        code,
        h["key_hash"],
        json.loads(h["scenario"]),
        json.loads(h["designs"]),
        int(h["step"]),
        int(h["question"]) if h["question"] else None,
        int(h["seq"]),
        float(h["created"]),
        float(h["updated"]),
    )


class RedisRoomStore:
    """Rooms in Redis (see the module's docstring)."""

    shared = True

    def __init__(self, url: str, connection: redis.Redis | None = None) -> None:
        self.name = f"RMAPLAB_STORE={redacted(url)}"
        #: the client (its replies' types depend on decode_responses: typed loosely)
        self.redis: Any = connection or client(url)
        self._create = self.redis.register_script(_ROOM_CREATE)
        self._change = self.redis.register_script(_ROOM_CHANGE)
        self._used = self.redis.register_script(_ROOM_USED)
        self._question = self.redis.register_script(_ROOM_QUESTION)
        self._expire = self.redis.register_script(_ROOM_EXPIRE)

    @staticmethod
    def _key(code: str) -> str:
        return f"{P}room:{code}"

    def create(self, room: RoomRecord, questions: list[QuestionRecord]) -> bool:
        key = self._key(room.code)
        fields = {
            "key_hash": room.key_hash,
            "scenario": json.dumps(room.scenario),
            "designs": json.dumps(room.designs),
            "step": room.step,
            "question": "" if room.question is None else room.question,
            "seq": room.seq,
            "created": _str(room.created),
            "updated": _str(room.updated),
            "qmax": max((q.id for q in questions), default=0),
        }
        pairs = [x for item in fields.items() for x in item]
        qpairs = [
            x
            for q in questions
            for x in (q.id, json.dumps([q.step, q.prompt, q.choices, q.answer]))
        ]
        args: list[Any] = [room.code, _str(room.updated), len(pairs), *pairs, *qpairs]
        made = self._create(keys=[key, key + ":q", key + ":revealed", f"{P}rooms"], args=args)
        revealed = [q.id for q in questions if q.revealed]
        if made and revealed:
            self.redis.sadd(key + ":revealed", *revealed)
        return bool(made)

    def load(self, code: str) -> RoomRecord | None:
        flat = self.redis.hgetall(self._key(code))
        if not flat:
            return None
        return _room(code, [x for item in flat.items() for x in item])

    def change(self, code: str, now: float, **fields: Any) -> RoomRecord:
        args: list[Any] = [code, _str(now)]
        for name in ("step", "designs", "question"):
            if name in fields:
                value = fields[name]
                args += [
                    name,
                    json.dumps(value) if name == "designs" else "" if value is None else value,
                ]
        flat = self._change(keys=[self._key(code), f"{P}rooms"], args=args)
        if not flat:
            raise LookupError(f"no room {code!r}")
        return _room(code, flat)

    def questions(self, code: str) -> list[QuestionRecord]:
        key = self._key(code)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(key + ":q")
            pipe.smembers(key + ":revealed")
            stored, revealed = pipe.execute()
        out = []
        for ident in sorted(stored, key=int):
            step, prompt, choices, answer = json.loads(stored[ident])
            out.append(QuestionRecord(int(ident), step, prompt, choices, answer, ident in revealed))
        return out

    def add_question(self, code: str, question: QuestionRecord, now: float) -> int:
        key = self._key(code)
        ident = int(
            self._question(
                keys=[key, key + ":q", f"{P}rooms"],
                args=[
                    code,
                    _str(now),
                    json.dumps([question.step, question.prompt, question.choices, question.answer]),
                ],
            )
        )
        if not ident:
            raise LookupError(f"no room {code!r}")
        question.id = ident
        return ident

    def reveal(self, code: str, question: int, revealed: bool, now: float) -> None:
        key = self._key(code)
        with self.redis.pipeline(transaction=True) as pipe:
            if revealed:
                pipe.sadd(key + ":revealed", question)
            else:
                pipe.srem(key + ":revealed", question)
            pipe.execute()
        self._change(keys=[key, f"{P}rooms"], args=[code, _str(now)])

    def _use(self, code: str, now: float) -> None:
        self._used(keys=[self._key(code), f"{P}rooms"], args=[code, _str(now)])

    def join(self, code: str, participant: str, now: float) -> None:
        self.redis.sadd(self._key(code) + ":p", participant)
        self._use(code, now)

    def participants(self, code: str) -> int:
        return int(self.redis.scard(self._key(code) + ":p"))

    def is_participant(self, code: str, participant: str) -> bool:
        return bool(self.redis.sismember(self._key(code) + ":p", participant))

    def answer(self, code: str, question: int, participant: str, answer: str, now: float) -> None:
        self.redis.hset(f"{self._key(code)}:a:{question}", participant, answer)
        self._use(code, now)

    def answers(self, code: str, question: int) -> dict[str, int]:
        given = Counter(self.redis.hvals(f"{self._key(code)}:a:{question}"))
        return dict(sorted(given.items(), key=lambda item: (-item[1], item[0])))

    def count(self) -> int:
        return int(self.redis.zcard(f"{P}rooms"))

    def expire(self, idle_before: float) -> list[str]:
        codes = self.redis.zrangebyscore(f"{P}rooms", "-inf", f"({idle_before!r}")
        return [
            code
            for code in codes
            if self._expire(keys=[self._key(code), f"{P}rooms"], args=[code, _str(idle_before)])
        ]

    def lock(self, code: str) -> Callable[[], None]:
        """The room's lock (redis-py's, expiring after 10 s if its holder dies), held."""
        held = self.redis.lock(
            f"{self._key(code)}:lock", timeout=10, blocking_timeout=5, thread_local=False
        )
        if not held.acquire():
            raise redis.exceptions.LockError(f"room {code}'s lock stayed busy for 5 s")
        release: Callable[[], None] = held.release
        return release


# ----- the rooms' event fan-out ---------------------------------------------------------

#: a room's event on the channel: b"SEQ\n" + the event's data; SEQ -1: the room ended
Deliver = Callable[[str, int, bytes], None]


class RedisFanout:
    """Room events through Redis pub/sub: every process publishes its rooms' changes and
    hears every room's, and hands them to its own event streams."""

    def __init__(self, url: str) -> None:
        self.url = url
        #: the publishing client, for the event loop it was made in
        self._client: tuple[asyncio.AbstractEventLoop, aredis.Redis] | None = None
        self._task: asyncio.Task[None] | None = None

    def _redis(self) -> aredis.Redis:
        loop = asyncio.get_running_loop()
        if self._client is None or self._client[0] is not loop:
            self._client = (
                loop,
                aredis.Redis.from_url(
                    self.url,
                    socket_connect_timeout=2,
                    socket_timeout=TIMEOUT,
                    retry=Retry(ConstantBackoff(0.05), 1),
                ),
            )
        return self._client[1]

    async def publish(self, code: str, seq: int, payload: bytes) -> None:
        await self._redis().publish(f"{P}events:{code}", b"%d\n" % seq + payload)

    def listen(self, deliver: Deliver, resync: Callable[[], Awaitable[None]]) -> None:
        """Hear every room's events in this event loop from now on (once)."""
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._task = loop.create_task(self._listen(deliver, resync))

    async def _listen(self, deliver: Deliver, resync: Callable[[], Awaitable[None]]) -> None:
        prefix = len(f"{P}events:")
        first = True
        while True:
            listener = aredis.Redis.from_url(self.url, socket_connect_timeout=2)
            pubsub = listener.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(f"{P}events:*")
                if not first:  # events may have gone by while the connection was down
                    await resync()
                first = False
                while True:
                    message = await pubsub.get_message(timeout=30)
                    if message is None or message["type"] != "pmessage":
                        continue
                    seq, _, payload = message["data"].partition(b"\n")
                    deliver(message["channel"][prefix:].decode(), int(seq), payload)
            except (redis.RedisError, OSError) as exc:
                log.warning("room events: the store is unreachable (%s); retrying", exc)
                first = False
                await asyncio.sleep(0.5)
            finally:
                try:
                    await pubsub.aclose()
                    await listener.aclose()
                except (redis.RedisError, OSError):
                    pass
