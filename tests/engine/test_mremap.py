"""mremap: shrink, grow in place, move (fixed or not), and its errors."""

from __future__ import annotations

import pytest

from app.engine import OpError, apply, parse_op
from app.engine.check import check

from .helpers import lists, mmap, mremap, read, run_ops, spawn, vmas_of, write


def test_mremap_shrink_unmaps_the_tail():
    st = run_ops(spawn(), mmap(0x1000, 4), write(0x4000, 1), mremap(0x1000, 4, 2))
    assert [(v[1], v[2]) for v in vmas_of(st)] == [(0x1000, 0x3000)]
    assert st.page_mapcount == {}


def test_mremap_grows_in_place_when_free():
    st = run_ops(spawn(), mmap(0x1000, 2), mremap(0x1000, 2, 5))
    assert vmas_of(st) == [(1, 0x1000, 0x6000, 1, "rw", None)]


def test_mremap_grow_moves_when_blocked_and_data_follows():
    st = run_ops(
        spawn(), mmap(0x10000, 2), write(0x10000, 5), mmap(0x12000, 1, "r"), mremap(0x10000, 2, 4)
    )
    moved = [v for v in vmas_of(st) if v[4] == "rw"]
    assert [(v[1], v[2], v[3]) for v in moved] == [(0x13000, 0x17000, 0x10)]
    assert apply(st, parse_op(read(0x13000))).value == 5


def test_mremap_fixed_move_keeps_pgoff_and_converts_direct_pages():
    st = run_ops(spawn(), mmap(0x1000, 2), write(0x1000, 5), mremap(0x1000, 2, 2, 0x9000))
    assert vmas_of(st) == [(2, 0x9000, 0xB000, 1, "rw", 1)]
    assert lists(st) == {1: (2,)}
    assert st.page_index == {1: 1} and not st.page_flags[1] & 2


@pytest.mark.parametrize(
    ("ops", "bad", "words"),
    [
        (
            [mmap(0x1000, 2), mmap(0x3000, 2, "r")],
            mremap(0x1000, 4, 4, 0x9000),
            "not inside one vma",
        ),
        ([mmap(0x1000, 2), mmap(0x9000, 1)], mremap(0x1000, 2, 2, 0x8000), "onto a mapped range"),
        ([mmap(0x1000, 4)], mremap(0x1000, 4, 4, 0x2000), "overlaps the old one"),
        ([mmap(0x1000, 1)], mremap(0x5000, 1, 1), "not inside one vma"),
    ],
    ids=["across-vmas", "onto-mapped", "self-overlap", "unmapped"],
)
def test_mremap_errors_name_the_problem(ops, bad, words):
    st = run_ops(spawn(), *ops)
    with pytest.raises(OpError, match=words):
        apply(st, parse_op(bad))


@pytest.mark.parametrize(
    "design", ["pte_chain", "anonmm", "anon_vma_rfc2", "anon_vma_267", "anon_vma_chain"]
)
def test_mremap_of_a_never_faulted_vma_may_merge_with_itself(design):
    # The destination [0x2000, 0x4000) touches both vma 1 and the vma being moved. 2.6.7+
    # give a never-faulted destination the pgoff of its new address (2), so all three are
    # linear and copy_vma's vma_merge absorbs the source vma itself ("Source vma may have
    # been merged into new_vma"); the old range is then unmapped from the merged vma.
    # Hypothesis found the crash this once was (tests/engine/test_stateful.py).
    st = run_ops(
        spawn(),
        mmap(0x1000, 1),
        mmap(0x4000, 1),
        read(0x4000),
        mremap(0x4000, 1, 2, 0x2000),
        design=design,
    )
    assert check(st) == []
    spans = [(v[1], v[2]) for v in vmas_of(st)]
    if design == "anon_vma_rfc2":  # keeps the old pgoff (J-4): not linear with vma 1
        assert spans == [(0x1000, 0x2000), (0x2000, 0x4000)]
    else:  # 2.6.0 and anonmm do not compare an anonymous vma's pgoff at all
        assert spans == [(0x1000, 0x4000)]
    assert apply(st, parse_op(read(0x2000))).value == 0
    assert apply(st, parse_op(read(0x4000))).outcome == "segv"
