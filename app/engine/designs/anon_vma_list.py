"""What D3 (RFC2) and D4 (2.6.7) share: one anon_vma per family, a plain list of vmas.

Models the anon_vma list mechanics of the RFC2 patch and of 2.6.7's mm/rmap.c and
mm/mmap.c: new structs are linked at the list head, ``__anon_vma_merge`` lets an
anon_vma-less survivor adopt the removed vma's anon_vma, the 2.6.8 importer rule, and the
reclaim walk over the whole list (``try_to_unmap_anon``), head first, until the mapcount
reaches 0. The anon_vma has no refcount: it is freed when its list empties.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any, ClassVar

from ..anon_vma import anon_vma_link, anon_vma_unlink, set_vma_anon_vma
from ..events import Step, obj
from ..mapindex import MapIndex, Mapper
from ..state import PAGE_SHIFT, AnonVma, State, Vma
from .base import Design, Finder, Probe, Probes, ProbeTuple, Reach, Violation, rmap_sizes

#: i386 sizes (semantics.md#sizes), the same for RFC2 and 2.6.7
SIZEOF_ANON_VMA = 12  # spinlock + list_head, SMP (Andrea's slabinfo)
VMA_RMAP_BYTES = 12  # anon_vma_node (list_head) + anon_vma pointer
PAGE_RMAP_BYTES = 4  # mapcount
#: RFC2 (docs/semantics.md#sizes): the 2.6.0 i386 field sum with the pte union (-4)
#: swapped for mapcount (+4), and Andrea's own count for his patch
STRUCT_PAGE_FIELD_SUM = 40
STRUCT_PAGE_ANDREA = 44  # "44 bytes instead of 48 bytes" (seed)
#: the rmap fields every list design has, for the size tables
LIST_SIZES = {
    "rmap bytes per page (mapcount)": PAGE_RMAP_BYTES,
    "rmap bytes per vma (anon_vma_node + anon_vma)": VMA_RMAP_BYTES,
    "struct anon_vma (spinlock + list_head, SMP)": SIZEOF_ANON_VMA,
}


class AnonVmaListDesign(Design):
    """The list-based anon_vma designs (D3, D4)."""

    tables = ("anon_vmas",)
    check_scoped = True
    check_grown = True
    #: the last pair of anon_vma versions ``reach_kept`` compared, with the answer
    _kept: tuple[AnonVma | None, AnonVma | None, bool] = (None, None, False)

    #: ``struct page`` bytes by the field sum, and by Andrea's count where he gave one
    struct_page: ClassVar[int] = STRUCT_PAGE_FIELD_SUM
    struct_page_andrea: ClassVar[int] = STRUCT_PAGE_ANDREA
    size_table: ClassVar[dict[str, int]] = {
        "struct page, 2.6.0 field sum": STRUCT_PAGE_FIELD_SUM,
        "struct page, Andrea's count": STRUCT_PAGE_ANDREA,
        **LIST_SIZES,
    }

    # ----- vma restructuring ------------------------------------------------------------

    def link_vma(self, step: Step, vma_id: int, source: int) -> None:
        """``__anon_vma_link``: a new struct sharing an anon_vma goes to the list head."""
        av = step.state.vmas[vma_id].anon_vma
        if av is not None:
            anon_vma_link(step, av, vma_id)

    def unlink_vma(self, step: Step, vma_id: int) -> None:
        anon_vma_unlink(step, vma_id)

    def anon_vma_merge(self, step: Step, survivor: int, removed: int) -> None:
        """``__anon_vma_merge``: an anon_vma-less survivor adopts the removed vma's,
        taking its place in the list (just after it), then the removed vma leaves."""
        st = step.state
        gone = st.vmas[removed]
        if st.vmas[survivor].anon_vma is None and gone.anon_vma is not None:
            set_vma_anon_vma(step, survivor, gone.anon_vma)
            anon_vma_link(step, gone.anon_vma, survivor, after=removed)
            step.emit(
                "anon_vma_link",
                "anon_vma_merge",
                f"vma {survivor} had no anon_vma and absorbs vma {removed}, so it adopts "
                f"anon_vma {gone.anon_vma}.",
                obj("vma", survivor),
                obj("anon_vma", gone.anon_vma),
            )
        anon_vma_unlink(step, removed)

    def import_anon_vma(self, step: Step, importer: int, exporter: int) -> None:
        """2.6.8 "mprotect propagate anon_vma": the expanding vma adopts the anon_vma,
        linked at the list head (semantics.md#list-positions)."""
        _adopt(
            step,
            importer,
            exporter,
            "import_anon_vma",
            f"The boundary between vma {exporter} and vma {importer} moves, so vma "
            f"{importer} adopts anon_vma {{av}} to cover any pages it imports (the 2.6.8 "
            'fix "mprotect propagate anon_vma").',
            ref="docs/semantics.md#importer",
        )

    def merge_copied_range(self, step: Step, target: int, source: int) -> None:
        """An mremap destination merged into an anon_vma-less neighbour: the neighbour
        adopts the moved vma's anon_vma, linked at the list head, as the 2.6.8 importer
        rule does for an mprotect boundary shift.

        A modelling choice (docs/semantics.md#mremap-adoption): 2.6.7's ``copy_vma`` ->
        ``vma_merge`` -> ``vma_adjust`` never sets ``prev->anon_vma``, so without it the
        moved pages would point at an anon_vma whose list does not hold the vma that now
        maps them, which the list invariants forbid.
        """
        _adopt(
            step,
            target,
            source,
            "copied_range_adopt",
            f"The moved pages land in vma {target}, which had no anon_vma: the simulator "
            f"lets it adopt anon_vma {{av}} of vma {source}, so the pages stay reachable (a "
            "modelling choice: the kernel of this era leaves the vma without one).",
            ref="docs/semantics.md#mremap-adoption",
        )

    def merge_refusal(
        self, state: State, neighbour: Vma, anon_vma: int | None, source: Vma | None
    ) -> str | None:
        """``is_mergeable_anon_vma``: ``!a1 || !a2 || a1 == a2``."""
        a1, a2 = anon_vma, neighbour.anon_vma
        if a1 is None or a2 is None or a1 == a2:
            return None
        return (
            f"they have different anon_vmas ({a1} and {a2}): pages under one may point at "
            "one anon_vma and pages under the other at the other"
        )

    # ----- reclaim ----------------------------------------------------------------------

    def rmap_walk(self, state: State, pfn: int) -> tuple[dict[str, Any] | None, Probes]:
        """``try_to_unmap_anon``: every vma on the page's anon_vma list, head first."""
        target = state.page_mapping.get(pfn)
        if target is None:
            return None, []
        anon_vma = state.anon_vmas.get(target)
        if anon_vma is None:
            return {"kind": "anon_vma", "id": target, "note": "freed"}, []
        return (
            {"kind": "anon_vma", "id": target},
            VmaProbes(state, anon_vma.vmas, state.page_index[pfn]),
        )

    def reach(self, state: State, frames: Mapping[int, Sequence[Mapper]]) -> Reach:
        """A PTE in vma V is reached iff V is on the list and ``vma_address`` puts the
        page there (``Design.reach_by_lookup``)."""
        avs, vmas = state.anon_vmas, state.vmas

        def finder(target: int) -> Finder | None:
            av = avs.get(target)
            return None if av is None else self.vma_finder(vmas, frozenset(av.vmas))

        return self.reach_by_lookup(state, frames, finder)

    def reach_kept(self, old: State, new: State, pfn: int) -> bool:
        """The frame's anon_vma list lost no vma (a fork adds the child's at its head)."""
        target = new.page_mapping.get(pfn)
        before, after = old.anon_vmas.get(target), new.anon_vmas.get(target)  # type: ignore
        if before is None or after is None:
            return False
        if before is after:
            return True
        was, now, kept = self._kept
        if was is not before or now is not after:
            kept = set(before.vmas) <= set(after.vmas)
            self._kept = (before, after, kept)
        return kept

    @staticmethod
    def probe_vma(state: State, vma_id: int, index: int) -> Probe:
        """``try_to_unmap_one``'s address computation for one vma."""
        return Probe(*_probe(state.vmas, vma_id, index))

    # ----- reporting ----------------------------------------------------------------------

    def mapping_json(self, state: State, pfn: int) -> dict[str, Any] | None:
        target = state.page_mapping.get(pfn)
        return None if target is None else {"kind": "anon_vma", "id": target}

    def memory(self, state: State) -> dict[str, int]:
        frames = len(state.page_mapcount)
        return rmap_sizes(
            pages=PAGE_RMAP_BYTES * frames,
            vmas=VMA_RMAP_BYTES * len(state.vmas),
            objects={"anon_vma": SIZEOF_ANON_VMA * len(state.anon_vmas)},
            page_bytes=self.struct_page * frames,
            page_bytes_andrea=self.struct_page_andrea * frames,
        )

    def state_json(self, state: State) -> dict[str, Any]:
        return {
            "anon_vmas": [
                {"id": av.id, "vmas": list(av.vmas)} for _, av in sorted(state.anon_vmas.items())
            ]
        }

    @staticmethod
    def check_lists(state: State, rule: str) -> list[Violation]:
        """``V.anon_vma == A ⇔ V ∈ list(A)``; each vma once; no empty list survives."""
        out = []
        vmas, avs = state.vmas, state.anon_vmas
        for av in avs.values():
            if not av.vmas:
                out.append(
                    Violation(rule, f"anon_vma {av.id} has an empty list but was not freed.")
                )
            seen: set[int] = set()
            for v in av.vmas:
                if v in seen:
                    out.append(
                        Violation(
                            rule, f"vma {v} is on the list of anon_vma {av.id} more than once."
                        )
                    )
                seen.add(v)
                if v not in vmas:
                    out.append(
                        Violation("G10", f"anon_vma {av.id} lists vma {v}, which was freed.")
                    )
                elif vmas[v].anon_vma != av.id:
                    out.append(
                        Violation(
                            rule,
                            f"vma {v} is on the list of anon_vma {av.id} "
                            f"but its anon_vma is {vmas[v].anon_vma}.",
                        )
                    )
        for vma in vmas.values():
            if vma.anon_vma is None:
                continue
            if vma.anon_vma not in avs:
                out.append(
                    Violation(
                        "G10", f"vma {vma.id} points at anon_vma {vma.anon_vma}, which was freed."
                    )
                )
            elif vma.id not in avs[vma.anon_vma].vmas:
                out.append(
                    Violation(
                        rule,
                        f"vma {vma.id} points at anon_vma {vma.anon_vma} but is not on its list.",
                    )
                )
        return out

    @staticmethod
    def check_sharers(
        state: State, index: MapIndex, rule: str, agreed: Collection[int] = ()
    ) -> list[Violation]:
        """Vmas sharing a frame or a swap slot share one non-NULL anon_vma. The caller may
        vouch for some frames' mappers (``agreed``); only a frame holding no slot that swap
        PTEs hold too is left out for it."""
        out = []
        vmas, private, cache = state.vmas, state.page_private, state.swap_cache
        mappers_of, holders_of = index.page_mappers, index.slot_holders
        agree: dict[frozenset[int | None], bool] = {}  # by set of sharers, once

        def verdict(sharers: frozenset[int | None], what: str, ident: int) -> None:
            if len(sharers) < 2:
                return
            ok = agree.get(sharers)
            if ok is None:
                avs = {vmas[v].anon_vma for v in sharers if v in vmas}
                ok = agree[sharers] = None not in avs and len(avs) < 2
            if not ok:
                names = ", ".join(
                    f"vma {v} (anon_vma {vmas[v].anon_vma})"
                    for v in sorted(s for s in sharers if s in vmas)
                )
                out.append(
                    Violation(
                        rule,
                        f"{what} {ident} is shared by {names}: they must share one non-NULL "
                        "anon_vma.",
                    )
                )

        for pfn, mappers in mappers_of.items():
            slot = private.get(pfn)
            if slot is not None and slot in holders_of:
                verdict(frozenset([m[2] for m in (*mappers, *holders_of[slot])]), "frame", pfn)
            elif pfn not in agreed:
                verdict(frozenset([m[2] for m in mappers]), "frame", pfn)
        for slot, holders in holders_of.items():
            sharers = frozenset([m[2] for m in holders])
            cached = cache.get(slot)
            if cached is not None and cached in mappers_of:
                sharers |= {m[2] for m in mappers_of[cached]}
            verdict(sharers, "swap slot", slot)
        return out


def _probe(vmas: dict[int, Vma], vma_id: int, index: int) -> ProbeTuple:
    """``vma_address`` for one vma, as a probe tuple (kind, id, pid, vpn, note)."""
    vma = vmas.get(vma_id)
    if vma is None:
        return ("vma", vma_id, None, None, "stale pointer: the vma was freed")
    vpn = (vma.vm_start >> PAGE_SHIFT) + index - vma.vm_pgoff
    if vma.vm_start >> PAGE_SHIFT <= vpn < vma.vm_end >> PAGE_SHIFT:
        return ("vma", vma_id, vma.pid, vpn, None)
    return ("vma", vma_id, vma.pid, None, "vma_address out of range")


class VmaProbes:
    """The probes of a walk over a list of vmas, computed as the walk goes: a walk that
    stops early (mapcount 0) never pays for the rest of a long list, yet ``len`` still
    gives the candidates."""

    __slots__ = ("index", "vma_ids", "vmas")

    def __init__(self, state: State, vma_ids: tuple[int, ...], index: int) -> None:
        self.vmas, self.vma_ids, self.index = state.vmas, vma_ids, index

    def __len__(self) -> int:
        return len(self.vma_ids)

    def __iter__(self) -> Iterator[ProbeTuple]:
        vmas, index = self.vmas, self.index
        for vma_id in self.vma_ids:
            yield _probe(vmas, vma_id, index)


def _adopt(
    step: Step, importer: int, exporter: int, role: str, text: str, ref: str | None = None
) -> None:
    """``importer``, which has no anon_vma, takes the one of ``exporter`` (if it has one),
    linked at the list head; ``text`` names it ``{av}``."""
    st = step.state
    av = st.vmas[exporter].anon_vma
    if av is None or st.vmas[importer].anon_vma is not None:
        return
    set_vma_anon_vma(step, importer, av)
    anon_vma_link(step, av, importer)
    step.emit(
        "anon_vma_link",
        role,
        text.format(av=av),
        obj("vma", importer),
        obj("anon_vma", av),
        ref=ref,
    )
