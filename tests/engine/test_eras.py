"""Each design narrates the functions and files of its own era (docs/semantics.md#eras).

Every built-in scenario is run under every design (and every option that moves a design
to another era): each event's ``func`` must be one of that era's table. The pinned
cases below are the names a review against the kernel sources found wrong (RFC2's
mm/objrmap.c, 6.18's mm/vma.c, 2.6.34's page_* names, 2.6.0 without copy_vma).
"""

import json
import re
from pathlib import Path

import pytest

from app.engine import design_class, run_scenario
from app.engine.designs import DESIGN_NAMES, get_design
from app.engine.eras import ERAS, MODEL, is_model

from .helpers import fork, mmap, spawn, step_by_step, write

SCENARIOS = sorted((Path(__file__).resolve().parents[2] / "scenarios").glob("*.json"))

#: one run per era a design can be in: (design, options)
ERA_RUNS = [(d, ()) for d in DESIGN_NAMES] + [
    ("anon_vma_chain", ("v2_6_34",)),
    ("anon_vma_chain", ("v2_6_34_rc3",)),
]


def funcs_of(doc):
    return [e["func"] for s in doc["steps"] for e in s["events"]]


def options_for(data, design, options):
    """The scenario's own options that belong to ``design``, plus ``options``."""
    own = [o for o in data.get("options", []) if o in design_class(design).option_help]
    return sorted({*own, *options})


def run_as(data, design, options):
    """The scenario under ``design`` (with ``options_for``)."""
    return run_scenario({**data, "design": design, "options": options_for(data, design, options)})


def events(*ops, design, options=()):
    """The last state and the events of each op."""
    out = step_by_step(*ops, design=design, options=options)
    return out[-1][0], [evs for _, evs, _ in out]


def all_funcs(design, options=()):
    """Every func narrated by every built-in scenario run under exactly ``design`` and
    ``options``."""
    seen = set()
    for path in SCENARIOS:
        data = json.loads(path.read_text())
        seen.update(funcs_of(run_scenario({**data, "design": design, "options": list(options)})))
    return seen


# ----- the era is a property of the design and its options ------------------------------------


def test_every_design_has_an_era():
    assert {d: get_design(d).kernel.key for d in DESIGN_NAMES} == {
        "pte_chain": "2.6.0",
        "anonmm": "anonmm",
        "anon_vma_rfc2": "rfc2",
        "anon_vma_267": "2.6.7",
        "anon_vma_chain": "6.18",
    }


@pytest.mark.parametrize("options", [("v2_6_34",), ("v2_6_34_rc3",), ("v2_6_34", "no_reuse")])
def test_the_2634_options_move_the_chain_design_to_2634(options):
    assert get_design("anon_vma_chain", frozenset(options)).kernel.key == "2.6.34"


@pytest.mark.parametrize("options", [("v3_0_to_6_15",), ("no_reuse",)])
def test_behaviour_options_keep_the_modern_names(options):
    assert get_design("anon_vma_chain", frozenset(options)).kernel.key == "6.18"


@pytest.mark.parametrize("design", DESIGN_NAMES)
def test_every_design_says_where_its_source_is_read(design):
    """The page's era line and its links to the source come from here (the catalogue):
    a Linux version on Bootlin Elixir, or the address of the mail (RFC2); an option that
    models another kernel names an option of the design."""
    cls = design_class(design)
    sources = [cls.source, *(source for _, source in cls.option_variants.values())]
    for source in sources:
        assert re.fullmatch(r"v\d+\.\d+(\.\d+)?(-rc\d+)?", source) or source.startswith(
            "https://lore.kernel.org/"
        ), source
    assert set(cls.option_variants) <= set(cls.option_help)
    # an option that moves the narration to another era's names moves the source too
    assert set(cls.option_eras) <= set(cls.option_variants)


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
@pytest.mark.parametrize(("design", "options"), ERA_RUNS, ids=lambda v: str(v))
def test_every_narrated_func_belongs_to_the_designs_era(path, design, options):
    data = json.loads(path.read_text())
    era = get_design(design, frozenset(options_for(data, design, options))).kernel
    allowed = set(era.funcs.values())
    doc = run_as(data, design, options)
    strays = sorted({f for f in funcs_of(doc) if f not in allowed})
    assert strays == [], f"{design} {options} ({era.key}) narrates {strays}"


# ----- C1: RFC2 has mm/objrmap.c, no anon_vma_link, try_to_unmap_anon's walk ------------------


def test_rfc2_narrates_objrmap_not_rmap():
    funcs = all_funcs("anon_vma_rfc2") | all_funcs("anon_vma_rfc2", ("rfc2_literal",))
    assert not [f for f in funcs if f.startswith("mm/rmap.c:")]
    assert not [f for f in funcs if f.endswith(":anon_vma_link")]
    assert {
        "mm/objrmap.c:page_add_rmap",
        "mm/objrmap.c:anon_vma_page_link_fork",
        "mm/objrmap.c:try_to_unmap",
    } <= funcs


def test_rfc2_fork_links_the_child_inside_anon_vma_page_link_fork():
    _, evs = events(
        spawn(), mmap(0x1000, 1), write(0x1000), fork(2), fork(3), design="anon_vma_rfc2"
    )
    link = [e for e in evs[4] if e.kind == "anon_vma_link"]
    assert [e.func for e in link] == ["mm/objrmap.c:anon_vma_page_link_fork"]


# ----- C2: 6.18 has mm/vma.c and no vma_merge; 2.6.0 has no copy_vma/vma_adjust ----------------

GONE_IN_618 = {
    "mm/mmap.c:vma_merge",
    "mm/mmap.c:split_vma",
    "mm/mmap.c:copy_vma",
    "mm/mmap.c:do_mmap_pgoff",
    "mm/mmap.c:vma_adjust",
    "mm/vmscan.c:shrink_list",
    "mm/swapfile.c:remove_exclusive_swap_page",
    "mm/swapfile.c:free_swap_and_cache",
    "kernel/fork.c:dup_mmap",
}


def test_618_table_has_none_of_the_removed_functions():
    assert not GONE_IN_618 & set(ERAS["6.18"].funcs.values())
    assert {
        "mm/vma.c:vma_merge_new_range",
        "mm/vma.c:vma_merge_existing_range",
        "mm/vma.c:__split_vma",
        "mm/vma.c:copy_vma",
        "mm/mmap.c:do_mmap",
        "mm/vmscan.c:shrink_folio_list",
        "mm/swapfile.c:free_swap_and_cache_nr",
    } <= set(ERAS["6.18"].funcs.values())


def test_618_narrates_mm_vma_c():
    funcs = all_funcs("anon_vma_chain")
    assert not funcs & GONE_IN_618
    assert {
        "mm/vma.c:vma_merge_new_range",
        "mm/vma.c:vma_merge_existing_range",
        "mm/vma.c:__split_vma",
        "mm/vma.c:copy_vma",
    } <= funcs


def test_618_anon_vma_fork_runs_before_copy_page_range_which_clears_exclusive():
    _, evs = events(spawn(), mmap(0x1000, 1), write(0x1000), fork(2), design="anon_vma_chain")
    kinds = [e.kind for e in evs[3]]
    assert kinds.index("anon_vma_fork") < kinds.index("copy_page_range")
    copy = next(e for e in evs[3] if e.kind == "copy_page_range")
    assert copy.func == "mm/memory.c:copy_page_range"
    assert "frame 1 is no longer PageAnonExclusive" in copy.text
    fork_ev = next(e for e in evs[3] if e.kind == "anon_vma_fork")
    assert "PageAnonExclusive" not in fork_ev.text


def test_618_skipped_copy_is_copy_page_ranges_own_test():
    _, evs = events(
        spawn(),
        mmap(0x1000, 1),
        {"op": "read", "pid": 1, "addr": 0x1000},
        fork(2),
        design="anon_vma_chain",
    )
    skip = next(e for e in evs[3] if e.kind == "copy_page_range")
    assert skip.func == "mm/memory.c:copy_page_range"
    assert "copies nothing" in skip.text


@pytest.mark.parametrize("design", ["pte_chain", "anonmm", "anon_vma_rfc2"])
def test_before_267_mremap_is_move_vma_not_copy_vma(design):
    funcs = all_funcs(design)
    assert not [f for f in funcs if f.endswith((":copy_vma", ":vma_adjust"))]
    assert "mm/mremap.c:move_vma" in funcs


def test_267_names_its_own_functions():
    funcs = all_funcs("anon_vma_267")
    assert {
        "mm/mmap.c:copy_vma",
        "mm/rmap.c:anon_vma_prepare",
        "mm/rmap.c:anon_vma_link",
        "mm/rmap.c:try_to_unmap",
        "mm/mmap.c:vma_merge",
    } <= funcs
    assert ERAS["2.6.7"].funcs["anon_vma_merge"] == "mm/rmap.c:__anon_vma_merge"


# ----- W4 (names): 2.6.34 narrates 2.6.34's functions ------------------------------------------


@pytest.mark.parametrize("options", [("v2_6_34",), ("v2_6_34_rc3",)])
def test_2634_narrates_no_folio_and_no_mm_vma_c(options):
    funcs = all_funcs("anon_vma_chain", options)
    assert not [f for f in funcs if "folio" in f or f.startswith("mm/vma.c")]
    assert {
        "mm/rmap.c:page_add_anon_rmap",
        "mm/rmap.c:page_add_new_anon_rmap",
        "mm/mmap.c:vma_merge",
    } <= funcs


def test_rc3_oops_narrates_2634():
    data = json.loads((SCENARIOS[0].parent / "rc3-oops.json").read_text())
    funcs = set(funcs_of(run_scenario(data)))
    assert "mm/rmap.c:page_add_anon_rmap" in funcs
    assert not [f for f in funcs if "folio" in f or "rmap_walk_anon" in f]


def test_2634_cow_reuse_is_reuse_swap_page_and_page_move_anon_rmap():
    ops = (
        spawn(),
        mmap(0x1000, 1),
        write(0x1000),
        fork(2),
        write(0x1000, pid=2),
        {"op": "exit", "pid": 2},
        write(0x1000, 7),
    )
    _, evs = events(*ops, design="anon_vma_chain", options=("v2_6_34",))
    assert "mm/rmap.c:page_move_anon_rmap" in [e.func for e in evs[-1]]
    _, evs = events(*ops, design="anon_vma_chain")
    assert "mm/rmap.c:folio_move_anon_rmap" in [e.func for e in evs[-1]]


# ----- modelling choices are named as such ------------------------------------------------------


def test_model_roles_are_marked():
    models = {f for era in ERAS.values() for f in era.funcs.values() if is_model(f)}
    assert models and all(f.startswith(MODEL) for f in models)
    assert not is_model("mm/rmap.c:try_to_unmap")
