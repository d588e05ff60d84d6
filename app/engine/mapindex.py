"""Who maps what: a reverse index built from the page tables, for checking and drawing."""

from __future__ import annotations

from dataclasses import dataclass, field

from .state import PTE_KIND, PTE_PAGE, PTE_SHIFT, PTE_SWAP, State

#: (pid, vpn, id of the vma covering the PTE or None)
Mapper = tuple[int, int, int | None]


@dataclass(slots=True)
class MapIndex:
    """For every frame the PTEs that map it; for every slot the swap PTEs that hold it."""

    page_mappers: dict[int, list[Mapper]] = field(default_factory=dict)
    slot_holders: dict[int, list[Mapper]] = field(default_factory=dict)

    @classmethod
    def build(cls, state: State) -> MapIndex:
        index = cls()
        pages, slots = index.page_mappers, index.slot_holders
        for pid, table in state.ptes.items():
            mm = state.mms[pid]
            vmas = [state.vmas[v] for v in mm.vmas]
            for vpn in sorted(table):
                pte = table[vpn]
                kind = pte & PTE_KIND
                if kind == PTE_PAGE:
                    target = pages
                elif kind == PTE_SWAP:
                    target = slots
                else:
                    continue
                addr = vpn << 12
                vma_id = next((v.id for v in vmas if v.vm_start <= addr < v.vm_end), None)
                target.setdefault(pte >> PTE_SHIFT, []).append((pid, vpn, vma_id))
        return index
