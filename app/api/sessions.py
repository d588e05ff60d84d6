"""Sessions: op logs with time travel, several designs stepping together.

A session is an op log, a cursor (the current step; 0 is the empty machine) and the
designs it runs. The log is the truth: any step's states are rebuilt by replaying the
log from the nearest in-memory snapshot (every ``snapshot_every`` steps, plus step 0).
Applying an op after an undo drops the redo tail, like an editor. Every change is
written to the store before the response leaves.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from ..engine import (
    EngineError,
    State,
    StepResult,
    apply,
    check_design,
    new_state,
    op_to_json,
    parse_op,
    state_to_json,
    step_to_json,
)
from ..engine.designs import DEFAULT_DESIGN
from ..engine.ops import Reclaim
from ..engine.serialize import counters_json, invariants_json
from .config import Settings
from .store import SessionRecord, SessionStore

#: sessions kept in memory at once (the others are rebuilt from the store on demand)
LIVE_SESSIONS = 256


class ServiceError(Exception):
    """An error with an HTTP status and a message that names the problem."""

    status = 400

    def __init__(self, detail: Any) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    """Well formed but impossible now: an op the engine refuses, a stale step, a limit."""

    status = 409


class Unprocessable(ServiceError):
    status = 422


Variant = tuple[str, frozenset[str]]


@dataclass
class Live:
    """A session in memory: its record, its designs, and snapshots of their states."""

    record: SessionRecord
    variants: list[Variant]
    snapshots: dict[int, tuple[State, ...]] = field(default_factory=dict)
    #: the last step computed: (step, states, the results of its op or None)
    recent: tuple[int, tuple[State, ...], tuple[StepResult, ...] | None] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def _variant_json(variant: Variant) -> dict[str, Any]:
    return {"design": variant[0], "options": sorted(variant[1])}


class SessionManager:
    """Every session operation; the routes only parse, call and serialize."""

    def __init__(self, store: SessionStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self._live: OrderedDict[str, Live] = OrderedDict()

    # ----- loading and replay -------------------------------------------------------------

    def _variants(self, designs: list[dict[str, Any]]) -> list[Variant]:
        out = []
        for d in designs:
            options = frozenset(d.get("options", []))
            try:
                check_design(d["design"], options)
            except EngineError as exc:
                raise Unprocessable(str(exc)) from None
            out.append((d["design"], options))
        return out

    def _live_session(self, session_id: str) -> Live:
        live = self._live.get(session_id)
        if live is not None:
            self._live.move_to_end(session_id)
            return live
        record = self.store.load(session_id)
        if record is None:
            raise NotFound(f"no session {session_id!r} (it never existed, was deleted, or "
                           "expired)")
        live = Live(record, self._variants(record.designs))
        live.snapshots[0] = tuple(new_state(d, o) for d, o in live.variants)
        self._remember(live)
        return live

    def _remember(self, live: Live) -> None:
        self._live[live.record.id] = live
        self._live.move_to_end(live.record.id)
        while len(self._live) > LIVE_SESSIONS:
            self._live.popitem(last=False)

    def _apply_all(self, live: Live, states: tuple[State, ...], op_json: dict[str, Any],
                   index: int) -> tuple[StepResult, ...]:
        """Apply one op to every design's state, or refuse it for all (atomic)."""
        op = parse_op(op_json)
        results = []
        for (design, _), state in zip(live.variants, states, strict=True):
            try:
                result = apply(state, op)
            except EngineError as exc:
                where = f"{design}: " if len(live.variants) > 1 else ""
                raise Conflict(f"step {index}: {where}{exc}") from None
            self._check_limits(result.state, design)
            results.append(result)
        return tuple(results)

    def _check_limits(self, state: State, design: str) -> None:
        s = self.settings
        if len(state.mms) > s.max_processes:
            raise Conflict(f"{design}: the op would make {len(state.mms)} processes; the limit "
                           f"is {s.max_processes} (RMAPLAB_MAX_PROCESSES)")
        if len(state.page_mapcount) > s.max_frames:
            raise Conflict(f"{design}: the op would allocate {len(state.page_mapcount)} frames; "
                           f"the limit is {s.max_frames} (RMAPLAB_MAX_FRAMES)")

    def _replay(self, live: Live, step: int) -> tuple[tuple[State, ...],
                                                       tuple[StepResult, ...] | None]:
        """The states at ``step`` and the results of the op that led there."""
        if live.recent is not None and live.recent[0] == step:
            return live.recent[1], live.recent[2]
        base = step - 1 if step > 0 else 0
        start = max(k for k in live.snapshots if k <= base)
        states = live.snapshots[start]
        results = None
        every = self.settings.snapshot_every
        for i in range(start, step):
            results = self._apply_all(live, states, live.record.ops[i], i + 1)
            states = tuple(r.state for r in results)
            if (i + 1) % every == 0:
                live.snapshots[i + 1] = states
        live.recent = (step, states, results)
        return states, results

    def _truncate_snapshots(self, live: Live, upto: int) -> None:
        for k in [k for k in live.snapshots if k > upto]:
            del live.snapshots[k]
        if live.recent is not None and live.recent[0] > upto:
            live.recent = None

    # ----- views ---------------------------------------------------------------------------

    def _step_view(self, live: Live, step: int) -> dict[str, Any]:
        states, results = self._replay(live, step)
        op = live.record.ops[step - 1] if step > 0 else None
        designs = []
        for i, variant in enumerate(live.variants):
            if results is None:
                state = states[i]
                view = {"index": 0, "op": None, "outcome": "ok", "value": None, "events": [],
                        "walks": [], "counters": counters_json(state), "result": {},
                        "invariants": invariants_json(state), "state": state_to_json(state)}
            else:
                view = step_to_json(step, op_to_json(parse_op(op)), results[i], with_state=True)
            designs.append({**_variant_json(variant), **view})
        return {"step": step, "op": op, "designs": designs}

    def _session_view(self, live: Live, with_log: bool = True) -> dict[str, Any]:
        """The session at its cursor; ``with_log`` adds the whole op log (``ops``), which a
        client that applied, undid or redid a step already knows."""
        r = live.record
        out = {
            "id": r.id,
            "step": r.cursor,
            "length": len(r.ops),
            "designs": [_variant_json(v) for v in live.variants],
            "scenario": r.scenario,
            "view": self._step_view(live, r.cursor),
        }
        if with_log:
            out["ops"] = r.ops
        return out

    # ----- operations ----------------------------------------------------------------------

    async def create(self, designs: list[dict[str, Any]], scenario: dict[str, Any] | None,
                     ops: list[dict[str, Any]], at_step: int | None) -> dict[str, Any]:
        """A new session over ``ops`` (all replayed once to prove they apply), at step
        ``at_step`` (default 0: step forward through the scenario with redo)."""
        s = self.settings
        if len(ops) > min(s.max_steps, s.max_run_ops):
            raise Unprocessable(f"ops: {len(ops)} ops; the limit is "
                                f"{min(s.max_steps, s.max_run_ops)}")
        if at_step is not None and at_step > len(ops):
            raise Unprocessable(f"at_step: {at_step} is beyond the {len(ops)} ops")
        if not designs:
            designs = [{"design": scenario.get("design", DEFAULT_DESIGN) if scenario else
                        DEFAULT_DESIGN,
                        "options": scenario.get("options", []) if scenario else []}]
        variants = self._variants(designs)
        now = time.time()
        record = SessionRecord(secrets.token_urlsafe(24), [_variant_json(v) for v in variants],
                               scenario, list(ops), at_step or 0, now, now)
        live = Live(record, variants)
        live.snapshots[0] = tuple(new_state(d, o) for d, o in variants)
        self._replay(live, len(ops))  # every op must apply under every design
        self._expire(s.max_sessions - 1)
        self.store.create(record)
        self._remember(live)
        return self._session_view(live)

    def _expire(self, keep: int) -> None:
        excess = self.store.count() - keep
        if excess > 0:
            for session_id in self.store.oldest_idle(excess):
                self.store.delete(session_id)
                self._live.pop(session_id, None)

    async def get(self, session_id: str) -> dict[str, Any]:
        live = self._live_session(session_id)
        async with live.lock:
            return self._session_view(live)

    async def apply_op(self, session_id: str, op_json: dict[str, Any],
                       expected_step: int | None) -> dict[str, Any]:
        live = self._live_session(session_id)
        async with live.lock:
            r = live.record
            if expected_step is not None and expected_step != r.cursor:
                raise Conflict({"message": f"the session is at step {r.cursor}, not "
                                           f"{expected_step}", "step": r.cursor})
            if r.cursor >= self.settings.max_steps:
                raise Conflict(f"the session has {r.cursor} steps; the limit is "
                               f"{self.settings.max_steps} (RMAPLAB_MAX_STEPS)")
            states, _ = self._replay(live, r.cursor)
            results = self._apply_all(live, states, op_json, r.cursor + 1)
            now = time.time()
            self.store.record_op(r.id, r.cursor, op_json, now)
            del r.ops[r.cursor:]
            r.ops.append(op_json)
            r.cursor += 1
            r.updated = now
            self._truncate_snapshots(live, r.cursor - 1)
            states = tuple(res.state for res in results)
            if r.cursor % self.settings.snapshot_every == 0:
                live.snapshots[r.cursor] = states
            live.recent = (r.cursor, states, results)
            return self._session_view(live, with_log=False)

    async def move(self, session_id: str, step: int | None, delta: int) -> dict[str, Any]:
        """Undo (-1), redo (+1) or jump to ``step`` without changing the log."""
        live = self._live_session(session_id)
        async with live.lock:
            r = live.record
            target = r.cursor + delta if step is None else step
            if target < 0:
                raise Conflict("nothing to undo: the session is at step 0")
            if target > len(r.ops):
                raise Conflict(f"nothing to redo: the session is at its last step {r.cursor}"
                               if step is None else
                               f"step {step} does not exist; the log has {len(r.ops)} steps")
            now = time.time()
            self.store.set_cursor(r.id, target, now)
            r.cursor, r.updated = target, now
            return self._session_view(live, with_log=False)

    async def step(self, session_id: str, step: int) -> dict[str, Any]:
        live = self._live_session(session_id)
        async with live.lock:
            if step > len(live.record.ops):
                raise NotFound(f"step {step} does not exist; the log has "
                               f"{len(live.record.ops)} steps")
            return self._step_view(live, step)

    async def scenario(self, session_id: str) -> dict[str, Any]:
        """The session up to its current step, as a scenario file."""
        live = self._live_session(session_id)
        async with live.lock:
            r = live.record
            base = r.scenario or {}
            design, options = live.variants[0]
            return {"name": base.get("name", "session"),
                    "title": base.get("title", ""),
                    "description": base.get("description", ""),
                    "design": design, "options": sorted(options),
                    "ops": r.ops[:r.cursor]}

    async def series(self, session_id: str) -> dict[str, Any]:
        """Per design, the counters after every step of the whole log (for the chart)."""
        live = self._live_session(session_id)
        async with live.lock:
            r = live.record
            states = live.snapshots[0]
            per_step = [[counters_json(st) for st in states]]
            for i, op in enumerate(r.ops):
                results = self._apply_all(live, states, op, i + 1)
                states = tuple(res.state for res in results)
                per_step.append([counters_json(st) for st in states])
            return {"steps": len(r.ops), "designs": [
                {**_variant_json(v), "counters": [step[k] for step in per_step]}
                for k, v in enumerate(live.variants)]}

    async def delete(self, session_id: str) -> None:
        self._live.pop(session_id, None)
        if not self.store.delete(session_id):
            raise NotFound(f"no session {session_id!r}")

    async def walk(self, session_id: str, pfn: int, step: int | None) -> dict[str, Any]:
        """What reclaiming ``pfn`` would do now, in each design, without doing it."""
        live = self._live_session(session_id)
        async with live.lock:
            at = live.record.cursor if step is None else step
            if at > len(live.record.ops):
                raise NotFound(f"step {at} does not exist")
            states, _ = self._replay(live, at)
            designs = []
            for variant, state in zip(live.variants, states, strict=True):
                result = apply(state, Reclaim(pfn=pfn))
                designs.append({**_variant_json(variant),
                                "resident": pfn in state.page_mapcount,
                                "walks": [w.to_json() for w in result.walks],
                                "events": [e.to_json() for e in result.events],
                                "result": result.result})
            return {"step": at, "pfn": pfn, "designs": designs}
