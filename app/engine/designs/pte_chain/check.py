"""The D1 invariants (semantics.md#invariants): each page's rmap entries, its chain blocks,
and the rmap state 2.6.0 does not have."""

from __future__ import annotations

from ...events import plural
from ...mapindex import MapIndex
from ...state import (
    PG_ANON,
    PG_DIRECT,
    PG_SWAPCACHE,
    State,
)
from ..base import Violation
from .structs import Entry, pte_text


def check_invariants(state: State, index: MapIndex, nrpte: int) -> list[Violation]:
    """D1.1-D1.6 of semantics.md#invariants (D1.6's "split, merge and mprotect never change a
    page" is a
    property of the operations, tested there; here: no rmap state outside pages)."""
    out: list[Violation] = []
    n = nrpte
    chains = state.pte_chains
    flags = state.page_flags
    reached: dict[int, int] = {}
    for pfn in state.page_pte:
        if pfn not in state.page_mapcount:
            out.append(
                Violation(
                    "G10", f"frame {pfn} is freed but its page->pte still points at an rmap entry."
                )
            )
    for pfn, mc in state.page_mapcount.items():
        cur = state.page_pte.get(pfn)
        mappers = sorted((p, v) for p, v, _ in index.page_mappers.get(pfn, ()))
        f = flags[pfn]
        entries: list[Entry] = []
        if isinstance(cur, tuple):
            entries = [cur]
        elif cur is not None:
            entries = _check_chain(state, nrpte, pfn, cur, reached, out)
        # D1.1: no rmap entry <=> unmapped; "mapcount" is the number of rmap entries.
        if (cur is None) != (mc == 0) or len(entries) != mc:
            out.append(
                Violation(
                    "D1.1",
                    f"frame {pfn} has mapcount {mc} but "
                    f"{plural(len(entries), 'rmap entry', 'rmap entries')}"
                    f"{' (page->pte is 0)' if cur is None else ''}.",
                )
            )
        # D1.2: PG_direct <=> pte.direct holds the one PTE mapping the page.
        if bool(f & PG_DIRECT) != (isinstance(cur, tuple)):
            holds = "a PTE address" if isinstance(cur, tuple) else "no PTE address"
            out.append(
                Violation(
                    "D1.2",
                    f"frame {pfn} has PG_direct "
                    f"{'set' if f & PG_DIRECT else 'clear'} but its "
                    f"pte union holds {holds}.",
                )
            )
        if isinstance(cur, tuple) and (mc != 1 or mappers != [cur]):
            out.append(
                Violation(
                    "D1.2",
                    f"frame {pfn} is PageDirect to {pte_text(cur)}, but "
                    f"{plural(len(mappers), 'PTE')} map it"
                    f"{'' if cur in mappers else ', not that one'}.",
                )
            )
        # D1.3: the chain's entries are exactly the PTEs mapping the page.
        if cur is not None and type(cur) is not tuple and sorted(entries) != mappers:
            out.append(
                Violation(
                    "D1.3",
                    f"the pte_chain of frame {pfn} does not match the "
                    f"PTEs that map it: {_mismatch(entries, mappers)}.",
                )
            )
        # D1.5: page->mapping and page->index of a 2.6.0 anonymous page.
        out += _check_mapping(state, pfn, f)
    for bid, block in chains.items():
        if bid not in reached:
            out.append(
                Violation(
                    "D1.4",
                    f"pte_chain block {bid} (frame {block.pfn}) is "
                    "on no page's chain: a leaked block.",
                )
            )
        if len(block.entries) != n:
            out.append(
                Violation(
                    "D1.4",
                    f"pte_chain block {bid} has {len(block.entries)} slots, not NRPTE = {n}.",
                )
            )
    # D1.6: nothing per vma or per mm.
    with_av = sorted(v.id for v in state.vmas.values() if v.anon_vma is not None)
    if (
        with_av
        or state.anon_vmas
        or state.avcs
        or state.anonmms
        or state.vma_chain
        or state.mm_anonmm
    ):
        out.append(
            Violation(
                "D1.6",
                "2.6.0 keeps no rmap state per vma or per mm, but "
                "the state holds some (anon_vma, anon_vma_chain or "
                "anonmm objects" + (f"; vmas {with_av} have an anon_vma" if with_av else "") + ").",
            )
        )
    return out


def _check_chain(
    state: State, nrpte: int, pfn: int, head: int, reached: dict[int, int], out: list[Violation]
) -> list[Entry]:
    """D1.4 (block shape) along one page's chain; returns its entries in walk order."""
    chains = state.pte_chains
    entries: list[Entry] = []
    bid: int | None = head
    n = nrpte
    while bid is not None:
        if bid in reached:
            out.append(
                Violation(
                    "D1.4",
                    f"pte_chain block {bid} is reached twice (from "
                    f"frame {reached[bid]} and frame {pfn}): a "
                    "shared block or a cycle.",
                )
            )
            break
        block = chains.get(bid)
        if block is None:
            out.append(
                Violation(
                    "G10", f"the pte_chain of frame {pfn} leads to block {bid}, which was freed."
                )
            )
            break
        reached[bid] = pfn
        if block.pfn != pfn:
            out.append(
                Violation(
                    "D1.4",
                    f"pte_chain block {bid} belongs to frame "
                    f"{block.pfn} but is on the chain of frame {pfn}.",
                )
            )
        used = block.used()
        idx = block.idx
        if bid == head:
            if not used or any(e is None for e in block.entries[idx:]):
                out.append(
                    Violation(
                        "D1.4",
                        f"head pte_chain block {bid} of frame {pfn} "
                        "must hold its free slots at its start and at "
                        "least one entry.",
                    )
                )
        elif idx or len(used) != n:
            out.append(
                Violation(
                    "D1.4",
                    f"pte_chain block {bid} of frame {pfn} is not "
                    f"the head but has {plural(idx, 'free slot')}: "
                    "only the head block may have free slots.",
                )
            )
        entries += used
        bid = block.next
    return entries


def _check_mapping(state: State, pfn: int, f: int) -> list[Violation]:
    """D1.5: no ``PG_anon`` in 2.6.0; ``index`` is the swap entry of a swap-cache page
    and nothing otherwise (``mapping`` is NULL or ``&swapper_space`` by construction:
    the design stores no object in it, D1.6)."""
    out = []
    if pfn in state.page_mapping:
        out.append(
            Violation(
                "D1.5",
                f"frame {pfn} has page->mapping pointing at object "
                f"{state.page_mapping[pfn]}; a 2.6.0 anonymous page's "
                "mapping is NULL or &swapper_space.",
            )
        )
    if f & PG_ANON:
        out.append(
            Violation(
                "D1.5",
                f"frame {pfn} has PG_anon, which 2.6.0 does not have: "
                "an anonymous page is one whose mapping is NULL or "
                "&swapper_space.",
            )
        )
    index = state.page_index.get(pfn)
    if f & PG_SWAPCACHE:
        slot = state.page_private.get(pfn)
        if index != slot:
            out.append(
                Violation(
                    "D1.5",
                    f"frame {pfn} is in the swap cache as slot {slot}, "
                    f"so page->index must be {slot}, not {index}.",
                )
            )
    elif index is not None:
        out.append(
            Violation(
                "D1.5",
                f"frame {pfn} is not in the swap cache, so its "
                f"page->mapping is NULL and page->index means nothing, "
                f"but it holds {index}.",
            )
        )
    return out


def _mismatch(entries: list[Entry], mappers: list[Entry]) -> str:
    """How a page's chain differs from the PTEs that map it (D1.3)."""
    extra = sorted(set(entries) - set(mappers))
    missing = sorted(set(mappers) - set(entries))
    dups = sorted({e for e in entries if entries.count(e) > 1})
    what = []
    if dups:
        what.append("duplicates " + ", ".join(pte_text(e) for e in dups))
    if extra:
        what.append("stale " + ", ".join(pte_text(e) for e in extra))
    if missing:
        what.append("missing " + ", ".join(pte_text(e) for e in missing))
    return "; ".join(what)
