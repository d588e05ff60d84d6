"""mremap: shrink, grow in place, or move (``do_mremap``, ``move_vma``, semantics.md#mremap)."""

from __future__ import annotations

from dataclasses import replace

from .errors import OpError
from .events import Step, obj, plural, span
from .merge import execute_merge, narrate_refusal, plan_merge
from .mmap import do_munmap, prev_vma
from .state import PAGE_SHIFT, TASK_SIZE, Vma, ptes_in_range


def do_mremap(
    step: Step, pid: int, addr: int, pages: int, new_pages: int, new_addr: int | None
) -> None:
    """mremap with MREMAP_MAYMOVE, and MREMAP_FIXED when ``new_addr`` is given.

    ``[addr, addr + pages)`` must lie inside one vma. A fixed destination must be free
    (the simulator refuses instead of unmapping what is there).
    """
    st = step.state
    old_len, new_len = pages << PAGE_SHIFT, new_pages << PAGE_SHIFT
    vma = st.vma_at(pid, addr)
    if vma is None or addr + old_len > vma.vm_end:
        raise OpError(
            f"mremap: {span(addr, addr + old_len)} of pid {pid} is not inside one vma (EFAULT)"
        )
    if new_addr is not None:
        if new_addr + new_len > TASK_SIZE:
            raise OpError(f"mremap: {span(new_addr, new_addr + new_len)} ends above TASK_SIZE")
        if new_addr < addr + old_len and addr < new_addr + new_len:
            raise OpError(
                f"mremap: the new range {span(new_addr, new_addr + new_len)} overlaps "
                f"the old one {span(addr, addr + old_len)} (EINVAL)"
            )
        if not st.range_is_free(pid, new_addr, new_addr + new_len):
            clash = st.find_vma(pid, new_addr)
            assert clash is not None
            raise OpError(
                f"mremap onto a mapped range: {span(new_addr, new_addr + new_len)} "
                f"overlaps vma {clash.id} {span(clash.vm_start, clash.vm_end)}"
            )
        if old_len > new_len:
            do_munmap(step, pid, addr + new_len, addr + old_len)
            old_len = new_len
        move_vma(step, vma.id, addr, old_len, new_len, new_addr)
        return
    if new_len <= old_len:
        if new_len < old_len:
            step.emit(
                "mremap",
                "do_mremap",
                f"mremap shrinks {span(addr, addr + old_len)} to {plural(new_pages, 'page')}"
                f": the tail {span(addr + new_len, addr + old_len)} is unmapped.",
                obj("vma", vma.id),
            )
            do_munmap(step, pid, addr + new_len, addr + old_len)
        else:
            step.emit(
                "mremap", "do_mremap", "mremap to the same size: nothing to do.", obj("vma", vma.id)
            )
        return
    end = addr + new_len
    if addr + old_len == vma.vm_end and end <= TASK_SIZE and st.range_is_free(pid, vma.vm_end, end):
        st.put_vma(replace(vma, vm_end=end))
        st.refresh_mm(pid)
        step.design.vma_adjusted(step, vma.id)
        step.emit(
            "mremap",
            "do_mremap",
            f"mremap grows vma {vma.id} in place to {span(vma.vm_start, end)}: the range "
            "after it is free.",
            obj("vma", vma.id),
        )
        return
    dest = st.get_unmapped_area(pid, new_len)
    if dest is None:
        raise OpError(f"mremap: no free range of {new_pages} pages in pid {pid} (ENOMEM)")
    move_vma(step, vma.id, addr, old_len, new_len, dest)


def move_vma(
    step: Step, vma_id: int, old_addr: int, old_len: int, new_len: int, new_addr: int
) -> Vma:
    """``move_vma``: ``copy_vma`` (merge or new struct), move the PTEs, unmap the old range.

    The destination keeps the old ``vm_pgoff`` ("Magic", Hugh), so pages need no update.
    """
    st, design = step.state, step.design
    vma = st.vmas[vma_id]
    pid = vma.pid
    pgoff = design.copy_vma_pgoff(
        vma, vma.vm_pgoff + ((old_addr - vma.vm_start) >> PAGE_SHIFT), new_addr
    )
    new_end = new_addr + new_len
    why = f"mremap move of {span(old_addr, old_addr + old_len)} to {span(new_addr, new_end)}"
    design.mremap_prepare(step, vma_id, old_addr, old_addr + old_len)
    vma = st.vmas[vma_id]
    prev = prev_vma(step, pid, new_addr)
    plan = None
    if design.merges_on("mremap"):
        plan, _ = plan_merge(st, design, pid, prev, new_addr, new_end, vma.prot, vma, pgoff)
    partner = None
    if plan is not None:
        partner = next(
            (
                st.vmas[v].anon_vma
                for v in (plan.survivor, *plan.removed)
                if st.vmas[v].anon_vma is not None
            ),
            None,
        )
    design.before_vma_change(step, vma_id, partner, why)
    vma = st.vmas[vma_id]
    if design.merges_on("mremap"):
        plan, refusals = plan_merge(st, design, pid, prev, new_addr, new_end, vma.prot, vma, pgoff)
        if plan is None:
            narrate_refusal(
                step, refusals, f"the destination {span(new_addr, new_end)}", "merge_move"
            )
    if plan is not None:
        target = execute_merge(step, plan, vma.anon_vma, why, "merge_move")
        if target.vm_start <= old_addr < target.vm_end:
            step.emit(
                "copy_vma",
                "copy_vma",
                f"The destination merged with vma {vma_id} itself, the vma being moved: "
                f"possible only because it was never faulted, so {design.fn('copy_vma')} "
                "gave the "
                f"destination the pgoff of its new address. vma {target.id} now covers "
                "both ranges; the old one is unmapped below.",
                obj("vma", target.id),
            )
        else:
            design.merge_copied_range(step, target.id, vma_id)
    else:
        target = replace(
            vma, id=st.alloc_vma_id(), vm_start=new_addr, vm_end=new_end, vm_pgoff=pgoff
        )
        st.put_vma(target)
        st.set_mm(pid, [*st.mms[pid].vmas, target.id])
        step.emit(
            "copy_vma",
            "copy_vma",
            f"{design.fn('copy_vma')}: a new vma {target.id} {span(new_addr, new_end)} is "
            f"made from vma {vma_id}, with vm_pgoff {pgoff}.",
            obj("vma", vma_id),
            obj("vma", target.id),
        )
        design.link_vma(step, target.id, vma_id)
    moved = ptes_in_range(st.ptes[pid], old_addr >> PAGE_SHIFT, (old_addr + old_len) >> PAGE_SHIFT)
    if moved:
        table = st.w_ptes(pid)
        shift = (new_addr - old_addr) >> PAGE_SHIFT
        for vpn, _ in moved:
            del table[vpn]
        table.update((vpn + shift, pte) for vpn, pte in moved)
        step.emit(
            "move_page_tables",
            "move_page_tables",
            f"move_page_tables: {plural(len(moved), 'PTE')} "
            f"{'moves' if len(moved) == 1 else 'move'} from "
            f"{span(old_addr, old_addr + old_len)} to {span(new_addr, new_addr + old_len)}; "
            "the design's own rmap work, if any, is told next.",
            {"kind": "pte_range", "pid": pid, "start": new_addr, "end": new_addr + old_len},
            obj("vma", target.id),
        )
        design.move_ptes(step, pid, [(vpn, vpn + shift, pte) for vpn, pte in moved])
    do_munmap(step, pid, old_addr, old_addr + old_len)
    return st.vmas[target.id]
