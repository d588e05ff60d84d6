"""The scenario format: a named list of ops for one design (a contract; see docs/scenarios.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .designs import DEFAULT_DESIGN, DESIGN_NAMES
from .errors import ScenarioError
from .lessons import parse_questions
from .ops import Op, op_to_json, parse_op

SCENARIO_FIELDS = (
    "name",
    "title",
    "description",
    "design",
    "options",
    "ops",
    "designs",
    "at_step",
    "questions",
)


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    title: str
    description: str
    design: str
    options: tuple[str, ...]
    ops: tuple[Op, ...]
    #: the lesson's questions (engine/lessons.py), kept as validated JSON objects
    questions: tuple[dict[str, Any], ...] = ()


def parse_scenario(data: Any) -> Scenario:
    """A validated scenario; ``ScenarioError`` names the step, the op and the reason."""
    if not isinstance(data, Mapping):
        raise ScenarioError(f"a scenario must be a JSON object, not {type(data).__name__}")
    unknown = sorted(set(data) - set(SCENARIO_FIELDS))
    if unknown:
        raise ScenarioError(
            f"scenario: unknown field {unknown[0]!r}; the fields are {', '.join(SCENARIO_FIELDS)}"
        )
    for key in ("name", "title", "description", "design"):
        if key in data and not isinstance(data[key], str):
            raise ScenarioError(f"scenario: {key} must be a string")
    design = data.get("design", DEFAULT_DESIGN)
    if design not in DESIGN_NAMES:
        raise ScenarioError(
            f"scenario: unknown design {design!r}; the designs are {', '.join(DESIGN_NAMES)}"
        )
    options = data.get("options", [])
    if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
        raise ScenarioError("scenario: options must be a list of strings")
    ops = data.get("ops")
    if not isinstance(ops, list):
        raise ScenarioError("scenario: ops must be a list of ops")
    _check_view(data, len(ops))
    parsed = []
    for i, raw in enumerate(ops, start=1):
        try:
            parsed.append(parse_op(raw))
        except ScenarioError as exc:
            label = raw.get("op") if isinstance(raw, Mapping) else None
            raise ScenarioError(f"step {i} ({label or 'op'}): {exc}") from None
    return Scenario(
        name=data.get("name", "untitled"),
        title=data.get("title", ""),
        description=data.get("description", ""),
        design=design,
        options=tuple(options),
        ops=tuple(parsed),
        questions=parse_questions(data["questions"], len(parsed)) if "questions" in data else (),
    )


def _check_view(data: Mapping[str, Any], length: int) -> None:
    """``designs`` and ``at_step`` say how the laboratory shows the scenario (the designs side
    by side, the step it opens at); a run uses ``design`` and ``options``."""
    designs = data.get("designs", [])
    if not isinstance(designs, list) or not all(
        isinstance(d, Mapping)
        and d.get("design") in DESIGN_NAMES
        and isinstance(d.get("options", []), list)
        and set(d) <= {"design", "options"}
        for d in designs
    ):
        raise ScenarioError(
            'scenario: designs must be a list of {"design", "options"} '
            f"objects naming {', '.join(DESIGN_NAMES)}"
        )
    at_step = data.get("at_step", 0)
    if type(at_step) is not int or at_step < 0:
        raise ScenarioError(
            "scenario: at_step must be a step, a whole number from 0 (past "
            f"the last step, {length}, it means the last)"
        )


def scenario_to_json(scenario: Scenario) -> dict[str, Any]:
    """The scenario as a JSON object (the export format)."""
    out: dict[str, Any] = {
        "name": scenario.name,
        "title": scenario.title,
        "description": scenario.description,
        "design": scenario.design,
        "options": list(scenario.options),
        "ops": [op_to_json(op) for op in scenario.ops],
    }
    if scenario.questions:
        out["questions"] = list(scenario.questions)
    return out
