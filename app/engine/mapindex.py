"""Who maps what: a reverse index built from the page tables, for checking and drawing."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import overload

from .state import PAGE_SHIFT, PTE_KIND, PTE_PAGE, PTE_SHIFT, PTE_SWAP, State

#: (pid, vpn, id of the vma covering the PTE or None)
Mapper = tuple[int, int, int | None]


class Appended(Sequence[Mapper]):
    """The mappers of a frame (or holders of a slot) as the first ``n`` entries of a list
    that later versions of the index may extend: an index carried forward gives a frame
    more mappers by appending them, not by copying its N old ones (a tuple concatenation
    per frame per fork, which made a storm of N forks cost N squared). A version that
    finds the list extended past its own ``n`` (another branch grew it) copies first."""

    __slots__ = ("_entries", "_n")

    def __init__(self, entries: list[Mapper]) -> None:
        self._entries, self._n = entries, len(entries)

    def __len__(self) -> int:
        return self._n

    def __iter__(self) -> Iterator[Mapper]:
        return islice(self._entries, self._n)

    @overload
    def __getitem__(self, i: int) -> Mapper: ...

    @overload
    def __getitem__(self, i: slice) -> tuple[Mapper, ...]: ...

    def __getitem__(self, i: int | slice) -> Mapper | tuple[Mapper, ...]:
        if isinstance(i, slice):
            r = range(self._n)[i]
            if r.step == 1:
                return tuple(self._entries[r.start : r.stop])
            return tuple(self._entries[j] for j in r)
        if 0 <= i < self._n:
            return self._entries[i]
        return self._entries[range(self._n)[i]]

    def __repr__(self) -> str:
        return f"Appended({list(self)!r})"

    @staticmethod
    def join(old: Sequence[Mapper], new: Sequence[Mapper]) -> Sequence[Mapper]:
        """``old`` followed by ``new``, sharing ``old``'s list where it can."""
        if isinstance(old, Appended) and len(old._entries) == old._n:
            old._entries.extend(new)
            return Appended(old._entries)
        return Appended([*old, *new])


@dataclass(slots=True)
class MapIndex:
    """For every frame the PTEs that map it; for every slot the swap PTEs that hold it.

    Tuples, not lists: an index is kept as the base of the next incremental check, and
    tuples of numbers are left alone by the garbage collector (lists are walked at every
    full collection). The exception is a frame whose mappers outgrow a short tuple as the
    index is carried forward (a fork storm's): an ``Appended``, whose one list every index
    carrying it shares.
    """

    page_mappers: dict[int, Sequence[Mapper]] = field(default_factory=dict)
    slot_holders: dict[int, Sequence[Mapper]] = field(default_factory=dict)
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
