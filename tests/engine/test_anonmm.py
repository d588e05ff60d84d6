"""D2, Hugh Dickins's anonmm (2004): its objects, its rules, mremap's COW break, the walk,
the checker (D2.1-D2.5, each caught when planted) and the sizes."""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.engine import apply, available_designs, check, new_state, parse_op, state_to_json
from app.engine.designs import design_class
from app.engine.designs.anonmm import StructAnonmm
from app.engine.errors import DesignUnavailable
from app.engine.state import PG_ANON, PTE_WRITE, State, mk_pte_page, mk_pte_swap

from .helpers import (
    corrupt,
    fork,
    mmap,
    mprotect,
    mremap,
    munmap,
    read,
    reclaim,
    rules,
    run_ops,
    spawn,
    write,
)

D2 = "anonmm"


def d2(*ops) -> State:
    return run_ops(*ops, design=D2)


def step(state, op):
    return apply(state, parse_op(op))


def exit_(pid):
    return {"op": "exit", "pid": pid}


def anonmms(state):
    """Each anonmm as (id, pid, head, ring, count)."""
    return [
        (a["id"], a["pid"], a["head"], a["ring"], a["count"])
        for a in state_to_json(state)["anonmms"]
    ]


def frames(state):
    """Each frame as (pfn, anonmm or None, index, mapcount)."""
    return [
        (p["pfn"], p["mapping"]["id"] if p["mapping"] else None, p["index"], p["mapcount"])
        for p in state_to_json(state)["pages"]
    ]


def ptes(state, pid):
    """(addr, kind, pfn or slot, writable) of each PTE of ``pid``."""
    mm = next(m for m in state_to_json(state)["mms"] if m["pid"] == pid)
    return [
        (p["addr"], p["kind"], p["pfn"] if p["kind"] == "page" else p["slot"], p["writable"])
        for p in mm["ptes"]
    ]


def swap(state):
    return [(s["slot"], s["ptes"], s["cached_pfn"]) for s in state_to_json(state)["swap"]]


# ----- registration and the state document -----------------------------------------------


def test_d2_is_available_with_no_options():
    assert D2 in available_designs()
    cls = design_class(D2)
    assert cls.option_help == {}
    assert cls.anon_pgoff_linear is False
    with pytest.raises(DesignUnavailable, match="has no option"):
        new_state(D2, ("rfc2_literal",))


def test_d2_state_document_has_anonmms_and_no_anon_vmas():
    doc = state_to_json(d2(spawn(), mmap(0x1000, 1), write(0x1000, 5), fork(2)))
    assert doc["anon_vmas"] == []
    assert doc["anonmms"] == [
        {"id": 1, "pid": 1, "head": 1, "ring": [1, 2], "count": 4},
        {"id": 2, "pid": 2, "head": 1, "ring": [1, 2], "count": 1},
    ]
    assert doc["pages"][0]["mapping"] == {"kind": "anonmm", "id": 1}
    assert doc["pages"][0]["index"] == 0x1000
    assert [v["anon_vma"] for m in doc["mms"] for v in m["vmas"]] == [None, None]


# ----- exec_rmap, dup_rmap, exit_rmap ------------------------------------------------------


def test_d2_exec_makes_a_head_with_count_two():
    assert anonmms(d2(spawn())) == [(1, 1, 1, [1], 2)]


def test_d2_each_exec_has_its_own_ring():
    state = d2(spawn(1), spawn(2), fork(3, pid=2))
    assert anonmms(state) == [(1, 1, 1, [1], 2), (2, 2, 2, [2, 3], 3), (3, 3, 2, [2, 3], 1)]


def test_d2_fork_of_a_child_joins_the_tail_of_the_head_ring():
    state = d2(spawn(), fork(2), fork(3, pid=2), fork(4))
    assert anonmms(state) == [
        (1, 1, 1, [1, 2, 3, 4], 5),
        (2, 2, 1, [1, 2, 3, 4], 1),
        (3, 3, 1, [1, 2, 3, 4], 1),
        (4, 4, 1, [1, 2, 3, 4], 1),
    ]


def test_d2_fork_changes_no_page():
    before = d2(spawn(), mmap(0x1000, 3), write(0x1000), write(0x2000), write(0x3000))
    after = step(before, fork(2)).state
    assert [(p, a, i) for p, a, i, _ in frames(after)] == [
        (p, a, i) for p, a, i, _ in frames(before)
    ]
    assert [mc for *_, mc in frames(after)] == [2, 2, 2]


def test_d2_exit_of_a_child_with_private_pages_frees_its_anonmm():
    state = d2(spawn(), mmap(0x1000, 2), write(0x1000), fork(2), write(0x2000, pid=2), exit_(2))
    assert anonmms(state) == [(1, 1, 1, [1], 3)]
    assert frames(state) == [(1, 1, 0x1000, 1)]


def test_d2_exit_of_the_only_process_frees_the_head():
    result = step(d2(spawn(), mmap(0x1000, 1), write(0x1000)), exit_(1))
    assert anonmms(result.state) == []
    assert "anonmm_free" in [e.kind for e in result.events]


def test_d2_dead_head_lingers_while_a_child_maps_its_page():
    state = d2(spawn(), mmap(0x1000, 1), write(0x1000), fork(2), exit_(1))
    # no mm, one page (F1, mapped by the child), its self-reference, one other member
    assert anonmms(state) == [(1, None, 1, [1, 2], 3), (2, 2, 1, [1, 2], 1)]
    walk = step(state, reclaim(1)).walks[0]
    assert walk.via == {
        "kind": "anonmm",
        "id": 1,
        "note": "its mm has exited: passed over, not probed",
    }
    assert [(v.id, v.result) for v in walk.visited] == [(2, "hit")]
    assert walk.candidates == 1
    state = step(state, reclaim(1)).state
    assert anonmms(state) == [(1, None, 1, [1, 2], 2), (2, 2, 1, [1, 2], 1)]
    result = step(state, exit_(2))
    assert anonmms(result.state) == []
    assert [e.kind for e in result.events].count("anonmm_free") == 2
    assert check(result.state) == []


def test_d2_dead_member_is_freed_by_the_zap_that_unmaps_its_last_page():
    # S13 without the reclaim: G's exit drops the last page pinning AM.C
    state = d2(
        spawn(),
        mmap(0x1000, 2),
        write(0x1000),
        fork(2),
        write(0x2000, pid=2),
        fork(3, pid=2),
        exit_(2),
    )
    assert anonmms(state)[1] == (2, None, 1, [1, 2, 3], 1)
    state = step(state, exit_(3)).state
    assert anonmms(state) == [(1, 1, 1, [1], 3)]
    assert check(state) == []


# ----- faults ----------------------------------------------------------------------------


def test_d2_read_fault_uses_no_anonmm_reference():
    assert anonmms(d2(spawn(), mmap(0x1000, 1), read(0x1000))) == [(1, 1, 1, [1], 2)]


def test_d2_cow_copy_points_at_the_faulting_mm():
    state = d2(spawn(), mmap(0x1000, 1), write(0x1000), fork(2), write(0x1000, 7, pid=2))
    assert frames(state) == [(1, 1, 0x1000, 1), (2, 2, 0x1000, 1)]
    assert anonmms(state) == [(1, 1, 1, [1, 2], 4), (2, 2, 1, [1, 2], 2)]


def test_d2_cow_reuse_at_home_changes_nothing():
    state = d2(spawn(), mmap(0x1000, 1), write(0x1000), fork(2), write(0x1000, 7, pid=2))
    result = step(state, write(0x1000, 8))  # P reuses F1, already AM.P at 0x1000
    assert "page_update_anon_rmap" not in [e.kind for e in result.events]
    assert frames(result.state) == frames(state)


def test_d2_swap_in_of_an_unmapped_page_registers_the_faulting_mm():
    state = d2(spawn(), mmap(0x1000, 1), write(0x1000, 5), fork(2), reclaim(1), read(0x1000, pid=2))
    assert frames(state) == [(2, 2, 0x1000, 1)]  # F2 read back for C: AM.C now, not AM.P
    state = step(state, read(0x1000)).state  # P: a swap-cache hit maps it a second time
    assert frames(state) == [(2, 2, 0x1000, 2)]
    walk = step(state, reclaim(2)).walks[0]
    assert walk.via == {"kind": "anonmm", "id": 2}
    assert [(v.id, v.result) for v in walk.visited] == [(2, "hit"), (1, "hit")]


def test_d2_walk_wraps_round_the_ring_from_the_page_anonmm():
    # F2 belongs to AM.C1 (anonmm 2), shared by C1 and its child G (anonmm 4): the walk
    # starts at AM.C1, then AM.C2 (3), G (4), then wraps round to the head AM.P (1).
    state = d2(
        spawn(),
        mmap(0x1000, 1),
        write(0x1000),
        fork(2),
        fork(3),
        write(0x1000, 9, pid=2),
        fork(4, pid=2),
    )
    walk = step(state, reclaim(2)).walks[0]
    assert [(v.id, v.result) for v in walk.visited] == [(2, "hit"), (3, "miss"), (4, "hit")]
    assert walk.candidates == 4


def test_d2_walk_counts_a_live_mm_with_no_resident_page():
    """J-11: every live mm of the ring is a candidate (the kernel's ``rss`` shortcut is
    not modelled); only exited ones are passed over."""
    state = d2(
        spawn(),
        mmap(0x1000, 1),
        write(0x1000),
        fork(2),
        fork(3),
        munmap(0x1000, 1, pid=2),
        write(0x1000, 3, pid=3),
    )
    result = step(state, reclaim(1))
    walk = result.walks[0]
    assert [(v.id, v.result) for v in walk.visited] == [(1, "hit")]
    assert walk.candidates == 3
    assert "anonmm_skip" not in [e.kind for e in result.events]


def test_d2_walk_narrates_the_exited_anonmms_it_passes_over():
    state = d2(
        spawn(),
        mmap(0x1000, 2),
        write(0x1000),
        fork(2),
        write(0x2000, pid=2),
        fork(3, pid=2),
        fork(4, pid=3),
        exit_(2),
        exit_(1),
    )
    result = step(state, reclaim(2))
    skip = next(e for e in result.events if e.kind == "anonmm_skip")
    assert "anonmms 2 and 1 have no mm (exited)" in skip.text  # AM.C and the head AM.P
    assert "the candidates are the 2 live mms" in skip.text
    walk = result.walks[0]
    assert [(v.id, v.result) for v in walk.visited] == [(3, "hit"), (4, "hit")]
    assert walk.candidates == 2


# ----- mremap: break COW before moving (anobjrmap 7/6) --------------------------------------


def test_d2_mremap_of_private_pages_only_updates_the_index():
    result = step(
        d2(spawn(), mmap(0x1000, 2), write(0x1000), write(0x2000)), mremap(0x1000, 2, 2, 0x8000)
    )
    assert frames(result.state) == [(1, 1, 0x8000, 1), (2, 1, 0x9000, 1)]
    assert result.state.counters["cow_copies"] == 0
    assert check(result.state) == []


def test_d2_mremap_copies_a_shared_page_and_keeps_a_private_read_only_one():
    state = d2(
        spawn(),
        mmap(0x1000, 2),
        write(0x1000, 1),
        write(0x2000, 2),
        fork(2),
        write(0x1000, 3, pid=2),
    )  # F1 private to P (ro), F2 shared
    state = step(state, mremap(0x1000, 2, 2, 0x8000)).state
    assert ptes(state, 1) == [(0x8000, "page", 1, False), (0x9000, "page", 4, True)]
    assert ptes(state, 2) == [(0x1000, "page", 3, True), (0x2000, "page", 2, False)]
    assert frames(state) == [
        (1, 1, 0x8000, 1),
        (2, 1, 0x2000, 1),
        (3, 2, 0x1000, 1),
        (4, 1, 0x9000, 1),
    ]
    assert check(state) == []


def test_d2_mremap_repoints_an_inherited_private_page():
    # F1 was first mapped by P; after P's COW copy only C maps it (ro, AM.P): C's mremap
    # moves it to AM.C without a copy.
    state = d2(spawn(), mmap(0x1000, 1), write(0x1000), fork(2), write(0x1000, 4))
    assert frames(state)[0] == (1, 1, 0x1000, 1)
    result = step(state, mremap(0x1000, 1, 1, 0x8000, pid=2))
    assert frames(result.state)[0] == (1, 2, 0x8000, 1)
    assert ptes(result.state, 2) == [(0x8000, "page", 1, False)]
    assert result.state.counters["cow_copies"] == 1  # P's, not mremap's
    assert "page_update_anon_rmap" in [e.kind for e in result.events]


def test_d2_mremap_copies_a_swap_cache_page_whose_slot_is_held_elsewhere():
    state = d2(
        spawn(), mmap(0x1000, 1), write(0x1000, 5), fork(2), reclaim(1), read(0x1000)
    )  # F2 in the swap cache, mapped by P, slot held by C's PTE
    assert swap(state) == [(1, 1, 2)]
    state = step(state, mremap(0x1000, 1, 1, 0x8000)).state
    assert ptes(state, 1) == [(0x8000, "page", 3, True)]
    assert swap(state) == [(1, 1, 2)]  # F2 stays cached for C
    assert frames(state) == [(2, None, 0x1000, 0), (3, 1, 0x8000, 1)]
    assert check(state) == []


def test_d2_mremap_swaps_in_and_copies_a_shared_swap_entry():
    state = d2(spawn(), mmap(0x1000, 1), write(0x1000, 5), fork(2), reclaim(1))
    result = step(state, mremap(0x1000, 1, 1, 0x8000))
    state = result.state
    assert ptes(state, 1) == [(0x8000, "page", 3, True)]
    assert ptes(state, 2) == [(0x1000, "swap", 1, False)]
    assert swap(state) == [(1, 1, 2)]  # read into F2, which the swap cache keeps for C
    assert frames(state) == [(2, None, 0x1000, 0), (3, 1, 0x8000, 1)]
    assert (state.counters["swapins"], state.counters["cow_copies"]) == (1, 1)
    assert state.page_value[3] == 5
    assert check(state) == []


def test_d2_mremap_copies_a_swap_entry_whose_cached_page_another_mm_maps():
    state = d2(
        spawn(), mmap(0x1000, 1), write(0x1000, 5), fork(2), reclaim(1), read(0x1000, pid=2)
    )  # S1: P's PTE only, cached F2 mapped by C
    state = step(state, mremap(0x1000, 1, 1, 0x8000)).state
    assert ptes(state, 1) == [(0x8000, "page", 3, True)]
    assert swap(state) == [(1, 0, 2)]
    assert frames(state) == [(2, 2, 0x1000, 1), (3, 1, 0x8000, 1)]
    assert check(state) == []


def test_d2_mremap_moves_an_exclusive_swap_entry_as_it_is():
    state = d2(spawn(), mmap(0x1000, 1), write(0x1000, 5), reclaim(1))
    state = step(state, mremap(0x1000, 1, 1, 0x8000)).state
    assert ptes(state, 1) == [(0x8000, "swap", 1, False)]
    assert state.counters["swapins"] == 0


def test_d2_mremap_moves_a_swap_entry_whose_cached_page_is_unmapped():
    # rmap_needs_broken_cow: swap count 2 (one PTE + the cache), but the cached page has
    # mapcount 0, so the entry is not shared.
    state = d2(
        spawn(),
        mmap(0x1000, 1),
        write(0x1000, 5),
        fork(2),
        reclaim(1),
        read(0x1000, pid=2),
        exit_(2),
    )
    assert swap(state) == [(1, 1, 2)]
    assert frames(state) == [(2, None, 0x1000, 0)]  # clear_page_anon leaves the index
    state = step(state, mremap(0x1000, 1, 1, 0x8000)).state
    assert ptes(state, 1) == [(0x8000, "swap", 1, False)]
    assert state.counters["swapins"] == 1  # C's read only


def test_d2_mremap_copy_in_a_read_only_vma_stays_read_only():
    state = d2(spawn(), mmap(0x1000, 1), write(0x1000, 5), fork(2), mprotect(0x1000, 1, "r"))
    state = step(state, mremap(0x1000, 1, 1, 0x8000)).state
    assert ptes(state, 1) == [(0x8000, "page", 2, False)]  # maybe_mkwrite: no VM_WRITE
    assert frames(state) == [(1, 1, 0x1000, 1), (2, 1, 0x8000, 1)]
    assert check(state) == []


def test_d2_mremap_moves_the_zero_page_as_it_is():
    state = d2(spawn(), mmap(0x1000, 1), read(0x1000), fork(2))
    state = step(state, mremap(0x1000, 1, 1, 0x8000)).state
    assert ptes(state, 1) == [(0x8000, "zero", None, False)]
    assert frames(state) == []


def test_d2_mremap_narrates_the_copies_as_range_events():
    state = d2(
        spawn(),
        mmap(0x1000, 8),
        {"op": "write", "pid": 1, "addr": 0x1000, "value": 1, "pages": 8},
        fork(2),
    )
    result = step(state, mremap(0x1000, 8, 8, 0x20000))
    kinds = [e.kind for e in result.events]
    assert kinds.count("rmap_needs_broken_cow") == 1
    assert kinds.count("cow_copy") == 1
    assert kinds.count("mremap_break_cow") == 1
    assert result.state.counters["cow_copies"] == 8
    assert check(result.state) == []


def test_d2_moved_range_is_checked_right_after_the_mremap_only():
    state = d2(spawn(), mmap(0x1000, 1), write(0x1000), mremap(0x1000, 1, 1, 0x8000))
    assert check(state) == []
    state = step(state, fork(2)).state  # the moved page is shared again: no D2.5 now
    assert check(state) == []


# ----- merging (J-8) ---------------------------------------------------------------------


def test_d2_merge_ignores_anonymous_pgoff():
    state = d2(
        spawn(),
        mmap(0x1000, 1),
        write(0x1000),
        mmap(0x8000, 1),
        write(0x8000),
        mremap(0x8000, 1, 1, 0x2000),
    )
    assert [(v.vm_start, v.vm_end) for v in (state.vmas[i] for i in state.mms[1].vmas)] == [
        (0x1000, 0x3000)
    ]
    assert frames(state) == [(1, 1, 0x1000, 1), (2, 1, 0x2000, 1)]


def test_d2_forked_vmas_merge_too():
    """No anon_vma condition: a fork child's vmas merge like any (unlike 2.6.7+)."""
    state = d2(
        spawn(),
        mmap(0x1000, 1),
        write(0x1000),
        mmap(0x2000, 1, "r"),
        fork(2),
        mprotect(0x2000, 1, "rw", pid=2),
    )
    assert len(state.mms[2].vmas) == 1


# ----- sizes ------------------------------------------------------------------------------


def test_d2_size_table_lists_the_anonmm():
    sizes = design_class(D2).size_table
    assert sizes["struct page, 2.6.0 field sum"] == 40
    assert sizes["rmap bytes per vma"] == 0
    assert [v for k, v in sizes.items() if k.startswith("struct anonmm")] == [24]


def test_d2_memory_counts_mapcount_and_anonmms_only():
    state = d2(
        spawn(),
        mmap(0x1000, 4),
        write(0x1000),
        write(0x2000),
        fork(2),
        fork(3),
        mprotect(0x2000, 1, "r"),
    )
    design = design_class(D2)(frozenset())
    assert design.memory(state) == {
        "rmap_bytes": 2 * 4 + 3 * 24,
        "rmap_bytes_pages": 2 * 4,
        "rmap_bytes_vmas": 0,
        "rmap_bytes_anonmm": 3 * 24,
        "page_bytes": 2 * 40,
        "page_bytes_andrea": 2 * 44,
    }


# ----- the checker: every rule catches a planted violation ---------------------------------


def base() -> State:
    """P with three pages, forked to C, C's COW copy of 0x1000 (F4, AM.C), then F3
    reclaimed (S1 held by both): a sound state with two anonmms and a shared slot."""
    return d2(
        spawn(),
        mmap(0x1000, 4),
        write(0x1000, 1),
        write(0x2000, 2),
        write(0x3000, 3),
        fork(2),
        write(0x1000, 4, pid=2),
        reclaim(3),
    )


def test_check_d2_base_state_is_sound():
    state = base()
    assert check(state) == []
    assert frames(state) == [(1, 1, 0x1000, 1), (2, 1, 0x2000, 2), (4, 2, 0x1000, 1)]


def _no_mapping(st):
    del st.w("page_mapping")[2]


def _freed_anonmm(st):
    st.w("page_mapping")[2] = 9


def _index_wrong(st):
    st.w("page_index")[2] = 0x4000


def _two_addresses(st):
    st.w_ptes(2)[4] = mk_pte_page(1, False)
    st.w("page_mapcount")[1] += 1


def _slot_two_addresses(st):
    table = st.w_ptes(2)
    table[4] = table.pop(3)


def _count_off(st):
    a = st.anonmms[2]
    st.w("anonmms")[2] = replace(a, count=a.count + 1)


def _dead_not_freed(st):
    head = st.anonmms[1]
    st.w("anonmms")[1] = replace(head, ring=(*head.ring, 9), count=head.count + 1)
    st.w("anonmms")[9] = StructAnonmm(9, None, 1, (), 0)


def _mm_without_anonmm(st):
    del st.w("mm_anonmm")[2]


def _not_in_ring(st):
    st.w("anonmms")[1] = replace(st.anonmms[1], ring=(1,))


def _stale_head(st):
    st.w("anonmms")[2] = replace(st.anonmms[2], head=7)


CASES = [
    ("D2.1", _no_mapping),
    ("G10", _freed_anonmm),
    ("D2.2", _index_wrong),
    ("G11", _index_wrong),
    ("D2.2", _two_addresses),
    ("D2.2", _slot_two_addresses),
    ("D2.3", _dead_not_freed),
    ("D2.3", _mm_without_anonmm),
    ("D2.3", _not_in_ring),
    ("G10", _stale_head),
    ("D2.4", _count_off),
]


@pytest.mark.parametrize(("rule", "fn"), CASES, ids=[f"{r}-{f.__name__}" for r, f in CASES])
def test_check_d2_detects(rule, fn):
    assert rule in rules(corrupt(base(), fn))


def test_check_d2_1_page_mapped_outside_its_ring():
    state = d2(spawn(), mmap(0x1000, 1), write(0x1000), spawn(2), mmap(0x1000, 1, pid=2))

    def plant(st):
        st.w_ptes(2)[1] = mk_pte_page(1, False)
        st.w("page_mapcount")[1] += 1
        st.w_ptes(1)[1] &= ~PTE_WRITE

    found = check(corrupt(state, plant))
    assert any(v.rule == "D2.1" and "ring" in v.text for v in found)
    assert "G9" in {v.rule for v in found}  # the walk never visits the other ring


def test_check_d2_1_swap_slot_shared_across_rings():
    state = d2(
        spawn(), mmap(0x1000, 1), write(0x1000), reclaim(1), spawn(2), mmap(0x1000, 1, pid=2)
    )

    def plant(st):
        st.w_ptes(2)[1] = mk_pte_swap(1)
        st.w("swap_ptes")[1] += 1

    assert "D2.1" in rules(corrupt(state, plant))


def test_check_d2_4_unmapped_page_keeps_its_mapping():
    state = d2(
        spawn(),
        mmap(0x1000, 1),
        write(0x1000, 5),
        fork(2),
        reclaim(1),
        read(0x1000, pid=2),
        exit_(2),
    )
    assert frames(state) == [(2, None, 0x1000, 0)]  # clear_page_anon leaves the index

    def plant(st):
        st.w("page_mapping")[2] = 1
        st.w("page_flags")[2] |= PG_ANON

    assert "D2.4" in rules(corrupt(state, plant))


def moved() -> State:
    """Right after P's mremap of a page shared with C: the copy F2 is P's alone."""
    return d2(
        spawn(),
        mmap(0x1000, 1),
        write(0x1000, 5),
        fork(2),
        reclaim(1),
        mremap(0x1000, 1, 1, 0x8000),
    )


def test_check_d2_moved_state_is_sound():
    state = moved()
    assert check(state) == []
    assert ptes(state, 1) == [(0x8000, "page", 3, True)]


def _moved_page_shared(st):
    """P's moved copy F3 points at C's anonmm (counts kept consistent)."""
    st.w("page_mapping")[3] = 2
    table = st.w("anonmms")
    table[1] = replace(table[1], count=table[1].count - 1)
    table[2] = replace(table[2], count=table[2].count + 1)


def _moved_swap_shared(st):
    """P's moved PTE holds C's slot instead of its private copy F3."""
    st.w_ptes(1)[8] = mk_pte_swap(1)
    st.w("swap_ptes")[1] += 1
    for name in ("page_mapcount", "page_flags", "page_value", "page_mapping", "page_index"):
        st.w(name).pop(3, None)
    table = st.w("anonmms")
    table[1] = replace(table[1], count=table[1].count - 1)


@pytest.mark.parametrize(
    "fn",
    [_moved_page_shared, _moved_swap_shared],
    ids=["page-of-another-anonmm", "swap-slot-shared"],
)
def test_check_d2_5_detects_a_non_exclusive_destination(fn):
    found = check(corrupt(moved(), fn))
    assert "D2.5" in {v.rule for v in found}


def test_check_d2_5_is_not_applied_a_step_later():
    state = step(moved(), read(0x1000, pid=2)).state
    planted = corrupt(state, _moved_page_shared)
    assert "D2.5" not in {v.rule for v in check(planted)}
