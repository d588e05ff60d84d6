"""mmap, munmap, ``split_vma`` and exit (mm/mmap.c, semantics.md#mremap, semantics.md#mprotect)."""

from __future__ import annotations

from dataclasses import replace

from .errors import OpError
from .events import Event, Step, hexa, obj, plural, span
from .merge import execute_merge, narrate_refusal, plan_merge
from .state import (
    PAGE_SHIFT,
    PTE_KIND,
    PTE_PAGE,
    PTE_SHIFT,
    PTE_SWAP,
    TASK_SIZE,
    Vma,
    ptes_in_range,
)
from .swap import free_page_and_swap_cache, free_swap_and_cache


def prev_vma(step: Step, pid: int, addr: int) -> Vma | None:
    """``find_vma_prev``: the last vma starting below ``addr``."""
    st = step.state
    prev = None
    for vid in st.mms[pid].vmas:
        vma = st.vmas[vid]
        if vma.vm_start >= addr:
            break
        prev = vma
    return prev


def do_mmap(step: Step, pid: int, addr: int | None, pages: int, prot: str) -> tuple[Vma, int]:
    """An anonymous private mapping (``do_mmap_pgoff``), fixed address or lowest free.

    A fixed address behaves as MAP_FIXED_NOREPLACE: an overlap is an error. The new
    range gets ``vm_pgoff = addr >> PAGE_SHIFT`` and ``vma_merge`` is tried first.
    Returns the vma now covering the range and the address mapped.
    """
    st = step.state
    length = pages << PAGE_SHIFT
    if addr is None:
        found = st.get_unmapped_area(pid, length)
        if found is None:
            raise OpError(f"mmap: no free range of {pages} pages in pid {pid}")
        addr = found
    elif addr + length > TASK_SIZE:
        raise OpError(f"mmap: {span(addr, addr + length)} ends above TASK_SIZE {TASK_SIZE:#x}")
    elif not st.range_is_free(pid, addr, addr + length):
        clash = st.find_vma(pid, addr)
        assert clash is not None
        raise OpError(
            f"mmap: {span(addr, addr + length)} overlaps vma {clash.id} "
            f"{span(clash.vm_start, clash.vm_end)} of pid {pid} "
            "(MAP_FIXED_NOREPLACE: EEXIST)"
        )
    end = addr + length
    pgoff = addr >> PAGE_SHIFT
    if step.design.merges_on("mmap"):
        plan, refusals = plan_merge(
            st, step.design, pid, prev_vma(step, pid, addr), addr, end, prot, None, pgoff
        )
        if plan is not None:
            return execute_merge(step, plan, None, f"mmap of {span(addr, end)}", "merge_new"), addr
        narrate_refusal(step, refusals, f"the new range {span(addr, end)}", "merge_new")
    vma = Vma(st.alloc_vma_id(), pid, addr, end, pgoff, prot)
    st.put_vma(vma)
    st.set_mm(pid, [*st.mms[pid].vmas, vma.id])
    step.emit(
        "mmap",
        "mmap",
        f"pid {pid} maps {span(addr, end)} {prot} as vma {vma.id} with vm_pgoff {pgoff} "
        "(vm_start >> 12); no page is touched yet.",
        obj("vma", vma.id),
    )
    return vma, addr


def split_vma(step: Step, vma_id: int, addr: int, new_below: bool) -> int:
    """``split_vma``: a new struct takes the part below (``new_below``) or above ``addr``.

    The upper part's ``vm_pgoff`` advances by the pages it starts after the old start;
    the new struct joins the anon_vma of the old one (D3/D4) after the design had its
    say (semantics.md#rfc2-page-table-walk for D3).
    """
    st = step.state
    step.design.before_vma_change(step, vma_id, None, f"split of vma {vma_id} at {hexa(addr)}")
    vma = st.vmas[vma_id]
    delta = (addr - vma.vm_start) >> PAGE_SHIFT
    new_id = st.alloc_vma_id()
    if new_below:
        new = replace(vma, id=new_id, vm_end=addr)
        st.put_vma(replace(vma, vm_start=addr, vm_pgoff=vma.vm_pgoff + delta))
    else:
        new = replace(vma, id=new_id, vm_start=addr, vm_pgoff=vma.vm_pgoff + delta)
        st.put_vma(replace(vma, vm_end=addr))
    st.put_vma(new)
    st.set_mm(vma.pid, [*st.mms[vma.pid].vmas, new_id])
    kept = st.vmas[vma_id]
    step.emit(
        "split_vma",
        "split_vma",
        f"{step.design.fn('split_vma')}: vma {vma_id} keeps "
        f"{span(kept.vm_start, kept.vm_end)} "
        f"(vm_pgoff {kept.vm_pgoff}) and a new vma {new_id} takes "
        f"{span(new.vm_start, new.vm_end)} (vm_pgoff {new.vm_pgoff}); no page is touched.",
        obj("vma", vma_id),
        obj("vma", new_id),
    )
    step.design.vma_adjusted(step, vma_id)
    step.design.link_vma(step, new_id, vma_id)
    return new_id


def zap_range(
    step: Step, pid: int, vma_id: int, lo: int, hi: int, *, keep_table: bool = False
) -> None:
    """``zap_pte_range`` over pages ``[lo, hi)`` of one vma: one range event.

    With ``keep_table`` the page table is read but not edited (exit drops it whole).
    """
    st = step.state
    table = st.ptes[pid] if keep_table else st.w_ptes(pid)
    entries = ptes_in_range(table, lo, hi)
    if not entries:
        return
    mapcount = st.w("page_mapcount")
    remove_rmap = step.design.page_remove_rmap
    present = swapped = freed = 0
    step.begin_bulk()
    for vpn, pte in entries:
        if not keep_table:
            del table[vpn]
        kind = pte & PTE_KIND
        if kind == PTE_PAGE:
            pfn = pte >> PTE_SHIFT
            mc = mapcount[pfn] - 1
            mapcount[pfn] = mc
            remove_rmap(step, pfn, pid, vpn << PAGE_SHIFT, mc)
            present += 1
            if mc == 0 and free_page_and_swap_cache(step, pfn):
                freed += 1
        elif kind == PTE_SWAP:
            swapped += 1
            free_swap_and_cache(step, pte >> PTE_SHIFT)
    zero = len(entries) - present - swapped
    detail = []
    if present:
        detail.append(
            f"{plural(present, 'present page')} (mapcount -1 each, {plural(freed, 'frame')} freed)"
        )
    if swapped:
        detail.append(
            f"{plural(swapped, 'swap entry', 'swap entries')} "
            f"({step.design.fn('free_swap_and_cache')})"
        )
    if zero:
        detail.append(f"{plural(zero, 'zero-page entry', 'zero-page entries')}")
    summary = (
        f"zap_pte_range: pid {pid} unmaps {span(lo << PAGE_SHIFT, hi << PAGE_SHIFT)} of "
        f"vma {vma_id}: " + ", ".join(detail) + "."
    )
    mark = len(step.events)
    step.end_bulk()
    step.events.insert(
        mark,
        Event(
            "zap",
            step.design.funcs["zap"],
            summary,
            (
                {
                    "kind": "pte_range",
                    "pid": pid,
                    "start": lo << PAGE_SHIFT,
                    "end": hi << PAGE_SHIFT,
                },
                obj("vma", vma_id),
            ),
        ),
    )


def remove_vma(step: Step, vma_id: int) -> None:
    """``remove_vm_struct``: unlink the vma from the rmap structures and free it."""
    st = step.state
    vma = st.vmas[vma_id]
    step.design.unlink_vma(step, vma_id)
    del st.w("vmas")[vma_id]
    st.set_mm(vma.pid, [v for v in st.mms[vma.pid].vmas if v != vma_id])


def do_munmap(step: Step, pid: int, start: int, end: int) -> list[int]:
    """``do_munmap`` as 2.6: split at ``start`` (new above), at ``end`` (new below), remove.

    The range may span several vmas and holes. Returns the ids of the removed vmas.
    """
    st = step.state
    vma = st.find_vma(pid, start)
    if vma is None or vma.vm_start >= end:
        return []
    if start > vma.vm_start:
        split_vma(step, vma.id, start, new_below=False)
    last = st.find_vma(pid, end)
    if last is not None and end > last.vm_start:
        split_vma(step, last.id, end, new_below=True)
    doomed = [
        v for v in st.mms[pid].vmas if start <= st.vmas[v].vm_start and st.vmas[v].vm_end <= end
    ]
    for v in doomed:
        vma = st.vmas[v]
        zap_range(step, pid, v, vma.vm_start >> PAGE_SHIFT, vma.vm_end >> PAGE_SHIFT)
    for v in doomed:
        remove_vma(step, v)
    return doomed


def exit_mmap(step: Step, pid: int) -> None:
    """``exit_mmap``: zap every vma, unlink and free them, then drop the page table."""
    st = step.state
    vma_ids = list(st.mms[pid].vmas)
    for v in vma_ids:
        vma = st.vmas[v]
        zap_range(
            step, pid, v, vma.vm_start >> PAGE_SHIFT, vma.vm_end >> PAGE_SHIFT, keep_table=True
        )
    for v in vma_ids:
        remove_vma(step, v)
    del st.w("mms")[pid]
    del st.w("ptes")[pid]
