"""The engine side of the service: sessions' states, runs and comparisons, in a worker process.

The event loop never runs the engine. Each worker process owns a cache of session states
(``Live``): the session's op log as last sent, snapshots of the states every
``snapshot_every`` steps, the most recent step, and the counters of every step computed so
far. The service routes a session to one fixed worker, so only ops cross the pipe, never
states. A ``version`` (the log tag of store.py) names each log: a job that names another
version than the cached one gets ``NeedLog`` and the service sends the log again (``load``).

Every job runs under a CPU-time budget (``setitimer(ITIMER_PROF)``); the service cancels a
job whose client went away with SIGUSR1. Both stop the job with an exception; a session
whose job was stopped is dropped from the cache (its log is the truth).

Answers are JSON, encoded here: the service sends the bytes as they are.
"""

from __future__ import annotations

import json
import logging
import os
import signal
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from ..engine import (
    EngineError,
    State,
    StepFailed,
    StepResult,
    apply,
    compare_scenario,
    design_class,
    new_state,
    op_to_json,
    parse_op,
    run_scenario,
    step_to_json,
)
from ..engine.check import set_mode
from ..engine.designs import get_design
from ..engine.ops import Reclaim
from ..engine.serialize import counters_json, start_to_json
from .config import Settings
from .errors import Conflict, ServiceError, Unprocessable, from_engine
from .limits import response_problem, state_problem
from .room_engine import RoomSteps, check_room

log = logging.getLogger("rmaplab.worker")

Variant = tuple[str, frozenset[str]]
#: a rough size of one cached PTE or frame entry, for the cache's memory budget
ENTRY_BYTES = 120


class Stopped(BaseException):
    """The job was stopped: ``reason`` is "budget" or "cancelled". A BaseException, so no
    ``except Exception`` inside the engine can swallow it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NeedLog(Exception):
    """The worker does not hold this version of the session's log."""


_busy = False


def _stop(reason: str) -> Callable[[int, Any], None]:
    def handler(signum: int, _frame: Any) -> None:
        if _busy:
            raise Stopped(reason)

    return handler


def variant_json(variant: Variant) -> dict[str, Any]:
    return {"design": variant[0], "options": sorted(variant[1])}


def variants_of(designs: list[dict[str, Any]]) -> list[Variant]:
    out = []
    for d in designs:
        options = frozenset(d.get("options", []))
        try:
            get_design(d["design"], options)
        except EngineError as exc:
            raise from_engine(exc) from None
        out.append((d["design"], options))
    return out


@dataclass
class Live:
    """A session in this worker: its log at ``version`` and what replay has computed."""

    version: str
    variants: list[Variant]
    ops: list[dict[str, Any]]
    snapshots: dict[int, tuple[State, ...]] = field(default_factory=dict)
    #: the last step computed: (step, states, the results of its op or None)
    recent: tuple[int, tuple[State, ...], tuple[StepResult, ...] | None] | None = None
    #: counters[n]: every design's counters after step n, for the steps computed so far
    counters: list[list[dict[str, int]]] = field(default_factory=list)
    #: ``size()`` when it was last cached
    bytes: int = 0

    def size(self) -> int:
        """Estimated bytes held: every entry of every snapshot (shared tables count once
        per snapshot, so this errs high)."""
        held = [*self.snapshots.values()]
        if self.recent is not None:
            held.append(self.recent[1])
        return ENTRY_BYTES * sum(
            sum(map(len, st.ptes.values())) + len(st.page_mapcount)
            for states in held
            for st in states
        )


@dataclass(frozen=True)
class Replayed:
    """A whole log replayed (``Engine.replays``): what a new ``Live`` of it starts from."""

    snapshots: dict[int, tuple[State, ...]]
    counters: list[list[dict[str, int]]]
    recent: tuple[int, tuple[State, ...], tuple[StepResult, ...] | None] | None


#: how many replayed logs a worker keeps, and the most of the live-session memory budget
#: (RMAPLAB_LIVE_MEMORY_MB) one of them may use, as a fraction: 1/REPLAYED_SHARE
REPLAYED_KEPT = 8
REPLAYED_SHARE = 64


def encode(doc: Any, settings: Settings) -> bytes:
    """The answer's bytes, refused (409) beyond RMAPLAB_MAX_RESPONSE."""
    data = json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    problem = response_problem(len(data), settings)
    if problem:
        raise Conflict(problem)
    return data


class Engine:
    """Every job a worker runs; the service calls these through ``Pool``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.live: OrderedDict[str, Live] = OrderedDict()
        #: the estimated bytes of every cached session
        self.held = 0
        #: the replays of the rooms' scenarios routed to this worker
        self.rooms = RoomSteps()
        #: finished replays of whole logs, by designs and ops, for sessions opened on the
        #: same log (a workshop's participants all open one built-in scenario): the
        #: snapshots, the counters and the last step computed, whose states are shared
        self.replays: OrderedDict[str, Replayed] = OrderedDict()

    # ----- the cache -----------------------------------------------------------------------

    def _session(self, sid: str, version: str) -> Live:
        live = self.live.get(sid)
        if live is None or live.version != version:
            raise NeedLog
        self.live.move_to_end(sid)
        return live

    def _keep(self, sid: str, live: Live) -> None:
        """Cache ``live``; the least recently used go while the estimate (each session's as
        of its last change) is over RMAPLAB_LIVE_MEMORY_MB."""
        old = self.live.pop(sid, None)
        self.held -= old.bytes if old is not None else 0
        live.bytes = live.size()
        self.live[sid] = live
        self.held += live.bytes
        while len(self.live) > 1 and self.held > self.settings.live_memory_mb << 20:
            self.held -= self.live.popitem(last=False)[1].bytes

    def forget(self, sid: str | None) -> None:
        old = self.live.pop(sid, None) if sid is not None else None
        if old is not None:
            self.held -= old.bytes

    def load(
        self, sid: str, version: str, designs: list[dict[str, Any]], ops: list[dict[str, Any]]
    ) -> None:
        """Hold this version of the session's log (its states are rebuilt on demand)."""
        variants = variants_of(designs)
        live = Live(version, variants, list(ops))
        live.snapshots[0] = tuple(new_state(d, o) for d, o in variants)
        self._keep(sid, live)

    # ----- replay --------------------------------------------------------------------------

    def _apply_all(
        self, live: Live, states: tuple[State, ...], op_json: dict[str, Any], index: int
    ) -> tuple[StepResult, ...]:
        """Apply one op to every design's state, or refuse it for all (atomic)."""
        op = parse_op(op_json)
        results = []
        for (design, _), state in zip(live.variants, states, strict=True):
            where = f"{design}: " if len(live.variants) > 1 else ""
            try:
                result = apply(state, op)
            except EngineError as exc:
                raise from_engine(exc, f"step {index}: {where}", step=index) from None
            problem = state_problem(result.state, self.settings)
            if problem:
                raise Conflict(f"step {index}: {where}{problem}", step=index)
            results.append(result)
        return tuple(results)

    def _step_done(self, live: Live, step: int, states: tuple[State, ...]) -> None:
        if step % self.settings.snapshot_every == 0:
            live.snapshots[step] = states
        if step == len(live.counters):
            live.counters.append([counters_json(st) for st in states])

    def _replay(
        self, live: Live, step: int
    ) -> tuple[tuple[State, ...], tuple[StepResult, ...] | None]:
        """The states at ``step`` and the results of the op that led there."""
        if live.recent is not None and live.recent[0] == step:
            return live.recent[1], live.recent[2]
        base = step - 1 if step > 0 else 0
        start = max(k for k in live.snapshots if k <= base)
        if live.recent is not None and start <= live.recent[0] <= base:
            start, states = live.recent[0], live.recent[1]
        else:
            states = live.snapshots[start]
        if not live.counters:
            live.counters.append([counters_json(st) for st in live.snapshots[0]])
        results = None
        for i in range(start, step):
            results = self._apply_all(live, states, live.ops[i], i + 1)
            states = tuple(r.state for r in results)
            self._step_done(live, i + 1, states)
        live.recent = (step, states, results)
        return states, results

    # ----- views ---------------------------------------------------------------------------

    def _step_view(self, live: Live, step: int) -> dict[str, Any]:
        states, results = self._replay(live, step)
        op = live.ops[step - 1] if step > 0 else None
        designs = []
        for i, variant in enumerate(live.variants):
            if results is None:
                view = start_to_json(states[i])
            else:
                view = step_to_json(step, op_to_json(parse_op(op)), results[i], with_state=True)
            designs.append({**variant_json(variant), **view})
        return {"step": step, "op": op, "designs": designs}

    def _session_doc(self, live: Live, head: dict[str, Any], step: int, with_log: bool) -> bytes:
        doc = {
            **head,
            "designs": [variant_json(v) for v in live.variants],
            "view": self._step_view(live, step),
        }
        if with_log:
            doc["ops"] = live.ops
        return encode(doc, self.settings)

    # ----- session jobs --------------------------------------------------------------------

    def create(
        self,
        sid: str,
        version: str,
        designs: list[dict[str, Any]],
        ops: list[dict[str, Any]],
        head: dict[str, Any],
    ) -> bytes:
        """A new session: every op is replayed once to prove it applies under every design
        and within the limits (a log this worker replayed already is not replayed again:
        its states are shared); the answer is the session at ``head["step"]``."""
        self.load(sid, version, designs, ops)
        live = self.live[sid]
        key = json.dumps([live.variants, ops], sort_keys=True, default=sorted)
        done = self.replays.get(key)
        try:
            if done is None:
                self._replay(live, len(ops))
            else:
                self.replays.move_to_end(key)
                live.snapshots, live.counters = dict(done.snapshots), list(done.counters)
                live.recent = done.recent
            self._keep(sid, live)  # with its snapshots now
            data = self._session_doc(live, head, head["step"], with_log=True)
        except BaseException:
            self.forget(sid)
            raise
        if done is None and live.bytes <= (self.settings.live_memory_mb << 20) // REPLAYED_SHARE:
            self.replays[key] = Replayed(dict(live.snapshots), list(live.counters), live.recent)
            while len(self.replays) > REPLAYED_KEPT:
                self.replays.popitem(last=False)
        return data

    def view(
        self, sid: str, version: str, head: dict[str, Any], step: int, with_log: bool
    ) -> bytes:
        """The session document at ``step`` (``head`` carries id, step, length, ...)."""
        return self._session_doc(self._session(sid, version), head, step, with_log)

    def step(self, sid: str, version: str, step: int) -> bytes:
        return encode(self._step_view(self._session(sid, version), step), self.settings)

    def apply_op(
        self,
        sid: str,
        version: str,
        new_version: str,
        cursor: int,
        op_json: dict[str, Any],
        head: dict[str, Any],
    ) -> bytes:
        """Apply ``op_json`` at step ``cursor``: the log beyond is dropped. The cache moves
        to ``new_version`` only once the answer is made (a refusal changes nothing)."""
        live = self._session(sid, version)
        states, _ = self._replay(live, cursor)
        results = self._apply_all(live, states, op_json, cursor + 1)
        new_states = tuple(r.state for r in results)
        trial = Live(
            new_version,
            live.variants,
            [*live.ops[:cursor], op_json],
            {k: v for k, v in live.snapshots.items() if k <= cursor},
            (cursor + 1, new_states, results),
            live.counters[: cursor + 1],
        )
        data = self._session_doc(trial, head, cursor + 1, with_log=False)
        self._step_done(trial, cursor + 1, new_states)
        self._keep(sid, trial)
        return data

    def walk(self, sid: str, version: str, step: int, pfn: int) -> bytes:
        """What reclaiming ``pfn`` would do at ``step``, in each design, without doing it."""
        live = self._session(sid, version)
        states, _ = self._replay(live, step)
        designs = []
        for variant, state in zip(live.variants, states, strict=True):
            result = apply(state, Reclaim(pfn=pfn))
            designs.append(
                {
                    **variant_json(variant),
                    "resident": pfn in state.page_mapcount,
                    "walks": [w.to_json() for w in result.walks],
                    "events": [e.to_json() for e in result.events],
                    "result": result.result,
                }
            )
        return encode({"step": step, "pfn": pfn, "designs": designs}, self.settings)

    def series(self, sid: str, version: str) -> bytes:
        """Per design, the counters after every step of the whole log (for the chart):
        computed once per step and kept, so a second call only encodes."""
        live = self._session(sid, version)
        if len(live.counters) <= len(live.ops):
            self._replay(live, len(live.ops))
        per_step = live.counters
        return encode(
            {
                "steps": len(live.ops),
                "designs": [
                    {**variant_json(v), "counters": [step[k] for step in per_step]}
                    for k, v in enumerate(live.variants)
                ],
            },
            self.settings,
        )

    # ----- room jobs (routed by the scenario's digest, ``key``) -----------------------------

    def room_check(
        self,
        key: str,
        scenario: dict[str, Any],
        designs: list[dict[str, Any]],
        max_processes: int,
        max_frames: int,
    ) -> list[str | None]:
        """Every op of a room's scenario applies under its designs within the limits; the
        answers of its questions."""
        try:
            return check_room(scenario, designs, max_processes, max_frames)
        except EngineError as exc:
            raise Unprocessable(str(exc)) from None

    def room_view(
        self, key: str, scenario: dict[str, Any], variants: list[tuple[str, list[str]]], step: int
    ) -> bytes:
        """The JSON of a room's step under its designs (what its followers fetch)."""
        try:
            return self.rooms.view(key, scenario, [(d, frozenset(o)) for d, o in variants], step)
        except EngineError as exc:
            raise Unprocessable(str(exc)) from None

    # ----- stateless jobs ------------------------------------------------------------------

    def _sized(self) -> Callable[[dict[str, Any]], None]:
        """A step hook that stops a run once its steps alone pass RMAPLAB_MAX_RESPONSE."""
        total = 0

        def on_step(doc: dict[str, Any]) -> None:
            nonlocal total
            total += len(json.dumps(doc, separators=(",", ":")))
            problem = response_problem(total, self.settings)
            if problem:
                raise Conflict(problem)

        return on_step

    def run(
        self,
        scenario: dict[str, Any],
        designs: list[str],
        options: list[str] | None,
        all_states: bool,
    ) -> bytes:
        out = []
        on_step = self._sized()
        chosen = scenario.get("options", []) if options is None else options
        for name in designs:
            own = [o for o in chosen if o in design_class(name).option_help]
            try:
                out.append(
                    run_scenario(
                        scenario,
                        design=name,
                        options=own,
                        all_states=all_states,
                        guard=self._limit,
                        on_step=on_step if all_states else None,
                    )
                )
            except StepFailed as exc:
                raise from_engine(exc, design=name, step=exc.index) from None
            except EngineError as exc:
                raise from_engine(exc) from None
        return encode({"runs": out}, self.settings)

    def _limit(self, index: int, state: State) -> None:
        """The run stops at the first step beyond a state limit (409 with the step)."""
        problem = state_problem(state, self.settings)
        if problem:
            raise Conflict(f"step {index}: {problem}", step=index)

    def compare(self, scenario: dict[str, Any], designs: list[str] | None) -> bytes:
        try:
            doc = compare_scenario(scenario, designs, guard=self._limit)
        except EngineError as exc:
            raise from_engine(exc) from None
        return encode(doc, self.settings)


def serve(conn: Connection, settings: Settings, background: bool) -> None:
    """A worker process: run jobs from ``conn`` one at a time until it closes.

    A job is (method name, session id or None, args); the reply is ("ok", bytes or None),
    ("error", (status, detail, extra)), ("need_log", None), ("stopped", reason) or
    ("crash", message).
    """
    global _busy
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the service stops its workers itself
    signal.signal(signal.SIGPROF, _stop("budget"))
    signal.signal(signal.SIGUSR1, _stop("cancelled"))
    if background:  # runs wait for sessions: the CPU is theirs first
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        except (AttributeError, OSError):
            os.nice(19)
    set_mode("incremental")
    engine = Engine(settings)
    while True:
        try:
            name, sid, args = conn.recv()
        except (EOFError, OSError):
            return
        reply: tuple[str, Any]
        try:
            signal.setitimer(signal.ITIMER_PROF, settings.max_request_seconds)
            _busy = True
            reply = ("ok", getattr(engine, name)(*args))
        except Stopped as exc:
            engine.forget(sid)
            reply = ("stopped", exc.reason)
        except NeedLog:
            reply = ("need_log", None)
        except ServiceError as exc:
            reply = ("error", (exc.status, exc.detail, exc.extra))
        except Exception as exc:
            log.exception("engine job %s failed", name)
            engine.forget(sid)
            reply = ("crash", f"{type(exc).__name__}: {exc}")
        finally:
            _busy = False
            signal.setitimer(signal.ITIMER_PROF, 0)
        conn.send(reply)
