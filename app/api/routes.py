"""The routes: parse -> engine or session manager -> serialize. Every status is declared."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from ..engine import (
    DESIGN_NAMES,
    EngineError,
    StepFailed,
    available_designs,
    compare_scenario,
    design_class,
    op_to_json,
    parse_op,
    run_scenario,
)
from ..scenarios import builtin_names, load_builtin, summaries
from .schemas import CompareRequest, ErrorBody, OpRequest, RunRequest, SessionCreate
from .sessions import Conflict, NotFound, SessionManager, Unprocessable

router = APIRouter(prefix="/api")

E400 = {400: {"model": ErrorBody, "description": "the body is not valid JSON"}}
E404 = {404: {"model": ErrorBody, "description": "no such session, step or scenario"}}
E409 = {409: {"model": ErrorBody, "description": "well formed but impossible now: the "
                                                  "engine refused the op (state unchanged), "
                                                  "a stale expected_step, or a limit"}}
E413 = {413: {"model": ErrorBody, "description": "the request body is too large"}}
E422 = {422: {"model": ErrorBody, "description": "malformed request: the location of each "
                                                  "problem is named"}}
SessionId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class CursorRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    step: int = Field(ge=0, strict=True)


def manager(request: Request) -> SessionManager:
    return request.app.state.sessions


def _limits(request: Request, ops: list[Any], where: list[str | int]) -> None:
    """Sizes beyond the configured limits are refused like malformed input (422)."""
    settings = request.app.state.settings
    if len(ops) > settings.max_run_ops:
        raise Unprocessable([{"loc": where, "msg": f"{len(ops)} ops; the limit is "
                              f"{settings.max_run_ops} (RMAPLAB_MAX_RUN_OPS)",
                              "type": "limit"}])
    for i, op in enumerate(ops):
        for name in ("pages", "new_pages", "count"):
            value = getattr(op, name, None)
            if value is not None and value > settings.max_pages:
                raise Unprocessable([{"loc": [*where, i, name],
                                      "msg": f"{value} pages; the limit is {settings.max_pages}"
                                             " (RMAPLAB_MAX_PAGES)", "type": "limit"}])


# ----- catalogue ---------------------------------------------------------------------------


@router.get("/designs", summary="The designs, their eras, options and size tables")
async def designs() -> list[dict[str, Any]]:
    out = []
    for name in DESIGN_NAMES:
        if name not in available_designs():
            out.append({"name": name, "available": False})
            continue
        cls = design_class(name)
        out.append({"name": name, "available": True, "title": cls.title, "era": cls.era,
                    "description": cls.description, "options": cls.option_help,
                    "sizes": cls.size_table})
    return out


@router.get("/scenarios", summary="The built-in scenarios")
async def scenarios() -> list[dict[str, Any]]:
    return summaries()


@router.get("/scenarios/{name}", summary="One built-in scenario, in the scenario format",
            responses=E404 | E422)
async def scenario(name: Annotated[str, Path(max_length=80)]) -> dict[str, Any]:
    if name not in builtin_names():
        raise NotFound(f"no built-in scenario {name!r}")
    return load_builtin(name)


# ----- sessions ----------------------------------------------------------------------------


@router.post("/sessions", status_code=201, summary="Open a session (at step 0 by default)",
             operation_id="create_session",
             responses=E400 | E404 | E409 | E413 | E422 | {201: {
                 "description": "the new session at its first step",
                 "links": {name: {"operationId": name,
                                  "parameters": {"session_id": "$response.body#/id"}}
                           for name in ("get_session", "apply_op", "undo", "redo", "cursor",
                                        "step", "walk", "series", "export_scenario",
                                        "delete_session")}}})
async def create_session(body: SessionCreate, request: Request) -> dict[str, Any]:
    scenario_doc = None
    ops: list[dict[str, Any]] = []
    if body.scenario is not None:
        if body.scenario not in builtin_names():
                raise NotFound(f"no built-in scenario {body.scenario!r}")
        data = load_builtin(body.scenario)
        scenario_doc = {k: data.get(k) for k in ("name", "title", "description", "design",
                                                  "options")}
        ops = data["ops"]
    elif body.ops is not None:
        _limits(request, body.ops, ["body", "ops"])
        ops = [op.engine_json() for op in body.ops]

    ops = [op_to_json(parse_op(op)) for op in ops]
    return await manager(request).create([d.model_dump() for d in body.designs], scenario_doc,
                                         ops, body.at_step)


@router.get("/sessions/{session_id}", summary="The session at its current step",
            operation_id="get_session",
            responses=E404 | E422)
async def get_session(session_id: SessionId, request: Request) -> dict[str, Any]:
    return await manager(request).get(session_id)


@router.post("/sessions/{session_id}/ops", summary="Apply one op: the new step",
             operation_id="apply_op",
             responses=E400 | E404 | E409 | E413 | E422)
async def apply_op(session_id: SessionId, body: OpRequest, request: Request) -> dict[str, Any]:
    _limits(request, [body.op], ["body", "op"])
    return await manager(request).apply_op(session_id, body.op.engine_json(), body.expected_step)


@router.post("/sessions/{session_id}/undo", summary="Step back (the redo tail is kept)",
             operation_id="undo",
             responses=E404 | E409 | E422)
async def undo(session_id: SessionId, request: Request) -> dict[str, Any]:
    return await manager(request).move(session_id, None, -1)


@router.post("/sessions/{session_id}/redo", summary="Step forward along the log",
             operation_id="redo",
             responses=E404 | E409 | E422)
async def redo(session_id: SessionId, request: Request) -> dict[str, Any]:
    return await manager(request).move(session_id, None, +1)


@router.post("/sessions/{session_id}/cursor", summary="Jump to any step of the log",
             operation_id="cursor",
             responses=E400 | E404 | E409 | E413 | E422)
async def cursor(session_id: SessionId, body: CursorRequest, request: Request
                 ) -> dict[str, Any]:
    return await manager(request).move(session_id, body.step, 0)


@router.get("/sessions/{session_id}/steps/{step}", summary="Any step's states and events",
            operation_id="step",
            responses=E404 | E422)
async def step(session_id: SessionId, step: Annotated[int, Path(ge=0)], request: Request
               ) -> dict[str, Any]:
    return await manager(request).step(session_id, step)


@router.get("/sessions/{session_id}/walk", summary="The walk that would reclaim a frame now",
            operation_id="walk",
            responses=E404 | E422)
async def walk(session_id: SessionId, request: Request,
               pfn: Annotated[int, Query(ge=1)],
               step: Annotated[int | None, Query(ge=0)] = None) -> dict[str, Any]:
    return await manager(request).walk(session_id, pfn, step)


@router.get("/sessions/{session_id}/counters", operation_id="series",
            summary="The counters after every step of the log, per design",
            responses=E404 | E422)
async def series(session_id: SessionId, request: Request) -> dict[str, Any]:
    return await manager(request).series(session_id)


@router.get("/sessions/{session_id}/scenario", summary="The session as a scenario file",
            operation_id="export_scenario",
            responses=E404 | E422)
async def export(session_id: SessionId, request: Request) -> dict[str, Any]:
    return await manager(request).scenario(session_id)


@router.delete("/sessions/{session_id}", status_code=204, summary="Delete a session",
               operation_id="delete_session",
               responses=E404 | E422)
async def delete(session_id: SessionId, request: Request) -> Response:
    await manager(request).delete(session_id)
    return Response(status_code=204)


# ----- stateless runs ----------------------------------------------------------------------


@router.post("/runs", summary="Run a scenario: the `rmaplab run --json` document per design",
             responses=E400 | E409 | E413 | E422)
async def runs(body: RunRequest, request: Request) -> dict[str, Any]:
    _limits(request, body.scenario.ops, ["body", "scenario", "ops"])
    scenario = body.scenario.engine_json()
    names = body.designs or [scenario["design"]]
    out = []
    for name in names:
        try:
            out.append(run_scenario(scenario, design=name, options=body.options,
                                    all_states=body.states == "all"))
        except StepFailed as exc:
            raise Conflict({"message": str(exc), "design": name, "step": exc.index}) from None
        except EngineError as exc:
            raise Unprocessable(str(exc)) from None
    return {"runs": out}


@router.post("/compare", summary="Compare designs: the `rmaplab compare --json` document",
             responses=E400 | E413 | E422)
async def compare(body: CompareRequest, request: Request) -> dict[str, Any]:
    _limits(request, body.scenario.ops, ["body", "scenario", "ops"])
    try:
        return compare_scenario(body.scenario.engine_json(), body.designs)
    except EngineError as exc:
        raise Unprocessable(str(exc)) from None
