"""The D5 strategy: the hooks of mm/rmap.c, mm/vma.c and mm/memory.c of Linux 6.18/6.19
(and, by option, back to 2.6.34) over the objects of ``structs``."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, ClassVar, cast

from ...eras import is_model
from ...events import Step, anon_vma_obj, id_list, obj, plural
from ...mapindex import MapIndex, Mapper
from ...state import (
    PAGE_SHIFT,
    PG_ANON,
    PG_ANON_EXCLUSIVE,
    PG_SWAPCACHE,
    PTE_KIND,
    PTE_SHIFT,
    PTE_SWAP,
    PTE_WRITE,
    State,
    Vma,
    mk_pte_swap,
)
from ...swap import delete_from_swap_cache, swap_slot_free
from ..base import Design, Finder, Probes, Reach, Violation, rmap_sizes
from .check import check_invariants
from .interval_tree import AvcProbes, tree_key
from .structs import (
    PAGE_RMAP_BYTES,
    SIZEOF_ANON_VMA,
    SIZEOF_ANON_VMA_2634,
    SIZEOF_AVC,
    SIZEOF_AVC_2634,
    STRUCT_PAGE_FIELD_SUM,
    VMA_RMAP_BYTES,
    Avc,
    AvcAnonVma,
    avc_anon_vmas,
)

V2_6_34 = "v2_6_34"
V2_6_34_RC3 = "v2_6_34_rc3"
V3_0_TO_6_15 = "v3_0_to_6_15"
NO_REUSE = "no_reuse"


class AnonVmaChain(Design):
    """The D5 strategy. Models mm/rmap.c, mm/vma.c and mm/memory.c of Linux 6.18/6.19."""

    name = "anon_vma_chain"
    title = "anon_vma + anon_vma_chain"
    era = "Linux 2.6.34 (2010) to today; modelled: 6.18/6.19 with the January 2026 fixes"
    era_key = "6.18"
    source = "v6.18"
    option_variants: ClassVar[dict[str, tuple[str, str]]] = {
        V2_6_34: ("Linux 2.6.34, 2010", "v2.6.34"),
        V2_6_34_RC3: ("Linux 2.6.34-rc3, 2010 (the use-after-free)", "v2.6.34-rc3"),
        V3_0_TO_6_15: ("Linux 3.0 to 6.15", "v6.15"),
        NO_REUSE: ("Linux 2.6.34 to 3.18 (before anon_vma reuse)", "v3.18"),
    }
    tables = ("anon_vmas", "avcs", "vma_chain")
    check_scoped = True
    check_grown = True
    description = (
        "Rik van Riel's answer to the AIM7 problem of one anon_vma per fork family. Each "
        "vma has a chain of anon_vma_chain links: its own anon_vma, where its new and "
        "copy-on-write pages go, then its parent's, up to the root. Fork gives the child's "
        "vma a copy of the parent's chain and a new anon_vma of its own (or reuses an "
        "orphaned ancestor, since 3.19), so a page a child wrote is found through the "
        "child's anon_vma alone. Each anon_vma keeps its links in an interval tree keyed by "
        "pgoff, and the reclaim walk visits only the vmas whose range covers the page. "
        "Pages shared since the fork stay in the ancestor's anon_vma, and the parent's own "
        "copies too, so those still see every child as a candidate. PageAnonExclusive marks "
        "pages known to have a single mapper; swap entries and mprotect use it."
    )
    size_table: ClassVar[dict[str, int]] = {
        "struct page, 32-bit field sum (flags, 5-word union, _mapcount, _refcount)": (
            STRUCT_PAGE_FIELD_SUM
        ),
        "rmap bytes per page (_mapcount; PageAnonExclusive is a flag bit)": PAGE_RMAP_BYTES,
        "rmap bytes per vma (anon_vma_chain list head + anon_vma)": VMA_RMAP_BYTES,
        "struct anon_vma_chain (3.7+: vma, anon_vma, same_vma, rb, rb_subtree_last; "
        "v2_6_34: 24 with two list heads)": SIZEOF_AVC,
        "struct anon_vma, an estimate by field count (root, rwsem, refcount, num_children, "
        "num_active_vmas, parent, rb_root_cached; v2_6_34: 12)": SIZEOF_ANON_VMA,
    }
    option_help: ClassVar[dict[str, str]] = {
        V2_6_34: "Linux 2.6.34 (2010): the same_anon_vma list walked whole, oldest first "
        "(out-of-range vmas are skipped), no anon_vma reuse, the 2.6.7 merge rule "
        "(!a1 || !a2 || a1 == a2), no exclusive swap marker, no writable read "
        "swap-in; overrides v3_0_to_6_15",
        V2_6_34_RC3: "2.6.34-rc3, a teaching variant of v2_6_34: a page swapped in by a "
        "sharer points at the faulting vma's own anon_vma instead of the oldest; "
        "when that process exits the anon_vma is freed under a mapped page (the "
        "use-after-free of LWN 383162, shown as an invariant violation)",
        V3_0_TO_6_15: "Linux 3.0-5.8 and 5.19-6.15: an anon_vma-less side may merge only if "
        "the existing neighbour's chain is singular (965f55dea0e3), so a faulted "
        "range never merges into an unfaulted neighbour; no writable read "
        "swap-in (in 5.9-5.18 COW reuse did not move the page, not modelled)",
        NO_REUSE: "before 3.19: fork always allocates a new anon_vma (no reuse of orphaned "
        "ancestors, 7a3ef208e662), so chains grow by one per fork generation",
    }

    option_eras: ClassVar[dict[str, str]] = {V2_6_34: "2.6.34", V2_6_34_RC3: "2.6.34"}

    def __init__(self, options: frozenset[str]) -> None:
        super().__init__(options)
        self.rc3 = V2_6_34_RC3 in options
        #: 2.6.34-3.6: the same_anon_vma list instead of the interval tree
        self.list_walk = V2_6_34 in options or self.rc3
        self.reuse = not (self.list_walk or NO_REUSE in options)
        self.merge_rule = (
            "2.6.34" if self.list_walk else "3.0" if V3_0_TO_6_15 in options else "6.16"
        )
        #: PageAnonExclusive (5.19+; 2.6.34 had no such flag, docs/semantics.md#avc-2634)
        self.anon_exclusive = not self.list_walk
        #: the exclusive swap-PTE marker (5.19+)
        self.swp_exclusive = not self.list_walk
        #: semantics.md#avc-exclusive (6.11+): an exclusive read swap-in maps the page writable
        self.swapin_writable_on_read = not (self.list_walk or V3_0_TO_6_15 in options)
        #: semantics.md#mprotect-writable (can_change_pte_writable); 2.6 change_protection makes
        #: every PTE read-only
        self.mprotect_keeps_exclusive_writable = not self.list_walk

    # ----- objects ------------------------------------------------------------------------

    @staticmethod
    def _av(st: State, av_id: int) -> AvcAnonVma:
        return avc_anon_vmas(st)[av_id]

    def _put_av(self, st: State, av: AvcAnonVma) -> None:
        cast("dict[int, AvcAnonVma]", st.w("anon_vmas"))[av.id] = av

    def _anon_vma_alloc(self, step: Step, *, root: int | None, parent: int | None) -> AvcAnonVma:
        """``anon_vma_alloc``: refcount 1; a new root is its own root and parent."""
        st = step.state
        ident = st.next_anon_vma
        st.next_anon_vma += 1
        av = AvcAnonVma(
            ident, root if root is not None else ident, parent if parent is not None else ident
        )
        self._put_av(st, av)
        st.count("anon_vmas_allocated")
        return av

    def _chain_link(self, st: State, vma_id: int, av_id: int) -> int:
        """``anon_vma_chain_link``: a new AVC at the head of the vma's chain, inserted
        into the anon_vma's tree behind every AVC whose vma starts at or below this vma's
        pgoff (it is the newest); the 2.6.34 list: at the tail."""
        avc_id = st.alloc_id("avc")
        st.count("anon_vma_chains_allocated")
        avcs = st.w("avcs")
        avcs[avc_id] = Avc(avc_id, vma_id, av_id, st.alloc_id("avc_seq"))
        chains = st.w("vma_chain")
        chains[vma_id] = (avc_id, *chains.get(vma_id, ()))
        av = self._av(st, av_id)
        tree = av.tree
        if self.list_walk:
            tree = (*tree, avc_id)
        else:
            vmas = st.vmas
            at = bisect_right(tree, vmas[vma_id].vm_pgoff, key=lambda a: vmas[avcs[a].vma].vm_pgoff)
            tree = (*tree[:at], avc_id, *tree[at:])
        self._put_av(st, replace(av, tree=tree))
        return avc_id

    def _set_anon_vma(self, st: State, vma_id: int, av_id: int | None) -> None:
        st.put_vma(replace(st.vmas[vma_id], anon_vma=av_id))

    def _add_active(self, st: State, av_id: int, delta: int) -> None:
        av = self._av(st, av_id)
        self._put_av(st, replace(av, num_active_vmas=av.num_active_vmas + delta))

    def _chainavs(self, st: State, vma_id: int) -> list[int]:
        """The anon_vmas of a vma's chain, newest first."""
        avcs = st.avcs
        return [avcs[a].anon_vma for a in st.vma_chain.get(vma_id, ())]

    def _is_fork_child(self, st: State, vma: Vma | None) -> bool:
        """``vma_is_fork_child``: an anon_vma and a chain that is not singular."""
        return (
            vma is not None and vma.anon_vma is not None and len(st.vma_chain.get(vma.id, ())) != 1
        )

    def anon_vma_clone(self, step: Step, dst_id: int, src_id: int) -> int:
        """``anon_vma_clone(dst, src)``: one AVC per AVC of ``src``, oldest first, each at
        the head of ``dst``'s chain (so the order is kept). At fork (``dst`` has no
        anon_vma yet) an anon_vma with no vma of its own and fewer than two children is
        reused (3.19+, 6.0 form). Then ``dst->anon_vma->num_active_vmas++``. Returns the
        number of AVCs made."""
        st = step.state
        src = st.vmas[src_id]
        links = st.vma_chain.get(src_id, ())
        for avc_id in reversed(links):
            av_id = st.avcs[avc_id].anon_vma
            self._chain_link(st, dst_id, av_id)
            av = self._av(st, av_id)
            if (
                self.reuse
                and st.vmas[dst_id].anon_vma is None
                and src.anon_vma is not None
                and av.num_children < 2
                and av.num_active_vmas == 0
            ):
                self._set_anon_vma(st, dst_id, av_id)
        dst_av = st.vmas[dst_id].anon_vma
        if dst_av is not None:
            self._add_active(st, dst_av, 1)
        return len(links)

    def dup_anon_vma(
        self, step: Step, dst_id: int, src_id: int, why: str, role: str = "dup_anon_vma"
    ) -> None:
        """``dup_anon_vma``: an anon_vma-less vma about to cover ``src``'s pages takes its
        anon_vma and a copy of its chain ("Easily overlooked: ..."); 2.6.34: the importer
        clone of ``vma_adjust``. ``role`` names the function (or the modelling choice)."""
        st = step.state
        if src_id not in st.vmas or dst_id not in st.vmas:  # the source was merged away
            return
        av = st.vmas[src_id].anon_vma
        if av is None or st.vmas[dst_id].anon_vma is not None:
            return
        self._set_anon_vma(st, dst_id, av)
        n = self.anon_vma_clone(step, dst_id, src_id)
        model = is_model(self.funcs[role])
        text = (
            f"{why}: vma {dst_id} had no anon_vma, so "
            f"{'the simulator lets it take' if model else 'it takes'} anon_vma {av} of vma "
            f"{src_id} and a copy of its chain ({plural(n, 'AVC')}), to cover the pages it "
            "takes over"
        )
        if model:
            text += (
                " (a modelling choice: this kernel's copy_vma leaves the vma without an anon_vma)"
            )
        step.emit(
            "dup_anon_vma",
            role,
            text + ".",
            obj("vma", dst_id),
            obj("vma", src_id),
            obj("anon_vma", av),
            ref="docs/semantics.md#mremap-adoption" if model else None,
        )

    def unlink_anon_vmas(self, step: Step, vma_id: int) -> None:
        """``unlink_anon_vmas``: take every AVC of the vma out of its anon_vma's tree,
        newest first; an anon_vma whose tree empties drops its parent's ``num_children``
        and then its own reference, and a freed child drops its root's, so the root goes
        last. ``vma->anon_vma->num_active_vmas--``."""
        st = step.state
        chain = st.vma_chain.get(vma_id, ())
        vma = st.vmas[vma_id]
        if not chain and vma.anon_vma is None:
            return
        emptied = []
        avcs = st.w("avcs")
        for avc_id in chain:
            av = self._av(st, avcs[avc_id].anon_vma)
            tree = tuple(a for a in av.tree if a != avc_id)
            self._put_av(st, replace(av, tree=tree))
            del avcs[avc_id]
            if not tree:
                emptied.append(av.id)
                if av.parent in st.anon_vmas:
                    parent = self._av(st, av.parent)
                    self._put_av(st, replace(parent, num_children=parent.num_children - 1))
        if vma.anon_vma is not None and vma.anon_vma in st.anon_vmas:
            self._add_active(st, vma.anon_vma, -1)
        self._set_anon_vma(st, vma_id, None)
        chains = st.w("vma_chain")
        chains.pop(vma_id, None)
        freed = []
        for av_id in emptied:
            freed += self._put_anon_vma(st, av_id)
        text = (
            f"unlink_anon_vmas: vma {vma_id} goes, so its {plural(len(chain), 'AVC')} "
            f"{'leaves its' if len(chain) == 1 else 'leave their'} anon_vma's tree"
        )
        if vma.anon_vma is not None and not self.list_walk:  # num_active_vmas: 6.0+
            text += f", and anon_vma {vma.anon_vma} has one active vma fewer"
        if emptied:
            text += (
                f"; {id_list('anon_vma', emptied)} now "
                f"{'has' if len(emptied) == 1 else 'have'} an empty tree"
            )
        step.emit(
            "unlink_anon_vmas",
            "unlink_anon_vmas",
            text + ".",
            obj("vma", vma_id),
            *(obj("anon_vma", a) for a in emptied),
        )
        for av_id, is_root in freed:
            if self.list_walk:  # 2.6.34: no root, no refcount (semantics.md#avc-2634)
                why = "its list is empty"
            elif is_root:
                why = "its tree is empty and no descendant pins it any more"
            else:
                why = (
                    "its tree is empty, so its last reference is gone; it drops its "
                    "reference on its root"
                )
            step.emit(
                "anon_vma_free",
                "anon_vma_free",
                f"anon_vma {av_id} is freed: {why}.",
                obj("anon_vma", av_id),
            )

    def _put_anon_vma(self, st: State, av_id: int) -> list[tuple[int, bool]]:
        """``put_anon_vma``: drop a reference; at 0 free it and drop the root's."""
        out: list[tuple[int, bool]] = []
        av = self._av(st, av_id)
        av = replace(av, refcount=av.refcount - 1)
        self._put_av(st, av)
        if av.refcount:
            return out
        del st.w("anon_vmas")[av_id]
        out.append((av_id, av.root == av_id))
        if av.root != av_id and av.root in st.anon_vmas:
            root = self._av(st, av.root)
            root = replace(root, refcount=root.refcount - 1)
            self._put_av(st, root)
            if root.refcount == 0:
                del st.w("anon_vmas")[root.id]
                out.append((root.id, True))
        return out

    # ----- faults ---------------------------------------------------------------------

    def anon_vma_prepare(self, step: Step, vma_id: int) -> None:
        """``__anon_vma_prepare``: borrow a mergeable neighbour's anon_vma (next first, then
        prev, only if the neighbour's chain is singular: d0e9fe1758f2), else allocate a new
        root (its own root and parent, ``num_children`` 1 for the self-parent link); link
        one AVC; ``num_active_vmas++``."""
        st = step.state
        vma = st.vmas[vma_id]
        if vma.anon_vma is not None:
            return
        av_id, near = self._find_mergeable_anon_vma(st, vma)
        if av_id is None:
            av = self._anon_vma_alloc(step, root=None, parent=None)
            self._put_av(st, replace(av, num_children=1))
            av_id = av.id
            how = (
                f"a new anon_vma {av_id} is allocated"
                if self.list_walk
                else f"a new root anon_vma {av_id} is allocated (its own root and parent, "
                "num_children 1 for the self-parent link)"
            )
        else:
            how = (
                f"it shares anon_vma {av_id} of the adjacent vma {near}, whose chain is "
                "that single link and which it could merge with later "
                "(find_mergeable_anon_vma)"
            )
        avc = self._chain_link(st, vma_id, av_id)
        self._set_anon_vma(st, vma_id, av_id)
        self._add_active(st, av_id, 1)
        step.emit(
            "anon_vma_prepare",
            "anon_vma_prepare",
            f"First write fault in vma {vma_id}, which has no anon_vma: {how}; "
            f"anon_vma_chain {avc} links them.",
            obj("vma", vma_id),
            obj("anon_vma", av_id),
            obj("avc", avc),
        )

    def _find_mergeable_anon_vma(self, st: State, vma: Vma) -> tuple[int | None, int | None]:
        """``find_mergeable_anon_vma`` / ``reusable_anon_vma``: next first, then prev:
        adjacent, flags equal but for R/W/X (all the simulator compares), linear pgoff,
        and ``list_is_singular(&old->anon_vma_chain)``."""
        prev, nxt = st.neighbours(vma)
        if (
            nxt is not None
            and nxt.anon_vma is not None
            and vma.vm_end == nxt.vm_start
            and nxt.vm_pgoff == vma.vm_pgoff + vma.pages
            and len(st.vma_chain.get(nxt.id, ())) == 1
        ):
            return nxt.anon_vma, nxt.id
        if (
            prev is not None
            and prev.anon_vma is not None
            and prev.vm_end == vma.vm_start
            and vma.vm_pgoff == prev.vm_pgoff + prev.pages
            and len(st.vma_chain.get(prev.id, ())) == 1
        ):
            return prev.anon_vma, prev.id
        return None, None

    def _set_new_anon(
        self, st: State, pfn: int, vma: Vma, addr: int, av_id: int | None, exclusive: bool
    ) -> int:
        """``__folio_set_anon``: mapping, index and (``RMAP_EXCLUSIVE``) PageAnonExclusive."""
        index = vma.linear_page_index(addr)
        flags = st.w("page_flags")
        flags[pfn] = (
            flags[pfn] | PG_ANON | PG_ANON_EXCLUSIVE
            if exclusive and self.anon_exclusive
            else (flags[pfn] | PG_ANON) & ~PG_ANON_EXCLUSIVE
        )
        st.w("page_index")[pfn] = index
        if av_id is not None:
            st.w("page_mapping")[pfn] = av_id
        return index

    def page_add_new_anon_rmap(self, step: Step, pfn: int, vma: Vma, addr: int) -> None:
        """``folio_add_new_anon_rmap(…, RMAP_EXCLUSIVE)`` of a fresh frame (first write or
        COW copy): ``mapping = vma->anon_vma``, the faulting vma's own."""
        index = self._set_new_anon(step.state, pfn, vma, addr, vma.anon_vma, True)
        step.emit(
            "folio_add_new_anon_rmap",
            "add_new_anon_rmap",
            f"Frame {pfn} points at anon_vma {vma.anon_vma}, the own anon_vma of vma "
            f"{vma.id}, with page->index {index}"
            + (", and is PageAnonExclusive: one process maps it." if self.anon_exclusive else "."),
            obj("frame", pfn),
            *anon_vma_obj(vma.anon_vma),
        )

    def _swapin_target(self, st: State, vma: Vma, exclusive: bool) -> int | None:
        """The anon_vma a frame read from swap points at (``__folio_set_anon``): the vma's
        own if exclusive, else the oldest possible one, ``anon_vma->root`` (2.6.36+; 2.6.34:
        the last entry of the chain, the same object). 2.6.34-rc3: always the vma's own."""
        own = vma.anon_vma
        if own is None or exclusive or self.rc3:
            return own
        if self.list_walk:
            chain = self._chainavs(st, vma.id)
            return chain[-1] if chain else own
        return self._av(st, own).root if own in st.anon_vmas else own

    def page_add_swapin_rmap(
        self, step: Step, pfn: int, vma: Vma, addr: int, mapped_before: int
    ) -> None:
        """A non-exclusive swap-in: a frame that is not anon yet points at the oldest
        anon_vma; an anon one keeps its mapping (``folio_add_anon_rmap_ptes``)."""
        st = step.state
        if pfn not in st.page_mapping:
            self._set_new_anon(st, pfn, vma, addr, self._swapin_target(st, vma, False), False)

    def swapin_map(
        self,
        step: Step,
        pfn: int,
        vma: Vma,
        addr: int,
        slot: int,
        write: bool,
        mapped_before: int,
        marked_exclusive: bool,
    ) -> bool:
        """``do_swap_page`` of 6.18 (semantics.md#anon-vma-chain, semantics.md#avc-exclusive):
        ``swap_free``; on a write fault with no
        other mapper ``should_try_to_free_swap`` → ``folio_free_swap``, which succeeds iff
        no swap PTE holds the slot any more and then makes the page exclusive. Exclusive
        also when the swap PTE carried the marker. A frame that is not anon yet gets the
        vma's own anon_vma if exclusive, the root otherwise; an anon one keeps its mapping.
        An exclusive page in a writable vma is mapped writable, even on a read fault (6.11+,
        semantics.md#avc-exclusive; not in the older modes)."""
        st = step.state
        ptes = st.w("swap_ptes")
        ptes[slot] -= 1
        exclusive = marked_exclusive and self.swp_exclusive
        if write and mapped_before == 0 and ptes[slot] == 0 and st.page_flags[pfn] & PG_SWAPCACHE:
            delete_from_swap_cache(step, pfn)
            swap_slot_free(step, slot)
            exclusive = True
            if self.anon_exclusive:
                how = "the page is exclusive (should_try_to_free_swap, folio_free_swap)"
            else:
                how = "the PTE may be writable at once (reuse_swap_page)"
            step.emit(
                "folio_free_swap",
                "swapin_free_swap",
                f"Write fault and no other PTE maps frame {pfn} or holds slot {slot}: the "
                f"frame leaves the swap cache, the slot is freed and {how}.",
                obj("frame", pfn),
                obj("slot", slot),
            )
        if pfn not in st.page_mapping:
            # 2.6.34's do_swap_page -> page_add_anon_rmap passed exclusive = 0: every
            # swapped-in page went to the oldest anon_vma (docs/semantics.md#avc-2634)
            placed_exclusive = exclusive and self.anon_exclusive
            target = self._swapin_target(st, vma, placed_exclusive)
            index = self._set_new_anon(st, pfn, vma, addr, target, placed_exclusive)
            if placed_exclusive:
                why = f"the own anon_vma {target} of vma {vma.id}, because it is exclusive"
            elif self.rc3:
                why = (
                    f"anon_vma {target} of the faulting vma {vma.id}, although other "
                    "processes may map it later (2.6.34-rc3: the bug of LWN 383162)"
                )
            elif self.list_walk:
                why = (
                    f"the oldest anon_vma {target} of vma {vma.id}'s chain: 2.6.34 places "
                    "every page it reads from swap there, even one only this process maps"
                )
            else:
                why = (
                    f"the oldest anon_vma {target} of vma {vma.id}'s chain, because other "
                    "processes may share the page"
                )
            step.emit(
                "folio_add_new_anon_rmap",
                "swapin_new_rmap",
                f"Frame {pfn} was read from swap, so it is not anon yet: it now points at "
                f"{why} (page->index {index}).",
                obj("frame", pfn),
                *anon_vma_obj(target),
            )
        else:
            if exclusive and self.anon_exclusive:
                st.w("page_flags")[pfn] |= PG_ANON_EXCLUSIVE
            step.emit(
                "folio_add_anon_rmap",
                "swapin_anon_rmap",
                f"Frame {pfn} is already anon: it keeps pointing at anon_vma "
                f"{st.page_mapping[pfn]}"
                + (", and is now PageAnonExclusive." if exclusive and self.anon_exclusive else "."),
                obj("frame", pfn),
                obj("anon_vma", st.page_mapping[pfn]),
            )
        return exclusive and vma.writable and (write or self.swapin_writable_on_read)

    def cow_reuse(self, step: Step, pfn: int, vma: Vma, addr: int) -> None:
        """``wp_can_reuse_anon_folio`` + ``folio_move_anon_rmap`` (c44b674323f4,
        semantics.md#faults): a
        PageAnonExclusive page is reused as it is; otherwise the swap cache is dropped
        (the reuse test already found no swap PTE on the slot) and the page moves to the
        faulting vma's own anon_vma and becomes exclusive."""
        st = step.state
        if st.page_flags[pfn] & PG_ANON_EXCLUSIVE:
            step.emit(
                "wp_page_reuse",
                "do_wp_page",
                f"Frame {pfn} is PageAnonExclusive, so it is reused without looking at "
                "its anon_vma or the swap cache.",
                obj("frame", pfn),
            )
            return
        if st.page_flags[pfn] & PG_SWAPCACHE:
            slot = st.page_private[pfn]
            delete_from_swap_cache(step, pfn)
            swap_slot_free(step, slot)
            step.emit(
                "folio_free_swap",
                "reuse_free_swap",
                f"Frame {pfn} leaves the swap cache and slot {slot} is freed before the "
                "reuse: no swap PTE holds the slot.",
                obj("frame", pfn),
                obj("slot", slot),
            )
        old = st.page_mapping.get(pfn)
        assert vma.anon_vma is not None  # a written anon page's vma has one
        st.w("page_mapping")[pfn] = vma.anon_vma
        flag = ""
        if self.anon_exclusive:
            st.w("page_flags")[pfn] |= PG_ANON_EXCLUSIVE
            flag = " and becomes PageAnonExclusive"
        if old == vma.anon_vma:
            text = (
                f"Frame {pfn} already points at anon_vma {old}, the own anon_vma of vma "
                f"{vma.id}{'; it becomes PageAnonExclusive' if flag else ''}."
            )
        else:
            text = (
                f"Frame {pfn} has a single mapper now, so it moves from anon_vma {old} to "
                f"anon_vma {vma.anon_vma}, the own anon_vma of vma {vma.id},{flag}: its "
                "reclaim walk no longer visits the relatives."
            )
        step.emit(
            "folio_move_anon_rmap",
            "move_anon_rmap",
            text,
            obj("frame", pfn),
            *anon_vma_obj(vma.anon_vma),
        )

    def page_remove_rmap(self, step: Step, pfn: int, pid: int, addr: int, mapcount: int) -> None:
        """``folio_remove_rmap_pte``: ``mapping`` stays set until the frame is freed; an
        unmapped page is no longer exclusive to anyone (``folio_try_share_anon_rmap_pte``
        on the reclaim path)."""
        if mapcount:
            return
        flags = step.state.page_flags
        if flags[pfn] & PG_ANON_EXCLUSIVE:
            step.state.w("page_flags")[pfn] &= ~PG_ANON_EXCLUSIVE

    # ----- fork -----------------------------------------------------------------------

    def fork_copies_ptes(self, state: State, parent: Vma) -> bool:
        """``copy_page_range``'s first test (``vma_needs_copy`` in 6.x): page tables of a
        vma without an anon_vma are not copied; the child faults them in again
        (docs/semantics.md#fork)."""
        return parent.anon_vma is not None

    #: ``dup_mmap`` calls ``anon_vma_fork`` before ``copy_page_range``
    anon_vma_fork_first = True

    def fork_vma(
        self,
        step: Step,
        parent: Vma,
        child: Vma,
        vpns: list[int],
        pfns: list[int],
        swap_entries: int,
    ) -> None:
        """``anon_vma_fork`` for one vma, before its page tables are copied.

        ``anon_vma_clone`` (with reuse), then, unless an anon_vma was reused, a new one
        (root = the parent's root, parent = ``pvma->anon_vma``) whose AVC goes to the head
        of the child's chain.
        """
        st = step.state
        pav = parent.anon_vma
        if pav is None:
            return
        n = self.anon_vma_clone(step, child.id, parent.id)
        reused = st.vmas[child.id].anon_vma
        if reused is not None:
            text = (
                f"anon_vma_fork: the child's vma {child.id} gets a copy of the chain of vma "
                f"{parent.id} ({plural(n, 'AVC')}) and reuses anon_vma {reused}, which has "
                "no vma of its own and fewer than two children (num_children < 2, "
                "num_active_vmas 0): no new anon_vma, and no AVC at the head."
            )
            objects = [obj("vma", child.id), obj("anon_vma", reused)]
        else:
            pobj = self._av(st, pav)
            av = self._anon_vma_alloc(step, root=pobj.root, parent=pav)
            self._put_av(st, replace(av, num_active_vmas=1))
            root = self._av(st, pobj.root)
            self._put_av(st, replace(root, refcount=root.refcount + 1))
            self._set_anon_vma(st, child.id, av.id)
            avc = self._chain_link(st, child.id, av.id)
            pobj = self._av(st, pav)
            self._put_av(st, replace(pobj, num_children=pobj.num_children + 1))
            text = (
                f"anon_vma_fork: the child's vma {child.id} gets a copy of the chain of vma "
                f"{parent.id} ({plural(n, 'AVC')}, so it can find the pages they share), "
                f"then its own new anon_vma {av.id}"
                + ("" if self.list_walk else f" (parent {pav}, root {pobj.root}, which it pins)")
                + f" through anon_vma_chain {avc} at the head of its chain: the "
                "child's copy-on-write pages will go there."
            )
            objects = [obj("vma", child.id), obj("anon_vma", av.id), obj("anon_vma", pav)]
        step.emit("anon_vma_fork", "anon_vma_fork", text, *objects)

    def copy_page_range_rmap(self, step: Step, pfns: list[int]) -> str:
        """``copy_present_pte``: a page mapped in both processes is no longer exclusive
        (the swap PTEs' exclusive marker went with the write bit)."""
        flags = step.state.page_flags
        shared = [pfn for pfn in pfns if flags[pfn] & PG_ANON_EXCLUSIVE]
        if not shared:
            return ""
        wflags = step.state.w("page_flags")
        wflags.update({pfn: wflags[pfn] & ~PG_ANON_EXCLUSIVE for pfn in shared})
        return (
            f"; {id_list('frame', shared)} {'is' if len(shared) == 1 else 'are'} no "
            "longer PageAnonExclusive"
        )

    # ----- vma restructuring ------------------------------------------------------------

    def link_vma(self, step: Step, vma_id: int, source: int) -> None:
        """``__split_vma`` / ``copy_vma``: the new struct (``vm_area_dup`` copied the
        anon_vma pointer) gets a copy of the source's chain; ``num_active_vmas++``."""
        st = step.state
        if st.vmas[vma_id].anon_vma is None:
            return
        n = self.anon_vma_clone(step, vma_id, source)
        step.emit(
            "anon_vma_clone",
            "anon_vma_clone",
            f"The new vma {vma_id} made from vma {source} gets a copy of its chain "
            f"({plural(n, 'AVC')}) and shares its anon_vma {st.vmas[vma_id].anon_vma}; "
            "no page changes.",
            obj("vma", vma_id),
            obj("vma", source),
            *anon_vma_obj(st.vmas[vma_id].anon_vma),
        )

    def vma_adjusted(self, step: Step, vma_id: int) -> None:
        """``anon_vma_interval_tree_pre/post_update_vma``: the vma's AVCs are taken out of
        their trees and put back under the new range, behind equal keys
        (semantics.md#walk-accounting). The 2.6.34
        list has no keys: nothing moves."""
        if self.list_walk:
            return
        st = step.state
        chain = st.vma_chain.get(vma_id, ())
        if not chain:
            return
        avcs = st.w("avcs")
        for avc_id in reversed(chain):
            avcs[avc_id] = replace(avcs[avc_id], seq=st.alloc_id("avc_seq"))
        key = tree_key(st)
        for avc_id in chain:
            av = self._av(st, avcs[avc_id].anon_vma)
            self._put_av(st, replace(av, tree=tuple(sorted(av.tree, key=key))))

    def unlink_vma(self, step: Step, vma_id: int) -> None:
        self.unlink_anon_vmas(step, vma_id)

    def anon_vma_merge(self, step: Step, survivor: int, removed: int) -> None:
        """``dup_anon_vma`` into an anon_vma-less survivor, then ``anon_vma_merge`` →
        ``unlink_anon_vmas`` of the removed vma."""
        self.dup_anon_vma(step, survivor, removed, f"vma {survivor} absorbs vma {removed}")
        self.unlink_anon_vmas(step, removed)

    def import_anon_vma(self, step: Step, importer: int, exporter: int) -> None:
        """A boundary shift: the expanding vma needs the shrinking one's anon_vma."""
        self.dup_anon_vma(
            step,
            importer,
            exporter,
            f"the boundary between vma {exporter} and vma {importer} moves",
        )

    def merge_copied_range(self, step: Step, target: int, source: int) -> None:
        """``vma_merge_copied_range`` (61f67c230a5e): the survivor of an mremap merge takes
        the anon_vma of the vma the pages are copied from (``vmg->copied_from``)."""
        self.dup_anon_vma(
            step,
            target,
            source,
            f"the pages of vma {source} move into vma {target}",
            "copied_range_adopt",
        )

    def merge_refusal(
        self, state: State, neighbour: Vma, anon_vma: int | None, source: Vma | None
    ) -> str | None:
        """``is_mergeable_anon_vma`` of the selected kernel.

        6.16+ (879bca0a2c4f + 2026): Case 1, the neighbour has none and the range has one:
        allowed unless the range's vma (or, for mremap, the vma it is copied from: both are
        ``source``) is a fork child; Case 2, the neighbour has one and the range none:
        allowed unless the neighbour is a fork child; Case 3: equal. 3.0-6.15: a NULL side
        is allowed only if the neighbour's chain is singular. 2.6.34: ``!a1 || !a2 || a1 ==
        a2``.
        """
        tgt = neighbour.anon_vma
        if self.merge_rule == "2.6.34":
            if anon_vma is None or tgt is None or anon_vma == tgt:
                return None
            return f"they have different anon_vmas ({anon_vma} and {tgt})"
        if self.merge_rule == "3.0":
            if (anon_vma is None or tgt is None) and len(
                state.vma_chain.get(neighbour.id, ())
            ) == 1:
                return None
            if anon_vma == tgt:
                return None
            if tgt is None:
                return (
                    f"vma {neighbour.id} has no anon_vma, so its chain is not singular "
                    "(3.0-6.15: a faulted range never merges into an unfaulted neighbour, "
                    "965f55dea0e3)"
                )
            if anon_vma is None:
                return (
                    f"vma {neighbour.id} is a fork child (its chain has "
                    f"{len(state.vma_chain.get(neighbour.id, ()))} AVCs)"
                )
            return f"they have different anon_vmas ({anon_vma} and {tgt})"
        if tgt is None and anon_vma is not None:
            if self._is_fork_child(state, source):
                assert source is not None
                return (
                    f"vma {source.id} is a fork child (its chain has "
                    f"{len(state.vma_chain.get(source.id, ()))} AVCs), and vma "
                    f"{neighbour.id} would have to share its anon_vma {anon_vma} "
                    "(vma_is_fork_child)"
                )
            return None
        if tgt is not None and anon_vma is None:
            if self._is_fork_child(state, neighbour):
                return (
                    f"vma {neighbour.id} is a fork child (its chain has "
                    f"{len(state.vma_chain.get(neighbour.id, ()))} AVCs), so the range "
                    f"may not join its anon_vma {tgt} (vma_is_fork_child)"
                )
            return None
        if anon_vma == tgt:
            return None
        return f"they have different anon_vmas ({anon_vma} and {tgt})"

    def merge_both_refusal(self, state: State, prev: Vma, nxt: Vma) -> str | None:
        """``can_vma_merge_right``: prev and next must also suit each other,
        ``!prev->anon_vma || !next->anon_vma || prev->anon_vma == next->anon_vma`` (3.0-6.15
        and 2.6.34: ``is_mergeable_anon_vma(prev->anon_vma, next->anon_vma, NULL)``)."""
        a, b = prev.anon_vma, nxt.anon_vma
        if a is None or b is None or a == b:
            return None
        return f"vma {prev.id} and vma {nxt.id} have different anon_vmas ({a} and {b})"

    def protect_writable(self, state: State, pfn: int, vma: Vma) -> bool:
        """``can_change_pte_writable`` (semantics.md#mprotect-writable): an exclusive anon page in
        a writable vma."""
        return (
            self.mprotect_keeps_exclusive_writable
            and vma.writable
            and bool(state.page_flags[pfn] & PG_ANON_EXCLUSIVE)
        )

    def copy_vma_pgoff(self, vma: Vma, pgoff: int, new_addr: int) -> int:
        """``copy_vma``: a never-faulted vma gets the new address's pgoff, to help merging."""
        return new_addr >> PAGE_SHIFT if vma.anon_vma is None else pgoff

    # ----- reclaim ----------------------------------------------------------------------

    def before_walk(self, step: Step, pfn: int) -> None:
        """Report the use-after-free a walk from a freed anon_vma would be (2.6.34-rc3)."""
        st = step.state
        target = st.page_mapping.get(pfn)
        if target is not None and target not in st.anon_vmas:
            step.emit(
                "oops",
                "oops",
                f"Use after free: frame {pfn} points at anon_vma {target}, which was freed "
                "while the page was still mapped; 2.6.34-rc3 oopsed here (LWN 383162). "
                "The simulator skips the walk, so the page stays mapped.",
                obj("frame", pfn),
                *anon_vma_obj(target),
            )

    def rmap_walk(self, state: State, pfn: int) -> tuple[dict[str, Any] | None, Probes]:
        """``rmap_walk_anon``: ``anon_vma_interval_tree_foreach`` over the AVCs of the
        page's anon_vma whose vma covers ``page->index``, in tree order; 2.6.34: the whole
        list, oldest first, a vma that does not cover the index being skipped by
        ``vma_address``. The probes are computed as the walk goes."""
        target = state.page_mapping.get(pfn)
        if target is None:
            return None, []
        av = avc_anon_vmas(state).get(target)
        if av is None:
            return {"kind": "anon_vma", "id": target, "note": "freed"}, []
        return (
            {"kind": "anon_vma", "id": target},
            AvcProbes(state, av.tree, state.page_index[pfn], self.list_walk),
        )

    def reach(self, state: State, frames: Mapping[int, Sequence[Mapper]]) -> Reach:
        """A PTE in vma V is reached iff an AVC of the page's anon_vma links V and
        ``vma_address`` puts the page in V (``Design.reach_by_lookup``): the walk visits
        every AVC whose vma covers the index, the tree being in walk order."""
        avs, avcs = avc_anon_vmas(state), state.avcs

        def finder(target: int) -> Finder | None:
            av = avs.get(target)
            if av is None or not self._walk_order(state, av):
                return None  # the walk itself says what it reaches
            return self.vma_finder(state.vmas, frozenset(avcs[a].vma for a in av.tree))

        return self.reach_by_lookup(state, frames, finder)

    def reach_kept(self, old: State, new: State, pfn: int) -> bool:
        """The page's anon_vma lost no AVC (a fork links the child's vma into it) and its
        tree is still in walk order."""
        target = new.page_mapping.get(pfn)
        if target is None:
            return False
        before, after = avc_anon_vmas(old).get(target), avc_anon_vmas(new).get(target)
        if before is None or after is None:
            return False
        return before is after or (
            set(before.tree) <= set(after.tree) and self._walk_order(new, after)
        )

    def _walk_order(self, state: State, av: AvcAnonVma) -> bool:
        """Whether every AVC of the tree exists and (the interval tree) the tree is sorted
        by its vmas' pgoffs, as the walk's pruning assumes."""
        avcs, vmas = state.avcs, state.vmas
        if any(a not in avcs for a in av.tree):
            return False
        if self.list_walk:
            return True
        keys = [vmas[v].vm_pgoff if (v := avcs[a].vma) in vmas else -1 for a in av.tree]
        return keys == sorted(keys)

    def swap_pte(self, state: State, pfn: int, slot: int) -> int:
        """``try_to_unmap_one``: the swap PTE of a PageAnonExclusive page carries the
        exclusive marker (5.19+; the simulator's PTE_WRITE bit on a swap entry)."""
        pte = mk_pte_swap(slot)
        if self.swp_exclusive and state.page_flags[pfn] & PG_ANON_EXCLUSIVE:
            pte |= PTE_WRITE
        return pte

    # ----- reporting ----------------------------------------------------------------------

    def mapping_json(self, state: State, pfn: int) -> dict[str, Any] | None:
        target = state.page_mapping.get(pfn)
        return None if target is None else {"kind": "anon_vma", "id": target}

    def memory(self, state: State) -> dict[str, int]:
        """i386 field sums (semantics.md#sizes): 4 bytes of ``_mapcount`` per frame, 12 per vma,
        32 per AVC (24 in 2.6.34), 52 per anon_vma (an estimate: no source states it; 12
        in 2.6.34); ``struct page`` 32 (no Andrea figure for this era: the same value)."""
        frames = len(state.page_mapcount)
        avcs, avs = len(state.avcs), len(state.anon_vmas)
        avc_size = SIZEOF_AVC_2634 if self.list_walk else SIZEOF_AVC
        av_size = SIZEOF_ANON_VMA_2634 if self.list_walk else SIZEOF_ANON_VMA
        return {
            **rmap_sizes(
                pages=PAGE_RMAP_BYTES * frames,
                vmas=VMA_RMAP_BYTES * len(state.vmas),
                objects={"anon_vma_chain": avc_size * avcs, "anon_vma": av_size * avs},
                page_bytes=STRUCT_PAGE_FIELD_SUM * frames,
                page_bytes_andrea=STRUCT_PAGE_FIELD_SUM * frames,
            ),
            "avcs": avcs,
            "anon_vma_objects": avs,
        }

    def state_json(self, state: State) -> dict[str, Any]:
        """``anon_vmas`` (tree in walk order, counters), ``anon_vma_chains``, each vma's
        chain newest first (``vma_chains``), and the swap PTEs carrying the exclusive
        marker (``exclusive_swap_ptes``)."""
        anon_vmas = []
        for _, av in sorted(avc_anon_vmas(state).items()):
            anon_vmas.append(
                {
                    "id": av.id,
                    "vmas": [state.avcs[a].vma for a in av.tree if a in state.avcs],
                    "avcs": list(av.tree),
                    "root": av.root,
                    "parent": av.parent,
                    "num_children": av.num_children,
                    "num_active_vmas": av.num_active_vmas,
                    "refcount": av.refcount,
                }
            )
        chains = [
            {"id": c.id, "vma": c.vma, "anon_vma": c.anon_vma}
            for _, c in sorted(state.avcs.items())
        ]
        vma_chains = [
            {
                "vma": vid,
                "avcs": list(chain),
                "anon_vmas": [state.avcs[a].anon_vma for a in chain if a in state.avcs],
            }
            for vid, chain in sorted(state.vma_chain.items())
            if chain
        ]
        marked = []
        if self.swp_exclusive:
            for pid in sorted(state.ptes):
                table = state.ptes[pid]
                marked += [
                    {"pid": pid, "addr": vpn << PAGE_SHIFT, "slot": pte >> PTE_SHIFT}
                    for vpn, pte in sorted(table.items())
                    if pte & PTE_KIND == PTE_SWAP and pte & PTE_WRITE
                ]
        return {
            "anon_vmas": anon_vmas,
            "anon_vma_chains": chains,
            "vma_chains": vma_chains,
            "exclusive_swap_ptes": marked,
        }

    # ----- invariants (semantics.md#invariants, semantics.md#avc-exclusive): in check.py
    # -----------------------------------------------------------

    def check(self, state: State, index: MapIndex) -> list[Violation]:
        """D5.1-D5.9 of semantics.md#invariants (``check.check_invariants``)."""
        return check_invariants(state, index, self.list_walk, self.anon_exclusive)
