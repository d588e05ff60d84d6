"""The page tables: one dict per process from virtual page number to PTE, each PTE one
integer (``mk_pte_page``, ``mk_pte_swap``), and the page geometry (``PAGE_SHIFT``)."""

from __future__ import annotations

from typing import Any

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT

# A page-table entry is one integer: payload << 3 | write bit | kind.
PTE_PAGE = 0  # payload = pfn
PTE_ZERO = 1  # the shared zero page, always read-only
PTE_SWAP = 2  # payload = swap slot
PTE_KIND = 3
PTE_WRITE = 4  # present page: writable; swap entry: the "exclusive" marker (D5)
PTE_SHIFT = 3


def mk_pte_page(pfn: int, writable: bool) -> int:
    """A present PTE mapping frame ``pfn``."""
    return (pfn << PTE_SHIFT) | (PTE_WRITE if writable else 0)


def mk_pte_swap(slot: int) -> int:
    """A swap PTE holding ``slot``."""
    return (slot << PTE_SHIFT) | PTE_SWAP


PTE_ZERO_RO = PTE_ZERO


def pte_fields(pte: int) -> dict[str, Any]:
    """What a PTE holds, as the state document shows it (without its address)."""
    kind = pte & PTE_KIND
    payload = pte >> PTE_SHIFT
    return {
        "kind": "page" if kind == PTE_PAGE else "swap" if kind == PTE_SWAP else "zero",
        "pfn": payload if kind == PTE_PAGE else None,
        "slot": payload if kind == PTE_SWAP else None,
        "writable": bool(kind == PTE_PAGE and pte & PTE_WRITE),
    }


def ptes_in_range(table: dict[int, int], lo: int, hi: int) -> list[tuple[int, int]]:
    """The (vpn, pte) pairs of ``table`` with ``lo <= vpn < hi``, in address order.

    Walks the range or the table, whichever is smaller, so a huge sparse vma and a
    small vma in a huge table are both cheap.
    """
    if hi - lo <= len(table):
        get = table.get
        return [(v, p) for v in range(lo, hi) if (p := get(v)) is not None]
    return sorted((v, p) for v, p in table.items() if lo <= v < hi)
