"""Who maps what: a reverse index built from the page tables, for checking and drawing."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field

from .state import PAGE_SHIFT, PTE_KIND, PTE_PAGE, PTE_SHIFT, PTE_SWAP, State

#: (pid, vpn, id of the vma covering the PTE or None)
Mapper = tuple[int, int, int | None]


@dataclass(slots=True)
class MapIndex:
    """For every frame the PTEs that map it; for every slot the swap PTEs that hold it.

    Tuples, not lists: an index is kept as the base of the next incremental check, and
    tuples of numbers are left alone by the garbage collector (lists are walked at every
    full collection).
    """

    page_mappers: dict[int, tuple[Mapper, ...]] = field(default_factory=dict)
    slot_holders: dict[int, tuple[Mapper, ...]] = field(default_factory=dict)
    #: (pid, vpn) of every PTE, of any kind, that lies outside every vma of its mm
    outside: list[tuple[int, int]] = field(default_factory=list)

    @classmethod
    def build(cls, state: State) -> MapIndex:
        index = cls()
        pages: dict[int, list[Mapper]] = {}
        slots: dict[int, list[Mapper]] = {}
        for pid, table in state.ptes.items():
            mm = state.mms[pid]
            vmas = [state.vmas[v] for v in mm.vmas]
            starts = [v.vm_start >> PAGE_SHIFT for v in vmas]
            for vpn in sorted(table):
                i = bisect_right(starts, vpn) - 1
                vma_id = None
                if i >= 0 and vpn < vmas[i].vm_end >> PAGE_SHIFT:
                    vma_id = vmas[i].id
                else:
                    index.outside.append((pid, vpn))
                pte = table[vpn]
                kind = pte & PTE_KIND
                if kind == PTE_PAGE:
                    pages.setdefault(pte >> PTE_SHIFT, []).append((pid, vpn, vma_id))
                elif kind == PTE_SWAP:
                    slots.setdefault(pte >> PTE_SHIFT, []).append((pid, vpn, vma_id))
        index.page_mappers = {pfn: tuple(m) for pfn, m in pages.items()}
        index.slot_holders = {slot: tuple(h) for slot, h in slots.items()}
        return index
