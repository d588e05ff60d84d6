"""D3: Andrea Arcangeli's anon_vma RFC2 (11 March 2004) with PageDirect pages.

A new anonymous page is PageDirect: ``page->as.vma`` points straight at its vma and no
anon_vma exists until fork. Fork allocates one anon_vma per vma with anon content,
lists the parent and child vmas on it, and turns every PageDirect page of the vma into
an indirect page (``page->as.anon_vma``) for good. The reclaim walk visits exactly one
vma for a direct page and the whole anon_vma list otherwise.

The posted patch was "close to compile"; the default completes it with the thread's
own fixes, each a modelling choice (docs/semantics.md#rfc2). The option
``rfc2_literal`` reproduces the patch as posted, flaws included: pages left pointing at
a vma that no longer covers them (or that was freed), the child linked once per
page at fork, and the BUG_ONs of a second fork and of a shared swap-in, all shown as
invariant violations. That is the lesson of the thread ("the as.vma/PageDirect idea is
falling apart with vma_split", Andrea, 12 Mar 2004).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from ..anon_vma import anon_vma_alloc, anon_vma_link, set_vma_anon_vma
from ..events import Step, id_list, obj, span
from ..mapindex import MapIndex, Mapper
from ..state import (
    PAGE_SHIFT,
    PG_ANON,
    PG_DIRECT,
    PTE_KIND,
    PTE_PAGE,
    PTE_SHIFT,
    Bug,
    State,
    Vma,
    ptes_in_range,
)
from .anon_vma_list import AnonVmaListDesign
from .base import Design, Probes, Reach, Violation

LITERAL = "rfc2_literal"


class AnonVmaRfc2(AnonVmaListDesign):
    """The D3 strategy. Models the RFC2 patch's mm/rmap.c and the thread's fixes."""

    name = "anon_vma_rfc2"
    title = "anon_vma RFC2 with PageDirect"
    era = "Andrea Arcangeli, LKML, 11 March 2004 (posted, never merged)"
    era_key = "rfc2"
    source = "https://lore.kernel.org/lkml/20040311065254.GT30940@dualathlon.random/"
    description = (
        "Per-vma reverse mapping as proposed in the seed email. A fresh anonymous page is "
        "PageDirect: page->as.vma points straight at its vma, so reclaim finds its one PTE "
        "without any search, and no anon_vma is allocated until fork. Fork allocates one "
        "12-byte anon_vma per vma with anon content, lists parent and child vmas on it, and "
        "turns every direct page of the vma into an indirect page on that anon_vma for good; "
        "the reclaim walk of an indirect page visits the whole list. Splits, moves and merges "
        "invalidate as.vma, which the simulator repairs with the page-table walk Andrea "
        "proposed and then rejected in favour of allocating the anon_vma at the first fault "
        "(a modelling choice); the rfc2_literal option shows what happens without it."
    )
    option_help: ClassVar[dict[str, str]] = {
        LITERAL: "the patch as posted: no page-table walk repair, child linked once per page "
        "at fork, BUG_ON on a second fork or a shared swap-in, mprotect/mremap never "
        "merge",
    }

    def __init__(self, options: frozenset[str]) -> None:
        super().__init__(options)
        self.literal = LITERAL in options

    # ----- faults ---------------------------------------------------------------------

    def _make_direct(self, step: Step, pfn: int, vma: Vma, addr: int) -> int:
        st = step.state
        st.w("page_flags")[pfn] |= PG_ANON | PG_DIRECT
        st.w("page_mapping")[pfn] = vma.id
        index = vma.linear_page_index(addr)
        st.w("page_index")[pfn] = index
        return index

    def page_add_new_anon_rmap(self, step: Step, pfn: int, vma: Vma, addr: int) -> None:
        """``page_add_rmap(page, vma)`` of RFC2: a fresh page is PageDirect."""
        index = self._make_direct(step, pfn, vma, addr)
        step.emit(
            "page_add_rmap",
            "page_add_rmap",
            f"Frame {pfn} is PageDirect: page->as.vma points straight at vma {vma.id} "
            f"and page->index is {index}; no anon_vma is needed until a fork shares it.",
            obj("frame", pfn),
            obj("vma", vma.id),
        )

    def page_add_swapin_rmap(
        self, step: Step, pfn: int, vma: Vma, addr: int, mapped_before: int
    ) -> None:
        """Swap-in: direct if nothing maps the frame, else indirect (semantics.md#rfc2-swapin)."""
        if mapped_before == 0:
            index = self._make_direct(step, pfn, vma, addr)
            step.emit(
                "page_add_rmap",
                "page_add_rmap",
                f"Nothing else maps frame {pfn}, so it becomes PageDirect to vma {vma.id} "
                f"(page->index {index}).",
                obj("frame", pfn),
                obj("vma", vma.id),
            )
            return
        st = step.state
        if self.literal:
            self._bug(
                step,
                "bug_swapin",
                "BUG_ON(page->mapcount != 1)",
                f"RFC2 as posted: swap-in maps frame {pfn} a second time (vma {vma.id}) and "
                "page_add_rmap hits BUG_ON(page->mapcount != 1); the simulator records the "
                "oops and carries on as its completed RFC2 would.",
            )
        if not st.page_flags[pfn] & PG_DIRECT:
            step.emit(
                "page_add_rmap",
                "page_add_rmap",
                f"Frame {pfn} is already indirect on anon_vma {st.page_mapping[pfn]}, whose "
                f"list holds vma {vma.id}: nothing to change.",
                obj("frame", pfn),
                obj("anon_vma", st.page_mapping[pfn]),
            )
            return
        av = vma.anon_vma
        if av is None:
            step.emit(
                "page_add_rmap",
                "page_add_rmap",
                f"Frame {pfn} should become indirect, but vma {vma.id} has no anon_vma: "
                "the new mapping cannot be found by the reclaim walk.",
                obj("frame", pfn),
                obj("vma", vma.id),
            )
            return
        old = st.page_mapping[pfn]
        st.w("page_flags")[pfn] &= ~PG_DIRECT
        st.w("page_mapping")[pfn] = av
        st.count("direct_to_indirect")
        step.emit(
            "direct_to_indirect",
            "page_add_rmap",
            f"Frame {pfn} was PageDirect to vma {old}; vma {vma.id} maps it too now, so it "
            f"points at anon_vma {av}, which lists both (a modelling choice: the posted "
            "patch stops here with a BUG_ON).",
            obj("frame", pfn),
            obj("vma", old),
            obj("anon_vma", av),
            ref="docs/semantics.md#rfc2-swapin",
        )

    def cow_reuse(self, step: Step, pfn: int, vma: Vma, addr: int) -> None:
        """Write fault reusing the only mapping: indirect -> direct
        (semantics.md#rfc2-cow-reuse)."""
        st = step.state
        if st.page_flags[pfn] & PG_DIRECT:
            return
        av = st.page_mapping[pfn]
        if self.literal:
            step.emit(
                "page_stays_indirect",
                "do_wp_page",
                f"RFC2 as posted leaves frame {pfn} indirect on anon_vma {av}, although only "
                f"vma {vma.id} maps it: its reclaim walk still visits the whole list.",
                obj("frame", pfn),
                obj("anon_vma", av),
            )
            return
        self._make_direct(step, pfn, vma, addr)
        st.count("indirect_to_direct")
        step.emit(
            "indirect_to_direct",
            "do_wp_page",
            f"Frame {pfn} is mapped only by vma {vma.id} now, so the write fault turns it "
            f"back into a PageDirect page (as.vma = vma {vma.id}) instead of anon_vma {av} "
            "(Andrea's stated plan, which the posted patch did not yet do).",
            obj("frame", pfn),
            obj("vma", vma.id),
            obj("anon_vma", av),
            ref="docs/semantics.md#rfc2-cow-reuse",
        )

    def page_remove_rmap(self, step: Step, pfn: int, pid: int, addr: int, mapcount: int) -> None:
        """At mapcount 0: ``as = NULL``, ``ClearPageDirect``."""
        if mapcount:
            return
        st = step.state
        st.w("page_flags")[pfn] &= ~PG_DIRECT
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
        """``dup_mmap`` + ``page_add_rmap_fork`` for one vma (semantics.md#rfc2-fork)."""
        if self.literal:
            self._fork_vma_literal(step, parent, child, pfns)
            return
        st = step.state
        av = parent.anon_vma
        if av is None:
            if not pfns and not swap_entries:
                return
            av = anon_vma_alloc(step)
            anon_vma_link(step, av, child.id)
            anon_vma_link(step, av, parent.id)
            set_vma_anon_vma(step, parent.id, av)
            set_vma_anon_vma(step, child.id, av)
            step.emit(
                "anon_vma_alloc",
                "dup_mmap",
                f"fork: vma {parent.id} holds anonymous pages and has no anon_vma yet, so "
                f"anon_vma {av} is allocated now (RFC2 defers every anon_vma to fork) and "
                f"lists vma {parent.id} then its child copy vma {child.id}.",
                obj("anon_vma", av),
                obj("vma", parent.id),
                obj("vma", child.id),
            )
        else:
            anon_vma_link(step, av, child.id)
            set_vma_anon_vma(step, child.id, av)
            step.emit(
                "anon_vma_link",
                "fork_link",
                f"fork: the child copy vma {child.id} joins anon_vma {av} of vma "
                f"{parent.id}, at the head of its list.",
                obj("anon_vma", av),
                obj("vma", child.id),
            )
        flags = st.page_flags
        converted = [pfn for pfn in pfns if flags[pfn] & PG_DIRECT]
        if converted:
            flags = st.w("page_flags")
            flags.update({pfn: flags[pfn] & ~PG_DIRECT for pfn in converted})
            st.w("page_mapping").update(dict.fromkeys(converted, av))
        if converted:
            st.count("direct_to_indirect", len(converted))
            step.emit(
                "direct_to_indirect",
                "page_add_rmap_fork",
                f"fork: {id_list('frame', converted)} "
                f"{'was' if len(converted) == 1 else 'were'} PageDirect to vma {parent.id}; "
                f"{'it now points' if len(converted) == 1 else 'they now point'} at anon_vma "
                f"{av} instead, because two vmas map "
                f"{'it' if len(converted) == 1 else 'them'}, and can never be direct again "
                "unless a write fault finds a single mapper.",
                obj("anon_vma", av),
                obj("vma", parent.id),
                *(obj("frame", p) for p in converted[:64]),
            )

    def _fork_vma_literal(self, step: Step, parent: Vma, child: Vma, pfns: list[int]) -> None:
        """RFC2 as posted: the child vma is linked once per page; indirect pages BUG."""
        st = step.state
        av = parent.anon_vma
        set_vma_anon_vma(step, child.id, av)
        links = 0
        bugged = []
        flags, mapping = st.w("page_flags"), st.w("page_mapping")
        for pfn in pfns:
            f = flags[pfn]
            if not f & PG_DIRECT:
                bugged.append(pfn)
                continue
            if av is None:
                av = anon_vma_alloc(step)
                anon_vma_link(step, av, child.id)
                anon_vma_link(step, av, parent.id)
                set_vma_anon_vma(step, parent.id, av)
                set_vma_anon_vma(step, child.id, av)
            else:
                anon_vma_link(step, av, child.id)
            links += 1
            flags[pfn] = f & ~PG_DIRECT
            mapping[pfn] = av
        if links:
            assert av is not None  # the first linked page allocated it
            st.count("direct_to_indirect", links)
            linked = (
                "once (with one page, linking once per page does no harm)"
                if links == 1
                else f"once per page ({links} times); a real kernel would corrupt the list"
            )
            step.emit(
                "direct_to_indirect",
                "page_add_rmap_fork",
                f"fork (RFC2 as posted): {plural_pages(links)} of vma {parent.id} "
                f"{'turns' if links == 1 else 'turn'} indirect on anon_vma {av}, and the "
                f"child vma {child.id} is linked into its list {linked}.",
                obj("anon_vma", av),
                obj("vma", child.id),
            )
        if bugged:
            self._bug(
                step,
                "bug_fork",
                "BUG_ON(!PageDirect(page))",
                f"RFC2 as posted: fork of vma {parent.id} meets {id_list('frame', bugged)}, "
                "already indirect from an earlier fork, and anon_vma_page_link_fork hits "
                "BUG_ON(!PageDirect(page)); the simulator records the oops and goes on.",
            )

    # ----- vma restructuring ------------------------------------------------------------

    def before_vma_change(
        self, step: Step, vma_id: int, partner_anon_vma: int | None, why: str
    ) -> int | None:
        """semantics.md#rfc2-page-table-walk: convert the vma's PageDirect pages before it is
        split, moved or merged."""
        st = step.state
        vma = st.vmas[vma_id]
        if self.literal:
            return vma.anon_vma if vma.anon_vma is not None else partner_anon_vma
        flags, mapping = st.page_flags, st.page_mapping
        direct = [
            pte >> PTE_SHIFT
            for _, pte in ptes_in_range(
                st.ptes[vma.pid], vma.vm_start >> PAGE_SHIFT, vma.vm_end >> PAGE_SHIFT
            )
            if pte & PTE_KIND == PTE_PAGE
            and flags[pte >> PTE_SHIFT] & PG_DIRECT
            and mapping[pte >> PTE_SHIFT] == vma_id
        ]
        if not direct:
            return vma.anon_vma if vma.anon_vma is not None else partner_anon_vma
        av = vma.anon_vma
        how = f"its anon_vma {av}"
        if av is None:
            if partner_anon_vma is not None:
                av = partner_anon_vma
                how = f"anon_vma {av} of the vma it merges with"
            else:
                av = anon_vma_alloc(step)
                how = f"a new anon_vma {av}"
            anon_vma_link(step, av, vma_id)
            set_vma_anon_vma(step, vma_id, av)
        wflags, wmapping = st.w("page_flags"), st.w("page_mapping")
        for pfn in direct:
            wflags[pfn] &= ~PG_DIRECT
            wmapping[pfn] = av
        st.count("direct_to_indirect", len(direct))
        one = len(direct) == 1
        step.emit(
            "direct_to_indirect",
            "direct_walk",
            f"Before the {why}, the simulator walks the page table of vma {vma_id} "
            f"{span(vma.vm_start, vma.vm_end)}: {id_list('frame', direct)} "
            f"{'was' if one else 'were'} PageDirect to it and now "
            f"{'points' if one else 'point'} at {how}, so no page is left pointing at a "
            "vma that no longer covers it (a modelling choice: the fix Andrea proposed and "
            "then rejected).",
            obj("vma", vma_id),
            obj("anon_vma", av),
            *(obj("frame", p) for p in direct[:64]),
            ref="docs/semantics.md#rfc2-page-table-walk",
        )
        return av

    def merge_refusal(
        self, state: State, neighbour: Vma, anon_vma: int | None, source: Vma | None
    ) -> str | None:
        """RFC2: "I can merge anonymous vma only if (!vma1->anon_vma || !vma2->anon_vma)";
        after the page-table walk (semantics.md#rfc2-page-table-walk) two vmas on the same
        anon_vma hold no direct page and may merge too."""
        a1, a2 = anon_vma, neighbour.anon_vma
        if self.literal and a1 is not None and a1 == a2:
            return (
                f"both have anon_vma {a1}, and RFC2 as posted merges anonymous vmas only "
                "if (!vma1->anon_vma || !vma2->anon_vma)"
            )
        why = super().merge_refusal(state, neighbour, anon_vma, source)
        return None if why is None else why + ", so RFC2 refuses"

    def merges_on(self, caller: str) -> bool:
        """semantics.md#rfc2-merging: merging as 2.6.7; ``rfc2_literal``: never from mprotect or
        mremap."""
        return not self.literal or caller in ("mmap", "merge")

    # ----- reclaim ----------------------------------------------------------------------

    def rmap_walk(self, state: State, pfn: int) -> tuple[dict[str, Any] | None, Probes]:
        """``try_to_unmap_anon``: one vma if PageDirect, else the anon_vma list."""
        if not state.page_flags[pfn] & PG_DIRECT:
            return super().rmap_walk(state, pfn)
        target = state.page_mapping.get(pfn)
        if target is None:  # a broken state the checker reports (as.vma is NULL)
            return None, []
        return (
            {"kind": "vma", "id": target},
            [self.probe_vma(state, target, state.page_index[pfn])],
        )

    def reach(self, state: State, frames: Mapping[int, Sequence[Mapper]]) -> Reach:
        """A PageDirect frame's walk is one vma: the walk itself answers."""
        flags = state.page_flags
        direct = {pfn: m for pfn, m in frames.items() if flags.get(pfn, 0) & PG_DIRECT}
        if not direct:
            return super().reach(state, frames)
        rest = super().reach(state, {pfn: m for pfn, m in frames.items() if pfn not in direct})
        return Reach({**Design.reach(self, state, direct).unreached, **rest.unreached}, rest.placed)

    def reach_kept(self, old: State, new: State, pfn: int) -> bool:
        """Only for an indirect frame (a PageDirect one has one mapper, checked again)."""
        return not new.page_flags.get(pfn, 0) & PG_DIRECT and super().reach_kept(old, new, pfn)

    # ----- reporting ----------------------------------------------------------------------

    def _bug(self, step: Step, role: str, rule: str, text: str) -> None:
        """An oops of the posted patch: ``rule`` is the BUG_ON, ``role`` the function."""
        st = step.state
        st.bugs = (*st.bugs, Bug(rule, text))
        step.emit("bug", role, text)

    def mapping_json(self, state: State, pfn: int) -> dict[str, Any] | None:
        if state.page_flags[pfn] & PG_DIRECT:
            return {"kind": "vma", "id": state.page_mapping[pfn]}
        return super().mapping_json(state, pfn)

    def check(self, state: State, index: MapIndex) -> list[Violation]:
        """D3.1-D3.4 of semantics.md#invariants (D3.5 follows from D3.2 and D3.4: a vma
        without an anon_vma cannot be on a list, so it may map only direct pages and no
        shared slot), and every BUG_ON the literal mode recorded."""
        bugs = [Violation(b.rule, b.text) for b in state.bugs]
        broken_lists = self.check_lists(state, "D3.3")
        out: list[Violation] = []
        vmas, avs = state.vmas, state.anon_vmas
        flags, mapping, mcs = state.page_flags, state.page_mapping, state.page_mapcount
        lists: dict[int, set[int]] = {}  # each anon_vma's list, as a set, once
        # frames whose every mapper's vma is on the list of the frame's anon_vma: with sound
        # lists (D3.3), all of them have that anon_vma, so they share one (D3.4)
        agreed: set[int] = set()
        # D3.1 / D3.2 over the frames.
        for pfn, mappers in index.page_mappers.items():
            if pfn not in mcs:
                continue
            f = flags[pfn]
            target = mapping.get(pfn)
            if f & PG_DIRECT:
                if mcs[pfn] != 1:
                    out.append(
                        Violation("D3.1", f"frame {pfn} is PageDirect but has mapcount {mcs[pfn]}.")
                    )
                vma = vmas.get(target) if target is not None else None
                if vma is None:
                    out.append(
                        Violation(
                            "G10",
                            f"frame {pfn} is PageDirect to vma {target}, "
                            "which was freed: a stale page->as.vma.",
                        )
                    )
                else:
                    addr = vma.vma_address(state.page_index[pfn])
                    if addr is None or (vma.pid, addr >> PAGE_SHIFT) not in {
                        (p, v) for p, v, _ in mappers
                    }:
                        out.append(
                            Violation(
                                "D3.1",
                                f"frame {pfn} is PageDirect to vma "
                                f"{target}, but vma_address does not lead "
                                "to the PTE that maps it.",
                            )
                        )
            else:
                if target is None or target not in avs:
                    out.append(
                        Violation(
                            "D3.2",
                            f"frame {pfn} is mapped and indirect but its "
                            f"anon_vma {target} does not exist.",
                        )
                    )
                else:
                    listed = lists.get(target)
                    if listed is None:
                        listed = lists[target] = set(avs[target].vmas)
                    for m in mappers:
                        if m[2] not in listed:
                            break
                    else:
                        agreed.add(pfn)
                        continue
                    for pid, vpn, vid in mappers:
                        if vid in listed:
                            continue
                        out.append(
                            Violation(
                                "D3.2",
                                f"frame {pfn} points at anon_vma "
                                f"{target}, but vma {vid} (pid {pid}, "
                                f"{vpn << PAGE_SHIFT:#x}) that maps "
                                "it is not on its list.",
                            )
                        )
        sharers = self.check_sharers(state, index, "D3.4", set() if broken_lists else agreed)
        return bugs + broken_lists + sharers + out


def plural_pages(n: int) -> str:
    return f"{n} page" if n == 1 else f"{n} pages"
