"""Faults: first touch, zero page, COW reuse and copy, swap-in (§1.1, §1.2, §1.5)."""

from __future__ import annotations

from app.engine import apply, parse_op
from app.engine.state import PG_DIRECT, PG_SWAPCACHE, PTE_ZERO_RO, mk_pte_page, mk_pte_swap

from .helpers import fork, mmap, mprotect, read, reclaim, run_ops, spawn, write


def step(state, op):
    return apply(state, parse_op(op))


def test_fault_read_maps_zero_page_without_frame():
    st = run_ops(spawn(), mmap(0x1000, 1), read(0x1000))
    assert st.ptes[1] == {1: PTE_ZERO_RO}
    assert st.page_mapcount == {} and st.anon_vmas == {}


def test_fault_write_after_zero_copies_to_direct_frame():
    st = run_ops(spawn(), mmap(0x1000, 1), read(0x1000), write(0x1000, 9))
    assert st.ptes[1] == {1: mk_pte_page(1, True)}
    assert st.page_flags[1] & PG_DIRECT and st.page_mapping[1] == 1
    assert st.counters["cow_copies"] == 1


def test_fault_read_value_of_any_byte_address():
    st = run_ops(spawn(), mmap(0x1000, 1), write(0x1ABC, 5))
    assert step(st, read(0x1FFC)).value == 5


def test_fault_segv_outcomes_change_nothing():
    st = run_ops(spawn(), mmap(0x1000, 1, "r"), mmap(0x3000, 1, "none"))
    for op in (write(0x1000), read(0x2000), read(0x3000), write(0x3000)):
        result = step(st, op)
        assert result.outcome == "segv"
        assert result.state.ptes == st.ptes and result.state.page_mapcount == st.page_mapcount


def test_fault_cow_copy_when_shared_then_reuse_by_last_mapper():
    st = run_ops(spawn(), mmap(0x1000, 1), write(0x1000, 1), fork(2), write(0x1000, 2))
    assert st.ptes[1] == {1: mk_pte_page(2, True)}  # the parent copied
    assert st.page_mapcount == {1: 1, 2: 1}
    st = step(st, write(0x1000, 3, pid=2)).state  # the child is the last mapper of frame 1
    assert st.ptes[2] == {1: mk_pte_page(1, True)}
    assert st.counters["cow_reuses"] == 1
    assert [st.page_value[1], st.page_value[2]] == [3, 2]


def test_fault_swapin_miss_then_hit():
    st = run_ops(spawn(), mmap(0x1000, 1), write(0x1000, 7), fork(2), reclaim(1))
    r1 = step(st, read(0x1000))
    assert r1.value == 7 and r1.state.counters["swapcache_hits"] == 0
    r2 = step(r1.state, read(0x1000, pid=2))
    assert r2.value == 7 and r2.state.counters["swapcache_hits"] == 1
    final = r2.state
    assert final.ptes[1] == final.ptes[2] == {1: mk_pte_page(2, False)}
    assert final.page_flags[2] & PG_SWAPCACHE and final.swap_ptes == {1: 0}


def test_fault_swapin_write_exclusive_reuses_and_keeps_swap_cache():
    st = run_ops(spawn(), mmap(0x1000, 1), write(0x1000, 7), reclaim(1), write(0x1000, 8))
    assert st.ptes[1] == {1: mk_pte_page(2, True)}
    assert st.page_flags[2] & PG_SWAPCACHE  # 2.6: swap is never full (J-13)
    assert st.swap_cache == {1: 2} and st.swap_ptes == {1: 0}


def test_fault_swapin_write_shared_copies():
    st = run_ops(spawn(), mmap(0x1000, 1), write(0x1000, 7), fork(2), reclaim(1), write(0x1000, 8))
    # frame 2 was read from slot 1 and stays in the swap cache; pid 1 gets a copy, frame 3
    assert st.ptes[1] == {1: mk_pte_page(3, True)}
    assert st.ptes[2] == {1: mk_pte_swap(1)}
    assert st.page_mapcount == {2: 0, 3: 1} and st.swap_cache == {1: 2}


def test_fault_mprotect_leaves_ptes_readonly_until_next_write():
    st = run_ops(
        spawn(),
        mmap(0x1000, 1),
        write(0x1000, 1),
        mprotect(0x1000, 1, "r"),
        mprotect(0x1000, 1, "rw"),
    )
    assert st.ptes[1] == {1: mk_pte_page(1, False)}  # J-16: 2.6 change_protection
    st = step(st, write(0x1000, 2)).state
    assert st.ptes[1] == {1: mk_pte_page(1, True)} and st.counters["cow_reuses"] == 1


def test_fault_bulk_write_is_one_folded_event_per_kind():
    st = run_ops(spawn(), mmap(0x1000, 64))
    result = step(st, {"op": "write", "pid": 1, "addr": 0x1000, "value": 3, "pages": 64})
    assert len(result.state.page_mapcount) == 64
    kinds = [e.kind for e in result.events]
    assert kinds.count("anonymous_fault") == 1 and "64 times" in result.events[0].text


def test_fault_bulk_read_reports_values_and_stops_at_segv():
    st = run_ops(spawn(), mmap(0x1000, 2), write(0x2000, 4))
    result = step(st, {"op": "read", "pid": 1, "addr": 0x1000, "pages": 3})
    assert result.outcome == "segv"
    assert result.result == {"pages_done": 2, "values": [0, 4]}
