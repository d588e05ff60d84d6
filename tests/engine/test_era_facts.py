"""Numbers, flags and walks each design's era really had (docs/semantics.md), pinned where
a review against the kernel sources found the tool wrong (W1-W5 of the review)."""

import json
from pathlib import Path

import pytest

from app.engine import design_class, run_scenario
from app.engine.serialize import counters_json, state_to_json

from .helpers import fork, mmap, mremap, reclaim, spawn, step_by_step, write

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


steps = step_by_step


# ----- W1: 2.6.7's struct page is 32 bytes on i386 ------------------------------------------------


def test_267_struct_page_is_32_bytes():
    ((state, _, _),) = steps(
        spawn(), mmap(0x1000, 2), write(0x1000), write(0x2000), design="anon_vma_267"
    )[-1:]
    c = counters_json(state)
    assert (c["page_bytes"], c["page_bytes_andrea"]) == (64, 64)
    assert 44 not in design_class("anon_vma_267").size_table.values()
    assert 32 in design_class("anon_vma_267").size_table.values()


def test_rfc2_keeps_andreas_44_and_the_field_sum_40():
    ((state, _, _),) = steps(
        spawn(), mmap(0x1000, 2), write(0x1000), write(0x2000), design="anon_vma_rfc2"
    )[-1:]
    c = counters_json(state)
    assert (c["page_bytes"], c["page_bytes_andrea"]) == (80, 88)


def test_267_agrees_with_2634_on_the_same_layout():
    ops = (spawn(), mmap(0x1000, 1), write(0x1000))
    d4 = counters_json(steps(*ops, design="anon_vma_267")[-1][0])["page_bytes"]
    d5 = counters_json(steps(*ops, design="anon_vma_chain", options=("v2_6_34",))[-1][0])
    assert d4 == d5["page_bytes"] == 32


# ----- W2: anon_vma_chains are allocations ------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "anon_vmas", "avcs"), [("s3-fork-shares", 2, 3), ("aim7-shape", 5, 9)]
)
def test_avcs_are_counted_as_allocations(name, anon_vmas, avcs):
    data = json.loads((SCENARIOS / f"{name}.json").read_text())
    doc = run_scenario({**data, "design": "anon_vma_chain", "options": []})
    c = doc["steps"][-1]["counters"]
    assert (c["anon_vmas_allocated"], c["anon_vma_chains_allocated"]) == (anon_vmas, avcs)
    assert c["objects_allocated"] == anon_vmas + avcs


def test_objects_allocated_of_every_design_sums_its_own_objects():
    data = json.loads((SCENARIOS / "s3-fork-shares.json").read_text())
    got = {}
    for design in ("pte_chain", "anonmm", "anon_vma_rfc2", "anon_vma_267"):
        c = run_scenario({**data, "design": design, "options": []})["steps"][-1]["counters"]
        got[design] = c["objects_allocated"]
        assert c["anon_vma_chains_allocated"] == 0
    assert got == {"pte_chain": 1, "anonmm": 2, "anon_vma_rfc2": 1, "anon_vma_267": 1}


def test_avcs_allocated_is_cumulative():
    out = steps(
        spawn(),
        mmap(0x1000, 1),
        write(0x1000),
        fork(2),
        {"op": "exit", "pid": 2},
        design="anon_vma_chain",
    )
    counts = [s.counters["anon_vma_chains_allocated"] for s, _, _ in out]
    assert counts == [0, 0, 1, 3, 3]
    assert len(out[-1][0].avcs) == 1


# ----- W3: 2.6.0 had no PG_swapcache; the swap entry lived in page->index -------------------------


def test_pte_chain_swap_cache_page_is_marked_by_mapping_and_index():
    out = steps(
        spawn(),
        mmap(0x1000, 1),
        write(0x1000, 5),
        fork(2),
        reclaim(1),
        {"op": "read", "pid": 1, "addr": 0x1000},
        design="pte_chain",
    )
    swapout = out[4][1]
    add = next(e for e in swapout if e.kind == "add_to_swap")
    assert add.func == "mm/swap_state.c:add_to_swap"
    assert "&swapper_space" in add.text and "page->index" in add.text
    assert "PG_swapcache set" not in add.text
    page = state_to_json(out[-1][0])["pages"][0]
    assert "swapcache" not in page["flags"]
    assert (page["swap_slot"], page["index"], page["page_mapping"]) == (None, 1, "swapper_space")


@pytest.mark.parametrize("design", ["anonmm", "anon_vma_rfc2", "anon_vma_267", "anon_vma_chain"])
def test_later_designs_keep_pg_swapcache_and_private(design):
    out = steps(
        spawn(),
        mmap(0x1000, 1),
        write(0x1000, 5),
        fork(2),
        reclaim(1),
        {"op": "read", "pid": 1, "addr": 0x1000},
        design=design,
    )
    page = state_to_json(out[-1][0])["pages"][0]
    assert "swapcache" in page["flags"] and page["swap_slot"] == 1
    add = next(e for e in out[4][1] if e.kind == "add_to_swap")
    assert "PG_swapcache set, page->private = the swap entry" in add.text


# ----- W4: 2.6.34 put every swapped-in page on the oldest anon_vma --------------------------------

#: the child's own page, swapped out, then written back in by the child alone
CHILD_PRIVATE_SWAPIN = (
    spawn(),
    mmap(0x1000, 1),
    write(0x1000, 1),
    fork(2),
    write(0x1000, 2, pid=2),
    reclaim(2),
    write(0x1000, 3, pid=2),
    reclaim(3),
)


def test_618_exclusive_swapin_goes_to_the_own_anon_vma():
    out = steps(*CHILD_PRIVATE_SWAPIN, design="anon_vma_chain")
    state = out[6][0]
    assert state.page_mapping[3] == state.vmas[2].anon_vma == 2
    assert "exclusive" in state_to_json(state)["pages"][1]["flags"]
    walk = out[7][2][0]
    assert (len(walk.visited), walk.candidates) == (1, 1)


def test_2634_every_swapin_goes_to_the_oldest_anon_vma():
    out = steps(*CHILD_PRIVATE_SWAPIN, design="anon_vma_chain", options=("v2_6_34",))
    state, events, _ = out[6]
    assert state.vmas[2].anon_vma == 2
    assert state.page_mapping[3] == 1  # the root: page_add_anon_rmap passed exclusive = 0
    assert state_to_json(state)["pages"][1]["flags"] == ["anon"]  # no PageAnonExclusive
    funcs = [e.func for e in events]
    assert "mm/swapfile.c:reuse_swap_page" in funcs
    assert "mm/rmap.c:page_add_anon_rmap" in funcs
    assert not [f for f in funcs if "folio" in f]
    walk = out[7][2][0]
    assert walk.via == {"kind": "anon_vma", "id": 1}
    assert [(v.id, v.result) for v in walk.visited] == [(1, "miss"), (2, "hit")]
    assert walk.candidates == 2


def test_2634_has_no_page_anon_exclusive_anywhere():
    data = json.loads((SCENARIOS / "s5-cow-both-ways.json").read_text())
    doc = run_scenario({**data, "design": "anon_vma_chain", "options": ["v2_6_34"]})
    texts = [e["text"] for s in doc["steps"] for e in s["events"]]
    assert not [t for t in texts if "PageAnonExclusive" in t]
    assert not [p for p in doc["state"]["pages"] if "exclusive" in p["flags"]]


# ----- W5: the mremap adoption is the simulator's, not copy_vma's --------------------------------

#: a faulted range (pgoff 2) moved back next to an unfaulted vma (pgoff 1): it joins it
ADOPTION = (
    spawn(),
    mmap(0x2000, 1),
    write(0x2000, 9),
    mremap(0x2000, 1, 1, new_addr=0x8000),
    mmap(0x1000, 1),
    mremap(0x8000, 1, 1, new_addr=0x2000),
)


@pytest.mark.parametrize(
    ("design", "options"),
    [("anon_vma_rfc2", ()), ("anon_vma_267", ()), ("anon_vma_chain", ("v2_6_34",))],
)
def test_mremap_adoption_is_narrated_as_a_modelling_choice(design, options):
    out = steps(*ADOPTION, design=design, options=options)
    state, events, _ = out[-1]
    adopt = [e for e in events if e.kind in ("anon_vma_link", "dup_anon_vma")]
    assert len(adopt) == 1
    assert adopt[0].func.startswith("simulator: ")
    assert "modelling choice" in adopt[0].text
    assert adopt[0].ref == "docs/semantics.md#mremap-adoption"
    assert adopt[0].to_json()["ref"] == "docs/semantics.md#mremap-adoption"
    assert state.find_vma(1, 0x1000).anon_vma is not None


def test_618_adoption_is_the_kernels_dup_anon_vma():
    _, events, _ = steps(*ADOPTION, design="anon_vma_chain")[-1]
    adopt = next(e for e in events if e.kind == "dup_anon_vma")
    assert adopt.func == "mm/vma.c:dup_anon_vma"
    assert adopt.ref is None and "ref" not in adopt.to_json()
    assert "modelling choice" not in adopt.text


@pytest.mark.parametrize("name", ["s13-grandchild", "avc-endless-growth", "s3-fork-shares"])
def test_2634_narrates_no_6x_anon_vma_lifetime(name):
    """2.6.34's anon_vma had no root, parent, num_children or num_active_vmas."""
    data = json.loads((SCENARIOS / f"{name}.json").read_text())
    doc = run_scenario({**data, "design": "anon_vma_chain", "options": ["v2_6_34"]})
    texts = " ".join(e["text"] for s in doc["steps"] for e in s["events"])
    for word in ("num_children", "root", "pins", "active vma", "PageAnonExclusive"):
        assert word not in texts
    modern = run_scenario({**data, "design": "anon_vma_chain", "options": []})
    assert "root" in " ".join(e["text"] for s in modern["steps"] for e in s["events"])


# ----- the catalogue's vma_anon_vma: which eras' vmas have an anon_vma pointer ----------------


@pytest.mark.parametrize(
    "name", ["pte_chain", "anonmm", "anon_vma_rfc2", "anon_vma_267", "anon_vma_chain"]
)
def test_vma_anon_vma_says_whether_vmas_get_one(name):
    # the page's diagram draws (or leaves out) each vma's anon_vma by this flag alone
    doc = run_scenario(
        json.loads((SCENARIOS / "s3-fork-shares.json").read_text()), design=name, all_states=True
    )
    pointers = {v["anon_vma"] for s in doc["steps"] for mm in s["state"]["mms"] for v in mm["vmas"]}
    assert (pointers != {None}) is design_class(name).vma_anon_vma
