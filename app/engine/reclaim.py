"""Reclaim of one frame: ``add_to_swap``, ``try_to_unmap``, write-out and free
(semantics.md#reclaim).

Atomic and unconditional (semantics.md#reclaim): the frame is assumed inactive and
unreferenced, it is written to its slot at once, and no ``page_referenced`` ageing walk is
made.
"""

from __future__ import annotations

from typing import Any

from .events import Step, Visit, Walk, hexa, obj, plural
from .page import free_page
from .state import PAGE_SHIFT, PG_SWAPCACHE, PTE_KIND, PTE_PAGE, PTE_SHIFT
from .swap import add_to_swap_cache, delete_from_swap_cache, get_swap_page


def new_visit(fields: tuple[Any, ...]) -> Visit:
    """A ``Visit`` without the named tuple's Python-level constructor (a hot path)."""
    return tuple.__new__(Visit, fields)


def try_to_unmap(step: Step, pfn: int) -> Walk:
    """The design's rmap walk: replace every PTE it finds with the swap entry.

    Stops as soon as the mapcount reaches 0 (``visited``); ``candidates`` counts every
    container the walk would iterate without that early exit (semantics.md#walk-accounting).
    """
    st, design = step.state, step.design
    slot = st.page_private[pfn]
    via, probes = design.rmap_walk(st, pfn)
    mapcount = st.w("page_mapcount")
    swap_count = st.w("swap_ptes")
    remove_rmap = design.page_remove_rmap
    visited = []
    unmapped = misses = skips = 0
    swap_pte = design.swap_pte(st, pfn, slot)
    mc = mapcount[pfn]
    vmas = st.vmas
    # the page->index vma_address works from; a pte_chain walk needs none
    index = None if via is None or via["kind"] in ("pte", "pte_chain") else st.page_index.get(pfn)
    for probe in probes:
        if mc == 0:
            break
        kind, ident, pid, vpn, note = probe
        vma = vmas.get(ident) if kind == "vma" else None
        if vpn is None or pid is None:
            visited.append(
                new_visit((kind, ident, "skip", pid, None, note, None, None, vma, index))
            )
            skips += 1
            continue
        table = st.ptes.get(pid)
        pte = None if table is None else table.get(vpn)
        if pte is None or pte & PTE_KIND != PTE_PAGE or pte >> PTE_SHIFT != pfn:
            visited.append(
                new_visit((kind, ident, "miss", pid, vpn << PAGE_SHIFT, note, pte, pte, vma, index))
            )
            misses += 1
            continue
        st.w_ptes(pid)[vpn] = swap_pte
        swap_count[slot] += 1
        mc -= 1
        mapcount[pfn] = mc
        remove_rmap(step, pfn, pid, vpn << PAGE_SHIFT, mc)
        visited.append(
            new_visit((kind, ident, "hit", pid, vpn << PAGE_SHIFT, note, pte, swap_pte, vma, index))
        )
        unmapped += 1
    walk = Walk(pfn, via, tuple(visited), len(probes), unmapped, mc, index, slot, unmapped + mc)
    counters = st.w("counters")
    counters["rmap_walks"] += 1
    counters["rmap_visits"] += len(visited)
    counters["rmap_misses"] += misses
    counters["rmap_skips"] += skips
    counters["ptes_unmapped"] += unmapped
    step.walks.append(walk)
    where = f" via {via['kind']} {via['id']}" if via else ""
    misses_text = f", {plural(misses, 'miss', 'misses')}" if misses else ""
    skips_text = f", {plural(skips, 'skip')}" if skips else ""
    step.emit(
        "try_to_unmap",
        "try_to_unmap",
        f"try_to_unmap frame {pfn}{where}: {plural(len(visited), 'container')} visited"
        f"{misses_text}{skips_text}; {plural(unmapped, 'PTE')} now "
        f"{'holds' if unmapped == 1 else 'hold'} swap slot {slot}.",
        obj("frame", pfn),
        obj("slot", slot),
    )
    return walk


def reclaim_frame(step: Step, pfn: int) -> None:
    """``shrink_list`` for one frame: swap cache, unmap, write, free."""
    st = step.state
    if pfn not in st.page_mapcount:
        step.result.setdefault("not_resident", []).append({"pfn": pfn})
        step.emit("reclaim_noop", "shrink", f"Frame {pfn} is not allocated: nothing to reclaim.")
        return
    if not st.page_flags[pfn] & PG_SWAPCACHE:
        slot = get_swap_page(step)
        add_to_swap_cache(step, pfn, slot)
        step.emit(
            "add_to_swap",
            "add_to_swap",
            f"{step.design.fn('add_to_swap')}: frame {pfn} gets swap slot {slot} and "
            f"enters the swap cache ({step.design.swap_cache_entry}); the page's rmap "
            "still leads to its PTEs.",
            obj("frame", pfn),
            obj("slot", slot),
        )
    slot = st.page_private[pfn]
    if st.page_mapcount[pfn]:
        # The walk and the free that follows write these; taking them now keeps the
        # state's copy-on-write bookkeeping out of the walk (what bench/rmap_scale.py times).
        for table in (
            "page_mapcount",
            "page_flags",
            "page_mapping",
            "swap_ptes",
            "ptes",
            "counters",
        ):
            st.w(table)
        step.design.before_walk(step, pfn)
        try_to_unmap(step, pfn)
    if st.page_mapcount[pfn]:
        st.count("unreachable_pages")
        step.result.setdefault("unreachable", []).append(
            {"pfn": pfn, "mapcount": st.page_mapcount[pfn]}
        )
        step.emit(
            "unreachable",
            "shrink",
            f"Frame {pfn} still has mapcount {st.page_mapcount[pfn]} after the walk: some "
            "PTE that maps it cannot be reached through the rmap, so the frame stays "
            "mapped and in the swap cache (an unreachable mapping).",
            obj("frame", pfn),
        )
        return
    st.w("swap_value")[slot] = st.page_value[pfn]
    delete_from_swap_cache(step, pfn)
    free_page(step, pfn)
    st.count("pages_reclaimed")
    step.emit(
        "reclaim",
        "shrink",
        f"Frame {pfn} is written to slot {slot}, leaves the swap cache and is freed.",
        obj("frame", pfn),
        obj("slot", slot),
    )


def reclaim_at(step: Step, pid: int, addr: int) -> None:
    """Reclaim the frame mapped at ``addr`` in ``pid``, if a present page is there."""
    st = step.state
    pte = st.ptes[pid].get(addr >> PAGE_SHIFT)
    if pte is None or pte & PTE_KIND != PTE_PAGE:
        what = (
            "nothing"
            if pte is None
            else "the zero page"
            if pte & PTE_KIND == 1
            else f"swap slot {pte >> PTE_SHIFT}"
        )
        step.result.setdefault("not_resident", []).append({"pid": pid, "addr": addr})
        step.emit(
            "reclaim_noop",
            "shrink",
            f"pid {pid} has no present page at {hexa(addr & ~0xFFF)} (the PTE holds {what}): "
            "nothing to reclaim.",
        )
        return
    reclaim_frame(step, pte >> PTE_SHIFT)


def reclaim_lru(step: Step, count: int) -> None:
    """Reclaim up to ``count`` frames from the inactive list, oldest first.

    With no ageing (semantics.md#reclaim) the inactive list is allocation order, so the oldest
    frames
    (lowest pfn) go first.
    """
    st = step.state
    victims = sorted(st.page_mapcount)[:count]
    if len(victims) < count:
        step.result["short"] = {"asked": count, "reclaimed": len(victims)}
        step.emit(
            "reclaim_noop",
            "shrink",
            f"Only {len(victims)} frames are allocated; {count} were asked for.",
        )
    for pfn in victims:
        reclaim_frame(step, pfn)
