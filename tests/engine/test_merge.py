"""vma_merge of 2.6.7 under the RFC2 rule (J-6): every case of the kernel's diagram."""

from __future__ import annotations

import pytest

from app.engine import apply, parse_op

from .helpers import fork, lists, mmap, mprotect, run_ops, spawn, vmas_of, write

CASES = [
    # name, ops, expected vmas of pid 1 (id, start, end, pgoff, prot, anon_vma)
    (
        "case1-mmap-fills-hole",
        [mmap(0x1000, 1), mmap(0x3000, 1), mmap(0x2000, 1)],
        [(1, 0x1000, 0x4000, 1, "rw", None)],
    ),
    (
        "case2-mmap-after-prev",
        [mmap(0x1000, 1), mmap(0x2000, 1)],
        [(1, 0x1000, 0x3000, 1, "rw", None)],
    ),
    (
        "case3-mmap-before-next",
        [mmap(0x2000, 1), mmap(0x1000, 1)],
        [(1, 0x1000, 0x3000, 1, "rw", None)],
    ),
    (
        "case4-mprotect-tail-into-next",
        [mmap(0x1000, 2), mmap(0x3000, 1, "r"), mprotect(0x2000, 1, "r")],
        [(1, 0x1000, 0x2000, 1, "rw", None), (2, 0x2000, 0x4000, 2, "r", None)],
    ),
    (
        "case5-mprotect-head-into-prev",
        [mmap(0x1000, 1, "r"), mmap(0x2000, 2), mprotect(0x2000, 1, "r")],
        [(1, 0x1000, 0x3000, 1, "r", None), (2, 0x3000, 0x4000, 3, "rw", None)],
    ),
    (
        "case6-mprotect-middle-back",
        [mmap(0x1000, 3), mprotect(0x2000, 1, "r"), mprotect(0x2000, 1, "rw")],
        [(2, 0x1000, 0x4000, 1, "rw", None)],
    ),
    (
        "case7-mprotect-whole-into-prev",
        [mmap(0x1000, 1, "r"), mmap(0x2000, 1), mmap(0x3000, 1, "rx"), mprotect(0x2000, 1, "r")],
        [(1, 0x1000, 0x3000, 1, "r", None), (3, 0x3000, 0x4000, 3, "rx", None)],
    ),
    (
        "case8-mprotect-whole-absorbs-next",
        [mmap(0x1000, 1, "rx"), mmap(0x2000, 1), mmap(0x3000, 1, "r"), mprotect(0x2000, 1, "r")],
        [(1, 0x1000, 0x2000, 1, "rx", None), (2, 0x2000, 0x4000, 2, "r", None)],
    ),
]


@pytest.mark.parametrize(("ops", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_merge_cases(ops, expected):
    assert vmas_of(run_ops(spawn(), *ops)) == expected


def test_merge_case1_converts_next_direct_pages_first():
    """J-1: the removed vma's PageDirect page goes indirect on a new anon_vma first."""
    st = run_ops(
        spawn(),
        mmap(0x1000, 1),
        write(0x1000, 5),
        mmap(0x3000, 1),
        write(0x3000, 6),
        mmap(0x2000, 1),
    )
    assert vmas_of(st) == [(1, 0x1000, 0x4000, 1, "rw", 1)]
    assert lists(st) == {1: (1,)}
    # frame 1 stays direct to vma 1 (which still covers it); frame 2 came from vma 2
    assert st.page_mapping == {1: 1, 2: 1}
    assert st.page_flags[1] & 2 and not st.page_flags[2] & 2


def _two_families():
    """Two adjacent vmas of pid 1, each forked separately: anon_vmas 1 and 2."""
    return run_ops(
        spawn(),
        mmap(0x1000, 1, "rw"),
        write(0x1000),
        mmap(0x2000, 1, "rwx"),
        write(0x2000),
        fork(2),
    )


def test_merge_refused_between_different_anon_vmas():
    st = _two_families()
    assert [v[5] for v in vmas_of(st)] == [1, 2]
    st = apply(st, parse_op(mprotect(0x2000, 1, "rw"))).state
    assert [(v[1], v[2], v[5]) for v in vmas_of(st)] == [(0x1000, 0x2000, 1), (0x2000, 0x3000, 2)]
    result = apply(st, parse_op({"op": "merge", "pid": 1, "addr": 0x1000}))
    merge = result.result["merge"]
    assert merge["merged"] is False
    anon = [r for r in merge["reasons"] if r["text"].startswith("anon_vma")]
    assert len(anon) == 1 and anon[0]["side"] == "next" and anon[0]["vma"] == 2
    assert "different anon_vmas (1 and 2)" in anon[0]["text"]
    assert result.state.vmas == st.vmas


def test_merge_op_lists_every_reason():
    st = run_ops(spawn(), mmap(0x1000, 1, "r"), mmap(0x3000, 1, "rw"), mmap(0x4000, 1, "rx"))
    merge = apply(st, parse_op({"op": "merge", "pid": 1, "addr": 0x3000})).result["merge"]
    texts = {(r["side"], r["text"].split(":")[0]) for r in merge["reasons"]}
    assert ("prev", "vma 1 ends at 0x2000, not at 0x3000") in texts
    assert ("next", "vm_flags differ") in texts


def test_merge_op_merges_when_allowed():
    """Literal RFC2 never merges on mprotect, but the merge op applies the mmap rule."""
    st = run_ops(
        spawn(),
        mmap(0x1000, 3),
        mprotect(0x2000, 1, "r"),
        mprotect(0x2000, 1, "rw"),
        options=("rfc2_literal",),
    )
    assert len(vmas_of(st)) == 3
    result = apply(st, parse_op({"op": "merge", "pid": 1, "addr": 0x2000}))
    assert result.result["merge"] == {"merged": True, "vma": 2, "case": 6, "removed": [1, 3]}
    assert vmas_of(result.state) == [(2, 0x1000, 0x4000, 1, "rw", None)]


def test_merge_literal_mode_never_merges_on_mprotect():
    ops = [spawn(), mmap(0x1000, 3), mprotect(0x2000, 1, "r"), mprotect(0x2000, 1, "rw")]
    assert len(vmas_of(run_ops(*ops, options=("rfc2_literal",)))) == 3
    assert len(vmas_of(run_ops(*ops))) == 1


def test_merge_literal_refuses_equal_anon_vmas():
    """RFC2 as posted: (!a1 || !a2) only, so two split pieces of one family never merge."""
    ops = [
        spawn(),
        mmap(0x1000, 3),
        write(0x1000),
        fork(2),
        mprotect(0x2000, 1, "r"),
        mprotect(0x2000, 1, "rw"),
    ]
    st = run_ops(*ops, options=("rfc2_literal",))
    merge = apply(st, parse_op({"op": "merge", "pid": 1, "addr": 0x1000})).result["merge"]
    assert merge["merged"] is False
    assert any("both have anon_vma 1" in r["text"] for r in merge["reasons"])
    default = run_ops(*ops)
    assert len(vmas_of(default)) == 1
