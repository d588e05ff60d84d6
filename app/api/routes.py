"""The routes: parse -> session manager or engine worker -> answer. Every status is declared.

The engine never runs here: session jobs go to the session's worker, runs and comparisons
to the run worker (``Pool``); the answers come back as JSON bytes. A request whose client
disconnects cancels its job.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Awaitable, Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict

from ..engine import design_catalogue, op_to_json, parse_op
from ..engine.ops import MAX_ID
from ..scenarios import builtin_names, load_builtin, summaries
from . import models
from .errors import ErrorBody, NotFound, malformed
from .limits import op_problem
from .schemas import (
    VARIANTS,
    CompareRequest,
    OpRequest,
    RunRequest,
    SessionCreate,
    Step,
)
from .sessions import SessionManager

#: how much of a bad input an error quotes
QUOTE = 200


class _NonFinite(str):
    """A NaN or an infinity the JSON parser met (JSON itself has none)."""


def _float(text: str) -> float | _NonFinite:
    value = float(text)
    return value if math.isfinite(value) else _NonFinite(text)


def _bad_value(data: Any, loc: list[str | int]) -> dict[str, Any] | None:
    """The first non-finite number or lone surrogate in parsed JSON, as a 422 error."""
    if isinstance(data, _NonFinite):
        return {"loc": loc, "msg": f"{data[:QUOTE]} is not a finite number", "type": "finite"}
    if isinstance(data, str):
        try:
            data.encode()
        except UnicodeEncodeError:
            return {
                "loc": loc,
                "msg": "the string holds a lone surrogate (not Unicode text)",
                "type": "unicode",
            }
        return None
    items = (
        data.items()
        if isinstance(data, dict)
        else enumerate(data)
        if isinstance(data, list)
        else ()
    )
    for key, value in items:
        bad = _bad_value(key, [*loc, "(key)"]) or _bad_value(value, [*loc, key])
        if bad:
            return bad
    return None


class StrictRoute(APIRoute):
    """Bodies are parsed strictly: NaN, infinities and lone surrogates are 422s that name
    the field (Python's parser takes them; no response could carry them back)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            body = await request.body()
            if body:
                try:
                    data = json.loads(body, parse_constant=_NonFinite, parse_float=_float)
                except (ValueError, RecursionError):
                    data = None  # not JSON: FastAPI answers that itself
                else:
                    bad = _bad_value(data, ["body"])
                    if bad:
                        error = malformed([bad])
                        return JSONResponse(error.body(), status_code=error.status)
                    request._json = data
            return await handler(request)

        return strict


router = APIRouter(prefix="/api", route_class=StrictRoute)
#: a route's ``responses=``: status -> OpenAPI response (with a "model")
Responses = dict[int | str, dict[str, Any]]

E400: Responses = {400: {"model": ErrorBody, "description": "the body is not valid JSON"}}
E403: Responses = {
    403: {"model": ErrorBody, "description": "a read-only link (view id) cannot change its session"}
}
E404: Responses = {404: {"model": ErrorBody, "description": "no such session, step or scenario"}}
E409: Responses = {
    409: {
        "model": ErrorBody,
        "description": "well formed but impossible now: "
        "the engine refused the op (state "
        "unchanged), a stale expected_step, "
        "or a limit",
    }
}
E413: Responses = {413: {"model": ErrorBody, "description": "the request body is too large"}}
E422: Responses = {
    422: {
        "model": ErrorBody,
        "description": "malformed request: the location of each problem is named",
    }
}
E429: Responses = {
    429: {
        "model": ErrorBody,
        "description": "too many new sessions from this address (see Retry-After)",
    }
}
E503: Responses = {
    503: {
        "model": ErrorBody,
        "description": "the engine work ran past "
        "RMAPLAB_MAX_REQUEST_SECONDS, or "
        "the session store failed (named)",
    }
}
SessionId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
_VARIANT = "(" + "|".join(re.escape(v) for v in VARIANTS) + ")"
#: up to five design variants, comma-separated
VARIANTS_PATTERN = f"^{_VARIANT}(,{_VARIANT}){{0,4}}$"


class CursorRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    step: Step


def manager(request: Request) -> SessionManager:
    sessions: SessionManager = request.app.state.sessions
    return sessions


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def answer(request: Request, work: Awaitable[bytes | None]) -> Response:
    """The job's JSON bytes as the response; if the client goes away first, the job is
    cancelled (its worker stops) and nobody is answered."""
    job = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({job, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        if not job.done():
            job.cancel()
            await asyncio.wait({job})
    if job.cancelled():
        return Response(status_code=499)
    data = job.result()
    if data is None:
        return Response(status_code=204)
    return Response(data, media_type="application/json")


def _limits(request: Request, ops: list[Any], where: list[str | int]) -> None:
    """Sizes beyond the configured limits are refused like malformed input (422)."""
    settings = request.app.state.settings
    if len(ops) > settings.max_run_ops:
        raise malformed(
            [
                {
                    "loc": where,
                    "msg": f"{len(ops)} ops; the limit is "
                    f"{settings.max_run_ops} (RMAPLAB_MAX_RUN_OPS)",
                    "type": "limit",
                }
            ]
        )
    for i, op in enumerate(ops):
        problem = op_problem(op.engine_json(), settings)
        if problem:
            raise malformed([{"loc": [*where, i, problem[0]], "msg": problem[1], "type": "limit"}])


def ok(model: type[BaseModel], description: str, status: int = 200, **extra: Any) -> Responses:
    """The success entry of a route answering the engine worker's JSON bytes: the model
    states the body's schema (the bytes are sent as they are, not validated again)."""
    return {status: {"model": model, "description": description, **extra}}


# ----- catalogue ---------------------------------------------------------------------------


@router.get(
    "/designs",
    summary="The designs, their eras, options and size tables",
    response_model=list[models.DesignInfo],
    response_model_exclude_unset=True,
)
async def designs() -> list[dict[str, Any]]:
    return design_catalogue()


@router.get(
    "/scenarios", summary="The built-in scenarios", response_model=list[models.ScenarioSummary]
)
async def scenarios() -> list[dict[str, Any]]:
    return summaries()


@router.get(
    "/scenarios/{name}",
    summary="One built-in scenario, in the scenario format",
    response_model=models.Scenario,
    response_model_exclude_unset=True,
    responses=E404 | E422,
)
async def scenario(name: Annotated[str, Path(max_length=80)]) -> dict[str, Any]:
    if name not in builtin_names():
        raise NotFound(f"no built-in scenario {name!r}")
    return load_builtin(name)


@router.get(
    "/scenarios/{name}/view",
    summary="A built-in scenario as a read-only session "
    "(its view id; nothing is created per viewer)",
    response_class=Response,
    responses=ok(models.Session, "the read-only session at step 0") | E404 | E409 | E422 | E503,
)
async def scenario_view(
    name: Annotated[str, Path(max_length=80)],
    request: Request,
    designs: Annotated[
        str | None,
        Query(
            max_length=400,
            pattern=VARIANTS_PATTERN,
            description="design[+option...],... (default: the scenario's)",
        ),
    ] = None,
) -> Response:
    if name not in builtin_names():
        raise NotFound(f"no built-in scenario {name!r}")
    data = load_builtin(name)
    doc = {k: data.get(k) for k in ("name", "title", "description", "design", "options")}
    chosen = []
    for spec in designs.split(",") if designs else []:
        design, *options = spec.split("+")
        chosen.append({"design": design, "options": options})
    ops = [op_to_json(parse_op(op)) for op in data["ops"]]
    return await answer(request, manager(request).builtin(name, chosen, doc, ops))


# ----- sessions ----------------------------------------------------------------------------

SESSION_LINKS = {
    name: {"operationId": name, "parameters": {"session_id": "$response.body#/id"}}
    for name in (
        "get_session",
        "apply_op",
        "undo",
        "redo",
        "cursor",
        "step",
        "walk",
        "series",
        "export_scenario",
        "delete_session",
    )
}


@router.post(
    "/sessions",
    status_code=201,
    summary="Open a session (at step 0 by default)",
    operation_id="create_session",
    response_class=Response,
    responses=ok(models.Session, "the new session at its first step", 201, links=SESSION_LINKS)
    | E400
    | E404
    | E409
    | E413
    | E422
    | E429
    | E503,
)
async def create_session(request: Request, body: SessionCreate | None = None) -> Response:
    body = body or SessionCreate()
    scenario_doc = None
    ops: list[dict[str, Any]] = []
    if body.scenario is not None:
        if body.scenario not in builtin_names():
            raise NotFound(f"no built-in scenario {body.scenario!r}")
        data = load_builtin(body.scenario)
        scenario_doc = {
            k: data.get(k) for k in ("name", "title", "description", "design", "options")
        }
        ops = data["ops"]
    elif body.ops is not None:
        _limits(request, body.ops, ["body", "ops"])
        ops = [op.engine_json() for op in body.ops]
    ops = [op_to_json(parse_op(op)) for op in ops]
    client = request.client.host if request.client else "unknown"
    response = await answer(
        request,
        manager(request).create(
            client, [d.model_dump() for d in body.designs], scenario_doc, ops, body.at_step
        ),
    )
    response.status_code = 201 if response.status_code == 200 else response.status_code
    return response


@router.get(
    "/sessions/{session_id}",
    summary="The session at its current step (an id or a view id)",
    operation_id="get_session",
    response_class=Response,
    responses=ok(models.Session, "the session") | E404 | E409 | E422 | E503,
)
async def get_session(session_id: SessionId, request: Request) -> Response:
    return await answer(request, manager(request).get(session_id))


@router.post(
    "/sessions/{session_id}/ops",
    summary="Apply one op: the new step",
    operation_id="apply_op",
    response_class=Response,
    responses=ok(models.Session, "the session at the new step")
    | E400
    | E403
    | E404
    | E409
    | E413
    | E422
    | E503,
)
async def apply_op(session_id: SessionId, body: OpRequest, request: Request) -> Response:
    _limits(request, [body.op], ["body", "op"])
    return await answer(
        request, manager(request).apply_op(session_id, body.op.engine_json(), body.expected_step)
    )


@router.post(
    "/sessions/{session_id}/undo",
    summary="Step back (the redo tail is kept)",
    operation_id="undo",
    response_class=Response,
    responses=ok(models.Session, "the session one step back") | E403 | E404 | E409 | E422 | E503,
)
async def undo(session_id: SessionId, request: Request) -> Response:
    return await answer(request, manager(request).move(session_id, None, -1))


@router.post(
    "/sessions/{session_id}/redo",
    summary="Step forward along the log",
    operation_id="redo",
    response_class=Response,
    responses=ok(models.Session, "the session one step on") | E403 | E404 | E409 | E422 | E503,
)
async def redo(session_id: SessionId, request: Request) -> Response:
    return await answer(request, manager(request).move(session_id, None, +1))


@router.post(
    "/sessions/{session_id}/cursor",
    summary="Jump to any step of the log",
    operation_id="cursor",
    response_class=Response,
    responses=ok(models.Session, "the session at that step")
    | E400
    | E403
    | E404
    | E409
    | E413
    | E422
    | E503,
)
async def cursor(session_id: SessionId, body: CursorRequest, request: Request) -> Response:
    return await answer(request, manager(request).move(session_id, body.step, 0))


@router.get(
    "/sessions/{session_id}/steps/{step}",
    summary="Any step's states and events",
    operation_id="step",
    response_class=Response,
    responses=ok(models.StepView, "the step") | E404 | E409 | E422 | E503,
)
async def step(
    session_id: SessionId, step: Annotated[int, Path(ge=0, le=MAX_ID)], request: Request
) -> Response:
    return await answer(request, manager(request).step(session_id, step))


@router.get(
    "/sessions/{session_id}/walk",
    summary="The walk that would reclaim a frame now",
    operation_id="walk",
    response_class=Response,
    responses=ok(models.WalkView, "the walk, per design") | E404 | E409 | E422 | E503,
)
async def walk(
    session_id: SessionId,
    request: Request,
    pfn: Annotated[int, Query(ge=1, le=MAX_ID)],
    step: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
) -> Response:
    return await answer(request, manager(request).walk(session_id, pfn, step))


@router.get(
    "/sessions/{session_id}/counters",
    operation_id="series",
    summary="The counters after every step of the log, per design",
    response_class=Response,
    responses=ok(models.Series, "the counters, per design and step") | E404 | E409 | E422 | E503,
)
async def series(session_id: SessionId, request: Request) -> Response:
    return await answer(request, manager(request).series(session_id))


@router.get(
    "/sessions/{session_id}/scenario",
    summary="The session as a scenario file",
    operation_id="export_scenario",
    response_model=models.Scenario,
    response_model_exclude_unset=True,
    responses=E404 | E422 | E503,
)
async def export(session_id: SessionId, request: Request) -> dict[str, Any]:
    return await manager(request).scenario(session_id)


@router.delete(
    "/sessions/{session_id}",
    status_code=204,
    summary="Delete a session",
    operation_id="delete_session",
    responses=E403 | E404 | E422 | E503,
)
async def delete(session_id: SessionId, request: Request) -> Response:
    await manager(request).delete(session_id)
    return Response(status_code=204)


# ----- stateless runs ----------------------------------------------------------------------


@router.post(
    "/runs",
    summary="Run a scenario: the `rmaplab run --json` document per design",
    response_class=Response,
    responses=ok(models.Runs, "one run document per design") | E400 | E409 | E413 | E422 | E503,
)
async def runs(body: RunRequest, request: Request) -> Response:
    _limits(request, body.scenario.ops, ["body", "scenario", "ops"])
    scenario = body.scenario.engine_json()
    names = body.designs or [scenario["design"]]
    return await answer(
        request,
        manager(request).pool.stateless("run", scenario, names, body.options, body.states == "all"),
    )


@router.post(
    "/compare",
    summary="Compare designs: the `rmaplab compare --json` document",
    response_class=Response,
    responses=ok(models.Compare, "the compare document") | E400 | E409 | E413 | E422 | E503,
)
async def compare(body: CompareRequest, request: Request) -> Response:
    _limits(request, body.scenario.ops, ["body", "scenario", "ops"])
    return await answer(
        request,
        manager(request).pool.stateless("compare", body.scenario.engine_json(), body.designs),
    )
