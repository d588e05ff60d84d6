"""The D1 strategy: the hooks of 2.6.0 mm/rmap.c, mm/memory.c, mm/mremap.c and
mm/mprotect.c over the pte union and its chain (``chain``)."""

from __future__ import annotations

from dataclasses import replace
from itertools import islice, repeat
from typing import Any, ClassVar

from ...errors import DesignUnavailable
from ...events import Step, id_list, obj, plural, pte_obj, span
from ...mapindex import MapIndex
from ...mmap import remove_vma, split_vma
from ...mprotect import change_protection
from ...state import (
    PAGE_SHIFT,
    PG_ANON,
    PG_DIRECT,
    PG_SWAPCACHE,
    PTE_KIND,
    PTE_PAGE,
    PTE_SHIFT,
    PTE_SWAP,
    State,
    Vma,
)
from ..base import Design, Probe, Violation, rmap_sizes
from .chain import add_entry, alloc_blocks, remove_entry
from .check import check_invariants
from .structs import (
    PTE_UNION_BYTES,
    SIZEOF_LONG,
    SIZEOF_PTE_ADDR,
    STRUCT_PAGE_ANDREA,
    STRUCT_PAGE_FIELD_SUM,
    VMA_RMAP_BYTES,
    Entry,
    StructPteChain,
    chain_blocks,
    pte_text,
)

L1_64 = "l1_64"
L1_128 = "l1_128"
#: option -> L1_CACHE_BYTES; the default is 32 (NRPTE 7)
L1_OPTIONS = {L1_64: 64, L1_128: 128}
L1_DEFAULT = 32


REMOVE = "page_remove_rmap"
REMOVE_FUNC = "page_remove_rmap"


class PteChain(Design):
    """The D1 strategy. Models 2.6.0 mm/rmap.c, mm/memory.c, mm/mremap.c, mm/mprotect.c."""

    name = "pte_chain"
    title = "pte_chain rmap (2.6.0)"
    era = "Linux 2.5.27 ... 2.6.6 (modelled: 2.6.0, December 2003)"
    era_key = "2.6.0"
    source = "v2.6.0"
    tables = ("page_pte", "pte_chains")
    description = (
        "The reverse mapping of Linux 2.6.0, for file and anonymous pages alike: every "
        "mapped page lists each PTE that maps it. A page mapped once is PageDirect, with "
        "page->pte.direct holding the address of its one PTE (2.6.0's PG_direct, not "
        "RFC2's); a shared page points at a chain of 32-byte pte_chain blocks of 7 PTE "
        "addresses each. The reclaim walk is exact: it visits only real mappings, never a "
        "miss. The price is paid elsewhere: fork adds one rmap entry for every resident page "
        "and allocates a block for every page that was direct, munmap and exit search the "
        "chain linearly for each PTE, and every block lives in scarce lowmem. mremap "
        "re-registers each moved PTE. No anon_vma, nothing per vma or per mm."
    )
    vma_anon_vma = False
    option_help: ClassVar[dict[str, str]] = {
        L1_64: "64-byte cache lines: pte_chain blocks of 15 entries (NRPTE = (64 - 4) / 4)",
        L1_128: "128-byte cache lines: pte_chain blocks of 31 entries (NRPTE = (128 - 4) / 4)",
    }
    size_table: ClassVar[dict[str, int]] = {
        "struct page, 2.6.0 field sum": STRUCT_PAGE_FIELD_SUM,
        'struct page, Andrea\'s count ("48 bytes on 2.4 and 2.6")': STRUCT_PAGE_ANDREA,
        "rmap bytes per page (the pte union: pte.direct or pte.chain)": PTE_UNION_BYTES,
        "rmap bytes per vma (vm_area_struct: 64 bytes, none of them rmap)": VMA_RMAP_BYTES,
        "struct pte_chain (one 32-byte cache line: next_and_idx + 7 PTE addresses; "
        "options l1_64 / l1_128: 64 / 128 bytes, 15 / 31 addresses)": L1_DEFAULT,
    }
    #: 2.6.0's can_vma_merge_after/before: "if (!file) return 1" (semantics.md#pte-chain-merging)
    anon_pgoff_linear = False
    #: 2.6.0's PageSwapCache(page) is ``page->mapping == &swapper_space``
    swapcache_flag = False
    swap_cache_entry = (
        "page->mapping = &swapper_space and page->index = the swap entry; "
        "2.6.0 has no PG_swapcache flag"
    )

    def __init__(self, options: frozenset[str]) -> None:
        super().__init__(options)
        sizes = sorted(L1_OPTIONS[o] for o in options if o in L1_OPTIONS)
        if len(sizes) > 1:
            raise DesignUnavailable(
                f"design {self.name!r}: the options {L1_64!r} and "
                f"{L1_128!r} exclude each other (one cache-line size)"
            )
        #: L1_CACHE_BYTES: the size of one pte_chain block
        self.l1 = sizes[0] if sizes else L1_DEFAULT
        #: ``NRPTE = (L1_CACHE_BYTES - sizeof(unsigned long)) / sizeof(pte_addr_t)``
        self.nrpte = (self.l1 - SIZEOF_LONG) // SIZEOF_PTE_ADDR

    # ----- the pte union and its chain ------------------------------------------------------

    def chain_entries(self, state: State, pfn: int) -> list[Entry]:
        """Every rmap entry of a page, in walk order (head block first, newest first)."""
        cur = state.page_pte.get(pfn)
        if cur is None:
            return []
        if isinstance(cur, tuple):
            return [cur]
        return [e for block in chain_blocks(state, cur) for e in block.used()]

    # ----- faults -------------------------------------------------------------------------

    def page_add_new_anon_rmap(self, step: Step, pfn: int, vma: Vma, addr: int) -> None:
        """``page_add_rmap`` of a fresh page (first write, COW copy): PageDirect, with
        ``pte.direct`` = the new PTE; the caller's preallocated block goes unused."""
        entry = (vma.pid, addr >> PAGE_SHIFT)
        add_entry(step.state, self.nrpte, pfn, entry)
        step.emit(
            "page_add_rmap",
            "page_add_rmap",
            f"Frame {pfn} is PageDirect: page->pte.direct holds the address of "
            f"{pte_text(entry)}, its only PTE; no pte_chain block is needed.",
            obj("frame", pfn),
            pte_obj(vma.pid, addr),
        )

    def page_add_swapin_rmap(
        self, step: Step, pfn: int, vma: Vma, addr: int, mapped_before: int
    ) -> None:
        """``do_swap_page`` → ``page_add_rmap``: direct for the first mapping, else the
        chain grows."""
        self._narrate_add(
            step,
            pfn,
            (vma.pid, addr >> PAGE_SHIFT),
            *add_entry(step.state, self.nrpte, pfn, (vma.pid, addr >> PAGE_SHIFT)),
        )

    def _narrate_add(
        self, step: Step, pfn: int, entry: Entry, what: str, block: int | None
    ) -> None:
        where = pte_text(entry)
        if what == "direct":
            text = (
                f"Nothing maps frame {pfn}, so it becomes PageDirect: page->pte.direct "
                f"holds the address of {where}."
            )
        elif what == "converted":
            text = (
                f"Frame {pfn} was PageDirect; a second PTE maps it now, so PG_direct is "
                f"cleared and pte_chain block {block} takes the old PTE and {where}."
            )
        elif what == "new_block":
            text = (
                f"The head pte_chain block of frame {pfn} is full, so a new block "
                f"{block} goes in front of it and takes {where}."
            )
        else:
            text = (
                f"{where} takes the last free slot of frame {pfn}'s head pte_chain block {block}."
            )
        objects = [obj("frame", pfn), pte_obj(entry[0], entry[1] << PAGE_SHIFT)]
        if block is not None:
            objects.append(obj("pte_chain", block))
        step.emit("page_add_rmap", "page_add_rmap", text, *objects)

    def page_remove_rmap(self, step: Step, pfn: int, pid: int, addr: int, mapcount: int) -> None:
        """``page_remove_rmap``: drop this PTE's entry; a chain is searched linearly and the
        entries compared are added to the ``pte_chain_search`` counter.

        Inside reclaim's walk (the PTE already holds the page's swap entry) this is 2.6.0
        ``try_to_unmap``'s in-place "Release a slot": the entry is the head block's first,
        nothing is searched, and the walk's own event tells it.
        """
        st = step.state
        entry = (pid, addr >> PAGE_SHIFT)
        slot = st.page_private.get(pfn)
        if slot is not None:
            pte = st.ptes.get(pid, {}).get(entry[1])
            if pte is not None and pte & PTE_KIND == PTE_SWAP and pte >> PTE_SHIFT == slot:
                remove_entry(st, self.nrpte, pfn, entry)
                return
        done = remove_entry(st, self.nrpte, pfn, entry)
        if done is None:
            step.emit(
                "rmap_not_found",
                "page_remove_rmap",
                f"page_remove_rmap: frame {pfn} has no rmap entry for {pte_text(entry)} "
                '("page_remove_rmap: pte not found"): the rmap is broken.',
                obj("frame", pfn),
                pte_obj(pid, addr),
            )
            return
        compared, freed = done
        if compared:
            st.w("counters")["pte_chain_search"] += compared
        if step.fold(REMOVE, REMOVE_FUNC):  # inside a zap: counted, not told again
            return
        if not compared:
            step.emit(
                REMOVE,
                REMOVE_FUNC,
                f"Frame {pfn} was PageDirect to {pte_text(entry)}: pte.direct is cleared, "
                "nothing to search.",
                obj("frame", pfn),
                pte_obj(pid, addr),
            )
            return
        cur = st.page_pte.get(pfn)
        shown = freed if freed is not None else cur  # the block the event points at
        assert isinstance(shown, int)
        if freed is not None and cur is None:
            tail = f"block {freed} is now empty and freed, and the page is unmapped"
        elif freed is not None:
            tail = f"head block {freed} is now empty and freed; block {cur} is the new head"
        else:
            tail = f"the first entry of head block {cur} fills the hole" + (
                " (a one-entry chain stays a chain: the remove path never collapses "
                "it back to PageDirect)"
                if mapcount == 1
                else ""
            )
        step.emit(
            REMOVE,
            REMOVE_FUNC,
            f"Frame {pfn} drops {pte_text(entry)} from its pte_chain after a linear search "
            f"of {plural(compared, 'entry', 'entries')}; {tail}.",
            obj("frame", pfn),
            pte_obj(pid, addr),
            obj("pte_chain", shown),
        )

    # ----- fork ---------------------------------------------------------------------------

    def fork_vma(
        self,
        step: Step,
        parent: Vma,
        child: Vma,
        vpns: list[int],
        pfns: list[int],
        swap_entries: int,
    ) -> None:
        """``copy_page_range`` → ``page_add_rmap(page, child's pte)`` for every present page,
        in address order: the per-page cost that made 2.6.0's fork slow.

        Every page that was PageDirect becomes a two-entry chain in a new block (the
        usual case on a first fork, done in bulk); a chained page gains an entry in its
        head block, or a new head block when that is full. Swap PTEs only get
        ``swap_duplicate`` (done by the caller).
        """
        if not pfns:
            return
        st = step.state
        if any(a > b for a, b in zip(vpns, islice(vpns, 1, None), strict=False)):
            order = sorted(range(len(vpns)), key=vpns.__getitem__)
            vpns = [vpns[i] for i in order]
            pfns = [pfns[i] for i in order]
        cpid = child.pid
        union = st.page_pte
        heads = [union.get(p) for p in pfns]
        n = len(pfns)
        if all(type(h) is tuple for h in heads):
            first = alloc_blocks(st, n)
            ids = range(first, first + n)
            # ptes[NRPTE-1] = the old direct entry, ptes[NRPTE-2] = the child's PTE
            keys = zip(repeat(cpid), vpns, strict=False)
            entries = zip(*([repeat(None)] * (self.nrpte - 2)), keys, heads, strict=False)
            st.w("pte_chains").update(
                zip(ids, map(StructPteChain, ids, pfns, entries), strict=True)
            )
            st.w("page_pte").update(zip(pfns, ids, strict=True))
            flags = st.w("page_flags")
            flags.update({p: flags[p] & ~PG_DIRECT for p in pfns})
            st.w("counters")["direct_to_indirect"] += n
            converted, grown, blocks = n, 0, list(ids)
        else:
            converted = grown = 0
            blocks = []
            for vpn, pfn in zip(vpns, pfns, strict=True):
                what, block = add_entry(st, self.nrpte, pfn, (cpid, vpn))
                if what == "converted":
                    converted += 1
                else:
                    grown += 1
                if block is not None and what in ("converted", "new_block"):
                    blocks.append(block)
        parts = []
        if converted:
            parts.append(
                f"{plural(converted, 'PageDirect page')} "
                + ("becomes a two-entry chain" if converted == 1 else "become two-entry chains")
            )
        if grown:
            parts.append(
                f"{plural(grown, 'chained page')} {'gains' if grown == 1 else 'gain'} an entry"
            )
        made = (
            f"{plural(len(blocks), 'pte_chain block')} allocated "
            f"({_id_span(blocks)}, {self.l1} bytes each, from lowmem)"
            if blocks
            else "no block allocated"
        )
        step.emit(
            "page_add_rmap",
            "page_add_rmap",
            f"fork: copy_page_range adds the child's PTE to the rmap of each of the "
            f"{plural(n, 'present page')} of vma {parent.id} "
            f"{span(parent.vm_start, parent.vm_end)}: "
            + ", ".join(parts)
            + f"; {made}. One rmap insertion per page per fork.",
            obj("vma", parent.id),
            obj("vma", child.id),
            *(obj("pte_chain", b) for b in blocks[:64]),
        )

    # ----- vma restructuring ----------------------------------------------------------------

    def move_ptes(self, step: Step, pid: int, moved: list[tuple[int, int, int]]) -> None:
        """2.6.0 ``move_one_page`` → ``copy_one_pte`` for each moved present PTE, from the
        end of the range back (``move_page_tables``): ``page_remove_rmap`` of the old PTE,
        then ``page_add_rmap`` of the new one.

        A direct page stays direct, pointing at the new PTE. A one-entry chain empties at
        the remove and the page is re-added as direct (S9). A shared page's chain loses
        the old entry and gains the new one.
        """
        st = step.state
        present = [
            (old, new, pte >> PTE_SHIFT) for old, new, pte in moved if pte & PTE_KIND == PTE_PAGE
        ]
        if not present:
            return
        stayed = collapsed = relinked = compared = 0
        freed: list[int] = []
        made: list[int] = []
        frames = []
        for old, new, pfn in reversed(present):
            was_direct = type(st.page_pte.get(pfn)) is tuple
            done = remove_entry(st, self.nrpte, pfn, (pid, old))
            if done is not None:
                compared += done[0]
                if done[1] is not None:
                    freed.append(done[1])
            what, block = add_entry(st, self.nrpte, pfn, (pid, new))
            if what in ("converted", "new_block"):
                made.append(block)  # type: ignore[arg-type]
            if was_direct:
                stayed += 1
            elif what == "direct":
                collapsed += 1
                frames.append(pfn)
            else:
                relinked += 1
                frames.append(pfn)
        st.w("counters")["pte_chain_search"] += compared
        parts = []
        if stayed:
            parts.append(
                f"{plural(stayed, 'PageDirect page')} "
                f"{'stays' if stayed == 1 else 'stay'} direct, pointing at the new "
                f"{'PTE' if stayed == 1 else 'PTEs'}"
            )
        if collapsed:
            parts.append(
                f"{plural(collapsed, 'one-entry chain')} "
                f"{'empties' if collapsed == 1 else 'empty'} at the remove, so "
                f"{'its page is' if collapsed == 1 else 'their pages are'} re-added "
                "as PageDirect"
            )
        if relinked:
            parts.append(
                f"{plural(relinked, 'shared page')} "
                f"{'swaps' if relinked == 1 else 'swap'} the old PTE for the new one "
                "in its pte_chain"
            )
        tail = f" (linear search: {plural(compared, 'chain entry', 'chain entries')} compared"
        tail += f"; {plural(len(freed), 'block')} freed" if freed else ""
        tail += f"; {plural(len(made), 'block')} allocated" if made else ""
        tail += ")"
        step.emit(
            "page_remove_rmap",
            "copy_one_pte",
            f"mremap re-registers each of the {plural(len(present), 'moved page')} of "
            f"pid {pid} with page_remove_rmap + page_add_rmap: " + "; ".join(parts) + tail + ".",
            *(obj("frame", p) for p in frames[:64]),
        )

    def mprotect_fixup(
        self, step: Step, vma: Vma, prev: Vma | None, start: int, end: int, prot: str
    ) -> Vma:
        """2.5.38 ... 2.6.6 ``mprotect_fixup`` (semantics.md#pte-chain-merging): only a range that
        starts at the vma's
        start may merge, and only with ``prev`` (``mprotect_attempt_merge``): the whole vma
        is absorbed when the range covers it, otherwise the boundary shifts. Anything else
        splits, exactly as 2.6.7 does."""
        st = step.state
        if start == vma.vm_start:
            merged = self._mprotect_attempt_merge(step, vma, prev, end, prot)
            if merged is not None:
                return change_protection(step, merged, start, end, prot)
        else:
            split_vma(step, vma.id, start, new_below=True)
        if end != st.vmas[vma.id].vm_end:
            split_vma(step, vma.id, end, new_below=False)
        return change_protection(step, st.vmas[vma.id], start, end, prot)

    def _mprotect_attempt_merge(
        self, step: Step, vma: Vma, prev: Vma | None, end: int, prot: str
    ) -> Vma | None:
        """2.6.0 ``mprotect_attempt_merge``: ``prev`` adjacent with the new flags takes the
        range, absorbing the whole vma or shifting the boundary."""
        if prev is None or prev.vm_end != vma.vm_start or prev.prot != prot:
            return None
        st = step.state
        grown = replace(prev, vm_end=end)
        st.put_vma(grown)
        if end == vma.vm_end:
            remove_vma(step, vma.id)
            step.emit(
                "vma_merge",
                "mprotect_attempt_merge",
                f"mprotect of {span(vma.vm_start, end)} to {prot}: the range is all of "
                f"vma {vma.id} and its predecessor vma {prev.id} is already {prot}, so vma "
                f"{prev.id} grows to {span(prev.vm_start, end)} and vma {vma.id} is "
                "freed; no page is touched.",
                obj("vma", prev.id),
                obj("vma", vma.id),
            )
        else:
            st.put_vma(
                replace(
                    vma, vm_start=end, vm_pgoff=vma.vm_pgoff + ((end - vma.vm_start) >> PAGE_SHIFT)
                )
            )
            st.refresh_mm(vma.pid)
            step.emit(
                "vma_merge",
                "mprotect_attempt_merge",
                f"mprotect of {span(vma.vm_start, end)} to {prot}: the range starts at "
                f"vma {vma.id}'s start and its predecessor vma {prev.id} is already "
                f"{prot}, so the boundary shifts: vma {prev.id} grows to "
                f"{span(prev.vm_start, end)} and vma {vma.id} shrinks to "
                f"{span(end, vma.vm_end)}; no page is touched.",
                obj("vma", prev.id),
                obj("vma", vma.id),
            )
        return st.vmas[prev.id]

    def mprotect_done(self, step: Step, prev: Vma, ended_at_vma_end: bool) -> None:
        """The last lines of 2.6.0 ``sys_mprotect`` (semantics.md#pte-chain-merging): only when the
        range ended exactly
        at a vma's end, the vma now ending it (``prev``) absorbs the next vma if that is
        adjacent with the same flags. A range ending inside a vma left through ``goto out``
        and never gets here."""
        if not ended_at_vma_end:
            return
        st = step.state
        prev = st.vmas[prev.id]
        nxt = st.neighbours(prev)[1]
        if nxt is None or nxt.vm_start != prev.vm_end or nxt.prot != prev.prot:
            return
        st.put_vma(replace(prev, vm_end=nxt.vm_end))
        remove_vma(step, nxt.id)
        step.emit(
            "vma_merge",
            "sys_mprotect",
            f"The mprotect range ended exactly at the end of vma {prev.id}, and the next "
            f"vma {nxt.id} is adjacent with the same flags ({prev.prot}), so vma "
            f"{prev.id} grows to {span(prev.vm_start, nxt.vm_end)} and vma {nxt.id} is "
            "freed; no page is touched.",
            obj("vma", prev.id),
            obj("vma", nxt.id),
        )

    # ----- reclaim ----------------------------------------------------------------------------

    def add_to_swap_cache(self, step: Step, pfn: int, slot: int) -> None:
        """2.6.0 ``add_to_swap_cache``: ``page->mapping = &swapper_space`` (shown by
        ``page_mapping``) and ``page->index`` = the swap entry."""
        st = step.state
        st.w("page_index")[pfn] = slot
        st.w("page_flags")[pfn] &= ~PG_ANON

    def delete_from_swap_cache(self, step: Step, pfn: int, slot: int) -> None:
        """``__delete_from_swap_cache``: ``mapping`` back to NULL, ``index`` meaningless."""
        st = step.state
        if pfn in st.page_index:
            del st.w("page_index")[pfn]

    def before_walk(self, step: Step, pfn: int) -> None:
        """``page_referenced``'s side effect (semantics.md#walk-accounting): "If the page has a
        single-entry
        pte_chain, collapse that back to a PageDirect representation"."""
        st = step.state
        cur = st.page_pte.get(pfn)
        if cur is None or isinstance(cur, tuple):
            return
        block = st.pte_chains[cur]
        if block.next is not None or block.idx != self.nrpte - 1:
            return
        entry = block.entries[-1]
        assert entry is not None
        del st.w("pte_chains")[cur]
        st.w("page_pte")[pfn] = entry
        st.w("page_flags")[pfn] |= PG_DIRECT
        st.w("counters")["indirect_to_direct"] += 1
        step.emit(
            "pte_chain_collapse",
            "page_referenced",
            f"Reclaim's page_referenced scan finds frame {pfn} on a one-entry pte_chain: "
            f"it collapses it back to PageDirect ({pte_text(entry)}) and frees block {cur}.",
            obj("frame", pfn),
            obj("pte_chain", cur),
            pte_obj(entry[0], entry[1] << PAGE_SHIFT),
        )

    def rmap_walk(self, state: State, pfn: int) -> tuple[dict[str, Any] | None, list[Probe]]:
        """2.6.0 ``try_to_unmap``: the direct PTE, or every chain entry in chain order (head
        block first, each block from its first used slot: newest first,
        semantics.md#walk-accounting). Every entry is
        a real mapping, so the walk never misses. A probe's id is its block, 0 for the
        direct entry."""
        cur = state.page_pte.get(pfn)
        if cur is None:
            return None, []
        if isinstance(cur, tuple):
            pid, vpn = cur
            return (
                {"kind": "pte", "id": 0, "pid": pid, "addr": vpn << PAGE_SHIFT},
                [Probe("pte", 0, pid, vpn)],
            )
        probes = [
            Probe("pte", block.id, e[0], e[1])
            for block in chain_blocks(state, cur)
            for e in block.used()
        ]
        via: dict[str, Any] = {"kind": "pte_chain", "id": cur}
        if cur not in state.pte_chains:
            via["note"] = "freed"
        return via, probes

    # ----- reporting ----------------------------------------------------------------------

    def page_index_at(self, vma: Vma, addr: int) -> int | None:
        """2.6.0 gives a mapped anonymous page's index no meaning (G11, D1.5)."""
        return None

    def mapping_json(self, state: State, pfn: int) -> dict[str, Any] | None:
        """The page's rmap pointer: ``pte.direct`` as ``{"kind": "pte", "id": 0, "pid",
        "addr"}`` (id 0 as in the walk's probes),
        ``pte.chain`` as ``{"kind": "pte_chain", "id"}``; a page with neither but in the swap
        cache shows ``page->mapping`` itself, ``&swapper_space``."""
        cur = state.page_pte.get(pfn)
        if isinstance(cur, tuple):
            return {"kind": "pte", "id": 0, "pid": cur[0], "addr": cur[1] << PAGE_SHIFT}
        if cur is not None:
            return {"kind": "pte_chain", "id": cur}
        if state.page_flags[pfn] & PG_SWAPCACHE:
            return {"kind": "swapper_space", "id": 0}
        return None

    def memory(self, state: State) -> dict[str, int]:
        """The 4-byte pte union of every frame plus one cache line per pte_chain block; no
        rmap bytes per vma or mm. ``struct page`` is 40 bytes by the 2.6.0 field sum, 48 by
        Andrea's count (semantics.md#sizes)."""
        frames = len(state.page_mapcount)
        return rmap_sizes(
            pages=PTE_UNION_BYTES * frames,
            vmas=VMA_RMAP_BYTES * len(state.vmas),
            objects={"pte_chain": self.l1 * len(state.pte_chains)},
            page_bytes=STRUCT_PAGE_FIELD_SUM * frames,
            page_bytes_andrea=STRUCT_PAGE_ANDREA * frames,
        )

    def state_json(self, state: State) -> dict[str, Any]:
        """Every live pte_chain block by id, its used entries in slot (walk) order."""
        return {
            "anon_vmas": [],
            "pte_chains": [
                {
                    "id": b.id,
                    "pfn": b.pfn,
                    "next": b.next,
                    "free": b.entries.count(None),
                    "entries": [
                        {"pid": e[0], "addr": e[1] << PAGE_SHIFT}
                        for e in b.entries
                        if e is not None
                    ],
                }
                for _, b in sorted(state.pte_chains.items())
            ],
        }

    def check(self, state: State, index: MapIndex) -> list[Violation]:
        """D1.1-D1.6 of semantics.md#invariants (``check.check_invariants``)."""
        return check_invariants(state, index, self.nrpte)


def _id_span(ids: list[int]) -> str:
    """'1-5' for a consecutive run, else the id list."""
    if len(ids) > 2 and ids == list(range(ids[0], ids[0] + len(ids))):
        return f"ids {ids[0]}-{ids[-1]}"
    return id_list("id", ids)
