"""D2: Hugh Dickins's anonmm ("anobjrmap"), the March 2004 series merged into -mm as
"rmap 10 add anonmm rmap" and "rmap 11 mremap moves" (removed again by "rmap 38").

Reverse mapping by mm, not by vma. Every mm has one ``struct anonmm``; all the mms
forked from one exec share a ring ("bundle") of them, headed by the exec'd mm's. A page
points at the anonmm of the mm where it was first mapped (``page->mapping``) and records
its *virtual address* (``page->index``), which fork never changes. The reclaim walk
probes the page's own mm first, then every other live mm of the ring at that same
address: fork costs nothing per page, but a shared page (or a child's private page that
is not "home") costs up to the whole family. An mm's anonmm outlives it while pages first
faulted there are still mapped by relatives, so each such page holds a reference on it.
Because the address is the key, an mremap must leave every moved page exclusive to the
mm: a shared page is copied first, and a shared swap entry swapped in and copied
("we swap them back in to make it easy to find them later", anobjrmap 7/6).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from ..events import Step, id_list, obj, span
from ..fault import do_swap_page, do_wp_page
from ..mapindex import MapIndex, Mapper
from ..state import (
    PAGE_SHIFT,
    PG_ANON,
    PTE_KIND,
    PTE_PAGE,
    PTE_SHIFT,
    PTE_SWAP,
    PTE_WRITE,
    State,
    Vma,
    ptes_in_range,
)
from .base import Design, Finder, Probes, ProbeTuple, Reach, Violation, rmap_sizes

#: i386 sizes (semantics.md#sizes)
SIZEOF_ANONMM = 24  # count + lock + mm + head + list_head, SMP field sum
PAGE_RMAP_BYTES = 4  # int mapcount, which replaces the 4-byte pte union
STRUCT_PAGE_FIELD_SUM = 40  # 2.6.0 i386 field sum, pte union (-4) swapped for mapcount (+4)
STRUCT_PAGE_ANDREA = 44  # Andrea's 48-byte baseline with his own deltas: +4 mapcount, -8 pte


@dataclass(frozen=True, slots=True)
class StructAnonmm:
    """``struct anonmm { count; lock; mm; head; list; }`` of the 2004 series.

    ``pid`` stands for ``mm`` (None once the mm has exited). The ring is the head's
    ``list``: ``ring`` holds it on the head, in list order starting with the head
    (``list_add_tail`` puts each child last); on the other members it is empty, they
    reach it through ``head``. ``moved`` is simulator bookkeeping, not a kernel field:
    (step, first vpn, end vpn) of the last mremap destination in this mm, so that D2.5
    can be checked right after the move.
    """

    id: int
    pid: int | None
    head: int
    ring: tuple[int, ...]
    count: int
    moved: tuple[int, int, int] | None = None


class Anonmm(Design):
    """The D2 strategy. Models mm/rmap.c and mm/mremap.c of the anobjrmap 2004 series."""

    name = "anonmm"
    title = "anonmm (per-mm anobjrmap)"
    era = 'Hugh Dickins, March 2004 (-mm "rmap 10"/"rmap 11", never released)'
    era_key = "anonmm"
    source = "v2.6.5"  # the release the series applied to
    tables = ("anonmms", "mm_anonmm")
    description = (
        "Hugh Dickins's object-based reverse mapping for anonymous memory, which lived in "
        "-mm in spring 2004 before anon_vma replaced it. Every mm has one 24-byte anonmm; "
        "all the mms forked from one exec are linked in a ring. A page points at the "
        "anonmm of the mm that first mapped it, and page->index holds its virtual address, "
        "which fork never changes, so fork does no rmap work per page. To unmap a page, "
        "reclaim probes that mm first, then the page table of every other live mm in the "
        "ring at the same address: cheap for a private page at home, up to the whole "
        "family for a shared one. An exited mm's anonmm lingers while its pages are still "
        "mapped by relatives. mremap must keep the address key true, so it copies pages "
        "shared with another mm (and swaps shared swap entries back in) before moving them."
    )
    vma_anon_vma = False
    size_table: ClassVar[dict[str, int]] = {
        "struct page, 2.6.0 field sum": STRUCT_PAGE_FIELD_SUM,
        "struct page, Andrea's count": STRUCT_PAGE_ANDREA,
        "rmap bytes per page (mapcount)": PAGE_RMAP_BYTES,
        "rmap bytes per vma": 0,
        "struct anonmm (count, lock, mm, head, list_head; SMP field sum, one per mm; "
        "the slab is cache-line aligned)": SIZEOF_ANONMM,
    }
    #: 2.6.0 and anonmm ignore anonymous vm_pgoff when merging (semantics.md#anonmm-merging)
    anon_pgoff_linear = False
    check_scoped = True
    check_grown = True

    # ----- anonmm objects -----------------------------------------------------------------

    @staticmethod
    def _alloc(step: Step) -> int:
        """``kmem_cache_alloc(anonmm_cachep)``: ids are never reused (semantics.md#numbering)."""
        st = step.state
        st.count("anonmms_allocated")
        return st.alloc_id("anonmm")

    @staticmethod
    def _put_anonmm(step: Step, a: StructAnonmm) -> None:
        step.state.w("anonmms")[a.id] = a

    def _get(self, step: Step, aid: int) -> None:
        """``get_anonmm``: one more reference."""
        a = step.state.anonmms[aid]
        self._put_anonmm(step, StructAnonmm(a.id, a.pid, a.head, a.ring, a.count + 1, a.moved))

    def _drop(self, step: Step, aid: int, cause: str) -> None:
        """One reference fewer (``cause`` says whose); a member at 0 leaves the ring
        (``free_anonmm``), and the head goes when it is down to its self-reference (D2.4)."""
        st = step.state
        a = st.anonmms[aid]
        count = a.count - 1
        if count > 1 or (count == 1 and a.head != aid):
            self._put_anonmm(step, StructAnonmm(a.id, a.pid, a.head, a.ring, count, a.moved))
            return
        del st.w("anonmms")[aid]
        if a.head != aid:
            head = st.anonmms[a.head]
            self._put_anonmm(
                step,
                StructAnonmm(
                    head.id,
                    head.pid,
                    head.id,
                    tuple(x for x in head.ring if x != aid),
                    head.count,
                    head.moved,
                ),
            )
            step.emit(
                "anonmm_free",
                "free_anonmm",
                f"anonmm {aid} loses its last reference ({cause}): no mm and no page "
                f"needs it any more, so it leaves the ring of anonmm {a.head} and is "
                "freed.",
                obj("anonmm", aid),
                obj("anonmm", a.head),
            )
            self._drop(step, a.head, f"anonmm {aid} left its ring")
            return
        step.emit(
            "anonmm_free",
            "exit_rmap",
            f"The head anonmm {aid} is down to its own reference ({cause}): its mm has "
            "exited, no other anonmm is left in its ring and no page points at it, so "
            "it is freed.",
            obj("anonmm", aid),
        )

    # ----- processes --------------------------------------------------------------------

    def mm_spawned(self, step: Step, pid: int) -> None:
        """``exec_rmap``: a new head anonmm, count 2 ("ref by mm and head")."""
        st = step.state
        aid = self._alloc(step)
        self._put_anonmm(step, StructAnonmm(aid, pid, aid, (aid,), 2))
        st.w("mm_anonmm")[pid] = aid
        step.emit(
            "exec_rmap",
            "exec_rmap",
            f"exec: pid {pid} gets anonmm {aid}, the head of a new ring (count 2: one "
            "reference for the mm, one for being the head).",
            obj("mm", pid),
            obj("anonmm", aid),
        )

    def mm_forked(self, step: Step, parent: int, child: int) -> None:
        """``dup_rmap``: the child's anonmm joins the tail of the head's ring."""
        st = step.state
        head = st.anonmms[st.anonmms[st.mm_anonmm[parent]].head]
        aid = self._alloc(step)
        self._put_anonmm(step, StructAnonmm(aid, child, head.id, (), 1))
        self._put_anonmm(
            step,
            StructAnonmm(head.id, head.pid, head.id, (*head.ring, aid), head.count + 1, head.moved),
        )
        st.w("mm_anonmm")[child] = aid
        step.emit(
            "dup_rmap",
            "dup_rmap",
            f"fork: pid {child} gets anonmm {aid}, added at the tail of the ring of "
            f"anonmm {head.id} (which gains a reference); no page changes, because "
            "each page keeps its anonmm and its virtual address.",
            obj("mm", child),
            obj("anonmm", aid),
            obj("anonmm", head.id),
        )

    def mm_exited(self, step: Step, pid: int) -> None:
        """``exit_rmap``: ``anonmm->mm = NULL`` and the mm's reference goes."""
        st = step.state
        aid = st.mm_anonmm[pid]
        del st.w("mm_anonmm")[pid]
        a = st.anonmms[aid]
        a = StructAnonmm(a.id, None, a.head, a.ring, a.count, a.moved)
        self._put_anonmm(step, a)
        pinned = a.count - 1 - (len(a.ring) if a.head == aid else 0)
        if pinned > 0:
            what = (
                f"{pinned} page{'s' if pinned > 1 else ''} first mapped in pid {pid} "
                f"{'are' if pinned > 1 else 'is'} still mapped by relatives and "
                f"{'point' if pinned > 1 else 'points'} at it, so it stays in the ring "
                "with no mm; the reclaim walk passes over it"
            )
        elif a.head == aid and len(a.ring) > 1:
            what = "it heads a ring that still holds other anonmms, so it stays with no mm"
        else:
            what = "nothing else holds it"
        step.emit(
            "exit_rmap",
            "exit_rmap",
            f"pid {pid} is gone: anonmm {aid} loses its mm and that reference; {what}.",
            obj("mm", pid),
            obj("anonmm", aid),
        )
        self._drop(step, aid, f"pid {pid} exited")

    # ----- faults ---------------------------------------------------------------------

    def _page_add_anon_rmap(self, step: Step, pfn: int, pid: int, addr: int) -> int:
        """``page_add_anon_rmap`` of a page with no mapping yet: anonmm and address."""
        st = step.state
        aid = st.mm_anonmm[pid]
        st.w("page_flags")[pfn] |= PG_ANON
        st.w("page_mapping")[pfn] = aid
        st.w("page_index")[pfn] = addr
        self._get(step, aid)
        return aid

    def page_add_new_anon_rmap(self, step: Step, pfn: int, vma: Vma, addr: int) -> None:
        """``page_add_anon_rmap`` of a fresh page (first write, COW copy)."""
        aid = self._page_add_anon_rmap(step, pfn, vma.pid, addr)
        step.emit(
            "page_add_anon_rmap",
            "page_add_anon_rmap",
            f"Frame {pfn} points at anonmm {aid} of pid {vma.pid}, which takes a "
            f"reference, and page->index holds its virtual address {addr:#x}.",
            obj("frame", pfn),
            obj("anonmm", aid),
        )

    def page_add_swapin_rmap(
        self, step: Step, pfn: int, vma: Vma, addr: int, mapped_before: int
    ) -> None:
        """``page_add_anon_rmap`` at swap-in: only an unmapped page is (re)registered."""
        if mapped_before:
            return
        aid = self._page_add_anon_rmap(step, pfn, vma.pid, addr)
        step.emit(
            "page_add_anon_rmap",
            "page_add_anon_rmap",
            f"Frame {pfn} was mapped nowhere, so it now points at anonmm {aid} of the "
            f"faulting pid {vma.pid} (page->index {addr:#x}), whichever mm first "
            "faulted it originally.",
            obj("frame", pfn),
            obj("anonmm", aid),
        )

    def cow_reuse(self, step: Step, pfn: int, vma: Vma, addr: int) -> None:
        """Write fault reusing the only mapping: ``page_update_anon_rmap``."""
        self._page_update_anon_rmap(step, pfn, vma.pid, addr, "do_wp_page")

    def _page_update_anon_rmap(
        self, step: Step, pfn: int, pid: int, addr: int, caller: str
    ) -> bool:
        """ "The page may have been registered under a long defunct mm: now we know it
        belongs only to this": at mapcount 1, index = addr and mapping = this anonmm.
        Returns whether anything changed."""
        st = step.state
        if st.page_mapcount[pfn] != 1:
            return False
        aid = st.mm_anonmm[pid]
        old = st.page_mapping.get(pfn)
        old_index = st.page_index.get(pfn)
        if old == aid and old_index == addr:
            return False
        st.w("page_index")[pfn] = addr
        if old != aid:
            st.w("page_mapping")[pfn] = aid
            st.w("page_flags")[pfn] |= PG_ANON
            if old is not None:
                self._drop(step, old, f"frame {pfn} moved to anonmm {aid}")
            self._get(step, aid)
            step.emit(
                "page_update_anon_rmap",
                "page_update_anon_rmap",
                f"{caller}: only pid {pid} maps frame {pfn} now, so it moves from anonmm "
                f"{old} to anonmm {aid} of pid {pid} (the reference moves with it), at "
                f"{addr:#x}: its reclaim walk will start at home.",
                obj("frame", pfn),
                obj("anonmm", aid),
                *((obj("anonmm", old),) if old is not None else ()),
            )
        return True

    def page_remove_rmap(self, step: Step, pfn: int, pid: int, addr: int, mapcount: int) -> None:
        """At mapcount 0, ``clear_page_anon``: mapping NULL, and the anonmm's reference
        goes (freeing a dead anonmm that no page needs any more)."""
        if mapcount:
            return
        st = step.state
        aid = st.page_mapping.get(pfn)
        st.w("page_flags")[pfn] &= ~PG_ANON
        if aid is None:
            return
        del st.w("page_mapping")[pfn]
        # No event per page (an exit clears thousands): the count is in the state, and an
        # anonmm this frees is narrated by _drop.
        self._drop(step, aid, "its last mapped page was unmapped")

    # ----- mremap -----------------------------------------------------------------------

    @staticmethod
    def _swap_shared(st: State, slot: int) -> bool:
        """Whether a swap entry is shared, as ``rmap_needs_broken_cow`` counts it:
        ``swap_map != 1``, except that a count of 2 from one PTE and the swap cache is
        shared only if the cached page is mapped somewhere."""
        ptes = st.swap_ptes[slot]
        cached = st.swap_cache.get(slot)
        if cached is None:
            return ptes > 1
        return ptes > 1 or st.page_mapcount[cached] > 0

    def mremap_prepare(self, step: Step, vma_id: int, start: int, end: int) -> None:
        """``rmap_needs_broken_cow`` + ``handle_mm_fault(write)`` of anobjrmap 7/6.

        A read-only page mapped elsewhere too (mapcount > 1), or in the swap cache with
        swap PTEs still holding its slot, and a swap entry shared with another PTE (or
        with a mapped swap-cache page), are write-faulted at the old address before the
        move: the fault copies them, so every moved page is this mm's alone. A writable
        PTE, a private read-only page and an exclusive swap entry move as they are. The
        kernel breaks COW page by page inside ``move_page_tables`` (retrying after each
        fault); the simulator does it in one pass just before, with the same result.
        ``maybe_mkwrite``: in a vma without VM_WRITE the copy stays read-only.
        """
        st = step.state
        pid = st.vmas[vma_id].pid
        broken: list[tuple[int, int, str]] = []
        step.begin_bulk()  # one event per kind, however many pages are copied
        for vpn, pte in ptes_in_range(st.ptes[pid], start >> PAGE_SHIFT, end >> PAGE_SHIFT):
            kind = pte & PTE_KIND
            addr = vpn << PAGE_SHIFT
            if kind == PTE_PAGE:
                if pte & PTE_WRITE:
                    continue
                pfn = pte >> PTE_SHIFT
                mc = st.page_mapcount[pfn]
                slot = st.page_private.get(pfn)
                if mc > 1:
                    why = f"frame {pfn} is mapped by {mc} PTEs"
                elif slot is not None and st.swap_ptes[slot]:
                    why = (
                        f"frame {pfn} is in the swap cache and swap PTEs still hold its slot {slot}"
                    )
                else:
                    continue
            elif kind == PTE_SWAP:
                slot = pte >> PTE_SHIFT
                if not self._swap_shared(st, slot):
                    continue
                why = f"swap slot {slot} is shared with another mm"
            else:
                continue
            step.emit(
                "rmap_needs_broken_cow",
                "rmap_needs_broken_cow",
                f"mremap: {why}, so pid {pid}'s PTE at {addr:#x} cannot just move: an "
                "anonmm page is found by its address, which must then be the same in "
                "every mm. A write fault makes this mm a private copy first.",
                {"kind": "pte", "pid": pid, "addr": addr},
            )
            vma = st.vmas[vma_id]
            if kind == PTE_PAGE:
                new = do_wp_page(step, vma, addr, pfn)
            else:
                new = do_swap_page(step, vma, addr, pte, write=True)
            if not vma.writable:
                table = st.w_ptes(pid)
                table[vpn] &= ~PTE_WRITE
            broken.append((vpn, new, why))
        step.end_bulk()
        if broken:
            step.emit(
                "mremap_break_cow",
                "move_page_tables",
                f"mremap of {span(start, end)}: {len(broken)} shared "
                f"{'page was' if len(broken) == 1 else 'pages were'} copied before the "
                f"move ({id_list('frame', [n for _, n, _ in broken])} now private to "
                f"pid {pid}); the other mms keep the originals.",
                obj("vma", vma_id),
                *(obj("frame", n) for _, n, _ in broken[:64]),
            )

    def move_ptes(self, step: Step, pid: int, moved: list[tuple[int, int, int]]) -> None:
        """``rmap_needs_broken_cow``'s update side: ``page_update_anon_rmap(page, mm,
        new_addr)`` for every present page that moved (each is exclusive by now)."""
        st = step.state
        mapcount, mapping, index = st.page_mapcount, st.page_mapping, st.page_index
        aid = st.mm_anonmm[pid]
        plain = {}
        repoint = []
        for _, new_vpn, pte in moved:
            if pte & PTE_KIND != PTE_PAGE:
                continue
            pfn = pte >> PTE_SHIFT
            if mapcount[pfn] != 1:
                continue
            if mapping.get(pfn) == aid:
                if index.get(pfn) != new_vpn << PAGE_SHIFT:
                    plain[pfn] = new_vpn << PAGE_SHIFT
            else:
                repoint.append((pfn, new_vpn << PAGE_SHIFT))
        if plain:
            st.w("page_index").update(plain)
        for pfn, addr in repoint:
            self._page_update_anon_rmap(step, pfn, pid, addr, "mremap")
        lo = min(n for _, n, _ in moved)
        hi = max(n for _, n, _ in moved) + 1
        a = st.anonmms[aid]
        self._put_anonmm(
            step, StructAnonmm(a.id, a.pid, a.head, a.ring, a.count, (st.step + 1, lo, hi))
        )
        if plain:
            pfns = sorted(plain)
            follows = (
                "its PTE, so page->index follows it to the new address"
                if len(pfns) == 1
                else "their PTEs, so page->index follows them to the new addresses"
            )
            step.emit(
                "page_update_anon_rmap",
                "page_update_anon_rmap",
                f"mremap: {id_list('frame', pfns)} moved with {follows} "
                f"({', '.join(f'{plain[p]:#x}' for p in pfns[:8])}"
                f"{', ...' if len(pfns) > 8 else ''}).",
                obj("anonmm", aid),
                *(obj("frame", p) for p in pfns[:64]),
            )

    # ----- reclaim ----------------------------------------------------------------------

    @staticmethod
    def _walk_order(state: State, aid: int) -> Iterator[int]:
        """The anonmm ids in walk order: the page's own first, then the ring from the entry
        after it, wrapping round. Whoever has exited is passed over by the walk
        (semantics.md#walk-accounting).

        The kernel also passes over a live mm whose ``rss`` is 0; the simulator probes it
        (a miss), because the walk accounting (semantics.md#walk-accounting) counts every live
        mm of the ring as a candidate.
        """
        anonmms = state.anonmms
        head = anonmms.get(anonmms[aid].head)
        ring = head.ring if head is not None else ()  # () only in a corrupted state
        yield aid
        i = ring.index(aid) + 1 if aid in ring else 0
        for part in (ring[i:], ring[:i]):
            for x in part:
                if x != aid and x in anonmms:
                    yield x

    def rmap_walk(self, state: State, pfn: int) -> tuple[dict[str, Any] | None, Probes]:
        """``try_to_unmap_anon``: one probe per live mm of the ring at ``page->index``."""
        aid = state.page_mapping.get(pfn)
        if aid is None:
            return None, []
        if aid not in state.anonmms:
            return {"kind": "anonmm", "id": aid, "note": "freed"}, []
        via: dict[str, Any] = {"kind": "anonmm", "id": aid}
        if state.anonmms[aid].pid is None:
            via["note"] = "its mm has exited: passed over, not probed"
        return via, RingProbes(self, state, aid, state.page_index[pfn] >> PAGE_SHIFT)

    def reach(self, state: State, frames: Mapping[int, Sequence[Mapper]]) -> Reach:
        """The walk probes the live mms of the ring at ``page->index``: a PTE is found iff
        its process is one of them and it sits at that very address
        (``Design.reach_by_lookup``)."""

        def finder(aid: int) -> Finder | None:
            pids = self._walked(state, aid)
            if pids is None:
                return None

            def find(mappers: Sequence[Mapper], index: int) -> list[Mapper]:
                return [m for m in mappers if m[0] not in pids or m[1] << PAGE_SHIFT != index]

            return find

        return self.reach_by_lookup(state, frames, finder)

    def reach_kept(self, old: State, new: State, pfn: int) -> bool:
        """The walk from the page's anonmm probes every mm it probed (a fork puts the
        child's on the ring)."""
        aid = new.page_mapping.get(pfn)
        if aid is None:
            return False
        before, after = self._walked(old, aid), self._walked(new, aid)
        return before is not None and after is not None and before <= after

    def _walked(self, state: State, aid: int) -> frozenset[int] | None:
        """The processes a walk from anonmm ``aid`` probes (None: it cannot start)."""
        if aid not in state.anonmms:
            return None
        anonmms = state.anonmms
        return frozenset(
            pid
            for a in self._walk_order(state, aid)
            if a in anonmms and (pid := anonmms[a].pid) is not None
        )

    def before_walk(self, step: Step, pfn: int) -> None:
        """Narrate the anonmms the walk passes over without a page-table walk."""
        st = step.state
        aid = st.page_mapping.get(pfn)
        if aid is None or aid not in st.anonmms:
            return
        order = list(self._walk_order(st, aid))
        passed = [a for a in order if st.anonmms[a].pid is None]
        if not passed:
            return
        probed = len(order) - len(passed)
        step.emit(
            "anonmm_skip",
            "try_to_unmap_anon",
            f"try_to_unmap_anon for frame {pfn}: the ring of anonmm "
            f"{st.anonmms[aid].head} is walked from anonmm {aid}; "
            f"{id_list('anonmm', passed)} "
            f"{'has' if len(passed) == 1 else 'have'} no mm (exited), so "
            f"{'it is' if len(passed) == 1 else 'they are'} passed over without "
            f"probing and not counted; the candidates are the {probed} live "
            f"mm{'s' if probed != 1 else ''}, each probed at "
            f"{st.page_index[pfn]:#x} until the mapcount reaches 0.",
            obj("frame", pfn),
            *(obj("anonmm", a) for a in passed),
        )

    # ----- reporting ----------------------------------------------------------------------

    def check_key(self, state: State) -> tuple[Any, ...]:
        """D2.5 is checked only at the end of the step that moved (``moved``)."""
        return (state.step,)

    def page_index_at(self, vma: Vma, addr: int) -> int | None:
        """G11 for D2: ``page->index`` is the virtual address."""
        return addr

    def mapping_json(self, state: State, pfn: int) -> dict[str, Any] | None:
        aid = state.page_mapping.get(pfn)
        return None if aid is None else {"kind": "anonmm", "id": aid}

    def memory(self, state: State) -> dict[str, int]:
        """4 bytes of mapcount per frame + 24 bytes per anonmm (field sum; the slab is
        cache-line aligned, so each really occupies a line); nothing per vma."""
        frames = len(state.page_mapcount)
        return rmap_sizes(
            pages=PAGE_RMAP_BYTES * frames,
            vmas=0,
            objects={"anonmm": SIZEOF_ANONMM * len(state.anonmms)},
            page_bytes=STRUCT_PAGE_FIELD_SUM * frames,
            page_bytes_andrea=STRUCT_PAGE_ANDREA * frames,
        )

    def state_json(self, state: State) -> dict[str, Any]:
        anonmms = state.anonmms
        out = []
        for aid in sorted(anonmms):
            a = anonmms[aid]
            head = anonmms.get(a.head)
            out.append(
                {
                    "id": a.id,
                    "pid": a.pid,
                    "head": a.head,
                    "ring": list(head.ring) if head is not None else [],
                    "count": a.count,
                }
            )
        return {"anon_vmas": [], "anonmms": out}

    def check(self, state: State, index: MapIndex) -> list[Violation]:
        """D2.1-D2.5 of semantics.md#invariants."""
        out: list[Violation] = []
        self._check_mm_links(state, out)
        self._check_rings(state, out)
        self._check_counts(state, out)
        self._check_pages(state, index, out)
        self._check_slots(state, index, out)
        # D2.5: right after an mremap, the destination is exclusive to the mm.
        for a in state.anonmms.values():
            if a.moved is None or a.moved[0] != state.step or a.pid is None:
                continue
            out += self._check_moved(state, a, a.moved[1], a.moved[2])
        return out

    @staticmethod
    def _check_mm_links(state: State, out: list[Violation]) -> None:
        """D2.3: each live mm points at a live anonmm of its own, an exited one at none."""
        anonmms, mm_anonmm = state.anonmms, state.mm_anonmm
        for pid in state.mms:
            a = anonmms.get(mm_anonmm.get(pid, 0))
            if a is None:
                out.append(
                    Violation(
                        "D2.3", f"pid {pid} has no live anonmm (mm->anonmm {mm_anonmm.get(pid)})."
                    )
                )
            elif a.pid != pid:
                out.append(Violation("D2.3", f"pid {pid}'s anonmm {a.id} says its mm is {a.pid}."))
        for pid in mm_anonmm:
            if pid not in state.mms:
                out.append(
                    Violation(
                        "D2.3", f"pid {pid} has exited but still has anonmm {mm_anonmm[pid]}."
                    )
                )

    @staticmethod
    def _check_rings(state: State, out: list[Violation]) -> None:
        """D2.3: each anonmm's link back to its mm, and the rings, each headed by its first
        member, each anonmm in one ring."""
        anonmms, mm_anonmm = state.anonmms, state.mm_anonmm
        members: dict[int, int] = {}
        for a in anonmms.values():
            if a.pid is not None and mm_anonmm.get(a.pid) != a.id:
                out.append(
                    Violation(
                        "D2.3",
                        f"anonmm {a.id} says its mm is pid {a.pid}, "
                        "which does not point back at it.",
                    )
                )
            head = anonmms.get(a.head)
            if head is None:
                out.append(Violation("G10", f"anonmm {a.id} has head {a.head}, which was freed."))
                continue
            if head.head != head.id or not head.ring or head.ring[0] != head.id:
                out.append(
                    Violation(
                        "D2.3",
                        f"anonmm {a.id}'s head {a.head} is not the head "
                        "of a ring that starts with itself.",
                    )
                )
            if a.id != a.head:
                if a.ring:
                    out.append(
                        Violation(
                            "D2.3", f"anonmm {a.id} is not a head but holds a ring of its own."
                        )
                    )
                if a.id not in head.ring:
                    out.append(
                        Violation("D2.3", f"anonmm {a.id} is not in the ring of its head {a.head}.")
                    )
            for m in a.ring:
                if m not in anonmms:
                    out.append(
                        Violation(
                            "G10", f"the ring of anonmm {a.id} holds anonmm {m}, which was freed."
                        )
                    )
                elif anonmms[m].head != a.id:
                    out.append(
                        Violation(
                            "D2.3",
                            f"anonmm {m} is in the ring of anonmm "
                            f"{a.id} but its head is {anonmms[m].head}.",
                        )
                    )
                if m in members:
                    out.append(Violation("D2.3", f"anonmm {m} is in a ring more than once."))
                members[m] = a.id

    @staticmethod
    def _check_counts(state: State, out: list[Violation]) -> None:
        """D2.4: the counts, one reference per mapped page pointing at the anonmm."""
        anonmms, flags, mapping = state.anonmms, state.page_flags, state.page_mapping
        pages: dict[int, int] = dict.fromkeys(anonmms, 0)
        for pfn, mc in state.page_mapcount.items():
            target = mapping.get(pfn)
            if mc == 0:
                if target is not None or flags[pfn] & PG_ANON:
                    out.append(
                        Violation(
                            "D2.4",
                            f"frame {pfn} is mapped nowhere but keeps "
                            f"page->mapping {target} or PG_anon "
                            "(clear_page_anon was missed).",
                        )
                    )
                continue
            if target in pages:
                pages[target] += 1
        for a in anonmms.values():
            want = (a.pid is not None) + pages[a.id]
            if a.head == a.id:
                want += len(a.ring)  # the self-reference + one per other member
            if a.count != want:
                out.append(
                    Violation(
                        "D2.4",
                        f"anonmm {a.id} has count {a.count}, but its mm, "
                        f"the {pages[a.id]} mapped pages pointing at it"
                        f"{' and its ring' if a.head == a.id else ''} "
                        f"account for {want}.",
                    )
                )
            if want == 0 or (a.head == a.id and want == 1):
                out.append(
                    Violation(
                        "D2.3",
                        f"anonmm {a.id} has no mm, no page points at it"
                        f"{' and its ring is empty' if a.head == a.id else ''}"
                        ", but it was not freed.",
                    )
                )

    @staticmethod
    def _check_pages(state: State, index: MapIndex, out: list[Violation]) -> None:
        """D2.1 / D2.2: every mapped page belongs to one family and one virtual address."""
        anonmms, flags, mapping = state.anonmms, state.page_flags, state.page_mapping
        for pfn, mappers in index.page_mappers.items():
            if pfn not in state.page_mapcount:
                continue
            target = mapping.get(pfn)
            a = anonmms.get(target) if target is not None else None
            if target is not None and a is None:
                out.append(
                    Violation(
                        "G10",
                        f"frame {pfn} is mapped and points at anonmm {target}, which was freed.",
                    )
                )
                continue
            if not flags[pfn] & PG_ANON or a is None:
                out.append(
                    Violation(
                        "D2.1",
                        f"frame {pfn} is mapped but does not point at a "
                        f"live anonmm (mapping {target}).",
                    )
                )
                continue
            for pid, vpn, _ in mappers:
                if _ring_of(state, pid) != a.head:
                    out.append(
                        Violation(
                            "D2.1",
                            f"frame {pfn} points at anonmm {target} (ring "
                            f"{a.head}), but pid {pid}, which maps it at "
                            f"{vpn << PAGE_SHIFT:#x}, is in ring "
                            f"{_ring_of(state, pid)}.",
                        )
                    )
            vaddrs = {vpn for _, vpn, _ in mappers}
            if len(vaddrs) > 1:
                at = ", ".join(f"{v << PAGE_SHIFT:#x}" for v in sorted(vaddrs))
                out.append(
                    Violation(
                        "D2.2",
                        f"frame {pfn} is mapped at different addresses "
                        f"({at}): one page->index cannot lead to them "
                        "all.",
                    )
                )
            elif state.page_index.get(pfn) not in {v << PAGE_SHIFT for v in vaddrs}:
                out.append(
                    Violation(
                        "D2.2",
                        f"frame {pfn} has page->index "
                        f"{state.page_index.get(pfn)}, "
                        "not the address where it is mapped.",
                    )
                )

    @staticmethod
    def _check_slots(state: State, index: MapIndex, out: list[Violation]) -> None:
        """D2.1 / D2.2: every swap slot belongs to one family and one virtual address."""
        for slot, holders in index.slot_holders.items():
            sharers = list(holders)
            cached = state.swap_cache.get(slot)
            if cached is not None:
                sharers += index.page_mappers.get(cached, [])
            if len({vpn for _, vpn, _ in sharers}) > 1:
                out.append(
                    Violation(
                        "D2.2",
                        f"swap slot {slot} is shared at different "
                        "addresses: whoever swaps it in first decides "
                        "page->index, and the others become unreachable.",
                    )
                )
            if len({_ring_of(state, pid) for pid, _, _ in sharers}) > 1:
                out.append(
                    Violation("D2.1", f"swap slot {slot} is shared by mms of different rings.")
                )

    @staticmethod
    def _check_moved(state: State, a: StructAnonmm, lo: int, hi: int) -> list[Violation]:
        out = []
        pid = a.pid
        assert pid is not None
        for vpn, pte in ptes_in_range(state.ptes.get(pid, {}), lo, hi):
            kind = pte & PTE_KIND
            where = f"pid {pid}'s PTE at {vpn << PAGE_SHIFT:#x}, just moved by mremap,"
            if kind == PTE_PAGE:
                pfn = pte >> PTE_SHIFT
                mc = state.page_mapcount.get(pfn)
                if (
                    mc != 1
                    or state.page_mapping.get(pfn) != a.id
                    or state.page_index.get(pfn) != vpn << PAGE_SHIFT
                ):
                    out.append(
                        Violation(
                            "D2.5",
                            f"{where} maps frame {pfn} with mapcount {mc}, "
                            f"mapping {state.page_mapping.get(pfn)} and "
                            f"index {state.page_index.get(pfn)}: it should "
                            f"be exclusive to anonmm {a.id} at that "
                            "address.",
                        )
                    )
            elif kind == PTE_SWAP:
                slot = pte >> PTE_SHIFT
                cached = state.swap_cache.get(slot)
                if state.swap_ptes.get(slot, 0) > 1 or (
                    cached is not None and state.page_mapcount.get(cached, 0) > 0
                ):
                    out.append(
                        Violation(
                            "D2.5", f"{where} holds swap slot {slot}, which another PTE holds too."
                        )
                    )
        return out


def _ring_of(state: State, pid: int) -> int | None:
    """The head of the ring ``pid``'s anonmm is on (None when it has no live anonmm)."""
    a = state.anonmms.get(state.mm_anonmm.get(pid, 0))
    return None if a is None else a.head


class RingProbes:
    """The probes of an anonmm walk, computed as the walk goes: a walk that stops early
    (mapcount 0) never pays for the rest of a long ring. ``len`` gives the candidates (the
    live mms; an exited mm's anonmm is passed over and not counted, semantics.md#walk-accounting),
    counted when
    the walk starts: at once when no anonmm lingers (the whole ring), else one by one.
    The ring is taken when the walk starts, since the walk itself may free an anonmm."""

    __slots__ = ("aid", "anonmms", "count", "ring", "start", "vpn")

    def __init__(self, design: Anonmm, state: State, aid: int, vpn: int) -> None:
        anonmms = self.anonmms = state.anonmms
        self.aid, self.vpn = aid, vpn
        head = anonmms.get(anonmms[aid].head)
        self.ring = head.ring if head is not None else ()  # () only in a corrupted state
        self.start = self.ring.index(aid) + 1 if aid in self.ring else 0
        if len(anonmms) == len(state.mm_anonmm):  # every anonmm still has its mm
            self.count = 1 + len(self.ring) - (aid in self.ring)
        else:
            self.count = sum(
                1 for a in design._walk_order(state, aid) if anonmms[a].pid is not None
            )

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[ProbeTuple]:
        """The page's own anonmm, then the ring from the entry after it, wrapping round."""
        anonmms, vpn, ring, i = self.anonmms, self.vpn, self.ring, self.start
        # ring[i - 1] is the page's own anonmm (when it is on the ring): it comes first
        for a in (self.aid, *ring[i:], *ring[: max(0, i - 1)]):
            anonmm = anonmms.get(a)
            if anonmm is not None and anonmm.pid is not None:
                yield ("anonmm", a, anonmm.pid, vpn, None)
