"""The engine work a room needs: in the engine workers, under their CPU budget, and cached.

A room's checks and step views run in the service's engine worker processes (``Pool``),
like a session's ops: off the event loop, stopped past RMAPLAB_MAX_REQUEST_SECONDS
(503, ``OverBudget``), and answered with the same errors. A room's scenario always goes
to the same worker (by its digest), which keeps its replays (``RoomSteps``). A follower's
view of a step is computed once per (scenario, designs, step) and kept, encoded, in the
service for everyone who follows: 300 followers asking for the step the instructor just
moved to cost one replay.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ..engine import (
    EngineError,
    Op,
    ScenarioError,
    State,
    apply,
    check_design,
    new_state,
    op_to_json,
    parse_scenario,
    start_to_json,
    step_to_json,
)
from ..engine.lessons import compute_answers

if TYPE_CHECKING:
    from .pool import Pool

T = TypeVar("T")
Variant = tuple[str, frozenset[str]]
#: keep every Nth step's states of a (scenario, design) to replay from
SNAPSHOT_EVERY = 16
#: encoded step views kept
VIEWS_KEPT = 512
#: (scenario, design) replays kept
REPLAYS_KEPT = 64


async def engine_call(fn: Callable[..., T], *args: Any) -> T:
    """Run engine work in a worker thread, never on the event loop (the built-in lessons'
    answers, computed once per lesson; a room's work goes to the pool)."""
    return await asyncio.to_thread(fn, *args)


def digest(scenario: dict[str, Any]) -> str:
    """A short name for a scenario's content (the cache key)."""
    text = json.dumps(scenario, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def variants_of(designs: Sequence[dict[str, Any]]) -> list[Variant]:
    """The designs as engine variants; EngineError names one that does not exist."""
    out = []
    for d in designs:
        options = frozenset(d.get("options", []))
        check_design(d["design"], options)
        out.append((d["design"], options))
    return out


def check_room(
    scenario: dict[str, Any], designs: Sequence[dict[str, Any]], max_processes: int, max_frames: int
) -> list[str | None]:
    """Prove every op applies under every design within the limits; the lesson's right
    answers. EngineError names the problem."""
    parsed = parse_scenario(scenario)
    for design, options in variants_of(designs):
        state = new_state(design, options)
        for index, op in enumerate(parsed.ops, start=1):
            try:
                state = apply(state, op).state
            except EngineError as exc:
                raise ScenarioError(f"step {index} under {design}: {exc}") from None
            if len(state.mms) > max_processes or len(state.page_mapcount) > max_frames:
                raise ScenarioError(
                    f"step {index} under {design}: more than {max_processes} "
                    f"processes or {max_frames} frames (RMAPLAB_MAX_PROCESSES, "
                    "RMAPLAB_MAX_FRAMES)"
                )
    return compute_answers(parsed.questions, parsed.ops, parsed.design, frozenset(parsed.options))


class _Replay:
    """One design's states along one scenario, with snapshots to replay from."""

    def __init__(self, ops: tuple[Op, ...], variant: Variant) -> None:
        self.ops = ops
        self.snapshots: dict[int, State] = {0: new_state(*variant)}

    def step(self, step: int) -> dict[str, Any]:
        """The view of one design at ``step``: the session step view's shape."""
        if step == 0:
            return start_to_json(self.snapshots[0])
        start = max(k for k in self.snapshots if k < step)
        state = self.snapshots[start]
        for i in range(start, step):
            result = apply(state, self.ops[i])
            state = result.state
            if (i + 1) % SNAPSHOT_EVERY == 0:
                self.snapshots[i + 1] = state
        return step_to_json(step, op_to_json(self.ops[step - 1]), result, with_state=True)


class RoomSteps:
    """The engine side of the step views (in a worker process): per (scenario, design) the
    states along the scenario, with snapshots to replay from."""

    def __init__(self) -> None:
        self._replays: OrderedDict[tuple[str, Variant], _Replay] = OrderedDict()

    def _replay(self, key: str, scenario: dict[str, Any], variant: Variant) -> _Replay:
        replay = self._replays.get((key, variant))
        if replay is None:
            replay = _Replay(parse_scenario(scenario).ops, variant)
            self._replays[(key, variant)] = replay
            while len(self._replays) > REPLAYS_KEPT:
                self._replays.popitem(last=False)
        self._replays.move_to_end((key, variant))
        return replay

    def view(
        self, key: str, scenario: dict[str, Any], variants: Sequence[Variant], step: int
    ) -> bytes:
        """The JSON of ``step`` under ``variants`` (``key``: the scenario's digest)."""
        ops = scenario["ops"]
        designs = [
            {"design": v[0], "options": sorted(v[1]), **self._replay(key, scenario, v).step(step)}
            for v in variants
        ]
        return json.dumps(
            {"step": step, "op": ops[step - 1] if step else None, "designs": designs},
            separators=(",", ":"),
        ).encode()


class StepViews:
    """Encoded step views per (scenario, designs, step), computed once, in the pool."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self._views: OrderedDict[tuple[str, tuple[Variant, ...], int], bytes] = OrderedDict()
        self._pending: dict[tuple[str, tuple[Variant, ...], int], asyncio.Task[bytes]] = {}

    async def check(
        self,
        scenario: dict[str, Any],
        designs: Sequence[dict[str, Any]],
        max_processes: int,
        max_frames: int,
    ) -> list[str | None]:
        """``check_room`` in the scenario's worker; 422 (``Unprocessable``) names what is
        wrong."""
        # the job's reply is its own value (the worker pickles it), not an encoded document
        answers = await self.pool.session(
            "room_check", digest(scenario), scenario, list(designs), max_processes, max_frames
        )
        return cast(list[str | None], answers)

    async def view(
        self, scenario: dict[str, Any], designs: Sequence[dict[str, Any]], step: int
    ) -> bytes:
        """The JSON of ``step`` under ``designs``, as the room's followers fetch it.

        Everyone asking for a view being computed waits for the same job; one of them
        going away does not stop it (the others, and the cache, still want it).
        """
        variants = tuple(variants_of(designs))
        key = (digest(scenario), variants, step)
        cached = self._views.get(key)
        if cached is not None:
            self._views.move_to_end(key)
            return cached
        task = self._pending.get(key)
        if task is None:
            task = asyncio.ensure_future(self._compute(key, scenario))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
            self._pending[key] = task
        return await asyncio.shield(task)

    async def _compute(
        self, key: tuple[str, tuple[Variant, ...], int], scenario: dict[str, Any]
    ) -> bytes:
        try:
            body = cast(
                bytes,
                await self.pool.session(
                    "room_view", key[0], scenario, [(d, sorted(o)) for d, o in key[1]], key[2]
                ),
            )
        finally:
            del self._pending[key]
        self._views[key] = body
        while len(self._views) > VIEWS_KEPT:
            self._views.popitem(last=False)
        return body
