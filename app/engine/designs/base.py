"""The strategy interface every rmap design implements.

Common mechanics (faults, fork, munmap, mprotect, mremap, merge geometry, reclaim) live
once in the engine modules and call these hooks wherever the designs differ: how a page
finds its PTEs, and what that costs. A design holds only what differs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from ..events import Step
from ..mapindex import MapIndex
from ..state import State, Vma


@dataclass(frozen=True, slots=True)
class Probe:
    """One container the reclaim walk will look into.

    ``pid``/``vpn`` name the PTE the container leads to; ``vpn`` None means the walk
    skips it (for a vma: ``vma_address`` fell outside it, or the vma is gone).
    """

    kind: str
    id: int
    pid: int | None
    vpn: int | None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Violation:
    """An invariant the state breaks: the rule's name (G9, D3.1, ...) and a sentence."""

    rule: str
    text: str

    def to_json(self) -> dict[str, str]:
        return {"rule": self.rule, "text": self.text}


class Design(Protocol):
    """An anonymous-memory rmap design (one of D1-D5 of the behavioural reference)."""

    name: str
    title: str
    era: str
    description: str
    #: option name -> one-line description
    option_help: dict[str, str]

    # ----- faults ---------------------------------------------------------------------
    def page_add_new_anon_rmap(self, step: Step, pfn: int, vma: Vma, addr: int) -> None:
        """A fresh frame (first write or COW copy) is mapped at ``addr`` in ``vma``."""

    def page_add_swapin_rmap(self, step: Step, pfn: int, vma: Vma, addr: int,
                             mapped_before: int) -> None:
        """A frame found or read for a swap PTE gains this mapping (mapcount already +1)."""

    def cow_reuse(self, step: Step, pfn: int, vma: Vma, addr: int) -> None:
        """A write fault reuses the only mapping of ``pfn`` in place."""

    def page_remove_rmap(self, step: Step, pfn: int, vma_id: int, addr: int,
                         mapcount: int) -> None:
        """One PTE stopped mapping ``pfn``; ``mapcount`` is the new count."""

    # ----- fork -----------------------------------------------------------------------
    def fork_vma(self, step: Step, parent: Vma, child: Vma, pfns: list[int],
                 swap_entries: int) -> None:
        """``dup_mmap`` for one vma: the child copy exists, PTEs are copied, mapcounts up."""

    # ----- vma restructuring ------------------------------------------------------------
    def before_vma_change(self, step: Step, vma_id: int, partner_anon_vma: int | None,
                          why: str) -> int | None:
        """Called before ``vma_id`` is split, moved, removed by a merge or shrunk.

        Returns the anon_vma the vma ended up with (or the partner's), so a merge can
        hand it on.
        """

    def link_vma(self, step: Step, vma_id: int) -> None:
        """A new vma struct (split piece, mremap copy) joins its anon_vma."""

    def unlink_vma(self, step: Step, vma_id: int) -> None:
        """A vma struct is destroyed: leave the rmap structures, collect garbage."""

    def anon_vma_merge(self, step: Step, survivor: int, removed: int) -> None:
        """``__anon_vma_merge``: ``removed`` is absorbed by ``survivor``."""

    def import_anon_vma(self, step: Step, importer: int, exporter: int) -> None:
        """A boundary shift moved pages from ``exporter`` into ``importer``."""

    def anon_vma_merge_refusal(self, a1: int | None, a2: int | None) -> str | None:
        """Why two anon_vmas cannot be merged together, or None when they can."""

    def merges_on(self, caller: str) -> bool:
        """Whether ``vma_merge`` runs for ``caller`` (mmap, mprotect, mremap, merge)."""

    def copy_vma_pgoff(self, vma: Vma, pgoff: int, new_addr: int) -> int:
        """The pgoff of the destination of an mremap move."""

    # ----- reclaim ----------------------------------------------------------------------
    def add_to_swap_cache(self, step: Step, pfn: int, slot: int) -> None:
        """Design-specific page fields when a frame enters the swap cache."""

    def delete_from_swap_cache(self, step: Step, pfn: int, slot: int) -> None:
        """Design-specific page fields when a frame leaves the swap cache."""

    def rmap_walk(self, state: State, pfn: int) -> tuple[dict[str, Any] | None, list[Probe]]:
        """The containers ``try_to_unmap`` visits for ``pfn``, in order."""

    # ----- reporting ----------------------------------------------------------------------
    def check(self, state: State, index: MapIndex) -> list[Violation]:
        """The design's own invariants (§10)."""

    def mapping_json(self, state: State, pfn: int) -> dict[str, Any] | None:
        """What ``page->mapping`` points at, as ``{"kind", "id"}``."""

    def memory(self, state: State) -> dict[str, int]:
        """Metadata sizes in bytes (i386, §8/§9.1)."""

    def state_json(self, state: State) -> dict[str, Any]:
        """The design's own objects for the state document (``anon_vmas``, ...)."""
