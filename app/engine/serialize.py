"""The state and step documents (the JSON contract of ``rmaplab run --json``).

Fields may be added; none is ever renamed or dropped. Numbers are JSON integers, lists
come in stable id (or address) order so nothing jitters between steps.
"""

from __future__ import annotations

from typing import Any

from .check import check
from .designs import Design, get_design
from .events import StepResult
from .memo import IdentityMemo
from .page import page_flag_names
from .state import (
    OBJECT_COUNTERS,
    PAGE_SHIFT,
    PG_SWAPCACHE,
    PTE_KIND,
    PTE_PAGE,
    PTE_SHIFT,
    PTE_SWAP,
    PTE_WRITE,
    State,
    pte_fields,
)


def pte_json(vpn: int, pte: int) -> dict[str, Any]:
    return {"addr": vpn << PAGE_SHIFT, **pte_fields(pte)}


def _ptes_json(table: dict[int, int]) -> list[dict[str, Any]]:
    """Every PTE of a page table, in address order: ``pte_json`` of each, spelt out for
    the common kinds (a 60-process, 4096-page state has a quarter of a million)."""
    out = []
    for vpn in sorted(table):
        pte = table[vpn]
        kind = pte & PTE_KIND
        if kind == PTE_PAGE:
            out.append(
                {
                    "addr": vpn << PAGE_SHIFT,
                    "kind": "page",
                    "pfn": pte >> PTE_SHIFT,
                    "slot": None,
                    "writable": bool(pte & PTE_WRITE),
                }
            )
        elif kind == PTE_SWAP:
            out.append(
                {
                    "addr": vpn << PAGE_SHIFT,
                    "kind": "swap",
                    "pfn": None,
                    "slot": pte >> PTE_SHIFT,
                    "writable": False,
                }
            )
        else:
            out.append(pte_json(vpn, pte))
    return out


def counters_json(state: State) -> dict[str, int]:
    """The cumulative counters, ``objects_allocated`` (every rmap object the design
    allocated so far: anon_vmas, anon_vma_chains, anonmms, pte_chain blocks) and the
    current metadata sizes (docs/semantics.md#sizes)."""
    out = dict(state.counters)
    out["objects_allocated"] = sum(out.get(k, 0) for k in OBJECT_COUNTERS)
    out.update(get_design(state.design, state.options).memory(state))
    return out


#: The tables each part of the state document is drawn from: its memo key. The design's
#: part also reads the design's own tables (``Design.tables``); tests/engine/test_tables.py
#: checks that no part reads a table its key leaves out.
MMS_TABLES = ("mms", "ptes", "vmas")
PAGES_TABLES = (
    "page_mapcount",
    "page_flags",
    "page_mapping",
    "page_index",
    "page_private",
    "page_value",
    "page_pte",
)
SWAP_TABLES = ("swap_ptes", "swap_cache", "swap_value")
DESIGN_PART_TABLES = ("ptes",)  # D5 lists the swap PTEs that carry the exclusive marker

_mms_json: IdentityMemo[list[dict[str, Any]]] = IdentityMemo(8)
_pages_json: IdentityMemo[list[dict[str, Any]]] = IdentityMemo(8)
_swap_json: IdentityMemo[list[dict[str, Any]]] = IdentityMemo(8)
_design_json: IdentityMemo[dict[str, Any]] = IdentityMemo(8)


def state_to_json(state: State) -> dict[str, Any]:
    """The whole state as the contract's ``state`` object.

    Each part is remembered by the tables it is drawn from (``IdentityMemo``), so a step
    that changes one table rebuilds one part. The parts are shared: treat the document as
    read-only.
    """
    design = get_design(state.design, state.options)
    keys = _part_keys(state, design)
    doc: dict[str, Any] = {
        "design": state.design,
        "options": sorted(state.options),
        "step": state.step,
        "mms": _mms_json.get(keys["mms"], lambda: _mms(state)),
        "pages": _pages_json.get(keys["pages"], lambda: _pages(state, design)),
        "swap": _swap_json.get(keys["swap"], lambda: _swap(state)),
    }
    doc.update(_design_json.get(keys["design"], lambda: design.state_json(state)))
    return doc


def _part_keys(state: State, design: Design) -> dict[str, tuple[Any, ...]]:
    """The memo key of each part of the state document: the tables it is drawn from."""
    return {
        "mms": _tables(state, MMS_TABLES),
        "pages": (*_tables(state, PAGES_TABLES), design),
        "swap": _tables(state, SWAP_TABLES),
        "design": (design, *_tables(state, DESIGN_PART_TABLES + design.tables)),
    }


def _tables(state: State, names: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(getattr(state, name) for name in names)


#: per pid, the last document of a process with the objects it was drawn from (its mm,
#: page table and vmas): a step that changes one process redraws that one only
_mm_json: dict[int, tuple[tuple[Any, ...], dict[str, Any]]] = {}
_MM_JSON_KEPT = 4096


def _mms(state: State) -> list[dict[str, Any]]:
    mms = []
    for pid in sorted(state.mms):
        mm = state.mms[pid]
        table = state.ptes[pid]
        vmas = [state.vmas[i] for i in mm.vmas]
        key = (mm, table, *vmas)
        seen = _mm_json.get(pid)
        if (
            seen is not None
            and len(seen[0]) == len(key)
            and all(a is b for a, b in zip(seen[0], key, strict=True))
        ):
            mms.append(seen[1])
            continue
        doc = {
            "pid": pid,
            "vmas": [
                {
                    "id": v.id,
                    "vm_start": v.vm_start,
                    "vm_end": v.vm_end,
                    "vm_pgoff": v.vm_pgoff,
                    "prot": v.prot,
                    "anon_vma": v.anon_vma,
                    "pages": v.pages,
                }
                for v in vmas
            ],
            "ptes": _ptes_json(table),
        }
        if len(_mm_json) >= _MM_JSON_KEPT:
            _mm_json.clear()
        _mm_json[pid] = (key, doc)
        mms.append(doc)
    return mms


def _pages(state: State, design: Design) -> list[dict[str, Any]]:
    """Every frame. The engine tracks swap-cache membership one way for every design; a
    2.6.0 page shows it as 2.6.0 had it: no ``swapcache`` flag and no ``page->private``
    (``swap_slot``), ``page->index`` the swap entry, ``page_mapping`` swapper_space."""
    pages = []
    with_flag = design.swapcache_flag
    for pfn in sorted(state.page_mapcount):
        flags = state.page_flags[pfn]
        names = page_flag_names(flags if with_flag else flags & ~PG_SWAPCACHE)
        pages.append(
            {
                "pfn": pfn,
                "flags": names,
                "mapping": design.mapping_json(state, pfn),
                "index": state.page_index.get(pfn),
                "mapcount": state.page_mapcount[pfn],
                "swap_slot": (
                    state.page_private.get(pfn) if with_flag and flags & PG_SWAPCACHE else None
                ),
                "value": state.page_value[pfn],
                "page_mapping": "swapper_space" if flags & PG_SWAPCACHE else None,
            }
        )
    return pages


def _swap(state: State) -> list[dict[str, Any]]:
    return [
        {
            "slot": slot,
            "ptes": state.swap_ptes[slot],
            "cached_pfn": state.swap_cache.get(slot),
            "value": state.swap_value[slot],
        }
        for slot in sorted(state.swap_ptes)
    ]


def invariants_json(state: State) -> dict[str, Any]:
    violations = check(state)
    return {"ok": not violations, "violations": [v.to_json() for v in violations]}


def step_to_json(
    index: int, op: dict[str, Any], result: StepResult, *, with_state: bool = False
) -> dict[str, Any]:
    """One step of the run document; ``index`` counts from 1 (step 0 is the empty state)."""
    doc: dict[str, Any] = {
        "index": index,
        "op": op,
        "outcome": result.outcome,
        "value": result.value,
        "events": [e.to_json() for e in result.events],
        "walks": [w.to_json() for w in result.walks],
        "counters": counters_json(result.state),
        "result": result.result,
        "invariants": invariants_json(result.state),
    }
    if with_state:
        doc["state"] = state_to_json(result.state)
    return doc


def start_to_json(state: State) -> dict[str, Any]:
    """Step 0 (the machine before the first op) as a step document with its state: no op,
    no events, nothing returned."""
    return {
        "index": 0,
        "op": None,
        "outcome": "ok",
        "value": None,
        "events": [],
        "walks": [],
        "counters": counters_json(state),
        "result": {},
        "invariants": invariants_json(state),
        "state": state_to_json(state),
    }
