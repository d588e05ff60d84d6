"""The D5 design's own rules: anon_vma_chain, reuse, PageAnonExclusive, swap-in, merge rules,
lifetime, the options of J-10, and the invariant checker (§10.6 with E4)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.engine import apply, available_designs, check, design_class, new_state, parse_op
from app.engine import state_to_json as to_json
from app.engine.designs.anon_vma_chain import Avc, AvcAnonVma
from app.engine.state import PG_ANON_EXCLUSIVE, PG_SWAPCACHE, PTE_WRITE, State

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
    spawn,
    write,
)

DESIGN = "anon_vma_chain"


def run(*ops, options=()):
    """The state after the ops; every intermediate state must be sound."""
    state = new_state(DESIGN, options)
    for op in ops:
        state = apply(state, parse_op(op)).state
        assert check(state) == [], (op, [v.to_json() for v in check(state)])
    return state


def last(*ops, options=()):
    """The StepResult of the last op."""
    state = run(*ops[:-1], options=options)
    return apply(state, parse_op(ops[-1]))


def exit_(pid):
    return {"op": "exit", "pid": pid}


def merge(addr, pid=1):
    return {"op": "merge", "pid": pid, "addr": addr}


def avs(state):
    """{id: (tree vmas in walk order, num_children, num_active_vmas, refcount)}."""
    return {
        a["id"]: (a["vmas"], a["num_children"], a["num_active_vmas"], a["refcount"])
        for a in to_json(state)["anon_vmas"]
    }


def chains(state):
    """{vma: [anon_vma ids of its chain, newest first]}."""
    return {c["vma"]: c["anon_vmas"] for c in to_json(state)["vma_chains"]}


def vmas_of(state, pid=1):
    return [
        (v.id, v.vm_start, v.vm_end, v.vm_pgoff, v.anon_vma)
        for v in (state.vmas[i] for i in state.mms[pid].vmas)
    ]


def exclusive(state, pfn):
    return bool(state.page_flags[pfn] & PG_ANON_EXCLUSIVE)


def pte(state, pid, addr):
    return state.ptes[pid].get(addr >> 12)


def visited(result):
    return [(v.id, v.result) for v in result.walks[0].visited], result.walks[0].candidates


# ----- registry ----------------------------------------------------------------------------


def test_anon_vma_chain_is_available_with_its_options():
    assert DESIGN in available_designs()
    assert set(design_class(DESIGN).option_help) == {
        "v2_6_34",
        "v2_6_34_rc3",
        "v3_0_to_6_15",
        "no_reuse",
    }


# ----- anon_vma_prepare ----------------------------------------------------------------------


def test_anon_vma_chain_first_write_allocates_a_root():
    st = run(spawn(), mmap(0x1000, 2), read(0x1000))
    assert st.anon_vmas == {} and st.avcs == {}  # a read fault creates nothing
    st = run(spawn(), mmap(0x1000, 2), write(0x2000))
    assert avs(st) == {1: ([1], 1, 1, 1)}
    assert st.anon_vmas[1].root == st.anon_vmas[1].parent == 1
    assert chains(st) == {1: [1]}
    assert st.page_mapping[1] == 1 and st.page_index[1] == 2 and exclusive(st, 1)


def test_anon_vma_chain_prepare_borrows_next_before_prev():
    """find_mergeable_anon_vma: next first, then prev (flags may differ in R/W/X)."""
    st = run(
        spawn(),
        mmap(0x1000, 1, "rwx"),
        mmap(0x2000, 1),
        mmap(0x3000, 1, "rwx"),
        write(0x1000),
        write(0x3000),
        write(0x2000),
    )
    assert [v[4] for v in vmas_of(st)] == [1, 2, 2]
    st = run(spawn(), mmap(0x1000, 1, "rwx"), mmap(0x2000, 1), write(0x1000), write(0x2000))
    assert [v[4] for v in vmas_of(st)] == [1, 1]
    assert avs(st) == {1: ([1, 2], 1, 2, 1)}


def test_anon_vma_chain_prepare_ignores_a_fork_childs_anon_vma():
    """A neighbour whose chain is not singular is not borrowed from (d0e9fe1758f2)."""
    st = run(
        spawn(),
        mmap(0x1000, 1, "rwx"),
        write(0x1000),
        mmap(0x2000, 1),
        fork(2),
        write(0x2000, pid=2),
    )
    child = vmas_of(st, 2)
    assert child[0][4] == 2 and child[1][4] == 3  # a new root, not AV2
    assert chains(st)[child[1][0]] == [3]


# ----- fork --------------------------------------------------------------------------------


def test_anon_vma_chain_fork_of_a_vma_without_anon_vma_copies_no_ptes():
    """E10: vma_needs_copy is false, so the child's zero-page PTE is not copied."""
    st = run(spawn(), mmap(0x1000, 2), read(0x1000), fork(2))
    assert st.ptes[2] == {} and st.vmas[2].anon_vma is None and st.avcs == {}


def test_anon_vma_chain_fork_clears_exclusive_and_swap_markers():
    st = run(spawn(), mmap(0x1000, 2), write(0x1000), write(0x2000), reclaim(2))
    assert exclusive(st, 1) and pte(st, 1, 0x2000) & PTE_WRITE  # the exclusive marker
    st = apply(st, parse_op(fork(2))).state
    assert not exclusive(st, 1)
    assert not pte(st, 1, 0x2000) & PTE_WRITE and not pte(st, 2, 0x2000) & PTE_WRITE
    assert to_json(st)["exclusive_swap_ptes"] == []


def test_anon_vma_chain_fork_reuses_an_orphaned_anon_vma():
    """3.19+ (6.0 form): after C exits, AV2 has no vma and one child, so G's fork reuses it;
    the chain is the parent's, head included (E5)."""
    ops = (
        spawn(),
        mmap(0x1000, 2),
        write(0x1000),
        fork(2),
        write(0x2000, pid=2),
        fork(3, pid=2),
        exit_(2),
        fork(4, pid=3),
    )
    st = run(*ops)
    assert st.vmas[4].anon_vma == 2
    assert chains(st)[4] == chains(st)[3] == [3, 2, 1]
    assert avs(st)[2] == ([3, 4], 1, 1, 1)
    assert st.counters["anon_vmas_allocated"] == 3
    st = run(*ops, options=("no_reuse",))
    assert st.vmas[4].anon_vma == 4 and chains(st)[4] == [4, 3, 2, 1]


def test_anon_vma_chain_fork_storm_growth_and_reuse():
    """Khlebnikov's case: fork, then the parent exits, over and over. Without reuse the
    chain grows by one per generation; with it, it stays at three."""
    ops = [spawn(), mmap(0x1000, 1), write(0x1000)]
    for pid in range(1, 7):
        ops += [fork(pid + 1, pid=pid), exit_(pid)]
    st = run(*ops)
    assert [len(c) for c in chains(st).values()] == [3]
    assert len(st.anon_vmas) == 3
    st = run(*ops, options=("no_reuse",))
    assert [len(c) for c in chains(st).values()] == [7]
    assert len(st.anon_vmas) == 7
    assert st.counters["anon_vmas_allocated"] == 7


# ----- COW --------------------------------------------------------------------------------


def test_anon_vma_chain_cow_copy_goes_to_the_faulting_vmas_own_anon_vma():
    st = run(
        spawn(), mmap(0x1000, 1), write(0x1000), fork(2), write(0x1000, pid=2), write(0x1000)
    )  # the child copies into AV2; the parent then reuses F1
    assert st.page_mapping[2] == 2 and exclusive(st, 2)
    assert st.page_mapping[1] == 1 and exclusive(st, 1)


def test_anon_vma_chain_cow_reuse_drops_the_swap_cache():
    """E3: the reused page leaves the swap cache and its slot is freed."""
    st = run(spawn(), mmap(0x1000, 1), write(0x1000), fork(2), reclaim(1), read(0x1000), exit_(2))
    assert st.page_flags[2] & PG_SWAPCACHE and not exclusive(st, 2)
    st = apply(st, parse_op(write(0x1000, 5))).state
    assert not st.page_flags[2] & PG_SWAPCACHE and st.swap_ptes == {} and exclusive(st, 2)
    assert check(st) == []


def test_anon_vma_chain_exclusive_page_is_reused_as_it_is():
    """A PageAnonExclusive page in the swap cache (read swap-in in 3.0-6.15 mode, ro) is
    reused without moving it or touching the swap cache."""
    st = run(
        spawn(), mmap(0x1000, 1), write(0x1000), reclaim(1), read(0x1000), options=("v3_0_to_6_15",)
    )
    assert not pte(st, 1, 0x1000) & PTE_WRITE and exclusive(st, 2)
    st = apply(st, parse_op(write(0x1000, 5))).state
    assert pte(st, 1, 0x1000) & PTE_WRITE and st.page_flags[2] & PG_SWAPCACHE
    assert check(st) == []


# ----- swap-in (§6.2, E1, E2, E4) ---------------------------------------------------------


def test_anon_vma_chain_exclusive_read_swapin_is_writable_at_once():
    """E2: the swap PTE was marked exclusive: writable but still in the swap cache."""
    st = run(spawn(), mmap(0x1000, 1), write(0x1000), reclaim(1), read(0x1000))
    assert pte(st, 1, 0x1000) & PTE_WRITE and exclusive(st, 2)
    assert st.page_flags[2] & PG_SWAPCACHE and st.swap_ptes == {1: 0}
    st = run(
        spawn(), mmap(0x1000, 1), write(0x1000), reclaim(1), read(0x1000), options=("v3_0_to_6_15",)
    )
    assert not pte(st, 1, 0x1000) & PTE_WRITE


def test_anon_vma_chain_exclusive_write_swapin_frees_the_slot():
    """E1: a write fault with no other user frees the swap cache and the slot."""
    st = run(spawn(), mmap(0x1000, 1), write(0x1000), reclaim(1), write(0x1000, 7))
    assert pte(st, 1, 0x1000) & PTE_WRITE and exclusive(st, 2)
    assert st.swap_ptes == {} and st.swap_cache == {} and st.page_mapping[2] == 1


def test_anon_vma_chain_shared_swapin_points_at_the_root():
    """A page swapped in by a grandchild while others hold the slot goes to the root, not
    to the grandchild's own anon_vma; a later sharer hits the cache and keeps it."""
    st = run(
        spawn(),
        mmap(0x1000, 1),
        write(0x1000),
        fork(2),
        fork(3, pid=2),
        reclaim(1),
        read(0x1000, pid=3),
    )
    assert st.vmas[3].anon_vma == 3 and st.page_mapping[2] == 1 and not exclusive(st, 2)
    assert not pte(st, 3, 0x1000) & PTE_WRITE and st.page_flags[2] & PG_SWAPCACHE
    st = apply(st, parse_op(read(0x1000))).state
    assert st.page_mapping[2] == 1 and st.page_mapcount[2] == 2
    assert check(st) == []


def test_anon_vma_chain_write_swapin_without_marker_becomes_exclusive():
    """E4: P swaps F in by reading, unmaps it; C's write fault finds it in the cache with no
    other user: exclusive, writable, out of the swap cache, mapping still the root AV1."""
    st = run(
        spawn(),
        mmap(0x1000, 1),
        write(0x1000),
        fork(2),
        reclaim(1),
        read(0x1000),
        munmap(0x1000, 1),
        write(0x1000, 9, pid=2),
    )
    assert exclusive(st, 2) and pte(st, 2, 0x1000) & PTE_WRITE
    assert st.page_mapping[2] == 1 and st.vmas[2].anon_vma == 2
    assert st.swap_ptes == {}


def test_anon_vma_chain_write_swapin_with_other_swap_ptes_copies():
    st = run(spawn(), mmap(0x1000, 1), write(0x1000), fork(2), reclaim(1), write(0x1000, 5, pid=2))
    assert st.page_mapping[3] == 2 and exclusive(st, 3)  # the copy, in C's own AV2
    assert st.swap_cache == {1: 2} and st.page_mapcount[2] == 0  # F2 stays for P's S1


# ----- mprotect (J-16) -----------------------------------------------------------------------


def test_anon_vma_chain_mprotect_keeps_exclusive_pages_writable():
    ops = (
        spawn(),
        mmap(0x1000, 2),
        write(0x1000),
        write(0x2000),
        mprotect(0x1000, 2, "r"),
        fork(2),
        mprotect(0x1000, 2, "rw"),
    )
    st = run(*ops)
    assert not pte(st, 1, 0x1000) & PTE_WRITE  # shared since the fork
    st = run(
        spawn(), mmap(0x1000, 2), write(0x1000), mprotect(0x1000, 2, "r"), mprotect(0x1000, 2, "rw")
    )
    assert pte(st, 1, 0x1000) & PTE_WRITE
    st = run(
        spawn(),
        mmap(0x1000, 2),
        write(0x1000),
        mprotect(0x1000, 2, "r"),
        mprotect(0x1000, 2, "rw"),
        options=("v2_6_34",),
    )
    assert not pte(st, 1, 0x1000) & PTE_WRITE


# ----- split, unlink, lifetime ----------------------------------------------------------------


def test_anon_vma_chain_split_clones_the_chain():
    st = run(spawn(), mmap(0x1000, 3), write(0x1000), fork(2), mprotect(0x2000, 1, "r", pid=2))
    child = [v[0] for v in vmas_of(st, 2)]
    assert [chains(st)[v] for v in child] == [[2, 1]] * 3
    assert avs(st)[2] == ([3, 2, 4], 0, 3, 1)  # ascending pgoff: new lower, original, upper


def test_anon_vma_chain_adjusted_vma_goes_behind_equal_keys():
    """E7: shrinking P.a re-inserts its AVC, so the child's C.a (same pgoff) walks first;
    the 2.6.34 list keeps creation order."""
    ops = (spawn(), mmap(0x1000, 4), write(0x1000), fork(2), munmap(0x4000, 1), reclaim(1))
    assert visited(last(*ops)) == ([(2, "hit"), (1, "hit")], 2)
    assert visited(last(*ops, options=("v2_6_34",))) == ([(1, "hit"), (2, "hit")], 2)


def test_anon_vma_chain_root_is_freed_last():
    st = run(spawn(), mmap(0x1000, 1), write(0x1000), fork(2), exit_(1))
    assert avs(st) == {1: ([2], 2, 0, 2), 2: ([2], 0, 1, 1)}
    result = apply(st, parse_op(exit_(2)))
    freed = [e.objects[0]["id"] for e in result.events if e.kind == "anon_vma_free"]
    assert freed == [2, 1] and result.state.anon_vmas == {} and result.state.avcs == {}


def test_anon_vma_chain_middle_anon_vma_outlives_its_vma():
    """S13: C exits, AV2 stays (G.a still links it); G's exit frees all but AV1."""
    st = run(
        spawn(),
        mmap(0x1000, 2),
        write(0x1000),
        fork(2),
        write(0x2000, pid=2),
        fork(3, pid=2),
        exit_(2),
        exit_(3),
    )
    assert avs(st) == {1: ([1], 1, 1, 1)}


# ----- merging (§6.2, §7.1, J-10) -------------------------------------------------------------

CASE1 = (
    spawn(),
    mmap(0x1000, 2),
    mprotect(0x2000, 1, "rwx"),
    write(0x2000),
    mprotect(0x2000, 1, "rw"),
)
CASE1_FORKED = (
    spawn(),
    mmap(0x1000, 2),
    mprotect(0x2000, 1, "rwx"),
    write(0x2000),
    fork(2),
    mprotect(0x2000, 1, "rw", pid=2),
)
CASE2_FORKED = (
    spawn(),
    mmap(0x1000, 2),
    mprotect(0x2000, 1, "rwx"),
    write(0x1000),
    fork(2),
    mprotect(0x2000, 1, "rw", pid=2),
)


@pytest.mark.parametrize(
    ("ops", "options", "vmas"),
    [
        pytest.param(CASE1, (), 1, id="case 1: faulted range into unfaulted prev merges"),
        pytest.param(CASE1, ("v3_0_to_6_15",), 2, id="case 1 refused in 3.0-6.15"),
        pytest.param(CASE1, ("v2_6_34",), 1, id="case 1 merges in 2.6.34"),
        pytest.param(CASE1_FORKED, (), 2, id="case 1 refused: the range is a fork child"),
        pytest.param(CASE1_FORKED, ("v2_6_34",), 1, id="fork child merges in 2.6.34"),
        pytest.param(CASE2_FORKED, (), 2, id="case 2 refused: prev is a fork child"),
        pytest.param(CASE2_FORKED, ("v3_0_to_6_15",), 2, id="case 2 refused in 3.0-6.15 too"),
        pytest.param(
            (*CASE2_FORKED[:4], mprotect(0x2000, 1, "rw")),
            ("v3_0_to_6_15",),
            1,
            id="case 2 merges into a non-fork-child prev in 3.0-6.15",
        ),
    ],
)
def test_anon_vma_chain_merge_rules(ops, options, vmas):
    st = run(*ops, options=options)
    pid = ops[-1]["pid"]
    assert len(st.mms[pid].vmas) == vmas


def test_anon_vma_chain_merge_into_unfaulted_prev_dups_the_anon_vma():
    st = run(*CASE1)
    assert vmas_of(st) == [(2, 0x1000, 0x3000, 1, 1)]
    assert chains(st) == {2: [1]} and avs(st) == {1: ([2], 1, 1, 1)}


def test_anon_vma_chain_three_way_merge_needs_compatible_neighbours():
    """Different anon_vmas on prev and next: only one side merges (can_vma_merge_right)."""
    st = run(
        spawn(),
        mmap(0x1000, 1),
        mmap(0x2000, 1, "r"),
        mmap(0x3000, 1),
        write(0x1000),
        write(0x3000),
        mprotect(0x2000, 1, "rw"),
    )
    assert [(v[1], v[2], v[4]) for v in vmas_of(st)] == [(0x1000, 0x3000, 1), (0x3000, 0x4000, 2)]
    st = run(
        spawn(),
        mmap(0x1000, 1),
        mmap(0x2000, 1, "r"),
        mmap(0x3000, 1),
        write(0x3000),
        mprotect(0x2000, 1, "rw"),
    )  # unfaulted prev, faulted next
    assert vmas_of(st) == [(1, 0x1000, 0x4000, 1, 1)]


def test_anon_vma_chain_boundary_shift_dups_into_the_importer():
    """mprotect of the tail of a faulted vma to its unfaulted successor's flags: the
    successor grows down over the tail and takes the anon_vma (case 4)."""
    st = run(
        spawn(), mmap(0x1000, 2), mmap(0x3000, 2, "r"), write(0x2000), mprotect(0x2000, 1, "r")
    )
    assert vmas_of(st) == [(1, 0x1000, 0x2000, 1, 1), (2, 0x2000, 0x5000, 2, 1)]
    assert chains(st) == {1: [1], 2: [1]} and avs(st)[1] == ([1, 2], 1, 2, 1)


MOVE_BACK = (spawn(), mmap(0x3000, 1), write(0x3000), mremap(0x3000, 1, 1, 0x9000))


@pytest.mark.parametrize(
    ("ops", "options", "merged"),
    [
        pytest.param(
            (*MOVE_BACK, mmap(0x1000, 2), mremap(0x9000, 1, 1, 0x3000)),
            (),
            True,
            id="faulted vma moved next to unfaulted prev merges (copied_from)",
        ),
        pytest.param(
            (*MOVE_BACK, mmap(0x1000, 2), mremap(0x9000, 1, 1, 0x3000)),
            ("v3_0_to_6_15",),
            False,
            id="refused in 3.0-6.15",
        ),
        pytest.param(
            (*MOVE_BACK, fork(2), mmap(0x1000, 2, pid=2), mremap(0x9000, 1, 1, 0x3000, pid=2)),
            (),
            False,
            id="refused when the moved vma is a fork child (3b617fd3d317)",
        ),
    ],
)
def test_anon_vma_chain_mremap_merge_uses_copied_from(ops, options, merged):
    result = last(*ops, options=options)
    st = result.state
    pid = ops[-1]["pid"]
    dest = st.vma_at(pid, 0x3000)
    assert (dest.vm_start == 0x1000) == merged
    assert dest.anon_vma is not None and check(st) == []
    if merged:
        assert any(e.kind == "dup_anon_vma" for e in result.events)


def test_anon_vma_chain_mremap_of_untouched_vma_resets_pgoff():
    st = run(spawn(), mmap(0x8000, 2), mremap(0x8000, 2, 2, 0x20000))
    assert vmas_of(st) == [(2, 0x20000, 0x22000, 0x20, None)]
    st = run(spawn(), mmap(0x8000, 2), write(0x8000), mremap(0x8000, 2, 2, 0x20000))
    assert vmas_of(st) == [(2, 0x20000, 0x22000, 8, 1)]


def test_anon_vma_chain_mremap_grow_in_place_reinserts():
    """mremap growing in place changes the range: the AVC is re-inserted (E7)."""
    st = run(
        spawn(),
        mmap(0x1000, 1),
        write(0x1000),
        fork(2),
        {"op": "mremap", "pid": 1, "addr": 0x1000, "pages": 1, "new_pages": 2},
    )
    assert avs(st)[1][0] == [2, 1]


# ----- the 2.6.34-rc3 lesson -------------------------------------------------------------------


def test_anon_vma_chain_rc3_swapin_points_at_the_childs_anon_vma():
    """LWN 383162: C swaps the shared page in, it points at C's AV2; P maps it from the
    cache but has no AVC to AV2; C exits and frees AV2 under a mapped page."""
    state = new_state(DESIGN, ("v2_6_34_rc3",))
    for op in (
        spawn(),
        mmap(0x1000, 1),
        write(0x1000),
        fork(2),
        reclaim(1),
        read(0x1000, pid=2),
        read(0x1000),
    ):
        state = apply(state, parse_op(op)).state
    assert state.page_mapping[2] == 2
    assert {v.rule for v in check(state)} >= {"G9", "D5.1"}
    state = apply(state, parse_op(exit_(2))).state
    assert 2 not in state.anon_vmas
    assert {v.rule for v in check(state)} >= {"G9", "G10", "D5.1"}
    result = apply(state, parse_op(reclaim(2)))
    assert result.events[0].kind == "oops"
    assert result.result["unreachable"] == [{"pfn": 2, "mapcount": 1}]


def test_anon_vma_chain_v2_6_34_swapin_uses_the_oldest_on_the_chain():
    st = run(
        spawn(),
        mmap(0x1000, 1),
        write(0x1000),
        fork(2),
        fork(3, pid=2),
        reclaim(1),
        read(0x1000, pid=3),
        options=("v2_6_34",),
    )
    assert st.page_mapping[2] == 1 and to_json(st)["exclusive_swap_ptes"] == []


# ----- reporting --------------------------------------------------------------------------


def test_anon_vma_chain_state_document():
    st = run(spawn(), mmap(0x1000, 1), write(0x1000), fork(2))
    doc = to_json(st)
    assert doc["anon_vmas"] == [
        {
            "id": 1,
            "vmas": [1, 2],
            "avcs": [1, 2],
            "root": 1,
            "parent": 1,
            "num_children": 2,
            "num_active_vmas": 1,
            "refcount": 2,
        },
        {
            "id": 2,
            "vmas": [2],
            "avcs": [3],
            "root": 1,
            "parent": 1,
            "num_children": 0,
            "num_active_vmas": 1,
            "refcount": 1,
        },
    ]
    assert doc["anon_vma_chains"] == [
        {"id": 1, "vma": 1, "anon_vma": 1},
        {"id": 2, "vma": 2, "anon_vma": 1},
        {"id": 3, "vma": 2, "anon_vma": 2},
    ]
    assert doc["vma_chains"] == [
        {"vma": 1, "avcs": [1], "anon_vmas": [1]},
        {"vma": 2, "avcs": [3, 2], "anon_vmas": [2, 1]},
    ]
    assert doc["pages"][0]["mapping"] == {"kind": "anon_vma", "id": 1}


@pytest.mark.parametrize(
    ("options", "want"),
    [
        (
            (),
            {
                "rmap_bytes": 4 + 2 * 12 + 3 * 32 + 2 * 52,
                "page_bytes": 32,
                "page_bytes_andrea": 32,
                "avcs": 3,
                "anon_vma_objects": 2,
            },
        ),
        (
            ("v2_6_34",),
            {
                "rmap_bytes": 4 + 2 * 12 + 3 * 24 + 2 * 12,
                "page_bytes": 32,
                "page_bytes_andrea": 32,
                "avcs": 3,
                "anon_vma_objects": 2,
            },
        ),
    ],
    ids=["mainline", "v2_6_34"],
)
def test_anon_vma_chain_memory(options, want):
    from app.engine.designs import get_design

    st = run(spawn(), mmap(0x1000, 1), write(0x1000), fork(2), options=options)
    memory = get_design(DESIGN, frozenset(options)).memory(st)
    assert {k: v for k, v in memory.items() if k in want} == want
    split = [v for k, v in memory.items() if k.startswith("rmap_bytes_")]
    assert sum(split) == memory["rmap_bytes"]


def test_anon_vma_chain_size_table_lists_the_avc_and_the_anon_vma():
    sizes = design_class(DESIGN).size_table
    assert sorted(sizes.values()) == [4, 12, 32, 32, 52]
    assert any("estimate" in label for label in sizes)


def test_anon_vma_chain_mapping_survives_mapcount_zero():
    """page->mapping is kept until the frame is freed (a swap-cache page at mapcount 0)."""
    st = run(
        spawn(),
        mmap(0x1000, 1),
        write(0x1000),
        fork(2),
        reclaim(1),
        read(0x1000),
        munmap(0x1000, 1),
    )
    assert st.page_mapcount[2] == 0 and st.page_mapping[2] == 1


# ----- the checker detects each broken rule ------------------------------------------------


def base() -> State:
    """P with three pages, forked to C; C copies 0x1000 (F4 in AV2); F3 swapped (S1 shared)."""
    return run(
        spawn(),
        mmap(0x1000, 4),
        write(0x1000, 11),
        write(0x2000, 22),
        write(0x3000, 33),
        fork(2),
        write(0x1000, 99, pid=2),
        reclaim(3),
    )


def _mapping_not_on_chain(st):
    st.w("page_mapping")[2] = 2  # P.a has no AVC to AV2


def _chain_reversed(st):
    st.w("vma_chain")[2] = tuple(reversed(st.vma_chain[2]))


def _vma_without_anon_vma(st):
    st.w("vmas")[2] = replace(st.vmas[2], anon_vma=None)


def _avc_not_in_tree(st):
    st.w("anon_vmas")[1] = replace(st.anon_vmas[1], tree=(1,))


def _tree_out_of_order(st):
    st.w("anon_vmas")[1] = replace(st.anon_vmas[1], tree=tuple(reversed(st.anon_vmas[1].tree)))


def _num_children_off(st):
    st.w("anon_vmas")[1] = replace(st.anon_vmas[1], num_children=5)


def _num_active_off(st):
    st.w("anon_vmas")[2] = replace(st.anon_vmas[2], num_active_vmas=0)


def _same_anon_vma_other_chain(st):
    st.w("vmas")[2] = replace(st.vmas[2], anon_vma=1)


def _refcount_off(st):
    st.w("anon_vmas")[1] = replace(st.anon_vmas[1], refcount=1)


def _exclusive_shared(st):
    st.w("page_flags")[2] |= PG_ANON_EXCLUSIVE


def _writable_not_exclusive(st):
    st.w("page_flags")[4] &= ~PG_ANON_EXCLUSIVE


def _other_family(st):
    st.w("anon_vmas")[9] = AvcAnonVma(9, 9, 9, 1, 1, 1, (99,))
    st.w("avcs")[99] = Avc(99, 2, 9, 99)
    st.w("vma_chain")[2] = (99,)
    st.w("vmas")[2] = replace(st.vmas[2], anon_vma=9)


def _anon_content_without_anon_vma(st):
    st.w("vmas")[1] = replace(st.vmas[1], anon_vma=None)
    del st.w("vma_chain")[1]
    del st.w("avcs")[1]
    st.w("anon_vmas")[1] = replace(st.anon_vmas[1], tree=(2,))


def _anon_vma_freed(st):
    del st.w("anon_vmas")[2]


def _exclusive_wrong_family(st):
    st.w("page_mapping")[1] = 2  # F1 (P only) pointing at C's AV2


CASES = [
    ("D5.1", _mapping_not_on_chain),
    ("D5.2", _chain_reversed),
    ("D5.2", _vma_without_anon_vma),
    ("D5.3", _avc_not_in_tree),
    ("D5.3", _tree_out_of_order),
    ("D5.4", _num_children_off),
    ("D5.4", _num_active_off),
    ("D5.5", _same_anon_vma_other_chain),
    ("D5.6", _refcount_off),
    ("D5.7", _exclusive_shared),
    ("G7", _writable_not_exclusive),
    ("D5.8", _other_family),
    ("D5.9", _other_family),
    ("D5.9", _anon_content_without_anon_vma),
    ("G10", _anon_vma_freed),
    ("G9", _exclusive_wrong_family),
]


def test_anon_vma_chain_check_base_state_is_sound():
    st = base()
    assert check(st) == []
    assert chains(st) == {1: [1], 2: [2, 1]} and st.page_mapping[4] == 2 and exclusive(st, 4)


@pytest.mark.parametrize(("rule", "fn"), CASES, ids=[f"{r}-{f.__name__}" for r, f in CASES])
def test_anon_vma_chain_check_detects(rule, fn):
    assert rule in rules(corrupt(base(), fn))


def test_anon_vma_chain_check_e4_exclusive_page_off_its_chain():
    """E4: an exclusive page's anon_vma must be on the chain of the vma mapping it."""

    def plant(st):
        st.w("page_flags")[1] |= PG_ANON_EXCLUSIVE
        st.w("page_mapping")[1] = 2

    assert "D5.7" in rules(corrupt(base(), plant))


# ----- the stateful machine of test_stateful, under D5 -----------------------------------------

stateful = pytest.importorskip(
    "tests.engine.test_stateful", reason="the shared stateful machine is not available"
)


class ChainMachine(stateful.EngineMachine):
    """The differential machine (engine against the reference model, checker after every
    op, atomicity and purity of ``apply``) running D5."""

    chain_options: tuple[str, ...] = ()

    def __init__(self) -> None:
        super().__init__()  # builds an RFC2 state first; replaced at once
        self.state = new_state(DESIGN, self.chain_options)
        self.doc = to_json(self.state)
        self.history = [(self.state, self.doc)]

    @stateful.invariant()
    def runs_anon_vma_chain(self):
        assert (self.state.design, self.state.options) == (DESIGN, frozenset(self.chain_options))


class ChainV2634Machine(ChainMachine):
    chain_options = ("v2_6_34",)


class ChainV30Machine(ChainMachine):
    chain_options = ("v3_0_to_6_15", "no_reuse")


class ChainRc3Machine(ChainMachine):
    """The teaching variant breaks invariants on purpose: only no crash, atomic, pure."""

    chain_options = ("v2_6_34_rc3",)
    differential = False


for _machine, _examples in (
    (ChainMachine, 60),
    (ChainV2634Machine, 25),
    (ChainV30Machine, 25),
    (ChainRc3Machine, 15),
):
    _machine.TestCase.settings = stateful.settings(
        max_examples=_examples, stateful_step_count=40, deadline=None
    )

TestChainAgainstModel = ChainMachine.TestCase
TestChainV2634AgainstModel = ChainV2634Machine.TestCase
TestChainV30AgainstModel = ChainV30Machine.TestCase
TestChainRc3IsAtomic = ChainRc3Machine.TestCase
