"""fork: ``dup_mmap`` + ``copy_page_range`` (docs/semantics.md#fork)."""

from __future__ import annotations

from .errors import OpError
from .events import Step, obj, plural, span
from .state import (
    PAGE_SHIFT,
    PTE_KIND,
    PTE_PAGE,
    PTE_SHIFT,
    PTE_SWAP,
    PTE_WRITE,
    Mm,
    Vma,
    ptes_in_range,
)


def do_fork(step: Step, pid: int, child: int) -> None:
    """The child gets a copy of every vma and PTE; shared pages go read-only in both.

    Per vma: a copy of the struct, then ``copy_page_range`` (mapcount +1 and
    write-protect for each present page, ``swap_duplicate`` for each swap entry, the zero
    page copied as is), then the design's rmap work for that vma.
    """
    st = step.state
    if child in st.used_pids:
        raise OpError(f"fork: pid {child} is already in use or was used before")
    st.used_pids = st.used_pids | {child}
    parent_table = st.ptes[pid]
    child_table: dict[int, int] = {}
    mapcount = st.w("page_mapcount")
    child_vmas = []
    step.emit(
        "fork",
        "fork",
        f"pid {pid} forks pid {child}: the child gets a copy of each of its "
        f"{plural(len(st.mms[pid].vmas), 'vma')} and their PTEs.",
        obj("mm", pid),
        obj("mm", child),
    )
    st.w("ptes")[child] = child_table
    st.w("mms")[child] = Mm(child)
    design = step.design
    design.mm_forked(step, pid, child)
    for vid in st.mms[pid].vmas:
        parent = st.vmas[vid]
        copy = Vma(
            st.alloc_vma_id(), child, parent.vm_start, parent.vm_end, parent.vm_pgoff, parent.prot
        )
        st.put_vma(copy)
        child_vmas.append(copy.id)
        st.set_mm(child, child_vmas)
        if design.anon_vma_fork_first:
            design.fork_vma(step, parent, st.vmas[copy.id], [], [], 0)
        if not design.fork_copies_ptes(st, parent):
            step.emit(
                "copy_page_range",
                "copy_page_range",
                f"copy_page_range copies nothing: vma {vid} has no anon_vma, so the child "
                f"vma {copy.id} starts with no PTEs and faults its pages in again.",
                obj("vma", vid),
                obj("vma", copy.id),
            )
            if not design.anon_vma_fork_first:
                design.fork_vma(step, parent, st.vmas[copy.id], [], [], 0)
            continue
        if len(st.mms[pid].vmas) == 1:  # every PTE of the mm lies in its only vma (G2)
            entries = list(parent_table.items())
        else:
            entries = ptes_in_range(
                parent_table, parent.vm_start >> PAGE_SHIFT, parent.vm_end >> PAGE_SHIFT
            )
        # Bulk work as comprehensions: fork of a large process is the benchmark's hot path.
        # Every copied entry is read-only: present pages are write-protected (COW).
        copied = {vpn: pte & ~PTE_WRITE for vpn, pte in entries}
        child_table.update(copied)
        vpns = [vpn for vpn, pte in entries if pte & PTE_KIND == PTE_PAGE]
        pfns = [pte >> PTE_SHIFT for _, pte in entries if pte & PTE_KIND == PTE_PAGE]
        for pfn in pfns:
            mapcount[pfn] += 1
        if any(pte & PTE_WRITE for _, pte in entries):
            st.w_ptes(pid).update(copied)
        slots = [pte >> PTE_SHIFT for _, pte in entries if pte & PTE_KIND == PTE_SWAP]
        if slots:
            swap_ptes = st.w("swap_ptes")
            for slot in slots:
                swap_ptes[slot] += 1
        swapped = len(slots)
        zero = len(entries) - len(pfns) - swapped
        rmap_note = design.copy_page_range_rmap(step, pfns)
        if pfns or swapped or zero:
            step.emit(
                "copy_page_range",
                "copy_page_range",
                f"copy_page_range: vma {vid} {span(parent.vm_start, parent.vm_end)} "
                f"-> child vma {copy.id}: " + _copied(len(pfns), swapped, zero) + rmap_note + ".",
                obj("vma", vid),
                obj("vma", copy.id),
                {"kind": "pte_range", "pid": child, "start": parent.vm_start, "end": parent.vm_end},
            )
        if not design.anon_vma_fork_first:
            design.fork_vma(step, st.vmas[vid], st.vmas[copy.id], vpns, pfns, swapped)


def _copied(pages: int, swapped: int, zero: int) -> str:
    """What ``copy_page_range`` did to a vma's entries, for its event."""
    parts = []
    if pages:
        parts.append(f"{plural(pages, 'present page')} now read-only in both and mapcount +1 each")
    if swapped:
        parts.append(f"{plural(swapped, 'swap entry', 'swap entries')} duplicated (swap_duplicate)")
    if zero:
        parts.append(f"{plural(zero, 'zero-page entry', 'zero-page entries')} copied")
    return ", ".join(parts)
