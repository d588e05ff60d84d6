"""A built-in scenario's lesson with its answers, for Predict first at home."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from ..engine import parse_scenario
from ..engine.lessons import compute_answers
from ..scenarios import builtin_names, load_builtin
from .errors import ErrorBody, NotFound
from .models import Lesson
from .room_engine import engine_call

router = APIRouter(prefix="/api/lessons", tags=["rooms"])
_answered: dict[str, list[dict[str, Any]]] = {}


def _lesson(name: str) -> list[dict[str, Any]]:
    scenario = parse_scenario(load_builtin(name))
    answers = compute_answers(
        scenario.questions, scenario.ops, scenario.design, frozenset(scenario.options)
    )
    return [
        {"step": q["step"], "prompt": q["prompt"], "choices": q.get("choices"), "answer": answer}
        for q, answer in zip(scenario.questions, answers, strict=True)
    ]


@router.get(
    "/{name}",
    summary="A built-in scenario's questions and their answers",
    response_model=Lesson,
    response_model_exclude_unset=True,
    responses={404: {"model": ErrorBody, "description": "no such built-in scenario"}},
)
async def lesson(name: Annotated[str, Path(max_length=80)]) -> dict[str, Any]:
    if name not in builtin_names():
        raise NotFound(f"no built-in scenario {name!r}")
    if name not in _answered:
        _answered[name] = await engine_call(_lesson, name)
    return {"name": name, "questions": _answered[name]}
