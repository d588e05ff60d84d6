"""The built-in scenario library and scenario files (the I/O the engine does not do)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from .engine import ScenarioError

_HERE = Path(__file__).resolve().parent
#: scenarios/ of a source checkout, or app/scenarios of an installed wheel
SCENARIO_DIRS = (_HERE.parent / "scenarios", _HERE / "scenarios")


def scenario_dir() -> Path:
    """The folder of the built-in scenarios."""
    for folder in SCENARIO_DIRS:
        if folder.is_dir():
            return folder
    raise FileNotFoundError("the built-in scenarios folder is missing")


@cache
def builtin_names() -> tuple[str, ...]:
    """The names of the built-in scenarios, sorted: package data, read once (every session
    opened on a built-in scenario asks)."""
    return tuple(sorted(p.stem for p in scenario_dir().glob("*.json")))


def load_builtin(name: str) -> dict[str, Any]:
    """The JSON of a built-in scenario by name."""
    if name not in builtin_names():
        raise ScenarioError(f"no built-in scenario {name!r}; see 'rmaplab scenarios'")
    return read_json(scenario_dir() / f"{name}.json")


def read_json(path: Path) -> dict[str, Any]:
    """A scenario file's JSON, with errors that name the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScenarioError(
            f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: a scenario must be a JSON object")
    return data


def load_scenario(spec: str) -> dict[str, Any]:
    """A scenario from a file path, or a built-in scenario by name."""
    path = Path(spec)
    if path.suffix == ".json" or path.exists():
        return read_json(path)
    return load_builtin(spec)


def summaries() -> list[dict[str, Any]]:
    """Each built-in scenario's name, title, description, design, options and length."""
    out = []
    for name in builtin_names():
        data = load_builtin(name)
        out.append(
            {
                "name": name,
                "title": data.get("title", ""),
                "description": data.get("description", ""),
                "design": data.get("design"),
                "options": data.get("options", []),
                "steps": len(data.get("ops", [])),
            }
        )
    return out
