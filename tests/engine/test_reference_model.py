"""Deterministic sequences run through the engine and the reference model together.

Each sequence checks three things at every step: the engine's outcome and values equal
the model's prediction, the state breaks no invariant, and the values the sequence
itself spells out (so the model is checked against a hand-written answer too).
"""

from __future__ import annotations

from typing import Any

import pytest

from app.engine import EngineError, apply, check, new_state, parse_op, state_to_json
from app.engine.ops import op_to_json
from tests.engine.reference_model import ACCEPT, ENGINE, REJECT, ReferenceModel

DESIGN = "anon_vma_rfc2"


class Pair:
    """The engine and the model side by side."""

    def __init__(self) -> None:
        self.state = new_state(DESIGN)
        self.model = ReferenceModel()

    def do(self, **op: Any) -> Any:
        norm = op_to_json(parse_op(op))
        verdict = self.model.judge(norm)
        assert verdict.kind != REJECT, f"the model refuses {norm}: {verdict.reason}"
        result = apply(self.state, parse_op(norm))
        pred = self.model.apply(norm)
        assert result.outcome == pred.outcome, norm
        if norm["op"] == "read":
            if norm.get("pages", 1) == 1:
                assert result.value == pred.value, norm
            else:
                assert result.result["values"] == pred.values, norm
        if norm["op"] in ("read", "write") and norm.get("pages", 1) > 1:
            assert result.result["pages_done"] == pred.pages_done, norm
        if norm["op"] == "mmap":
            assert result.result["addr"] == pred.addr == norm.get("addr", pred.addr), norm
        assert check(result.state) == [], [v.to_json() for v in check(result.state)]
        self.state = result.state
        return result

    def refused(self, **op: Any) -> str:
        """The op is refused by both, and nothing changes."""
        norm = op_to_json(parse_op(op))
        assert self.model.judge(norm).kind == REJECT, norm
        doc = state_to_json(self.state)
        with pytest.raises(EngineError) as info:
            apply(self.state, parse_op(norm))
        assert state_to_json(self.state) == doc
        return str(info.value)

    def read(self, pid: int, addr: int) -> int | None:
        """A read through both; None for SIGSEGV."""
        result = self.do(op="read", pid=pid, addr=addr)
        return result.value if result.outcome == "ok" else None

    def memory(self, pid: int) -> dict[int, int | None]:
        """Every page the model knows for ``pid``, read through the engine."""
        return {vpn << 12: self.read(pid, vpn << 12) for vpn in sorted(self.model.procs[pid])}


def test_fork_then_both_write():
    m = Pair()
    m.do(op="spawn", pid=1)
    m.do(op="mmap", pid=1, addr=0x10000, pages=2, prot="rw")
    m.do(op="write", pid=1, addr=0x10000, value=7)
    m.do(op="fork", pid=1, child=2)
    assert m.read(2, 0x10000) == 7
    m.do(op="write", pid=1, addr=0x10000, value=8)
    m.do(op="write", pid=2, addr=0x10000, value=9)
    m.do(op="write", pid=2, addr=0x11000, value=10)
    assert m.memory(1) == {0x10000: 8, 0x11000: 0}
    assert m.memory(2) == {0x10000: 9, 0x11000: 10}


def test_cow_copy_and_reuse():
    m = Pair()
    m.do(op="spawn", pid=1)
    m.do(op="mmap", pid=1, addr=0x10000, pages=1, prot="rw")
    assert m.read(1, 0x10000) == 0  # the zero page
    m.do(op="write", pid=1, addr=0x10000, value=1)  # zero page -> copy
    m.do(op="fork", pid=1, child=2)
    copied = m.do(op="write", pid=2, addr=0x10000, value=2)
    assert "cow_copy" in [e.kind for e in copied.events]
    reused = m.do(op="write", pid=1, addr=0x10000, value=3)
    assert "cow_reuse" in [e.kind for e in reused.events]
    assert (m.read(1, 0x10000), m.read(2, 0x10000)) == (3, 2)


def test_reclaim_then_read_back_from_both_processes():
    m = Pair()
    m.do(op="spawn", pid=1)
    m.do(op="mmap", pid=1, addr=0x10000, pages=3, prot="rw")
    m.do(op="write", pid=1, addr=0x10000, value=5, pages=3)
    m.do(op="write", pid=1, addr=0x12000, value=6)
    m.do(op="fork", pid=1, child=2)
    m.do(op="write", pid=2, addr=0x11000, value=7)
    m.do(op="reclaim", count=10)
    doc = state_to_json(m.state)
    assert doc["pages"] == []  # everything went to swap
    assert all(p["kind"] == "swap" for mm in doc["mms"] for p in mm["ptes"])
    assert m.memory(1) == {0x10000: 5, 0x11000: 5, 0x12000: 6}
    assert m.memory(2) == {0x10000: 5, 0x11000: 7, 0x12000: 6}
    # writes after swap-in still COW correctly
    m.do(op="write", pid=1, addr=0x10000, value=8)
    assert (m.read(1, 0x10000), m.read(2, 0x10000)) == (8, 5)
    m.do(op="reclaim", pid=2, addr=0x10000)
    assert (m.read(1, 0x10000), m.read(2, 0x10000)) == (8, 5)


def test_mremap_move_then_read_at_the_new_address():
    m = Pair()
    m.do(op="spawn", pid=1)
    m.do(op="mmap", pid=1, addr=0x10000, pages=2, prot="rw")
    m.do(op="mmap", pid=1, addr=0x12000, pages=1, prot="r")  # blocks growing in place
    m.do(op="write", pid=1, addr=0x10000, value=1)
    m.do(op="write", pid=1, addr=0x11000, value=2)
    m.do(op="reclaim", pid=1, addr=0x11000)  # one page travels as a swap entry
    m.do(op="mremap", pid=1, addr=0x10000, pages=2, new_pages=4)  # moves to 0x13000
    assert m.memory(1) == {0x12000: 0, 0x13000: 1, 0x14000: 2, 0x15000: 0, 0x16000: 0}
    assert m.read(1, 0x10000) is None  # the old range is gone
    m.do(op="mremap", pid=1, addr=0x13000, pages=2, new_pages=2, new_addr=0x30000)
    assert m.read(1, 0x30000) == 1
    assert m.read(1, 0x31000) == 2
    assert m.read(1, 0x13000) is None


def test_mremap_grow_in_place_and_shrink():
    m = Pair()
    m.do(op="spawn", pid=1)
    m.do(op="mmap", pid=1, addr=0x10000, pages=2, prot="rw")
    m.do(op="write", pid=1, addr=0x10000, value=4, pages=2)
    m.do(op="mremap", pid=1, addr=0x10000, pages=2, new_pages=3)
    assert m.memory(1) == {0x10000: 4, 0x11000: 4, 0x12000: 0}
    m.do(op="mremap", pid=1, addr=0x10000, pages=3, new_pages=1)
    assert m.memory(1) == {0x10000: 4}
    assert m.read(1, 0x11000) is None


def test_munmap_middle_then_segv():
    m = Pair()
    m.do(op="spawn", pid=1)
    m.do(op="mmap", pid=1, addr=0x10000, pages=3, prot="rw")
    m.do(op="write", pid=1, addr=0x10000, value=3, pages=3)
    m.do(op="munmap", pid=1, addr=0x11000, pages=1)
    assert m.read(1, 0x11000) is None
    assert m.do(op="write", pid=1, addr=0x11000, value=1).outcome == "segv"
    assert (m.read(1, 0x10000), m.read(1, 0x12000)) == (3, 3)
    # a multi-page read stops at the hole
    result = m.do(op="read", pid=1, addr=0x10000, pages=3)
    assert (result.outcome, result.result["values"]) == ("segv", [3])


def test_mprotect_read_only_then_writable_again():
    m = Pair()
    m.do(op="spawn", pid=1)
    m.do(op="mmap", pid=1, addr=0x10000, pages=3, prot="rw")
    m.do(op="write", pid=1, addr=0x10000, value=1, pages=3)
    m.do(op="mprotect", pid=1, addr=0x11000, pages=1, prot="r")
    assert m.do(op="write", pid=1, addr=0x11000, value=2).outcome == "segv"
    assert m.read(1, 0x11000) == 1
    m.do(op="mprotect", pid=1, addr=0x11000, pages=1, prot="rw")
    assert m.do(op="write", pid=1, addr=0x11000, value=2).outcome == "ok"
    assert m.memory(1) == {0x10000: 1, 0x11000: 2, 0x12000: 1}
    m.do(op="mprotect", pid=1, addr=0x10000, pages=3, prot="none")
    assert m.read(1, 0x10000) is None
    m.do(op="mprotect", pid=1, addr=0x10000, pages=3, prot="w")  # x86: w implies read
    assert m.memory(1) == {0x10000: 1, 0x11000: 2, 0x12000: 1}


def test_exit_of_the_parent_keeps_the_childs_data():
    m = Pair()
    m.do(op="spawn", pid=1)
    m.do(op="mmap", pid=1, addr=0x10000, pages=2, prot="rw")
    m.do(op="write", pid=1, addr=0x10000, value=1, pages=2)
    m.do(op="fork", pid=1, child=2)
    m.do(op="fork", pid=2, child=3)
    m.do(op="reclaim", pid=1, addr=0x11000)
    m.do(op="write", pid=3, addr=0x10000, value=9)
    m.do(op="exit", pid=1)
    assert m.memory(2) == {0x10000: 1, 0x11000: 1}
    assert m.memory(3) == {0x10000: 9, 0x11000: 1}
    m.do(op="exit", pid=2)
    assert m.memory(3) == {0x10000: 9, 0x11000: 1}
    assert "has exited" in m.refused(op="read", pid=1, addr=0x10000)
    assert "used before" in m.refused(op="spawn", pid=1)


def test_multi_page_write_stops_at_the_first_fault():
    m = Pair()
    m.do(op="spawn", pid=1)
    m.do(op="mmap", pid=1, addr=0x10000, pages=2, prot="rw")
    m.do(op="mmap", pid=1, addr=0x12000, pages=1, prot="r")
    result = m.do(op="write", pid=1, addr=0x10010, value=6, pages=3)
    assert (result.outcome, result.result["pages_done"]) == ("segv", 2)
    assert m.memory(1) == {0x10000: 6, 0x11000: 6, 0x12000: 0}


def test_mmap_without_address_takes_the_lowest_free_range():
    m = Pair()
    m.do(op="spawn", pid=1)
    m.do(op="mmap", pid=1, addr=0x10000, pages=1, prot="r")
    m.do(op="mmap", pid=1, addr=0x13000, pages=1, prot="r")
    m.do(op="mmap", pid=1, pages=3, prot="rw")  # does not fit in the 2-page hole
    assert sorted(m.model.procs[1]) == [0x10, 0x13, 0x14, 0x15, 0x16]
    m.do(op="mmap", pid=1, pages=2, prot="x")  # fits in the hole
    assert sorted(m.model.procs[1]) == [0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16]


def test_mmap_reports_the_address_it_mapped():
    """Regression (found by the stateful test): spawn 1; mmap 1 page rw (at 0x10000); mmap
    1 page rw goes to 0x11000 and merges into the first vma; ``result["addr"]`` used to
    say 0x10000, the survivor's vm_start."""
    state = new_state(DESIGN)
    for op in ({"op": "spawn", "pid": 1}, {"op": "mmap", "pid": 1, "pages": 1, "prot": "rw"}):
        state = apply(state, parse_op(op)).state
    result = apply(state, parse_op({"op": "mmap", "pid": 1, "pages": 1, "prot": "rw"}))
    vmas = state_to_json(result.state)["mms"][0]["vmas"]
    assert [(v["vm_start"], v["vm_end"]) for v in vmas] == [(0x10000, 0x12000)]
    assert result.result["addr"] == 0x11000


def test_judge_never_changes_the_model():
    model = ReferenceModel()
    model.apply({"op": "spawn", "pid": 1})
    model.apply({"op": "mmap", "pid": 1, "addr": 0x10000, "pages": 2, "prot": "rw"})
    before = model.snapshot()
    assert (
        model.judge({"op": "mremap", "pid": 1, "addr": 0x10000, "pages": 2, "new_pages": 3}).kind
        == ENGINE
    )  # may straddle two vmas
    assert (
        model.judge({"op": "mremap", "pid": 1, "addr": 0x10000, "pages": 1, "new_pages": 3}).kind
        == ACCEPT
    )
    assert (
        model.judge({"op": "mprotect", "pid": 1, "addr": 0x10000, "pages": 3, "prot": "r"}).kind
        == REJECT
    )
    assert model.judge({"op": "spawn", "pid": 1}).kind == REJECT
    assert model.snapshot() == before
