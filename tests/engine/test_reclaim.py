"""Reclaim by pfn, by PTE, by count, and the no-op forms."""

from __future__ import annotations

from app.engine import apply, parse_op, run_scenario
from app.scenarios import load_builtin

from .helpers import fork, mmap, read, reclaim, run_ops, spawn, write


def step(state, op):
    return apply(state, parse_op(op))


def test_reclaim_unallocated_frame_is_a_reported_noop():
    st = run_ops(spawn(), mmap(0x1000, 1))
    result = step(st, reclaim(9))
    assert result.result == {"not_resident": [{"pfn": 9}]}
    assert result.walks == () and result.state.swap_ptes == {}


def test_reclaim_at_pte_without_page_is_a_noop():
    st = run_ops(spawn(), mmap(0x1000, 2), read(0x1000))
    for addr in (0x1000, 0x2000):
        result = step(st, {"op": "reclaim", "pid": 1, "addr": addr})
        assert result.result == {"not_resident": [{"pid": 1, "addr": addr}]}


def test_reclaim_at_pte_reclaims_its_frame():
    st = run_ops(spawn(), mmap(0x1000, 2), write(0x1000), write(0x2000))
    result = step(st, {"op": "reclaim", "pid": 1, "addr": 0x2004})
    assert [w.pfn for w in result.walks] == [2]


def test_reclaim_count_takes_oldest_frames_first():
    st = run_ops(spawn(), mmap(0x1000, 3), write(0x3000), write(0x1000), write(0x2000))
    result = step(st, {"op": "reclaim", "count": 2})
    assert [w.pfn for w in result.walks] == [1, 2]
    assert sorted(result.state.page_mapcount) == [3]


def test_reclaim_count_beyond_resident_reports_shortfall():
    st = run_ops(spawn(), mmap(0x1000, 1), write(0x1000))
    result = step(st, {"op": "reclaim", "count": 3})
    assert result.result["short"] == {"asked": 3, "reclaimed": 1}


def test_reclaim_unmapped_swapcache_frame_needs_no_walk():
    # pid 1 reads the page back (swap cache), pid 2 still holds the slot, pid 1 COWs away
    st = run_ops(
        spawn(),
        mmap(0x1000, 1),
        write(0x1000, 4),
        fork(2),
        reclaim(1),
        read(0x1000),
        write(0x1000, 5),
    )
    assert st.page_mapcount[2] == 0
    result = step(st, reclaim(2))
    assert result.walks == ()
    assert result.state.swap_value[1] == 4 and 2 not in result.state.page_mapcount


def test_reclaim_counts_walk_costs():
    prior = run_ops(spawn(), mmap(0x1000, 2), write(0x1000), fork(2), fork(3), write(0x1000, 9))
    result = step(prior, reclaim(1))
    # list [vma 3 (pid 3), vma 1 (pid 1), vma 2 (pid 2)]: pid 1 copied away, so a miss
    walk = result.walks[0]
    assert [(v.id, v.result) for v in walk.visited] == [(3, "hit"), (1, "miss"), (2, "hit")]
    assert (walk.candidates, walk.unmapped, walk.remaining) == (3, 2, 0)
    c = result.state.counters
    assert (c["rmap_walks"], c["rmap_visits"], c["rmap_misses"], c["ptes_unmapped"]) == (1, 3, 1, 2)
    assert c["pages_reclaimed"] == 1


# ----- what the walk player reads: addresses, PTEs before and after -------------------------


def walk_of(name: str, design: str, index: int) -> dict:
    """Step ``index``'s only walk of a built-in scenario, as the step document has it."""
    doc = run_scenario(load_builtin(name), design=design)
    [walk] = doc["steps"][index - 1]["walks"]
    return walk


def page(pfn: int, writable: bool) -> dict:
    return {"kind": "page", "pfn": pfn, "slot": None, "writable": writable}


def swap(slot: int) -> dict:
    return {"kind": "swap", "pfn": None, "slot": slot, "writable": False}


def test_walk_records_vma_address_and_the_ptes_before_and_after():
    """AIM7 on 2.6.7: vma 5 and vma 4 map another frame at the same address; vma 3 hits."""
    walk = walk_of("aim7-shape", "anon_vma_267", 12)
    assert (walk["index"], walk["slot"], walk["mapcount"]) == (17, 1, 1)
    rows = [
        (
            v["id"],
            v["result"],
            v["vma_address"],
            v["vm_start"],
            v["vm_pgoff"],
            v["pte_before"],
            v["pte_after"],
        )
        for v in walk["visited"]
    ]
    assert rows == [
        (5, "miss", 0x11000, 0x10000, 16, page(18, True), page(18, True)),
        (4, "miss", 0x11000, 0x10000, 16, page(14, True), page(14, True)),
        (3, "hit", 0x11000, 0x10000, 16, page(10, True), swap(1)),
    ]
    for v in walk["visited"]:
        assert v["vma_address"] == v["vm_start"] + ((walk["index"] - v["vm_pgoff"]) << 12)


def test_walk_records_a_skip_with_the_address_outside_the_vma():
    walk = walk_of("seed-split-literal", "anon_vma_rfc2", 7)
    [v] = walk["visited"]
    assert v["result"] == "skip" and v["pte_before"] is None and v["pte_after"] is None
    assert not v["vm_start"] <= v["vma_address"] < v["vm_end"]
    assert v["vma_address"] == v["vm_start"] + ((walk["index"] - v["vm_pgoff"]) << 12)
    assert walk["mapcount"] == 1 and walk["remaining"] == 1


def test_walk_without_vmas_records_ptes_but_no_vma_fields():
    chain = walk_of("seed-story", "pte_chain", 10)
    assert chain["index"] is None and chain["mapcount"] == 2
    assert [(v["pte_before"], v["pte_after"], v["vma_address"]) for v in chain["visited"]] == [
        (page(1, False), swap(1), None),
        (page(1, False), swap(1), None),
    ]
    mm = walk_of("seed-story", "anonmm", 10)
    assert mm["index"] == 0x1000
    assert [(v["result"], v["addr"], v["vma_address"]) for v in mm["visited"]] == [
        ("miss", 0x1000, None),
        ("hit", 0x1000, None),
    ]
