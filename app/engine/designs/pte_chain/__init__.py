"""D1: pte_chain rmap (Rik van Riel, 2.5.27 ... 2.6.6), modelled on Linux 2.6.0.

Every mapped page knows each PTE that maps it. ``struct page`` carries a union ``pte``:
a page mapped once has ``PG_direct`` set and ``pte.direct`` holds the address of its one
PTE ("->pte_chain points directly at pte"); any other mapped page points at a list of
``struct pte_chain`` blocks (Andrew Morton's cache-line arrays), each holding NRPTE PTE
addresses: 7 with 32-byte cache lines. The reclaim walk is exact, every entry is a real
mapping, but fork pays for it: one rmap insertion per resident page, and a 32-byte block
for every page that was direct; munmap and exit pay a linear search of the chain per
PTE, so a family of k processes exiting costs O(k^2) on every shared page. And every
block comes from lowmem.

``PG_direct`` here is 2.6.0's: the page points at a *PTE*. It is not the PG_direct of
Andrea's anon_vma RFC2 (D3), where ``page->as.vma`` points at a *vma*.

2.6.0 has no ``PG_anon``: an anonymous page is one whose ``page->mapping`` is NULL, or
``&swapper_space`` (with ``page->index`` = the swap entry) while it is in the swap cache.
The simulator therefore clears the engine's ``anon`` flag on every frame of this design.
There is no anon_vma, no per-vma and no per-mm rmap state at all.

The simulator names a PTE address by (pid, virtual page number), which is what the
kernel recovers from it through the page-table page (``ptep_to_mm``,
``ptep_to_address``).
"""

from .design import PteChain
from .structs import Entry, StructPteChain

__all__ = ["Entry", "PteChain", "StructPteChain"]
