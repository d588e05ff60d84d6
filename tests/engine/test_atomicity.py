"""Caller mistakes are refused whole, and ``apply`` never changes its input.

* Invalid ops (table-driven): the engine raises ``OpError`` with a message naming the
  problem, and the input state is unchanged, both its document and every internal table.
* Malformed ops: ``parse_op`` raises ``ScenarioError`` naming the field.
* Valid ops: ``apply`` leaves its input untouched (and every earlier state too), and is
  deterministic.
"""

from __future__ import annotations

import copy
from dataclasses import fields
from functools import cache
from typing import Any

import pytest

from app.engine import (
    EngineError,
    OpError,
    ScenarioError,
    State,
    apply,
    check,
    new_state,
    parse_op,
    state_to_json,
)

DESIGN = "anon_vma_rfc2"
TOP = 0xC0000000 - 0x1000  # the last page below TASK_SIZE


def snapshot(state: State) -> dict[str, Any]:
    """Every field of the State, deep-copied, to compare by value."""
    return {f.name: copy.deepcopy(getattr(state, f.name)) for f in fields(State)}


def run(ops: list[dict[str, Any]], options: tuple[str, ...] = ()) -> State:
    state = new_state(DESIGN, options)
    for op in ops:
        state = apply(state, parse_op(op)).state
    return state


SETUPS: dict[str, list[dict[str, Any]]] = {
    "empty": [],
    "one": [{"op": "spawn", "pid": 1}],
    # pid 1: vma A [0x10000,0x13000) rw, vma B [0x13000,0x15000) r, vma C [0x20000,0x22000)
    # rw; pid 2 its child (one COW copy, one page swapped out and shared); pid 3 exited.
    "rich": [
        {"op": "spawn", "pid": 1},
        {"op": "mmap", "pid": 1, "addr": 0x10000, "pages": 3, "prot": "rw"},
        {"op": "mmap", "pid": 1, "addr": 0x13000, "pages": 2, "prot": "r"},
        {"op": "mmap", "pid": 1, "addr": 0x20000, "pages": 2, "prot": "rw"},
        {"op": "write", "pid": 1, "addr": 0x10000, "value": 11, "pages": 3},
        {"op": "write", "pid": 1, "addr": 0x20000, "value": 22},
        {"op": "read", "pid": 1, "addr": 0x21000},
        {"op": "read", "pid": 1, "addr": 0x13000},
        {"op": "fork", "pid": 1, "child": 2},
        {"op": "write", "pid": 2, "addr": 0x11000, "value": 33},
        {"op": "reclaim", "pid": 1, "addr": 0x10000},
        {"op": "spawn", "pid": 3},
        {"op": "exit", "pid": 3},
    ],
}


@cache
def setup(name: str) -> State:
    return run(SETUPS[name])


def test_setups_are_sound():
    for name in SETUPS:
        assert check(setup(name)) == [], name
    doc = state_to_json(setup("rich"))
    assert [mm["pid"] for mm in doc["mms"]] == [1, 2]
    assert [(v["vm_start"], v["vm_end"]) for v in doc["mms"][0]["vmas"]] == [
        (0x10000, 0x13000),
        (0x13000, 0x15000),
        (0x20000, 0x22000),
    ]
    assert any(s["ptes"] == 2 for s in doc["swap"])  # the shared page went to swap


INVALID = [
    # (id, setup, op, fragments the message must contain)
    ("read-unknown-pid", "one", {"op": "read", "pid": 9, "addr": 0x1000}, ["unknown pid 9"]),
    (
        "mmap-unknown-pid",
        "empty",
        {"op": "mmap", "pid": 1, "pages": 1, "prot": "rw"},
        ["unknown pid 1"],
    ),
    ("fork-unknown-parent", "rich", {"op": "fork", "pid": 7, "child": 8}, ["unknown pid 7"]),
    (
        "reclaim-unknown-pid",
        "rich",
        {"op": "reclaim", "pid": 9, "addr": 0x10000},
        ["unknown pid 9"],
    ),
    (
        "write-exited-pid",
        "rich",
        {"op": "write", "pid": 3, "addr": 0x10000, "value": 1},
        ["pid 3 has exited"],
    ),
    ("exit-exited-pid", "rich", {"op": "exit", "pid": 3}, ["pid 3 has exited"]),
    (
        "munmap-exited-pid",
        "rich",
        {"op": "munmap", "pid": 3, "addr": 0x10000, "pages": 1},
        ["pid 3 has exited"],
    ),
    ("merge-exited-pid", "rich", {"op": "merge", "pid": 3, "addr": 0x10000}, ["pid 3 has exited"]),
    (
        "reclaim-exited-pid",
        "rich",
        {"op": "reclaim", "pid": 3, "addr": 0x10000},
        ["pid 3 has exited"],
    ),
    (
        "fork-live-child",
        "rich",
        {"op": "fork", "pid": 1, "child": 2},
        ["fork", "pid 2", "already in use"],
    ),
    (
        "fork-self",
        "rich",
        {"op": "fork", "pid": 1, "child": 1},
        ["fork", "pid 1", "already in use"],
    ),
    (
        "fork-exited-child",
        "rich",
        {"op": "fork", "pid": 1, "child": 3},
        ["fork", "pid 3", "used before"],
    ),
    ("spawn-live", "rich", {"op": "spawn", "pid": 2}, ["spawn", "pid 2", "already in use"]),
    ("spawn-exited", "rich", {"op": "spawn", "pid": 3}, ["spawn", "pid 3", "used before"]),
    (
        "mmap-overlap-inside",
        "rich",
        {"op": "mmap", "pid": 1, "addr": 0x11000, "pages": 1, "prot": "rw"},
        ["mmap", "overlaps vma", "EEXIST"],
    ),
    (
        "mmap-overlap-start",
        "rich",
        {"op": "mmap", "pid": 1, "addr": 0x1F000, "pages": 2, "prot": "rw"},
        ["mmap", "overlaps vma", "EEXIST"],
    ),
    (
        "mmap-overlap-covering",
        "rich",
        {"op": "mmap", "pid": 1, "addr": 0xF000, "pages": 8, "prot": "r"},
        ["mmap", "overlaps vma", "EEXIST"],
    ),
    (
        "mmap-no-free-range",
        "one",
        {"op": "mmap", "pid": 1, "pages": 0xC0000, "prot": "rw"},
        ["mmap", "no free range"],
    ),
    (
        "mprotect-hole-after",
        "rich",
        {"op": "mprotect", "pid": 1, "addr": 0x13000, "pages": 4, "prot": "rw"},
        ["mprotect", "not fully mapped", "0x15000"],
    ),
    (
        "mprotect-hole-before",
        "rich",
        {"op": "mprotect", "pid": 1, "addr": 0xF000, "pages": 2, "prot": "rw"},
        ["mprotect", "not fully mapped", "0xf000"],
    ),
    (
        "mprotect-unmapped",
        "rich",
        {"op": "mprotect", "pid": 1, "addr": 0x30000, "pages": 1, "prot": "r"},
        ["mprotect", "not fully mapped"],
    ),
    (
        "mremap-across-two-vmas",
        "rich",
        {"op": "mremap", "pid": 1, "addr": 0x12000, "pages": 2, "new_pages": 2},
        ["mremap", "not inside one vma"],
    ),
    (
        "mremap-across-two-vmas-fixed",
        "rich",
        {
            "op": "mremap",
            "pid": 1,
            "addr": 0x12000,
            "pages": 2,
            "new_pages": 2,
            "new_addr": 0x40000,
        },
        ["mremap", "not inside one vma"],
    ),
    (
        "mremap-unmapped",
        "rich",
        {"op": "mremap", "pid": 1, "addr": 0x30000, "pages": 1, "new_pages": 2},
        ["mremap", "not inside one vma"],
    ),
    (
        "mremap-onto-mapped",
        "rich",
        {
            "op": "mremap",
            "pid": 1,
            "addr": 0x10000,
            "pages": 1,
            "new_pages": 1,
            "new_addr": 0x13000,
        },
        ["mremap onto a mapped range"],
    ),
    (
        "mremap-grow-onto-mapped",
        "rich",
        {
            "op": "mremap",
            "pid": 1,
            "addr": 0x20000,
            "pages": 1,
            "new_pages": 3,
            "new_addr": 0x12000,
        },
        ["mremap onto a mapped range"],
    ),
    (
        "mremap-overlaps-itself",
        "rich",
        {
            "op": "mremap",
            "pid": 1,
            "addr": 0x10000,
            "pages": 2,
            "new_pages": 2,
            "new_addr": 0x11000,
        },
        ["mremap", "overlaps the old one"],
    ),
    (
        "mremap-grow-overlaps-itself",
        "rich",
        {"op": "mremap", "pid": 1, "addr": 0x11000, "pages": 1, "new_pages": 3, "new_addr": 0xF000},
        ["mremap", "overlaps the old one"],
    ),
    (
        "mremap-no-room",
        "rich",
        {"op": "mremap", "pid": 1, "addr": 0x20000, "pages": 1, "new_pages": 0xBFFF0},
        ["mremap", "no free range"],
    ),
    (
        "merge-unmapped",
        "rich",
        {"op": "merge", "pid": 1, "addr": 0x30000},
        ["merge", "no vma", "0x30000"],
    ),
    (
        "mmap-above-task-size",
        "one",
        {"op": "mmap", "pid": 1, "addr": TOP, "pages": 2, "prot": "rw"},
        ["TASK_SIZE"],
    ),
    (
        "munmap-above-task-size",
        "rich",
        {"op": "munmap", "pid": 1, "addr": TOP, "pages": 2},
        ["munmap", "TASK_SIZE"],
    ),
    (
        "mprotect-above-task-size",
        "rich",
        {"op": "mprotect", "pid": 1, "addr": TOP, "pages": 2, "prot": "r"},
        ["mprotect", "TASK_SIZE"],
    ),
    (
        "mremap-above-task-size",
        "rich",
        {"op": "mremap", "pid": 1, "addr": TOP, "pages": 2, "new_pages": 1},
        ["mremap", "TASK_SIZE"],
    ),
    (
        "mremap-new-addr-above-task-size",
        "rich",
        {"op": "mremap", "pid": 1, "addr": 0x10000, "pages": 1, "new_pages": 2, "new_addr": TOP},
        ["mremap", "TASK_SIZE"],
    ),
    (
        "read-above-task-size",
        "rich",
        {"op": "read", "pid": 1, "addr": TOP + 5, "pages": 2},
        ["TASK_SIZE"],
    ),
    (
        "write-above-task-size",
        "rich",
        {"op": "write", "pid": 1, "addr": TOP, "value": 1, "pages": 2},
        ["TASK_SIZE"],
    ),
]


@pytest.mark.parametrize(
    ("setup_name", "op", "fragments"), [pytest.param(s, o, f, id=i) for i, s, o, f in INVALID]
)
def test_invalid_op_is_refused_and_changes_nothing(setup_name, op, fragments):
    state = setup(setup_name)
    doc = state_to_json(state)
    raw = snapshot(state)
    parsed = parse_op(op)  # well formed: the refusal is the engine's
    with pytest.raises(OpError) as info:
        apply(state, parsed)
    text = str(info.value)
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in {text!r}"
    assert state_to_json(state) == doc
    assert snapshot(state) == raw
    # and the state still works as before
    assert check(state) == []


@pytest.mark.parametrize(
    ("setup_name", "op", "fragments"), [pytest.param(s, o, f, id=i) for i, s, o, f in INVALID]
)
def test_invalid_op_is_refused_in_literal_mode_too(setup_name, op, fragments):
    state = run(SETUPS[setup_name], ("rfc2_literal",))
    raw = snapshot(state)
    with pytest.raises(OpError) as info:
        apply(state, parse_op(op))
    assert fragments[0] in str(info.value)
    assert snapshot(state) == raw


def test_the_refused_state_goes_on_as_if_nothing_happened():
    """After a refusal, the very same state gives the same results as a fresh one."""
    state = setup("rich")
    with pytest.raises(OpError):
        apply(
            state, parse_op({"op": "mremap", "pid": 1, "addr": 0x12000, "pages": 2, "new_pages": 2})
        )
    fresh = run(SETUPS["rich"])
    for pid, addr in ((1, 0x10000), (2, 0x10000), (2, 0x11000), (1, 0x20000), (2, 0x21000)):
        op = parse_op({"op": "read", "pid": pid, "addr": addr})
        got, want = apply(state, op), apply(fresh, op)
        assert got.value == want.value
        assert state_to_json(got.state) == state_to_json(want.state)


# ----- malformed ops: ScenarioError names the field -------------------------------------

MALFORMED = [
    # (id, op, fragments)
    ("not-an-object", [1, 2], ["JSON object"]),
    ("unknown-op", {"op": "frobnicate", "pid": 1}, ["unknown op", "frobnicate"]),
    ("no-op", {"pid": 1}, ["unknown op"]),
    ("unknown-field", {"op": "spawn", "pid": 1, "colour": "red"}, ["unknown field", "colour"]),
    (
        "unknown-field-read",
        {"op": "read", "pid": 1, "addr": 0, "value": 3},
        ["unknown field", "value"],
    ),
    ("missing-pid", {"op": "spawn"}, ["missing field", "pid"]),
    ("missing-prot", {"op": "mmap", "pid": 1, "pages": 1}, ["missing field", "prot"]),
    ("missing-pages", {"op": "munmap", "pid": 1, "addr": 0x1000}, ["missing field", "pages"]),
    (
        "missing-new-pages",
        {"op": "mremap", "pid": 1, "addr": 0x1000, "pages": 1},
        ["missing field", "new_pages"],
    ),
    ("missing-value", {"op": "write", "pid": 1, "addr": 0x1000}, ["missing field", "value"]),
    ("missing-child", {"op": "fork", "pid": 1}, ["missing field", "child"]),
    (
        "unaligned-mmap",
        {"op": "mmap", "pid": 1, "addr": 0x1001, "pages": 1, "prot": "r"},
        ["addr", "page-aligned"],
    ),
    (
        "unaligned-munmap",
        {"op": "munmap", "pid": 1, "addr": 0x1800, "pages": 1},
        ["addr", "page-aligned"],
    ),
    (
        "unaligned-mprotect",
        {"op": "mprotect", "pid": 1, "addr": "0x1004", "pages": 1, "prot": "r"},
        ["addr", "page-aligned"],
    ),
    (
        "unaligned-mremap",
        {"op": "mremap", "pid": 1, "addr": 0x1010, "pages": 1, "new_pages": 1},
        ["addr", "page-aligned"],
    ),
    (
        "unaligned-new-addr",
        {"op": "mremap", "pid": 1, "addr": 0x1000, "pages": 1, "new_pages": 1, "new_addr": 0x2001},
        ["new_addr", "page-aligned"],
    ),
    ("negative-addr", {"op": "read", "pid": 1, "addr": -4096}, ["addr", "negative"]),
    (
        "negative-new-addr",
        {"op": "mremap", "pid": 1, "addr": 0x1000, "pages": 1, "new_pages": 1, "new_addr": -0x1000},
        ["new_addr", "negative"],
    ),
    ("addr-above-task-size", {"op": "read", "pid": 1, "addr": 0xC0000000}, ["addr", "TASK_SIZE"]),
    ("addr-not-a-number", {"op": "read", "pid": 1, "addr": "0xzz"}, ["addr", "not an address"]),
    ("addr-float", {"op": "read", "pid": 1, "addr": 4096.0}, ["addr", "not an address"]),
    ("pages-zero", {"op": "mmap", "pid": 1, "pages": 0, "prot": "rw"}, ["pages"]),
    ("pages-negative", {"op": "munmap", "pid": 1, "addr": 0, "pages": -1}, ["pages"]),
    ("pages-too-many", {"op": "mmap", "pid": 1, "pages": 0xC0001, "prot": "rw"}, ["pages"]),
    (
        "new-pages-zero",
        {"op": "mremap", "pid": 1, "addr": 0x1000, "pages": 1, "new_pages": 0},
        ["new_pages"],
    ),
    ("count-zero", {"op": "reclaim", "count": 0}, ["count"]),
    ("bad-prot", {"op": "mmap", "pid": 1, "pages": 1, "prot": "rwxx"}, ["prot", "rwxx"]),
    (
        "prot-upper-case",
        {"op": "mprotect", "pid": 1, "addr": 0, "pages": 1, "prot": "RW"},
        ["prot"],
    ),
    ("prot-not-a-string", {"op": "mmap", "pid": 1, "pages": 1, "prot": 7}, ["prot"]),
    (
        "value-string",
        {"op": "write", "pid": 1, "addr": 0, "value": "5"},
        ["value", "not an integer"],
    ),
    (
        "value-float",
        {"op": "write", "pid": 1, "addr": 0, "value": 1.5},
        ["value", "not an integer"],
    ),
    ("value-too-big", {"op": "write", "pid": 1, "addr": 0, "value": 2**53}, ["value"]),
    (
        "bool-value",
        {"op": "write", "pid": 1, "addr": 0, "value": True},
        ["value", "not an integer"],
    ),
    ("bool-pid", {"op": "spawn", "pid": True}, ["pid", "not an integer"]),
    (
        "bool-pages",
        {"op": "mmap", "pid": 1, "pages": True, "prot": "r"},
        ["pages", "not an integer"],
    ),
    ("bool-addr", {"op": "read", "pid": 1, "addr": False}, ["addr"]),
    ("bool-child", {"op": "fork", "pid": 1, "child": True}, ["child", "not an integer"]),
    ("pid-zero", {"op": "spawn", "pid": 0}, ["pid", "positive"]),
    ("pid-string", {"op": "exit", "pid": "1"}, ["pid", "not an integer"]),
    ("pfn-zero", {"op": "reclaim", "pfn": 0}, ["pfn", "positive"]),
    ("reclaim-two-forms", {"op": "reclaim", "pfn": 1, "count": 2}, ["reclaim", "pfn", "count"]),
    (
        "reclaim-three-forms",
        {"op": "reclaim", "pfn": 1, "pid": 1, "addr": 0, "count": 1},
        ["reclaim", "pfn", "count"],
    ),
    ("reclaim-no-form", {"op": "reclaim"}, ["reclaim", "pfn", "count"]),
    ("reclaim-pid-without-addr", {"op": "reclaim", "pid": 1}, ["reclaim", "pid", "addr"]),
    ("reclaim-addr-without-pid", {"op": "reclaim", "addr": 0x1000}, ["reclaim", "pid", "addr"]),
]


@pytest.mark.parametrize(("op", "fragments"), [pytest.param(o, f, id=i) for i, o, f in MALFORMED])
def test_malformed_op_names_the_field(op, fragments):
    before = copy.deepcopy(op)
    with pytest.raises(ScenarioError) as info:
        parse_op(op)
    text = str(info.value)
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in {text!r}"
    assert op == before  # parse_op does not touch its argument either
    assert isinstance(info.value, EngineError)


# ----- apply never changes its input, even on success -------------------------------------

VARIED = [
    {"op": "spawn", "pid": 1},
    {"op": "mmap", "pid": 1, "pages": 4, "prot": "rw"},  # 0x10000
    {"op": "read", "pid": 1, "addr": 0x10000},  # zero page
    {"op": "write", "pid": 1, "addr": 0x10000, "value": 1},  # zero page -> COW copy
    {"op": "write", "pid": 1, "addr": 0x11000, "value": 2, "pages": 3},  # first touches
    {"op": "read", "pid": 1, "addr": 0x10000, "pages": 4},
    {"op": "mmap", "pid": 1, "pages": 2, "prot": "r"},  # 0x14000
    {"op": "write", "pid": 1, "addr": 0x14000, "value": 9},  # SIGSEGV
    {"op": "fork", "pid": 1, "child": 2},
    {"op": "write", "pid": 2, "addr": 0x10000, "value": 3},  # COW copy
    {"op": "write", "pid": 1, "addr": 0x10000, "value": 4},  # COW reuse
    {"op": "reclaim", "pid": 1, "addr": 0x11000},  # shared page to swap
    {"op": "read", "pid": 2, "addr": 0x11000},  # swap-in
    {"op": "write", "pid": 1, "addr": 0x11000, "value": 5},  # swap-in + COW
    {"op": "reclaim", "count": 3},
    {"op": "reclaim", "pfn": 1},
    {"op": "mprotect", "pid": 1, "addr": 0x11000, "pages": 1, "prot": "r"},  # split
    {"op": "mprotect", "pid": 1, "addr": 0x11000, "pages": 1, "prot": "rw"},  # merge back
    {"op": "merge", "pid": 1, "addr": 0x11000},
    {"op": "mremap", "pid": 1, "addr": 0x12000, "pages": 2, "new_pages": 3},  # move
    {"op": "mremap", "pid": 2, "addr": 0x10000, "pages": 4, "new_pages": 2},  # shrink
    {"op": "mremap", "pid": 2, "addr": 0x10000, "pages": 1, "new_pages": 1, "new_addr": 0x40000},
    {"op": "munmap", "pid": 1, "addr": 0x11000, "pages": 1},  # hole in the middle
    {"op": "spawn", "pid": 3},
    {"op": "mmap", "pid": 3, "addr": 0x50000, "pages": 1, "prot": "none"},
    {"op": "read", "pid": 3, "addr": 0x50000},  # SIGSEGV
    {"op": "fork", "pid": 2, "child": 4},
    {"op": "exit", "pid": 2},
    {"op": "reclaim", "count": 50},
    {"op": "read", "pid": 4, "addr": 0x40000},
    {"op": "exit", "pid": 1},
]


@pytest.mark.parametrize("options", [(), ("rfc2_literal",)], ids=["default", "literal"])
def test_apply_never_changes_its_input(options):
    state = new_state(DESIGN, options)
    history = [(state, state_to_json(state), snapshot(state))]
    for op_json in VARIED:
        op = parse_op(op_json)
        raw = snapshot(state)
        doc = state_to_json(state)
        result = apply(state, op)
        assert snapshot(state) == raw, op_json
        assert state_to_json(state) == doc, op_json
        # deterministic: the same op on the same input gives the same step
        again = apply(state, op)
        assert state_to_json(again.state) == state_to_json(result.state), op_json
        assert (again.outcome, again.value, again.result) == (
            result.outcome,
            result.value,
            result.result,
        ), op_json
        assert again.events == result.events, op_json
        assert again.walks == result.walks, op_json
        assert result.state is not state
        state = result.state
        history.append((state, state_to_json(state), snapshot(state)))
        if not options:
            assert check(state) == [], op_json
    # no later step reached back into an earlier state through a shared table
    for i, (old, doc, raw) in enumerate(history):
        assert state_to_json(old) == doc, f"state after step {i} changed later"
        assert snapshot(old) == raw, f"state after step {i} changed later"


@pytest.mark.parametrize(
    "last",
    [
        {
            "op": "mremap",
            "pid": 3,
            "addr": 0x10000,
            "pages": 1,
            "new_pages": 1,
            "new_addr": 0x40000,
        },
        {"op": "munmap", "pid": 3, "addr": 0x10000, "pages": 1},
        {"op": "mprotect", "pid": 3, "addr": 0x10000, "pages": 1, "prot": "none"},
    ],
    ids=["mremap", "munmap", "mprotect"],
)
def test_literal_mode_survives_a_freed_anon_vma(last):
    """A teaching mode shows its flaws as violations, never as a crash (§10.4 D3.6, E12).

    Regression (found by the rfc2_literal state machine): these ops used to raise
    KeyError in anon_vma_link.

    In rfc2_literal, the second fork of pid 1 hits BUG_ON(!PageDirect) and leaves vma 3 of
    pid 3 off the list of anon_vma 1; when pids 1 and 2 exit the list empties and
    anon_vma 1 is freed while vma 3 still points at it (G10). Splitting that vma (munmap,
    mprotect of part of it) or moving it must not crash.
    """
    state = run(
        [
            {"op": "spawn", "pid": 1},
            {"op": "mmap", "pid": 1, "pages": 2, "prot": "rw"},
            {"op": "write", "pid": 1, "addr": 0x10000, "value": 1},
            {"op": "fork", "pid": 1, "child": 2},
            {"op": "fork", "pid": 1, "child": 3},
            {"op": "exit", "pid": 1},
            {"op": "exit", "pid": 2},
        ],
        ("rfc2_literal",),
    )
    assert "G10" in {v.rule for v in check(state)}  # the lesson: a dangling anon_vma
    raw = snapshot(state)
    result = apply(state, parse_op(last))
    assert snapshot(state) == raw
    assert result.outcome == "ok"
    check(result.state)  # reports, does not crash
    if last["op"] != "munmap":
        assert any(e.kind == "use_after_free" for e in result.events)


def test_the_laboratory_fields_of_a_scenario_are_checked():
    from app.engine import parse_scenario

    ops = [{"op": "spawn", "pid": 1}]
    parse_scenario(
        {
            "ops": ops,
            "designs": [{"design": "anon_vma_chain", "options": ["v2_6_34"]}],
            "at_step": 1,
        }
    )
    parse_scenario({"ops": ops, "at_step": 2})  # past the last step: the last
    for bad, fragment in (
        ({"at_step": -1}, "at_step must be a step"),
        ({"at_step": True}, "at_step"),
        ({"designs": [{"design": "anon_vma_chain", "colour": 1}]}, "designs"),
        ({"designs": "pte_chain"}, "designs"),
    ):
        with pytest.raises(ScenarioError, match=fragment):
            parse_scenario({"ops": ops, **bad})
