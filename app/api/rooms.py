"""Rooms: an instructor drives a scenario, a class follows it live and answers questions.

The instructor holds the room's key (``X-Room-Key``) and moves the step, the designs and
the question put to the room; every follower's event stream (server-sent events) gets
each change at once. Participants join anonymously and answer; the tally is the
instructor's until a question is revealed. Rooms live in the store (room_store.py; Redis's
calls in a thread, off the event loop); each process hands a room's events to its own
streams (``Channel``). With the shared store (Redis), a change is published through the
store's pub/sub (``RedisFanout``) and reaches the streams of every process, and the
instructor's changes take the room's lock in the store as well as in the process.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import secrets
import signal
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, fields
from typing import Annotated, Any, TypeVar

from annotated_types import Ge, Le
from fastapi import APIRouter, FastAPI, Header, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from ..engine import EngineError, ScenarioError, parse_scenario, scenario_to_json
from ..engine.lessons import MAX_CHOICE, MAX_CHOICES, MAX_PROMPT, parse_choices
from ..engine.ops import MAX_ID
from ..room_pages import router as pages_router
from ..scenarios import builtin_names, load_builtin
from . import models
from .config import Settings
from .errors import ErrorBody, ServiceError, Unavailable, of_status
from .lessons import router as lessons_router
from .pool import Pool
from .redis_store import RedisFanout, RedisRoomStore
from .room_engine import StepViews, variants_of
from .room_store import QuestionRecord, RoomRecord, RoomStore, SqliteRoomStore
from .schemas import INTEGRAL, STRICT, DesignChoice, Step
from .sessions import STORE_FAULTS, store_call

log = logging.getLogger("rmaplab.rooms")
T = TypeVar("T")

#: what a person can type from a projector: no 0/O, no 1/I/l
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8
#: distinct typed answers a tally lists before it lumps the rest into "other"
TALLY_TOP = 12
MAX_TYPED_ANSWER = 40


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, str(default))
    if not raw.isdigit() or int(raw) < 1:
        raise SystemExit(f"rmaplab: {name}={raw!r} must be a positive integer")
    return int(raw)


@dataclass(frozen=True, slots=True)
class RoomLimits:
    """The rooms' limits. Environment variable: RMAPLAB_<FIELD> (upper case)."""

    #: rooms kept by the server; idle rooms expire first
    max_rooms: int = 100
    #: participants (join tokens) per room
    room_participants: int = 500
    #: answers a participant may send per second (a burst of as many is allowed)
    room_answers_per_second: int = 2
    #: seconds without any change, join or answer after which a room expires
    room_idle: int = 6 * 3600
    #: event streams open at once on the server
    room_streams: int = 2000
    #: seconds between heartbeats on an idle event stream
    room_heartbeat: int = 15

    @classmethod
    def from_env(cls) -> RoomLimits:
        return cls(
            **{
                f.name: _env_int(f"RMAPLAB_{f.name.upper()}", f.default)  # type: ignore[arg-type]
                for f in fields(cls)
            }
        )


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _error(status: int, detail: str, **headers: str) -> ServiceError:
    return of_status(status, detail, headers or None)


# ----- the fan-out ----------------------------------------------------------------------


class Channel:
    """A room's latest event and a signal that wakes every stream waiting for the next."""

    def __init__(self, seq: int, payload: bytes) -> None:
        self.seq = seq
        self.payload = payload
        self.changed = asyncio.Event()
        self.streams = 0
        self.closed = False
        #: closed because the room ended (not because the server stops: then followers
        #: reconnect by themselves when it is back)
        self.ended = False

    def publish(self, seq: int, payload: bytes) -> None:
        if seq <= self.seq:
            return
        self.seq, self.payload = seq, payload
        self._wake()

    def close(self, ended: bool) -> None:
        self.closed, self.ended = True, ended
        self._wake()

    def _wake(self) -> None:
        changed, self.changed = self.changed, asyncio.Event()
        changed.set()


# ----- the service ----------------------------------------------------------------------


class Rooms:
    """Every room operation; the routes parse, call and answer."""

    def __init__(
        self,
        store: RoomStore,
        limits: RoomLimits,
        settings: Settings,
        fanout: RedisFanout | None = None,
    ) -> None:
        self.store = store
        self.fanout = fanout
        self.limits = limits
        #: the service's limits on one state, which a room's designs obey too
        self.state_limits = (settings.max_processes, settings.max_frames)
        self.views = StepViews(Pool.shared(settings))
        self.channels: dict[str, Channel] = {}
        self.streams = 0
        self.locks: dict[str, asyncio.Lock] = {}
        #: per (room, participant): the answers it may still send now, and when
        self.buckets: dict[tuple[str, str], tuple[float, float]] = {}

    async def _io(self, fn: Callable[..., T], *args: Any) -> T:
        """A store call (a shared store's in a thread); a fault is a 503 naming it."""
        return await store_call(
            self.store.name, fn, *args, remote=self.store.shared, what="room store"
        )

    # ----- lookup -------------------------------------------------------------------------

    async def expire(self) -> None:
        for code in await self._io(self.store.expire, time.time() - self.limits.room_idle):
            self._ended(code)
            self.locks.pop(code, None)
            self.buckets = {k: v for k, v in self.buckets.items() if k[0] != code}
            if self.fanout is not None:
                await self._publish(code, -1, b"{}")

    def _ended(self, code: str) -> None:
        channel = self.channels.pop(code, None)
        if channel is not None:
            channel.close(ended=True)

    async def room(self, code: str) -> RoomRecord:
        code = code.upper()
        room = await self._io(self.store.load, code)
        if room is not None and room.updated < time.time() - self.limits.room_idle:
            await self.expire()
            room = None
        if room is None:
            raise _error(404, f"no room {code!r}: check the code, or the class has ended")
        return room

    def instructor(self, room: RoomRecord, key: str | None) -> None:
        if key is None or not hmac.compare_digest(_key_hash(key), room.key_hash):
            raise _error(
                403,
                "this needs the room's key in the X-Room-Key header"
                if key is None
                else "the X-Room-Key header is not this room's key",
            )

    @asynccontextmanager
    async def driving(self, code: str, key: str | None) -> AsyncIterator[RoomRecord]:
        """The room for one of the instructor's changes, which never interleave."""
        room = await self.room(code)
        self.instructor(room, key)
        async with self.locks.setdefault(room.code, asyncio.Lock()):
            release = await self._io(self.store.lock, room.code)
            try:
                yield await self.room(code)
            finally:
                try:
                    await self._io(release)
                except Unavailable as exc:  # it expires by itself
                    log.warning("room %s: its lock was not released: %s", room.code, exc)

    # ----- documents ----------------------------------------------------------------------

    async def _tally(self, room: RoomRecord, q: QuestionRecord) -> dict[str, Any]:
        given = await self._io(self.store.answers, room.code, q.id)
        if q.choices is not None:
            counts = {c: given.get(c, 0) for c in q.choices}
        else:
            counts = dict(list(given.items())[:TALLY_TOP])
            rest = sum(given.values()) - sum(counts.values())
            if rest:
                counts["other"] = rest
        return {
            "question": q.id,
            "counts": counts,
            "answers": sum(given.values()),
            "answer": q.answer,
        }

    async def _question(
        self, room: RoomRecord, q: QuestionRecord, instructor: bool
    ) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": q.id,
            "step": q.step,
            "prompt": q.prompt,
            "choices": q.choices,
            "revealed": q.revealed,
        }
        if q.revealed:
            out["tally"] = await self._tally(room, q)
        if q.revealed or instructor:
            out["answer"] = q.answer
        return out

    async def public(self, room: RoomRecord) -> dict[str, Any]:
        """What every follower sees (the data of each event)."""
        questions = {q.id: q for q in await self._io(self.store.questions, room.code)}
        current = questions.get(room.question) if room.question is not None else None
        s = room.scenario
        return {
            "code": room.code,
            "seq": room.seq,
            "step": room.step,
            "length": len(s["ops"]),
            "scenario": {"name": s["name"], "title": s["title"], "description": s["description"]},
            "designs": room.designs,
            "question": None if current is None else await self._question(room, current, False),
            "join": f"/r/{room.code}",
        }

    async def document(self, room: RoomRecord, instructor: bool) -> dict[str, Any]:
        """GET /api/rooms/{code}: the public view, who follows (in this process), and for
        the instructor every question with its answer."""
        out = await self.public(room)
        out["following"] = self.channels[room.code].streams if room.code in self.channels else 0
        out["participants"] = await self._io(self.store.participants, room.code)
        out["ops"] = room.scenario["ops"]  # to explore on one's own from the room's step
        if instructor:
            out["questions"] = [
                await self._question(room, q, True)
                for q in await self._io(self.store.questions, room.code)
            ]
            out["question"] = next((q for q in out["questions"] if q["id"] == room.question), None)
        return out

    async def changed(self, room: RoomRecord) -> None:
        """Hand the room's new state to its streams here and, through the shared store's
        pub/sub, in every other process."""
        channel = self.channels.get(room.code)
        if channel is None and self.fanout is None:
            return
        payload = json.dumps(await self.public(room)).encode()
        if channel is not None:
            channel.publish(room.seq, payload)
        if self.fanout is not None:
            await self._publish(room.code, room.seq, payload)

    async def _publish(self, code: str, seq: int, payload: bytes) -> None:
        assert self.fanout is not None
        try:
            await self.fanout.publish(code, seq, payload)
        except STORE_FAULTS as exc:  # the change is stored: followers catch up on reconnect
            log.warning("room %s: event %d not published: %s", code, seq, exc)

    def _deliver(self, code: str, seq: int, payload: bytes) -> None:
        """An event from the fan-out: to this process's streams of the room."""
        if seq < 0:
            self._ended(code)
            return
        channel = self.channels.get(code)
        if channel is not None:
            channel.publish(seq, payload)

    async def _resync(self) -> None:
        """After the fan-out was cut: every followed room as it is now."""
        for code, channel in list(self.channels.items()):
            room = await self._io(self.store.load, code)
            if room is None:
                self._ended(code)
            elif room.seq > channel.seq:
                channel.publish(room.seq, json.dumps(await self.public(room)).encode())

    # ----- creating -----------------------------------------------------------------------

    async def create(
        self, scenario: dict[str, Any], designs: list[dict[str, Any]], step: int
    ) -> dict[str, Any]:
        if step > len(scenario["ops"]):
            raise _error(422, f"step: {step} is beyond the scenario's {len(scenario['ops'])} steps")
        if not designs:
            designs = [{"design": scenario["design"], "options": scenario["options"]}]
        answers = await self.views.check(scenario, designs, *self.state_limits)
        await self.expire()
        if await self._io(self.store.count) >= self.limits.max_rooms:
            raise _error(
                409,
                f"the server holds {self.limits.max_rooms} rooms, its limit "
                "(RMAPLAB_MAX_ROOMS); try again when one expires",
            )
        questions = [
            QuestionRecord(i, q["step"], q["prompt"], q.get("choices"), answer)
            for i, (q, answer) in enumerate(
                zip(scenario.get("questions", []), answers, strict=True), start=1
            )
        ]
        key = secrets.token_urlsafe(24)
        now = time.time()
        while True:
            code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
            room = RoomRecord(
                code, _key_hash(key), scenario, designs, step, _asked(questions, step), 1, now, now
            )
            if await self._io(self.store.create, room, questions):
                break
        return {**await self.document(room, True), "key": key}

    # ----- the instructor's changes --------------------------------------------------------

    async def move(self, room: RoomRecord, step: int) -> RoomRecord:
        length = len(room.scenario["ops"])
        if step > length:
            raise _error(409, f"step {step} does not exist; the scenario has {length} steps")
        questions = await self._io(self.store.questions, room.code)
        room = await self._change(room.code, step=step, question=_asked(questions, step))
        await self.changed(room)
        return room

    async def _change(self, code: str, **fields: Any) -> RoomRecord:
        return await self._io(lambda: self.store.change(code, time.time(), **fields))

    async def set_designs(self, room: RoomRecord, designs: list[dict[str, Any]]) -> RoomRecord:
        await self.views.check({**room.scenario, "questions": []}, designs, *self.state_limits)
        room = await self._change(room.code, designs=designs)
        await self.changed(room)
        return room

    async def _find(self, room: RoomRecord, question: int) -> QuestionRecord:
        for q in await self._io(self.store.questions, room.code):
            if q.id == question:
                return q
        raise _error(404, f"room {room.code} has no question {question}")

    async def ask(
        self, room: RoomRecord, question: int | None, revealed: bool | None
    ) -> RoomRecord:
        if question is not None:
            q = await self._find(room, question)
            if revealed is not None and revealed != q.revealed:
                await self._io(self.store.reveal, room.code, question, revealed, time.time())
        room = await self._change(room.code, question=question)
        await self.changed(room)
        return room

    async def add_question(
        self,
        room: RoomRecord,
        prompt: str,
        choices: list[str] | None,
        answer: str | None,
        step: int | None,
    ) -> int:
        if len(await self._io(self.store.questions, room.code)) >= 200:
            raise _error(409, f"room {room.code} has 200 questions, its limit")
        length = len(room.scenario["ops"])
        if step is not None and step > length:
            raise _error(422, f"step: {step} is beyond the scenario's {length} steps")
        if answer is not None and choices is not None and answer not in choices:
            raise _error(422, f"answer: {answer!r} is not one of the choices")
        ident = await self._io(
            self.store.add_question,
            room.code,
            QuestionRecord(0, step, prompt, choices, None if answer is None else _normal(answer)),
            time.time(),
        )
        room = await self._change(room.code, question=ident)
        await self.changed(room)
        return ident

    # ----- the class ----------------------------------------------------------------------

    async def join(self, room: RoomRecord) -> str:
        if await self._io(self.store.participants, room.code) >= self.limits.room_participants:
            raise _error(
                409,
                f"room {room.code} is full: {self.limits.room_participants} "
                "participants (RMAPLAB_ROOM_PARTICIPANTS)",
            )
        token = secrets.token_urlsafe(16)
        await self._io(self.store.join, room.code, token, time.time())
        return token

    def _spend(self, code: str, participant: str) -> None:
        rate = self.limits.room_answers_per_second
        now = time.monotonic()
        tokens, then = self.buckets.get((code, participant), (rate, now))
        tokens = min(rate, tokens + (now - then) * rate)
        if tokens < 1:
            raise _error(
                429,
                f"more than {rate} answers a second "
                "(RMAPLAB_ROOM_ANSWERS_PER_SECOND); wait a moment",
                **{"Retry-After": "1"},
            )
        self.buckets[(code, participant)] = (tokens - 1, now)

    async def answer(
        self, room: RoomRecord, participant: str, question: int, answer: str
    ) -> dict[str, Any]:
        if not await self._io(self.store.is_participant, room.code, participant):
            raise _error(
                403,
                f"not a participant of room {room.code}: join first "
                f"(POST /api/rooms/{room.code}/join)",
            )
        q = await self._find(room, question)
        if q.revealed:
            raise _error(409, f"question {question} was revealed; its answers are closed")
        if q.choices is not None:
            value = answer
            if value not in q.choices:
                raise _error(
                    422, f"answer: {answer!r} is not one of the choices ({', '.join(q.choices)})"
                )
        else:
            value = _normal(answer)
            if not value or len(value) > MAX_TYPED_ANSWER:
                raise _error(422, f"answer: give 1 to {MAX_TYPED_ANSWER} characters")
        self._spend(room.code, participant)
        await self._io(self.store.answer, room.code, question, participant, value, time.time())
        return {"question": question, "answer": value}

    async def tally(self, room: RoomRecord, question: int) -> dict[str, Any]:
        return await self._tally(room, await self._find(room, question))

    # ----- the stream ---------------------------------------------------------------------

    def close_streams(self) -> None:
        """End every event stream (the server is stopping: nothing would end them)."""
        for channel in self.channels.values():
            channel.close(ended=False)
        self.channels.clear()

    def _close_streams_on_exit(self) -> None:
        """Chain a handler before the server's own for SIGTERM and SIGINT: a server
        waits for open responses before it exits, and an event stream never ends."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(sig)
            if getattr(previous, "closes_rooms", False):
                continue

            def handler(signum: int, frame: Any, previous: Any = previous) -> None:
                loop.call_soon_threadsafe(self.close_streams)
                if callable(previous):
                    previous(signum, frame)

            handler.closes_rooms = True  # type: ignore[attr-defined]
            try:
                signal.signal(sig, handler)
            except ValueError:  # not the main thread (a test client): nothing to chain
                return

    async def channel(self, room: RoomRecord) -> Channel:
        if not self.channels:
            self._close_streams_on_exit()
        if self.fanout is not None:
            self.fanout.listen(self._deliver, self._resync)
        channel = self.channels.get(room.code)
        if channel is None:
            payload = json.dumps(await self.public(room)).encode()
            channel = self.channels.get(room.code)  # another stream made it meanwhile
            if channel is None:
                channel = self.channels[room.code] = Channel(room.seq, payload)
        return channel

    async def events(self, channel: Channel, last: int) -> AsyncIterator[bytes]:
        """The room's events after ``last``: the latest state at once if it is newer,
        then one event per change, and a comment line as a heartbeat when idle."""
        self.streams += 1
        channel.streams += 1
        try:
            yield b"retry: 2000\n\n"
            while not channel.closed:
                changed = channel.changed
                if channel.seq > last:
                    last = channel.seq
                    yield b"id: %d\ndata: %s\n\n" % (last, channel.payload)
                    continue
                try:
                    async with asyncio.timeout(self.limits.room_heartbeat):
                        await changed.wait()
                except TimeoutError:
                    yield b": heartbeat\n\n"
            if channel.ended:
                yield b"event: closed\ndata: {}\n\n"
        finally:
            self.streams -= 1
            channel.streams -= 1


def _asked(questions: list[QuestionRecord], step: int) -> int | None:
    """The question put to the room at ``step``: the lesson's first about the next step."""
    return next((q.id for q in questions if q.step == step + 1), None)


def _normal(answer: str) -> str:
    """A typed answer as tallied: trimmed, lower case, single spaces, numbers plain."""
    text = " ".join(answer.split()).lower()
    return str(int(text)) if text.isdigit() else text


# ----- the routes -----------------------------------------------------------------------

router = APIRouter(prefix="/api/rooms", tags=["rooms"])


def _statuses(**described: str) -> dict[int | str, dict[str, Any]]:
    out: dict[int | str, dict[str, Any]] = {
        400: {"model": ErrorBody, "description": "the body is not valid JSON"},
        413: {"model": ErrorBody, "description": "the request body is too large"},
        422: {"model": ErrorBody, "description": "malformed request: the problem is named"},
    }
    for status, text in described.items():
        out[int(status[1:])] = {"model": ErrorBody, "description": text}
    return out


NO_ROOM = "no such room (or it expired)"
NO_KEY = "no X-Room-Key header, or not this room's key"
Code = Annotated[
    str,
    Path(
        min_length=6,
        max_length=10,
        pattern=r"^[A-Za-z0-9]+$",
        description="the room's code (any case)",
    ),
]
Key = Annotated[
    str | None, Header(alias="X-Room-Key", max_length=100, description="the instructor's key")
]
DesignSpec = Annotated[str, Field(max_length=120, description='"design" or "design+option"')]


#: a character ``str.strip`` keeps: Python's whitespace, which JSON Schema's ``\s`` is not
#: (it lacks U+001C-U+001F and U+0085)
VISIBLE = (
    r"[^\t-\r\u001c-\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f"
    r"\u3000]"
)
QuestionId = Annotated[int, STRICT, Ge(1), Le(MAX_ID), INTEGRAL]


class RoomCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scenario: Annotated[str, Field(max_length=80)] | dict[str, Any] = Field(
        description="a built-in scenario's name, or a scenario in the scenario format"
    )
    designs: list[DesignChoice | DesignSpec] | None = Field(
        default=None, max_length=5, description="default: the scenario's design"
    )
    step: Step = Field(default=0, description="the step to start at")


class CursorBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    step: Step


class DesignsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    designs: list[DesignChoice | DesignSpec] = Field(min_length=1, max_length=5)


class QuestionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: QuestionId | None = Field(
        description="the question to put to the room, or null for none"
    )
    revealed: bool | None = Field(
        default=None, description="show (or hide) its answer and tally to the followers"
    )


class NewQuestion(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: Annotated[str, Field(min_length=1, max_length=MAX_PROMPT)]
    choices: (
        list[Annotated[str, Field(min_length=1, max_length=MAX_CHOICE, pattern=VISIBLE)]] | None
    ) = Field(
        default=None,
        min_length=2,
        max_length=MAX_CHOICES,
        json_schema_extra={"uniqueItems": True},
        description="2 to 8 distinct choices; without them the answer is typed",
    )
    answer: Annotated[str, Field(max_length=MAX_CHOICE)] | None = None
    step: QuestionId | None = None


class AnswerBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    participant: Annotated[str, Field(min_length=1, max_length=64)]
    question: QuestionId
    answer: Annotated[StrictStr, Field(max_length=MAX_CHOICE)] | StrictInt


def rooms(request: Request) -> Rooms:
    service: Rooms = request.app.state.rooms
    return service


def _designs(specs: list[DesignChoice | str] | None) -> list[dict[str, Any]]:
    out = []
    for spec in specs or []:
        if isinstance(spec, str):
            design, *options = spec.strip().split("+")
            out.append({"design": design, "options": options})
        else:
            out.append(spec.model_dump())
    try:
        variants_of(out)
    except EngineError as exc:
        raise _error(422, f"designs: {exc}") from None
    return out


def _scenario(spec: str | dict[str, Any], request: Request) -> dict[str, Any]:
    if isinstance(spec, str):
        if spec not in builtin_names():
            raise _error(404, f"no built-in scenario {spec!r}")
        spec = load_builtin(spec)
    settings = request.app.state.settings
    try:
        parsed = parse_scenario(spec)
    except ScenarioError as exc:
        raise _error(422, f"scenario: {exc}") from None
    most = min(settings.max_steps, settings.max_run_ops)
    if len(parsed.ops) > most:
        raise _error(422, f"scenario: {len(parsed.ops)} ops; the limit is {most}")
    for i, op in enumerate(parsed.ops, start=1):
        for name in ("pages", "new_pages", "count"):
            if (getattr(op, name, None) or 0) > settings.max_pages:
                raise _error(
                    422,
                    f"scenario: step {i}: {name} is beyond the limit of "
                    f"{settings.max_pages} pages (RMAPLAB_MAX_PAGES)",
                )
    return scenario_to_json(parsed)


@router.post(
    "",
    status_code=201,
    summary="Open a room: a code for the class, a key for you",
    response_model=models.Room,
    response_model_exclude_unset=True,
    responses=_statuses(
        s404="no such built-in scenario", s409="the server holds as many rooms as it may"
    ),
)
async def create_room(body: RoomCreate, request: Request) -> dict[str, Any]:
    scenario = _scenario(body.scenario, request)
    return await rooms(request).create(scenario, _designs(body.designs), body.step)


@router.get(
    "/{code}",
    summary="The room now (with the key: every question and answer)",
    response_model=models.Room,
    response_model_exclude_unset=True,
    responses=_statuses(s403=NO_KEY, s404=NO_ROOM),
)
async def get_room(code: Code, request: Request, key: Key = None) -> dict[str, Any]:
    service = rooms(request)
    room = await service.room(code)
    instructor = key is not None
    if instructor:
        service.instructor(room, key)
    return await service.document(room, instructor)


@router.post(
    "/{code}/cursor",
    summary="Move the room to a step (key)",
    response_model=models.Room,
    response_model_exclude_unset=True,
    responses=_statuses(s403=NO_KEY, s404=NO_ROOM, s409="no such step"),
)
async def move_room(
    code: Code, body: CursorBody, request: Request, key: Key = None
) -> dict[str, Any]:
    service = rooms(request)
    async with service.driving(code, key) as room:
        return await service.document(await service.move(room, body.step), True)


@router.post(
    "/{code}/designs",
    summary="Change the designs the room shows (key)",
    response_model=models.Room,
    response_model_exclude_unset=True,
    responses=_statuses(s403=NO_KEY, s404=NO_ROOM),
)
async def room_designs(
    code: Code, body: DesignsBody, request: Request, key: Key = None
) -> dict[str, Any]:
    service = rooms(request)
    async with service.driving(code, key) as room:
        return await service.document(await service.set_designs(room, _designs(body.designs)), True)


@router.post(
    "/{code}/question",
    summary="Put a question to the room, or reveal it (key)",
    response_model=models.Room,
    response_model_exclude_unset=True,
    responses=_statuses(s403=NO_KEY, s404="no such room or question"),
)
async def room_question(
    code: Code, body: QuestionBody, request: Request, key: Key = None
) -> dict[str, Any]:
    service = rooms(request)
    async with service.driving(code, key) as room:
        return await service.document(await service.ask(room, body.question, body.revealed), True)


@router.post(
    "/{code}/questions",
    status_code=201,
    summary="Ask a question of your own (key)",
    response_model=models.QuestionCreated,
    responses=_statuses(s403=NO_KEY, s404=NO_ROOM, s409="the room has as many questions as it may"),
)
async def new_question(
    code: Code, body: NewQuestion, request: Request, key: Key = None
) -> dict[str, int]:
    service = rooms(request)
    choices = None
    if body.choices is not None:
        try:
            choices = parse_choices(body.choices, "choices")
        except ScenarioError as exc:
            raise _error(422, str(exc)) from None
    async with service.driving(code, key) as room:
        return {
            "id": await service.add_question(room, body.prompt, choices, body.answer, body.step)
        }


@router.get(
    "/{code}/events",
    summary="The room's changes as server-sent events",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}},
        **_statuses(s404=NO_ROOM, s503="too many event streams are open"),
    },
)
async def room_events(
    code: Code, request: Request, last_event_id: Annotated[str | None, Header(max_length=20)] = None
) -> StreamingResponse:
    service = rooms(request)
    room = await service.room(code)
    if service.streams >= service.limits.room_streams:
        raise _error(
            503,
            f"the server has {service.limits.room_streams} event streams open, "
            "its limit (RMAPLAB_ROOM_STREAMS)",
            **{"Retry-After": "5"},
        )
    last = int(last_event_id) if last_event_id and last_event_id.isdigit() else -1
    return StreamingResponse(
        service.events(await service.channel(room), last),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get(
    "/{code}/steps/{step}",
    summary="A step as the room's followers see it",
    responses={
        200: {"model": models.StepView, "description": "the step"},
        **_statuses(s404="no such room or step"),
    },
)
async def room_step(code: Code, step: Annotated[int, Path(ge=0)], request: Request) -> Response:
    service = rooms(request)
    room = await service.room(code)
    if step > len(room.scenario["ops"]):
        raise _error(
            404, f"step {step} does not exist; the scenario has {len(room.scenario['ops'])} steps"
        )
    body = await service.views.view(room.scenario, room.designs, step)
    return Response(body, media_type="application/json")


@router.post(
    "/{code}/join",
    summary="Join the room: an anonymous participant token",
    response_model=models.Participant,
    responses=_statuses(s404=NO_ROOM, s409="the room is full"),
)
async def join_room(code: Code, request: Request) -> dict[str, str]:
    service = rooms(request)
    return {"participant": await service.join(await service.room(code))}


@router.post(
    "/{code}/answers",
    status_code=201,
    summary="Answer a question (again: replace)",
    response_model=models.Answered,
    responses=_statuses(
        s403="not a participant of the room",
        s404="no such room or question",
        s409="the question was revealed: answers are closed",
        s429="too many answers a second",
    ),
)
async def answer_question(code: Code, body: AnswerBody, request: Request) -> dict[str, Any]:
    service = rooms(request)
    return await service.answer(
        await service.room(code), body.participant, body.question, str(body.answer)
    )


@router.get(
    "/{code}/tally",
    summary="How the room answered a question (key)",
    response_model=models.Tally,
    responses=_statuses(s403=NO_KEY, s404="no such room or question"),
)
async def tally(
    code: Code, request: Request, question: Annotated[int, Query(ge=1)], key: Key = None
) -> dict[str, Any]:
    service = rooms(request)
    room = await service.room(code)
    service.instructor(room, key)
    return await service.tally(room, question)


def install(app: FastAPI) -> None:
    """Add rooms to the service: their store (in the service's database), routes, pages,
    and the built-in lessons' answers (for Predict first)."""
    settings = app.state.settings
    limits = RoomLimits.from_env()
    if settings.store:
        app.state.rooms = Rooms(
            RedisRoomStore(settings.store), limits, settings, RedisFanout(settings.store)
        )
    else:
        app.state.rooms = Rooms(SqliteRoomStore(settings.db), limits, settings)
    app.include_router(router)
    app.include_router(lessons_router)
    app.include_router(pages_router)
