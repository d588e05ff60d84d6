"""The pte union and its chain of blocks (2.6.0 mm/rmap.c): ``page_add_rmap`` and
``page_remove_rmap`` on a page's entries, ``pte_chain_alloc`` and ``__pte_chain_free``."""

from __future__ import annotations

from ...state import (
    PG_ANON,
    PG_DIRECT,
    State,
)
from .structs import Entry, StructPteChain


def alloc_blocks(st: State, n: int = 1) -> int:
    """``pte_chain_alloc``: the first of ``n`` fresh block ids (never reused,
    semantics.md#numbering)."""
    ids = st.w("next_ids")
    first = ids.get("pte_chain", 1)
    ids["pte_chain"] = first + n
    st.w("counters")["pte_chains_allocated"] += n
    return first


def add_entry(st: State, nrpte: int, pfn: int, entry: Entry) -> tuple[str, int | None]:
    """2.6.0 ``page_add_rmap``: what happened ("direct", "converted", "added",
    "new_block") and the block involved.

    An unmapped page becomes PageDirect. A direct page becomes a chain: the caller's
    preallocated block takes the old entry in its last slot and the new one just
    before it. Otherwise the new entry fills the last free slot of the head block, or
    a new head block when that one is full.
    """
    union = st.w("page_pte")
    cur = union.get(pfn)
    if cur is None:
        union[pfn] = entry
        flags = st.w("page_flags")
        flags[pfn] = (flags[pfn] | PG_DIRECT) & ~PG_ANON
        return "direct", None
    n = nrpte
    chains = st.w("pte_chains")
    if isinstance(cur, tuple):
        bid = alloc_blocks(st)
        chains[bid] = StructPteChain(bid, pfn, (None,) * (n - 2) + (entry, cur))
        union[pfn] = bid
        st.w("page_flags")[pfn] &= ~PG_DIRECT
        st.w("counters")["direct_to_indirect"] += 1
        return "converted", bid
    head = chains[cur]
    ents = head.entries
    if ents[0] is not None:
        bid = alloc_blocks(st)
        chains[bid] = StructPteChain(bid, pfn, (None,) * (n - 1) + (entry,), cur)
        union[pfn] = bid
        return "new_block", bid
    i = ents.count(None) - 1
    chains[cur] = StructPteChain(cur, pfn, (*ents[:i], entry, *ents[i + 1 :]), head.next)
    return "added", cur


def remove_entry(st: State, nrpte: int, pfn: int, entry: Entry) -> tuple[int, int | None] | None:
    """2.6.0 ``page_remove_rmap``: (chain entries compared, block freed or None), or
    None when the page has no such entry.

    A direct page just clears ``pte.direct``. A chain is searched linearly, head block
    first; the head block's first entry moves into the victim's slot, and the head
    block is freed when that empties it. A chain left with one entry is *not*
    collapsed back to PageDirect ("this code doesn't collapse singletons back to
    PageDirect on the remove path"); only ``page_referenced`` does that.
    """
    cur = st.page_pte.get(pfn)
    if cur is None:
        return None
    if isinstance(cur, tuple):
        if cur != entry:
            return None
        del st.w("page_pte")[pfn]
        st.w("page_flags")[pfn] &= ~PG_DIRECT
        return 0, None
    chains = st.pte_chains
    start = chains[cur]
    ents = start.entries
    victim_i = ents.count(None)
    try:
        i = ents.index(entry, victim_i)
    except ValueError:
        return _remove_further(st, nrpte, pfn, entry, start, victim_i)
    if victim_i == nrpte - 1:  # the head held only this entry: free it
        return i - victim_i + 1, _free_head(st, pfn, start)
    head = list(ents)
    head[i] = ents[victim_i]
    head[victim_i] = None
    st.w("pte_chains")[cur] = StructPteChain(cur, pfn, tuple(head), start.next)
    return i - victim_i + 1, None


def _remove_further(
    st: State, nrpte: int, pfn: int, entry: Entry, start: StructPteChain, victim_i: int
) -> tuple[int, int | None] | None:
    """The rest of the linear search, past the head block (every later block is full)."""
    chains = st.pte_chains
    compared = len(start.entries) - victim_i
    bid = start.next
    for _ in range(len(chains)):
        pc = chains.get(bid) if bid is not None else None
        if pc is None:
            return None
        try:
            i = pc.entries.index(entry)
        except ValueError:
            compared += len(pc.entries)
            bid = pc.next
            continue
        block = list(pc.entries)
        block[i] = start.entries[victim_i]
        st.w("pte_chains")[pc.id] = StructPteChain(pc.id, pfn, tuple(block), pc.next)
        compared += i + 1
        if victim_i == nrpte - 1:
            return compared, _free_head(st, pfn, start)
        head = list(start.entries)
        head[victim_i] = None
        st.w("pte_chains")[start.id] = StructPteChain(start.id, pfn, tuple(head), start.next)
        return compared, None
    return None


def _free_head(st: State, pfn: int, start: StructPteChain) -> int:
    """``__pte_chain_free`` of an emptied head block; ``page->pte.chain`` moves on to
    the next block, or becomes 0 (the page is unmapped)."""
    del st.w("pte_chains")[start.id]
    if start.next is None:
        del st.w("page_pte")[pfn]
    else:
        st.w("page_pte")[pfn] = start.next
    return start.id
