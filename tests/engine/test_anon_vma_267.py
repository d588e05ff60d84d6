"""D4, anon_vma as merged in 2.6.7: its rules, its options, and its §11 column."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.engine import apply, check, parse_op, run_scenario

from .helpers import fork, lists, mmap, mprotect, read, reclaim, run_ops, spawn, vmas_of, write

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
D4 = "anon_vma_267"


def d4(*ops, options=()):
    return run_ops(*ops, design=D4, options=options)


def run(name, options=None):
    doc = json.loads((SCENARIOS / f"{name}.json").read_text())
    return run_scenario(doc, design=D4, options=options, all_states=True)


def walks(doc):
    """Every walk of the run as (pfn, [(vma id, result)], candidates)."""
    return [
        (w["pfn"], [(v["id"], v["result"]) for v in w["visited"]], w["candidates"])
        for s in doc["steps"]
        for w in s["walks"]
    ]


def final_lists(doc):
    return {av["id"]: av["vmas"] for av in doc["state"]["anon_vmas"]}


# scenario, walks (pfn, visits, candidates), anon_vma lists at the end, vmas of pid 1
REFERENCE = [
    ("s1-first-touch", [(2, [(1, "hit")], 1)], {1: [1]}, [(1, 0x1000, 0x5000, 1, 1)]),
    ("s2-zero-page", [(1, [(1, "hit")], 1)], {1: [1]}, [(1, 0x1000, 0x2000, 1, 1)]),
    (
        "s3-fork-shares",
        [(1, [(2, "hit"), (1, "hit")], 2)],
        {1: [2, 1]},
        [(1, 0x1000, 0x3000, 1, 1)],
    ),
    (
        "s4-aim7-shape",
        [(2, [(3, "miss"), (2, "hit")], 3)],
        {1: [3, 2, 1]},
        [(1, 0x1000, 0x3000, 1, 1)],
    ),
    ("s5-cow-both-ways", [(1, [(2, "hit")], 2)], {1: [2, 1]}, [(1, 0x1000, 0x2000, 1, 1)]),
    ("s6-mprotect-split-merge", [(3, [(3, "hit")], 3)], {1: [2]}, [(2, 0x1000, 0x5000, 1, 1)]),
    ("s7-munmap-middle", [(3, [(2, "hit")], 2)], {}, []),
    ("s8-mremap-move", [(2, [(2, "hit")], 1)], {1: [2]}, [(2, 0x9000, 0xD000, 1, 1)]),
    (
        "s9-fork-cow-mremap",
        [(2, [(3, "hit"), (2, "hit")], 2)],
        {1: [3, 2]},
        [(3, 0x9000, 0xD000, 1, 1)],
    ),
    ("s13-grandchild", [(2, [(3, "hit")], 2)], {1: [3, 1]}, [(1, 0x1000, 0x3000, 1, 1)]),
    ("s15-mremap-untouched", [], {1: [1]}, [(1, 0x1000, 0x5000, 1, 1)]),
]


@pytest.mark.parametrize(
    ("name", "expected_walks", "expected_lists", "expected_vmas"),
    REFERENCE,
    ids=[r[0] for r in REFERENCE],
)
def test_d4_reference_scenarios(name, expected_walks, expected_lists, expected_vmas):
    doc = run(name)
    assert walks(doc) == expected_walks
    assert final_lists(doc) == expected_lists
    pid1 = next((m for m in doc["state"]["mms"] if m["pid"] == 1), {"vmas": []})
    assert [
        (v["id"], v["vm_start"], v["vm_end"], v["vm_pgoff"], v["anon_vma"]) for v in pid1["vmas"]
    ] == expected_vmas
    assert all(s["invariants"]["ok"] for s in doc["steps"])


def test_d4_s4_every_page_points_at_the_family_anon_vma():
    doc = run("s4-aim7-shape")
    state = doc["steps"][-2]["state"]  # before the reclaim
    assert {p["pfn"]: p["mapping"] for p in state["pages"]} == {
        1: {"kind": "anon_vma", "id": 1},
        2: {"kind": "anon_vma", "id": 1},
    }


def test_d4_s13_list_before_exit_holds_the_whole_family():
    doc = run("s13-grandchild")
    assert {a["id"]: a["vmas"] for a in doc["steps"][5]["state"]["anon_vmas"]} == {1: [3, 2, 1]}


def test_d4_anon_vma_prepare_on_first_write_only():
    st = d4(spawn(), mmap(0x1000, 2), read(0x1000))
    assert st.anon_vmas == {}
    st = apply(st, parse_op(write(0x2000))).state
    assert lists(st) == {1: (1,)} and st.page_mapping == {1: 1}


def test_d4_anon_vma_prepare_borrows_a_mergeable_neighbour():
    """rmap 40: next first, then prev, if adjacent with a linear pgoff."""
    st = d4(spawn(), mmap(0x1000, 1), write(0x1000), mmap(0x2000, 1, "rwx"), write(0x2000))
    assert [v[5] for v in vmas_of(st)] == [1, 1]
    assert lists(st) == {1: (2, 1)}
    # a later mprotect can now merge them (same anon_vma)
    st = apply(st, parse_op(mprotect(0x2000, 1, "rw"))).state
    assert vmas_of(st) == [(1, 0x1000, 0x3000, 1, "rw", 1)]


def test_d4_fork_allocates_no_anon_vma():
    st = d4(spawn(), mmap(0x1000, 1), write(0x1000), fork(2), fork(3))
    assert lists(st) == {1: (3, 2, 1)}
    assert st.counters["anon_vmas_allocated"] == 1


def test_d4_clears_mapping_at_mapcount_zero():
    ops = [
        spawn(),
        mmap(0x1000, 1),
        write(0x1000, 4),
        fork(2),
        reclaim(1),
        read(0x1000),
        write(0x1000, 5),
    ]
    st = d4(*ops)  # frame 2: read back by pid 1, then COWed away; still in the swap cache
    assert st.page_mapcount[2] == 0 and 2 not in st.page_mapping and not st.page_flags[2] & 1
    kept = d4(*ops, options=("keep_mapping",))
    assert kept.page_mapping[2] == 1
    assert check(st) == [] and check(kept) == []


IMPORTER = [
    spawn(),
    mmap(0x1000, 2),
    write(0x2000, 7),
    mmap(0x3000, 1, "r"),
    mprotect(0x2000, 1, "r"),
]


def test_d4_boundary_shift_gives_importer_the_anon_vma():
    """2.6.8 "mprotect propagate anon_vma": the expanding vma adopts the anon_vma."""
    st = d4(*IMPORTER)
    assert vmas_of(st) == [(1, 0x1000, 0x2000, 1, "rw", 1), (2, 0x2000, 0x4000, 2, "r", 1)]
    assert lists(st) == {1: (2, 1)}
    result = apply(st, parse_op(reclaim(1)))
    assert result.walks[0].remaining == 0 and check(result.state) == []


def test_d4_exact_267_importer_bug_makes_pages_unreachable():
    st = d4(*IMPORTER, options=("exact_267",))
    assert vmas_of(st) == [(1, 0x1000, 0x2000, 1, "rw", 1), (2, 0x2000, 0x4000, 2, "r", None)]
    assert {v.rule for v in check(st)} >= {"D4.1", "D4.2", "G9"}
    result = apply(st, parse_op(reclaim(1)))
    assert result.result["unreachable"] == [{"pfn": 1, "mapcount": 1}]
    assert [(v.id, v.result) for v in result.walks[0].visited] == [(1, "skip")]


def _planted(fn):
    st = d4(spawn(), mmap(0x1000, 2), write(0x1000), write(0x2000), fork(2), reclaim(2)).begin()
    fn(st)
    return {v.rule for v in check(st.finish())}


def test_d4_checker_detects_planted_violations():
    from dataclasses import replace

    from app.engine.state import AnonVma

    def unlisted(st):
        st.w("anon_vmas")[1] = AnonVma(1, (1,))

    def mapping_kept(st):
        st.w("page_mapcount")[1] = 0
        st.w("page_flags")[1] |= 4
        st.w("page_private")[1] = 1
        st.w("swap_cache")[1] = 1

    def split_family(st):
        st.w("vmas")[2] = replace(st.vmas[2], anon_vma=None)

    assert "D4.3" in _planted(unlisted)
    assert "D4.4" in _planted(mapping_kept)
    assert {"D4.5", "D4.2"} <= _planted(split_family)
