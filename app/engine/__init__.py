"""The rmaplab engine: a pure, deterministic simulator of anonymous memory and its rmap.

Standard library only; no I/O, no clock, no randomness. ``apply(state, op)`` returns the
next state and never changes its input.
"""

from .check import check
from .compare import compare_scenario
from .designs import (
    DEFAULT_DESIGN,
    DESIGN_NAMES,
    Violation,
    available_designs,
    check_design,
    design_catalogue,
    design_class,
)
from .errors import DesignUnavailable, EngineError, OpError, ScenarioError
from .events import Event, StepResult, Walk
from .ops import Op, apply, describe_op, new_state, op_to_json, parse_op
from .run import StepFailed, iterate, run_scenario
from .scenario import Scenario, parse_scenario, scenario_to_json
from .serialize import (
    counters_json,
    invariants_json,
    start_to_json,
    state_to_json,
    step_to_json,
)
from .state import PAGE_SIZE, State

__all__ = [
    "DEFAULT_DESIGN",
    "DESIGN_NAMES",
    "PAGE_SIZE",
    "DesignUnavailable",
    "EngineError",
    "Event",
    "Op",
    "OpError",
    "Scenario",
    "ScenarioError",
    "State",
    "StepFailed",
    "StepResult",
    "Violation",
    "Walk",
    "apply",
    "available_designs",
    "check",
    "check_design",
    "compare_scenario",
    "counters_json",
    "describe_op",
    "design_catalogue",
    "design_class",
    "invariants_json",
    "iterate",
    "new_state",
    "op_to_json",
    "parse_op",
    "parse_scenario",
    "run_scenario",
    "scenario_to_json",
    "start_to_json",
    "state_to_json",
    "step_to_json",
]
