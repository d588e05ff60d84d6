"""The strategy every rmap design implements, with the 2.6-era behaviour as defaults.

Common mechanics (faults, fork, munmap, mprotect, mremap, merge geometry, reclaim) live
once in the engine modules and call these hooks wherever the designs differ: how a page
finds its PTEs, what that costs, and the few places where the kernel's own behaviour
changed with the design (swap-in and mprotect in modern kernels). A design overrides only
what differs from the defaults here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple, Protocol

from .. import mprotect
from ..eras import ERAS, Era
from ..events import Step, plain
from ..fault import cow_is_reusable
from ..mapindex import MapIndex, Mapper
from ..state import PAGE_SHIFT, State, Vma, mk_pte_swap


class Probe(NamedTuple):
    """One container the reclaim walk will look into.

    ``pid``/``vpn`` name the PTE the container leads to; ``vpn`` None means the walk
    skips it (for a vma: ``vma_address`` fell outside it, or the vma is gone). A named
    tuple: walks of a thousand vmas build a thousand of these.
    """

    kind: str
    id: int
    pid: int | None
    vpn: int | None
    note: str | None = None


def rmap_sizes(
    *, pages: int, vmas: int, objects: dict[str, int], page_bytes: int, page_bytes_andrea: int
) -> dict[str, int]:
    """A design's metadata sizes in the counters' shape: the rmap bytes in all, and split
    into what every page carries, what every vma carries, and each kind of object."""
    out = {
        "rmap_bytes": pages + vmas + sum(objects.values()),
        "rmap_bytes_pages": pages,
        "rmap_bytes_vmas": vmas,
    }
    out.update({f"rmap_bytes_{kind}": size for kind, size in objects.items()})
    out.update(page_bytes=page_bytes, page_bytes_andrea=page_bytes_andrea)
    return out


#: a ``Probe``'s fields as a plain tuple (kind, id, pid, vpn, note): what the lazy walks
#: yield, cheaper to build than the named tuple
ProbeTuple = tuple[str, int, int | None, int | None, str | None]


class Probes(Protocol):
    """What ``rmap_walk`` returns: a sized iterable of probes (``len`` = candidates)."""

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[Probe | ProbeTuple]: ...


#: what ``Design.reach_by_lookup`` asks of a design, per start of its walk: given a frame's
#: mappers and ``page->index``, the mappers it does not vouch for
Finder = Callable[[Sequence[Mapper], int], list[Mapper]]


class Reach(NamedTuple):
    """What ``Design.reach`` finds of the mappers it is given."""

    #: by frame, the mappers its reclaim walk does not reach (G9); a frame whose walk
    #: reaches them all is left out
    unreached: dict[int, list[Mapper]]
    #: frames whose mappers were all found where ``page_index_at`` puts the page, on the
    #: way (G11 holds for them)
    placed: set[int]


@dataclass(frozen=True, slots=True)
class Violation:
    """An invariant the state breaks: ``rule`` names it for readers of the code (G9, D3.1:
    docs/semantics.md#invariants); ``text`` is the plain sentence a student reads."""

    rule: str
    text: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", plain(self.text))

    def to_json(self) -> dict[str, str]:
        return {"rule": self.rule, "text": self.text}


class Design:
    """An anonymous-memory rmap design (one of the five of docs/semantics.md).

    Subclasses set the class attributes and override the hooks where they differ.
    """

    name: ClassVar[str]
    title: ClassVar[str]
    era: ClassVar[str]
    description: ClassVar[str]
    #: the key (``eras.ERAS``) of the kernel whose function names the narration uses
    era_key: ClassVar[str]
    #: option name -> one-line description
    option_help: ClassVar[dict[str, str]] = {}
    #: options that take the design to another era's names: option -> era key
    option_eras: ClassVar[dict[str, str]] = {}
    #: where the era's source can be read: a Linux version on Bootlin Elixir ("v2.6.7"),
    #: or the address of the mail that posted the patch
    source: ClassVar[str]
    #: options that model another kernel: option -> (era, source), the first listed
    #: option present winning (the page's era line and its links to the source)
    option_variants: ClassVar[dict[str, tuple[str, str]]] = {}
    #: the design's size table (i386 unless stated): what -> bytes, for the catalogue
    size_table: ClassVar[dict[str, int]] = {}
    #: whether the era's vm_area_struct has an anon_vma pointer (RFC2, 2.6.7 and later;
    #: 2.6.0's pte_chain and anonmm have none), for the page's diagram
    vma_anon_vma: ClassVar[bool] = True
    #: whether vma_merge requires linear anonymous vm_pgoffs (D3-D5; 2.6.0 and anonmm: no)
    anon_pgoff_linear: ClassVar[bool] = True
    #: whether the era marks a swap-cache page with PG_swapcache and keeps its swap entry
    #: in ``page->private`` (2.6.0 did neither, docs/semantics.md#pte-chain-swap-cache)
    swapcache_flag: ClassVar[bool] = True
    #: the ``State`` tables that hold this design's own rmap objects: the one place that
    #: says so (the checker's ``CHECKED`` and the state document's memo keys follow it)
    tables: ClassVar[tuple[str, ...]] = ()
    #: how a frame entering the swap cache is marked, for the narration
    swap_cache_entry: ClassVar[str] = "PG_swapcache set, page->private = the swap entry"
    #: whether ``check`` may be given a map index of only the frames and slots that a step
    #: touched (the incremental checker): true where ``check`` looks at frames and slots
    #: only through the index, and every other loop covers the whole state
    check_scoped: ClassVar[bool] = False
    #: whether ``check`` (scoped) may be shown, for a frame that only gained mappers, its
    #: new mappers and one old one: true where ``check`` asks of a frame's mappers only
    #: that each is right on its own and that they agree with each other
    check_grown: ClassVar[bool] = False

    def __init__(self, options: frozenset[str]) -> None:
        self.options = options
        #: the kernel this design and these options model, and its function names
        self.kernel: Era = self.era_for(options)
        self.funcs = self.kernel.funcs

    def fn(self, role: str) -> str:
        """The bare name of the era's function for ``role``, for a sentence."""
        return self.funcs[role].rpartition(":")[2]

    @classmethod
    def era_for(cls, options: frozenset[str] | tuple[str, ...] = ()) -> Era:
        """The era of the design with these options (an option may move it in time)."""
        keys = {cls.option_eras[o] for o in options if o in cls.option_eras}
        return ERAS[keys.pop() if len(keys) == 1 else cls.era_key]

    # ----- processes ----------------------------------------------------------------------

    def mm_spawned(self, step: Step, pid: int) -> None:
        """A process starts with an empty mm (exec)."""

    def mm_forked(self, step: Step, parent: int, child: int) -> None:
        """``dup_mmap`` begins: the child's mm exists, its vmas not yet."""

    def mm_exited(self, step: Step, pid: int) -> None:
        """``exit_mmap`` is done: every vma is gone; the mm goes next."""

    # ----- faults ---------------------------------------------------------------------

    def anon_vma_prepare(self, step: Step, vma_id: int) -> None:
        """Before a write fault allocates a frame in ``vma_id`` (2.6.7+)."""

    def page_add_new_anon_rmap(self, step: Step, pfn: int, vma: Vma, addr: int) -> None:
        """A fresh frame (first write or COW copy) is mapped at ``addr`` in ``vma``."""
        raise NotImplementedError

    def page_add_swapin_rmap(
        self, step: Step, pfn: int, vma: Vma, addr: int, mapped_before: int
    ) -> None:
        """A frame found or read for a swap PTE gains this mapping (mapcount already +1)."""
        raise NotImplementedError

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
        """``do_swap_page`` once the frame is found: add the rmap, drop the swap PTE's
        count, and say whether the PTE may be writable at once.

        2.6 (D1-D4): the frame stays in the swap cache (swap is never full,
        semantics.md#swap-cache); the PTE
        is writable only on a write fault by the frame's only user (``can_share_swap_page``).
        """
        st = step.state
        st.w("swap_ptes")[slot] -= 1
        self.page_add_swapin_rmap(step, pfn, vma, addr, mapped_before)
        return write and cow_is_reusable(step, pfn)

    def cow_reuse(self, step: Step, pfn: int, vma: Vma, addr: int) -> None:
        """A write fault reuses the only mapping of ``pfn`` in place."""

    def page_remove_rmap(self, step: Step, pfn: int, pid: int, addr: int, mapcount: int) -> None:
        """The PTE of ``pid`` at ``addr`` stopped mapping ``pfn``; ``mapcount`` is the new
        count."""

    # ----- fork -----------------------------------------------------------------------

    #: whether ``dup_mmap`` does the rmap work of a vma before ``copy_page_range`` (6.x
    #: ``anon_vma_fork``) rather than after it
    anon_vma_fork_first: ClassVar[bool] = False

    def copy_page_range_rmap(self, step: Step, pfns: list[int]) -> str:
        """What ``copy_page_range`` itself does to the rmap of the pages it copies, as a
        clause for its event (nothing by default)."""
        return ""

    def fork_copies_ptes(self, state: State, parent: Vma) -> bool:
        """Whether ``copy_page_range`` runs for this vma (2.6: always)."""
        return True

    def fork_vma(
        self,
        step: Step,
        parent: Vma,
        child: Vma,
        vpns: list[int],
        pfns: list[int],
        swap_entries: int,
    ) -> None:
        """``dup_mmap``'s rmap work for one vma: the child copy exists and, unless
        ``anon_vma_fork_first``, its PTEs too, mapcounts up. ``vpns``/``pfns`` are the
        present pages' page numbers and frames, in step; ``swap_entries`` counts the swap
        PTEs copied."""

    # ----- vma restructuring ------------------------------------------------------------

    def before_vma_change(
        self, step: Step, vma_id: int, partner_anon_vma: int | None, why: str
    ) -> int | None:
        """Called before ``vma_id`` is split, moved, removed by a merge or shrunk.

        Returns the anon_vma a merge should hand on (the vma's own, else the partner's).
        """
        own = step.state.vmas[vma_id].anon_vma
        return own if own is not None else partner_anon_vma

    def link_vma(self, step: Step, vma_id: int, source: int) -> None:
        """A new vma struct (split piece, mremap copy) was made from ``source``."""

    def vma_adjusted(self, step: Step, vma_id: int) -> None:
        """The vma's start, end or pgoff changed (split, merge, expand, shrink)."""

    def unlink_vma(self, step: Step, vma_id: int) -> None:
        """A vma struct is about to be destroyed: leave the rmap structures, collect garbage."""

    def anon_vma_merge(self, step: Step, survivor: int, removed: int) -> None:
        """``removed`` is absorbed by ``survivor``, then destroyed."""
        self.unlink_vma(step, removed)

    def import_anon_vma(self, step: Step, importer: int, exporter: int) -> None:
        """A boundary shift moved pages from ``exporter`` into ``importer``."""

    def merge_refusal(
        self, state: State, neighbour: Vma, anon_vma: int | None, source: Vma | None
    ) -> str | None:
        """Why the range (with ``anon_vma``, taken from ``source`` if it is a vma) cannot
        merge with ``neighbour`` on anon_vma grounds, or None."""
        return None

    def merge_both_refusal(self, state: State, prev: Vma, nxt: Vma) -> str | None:
        """Why ``prev`` and ``nxt``, each mergeable with the range, cannot both merge (the
        3-way check of ``vma_merge``), or None. Default: the side rule, ``prev``'s
        anon_vma against ``nxt``."""
        return self.merge_refusal(state, nxt, prev.anon_vma, prev)

    def merge_copied_range(self, step: Step, target: int, source: int) -> None:
        """``copy_vma`` merged the destination of an mremap move into ``target``; the
        pages of ``source`` are about to move there (6.x ``vmg->copied_from``)."""

    def merges_on(self, caller: str) -> bool:
        """Whether ``vma_merge`` runs for ``caller`` (mmap, mprotect, mremap, merge)."""
        return True

    def mprotect_fixup(
        self, step: Step, vma: Vma, prev: Vma | None, start: int, end: int, prot: str
    ) -> Vma:
        """``mprotect_fixup`` for ``[start, end)`` inside ``vma`` (default: 2.6.7)."""
        return mprotect.mprotect_fixup(step, vma, prev, start, end, prot)

    def mprotect_done(self, step: Step, prev: Vma, ended_at_vma_end: bool) -> None:
        """The end of ``sys_mprotect``, after the last ``mprotect_fixup``: ``prev`` is the vma
        the range now ends in, and ``ended_at_vma_end`` says whether the range ended exactly
        at the end of a vma. 2.6.7 and later merge only inside ``mprotect_fixup``: nothing
        (2.5.38 ... 2.6.6 merge ``prev`` with the next vma here, semantics.md#pte-chain-merging)."""

    def protect_writable(self, state: State, pfn: int, vma: Vma) -> bool:
        """Whether mprotect's ``change_protection`` leaves a present PTE writable.

        2.6 rewrites every PTE from ``vm_page_prot``: read-only for a private mapping
        (semantics.md#mprotect-writable).
        """
        return False

    def copy_vma_pgoff(self, vma: Vma, pgoff: int, new_addr: int) -> int:
        """The pgoff of the destination of an mremap move: kept by default (2.6.0, and RFC2
        by semantics.md#rfc2-offsets); 2.6.7+ reset it for a vma that was never faulted."""
        return pgoff

    def mremap_prepare(self, step: Step, vma_id: int, start: int, end: int) -> None:
        """Before ``[start, end)`` of the vma moves (D2 breaks COW here)."""

    def move_ptes(self, step: Step, pid: int, moved: list[tuple[int, int, int]]) -> None:
        """``move_page_tables`` moved these PTEs: (old vpn, new vpn, pte)."""

    # ----- reclaim ----------------------------------------------------------------------

    def add_to_swap_cache(self, step: Step, pfn: int, slot: int) -> None:
        """Design-specific page fields when a frame enters the swap cache."""

    def delete_from_swap_cache(self, step: Step, pfn: int, slot: int) -> None:
        """Design-specific page fields when a frame leaves the swap cache."""

    def before_walk(self, step: Step, pfn: int) -> None:
        """Side effects of reclaim's scan before ``try_to_unmap`` (D1: collapse)."""

    def rmap_walk(self, state: State, pfn: int) -> tuple[dict[str, Any] | None, Probes]:
        """The containers ``try_to_unmap`` visits for ``pfn``, in order.

        Returns where the walk starts (``{"kind", "id"}``) and a sized iterable of probes,
        each a ``Probe`` or a plain tuple in its field order (kind, id, pid, vpn, note);
        ``len`` is the number of candidates. It may compute probes lazily.
        """
        raise NotImplementedError

    def reach(self, state: State, frames: Mapping[int, Sequence[Mapper]]) -> Reach:
        """For each frame of ``frames``, those of the given mappers (present PTEs mapping
        it) that its reclaim walk does not reach (G9). By default the walk itself; a design
        may answer faster per PTE, and must then agree with the walk."""
        out = {}
        for pfn, mappers in frames.items():
            if not mappers:
                continue
            _, probes = self.rmap_walk(state, pfn)
            reached = {(p[2], p[3]) for p in probes if p[3] is not None}
            missed = [m for m in mappers if (m[0], m[1]) not in reached]
            if missed:
                out[pfn] = missed
        return Reach(out, set())

    def reach_by_lookup(
        self,
        state: State,
        frames: Mapping[int, Sequence[Mapper]],
        finder: Callable[[int], Finder | None],
    ) -> Reach:
        """``reach`` for a design that can tell from where its walk starts which PTEs it
        finds: ``finder(page->mapping)`` (None: it cannot tell) gives, for a frame's mappers
        and ``page->index``, those it does not vouch for, a lookup per PTE rather than a
        walk per frame. A finder vouches only for a PTE where ``page_index_at`` puts the
        page, so a frame it vouches for wholly is placed too (G11). What it does not vouch
        for goes to the walk itself, which has the last word."""
        mapping, page_index = state.page_mapping, state.page_index
        finders: dict[int, Finder | None] = {}  # one per start
        walk: dict[int, list[Mapper]] = {}  # what the walk itself answers
        placed = set()
        for pfn, mappers in frames.items():
            target, index = mapping.get(pfn), page_index.get(pfn)
            find = None
            if target is not None and index is not None:
                if target not in finders:
                    finders[target] = finder(target)
                find = finders[target]
            missed = list(mappers) if find is None or index is None else find(mappers, index)
            if missed:
                walk[pfn] = missed
            else:
                placed.add(pfn)
        return Reach(Design.reach(self, state, walk).unreached if walk else {}, placed)

    @staticmethod
    def vma_finder(vmas: Mapping[int, Vma], walked: frozenset[int]) -> Finder:
        """The finder of a walk that visits the vmas ``walked`` and finds the page in each
        where ``vma_address`` puts it (``linear_page_index``'s inverse: the
        ``page_index_at`` of every design that uses this)."""

        def find(mappers: Sequence[Mapper], index: int) -> list[Mapper]:
            missed = []
            for m in mappers:
                vma = vmas.get(m[2]) if m[2] in walked else None
                if (
                    vma is None
                    or vma.pid != m[0]
                    or (start := vma.vm_start >> PAGE_SHIFT) + index - vma.vm_pgoff != m[1]
                    or not start <= m[1] < vma.vm_end >> PAGE_SHIFT
                ):
                    missed.append(m)
            return missed

        return find

    def reach_kept(self, old: State, new: State, pfn: int) -> bool:
        """Whether the walk of ``pfn`` in ``new`` still reaches every PTE it reached in
        ``old``, given the frame's own fields and the vmas and PTEs that mapped it are
        unchanged (the incremental checker then checks only its new mappers). The answer
        may depend on the frame only through where its walk starts (``page_mapping``,
        ``page_flags``): the checker asks once per start. No by default: every mapper is
        checked again."""
        return False

    def swap_pte(self, state: State, pfn: int, slot: int) -> int:
        """The swap PTE ``try_to_unmap`` installs for ``pfn`` (D5 marks exclusive ones)."""
        return mk_pte_swap(slot)

    # ----- reporting ----------------------------------------------------------------------

    def page_index_at(self, vma: Vma, addr: int) -> int | None:
        """The ``page->index`` a page mapped at ``addr`` in ``vma`` must have (G11), or None
        where the design gives a mapped page's index no meaning.

        D3-D5: ``linear_page_index``; anonmm (D2) stores the virtual address itself.
        """
        return vma.linear_page_index(addr)

    def check(self, state: State, index: MapIndex) -> list[Violation]:
        """The design's own invariants (semantics.md#invariants)."""
        return []

    def check_key(self, state: State) -> tuple[Any, ...]:
        """Whatever else ``check`` reads besides the state's tables (so a remembered
        verdict is reused only when it still holds); nothing by default."""
        return ()

    def mapping_json(self, state: State, pfn: int) -> dict[str, Any] | None:
        """What ``page->mapping`` points at, as ``{"kind", "id"}``."""
        raise NotImplementedError

    def memory(self, state: State) -> dict[str, int]:
        """Metadata sizes in bytes (i386, semantics.md#sizes)."""
        raise NotImplementedError

    def state_json(self, state: State) -> dict[str, Any]:
        """The design's own objects for the state document (``anon_vmas``, ...)."""
        return {}
