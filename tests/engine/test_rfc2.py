"""The D3 design's own rules: PageDirect, fork, J-1 ... J-5, and the literal mode."""

from __future__ import annotations

from app.engine import apply, check, parse_op
from app.engine.state import PG_DIRECT

from .helpers import (
    fork,
    lists,
    mmap,
    mprotect,
    mremap,
    munmap,
    read,
    reclaim,
    run_ops,
    spawn,
    write,
)


def direct(state, pfn):
    return bool(state.page_flags[pfn] & PG_DIRECT)


def test_rfc2_first_touch_is_direct_and_allocates_no_anon_vma():
    st = run_ops(spawn(), mmap(0x1000, 4), write(0x3000))
    assert direct(st, 1) and st.page_mapping[1] == 1 and st.page_index[1] == 3
    assert st.anon_vmas == {} and st.counters["anon_vmas_allocated"] == 0


def test_rfc2_fork_allocates_anon_vma_and_makes_pages_indirect():
    st = run_ops(spawn(), mmap(0x1000, 2), write(0x1000), write(0x2000), fork(2))
    assert lists(st) == {1: (1, 2)}  # [parent, child] (J-2)
    assert not direct(st, 1) and not direct(st, 2)
    assert st.page_mapping == {1: 1, 2: 1}
    assert st.counters["direct_to_indirect"] == 2


def test_rfc2_fork_of_untouched_vma_allocates_nothing():
    st = run_ops(spawn(), mmap(0x1000, 2), read(0x1000), fork(2))
    assert st.anon_vmas == {} and st.vmas[2].anon_vma is None


def test_rfc2_second_fork_links_child_at_head():
    st = run_ops(spawn(), mmap(0x1000, 1), write(0x1000), fork(2), fork(3))
    assert lists(st) == {1: (3, 1, 2)}


def test_rfc2_fork_of_swap_only_vma_allocates_anon_vma():
    """J-2: a swap PTE is anon content; its sharers must share an anon_vma (D3.4)."""
    st = run_ops(spawn(), mmap(0x1000, 1), write(0x1000), reclaim(1), fork(2))
    assert lists(st) == {1: (1, 2)}


def test_rfc2_swapin_second_mapper_goes_indirect():
    """J-5: direct for the first mapper after swap-in, indirect on the second."""
    st = run_ops(spawn(), mmap(0x1000, 1), write(0x1000), fork(2), reclaim(1), read(0x1000))
    assert direct(st, 2) and st.page_mapping[2] == 1
    st = apply(st, parse_op(read(0x1000, pid=2))).state
    assert not direct(st, 2) and st.page_mapping[2] == 1  # anon_vma 1
    assert check(st) == []


def test_rfc2_cow_reuse_returns_page_to_direct():
    """J-3: an indirect page with one mapper becomes direct at a write-fault reuse."""
    st = run_ops(
        spawn(), mmap(0x1000, 1), write(0x1000), fork(2), write(0x1000), write(0x1000, pid=2)
    )
    assert direct(st, 1) and st.page_mapping[1] == 2
    assert st.counters["indirect_to_direct"] == 1


def test_rfc2_split_converts_direct_pages_first():
    """J-1: a split walks the vma's page table and makes its direct pages indirect."""
    st = run_ops(spawn(), mmap(0x1000, 3), write(0x1000), write(0x3000), mprotect(0x2000, 1, "r"))
    assert lists(st) == {1: (3, 2, 1)}
    assert not direct(st, 1) and not direct(st, 2)
    assert check(st) == []


def test_rfc2_split_of_untouched_vma_allocates_nothing():
    st = run_ops(spawn(), mmap(0x1000, 3), read(0x1000), mprotect(0x2000, 1, "r"))
    assert st.anon_vmas == {}


def test_rfc2_munmap_everything_frees_the_anon_vma():
    st = run_ops(spawn(), mmap(0x1000, 3), write(0x1000), write(0x3000), munmap(0x2000, 1))
    assert lists(st) == {1: (2, 1)}
    st = run_ops(
        spawn(),
        mmap(0x1000, 3),
        write(0x1000),
        write(0x3000),
        munmap(0x2000, 1),
        munmap(0x1000, 1),
        munmap(0x3000, 1),
    )
    assert st.anon_vmas == {} and st.page_mapcount == {}


def test_rfc2_literal_split_leaves_stale_direct_pages():
    st = run_ops(
        spawn(),
        mmap(0x1000, 3),
        write(0x1000),
        write(0x3000),
        mprotect(0x2000, 1, "r"),
        options=("rfc2_literal",),
    )
    assert direct(st, 1) and st.page_mapping[1] == 1  # vma 1 now covers [0x2000,0x3000)
    assert {v.rule for v in check(st)} >= {"G9", "D3.1"}
    result = apply(st, parse_op(reclaim(2)))
    assert result.result["unreachable"] == [{"pfn": 2, "mapcount": 1}]
    assert [(v.id, v.result) for v in result.walks[0].visited] == [(1, "skip")]


def test_rfc2_literal_mremap_leaves_pointer_to_freed_vma():
    st = run_ops(
        spawn(),
        mmap(0x1000, 1),
        write(0x1000),
        mremap(0x1000, 1, 1, 0x9000),
        options=("rfc2_literal",),
    )
    # the move copied vma 1 to vma 2 and freed vma 1: frame 1 still points at it
    assert st.page_mapping[1] == 1 and 1 not in st.vmas
    assert "G10" in {v.rule for v in check(st)}


def test_rfc2_literal_fork_links_child_once_per_page():
    st = run_ops(
        spawn(),
        mmap(0x1000, 3),
        write(0x1000),
        write(0x2000),
        write(0x3000),
        fork(2),
        options=("rfc2_literal",),
    )
    assert lists(st) == {1: (2, 2, 1, 2)}
    assert "D3.3" in {v.rule for v in check(st)}


def test_rfc2_literal_cow_reuse_stays_indirect():
    st = run_ops(
        spawn(),
        mmap(0x1000, 1),
        write(0x1000),
        fork(2),
        write(0x1000),
        write(0x1000, pid=2),
        options=("rfc2_literal",),
    )
    assert not direct(st, 1)
