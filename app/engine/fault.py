"""Page faults: ``do_anonymous_page``, ``do_wp_page`` and ``do_swap_page`` (semantics.md#faults).

A read or write that no vma allows is a SIGSEGV outcome of the step: the process is
assumed to catch the signal and go on, and nothing changes.
"""

from __future__ import annotations

from .events import Step, hexa, obj, pte_obj
from .page import alloc_page, page_remove_rmap
from .state import (
    PAGE_SHIFT,
    PG_SWAPCACHE,
    PTE_KIND,
    PTE_SHIFT,
    PTE_SWAP,
    PTE_WRITE,
    PTE_ZERO,
    PTE_ZERO_RO,
    Vma,
    mk_pte_page,
)
from .swap import add_to_swap_cache, free_page_and_swap_cache


def _segv(step: Step, pid: int, addr: int, access: str, why: str) -> None:
    step.outcome = "segv"
    step.emit(
        "segv",
        "page_fault",
        f"SIGSEGV: pid {pid} {access} {hexa(addr)}, but {why}; the process catches the "
        "signal and nothing changes.",
        pte_obj(pid, addr & ~0xFFF),
    )


def _access_vma(step: Step, pid: int, addr: int, *, write: bool) -> Vma | None:
    """The vma that lets ``pid`` read (or write) ``addr``; None after a SIGSEGV event."""
    vma = step.state.vma_at(pid, addr)
    access = "writes" if write else "reads"
    if vma is None:
        _segv(step, pid, addr, access, "no vma covers it")
    elif write and not vma.writable:
        _segv(step, pid, addr, access, f"vma {vma.id} is {vma.prot}, not writable")
    elif not write and not vma.readable:
        _segv(step, pid, addr, access, f"vma {vma.id} is PROT_NONE")
    else:
        return vma
    return None


def handle_read(step: Step, pid: int, addr: int) -> int | None:
    """A load from ``addr``: returns the value read, or None on SIGSEGV."""
    st = step.state
    vma = _access_vma(step, pid, addr, write=False)
    if vma is None:
        return None
    vpn = addr >> PAGE_SHIFT
    page_addr = vpn << PAGE_SHIFT
    pte = st.ptes[pid].get(vpn)
    if pte is None:
        st.w_ptes(pid)[vpn] = PTE_ZERO_RO
        st.count("zero_page_maps")
        step.emit(
            "zero_page",
            "do_anonymous_page",
            f"Read fault at {hexa(page_addr)} in vma {vma.id}: the PTE maps the shared zero "
            "page read-only. No frame, no mapcount, no rmap entry and no anon_vma.",
            pte_obj(pid, page_addr),
            obj("vma", vma.id),
        )
        return 0
    kind = pte & PTE_KIND
    if kind == PTE_ZERO:
        step.emit(
            "access",
            "mmu",
            f"pid {pid} reads 0 from the zero page at {hexa(page_addr)}.",
            pte_obj(pid, page_addr),
        )
        return 0
    if kind == PTE_SWAP:
        pfn = do_swap_page(step, vma, page_addr, pte, write=False)
    else:
        pfn = pte >> PTE_SHIFT
        step.emit(
            "access",
            "mmu",
            f"pid {pid} reads {st.page_value[pfn]} from frame {pfn} at {hexa(page_addr)} "
            "(the PTE is present: no fault).",
            pte_obj(pid, page_addr),
            obj("frame", pfn),
        )
    return st.page_value[pfn]


def handle_write(step: Step, pid: int, addr: int, value: int) -> bool:
    """A store of ``value`` to ``addr``; False on SIGSEGV."""
    st = step.state
    vma = _access_vma(step, pid, addr, write=True)
    if vma is None:
        return False
    vpn = addr >> PAGE_SHIFT
    page_addr = vpn << PAGE_SHIFT
    pte = st.ptes[pid].get(vpn)
    if pte is None:
        pfn = do_anonymous_page(step, vma, page_addr)
    else:
        kind = pte & PTE_KIND
        if kind == PTE_ZERO:
            pfn = do_wp_page(step, vma, page_addr, None)
        elif kind == PTE_SWAP:
            pfn = do_swap_page(step, vma, page_addr, pte, write=True)
        elif pte & PTE_WRITE:
            pfn = pte >> PTE_SHIFT
            step.emit(
                "access",
                "mmu",
                f"pid {pid} writes {value} to frame {pfn} at "
                f"{hexa(page_addr)} (the PTE is writable: no fault).",
                pte_obj(pid, page_addr),
                obj("frame", pfn),
            )
        else:
            pfn = do_wp_page(step, vma, page_addr, pte >> PTE_SHIFT)
    st.w("page_value")[pfn] = value
    return True


def do_anonymous_page(step: Step, vma: Vma, addr: int) -> int:
    """First write to a never-touched page: a zeroed frame, mapped rw, first rmap add."""
    st = step.state
    step.design.anon_vma_prepare(step, vma.id)
    vma = st.vmas[vma.id]
    pfn = alloc_page(step, 0)
    st.w("page_mapcount")[pfn] = 1
    st.w_ptes(vma.pid)[addr >> PAGE_SHIFT] = mk_pte_page(pfn, True)
    step.emit(
        "anonymous_fault",
        "do_anonymous_page",
        f"Write fault at {hexa(addr)} in vma {vma.id}: a zeroed frame {pfn} is allocated "
        "and mapped writable (mapcount 1).",
        pte_obj(vma.pid, addr),
        obj("frame", pfn),
        obj("vma", vma.id),
    )
    step.design.page_add_new_anon_rmap(step, pfn, vma, addr)
    return pfn


def cow_is_reusable(step: Step, pfn: int) -> bool:
    """``can_share_swap_page``: the faulting PTE is the frame's only user.

    mapcount 1, and if the frame is in the swap cache no swap PTE holds its slot
    (``exclusive_swap_page``).
    """
    st = step.state
    if st.page_mapcount[pfn] != 1:
        return False
    if st.page_flags[pfn] & PG_SWAPCACHE:
        return st.swap_ptes[st.page_private[pfn]] == 0
    return True


def do_wp_page(step: Step, vma: Vma, addr: int, old: int | None) -> int:
    """Write fault on a read-only PTE: reuse the frame in place, or copy it (COW).

    ``old`` is None for the zero page, which is always copied.
    """
    st = step.state
    table = st.w_ptes(vma.pid)
    vpn = addr >> PAGE_SHIFT
    if old is not None and cow_is_reusable(step, old):
        table[vpn] = mk_pte_page(old, True)
        st.count("cow_reuses")
        step.emit(
            "cow_reuse",
            "do_wp_page",
            f"Write fault on read-only {hexa(addr)}: frame {old} has no other user, so it is "
            "reused in place and the PTE becomes writable.",
            pte_obj(vma.pid, addr),
            obj("frame", old),
        )
        step.design.cow_reuse(step, old, vma, addr)
        return old
    step.design.anon_vma_prepare(step, vma.id)
    vma = st.vmas[vma.id]
    value = 0 if old is None else st.page_value[old]
    new = alloc_page(step, value)
    st.w("page_mapcount")[new] = 1
    table[vpn] = mk_pte_page(new, True)
    st.count("cow_copies")
    if old is None:
        step.emit(
            "cow_copy",
            "do_wp_page",
            f"Write fault at {hexa(addr)} on the zero page: a zeroed frame {new} replaces "
            "it, mapped writable.",
            pte_obj(vma.pid, addr),
            obj("frame", new),
        )
    else:
        why = (
            f"{st.page_mapcount[old]} PTEs map it"
            if st.page_mapcount[old] > 1
            else f"swap PTEs still hold its slot {st.page_private[old]}"
        )
        step.emit(
            "cow_copy",
            "do_wp_page",
            f"Write fault on read-only {hexa(addr)}: frame {old} is shared ({why}), so it "
            f"is copied to a new frame {new}, mapped writable.",
            pte_obj(vma.pid, addr),
            obj("frame", old),
            obj("frame", new),
        )
    step.design.page_add_new_anon_rmap(step, new, vma, addr)
    if old is not None and page_remove_rmap(step, old, vma.pid, addr) == 0:
        free_page_and_swap_cache(step, old)
    return new


def do_swap_page(step: Step, vma: Vma, addr: int, pte: int, write: bool) -> int:
    """Fault on a swap PTE: find the frame in the swap cache or read it, map it
    (semantics.md#faults)."""
    st = step.state
    slot = pte >> PTE_SHIFT
    marked_exclusive = bool(pte & PTE_WRITE)
    pfn = st.swap_cache.get(slot)
    if pfn is None:
        pfn = alloc_page(step, st.swap_value[slot])
        add_to_swap_cache(step, pfn, slot)
        step.emit(
            "swapin",
            "do_swap_page",
            f"Fault on the swap entry at {hexa(addr)}: slot {slot} is not in the swap cache, "
            f"so it is read into a new frame {pfn}, which enters the swap cache.",
            pte_obj(vma.pid, addr),
            obj("slot", slot),
            obj("frame", pfn),
        )
    else:
        st.count("swapcache_hits")
        step.emit(
            "swapin",
            "do_swap_page",
            f"Fault on the swap entry at {hexa(addr)}: slot {slot} is still in the swap "
            f"cache as frame {pfn}, so no read is needed (a swap-cache hit).",
            pte_obj(vma.pid, addr),
            obj("slot", slot),
            obj("frame", pfn),
        )
    st.count("swapins")
    mapcount = st.w("page_mapcount")
    before = mapcount[pfn]
    mapcount[pfn] = before + 1
    writable = step.design.swapin_map(step, pfn, vma, addr, slot, write, before, marked_exclusive)
    st.w_ptes(vma.pid)[addr >> PAGE_SHIFT] = mk_pte_page(pfn, writable)
    if write and not writable:
        return do_wp_page(step, vma, addr, pfn)
    return pfn
