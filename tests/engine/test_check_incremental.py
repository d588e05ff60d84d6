"""The incremental checker (the service's and the CLI's default) finds exactly what the full
checker finds: after every step of random runs of every design, and for every corruption
of a step's state (a corruption is a change, so it is in what the step touched)."""

from __future__ import annotations

import importlib
import random
import sys
from pathlib import Path

import pytest

from app.engine import EngineError, apply, available_designs, new_state, parse_op
from app.engine.mapindex import MapIndex

from .helpers import corrupt
from .test_check import CASES, base

checker = importlib.import_module("app.engine.check")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from random_steps import random_op  # noqa: E402  (the benchmark's generator of valid ops)


@pytest.fixture(autouse=True)
def incremental():
    checker.set_mode("incremental")
    checker._sound.clear()
    yield
    checker.set_mode("full")
    checker._sound.clear()


def _full(state):
    design = checker.get_design(state.design, state.options)
    return sorted((v.rule, v.text) for v in
                  checker._check(state, design, MapIndex.build(state), None))


def _incremental(state):
    design = checker.get_design(state.design, state.options)
    return sorted((v.rule, v.text) for v in checker._verdict(state, design))


@pytest.mark.parametrize(("rule", "fn"), CASES, ids=[f"{r}-{f.__name__}" for r, f in CASES])
def test_a_corrupted_step_is_caught_incrementally(rule, fn):
    sound = base()
    assert _incremental(sound) == []  # remembered as the base of the next check
    assert checker._sound[-1].state is sound
    broken = corrupt(sound, fn)
    found = _incremental(broken)
    assert rule in {r for r, _ in found}
    assert found == _full(broken)


def test_the_incremental_scope_is_what_changed():
    sound = base()
    _incremental(sound)
    step = apply(sound, parse_op({"op": "write", "pid": 1, "addr": 0x2000, "value": 5}))
    index, scope = checker._advance(checker._sound[-1], step.state)
    assert scope.frames and len(scope.frames) < len(step.state.page_mapcount)
    assert {k: sorted(v) for k, v in index.page_mappers.items()} == \
        {k: sorted(v) for k, v in MapIndex.build(step.state).page_mappers.items()}


@pytest.mark.parametrize("design", [*available_designs(), "anon_vma_rfc2+rfc2_literal"])
@pytest.mark.parametrize("seed", range(3))
def test_incremental_agrees_with_full_after_every_step(design, seed):
    name, *options = design.split("+")
    rng = random.Random(seed)
    state, pids = new_state(name, tuple(options)), [0]
    for _ in range(250):
        try:
            state = apply(state, parse_op(random_op(rng, state, pids))).state
        except EngineError:
            continue
        assert _incremental(state) == _full(state)
        index = checker._sound[-1].index if checker._sound and \
            checker._sound[-1].state is state else None
        if index is not None:  # the index carried forward is the index of the state
            built = MapIndex.build(state)
            assert {k: sorted(v) for k, v in index.page_mappers.items()} == \
                {k: sorted(v) for k, v in built.page_mappers.items()}
            assert {k: sorted(v) for k, v in index.slot_holders.items()} == \
                {k: sorted(v) for k, v in built.slot_holders.items()}
            assert sorted(index.outside) == sorted(built.outside)
