"""``struct pte_chain`` of 2.6.0 and the PTE addresses it holds, and their sizes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from ...events import hexa
from ...state import (
    PAGE_SHIFT,
    State,
)

#: A PTE address, named by the PTE's process and virtual page number.
Entry = tuple[int, int]

#: i386 sizes (semantics.md#sizes)
PTE_UNION_BYTES = 4  # union { struct pte_chain *chain; pte_addr_t direct; } pte
SIZEOF_LONG = 4  # next_and_idx
SIZEOF_PTE_ADDR = 4  # pte_addr_t without CONFIG_HIGHMEM64G + CONFIG_HIGHPTE
STRUCT_PAGE_FIELD_SUM = 40  # 2.6.0 i386: flags count list(2) mapping index lru(2) pte private
STRUCT_PAGE_ANDREA = 48  # "the page_t is 48 bytes on 2.4 and 2.6" (the seed)
VMA_RMAP_BYTES = 0  # vm_area_struct is "exactly 64 bytes on ia32", none of it rmap


class StructPteChain(NamedTuple):
    """``struct pte_chain`` of 2.6.0 mm/rmap.c: one cache line of PTE addresses.

    A named tuple: fork of a large process makes one per page, and tuples are cheap.

    ``entries`` are the ``ptes[NRPTE]`` slots, each a PTE (pid, vpn) or None (0). Only
    the head block of a page has free slots, all at its start (``pte_chain_idx``);
    every later block is full. ``next`` is the id of the next block (the pointer half of
    ``next_and_idx``). ``pfn`` is simulator bookkeeping for drawing and checking: a
    kernel block does not know its page.
    """

    id: int
    pfn: int
    entries: tuple[Entry | None, ...]
    next: int | None = None

    @property
    def idx(self) -> int:
        """``pte_chain_idx``: the first used slot (the free slots are before it)."""
        return self.entries.count(None)

    def used(self) -> list[Entry]:
        """The entries in slot order: the order ``try_to_unmap`` visits them."""
        return [e for e in self.entries if e is not None]


def chain_blocks(state: State, head: int) -> Iterator[StructPteChain]:
    """The blocks of the chain that starts at block ``head``, head first. A dangling
    ``next`` ends the walk, and so does a cycle (never more steps than there are blocks):
    the checker reports both, the walk must not hang on them."""
    chains = state.pte_chains
    bid: int | None = head
    for _ in range(len(chains)):
        block = chains.get(bid) if bid is not None else None
        if block is None:
            return
        yield block
        bid = block.next


def pte_text(entry: Entry) -> str:
    """A PTE address as the events print it."""
    return f"pte({entry[0]}, {hexa(entry[1] << PAGE_SHIFT)})"
