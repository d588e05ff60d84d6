"""The simulator state: processes, vmas, page tables, frames, swap and rmap objects.

Every object refers to others by integer id; ids come from counters kept in the state
and are never reused (docs/semantics.md#numbering). A ``State`` is immutable once built:
``apply`` makes a copy-on-write successor (``State.begin``) whose tables are shared with
the input until first written, so a step costs what it changes, not the size of the whole state.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, overload

# The page geometry, the PTE encoding and the vma live in pagetable.py and vma.py; they
# are re-exported here for the modules that import them from the state.
from .pagetable import PAGE_SHIFT as PAGE_SHIFT
from .pagetable import PAGE_SIZE as PAGE_SIZE
from .pagetable import PTE_KIND as PTE_KIND
from .pagetable import PTE_PAGE as PTE_PAGE
from .pagetable import PTE_SHIFT as PTE_SHIFT
from .pagetable import PTE_SWAP as PTE_SWAP
from .pagetable import PTE_WRITE as PTE_WRITE
from .pagetable import PTE_ZERO as PTE_ZERO
from .pagetable import PTE_ZERO_RO as PTE_ZERO_RO
from .pagetable import mk_pte_page as mk_pte_page
from .pagetable import mk_pte_swap as mk_pte_swap
from .pagetable import pte_fields as pte_fields
from .pagetable import ptes_in_range as ptes_in_range
from .vma import PROTS as PROTS
from .vma import Vma as Vma

if TYPE_CHECKING:
    from .designs.anon_vma_chain import Avc
    from .designs.anonmm import StructAnonmm
    from .designs.pte_chain import Entry, StructPteChain

#: i386 user address space (3 GiB); mmap without an address starts at mmap_min_addr.
TASK_SIZE = 0xC0000000
MMAP_MIN_ADDR = 0x10000

# struct page flags (only those the simulator shows).
PG_ANON = 1
PG_DIRECT = 2
PG_SWAPCACHE = 4
PG_ANON_EXCLUSIVE = 8  # PageAnonExclusive (5.19+, D5)
PAGE_FLAG_NAMES = (
    (PG_ANON, "anon"),
    (PG_DIRECT, "direct"),
    (PG_SWAPCACHE, "swapcache"),
    (PG_ANON_EXCLUSIVE, "exclusive"),
)


@dataclass(frozen=True, slots=True)
class Mm:
    """``struct mm_struct``: the vmas of one process, sorted by ``vm_start``."""

    pid: int
    vmas: tuple[int, ...] = ()
    starts: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class AnonVma:
    """``struct anon_vma``: the list of related vmas, head first (kernel list order)."""

    id: int
    vmas: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Bug:
    """A kernel ``BUG_ON`` the simulated code would hit (only in literal teaching modes)."""

    rule: str
    text: str


COUNTER_NAMES = (
    "rmap_walks",
    "rmap_visits",
    "rmap_misses",
    "rmap_skips",
    "ptes_unmapped",
    "pages_reclaimed",
    "unreachable_pages",
    "swapins",
    "swapcache_hits",
    "cow_copies",
    "cow_reuses",
    "zero_page_maps",
    "frames_allocated",
    "slots_allocated",
    "anon_vmas_allocated",
    "direct_to_indirect",
    "indirect_to_direct",
    "pte_chains_allocated",
    "pte_chain_search",
    "anonmms_allocated",
    "anon_vma_chains_allocated",
)

#: The counters of rmap objects a design allocates (its allocations, beside frames and
#: swap slots, which every design allocates alike); ``objects_allocated`` is their sum.
OBJECT_COUNTERS = (
    "anon_vmas_allocated",
    "anon_vma_chains_allocated",
    "anonmms_allocated",
    "pte_chains_allocated",
)

#: the tables of ``State`` that map an id to an integer
IntTable = Literal[
    "page_mapcount",
    "page_flags",
    "page_mapping",
    "page_index",
    "page_private",
    "page_value",
    "swap_ptes",
    "swap_cache",
    "swap_value",
    "mm_anonmm",
]


@dataclass
class State:
    """One moment of the simulated machine. Treat a finished State as immutable.

    Frames are kept as parallel tables keyed by pfn (``struct page`` fields): a frame is
    allocated iff it has a ``page_mapcount`` entry. ``page_mapping`` holds the id that the
    page's ``mapping``/``as`` union points at; which kind of object it is follows from the
    flags and the design (``as.vma`` when PG_direct, else ``as.anon_vma`` in D3).
    """

    design: str
    options: frozenset[str]
    mms: dict[int, Mm] = field(default_factory=dict)
    ptes: dict[int, dict[int, int]] = field(default_factory=dict)
    vmas: dict[int, Vma] = field(default_factory=dict)
    anon_vmas: dict[int, AnonVma] = field(default_factory=dict)
    page_mapcount: dict[int, int] = field(default_factory=dict)
    page_flags: dict[int, int] = field(default_factory=dict)
    page_mapping: dict[int, int] = field(default_factory=dict)
    page_index: dict[int, int] = field(default_factory=dict)
    page_private: dict[int, int] = field(default_factory=dict)
    page_value: dict[int, int] = field(default_factory=dict)
    swap_ptes: dict[int, int] = field(default_factory=dict)
    swap_cache: dict[int, int] = field(default_factory=dict)
    swap_value: dict[int, int] = field(default_factory=dict)
    # Design-specific rmap objects, each table used by the design that needs it:
    #: D1: page->pte union per frame (the direct PTE, or the head pte_chain block)
    page_pte: dict[int, Entry | int] = field(default_factory=dict)
    #: D1: pte_chain blocks by id
    pte_chains: dict[int, StructPteChain] = field(default_factory=dict)
    #: D2: anonmm objects by id, and each live mm's anonmm
    anonmms: dict[int, StructAnonmm] = field(default_factory=dict)
    mm_anonmm: dict[int, int] = field(default_factory=dict)
    #: D5: anon_vma_chain objects by id, and each vma's chain (newest first)
    avcs: dict[int, Avc] = field(default_factory=dict)
    vma_chain: dict[int, tuple[int, ...]] = field(default_factory=dict)
    #: next id of each kind of design object ("pte_chain", "anonmm", "avc", ...)
    next_ids: dict[str, int] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTER_NAMES, 0))
    next_pfn: int = 1
    next_slot: int = 1
    next_vma: int = 1
    next_anon_vma: int = 1
    used_pids: frozenset[int] = frozenset()
    bugs: tuple[Bug, ...] = ()
    step: int = 0
    _own: set[str] | None = None
    _own_pt: set[int] | None = None

    # ----- copy on write -------------------------------------------------------------

    def begin(self) -> State:
        """A writable successor sharing every table with this state until written."""
        new = object.__new__(State)
        new.__dict__ = dict(self.__dict__)
        new._own = set()
        new._own_pt = set()
        return new

    def finish(self) -> State:
        """Seal a successor: no further writes are allowed."""
        self._own = self._own_pt = None
        return self

    @overload
    def w(self, name: IntTable) -> dict[int, int]: ...
    @overload
    def w(self, name: Literal["mms"]) -> dict[int, Mm]: ...
    @overload
    def w(self, name: Literal["ptes"]) -> dict[int, dict[int, int]]: ...
    @overload
    def w(self, name: Literal["vmas"]) -> dict[int, Vma]: ...
    @overload
    def w(self, name: Literal["anon_vmas"]) -> dict[int, AnonVma]: ...
    @overload
    def w(self, name: Literal["page_pte"]) -> dict[int, Entry | int]: ...
    @overload
    def w(self, name: Literal["pte_chains"]) -> dict[int, StructPteChain]: ...
    @overload
    def w(self, name: Literal["anonmms"]) -> dict[int, StructAnonmm]: ...
    @overload
    def w(self, name: Literal["avcs"]) -> dict[int, Avc]: ...
    @overload
    def w(self, name: Literal["vma_chain"]) -> dict[int, tuple[int, ...]]: ...
    @overload
    def w(self, name: Literal["next_ids", "counters"]) -> dict[str, int]: ...
    def w(self, name: str) -> Any:
        """The table ``name``, copied first if this step has not written it yet."""
        own = self._own
        tables = self.__dict__
        if name in own:  # type: ignore[operator]
            return tables[name]
        if own is None:
            raise RuntimeError("a finished State is immutable")
        table = tables[name] = dict(tables[name])
        own.add(name)
        return table

    def w_ptes(self, pid: int) -> dict[int, int]:
        """The page table of ``pid``, copied first if this step has not written it yet."""
        own = self._own_pt
        if own is not None and pid in own:
            return self.ptes[pid]
        outer = self.w("ptes")
        outer[pid] = table = dict(outer.get(pid, {}))
        own.add(pid)  # type: ignore[union-attr]
        return table

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to a cumulative counter."""
        self.w("counters")[name] += n

    # ----- ids -----------------------------------------------------------------------

    def alloc_id(self, kind: str) -> int:
        """The next id of a kind of design object, from 1, never reused (semantics.md#numbering)."""
        ids = self.w("next_ids")
        ident = ids.get(kind, 1)
        ids[kind] = ident + 1
        return ident

    def alloc_vma_id(self) -> int:
        vid = self.next_vma
        self.next_vma += 1
        return vid

    # ----- vmas and mms --------------------------------------------------------------

    def put_vma(self, vma: Vma) -> None:
        """Store a new or changed vma; the mm's ordering is refreshed by ``set_mm``."""
        self.w("vmas")[vma.id] = vma

    def set_mm(self, pid: int, vma_ids: list[int] | tuple[int, ...]) -> None:
        """Replace the vma list of ``pid``, sorting it by ``vm_start``."""
        vmas = self.vmas
        ordered = sorted(vma_ids, key=lambda v: vmas[v].vm_start)
        self.w("mms")[pid] = Mm(pid, tuple(ordered), tuple(vmas[v].vm_start for v in ordered))

    def refresh_mm(self, pid: int) -> None:
        """Re-sort ``pid``'s vmas after their ranges changed."""
        self.set_mm(pid, self.mms[pid].vmas)

    # ----- lookups -------------------------------------------------------------------

    def find_vma(self, pid: int, addr: int) -> Vma | None:
        """``find_vma``: the first vma with ``vm_end > addr``."""
        mm = self.mms[pid]
        i = bisect_right(mm.starts, addr) - 1
        if i >= 0:
            vma = self.vmas[mm.vmas[i]]
            if vma.vm_end > addr:
                return vma
        if i + 1 < len(mm.vmas):
            return self.vmas[mm.vmas[i + 1]]
        return None

    def vma_at(self, pid: int, addr: int) -> Vma | None:
        """The vma of ``pid`` containing ``addr``, if any."""
        vma = self.find_vma(pid, addr)
        if vma is not None and vma.vm_start <= addr:
            return vma
        return None

    def neighbours(self, vma: Vma) -> tuple[Vma | None, Vma | None]:
        """The vmas just before and just after ``vma`` in its mm (adjacent or not)."""
        mm = self.mms[vma.pid]
        i = mm.vmas.index(vma.id)
        prev = self.vmas[mm.vmas[i - 1]] if i > 0 else None
        nxt = self.vmas[mm.vmas[i + 1]] if i + 1 < len(mm.vmas) else None
        return prev, nxt

    def range_is_free(self, pid: int, start: int, end: int) -> bool:
        """True when no vma of ``pid`` overlaps ``[start, end)``."""
        vma = self.find_vma(pid, start)
        return vma is None or vma.vm_start >= end

    def get_unmapped_area(self, pid: int, length: int) -> int | None:
        """The lowest free range of ``length`` bytes at or above ``MMAP_MIN_ADDR``."""
        addr = MMAP_MIN_ADDR
        for vid in self.mms[pid].vmas:
            vma = self.vmas[vid]
            if vma.vm_end <= addr:
                continue
            if vma.vm_start - addr >= length:
                return addr
            addr = max(addr, vma.vm_end)
        return addr if addr + length <= TASK_SIZE else None
