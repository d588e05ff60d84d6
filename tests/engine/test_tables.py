"""The tables a design adds are declared once (``Design.tables``): ``check.CHECKED`` and the
state document's memo keys follow the declaration, and these tests check what cannot be
derived: that every ``State`` table is covered, that each design fills only the tables it
declares, and that the checker and each part of the document read no table their memo key
leaves out (a stale verdict or a stale document would follow)."""

from __future__ import annotations

from dataclasses import fields
from functools import partial
from typing import Any

import pytest

from app.engine import EngineError, apply, new_state, parse_op, serialize
from app.engine.check import CHECKED, _check
from app.engine.designs import DESIGN_NAMES, DESIGN_TABLES, Design, design_class, get_design
from app.engine.mapindex import MapIndex
from app.engine.state import State

#: State tables the invariants do not cover: values, counters and id bookkeeping
VALUES = {"page_value", "swap_value", "counters", "next_ids", "used_pids"}
#: the tables every design uses (the bugs too: a teaching mode records them)
MACHINE = set(CHECKED) - set(DESIGN_TABLES)

OPS = [
    {"op": "spawn", "pid": 1},
    {"op": "mmap", "pid": 1, "addr": 0x1000, "pages": 4, "prot": "rw"},
    {"op": "write", "pid": 1, "addr": 0x1000, "value": 1, "pages": 4},
    {"op": "fork", "pid": 1, "child": 2},
    {"op": "write", "pid": 2, "addr": 0x1000, "value": 2},
    {"op": "fork", "pid": 2, "child": 3},
    {"op": "mprotect", "pid": 1, "addr": 0x2000, "pages": 1, "prot": "r"},
    {"op": "mremap", "pid": 1, "addr": 0x3000, "pages": 2, "new_pages": 2, "new_addr": 0x20000},
    {"op": "reclaim", "count": 3},
    {"op": "read", "pid": 1, "addr": 0x1000},
    {"op": "munmap", "pid": 2, "addr": 0x2000, "pages": 1},
    {"op": "exit", "pid": 3},
    {"op": "exit", "pid": 2},
]


def _tables(state: State) -> set[str]:
    return {
        f.name
        for f in fields(State)
        if f.name not in ("design", "options")
        and isinstance(getattr(state, f.name), dict | tuple | frozenset)
    }


def _run(design: str) -> list[State]:
    """The states of ``OPS`` (those a design refuses left out), with no option and with
    each option of the design alone."""
    states = []
    for options in ((), *((o,) for o in design_class(design).option_help)):
        state = new_state(design, options)
        states.append(state)
        for op in OPS:
            try:
                state = apply(state, parse_op(op)).state
            except EngineError:
                continue
            states.append(state)
    return states


class _Spy(State):
    """A State that records the names read from it."""

    reads: set[str]

    def __getattribute__(self, name: str) -> Any:
        object.__getattribute__(self, "reads").add(name)
        return object.__getattribute__(self, name)


def _reads(state: State, read: Any) -> set[str]:
    """The tables of ``state`` that ``read(spy)`` reads."""
    spy = object.__new__(_Spy)
    object.__getattribute__(spy, "__dict__").update(state.__dict__, reads=set())
    read(spy)
    return object.__getattribute__(spy, "reads") & _tables(state)


def test_every_state_table_is_checked_or_a_value():
    tables = _tables(new_state("anon_vma_chain"))
    assert tables - VALUES == set(CHECKED)
    assert not VALUES & set(CHECKED)


@pytest.mark.parametrize("name", DESIGN_NAMES)
def test_a_design_fills_the_tables_it_declares_and_no_other(name):
    declared = set(design_class(name).tables)
    filled = {t for state in _run(name) for t in _tables(state) if getattr(state, t)}
    assert filled - MACHINE - VALUES == declared


def _keyed(state: State, tables: set[str], key: tuple[Any, ...]) -> set[str]:
    """The tables among ``tables`` whose object is missing from a memo key."""
    return {t for t in tables if not any(getattr(state, t) is k for k in key)}


@pytest.mark.parametrize("name", DESIGN_NAMES)
def test_the_checker_and_the_document_read_only_what_their_memo_keys_hold(name):
    for state in _run(name):
        design = get_design(name, state.options)
        index = MapIndex.build(state)
        checked = _reads(state, partial(_checker_reads, design=design, index=index))
        assert checked <= set(CHECKED)
        keys = serialize._part_keys(state, design)
        parts = {
            "mms": serialize._mms,
            "pages": partial(serialize._pages, design=design),
            "swap": serialize._swap,
            "design": design.state_json,
        }
        for part, read in parts.items():
            assert not _keyed(state, _reads(state, read), keys[part]), (name, part)


def _checker_reads(state: State, design: Design, index: MapIndex) -> None:
    _check(state, design, index, None)
    design.check_key(state)
