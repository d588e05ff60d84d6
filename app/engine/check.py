"""The invariant checker: §10.1 (G1-G11) for every design, then the design's own rules.

A correct state breaks none of them after any complete op. A violation is expected only
in a buggy teaching mode (``rfc2_literal``), where it is the lesson.
"""

from __future__ import annotations

from .designs import Violation, get_design
from .mapindex import MapIndex
from .memo import IdentityMemo
from .state import (
    PAGE_SIZE,
    PG_SWAPCACHE,
    PTE_KIND,
    PTE_PAGE,
    PTE_SHIFT,
    PTE_WRITE,
    PTE_ZERO,
    State,
)

#: The tables the invariants read. Values and counters are not among them, so a step that
#: only reads, or writes a value into a present page, leaves the verdict as it was.
CHECKED = ("mms", "ptes", "vmas", "anon_vmas", "page_mapcount", "page_flags", "page_mapping",
           "page_index", "page_private", "swap_ptes", "swap_cache", "page_pte", "pte_chains",
           "anonmms", "mm_anonmm", "avcs", "vma_chain", "bugs")
_verdicts: IdentityMemo[tuple[Violation, ...]] = IdentityMemo(32)
MODES = ("full", "incremental")
_mode = "full"


def set_mode(mode: str) -> None:
    """``full``: check the whole state after every step (the default, and the tests');
    ``incremental``: check what the step touched (the service and the CLI)."""
    global _mode
    if mode not in MODES:
        raise ValueError(f"unknown check mode {mode!r}; the modes are {', '.join(MODES)}")
    _mode = mode


def check(state: State) -> list[Violation]:
    """Every invariant the state breaks (an empty list when it is sound).

    A state whose checked tables are the very same objects as a recent state's has that
    state's verdict (``IdentityMemo``): a read, or a write into a present page, costs no
    new check.
    """
    design = get_design(state.design, state.options)
    key = (*(getattr(state, name) for name in CHECKED), design, *design.check_key(state))
    return list(_verdicts.get(key, lambda: tuple(_check(state))))


def _check(state: State) -> list[Violation]:
    index = MapIndex.build(state)
    out: list[Violation] = []
    _layout(state, index, out)
    _frames(state, index, out)
    _swap(state, index, out)
    _rmap(state, index, out)
    out += get_design(state.design, state.options).check(state, index)
    return out


def _layout(st: State, index: MapIndex, out: list[Violation]) -> None:
    """G1 (vma layout), G2 (PTE placement), G8 (zero page read-only)."""
    for pid, mm in st.mms.items():
        last_end = -1
        for vid in mm.vmas:
            vma = st.vmas.get(vid)
            if vma is None:
                out.append(Violation("G1", f"pid {pid} lists vma {vid}, which does not exist."))
                continue
            if vma.pid != pid:
                out.append(Violation("G1", f"vma {vid} is listed by pid {pid} but belongs to "
                                           f"pid {vma.pid}."))
            if vma.vm_start % PAGE_SIZE or vma.vm_end % PAGE_SIZE or vma.vm_end <= vma.vm_start:
                out.append(Violation("G1", f"vma {vid} [{vma.vm_start:#x},{vma.vm_end:#x}) is "
                                           "empty or not page-aligned."))
            if vma.vm_start < last_end:
                out.append(Violation("G1", f"vma {vid} of pid {pid} overlaps or is out of order."))
            last_end = vma.vm_end
        if mm.starts != tuple(st.vmas[v].vm_start for v in mm.vmas if v in st.vmas):
            out.append(Violation("G1", f"the vma index of pid {pid} is stale."))
        for vpn, pte in st.ptes.get(pid, {}).items():
            if pte & PTE_KIND == PTE_ZERO and pte & PTE_WRITE:
                out.append(Violation("G8", f"pid {pid} maps the zero page writable at "
                                           f"{vpn << 12:#x}."))
    for pid, vpn in index.outside:
        out.append(Violation("G2", f"pid {pid} has a PTE at {vpn << 12:#x} outside every vma."))
    owned = {v for mm in st.mms.values() for v in mm.vmas}
    for vid in st.vmas:
        if vid not in owned:
            out.append(Violation("G1", f"vma {vid} belongs to no process."))
    if set(st.ptes) != set(st.mms):
        out.append(Violation("G2", "page tables and processes do not match."))


def _frames(st: State, index: MapIndex, out: list[Violation]) -> None:
    """G3 (mapcount), G4 (frame liveness), G7 (writability)."""
    for pfn, mappers in index.page_mappers.items():
        if pfn not in st.page_mapcount:
            where = ", ".join(f"pid {p} {v << 12:#x}" for p, v, _ in mappers)
            out.append(Violation("G4", f"frame {pfn} is freed but still mapped ({where})."))
    for pfn, mc in st.page_mapcount.items():
        mapped = len(index.page_mappers.get(pfn, ()))
        if mc != mapped:
            out.append(Violation("G3", f"frame {pfn} has mapcount {mc} but {mapped} present "
                                       "PTEs map it."))
        if mc == 0 and not st.page_flags[pfn] & PG_SWAPCACHE:
            out.append(Violation("G4", f"frame {pfn} is allocated, unmapped and not in the swap "
                                       "cache: it should have been freed."))
    for pid, table in st.ptes.items():
        for vpn, pte in table.items():
            if pte & PTE_KIND != PTE_PAGE or not pte & PTE_WRITE:
                continue
            pfn = pte >> PTE_SHIFT
            if st.page_mapcount.get(pfn) != 1:
                out.append(Violation("G7", f"pid {pid} maps frame {pfn} writable at "
                                           f"{vpn << 12:#x} but its mapcount is "
                                           f"{st.page_mapcount.get(pfn)}."))
            elif st.page_flags[pfn] & PG_SWAPCACHE and st.swap_ptes.get(
                    st.page_private[pfn], 0):
                out.append(Violation("G7", f"pid {pid} maps frame {pfn} writable but swap PTEs "
                                           f"still hold its slot {st.page_private[pfn]}."))


def _swap(st: State, index: MapIndex, out: list[Violation]) -> None:
    """G5 (swap cache bijection), G6 (swap counts)."""
    for slot, pfn in st.swap_cache.items():
        if pfn not in st.page_mapcount or not st.page_flags[pfn] & PG_SWAPCACHE or \
                st.page_private.get(pfn) != slot:
            out.append(Violation("G5", f"slot {slot} caches frame {pfn}, which does not point "
                                       "back at it."))
    for pfn, flags in st.page_flags.items():
        if flags & PG_SWAPCACHE:
            slot = st.page_private.get(pfn)
            if slot is None or st.swap_cache.get(slot) != pfn:
                out.append(Violation("G5", f"frame {pfn} is PG_swapcache for slot {slot}, which "
                                           "does not cache it."))
            if slot not in st.swap_ptes:
                out.append(Violation("G5", f"frame {pfn} is in the swap cache of slot {slot}, "
                                           "which is not allocated."))
    for slot in index.slot_holders:
        if slot not in st.swap_ptes:
            out.append(Violation("G6", f"swap PTEs hold slot {slot}, which is free."))
    for slot, ptes in st.swap_ptes.items():
        held = len(index.slot_holders.get(slot, ()))
        if ptes != held:
            out.append(Violation("G6", f"slot {slot} counts {ptes} swap PTEs but {held} hold it."))
        if ptes == 0 and slot not in st.swap_cache:
            out.append(Violation("G6", f"slot {slot} is held by nothing but was not freed."))


def _rmap(st: State, index: MapIndex, out: list[Violation]) -> None:
    """G9 (rmap completeness) and G11 (offsets), through the design's own walk."""
    design = get_design(st.design, st.options)
    for pfn, mappers in index.page_mappers.items():
        if pfn not in st.page_mapcount:
            continue
        _, probes = design.rmap_walk(st, pfn)
        reach = {(p[2], p[3]) for p in probes if p[3] is not None}
        for pid, vpn, vid in mappers:
            if (pid, vpn) not in reach:
                out.append(Violation("G9", f"frame {pfn} is mapped by pid {pid} at "
                                           f"{vpn << 12:#x}, but its reclaim walk cannot reach "
                                           "that PTE: reclaim would leave it mapped."))
            vma = st.vmas.get(vid) if vid is not None else None
            index_of = st.page_index.get(pfn)
            expected = design.page_index_at(vma, vpn << 12) if vma is not None else None
            if expected is not None and index_of is not None and expected != index_of:
                out.append(Violation("G11", f"frame {pfn} has index {index_of}, but vma {vid} "
                                            f"maps it at {vpn << 12:#x}, where the index "
                                            f"should be {expected}."))


__all__ = ["check"]
