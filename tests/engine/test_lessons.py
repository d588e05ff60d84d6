"""Lessons: the scenario format's questions, and the answers the engine computes."""

from __future__ import annotations

import pytest

from app.engine import ScenarioError, parse_scenario, scenario_to_json
from app.engine.lessons import compute_answers
from app.scenarios import builtin_names, load_builtin

OPS = [
    {"op": "spawn", "pid": 1},
    {"op": "mmap", "pid": 1, "addr": "0x10000", "pages": 1, "prot": "rw"},
    {"op": "write", "pid": 1, "addr": "0x10000", "value": 7},
    {"op": "fork", "pid": 1, "child": 2},
    {"op": "reclaim", "pfn": 1},
]


def scenario(*questions):
    return {"name": "t", "design": "anon_vma_rfc2", "ops": OPS, "questions": list(questions)}


def answers(data):
    s = parse_scenario(data)
    return compute_answers(s.questions, s.ops, s.design, frozenset(s.options))


def test_questions_are_kept_by_the_parser_and_the_export():
    q = {"step": 4, "prompt": "mapcount?", "answer": {"kind": "mapcount", "pfn": 1}}
    assert scenario_to_json(parse_scenario(scenario(q)))["questions"] == [q]
    assert "questions" not in scenario_to_json(parse_scenario({"ops": OPS}))


def test_engine_answers_follow_the_step():
    assert answers(
        scenario(
            {"step": 3, "prompt": "a", "answer": {"kind": "mapcount", "pfn": 1}},
            {"step": 4, "prompt": "b", "answer": {"kind": "mapcount", "pfn": 1}},
            {"step": 4, "prompt": "c", "answer": {"kind": "pte_frame", "pid": 2, "addr": 65536}},
            {"step": 5, "prompt": "d", "answer": {"kind": "walk_visits"}},
            {
                "step": 5,
                "prompt": "e",
                "answer": {"kind": "pte_frame", "pid": 2, "addr": "0x10000"},
            },
            {"step": 5, "prompt": "f", "answer": {"kind": "mapcount", "pfn": 1}},
            {"step": 2, "prompt": "g", "choices": ["yes", "no"], "answer": "no"},
            {"step": 2, "prompt": "h", "choices": ["yes", "no"]},
        )
    ) == ["1", "2", "1", "2", "swap", "0", "no", None]


def test_an_answer_may_name_another_design():
    q = {"step": 5, "prompt": "walk", "answer": {"kind": "walk_visits", "design": "pte_chain"}}
    assert answers(scenario(q)) == ["2"]


@pytest.mark.parametrize(
    ("question", "message"),
    [
        ({"step": 9, "prompt": "x"}, "beyond the scenario's 5 steps"),
        ({"step": 0, "prompt": "x"}, "step must be a positive integer"),
        ({"step": 1, "prompt": ""}, "prompt must be text"),
        ({"step": 1, "prompt": "x", "colour": 1}, "unknown field 'colour'"),
        ({"step": 1, "prompt": "x", "choices": ["a"]}, "list of 2 to 8 texts"),
        ({"step": 1, "prompt": "x", "choices": ["a", "a"]}, "must be distinct"),
        (
            {"step": 1, "prompt": "x", "choices": ["a", "b"], "answer": "c"},
            "not one of the choices",
        ),
        ({"step": 1, "prompt": "x", "answer": {"kind": "guess"}}, "answer kind 'guess' is unknown"),
        ({"step": 1, "prompt": "x", "answer": {"kind": "mapcount"}}, "needs pfn"),
        (
            {"step": 1, "prompt": "x", "answer": {"kind": "mapcount", "pfn": 1, "pid": 1}},
            "unknown field 'pid'",
        ),
        (
            {"step": 1, "prompt": "x", "answer": {"kind": "pte_frame", "pid": 1, "addr": -1}},
            "negative",
        ),
        ({"step": 1, "prompt": "x", "answer": 3}, "answer must be a choice or an object"),
    ],
)
def test_bad_questions_are_refused_by_name(question, message):
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(scenario(question))


def test_an_answer_the_step_cannot_give_is_refused():
    with pytest.raises(ScenarioError, match="step 2 under anon_vma_rfc2: the step makes no"):
        answers(scenario({"step": 2, "prompt": "x", "answer": {"kind": "walk_visits"}}))
    with pytest.raises(ScenarioError, match="the engine's answer '2' is not one of"):
        answers(
            scenario(
                {
                    "step": 4,
                    "prompt": "x",
                    "choices": ["0", "1"],
                    "answer": {"kind": "mapcount", "pfn": 1},
                }
            )
        )


@pytest.mark.parametrize("name", builtin_names())
def test_every_builtin_lesson_computes(name):
    data = load_builtin(name)
    assert len(answers(data)) == len(data.get("questions", []))


def test_the_lessons_of_the_seed_and_aim7():
    assert answers(load_builtin("seed-story")) == ["2", "none", "1", "no, it is refused", "2", "2"]
    assert answers(load_builtin("aim7-shape")) == ["2", "6", "3", "1", "5"]
