"""Reclaim by pfn, by PTE, by count, and the no-op forms."""

from __future__ import annotations

from app.engine import apply, parse_op

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
    st = run_ops(spawn(), mmap(0x1000, 1), write(0x1000, 4), fork(2), reclaim(1),
                 read(0x1000), write(0x1000, 5))
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
