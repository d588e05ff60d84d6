"""D1, pte_chain rmap as in 2.6.0: the pte union, the list policy of the cache-line blocks,
fork and exit costs, mremap re-registration, the 2.6.0 mprotect merges (J-7), the swap
cache fields, sizes, options, and the invariant checker (§10.2)."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from app.engine import (
    DesignUnavailable,
    EngineError,
    apply,
    check,
    design_class,
    new_state,
    parse_op,
)
from app.engine.designs import get_design
from app.engine.designs.pte_chain import StructPteChain
from app.engine.serialize import state_to_json
from app.engine.state import PG_ANON, PG_DIRECT, PG_SWAPCACHE, State

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
    vmas_of,
    write,
)

D1 = "pte_chain"
N = None


def d1(*ops, options=()):
    return run_ops(*ops, design=D1, options=options)


def more(state, *ops):
    for op in ops:
        state = apply(state, parse_op(op)).state
    return state


def chain(state, pfn):
    """A page's rmap entries in walk order, as (pid, addr)."""
    design = get_design(D1, state.options)
    return [(pid, vpn << 12) for pid, vpn in design.chain_entries(state, pfn)]


def slots(state, block_id):
    """A block's ``ptes[]`` slots as (pid, addr) or None, and its next block."""
    block = state.pte_chains[block_id]
    return [None if e is None else (e[0], e[1] << 12) for e in block.entries], block.next


def walk_order(state, pfn):
    """(block id, pid, addr) of every probe of the reclaim walk, in order."""
    _, probes = get_design(D1, state.options).rmap_walk(state, pfn)
    return [(p.id, p.pid, p.vpn << 12) for p in probes]


def family(children, pages=1):
    """P writes ``pages`` pages at 0x1000 and forks pids 2 .. children + 1."""
    ops = [spawn(), mmap(0x1000, pages)]
    ops += [write(0x1000 + (i << 12), 10 + i) for i in range(pages)]
    ops += [fork(c) for c in range(2, children + 2)]
    return d1(*ops)


def exit_op(pid):
    return {"op": "exit", "pid": pid}


# ----- the pte union ------------------------------------------------------------------------


def test_d1_first_touch_is_direct_to_its_pte():
    st = d1(spawn(), mmap(0x1000, 4), write(0x3000))
    assert st.page_pte == {1: (1, 3)}
    assert st.page_flags[1] == PG_DIRECT  # 2.6.0 has no PG_anon
    assert st.pte_chains == {} and st.page_mapping == {} and st.page_index == {}
    assert check(st) == []


def test_d1_zero_page_gets_no_rmap_entry():
    st = d1(spawn(), mmap(0x1000, 1), read(0x1000))
    assert st.page_pte == {} and st.page_mapcount == {}


def test_d1_fork_turns_a_direct_page_into_a_two_entry_block():
    """The caller's preallocated block takes the old direct PTE in its last slot and the
    child's just before it."""
    st = family(1)
    assert st.page_pte == {1: 1}
    assert slots(st, 1) == ([N, N, N, N, N, (2, 0x1000), (1, 0x1000)], None)
    assert st.page_flags[1] & PG_DIRECT == 0
    assert (st.counters["pte_chains_allocated"], st.counters["direct_to_indirect"]) == (1, 1)


def test_d1_forks_fill_the_head_from_its_end_then_prepend_a_new_block():
    st = family(8)
    assert st.page_pte == {1: 2}
    assert slots(st, 1) == (
        [(7, 0x1000), (6, 0x1000), (5, 0x1000), (4, 0x1000), (3, 0x1000), (2, 0x1000), (1, 0x1000)],
        None,
    )
    assert slots(st, 2) == ([N, N, N, N, N, (9, 0x1000), (8, 0x1000)], 1)
    assert walk_order(st, 1) == [(2, 9, 0x1000), (2, 8, 0x1000)] + [
        (1, pid, 0x1000) for pid in (7, 6, 5, 4, 3, 2, 1)
    ]
    assert st.counters["pte_chains_allocated"] == 2
    assert check(st) == []


def test_d1_remove_moves_the_head_blocks_first_entry_into_the_hole():
    st = more(family(8), exit_op(4))
    assert slots(st, 2) == ([N, N, N, N, N, N, (8, 0x1000)], 1)
    assert slots(st, 1)[0] == [
        (7, 0x1000),
        (6, 0x1000),
        (5, 0x1000),
        (9, 0x1000),
        (3, 0x1000),
        (2, 0x1000),
        (1, 0x1000),
    ]
    # searched: C8 C7 in the head block, then C6 C5 C4 C3 in the next
    assert st.counters["pte_chain_search"] == 6
    assert check(st) == []


def test_d1_remove_frees_the_head_block_it_empties():
    st = more(family(8), exit_op(4), exit_op(8))
    assert st.page_pte == {1: 1} and set(st.pte_chains) == {1}
    assert st.counters["pte_chain_search"] == 6 + 1
    assert check(st) == []


def test_d1_remove_from_a_full_head_opens_its_first_slot():
    st = more(family(8), exit_op(4), exit_op(8), exit_op(2))
    assert slots(st, 1)[0] == [
        N,
        (6, 0x1000),
        (5, 0x1000),
        (9, 0x1000),
        (3, 0x1000),
        (7, 0x1000),
        (1, 0x1000),
    ]
    assert st.counters["pte_chain_search"] == 6 + 1 + 6


def test_d1_remove_path_never_collapses_a_one_entry_chain():
    st = d1(spawn(), mmap(0x1000, 1), write(0x1000), fork(2), write(0x1000, 2))
    assert st.page_pte[1] == 1 and slots(st, 1)[0][-1] == (2, 0x1000)
    assert st.page_flags[1] & PG_DIRECT == 0
    st = more(st, write(0x1000, 3, pid=2))  # reuse: no rmap change either
    assert st.page_pte[1] == 1 and check(st) == []


def test_d1_reclaim_scan_collapses_a_one_entry_chain_first():
    st = d1(spawn(), mmap(0x1000, 1), write(0x1000), fork(2), write(0x1000, 2))
    result = apply(st, parse_op(reclaim(1)))
    kinds = [e.kind for e in result.events]
    assert kinds.index("pte_chain_collapse") < kinds.index("try_to_unmap")
    walk = result.walks[0]
    assert walk.via == {"kind": "pte", "id": 0, "pid": 2, "addr": 0x1000}
    assert [(v.kind, v.id, v.result) for v in walk.visited] == [("pte", 0, "hit")]
    assert result.state.counters["indirect_to_direct"] == 1


def test_d1_reclaim_walk_is_exact_across_blocks_and_frees_them():
    st = family(8)
    result = apply(st, parse_op(reclaim(1)))
    walk = result.walks[0]
    assert [(v.id, v.pid, v.result) for v in walk.visited] == [(2, 9, "hit"), (2, 8, "hit")] + [
        (1, pid, "hit") for pid in (7, 6, 5, 4, 3, 2, 1)
    ]
    assert walk.candidates == 9 and walk.remaining == 0
    after = result.state
    assert after.pte_chains == {} and after.page_pte == {}
    assert after.counters["pte_chain_search"] == 0  # try_to_unmap releases in place
    assert check(after) == []


# ----- fork and exit costs ------------------------------------------------------------------


def test_d1_fork_allocates_blocks_in_address_order():
    """copy_page_range walks the vma upwards, whatever order the pages were touched in."""
    st = d1(
        spawn(),
        mmap(0x1000, 4),
        write(0x4000),
        write(0x3000),
        write(0x2000),
        write(0x1000),
        fork(2),
    )
    assert st.page_pte == {4: 1, 3: 2, 2: 3, 1: 4}
    assert all(st.pte_chains[b].pfn == p for p, b in st.page_pte.items())


def test_d1_fork_of_chained_and_direct_pages():
    """A second fork: a page that went direct again by COW needs a new block, a chained
    page just gains an entry in its head block."""
    st = d1(
        spawn(), mmap(0x1000, 2), write(0x1000), write(0x2000), fork(2), write(0x1000, 5), fork(3)
    )
    # F3: P's COW copy of 0x1000, direct until this fork -> block 3; F2 gains C2 in block 2
    assert st.page_pte == {1: 1, 2: 2, 3: 3}
    assert chain(st, 3) == [(3, 0x1000), (1, 0x1000)]
    assert chain(st, 2) == [(3, 0x2000), (2, 0x2000), (1, 0x2000)]
    assert chain(st, 1) == [(2, 0x1000)]
    assert check(st) == []


def test_d1_fork_event_counts_insertions_and_blocks():
    st = d1(spawn(), mmap(0x1000, 3), write(0x1000, 1, pid=1), write(0x2000), write(0x3000))
    result = apply(st, parse_op(fork(2)))
    [event] = [e for e in result.events if e.kind == "page_add_rmap"]
    assert event.func == "mm/rmap.c:page_add_rmap"
    assert "3 PageDirect pages become two-entry chains" in event.text
    assert "3 pte_chain blocks allocated (ids 1-3, 32 bytes each" in event.text
    assert event.objects[-3:] == (
        {"kind": "pte_chain", "id": 1},
        {"kind": "pte_chain", "id": 2},
        {"kind": "pte_chain", "id": 3},
    )


@pytest.mark.parametrize(
    ("order", "searched"),
    [
        # each exit moves the head's first entry into its hole: 6 + 4 + 2 + 1 + 1 + 1, ~k^2/4
        pytest.param((2, 3, 4, 5, 6, 7), 15, id="oldest child first: O(k^2)"),
        pytest.param((7, 6, 5, 4, 3, 2), 6, id="newest child first: 1 each"),
    ],
)
def test_d1_exit_of_a_family_pays_a_linear_search_per_pte(order, searched):
    st = family(6)
    st = more(st, *(exit_op(pid) for pid in order))
    assert st.counters["pte_chain_search"] == searched
    assert chain(st, 1) == [(1, 0x1000)]
    assert check(st) == []


def test_d1_zap_folds_its_removals_into_one_event():
    st = family(1, pages=3)
    result = apply(st, parse_op(exit_op(2)))
    removals = [e for e in result.events if e.kind == "page_remove_rmap"]
    assert len(removals) == 1
    assert removals[0].text.startswith("3 times; the first: Frame 1 drops pte(2, 0x1000)")
    assert result.state.counters["pte_chain_search"] == 3


# ----- mremap: page_remove_rmap + page_add_rmap per PTE ------------------------------------------


def test_d1_mremap_of_a_shared_page_may_need_a_new_block():
    """P + 7 children: the head block holds C7 alone, the next block is full. Moving P's
    PTE removes it (C7 fills its hole, the head empties and is freed) and re-adds it: the
    full block cannot take it, so a new head block is allocated."""
    st = more(family(7), mremap(0x1000, 1, 1, 0x9000))
    assert st.page_pte == {1: 3}
    assert slots(st, 3) == ([N, N, N, N, N, N, (1, 0x9000)], 1)
    assert slots(st, 1)[0][-1] == (8, 0x1000)
    assert 2 not in st.pte_chains
    assert st.counters["pte_chain_search"] == 1 + 7
    assert check(st) == []


def test_d1_mremap_re_registers_from_the_end_of_the_range():
    """move_page_tables (2.6.0) moves the last page first, so its block is allocated first."""
    st = more(family(7, pages=2), mremap(0x1000, 2, 2, 0x9000))
    assert st.page_pte == {1: 6, 2: 5}
    assert chain(st, 2)[0] == (1, 0xA000) and chain(st, 1)[0] == (1, 0x9000)
    assert check(st) == []


def test_d1_mremap_of_a_direct_page_stays_direct():
    st = d1(spawn(), mmap(0x1000, 2), write(0x2000), mremap(0x1000, 2, 2, 0x9000))
    assert st.page_pte == {1: (1, 0xA)} and st.page_flags[1] == PG_DIRECT
    assert st.counters["pte_chains_allocated"] == 0


# ----- merging: pgoff ignored, 2.6.0 geometry, mprotect's two merge points (J-7) ---------------


def test_d1_mmap_and_mremap_merge_ignoring_anon_pgoff():
    """A vma moved next to others keeps its pgoff (8); 2.6.0 merges anyway (case 1)."""
    st = d1(
        spawn(),
        mmap(0x1000, 1),
        write(0x1000),
        mmap(0x3000, 1),
        mmap(0x8000, 1),
        mremap(0x8000, 1, 1, 0x2000),
    )
    assert vmas_of(st) == [(1, 0x1000, 0x4000, 1, "rw", None)]
    assert check(st) == []


def test_d1_mprotect_of_a_tail_merges_it_into_the_successor():
    """The split tail is the original struct; the final merge lets it absorb the next vma."""
    st = d1(spawn(), mmap(0x1000, 3), mmap(0x4000, 2, "r"), mprotect(0x3000, 1, "r"))
    assert vmas_of(st) == [(3, 0x1000, 0x3000, 1, "rw", None), (1, 0x3000, 0x6000, 3, "r", None)]
    assert check(st) == []


def test_d1_mprotect_at_a_vma_start_shifts_the_boundary():
    st = d1(
        spawn(),
        mmap(0x1000, 1),
        mmap(0x2000, 3, "rwx"),
        write(0x2000, 7),
        mprotect(0x2000, 1, "rw"),
    )
    assert vmas_of(st) == [(1, 0x1000, 0x3000, 1, "rw", None), (2, 0x3000, 0x5000, 3, "rwx", None)]
    assert st.page_pte == {1: (1, 2)}  # the page changed vma; its rmap did not
    assert check(st) == []


def test_d1_mprotect_ending_at_a_vma_end_merges_with_next():
    st = d1(spawn(), mmap(0x1000, 1, "r"), mmap(0x2000, 1), mprotect(0x1000, 1, "rw"))
    assert vmas_of(st) == [(1, 0x1000, 0x3000, 1, "rw", None)]


def test_d1_mprotect_from_the_middle_of_a_vma_never_merges():
    st = d1(spawn(), mmap(0x1000, 1), mmap(0x2000, 3, "r"), mprotect(0x3000, 1, "rw"))
    assert vmas_of(st) == [
        (1, 0x1000, 0x2000, 1, "rw", None),
        (3, 0x2000, 0x3000, 2, "r", None),
        (2, 0x3000, 0x4000, 3, "rw", None),
        (4, 0x4000, 0x5000, 4, "r", None),
    ]


def test_d1_mprotect_final_merge_looks_only_past_the_last_vma():
    """2.6.0 quirk: the first vma changes to the second's flags, the second is a no-op
    (E15), and the final merge tries prev (the second) with the vma after it: the two
    equal neighbours stay apart. (2.6.7's vma_merge would join them.)"""
    st = d1(spawn(), mmap(0x1000, 2, "r"), mmap(0x3000, 3), mprotect(0x1000, 5, "rw"))
    assert vmas_of(st) == [(1, 0x1000, 0x3000, 1, "rw", None), (2, 0x3000, 0x6000, 3, "rw", None)]
    assert check(st) == []


def test_d1_split_merge_and_mprotect_never_touch_a_page():
    """D1.6: no rmap state outside the pages, so restructuring vmas changes no page."""
    st = d1(
        spawn(),
        mmap(0x1000, 4),
        write(0x1000),
        write(0x2000),
        write(0x3000),
        fork(2),
        write(0x2000, 9),
    )
    before = (st.page_pte, st.pte_chains, st.page_flags, st.page_index)
    st = more(
        st,
        mprotect(0x2000, 1, "r"),
        mprotect(0x2000, 1, "rw"),
        munmap(0x4000, 1),
        mprotect(0x1000, 2, "r", pid=2),
        mprotect(0x1000, 2, "rw", pid=2),
    )
    assert (st.page_pte, st.pte_chains, st.page_flags, st.page_index) == before
    assert len(st.mms[1].vmas) == 1 and check(st) == []


# ----- the swap cache: page->mapping = &swapper_space, page->index = the swap entry ----------


def test_d1_swap_in_is_direct_then_the_chain_grows():
    st = d1(spawn(), mmap(0x1000, 1), write(0x1000, 5), fork(2), reclaim(1), read(0x1000))
    assert st.page_pte == {2: (1, 1)}
    assert st.page_flags[2] == PG_DIRECT | PG_SWAPCACHE and st.page_index == {2: 1}
    page = state_to_json(st)["pages"][0]
    assert (page["mapping"], page["index"], page["page_mapping"]) == (
        {"kind": "pte", "id": 0, "pid": 1, "addr": 0x1000},
        1,
        "swapper_space",
    )
    st = more(st, read(0x1000, pid=2))
    assert st.page_pte == {2: 2} and chain(st, 2) == [(2, 0x1000), (1, 0x1000)]
    assert st.page_index == {2: 1} and check(st) == []


def test_d1_unmapped_swap_cache_page_shows_swapper_space():
    st = d1(
        spawn(),
        mmap(0x1000, 1),
        write(0x1000, 5),
        fork(2),
        reclaim(1),
        read(0x1000),
        munmap(0x1000, 1),
    )
    page = state_to_json(st)["pages"][0]
    # 2.6.0 had no PG_swapcache and no page->private slot: PageSwapCache(page) was
    # page->mapping == &swapper_space, and the swap entry lived in page->index
    assert (
        page["flags"],
        page["mapping"],
        page["index"],
        page["mapcount"],
        page["swap_slot"],
        page["page_mapping"],
    ) == ([], {"kind": "swapper_space", "id": 0}, 1, 0, None, "swapper_space")
    assert check(st) == []


def test_d1_leaving_the_swap_cache_clears_the_index():
    st = d1(spawn(), mmap(0x1000, 1), write(0x1000, 5), reclaim(1), read(0x1000), write(0x1000, 6))
    assert st.page_flags[2] & PG_SWAPCACHE and st.page_index == {2: 1}  # J-13: kept
    st = more(st, munmap(0x1000, 1))
    assert st.page_index == {} and st.page_mapcount == {} and st.swap_ptes == {}


# ----- sizes, options, documents ------------------------------------------------------------


def test_d1_memory_is_the_pte_union_plus_one_cache_line_per_block():
    design = get_design(D1)
    assert design.memory(family(1, pages=2)) == {
        "rmap_bytes": 2 * 4 + 2 * 32,
        "rmap_bytes_pages": 2 * 4,
        "rmap_bytes_vmas": 0,
        "rmap_bytes_pte_chain": 2 * 32,
        "page_bytes": 2 * 40,
        "page_bytes_andrea": 2 * 48,
    }
    assert design.memory(family(8)) == {
        "rmap_bytes": 4 + 2 * 32,
        "rmap_bytes_pages": 4,
        "rmap_bytes_vmas": 0,
        "rmap_bytes_pte_chain": 2 * 32,
        "page_bytes": 40,
        "page_bytes_andrea": 48,
    }


def test_d1_size_table_lists_the_union_and_the_block():
    sizes = design_class(D1).size_table
    assert sizes["struct page, 2.6.0 field sum"] == 40
    assert [v for k, v in sizes.items() if k.startswith("struct page, Andrea")] == [48]
    assert [v for k, v in sizes.items() if k.startswith("rmap bytes per")] == [4, 0]
    assert [v for k, v in sizes.items() if k.startswith("struct pte_chain")] == [32]


@pytest.mark.parametrize(
    ("options", "nrpte", "l1"),
    [
        pytest.param((), 7, 32, id="32-byte lines"),
        pytest.param(("l1_64",), 15, 64, id="l1_64"),
        pytest.param(("l1_128",), 31, 128, id="l1_128"),
    ],
)
def test_d1_cache_line_options_set_nrpte(options, nrpte, l1):
    st = d1(
        spawn(), mmap(0x1000, 1), write(0x1000), *(fork(c) for c in range(2, 18)), options=options
    )
    blocks = [st.pte_chains[b] for b in sorted(st.pte_chains)]
    assert {len(b.entries) for b in blocks} == {nrpte}
    assert len(blocks) == -(-17 // nrpte)
    assert get_design(D1, frozenset(options)).memory(st)["rmap_bytes"] == 4 + l1 * len(blocks)
    assert check(st) == []


def test_d1_cache_line_options_exclude_each_other():
    with pytest.raises(DesignUnavailable, match="exclude each other"):
        new_state(D1, ("l1_64", "l1_128"))


def test_d1_state_document_lists_blocks_with_their_links():
    doc = state_to_json(family(8))
    assert doc["anon_vmas"] == []
    assert doc["pte_chains"] == [
        {
            "id": 1,
            "pfn": 1,
            "next": None,
            "free": 0,
            "entries": [{"pid": p, "addr": 0x1000} for p in (7, 6, 5, 4, 3, 2, 1)],
        },
        {
            "id": 2,
            "pfn": 1,
            "next": 1,
            "free": 5,
            "entries": [{"pid": 9, "addr": 0x1000}, {"pid": 8, "addr": 0x1000}],
        },
    ]
    assert doc["pages"][0]["mapping"] == {"kind": "pte_chain", "id": 2}
    assert doc["pages"][0]["flags"] == []


def test_d1_keeps_no_state_per_vma_or_mm():
    st = family(3, pages=2)
    assert st.anon_vmas == {} and st.counters["anon_vmas_allocated"] == 0
    assert all(v.anon_vma is None for v in st.vmas.values())


# ----- the checker (§10.2): every rule detects a planted violation -----------------------------


def base() -> State:
    """F1 a one-entry chain {P} (block 1), F2 a chain {C, P} (block 2), F4 direct to C,
    F5 swapped in by P: direct, in the swap cache as slot 1, index 1."""
    return d1(
        spawn(),
        mmap(0x1000, 4),
        write(0x1000, 1),
        write(0x2000, 2),
        write(0x3000, 3),
        fork(2),
        write(0x1000, 4, pid=2),
        reclaim(3),
        read(0x3000),
    )


def _mapcount_off(st):
    st.w("page_mapcount")[2] += 1


def _rmap_entry_lost(st):
    del st.w("page_pte")[4]


def _direct_flag_on_chain(st):
    st.w("page_flags")[2] |= PG_DIRECT


def _direct_to_wrong_pte(st):
    st.w("page_pte")[4] = (1, 1)


def _stale_chain_entry(st):
    st.w("pte_chains")[2] = StructPteChain(2, 2, (N, N, N, N, N, (2, 9), (1, 2)))


def _duplicate_chain_entry(st):
    st.w("page_mapcount")[2] = 3
    st.w("pte_chains")[2] = StructPteChain(2, 2, (N, N, N, N, (1, 2), (2, 2), (1, 2)))


def _hole_in_head(st):
    st.w("pte_chains")[2] = StructPteChain(2, 2, (N, N, N, N, (2, 2), N, (1, 2)))


def _free_slot_after_head(st):
    st.w("pte_chains")[9] = StructPteChain(9, 2, (N, N, N, N, N, N, (2, 2)), 2)
    st.w("pte_chains")[2] = StructPteChain(2, 2, (N, N, N, N, N, N, (1, 2)))
    st.w("page_pte")[2] = 9


def _leaked_block(st):
    st.w("pte_chains")[9] = StructPteChain(9, 2, (N, N, N, N, N, N, (2, 2)))


def _short_block(st):
    st.w("pte_chains")[2] = StructPteChain(2, 2, (N, N, N, N, (2, 2), (1, 2)))


def _pg_anon(st):
    st.w("page_flags")[1] |= PG_ANON


def _index_without_swap_cache(st):
    st.w("page_index")[1] = 5


def _index_not_the_slot(st):
    st.w("page_index")[5] = 7


def _mapping_object(st):
    st.w("page_mapping")[1] = 1


def _vma_with_anon_vma(st):
    st.w("vmas")[1] = replace(st.vmas[1], anon_vma=1)


def _chain_to_freed_block(st):
    st.w("page_pte")[2] = 99


def _freed_frame_keeps_rmap(st):
    st.w("page_pte")[77] = (1, 3)


CASES = [
    ("D1.1", _mapcount_off),
    ("D1.1", _rmap_entry_lost),
    ("D1.2", _direct_flag_on_chain),
    ("D1.2", _direct_to_wrong_pte),
    ("D1.3", _stale_chain_entry),
    ("D1.3", _duplicate_chain_entry),
    ("D1.4", _hole_in_head),
    ("D1.4", _free_slot_after_head),
    ("D1.4", _leaked_block),
    ("D1.4", _short_block),
    ("D1.5", _pg_anon),
    ("D1.5", _index_without_swap_cache),
    ("D1.5", _index_not_the_slot),
    ("D1.5", _mapping_object),
    ("D1.6", _vma_with_anon_vma),
    ("G10", _chain_to_freed_block),
    ("G10", _freed_frame_keeps_rmap),
]


def test_d1_check_base_state_is_sound():
    st = base()
    assert (st.page_pte[1], st.page_pte[2], st.page_pte[4], st.page_pte[5]) == (
        1,
        2,
        (2, 1),
        (1, 3),
    )
    assert st.page_index == {5: 1}
    assert check(st) == []


@pytest.mark.parametrize(("rule", "fn"), CASES, ids=[f"{r}-{f.__name__}" for r, f in CASES])
def test_d1_check_detects(rule, fn):
    assert rule in rules(corrupt(base(), fn))


def test_d1_check_names_the_chain_mismatch():
    texts = [v.text for v in check(corrupt(base(), _stale_chain_entry))]
    assert any("stale pte(2, 0x9000)" in t and "missing pte(2, 0x2000)" in t for t in texts)


def test_d1_broken_rmap_is_reported_not_raised():
    st = corrupt(base(), _rmap_entry_lost)
    result = apply(st, parse_op(munmap(0x1000, 1, pid=2)))
    assert "rmap_not_found" in [e.kind for e in result.events]


# ----- random runs: every invariant after every step -------------------------------------------


def _random_op(rng, st, next_pid):
    pids = sorted(st.mms)
    if not pids:
        next_pid[0] += 1
        return spawn(next_pid[0])
    pid = rng.choice(pids)
    vmas = [st.vmas[v] for v in st.mms[pid].vmas]
    if not vmas:
        return mmap(0x10000, rng.randint(1, 6), pid=pid)
    vma = rng.choice(vmas)
    at = rng.randrange(vma.vm_start, vma.vm_end, 0x1000)
    pages = rng.randint(1, max(1, (vma.vm_end - at) >> 12))
    kind = rng.choices(
        ["write", "read", "fork", "exit", "munmap", "mprotect", "mremap", "reclaim", "mmap"],
        weights=[30, 10, 10, 4, 4, 8, 6, 12, 4],
    )[0]
    if kind == "fork" and len(pids) < 12:
        next_pid[0] += 1
        return fork(next_pid[0], pid=pid)
    if kind == "exit" and len(pids) > 1:
        return exit_op(pid)
    if kind == "munmap":
        return munmap(at, pages, pid=pid)
    if kind == "mprotect":
        return mprotect(at, pages, rng.choice(("r", "rw", "rw", "rwx")), pid=pid)
    if kind == "mremap":
        return mremap(at, pages, rng.randint(1, 4), 0x40000 + rng.randrange(32) * 0x1000, pid=pid)
    if kind == "reclaim" and st.page_mapcount:
        return reclaim(rng.choice(sorted(st.page_mapcount)))
    if kind == "mmap":
        return mmap(0x10000 + rng.randrange(48) * 0x1000, rng.randint(1, 4), pid=pid)
    if kind == "read":
        return read(at, pid=pid)
    return write(at, rng.randint(1, 99), pid=pid)


@pytest.mark.parametrize(("seed", "options"), [(1, ()), (2, ()), (3, ("l1_64",))])
def test_d1_random_runs_keep_every_invariant(seed, options):
    rng = random.Random(seed)
    st = new_state(D1, options)
    next_pid = [0]
    applied = 0
    for _ in range(250):
        op = _random_op(rng, st, next_pid)
        try:
            st = apply(st, parse_op(op)).state
        except EngineError:
            continue
        applied += 1
        assert check(st) == [], (applied, op)
    assert applied > 150
