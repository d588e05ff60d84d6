"""D4: anon_vma as merged in 2.6.7 ("rmap 39 add anon_vma rmap", "rmap 40 better anon_vma
sharing"), with the 2.6.8 "mprotect propagate anon_vma" fix by default.

One anon_vma per fork family: ``anon_vma_prepare`` creates (or borrows from a compatible
neighbour) the vma's anon_vma at its first write fault; fork links the child's vma copy
into the same anon_vma and creates none; every page of the family points at it, so a
child's private page drags the whole family into its reclaim walk (the AIM7 problem that
led to anon_vma_chain). mremap needs no page update: the vma carries its vm_pgoff.
"""

from __future__ import annotations

from typing import ClassVar

from ..anon_vma import anon_vma_alloc, anon_vma_link, set_vma_anon_vma
from ..events import Step, anon_vma_obj, obj
from ..mapindex import MapIndex
from ..state import PAGE_SHIFT, PG_ANON, State, Vma
from .anon_vma_list import LIST_SIZES, AnonVmaListDesign
from .base import Violation

EXACT_267 = "exact_267"
KEEP_MAPPING = "keep_mapping"
#: "i386 struct page now 32 bytes even with PAE" (Hugh Dickins, "rmap 9 remove pte_chains",
#: the 2.6.7 series): flags, _count, mapcount, private, mapping, index, lru
STRUCT_PAGE_267 = 32


class AnonVma267(AnonVmaListDesign):
    """The D4 strategy. Models 2.6.7/2.6.8 mm/rmap.c and mm/mmap.c."""

    name = "anon_vma_267"
    title = "anon_vma (2.6.7)"
    era = "Linux 2.6.7, June 2004 (with the 2.6.8 importer fix)"
    era_key = "2.6.7"
    source = "v2.6.7"
    option_variants: ClassVar[dict[str, tuple[str, str]]] = {
        EXACT_267: (
            "Linux 2.6.7, June 2004, exactly as released (without the 2.6.8 importer fix)",
            "v2.6.7",
        ),
    }
    description = (
        "The anon_vma as Hugh Dickins merged it for 2.6.7, a fifth of the size of Andrea's "
        "patch. Every vma with anonymous pages gets an anon_vma at its first write fault "
        "(anon_vma_prepare, which borrows a compatible neighbour's when it can); there is no "
        "PageDirect. Fork links the child's vma into the parent's anon_vma and allocates "
        "nothing, so one anon_vma serves the whole fork family, and every page points at it: "
        "a page private to one child still makes the reclaim walk visit every vma of the "
        "family. mremap touches no page, because the moved vma keeps its vm_pgoff; a vma "
        "never faulted gets a fresh pgoff instead, to help it merge."
    )
    #: Andrea's 44 counted his RFC2 patch; 2.6.7 has one figure (docs/semantics.md#sizes)
    struct_page = STRUCT_PAGE_267
    struct_page_andrea = STRUCT_PAGE_267
    size_table: ClassVar[dict[str, int]] = {
        'struct page, i386 (flags, _count, mapcount, private, mapping, index, lru; "32 bytes '
        'even with PAE", rmap 9)': STRUCT_PAGE_267,
        **LIST_SIZES,
    }
    option_help: ClassVar[dict[str, str]] = {
        EXACT_267: "2.6.7 exactly: an mprotect boundary shift does not give the expanding vma "
        "the anon_vma of the pages it imports, so they become unreachable (fixed in "
        "2.6.8)",
        KEEP_MAPPING: "leave page->mapping set when the mapcount falls to 0 (2.6.9 and later; "
        "cosmetic)",
    }

    def __init__(self, options: frozenset[str]) -> None:
        super().__init__(options)
        self.exact = EXACT_267 in options
        self.keep_mapping = KEEP_MAPPING in options

    # ----- faults ---------------------------------------------------------------------

    def anon_vma_prepare(self, step: Step, vma_id: int) -> None:
        """``anon_vma_prepare``: borrow a mergeable neighbour's anon_vma, else allocate."""
        st = step.state
        vma = st.vmas[vma_id]
        if vma.anon_vma is not None:
            return
        av, near = self._find_mergeable_anon_vma(st, vma)
        if av is None:
            av = anon_vma_alloc(step)
            how = f"a new anon_vma {av} is allocated"
        else:
            how = (
                f"it borrows anon_vma {av} of the adjacent vma {near}, which it could merge "
                "with later (find_mergeable_anon_vma)"
            )
        anon_vma_link(step, av, vma_id)
        set_vma_anon_vma(step, vma_id, av)
        step.emit(
            "anon_vma_prepare",
            "anon_vma_prepare",
            f"First write fault in vma {vma_id}, which has no anon_vma: {how}, and the vma "
            "goes to the head of its list.",
            obj("vma", vma_id),
            obj("anon_vma", av),
        )

    @staticmethod
    def _find_mergeable_anon_vma(st: State, vma: Vma) -> tuple[int | None, int | None]:
        """Next first, then prev: adjacent, with an anon_vma, and a linear pgoff (the flags
        may differ in R/W/X only, which is all the simulator compares)."""
        prev, nxt = st.neighbours(vma)
        if (
            nxt is not None
            and nxt.anon_vma is not None
            and vma.vm_end == nxt.vm_start
            and nxt.vm_pgoff == vma.vm_pgoff + vma.pages
        ):
            return nxt.anon_vma, nxt.id
        if (
            prev is not None
            and prev.anon_vma is not None
            and prev.vm_end == vma.vm_start
            and prev.vm_pgoff + prev.pages == vma.vm_pgoff
        ):
            return prev.anon_vma, prev.id
        return None, None

    def page_add_new_anon_rmap(self, step: Step, pfn: int, vma: Vma, addr: int) -> None:
        """``page_add_anon_rmap`` of a fresh page: mapping = the vma's anon_vma."""
        index = self._set_anon(step, pfn, vma, addr)
        step.emit(
            "page_add_anon_rmap",
            "page_add_anon_rmap",
            f"Frame {pfn} points at anon_vma {vma.anon_vma} of vma {vma.id}, with "
            f"page->index {index}.",
            obj("frame", pfn),
            *anon_vma_obj(vma.anon_vma),
        )

    def _set_anon(self, step: Step, pfn: int, vma: Vma, addr: int) -> int:
        st = step.state
        index = vma.linear_page_index(addr)
        st.w("page_flags")[pfn] |= PG_ANON
        st.w("page_index")[pfn] = index
        if vma.anon_vma is not None:
            st.w("page_mapping")[pfn] = vma.anon_vma
        elif pfn in st.page_mapping:
            del st.w("page_mapping")[pfn]
        return index

    def page_add_swapin_rmap(
        self, step: Step, pfn: int, vma: Vma, addr: int, mapped_before: int
    ) -> None:
        """``page_add_anon_rmap``: only the first mapping sets mapping and index."""
        if mapped_before:
            return
        index = self._set_anon(step, pfn, vma, addr)
        step.emit(
            "page_add_anon_rmap",
            "page_add_anon_rmap",
            f"Frame {pfn} was unmapped, so it now points at anon_vma {vma.anon_vma} of "
            f"the faulting vma {vma.id} (page->index {index}).",
            obj("frame", pfn),
            *anon_vma_obj(vma.anon_vma),
        )

    def page_remove_rmap(self, step: Step, pfn: int, pid: int, addr: int, mapcount: int) -> None:
        """2.6.7/2.6.8 ``clear_page_anon`` at mapcount 0 (unless ``keep_mapping``)."""
        if mapcount or self.keep_mapping:
            return
        st = step.state
        st.w("page_flags")[pfn] &= ~PG_ANON
        if pfn in st.page_mapping:
            del st.w("page_mapping")[pfn]

    # ----- fork -----------------------------------------------------------------------

    def fork_vma(
        self,
        step: Step,
        parent: Vma,
        child: Vma,
        vpns: list[int],
        pfns: list[int],
        swap_entries: int,
    ) -> None:
        """The child's struct copy shares the anon_vma: ``anon_vma_link`` at the head."""
        av = parent.anon_vma
        if av is None:
            return
        set_vma_anon_vma(step, child.id, av)
        anon_vma_link(step, av, child.id)
        step.emit(
            "anon_vma_link",
            "fork_link",
            f"fork: the child's vma {child.id} joins anon_vma {av} of vma {parent.id} at "
            "the head of its list; no anon_vma is allocated and no page changes.",
            obj("anon_vma", av),
            obj("vma", child.id),
        )

    # ----- vma restructuring ------------------------------------------------------------

    def import_anon_vma(self, step: Step, importer: int, exporter: int) -> None:
        if not self.exact:
            super().import_anon_vma(step, importer, exporter)
            return
        st = step.state
        av = st.vmas[exporter].anon_vma
        if av is not None and st.vmas[importer].anon_vma is None:
            step.emit(
                "importer_bug",
                "vma_adjust",
                f"2.6.7 as released: the boundary between vma {exporter} and vma "
                f"{importer} moves, but vma {importer} does not get anon_vma {av}, so any "
                "page it imports points at an anon_vma whose list does not hold it "
                "(fixed in 2.6.8).",
                obj("vma", importer),
                obj("anon_vma", av),
            )

    def copy_vma_pgoff(self, vma: Vma, pgoff: int, new_addr: int) -> int:
        """``copy_vma``: a never-faulted vma gets the new address's pgoff, to help merging."""
        return new_addr >> PAGE_SHIFT if vma.anon_vma is None else pgoff

    # ----- reporting ----------------------------------------------------------------------

    def check(self, state: State, index: MapIndex) -> list[Violation]:
        """D4.1-D4.6 of semantics.md#invariants (D4.6 holds by construction: vma_merge refuses)."""
        lists = self.check_lists(state, "D4.3")
        out: list[Violation] = []
        vmas, avs = state.vmas, state.anon_vmas
        # frames whose every mapper's vma has the frame's anon_vma: they share one (D4.5)
        agreed: set[int] = set()
        for pfn, mappers in index.page_mappers.items():
            if pfn not in state.page_mapcount:
                continue
            target = state.page_mapping.get(pfn)
            if not state.page_flags[pfn] & PG_ANON or target not in avs:
                out.append(
                    Violation(
                        "D4.1",
                        f"frame {pfn} is mapped but does not point at a "
                        f"live anon_vma (mapping {target}).",
                    )
                )
                continue
            agreed.add(pfn)
            for pid, vpn, vid in mappers:
                vma = vmas.get(vid) if vid is not None else None
                if vma is not None and vma.anon_vma != target:
                    agreed.discard(pfn)
                    out.append(
                        Violation(
                            "D4.1",
                            f"frame {pfn} points at anon_vma {target}, but "
                            f"vma {vid} (pid {pid}, "
                            f"{vpn << PAGE_SHIFT:#x}) that maps it has "
                            f"anon_vma {vma.anon_vma}.",
                        )
                    )
        out = lists + self.check_sharers(state, index, "D4.5", agreed) + out
        holders = {vid for mappers in index.page_mappers.values() for _, _, vid in mappers}
        holders |= {vid for hs in index.slot_holders.values() for _, _, vid in hs}
        for vid in sorted(v for v in holders if v is not None):
            if vid in vmas and vmas[vid].anon_vma is None:
                out.append(
                    Violation(
                        "D4.2",
                        f"vma {vid} holds anonymous pages or swap entries but has no anon_vma.",
                    )
                )
        if not self.keep_mapping:
            for pfn, mc in state.page_mapcount.items():
                if mc == 0 and (pfn in state.page_mapping or state.page_flags[pfn] & PG_ANON):
                    out.append(
                        Violation(
                            "D4.4", f"frame {pfn} is unmapped but keeps page->mapping or PG_anon."
                        )
                    )
        return out
