"""Lessons: the questions a scenario may ask about its steps, and the engine's answers.

A question asks about one step of the scenario (``step``, from 1): it is put to the
class while the step before it is shown, and the step itself reveals the answer. Its
answer is either written by the author (one of ``choices``) or computed from the step by
the engine, so it is always right (docs/scenarios.md, "Lessons"):

- ``walk_visits``: how many containers (vmas, mms, pte_chain entries) the rmap walks of
  the step visit; ``walk_candidates``: how many they would iterate without stopping
  once the page is unmapped everywhere;
- ``mapcount``: ``page_mapcount`` of frame ``pfn`` after the step (0 once it is freed);
- ``pte_frame``: the frame the PTE of ``pid`` at ``addr`` maps after the step ("none",
  "swap" or "zero page" when it maps no frame).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .designs import DESIGN_NAMES
from .errors import EngineError, ScenarioError
from .events import StepResult
from .ops import Op, apply, new_state, parse_address
from .state import PAGE_SHIFT, PTE_KIND, PTE_PAGE, PTE_SHIFT, PTE_SWAP, PTE_ZERO

QUESTION_FIELDS = ("step", "prompt", "choices", "answer")
#: each computed answer's kind and the fields it needs (besides ``kind`` and ``design``)
ANSWER_KINDS: dict[str, tuple[str, ...]] = {
    "walk_visits": (),
    "walk_candidates": (),
    "mapcount": ("pfn",),
    "pte_frame": ("pid", "addr"),
}
MAX_QUESTIONS = 100
MAX_CHOICES = 8
MAX_PROMPT = 500
MAX_CHOICE = 100


def _fail(i: int, message: str) -> ScenarioError:
    return ScenarioError(f"questions[{i}]: {message}")


def _positive(i: int, name: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise _fail(i, f"{name} must be a positive integer")
    return value


def _computed(i: int, answer: Mapping[str, Any]) -> dict[str, Any]:
    kind = answer.get("kind")
    if kind not in ANSWER_KINDS:
        raise _fail(i, f"answer kind {kind!r} is unknown; the kinds are {', '.join(ANSWER_KINDS)}")
    needed = ANSWER_KINDS[kind]
    unknown = sorted(set(answer) - {"kind", "design", *needed})
    if unknown:
        raise _fail(i, f"answer: unknown field {unknown[0]!r} for kind {kind}")
    out: dict[str, Any] = {"kind": kind}
    if "design" in answer:
        if answer["design"] not in DESIGN_NAMES:
            raise _fail(i, f"answer: unknown design {answer['design']!r}")
        out["design"] = answer["design"]
    for name in needed:
        if name not in answer:
            raise _fail(i, f"answer kind {kind} needs {name}")
        if name == "addr":
            try:
                parse_address(answer[name])
            except ScenarioError as exc:
                raise _fail(i, f"answer: {exc}") from None
            out[name] = answer[name]
        else:
            out[name] = _positive(i, f"answer.{name}", answer[name])
    return out


def parse_questions(raw: Any, steps: int) -> tuple[dict[str, Any], ...]:
    """The validated questions of a scenario with ``steps`` ops, as JSON objects."""
    if not isinstance(raw, list):
        raise ScenarioError("scenario: questions must be a list")
    if len(raw) > MAX_QUESTIONS:
        raise ScenarioError(f"scenario: {len(raw)} questions; the limit is {MAX_QUESTIONS}")
    out = []
    for i, q in enumerate(raw):
        if not isinstance(q, Mapping):
            raise _fail(i, "a question must be a JSON object")
        unknown = sorted(set(q) - set(QUESTION_FIELDS))
        if unknown:
            raise _fail(
                i, f"unknown field {unknown[0]!r}; the fields are {', '.join(QUESTION_FIELDS)}"
            )
        step = _positive(i, "step", q.get("step"))
        if step > steps:
            raise _fail(i, f"step {step} is beyond the scenario's {steps} steps")
        prompt = q.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip() or len(prompt) > MAX_PROMPT:
            raise _fail(i, f"prompt must be text of 1 to {MAX_PROMPT} characters")
        question: dict[str, Any] = {"step": step, "prompt": prompt}
        if "choices" in q:
            question["choices"] = parse_choices(q["choices"], f"questions[{i}]: choices")
        answer = q.get("answer")
        if isinstance(answer, Mapping):
            question["answer"] = _computed(i, answer)
        elif isinstance(answer, str):
            if answer not in question.get("choices", [answer]):
                raise _fail(i, f"answer {answer!r} is not one of the choices")
            question["answer"] = answer
        elif answer is not None:
            raise _fail(i, "answer must be a choice or an object with a kind")
        out.append(question)
    return tuple(out)


def parse_choices(raw: Any, where: str) -> list[str]:
    """A question's choices: 2 to 8 distinct short texts."""
    if (
        not isinstance(raw, list)
        or not 2 <= len(raw) <= MAX_CHOICES
        or not all(isinstance(c, str) and 0 < len(c.strip()) <= MAX_CHOICE for c in raw)
    ):
        raise ScenarioError(
            f"{where} must be a list of 2 to {MAX_CHOICES} texts of 1 to {MAX_CHOICE} characters"
        )
    if len(set(raw)) != len(raw):
        raise ScenarioError(f"{where} must be distinct")
    return list(raw)


def _answer(spec: Mapping[str, Any], result: StepResult) -> str:
    kind = spec["kind"]
    state = result.state
    if kind in ("walk_visits", "walk_candidates"):
        if not result.walks:
            raise ScenarioError("the step makes no rmap walk")
        return str(
            sum(len(w.visited) if kind == "walk_visits" else w.candidates for w in result.walks)
        )
    if kind == "mapcount":
        return str(state.page_mapcount.get(spec["pfn"], 0))
    vpn = parse_address(spec["addr"]) >> PAGE_SHIFT
    pte = state.ptes.get(spec["pid"], {}).get(vpn)
    if pte is None:
        return "none"
    return {PTE_PAGE: str(pte >> PTE_SHIFT), PTE_SWAP: "swap", PTE_ZERO: "zero page"}.get(
        pte & PTE_KIND, "none"
    )


def compute_answers(
    questions: Sequence[Mapping[str, Any]], ops: Sequence[Op], design: str, options: frozenset[str]
) -> list[str | None]:
    """Each question's right answer (None where it has none): the written choice, or
    the engine's answer computed by replaying ``ops`` under the question's design (the
    scenario's ``design`` and ``options`` by default)."""
    answers: list[str | None] = [
        q.get("answer") if isinstance(q.get("answer"), str) else None for q in questions
    ]
    by_design: dict[str, list[int]] = {}
    for i, q in enumerate(questions):
        spec = q.get("answer")
        if isinstance(spec, Mapping):
            by_design.setdefault(spec.get("design", design), []).append(i)
    for name, indices in by_design.items():
        state = new_state(name, options if name == design else frozenset())
        pending = sorted(indices, key=lambda i: questions[i]["step"])
        for index, op in enumerate(ops, start=1):
            if not pending:
                break
            try:
                result = apply(state, op)
            except EngineError as exc:
                raise ScenarioError(f"step {index} under {name}: {exc}") from None
            state = result.state
            while pending and questions[pending[0]]["step"] == index:
                i = pending.pop(0)
                try:
                    value = _answer(questions[i]["answer"], result)
                except ScenarioError as exc:
                    raise _fail(i, f"step {index} under {name}: {exc}") from None
                if "choices" in questions[i] and value not in questions[i]["choices"]:
                    raise _fail(i, f"the engine's answer {value!r} is not one of the choices")
                answers[i] = value
    return answers
