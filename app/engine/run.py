"""Running a whole scenario: the ``rmaplab run --json`` document."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .designs import check_design
from .errors import EngineError
from .events import StepResult
from .ops import Op, apply, describe_op, new_state, op_to_json
from .scenario import Scenario, parse_scenario
from .serialize import invariants_json, state_to_json, step_to_json
from .state import State


@dataclass(frozen=True, slots=True)
class StepFailed(EngineError):
    """An op of a scenario was refused: carries the 1-based step index and the op."""

    index: int
    op: Op
    reason: str

    def __str__(self) -> str:
        return f"step {self.index} ({describe_op(self.op)}): {self.reason}"

    @property
    def op_json(self) -> dict[str, Any]:
        return op_to_json(self.op)


#: called with each step's state; raises (an ``EngineError``) to stop the run there
Guard = Callable[[int, State], None]
#: called with each step's document as it is made (to bound what a run may produce)
StepHook = Callable[[dict[str, Any]], None]


def iterate(
    scenario: Scenario,
    design: str | None = None,
    options: Iterable[str] | None = None,
    guard: Guard | None = None,
) -> Iterator[tuple[int, Op, StepResult]]:
    """Apply the scenario's ops one by one, yielding (index, op, result); ``guard`` sees
    each new state first."""
    name = design or scenario.design
    opts = frozenset(scenario.options if options is None else options)
    check_design(name, opts)
    state: State = new_state(name, opts)
    for index, op in enumerate(scenario.ops, start=1):
        try:
            result = apply(state, op)
        except EngineError as exc:
            raise StepFailed(index, op, str(exc)) from None
        state = result.state
        if guard is not None:
            guard(index, state)
        yield index, op, result


def run_scenario(
    data: Mapping[str, Any] | Scenario,
    design: str | None = None,
    options: Iterable[str] | None = None,
    all_states: bool = False,
    *,
    guard: Guard | None = None,
    on_step: StepHook | None = None,
) -> dict[str, Any]:
    """The run document of the contract for one design.

    ``options`` replaces the scenario's own options when given; ``guard`` and ``on_step``
    see each step's state and document as the run goes (the service's limits).
    """
    scenario = data if isinstance(data, Scenario) else parse_scenario(data)
    steps = []
    name = design or scenario.design
    opts = sorted(scenario.options if options is None else options)
    state = None
    for index, op, result in iterate(scenario, design, options, guard):
        doc = step_to_json(index, op_to_json(op), result, with_state=all_states)
        if on_step is not None:
            on_step(doc)
        steps.append(doc)
        state = result.state
    if state is None:
        state = new_state(name, frozenset(opts))
    return {
        "design": name,
        "options": opts,
        "scenario": {
            "name": scenario.name,
            "title": scenario.title,
            "description": scenario.description,
        },
        "steps": steps,
        "state": state_to_json(state),
        "invariants": invariants_json(state),
    }
