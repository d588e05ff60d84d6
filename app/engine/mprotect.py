"""mprotect: ``sys_mprotect`` + ``mprotect_fixup`` of 2.6.7/2.6.8 (semantics.md#mprotect)."""

from __future__ import annotations

from dataclasses import replace

from .errors import OpError
from .events import Step, obj, plural, span
from .merge import execute_merge, plan_merge
from .mmap import split_vma
from .state import PAGE_SHIFT, PTE_KIND, PTE_PAGE, PTE_SHIFT, PTE_WRITE, Vma, ptes_in_range


def do_mprotect(step: Step, pid: int, start: int, end: int, prot: str) -> None:
    """Change the protection of ``[start, end)``, which must be mapped without holes.

    Each vma of the range goes through ``mprotect_fixup``: merge with a neighbour if
    ``vma_merge`` allows it, otherwise split off the range, then set the flags and
    write-protect the present PTEs.
    """
    st = step.state
    vma = st.find_vma(pid, start)
    cursor = start
    probe = vma
    while cursor < end:
        if probe is None or probe.vm_start > cursor:
            raise OpError(
                f"mprotect: {span(start, end)} of pid {pid} is not fully mapped: "
                f"nothing maps {cursor:#x} (ENOMEM)"
            )
        cursor = probe.vm_end
        probe = st.neighbours(probe)[1]
    assert vma is not None
    prev = vma if start > vma.vm_start else st.neighbours(vma)[0]
    nstart = start
    while True:
        tmp = min(vma.vm_end, end)
        exact = vma.vm_end == end
        if prot == vma.prot:
            step.emit(
                "mprotect",
                "mprotect_fixup",
                f"vma {vma.id} is already {prot}: nothing changes, not even its PTEs.",
                obj("vma", vma.id),
            )
            prev = vma
        else:
            prev = step.design.mprotect_fixup(step, vma, prev, nstart, tmp, prot)
        nstart = max(tmp, prev.vm_end)
        if nstart >= end:
            step.design.mprotect_done(step, prev, exact)
            return
        following = st.neighbours(prev)[1]
        assert following is not None and following.vm_start == nstart
        vma = following


def mprotect_fixup(step: Step, vma: Vma, prev: Vma | None, start: int, end: int, prot: str) -> Vma:
    """``mprotect_fixup`` for ``[start, end)`` inside ``vma``, whose protection is not
    ``prot``; returns the new ``*pprev``."""
    st = step.state
    pgoff = vma.vm_pgoff + ((start - vma.vm_start) >> PAGE_SHIFT)
    if step.design.merges_on("mprotect"):
        plan, _ = plan_merge(st, step.design, vma.pid, prev, start, end, prot, vma, pgoff)
        if plan is not None:
            merged = execute_merge(
                step,
                plan,
                vma.anon_vma,
                f"mprotect of {span(start, end)} to {prot}",
                "merge_existing",
            )
            return change_protection(step, merged, start, end, prot)
    if start != vma.vm_start:
        split_vma(step, vma.id, start, new_below=True)
    if end != st.vmas[vma.id].vm_end:
        split_vma(step, vma.id, end, new_below=False)
    return change_protection(step, st.vmas[vma.id], start, end, prot)


def change_protection(step: Step, vma: Vma, start: int, end: int, prot: str) -> Vma:
    """Set the flags and ``change_protection`` over ``[start, end)``.

    2.6 rewrites every present PTE from ``vm_page_prot``, which for a private mapping is
    the copy-on-write protection: present pages end up read-only whatever ``prot`` is,
    and the next write goes through the reuse path (semantics.md#mprotect-writable).
    """
    st = step.state
    old = vma.prot
    vma = replace(vma, prot=prot)
    st.put_vma(vma)
    writable = step.design.protect_writable
    changed = []
    for vpn, pte in ptes_in_range(st.ptes[vma.pid], start >> PAGE_SHIFT, end >> PAGE_SHIFT):
        if pte & PTE_KIND != PTE_PAGE:
            continue
        new = pte | PTE_WRITE if writable(st, pte >> PTE_SHIFT, vma) else pte & ~PTE_WRITE
        if new != pte:
            changed.append((vpn, new))
    if changed:
        st.w_ptes(vma.pid).update(changed)
    made_ro = sum(1 for _, pte in changed if not pte & PTE_WRITE)
    made_rw = len(changed) - made_ro
    tail = ""
    if made_ro:
        tail += (
            f"; {plural(made_ro, 'writable PTE')} in the range "
            f"{'is' if made_ro == 1 else 'are'} now read-only (change_protection applies "
            "the copy-on-write protection of a private mapping)"
        )
    if made_rw:
        tail += (
            f"; {plural(made_rw, 'PTE')} of exclusive pages "
            f"{'is' if made_rw == 1 else 'are'} writable at once (can_change_pte_writable)"
        )
    if old == prot:  # merged into a neighbour that already had prot
        what = f"{span(start, end)} is now part of vma {vma.id}, which is {prot}"
    else:
        what = f"vma {vma.id} {span(vma.vm_start, vma.vm_end)} changes from {old} to {prot}"
    step.emit("mprotect", "change_protection", what + tail + ".", obj("vma", vma.id))
    return vma
