"""The invariant checker: semantics.md#invariants (G1-G11) for every design, then the design's own
rules.

A correct state breaks none of them after any complete op. A violation is expected only
in a buggy teaching mode (``rfc2_literal``), where it is the lesson.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .designs import DESIGN_TABLES, Design, Violation, get_design
from .mapindex import Appended, MapIndex, Mapper
from .memo import IdentityMemo
from .state import (
    PAGE_SHIFT,
    PAGE_SIZE,
    PG_SWAPCACHE,
    PTE_KIND,
    PTE_PAGE,
    PTE_SHIFT,
    PTE_SWAP,
    PTE_WRITE,
    PTE_ZERO,
    State,
    ptes_in_range,
)

#: The tables the invariants read: the machine's, every design's own (``Design.tables``) and
#: the bugs. Values and counters are not among them, so a step that only reads, or writes a
#: value into a present page, leaves the verdict as it was.
CHECKED = (
    "mms",
    "ptes",
    "vmas",
    "page_mapcount",
    "page_flags",
    "page_mapping",
    "page_index",
    "page_private",
    "swap_ptes",
    "swap_cache",
    *DESIGN_TABLES,
    "bugs",
)
_verdicts: IdentityMemo[tuple[Violation, ...]] = IdentityMemo(32)
MODES = ("full", "incremental")
_mode = "full"


def set_mode(mode: str) -> None:
    """``full``: check the whole state after every step (the default, and the tests');
    ``incremental``: check what the step touched (the service and the CLI)."""
    global _mode
    if mode not in MODES:
        raise ValueError(f"unknown check mode {mode!r}; the modes are {', '.join(MODES)}")
    _mode = mode


def check(state: State) -> list[Violation]:
    """Every invariant the state breaks (an empty list when it is sound).

    A state whose checked tables are the very same objects as a recent state's has that
    state's verdict (``IdentityMemo``): a read, or a write into a present page, costs no
    new check. In ``incremental`` mode a state is checked against a recent sound state of
    the same design: only what differs between them (``Scope``) is checked again.
    """
    design = get_design(state.design, state.options)
    key = (*(getattr(state, name) for name in CHECKED), design, *design.check_key(state))
    return list(_verdicts.get(key, lambda: tuple(_verdict(state, design))))


@dataclass(slots=True)
class Scope:
    """What differs between a sound base state and the state being checked: every object
    whose invariants could have changed. Objects outside it keep the base's (sound)
    verdict."""

    #: processes whose vma list or vmas changed
    pids: set[int] = field(default_factory=set)
    #: by pid, the vpns of every PTE that changed, or lies in a vma that changed
    ptes: dict[int, set[int]] = field(default_factory=dict)
    frames: set[int] = field(default_factory=set)
    slots: set[int] = field(default_factory=set)
    #: frames that only gained mappers (a fork's, a new sharer's): the frame's own fields
    #: but its mapcount are as they were, its mapcount counts its mappers (G3), no PTE
    #: that mapped it changed, and the design says its walk still reaches every PTE it
    #: reached (``Design.reach_kept``). Each maps to the number of its old mappers, which
    #: lead its list of mappers and keep their (sound) verdicts: only the new ones are
    #: checked (G7, G9, G11 and the design's rules); G3-G5 hold for the frame itself.
    grown: dict[int, int] = field(default_factory=dict)
    #: by frame, the mappers the step added (or changed), last in its list of mappers
    added: dict[int, tuple[Mapper, ...]] = field(default_factory=dict)


@dataclass(slots=True)
class _Sound:
    """A state found sound, with its map index: the base of its successors' checks."""

    state: State
    index: MapIndex


#: recent sound states (incremental mode), newest last: enough for the sessions a worker
#: serves in turn to find their parents
_sound: deque[_Sound] = deque(maxlen=16)
_GONE = object()


def _verdict(state: State, design: Design) -> list[Violation]:
    base = _base(state) if _mode == "incremental" else None
    if (
        base is not None
        and not design.check_grown
        and len(_changed(base.state.page_mapcount, state.page_mapcount)) * 2
        > len(state.page_mapcount)
    ):
        # the step touched most frames (a fork) in a design that checks every mapper of a
        # touched frame again: checking all of it costs less
        base = None
    if base is None:
        index, scope = MapIndex.build(state), None
    else:
        index, scope = _advance(base, state, design)
    out = _check(state, design, index, scope)
    if _mode == "incremental" and not out:
        _sound.append(_Sound(state, index))
    return out


def _base(state: State) -> _Sound | None:
    """The remembered sound state that shares the most checked tables with ``state`` (its
    parent, normally: a step copies only what it writes), if it shares at least half."""
    best, shared = None, len(CHECKED) // 2 - 1
    for sound in reversed(_sound):  # newest first: of equals, the parent, not an ancestor
        if sound.state.design != state.design or sound.state.options != state.options:
            continue
        same = sum(getattr(sound.state, name) is getattr(state, name) for name in CHECKED)
        if same > shared:
            best, shared = sound, same
    return best


def _changed(old: dict[Any, Any], new: dict[Any, Any]) -> set[Any]:
    """The keys whose value differs between two versions of a table."""
    if old is new:
        return set()
    if not old or not new:  # (a new process's page table, or a dead one's)
        return set(new or old)
    # identity first: an unchanged inner table (a page table) is the very same object, and
    # comparing it by value would cost its whole size
    out = {k for k, v in new.items() if (o := old.get(k, _GONE)) is not v and o != v}
    out.update(k for k in old if k not in new)
    return out


def _advance(base: _Sound, new: State, design: Design) -> tuple[MapIndex, Scope]:
    """The map index of ``new`` from the base's, and the scope of the check."""
    old = base.state
    scope = Scope()
    ptes = scope.ptes
    for pid in _changed(old.ptes, new.ptes):
        ptes[pid] = _changed(old.ptes.get(pid, {}), new.ptes.get(pid, {}))
    vmas, anon_vmas = _changed_vmas(old, new)
    anonmms, owners = _changed_anonmms(old, new)
    for pid in owners:  # every PTE of a process whose anonmm changed
        for st in (old, new):
            ptes.setdefault(pid, set()).update(st.ptes.get(pid, ()))
    scope.pids = _changed(old.mms, new.mms)
    _vma_ptes(old, new, vmas, scope)
    frames, slots = scope.frames, scope.slots
    moved: set[int] = set()  # frames whose own fields (but the mapcount) changed
    for name in _FRAME_FIELDS:
        moved |= _changed(getattr(old, name), getattr(new, name))
    moved.update(
        b.pfn
        for st in (old, new)
        for b in (st.pte_chains.get(i) for i in _changed(old.pte_chains, new.pte_chains))
        if b
    )
    frames |= moved | _changed(old.page_mapcount, new.page_mapcount)
    targets = anon_vmas | anonmms | vmas
    if targets:  # pages whose page->mapping points at a changed object
        frames.update(pfn for pfn, t in new.page_mapping.items() if t in targets)
    slots |= _changed(old.swap_ptes, new.swap_ptes) | _changed(old.swap_cache, new.swap_cache)
    index, gone, scope.added = _reindex(base.index, old, new, ptes, frames, slots)
    scope.grown = _grown(old, new, design, index, moved, gone, scope.added)
    for st in (old, new) if old.page_private is not new.page_private else (new,):
        private = st.page_private
        slots.update(private[pfn] for pfn in frames & private.keys())
    for st in (old, new) if old.swap_cache is not new.swap_cache else (new,):
        cache = st.swap_cache
        frames.update(cache[slot] for slot in slots & cache.keys())
    return index, scope


#: what a frame must keep for its old mappers' verdicts to hold (its mapcount may change)
_FRAME_FIELDS = ("page_flags", "page_mapping", "page_index", "page_private", "page_pte")


def _grown(
    old: State,
    new: State,
    design: Design,
    index: MapIndex,
    moved: set[int],
    gone: dict[int, set[tuple[int, int]]],
    added: dict[int, tuple[Mapper, ...]],
) -> dict[int, int]:
    """``Scope.grown``: the frames that gained mappers (``added``), lost none (``gone``),
    kept their own fields (not ``moved``) and count every mapper (G3), with the number of
    mappers each had."""
    out = {}
    old_mc, new_mc = old.page_mapcount, new.page_mapcount
    flags, mapping, mappers = new.page_flags, new.page_mapping, index.page_mappers
    kept: dict[tuple[int | None, int], bool] = {}  # by the fields the walk starts from
    target: int | None = -1  # and the last of them, with its answer
    f, ok = -1, False
    for pfn, new_ones in added.items():
        if pfn in gone or pfn in moved or pfn not in old_mc or pfn not in new_mc:
            continue
        if mapping.get(pfn) != target or flags.get(pfn, 0) != f:
            target, f = mapping.get(pfn), flags.get(pfn, 0)
            if f & PG_SWAPCACHE:
                ok = False  # its slot's holders share its verdicts: checked whole
            elif (known := kept.get((target, f))) is not None:
                ok = known
            else:
                ok = kept[target, f] = design.reach_kept(old, new, pfn)
        if ok and new_mc[pfn] == len(them := mappers[pfn]):
            out[pfn] = len(them) - len(new_ones)
    return out


def _reindex(
    index: MapIndex,
    old: State,
    new: State,
    ptes: dict[int, set[int]],
    frames: set[int],
    slots: set[int],
) -> tuple[MapIndex, dict[int, set[tuple[int, int]]], dict[int, tuple[Mapper, ...]]]:
    """``index`` (of ``old``) brought up to ``new`` by redoing the entries of ``ptes``; the
    frames and slots whose mappers changed join ``frames`` and ``slots``. Also returns,
    by frame, the (pid, vpn) of the entries that stopped mapping it (or changed) and the
    mappers that started (or changed), which come last in its list."""
    # by kind (the frames of PTE_PAGE entries, the slots of PTE_SWAP ones)
    gone: dict[int, dict[int, set[tuple[int, int]]]] = {PTE_PAGE: {}, PTE_SWAP: {}}
    added: dict[int, dict[int, tuple[Mapper, ...]]] = {PTE_PAGE: {}, PTE_SWAP: {}}
    pages, holders = added[PTE_PAGE], added[PTE_SWAP]
    outside = []
    for pid, vpns in ptes.items():
        was, now = old.ptes.get(pid, {}), new.ptes.get(pid, {})
        for vpn in vpns if was else ():  # (a new process has no old entries)
            before = was.get(vpn)
            if before is not None and before & PTE_KIND in gone:
                gone[before & PTE_KIND].setdefault(before >> PTE_SHIFT, set()).add((pid, vpn))
        mm = new.mms.get(pid)
        vmas = [new.vmas[v] for v in mm.vmas if v in new.vmas] if mm is not None else []
        starts = [v.vm_start >> PAGE_SHIFT for v in vmas]
        lo = hi = 0  # the range of the last vma found, and its id
        vid: int | None = None
        for vpn in vpns:
            after = now.get(vpn)
            if after is None:
                continue
            if not lo <= vpn < hi:
                i = bisect_right(starts, vpn) - 1
                if i >= 0 and vpn < vmas[i].vm_end >> PAGE_SHIFT:
                    lo, hi, vid = starts[i], vmas[i].vm_end >> PAGE_SHIFT, vmas[i].id
                else:
                    lo = hi = 0
                    vid = None
                    outside.append((pid, vpn))
            kind = after & PTE_KIND
            if kind == PTE_PAGE:
                ident = after >> PTE_SHIFT
                pages[ident] = (*pages.get(ident, ()), (pid, vpn, vid))
            elif kind == PTE_SWAP:
                ident = after >> PTE_SHIFT
                holders[ident] = (*holders.get(ident, ()), (pid, vpn, vid))
    out = MapIndex(
        _merged(index.page_mappers, gone[PTE_PAGE], added[PTE_PAGE], frames),
        _merged(index.slot_holders, gone[PTE_SWAP], added[PTE_SWAP], slots),
        [o for o in index.outside if o[1] not in ptes.get(o[0], ())] + outside,
    )
    return out, gone[PTE_PAGE], added[PTE_PAGE]


#: below this many mappers, a frame's list is a tuple, copied to grow
_SHORT = 16


def _merged(
    table: dict[int, Sequence[Mapper]],
    gone: dict[int, set[tuple[int, int]]],
    added: dict[int, tuple[Mapper, ...]],
    touched: set[int],
) -> dict[int, Sequence[Mapper]]:
    """A copy of ``table`` (frames' mappers or slots' holders) without the ``gone`` entries
    and with the ``added`` ones last; the keys of both join ``touched``."""
    if not gone and not added:
        return table
    out = dict(table)
    for ident, drop in gone.items():
        out[ident] = tuple(m for m in out.get(ident, ()) if (m[0], m[1]) not in drop)
    for ident, them in added.items():
        had = out.get(ident)
        if had is None:
            out[ident] = them
        elif isinstance(had, tuple) and len(had) < _SHORT:
            out[ident] = had + them
        else:  # a long list grows in place (a fork storm's frames), shared with the base
            out[ident] = Appended.join(had, them)
    for ident in gone:
        if not out[ident]:
            del out[ident]
    touched.update(gone)
    touched.update(added)
    return out


def _check(state: State, design: Design, index: MapIndex, scope: Scope | None) -> list[Violation]:
    out: list[Violation] = []
    writable = _writable(state, scope)
    mapped = _in(index.page_mappers, None if scope is None else scope.frames)
    _layout(state, index, out, scope, writable)
    # a frame that only gained mappers keeps its (sound) fields and counts its mappers
    whole = None if scope is None else scope.frames - scope.grown.keys()
    _frames(state, index, whole, out, scope, writable)
    _swap(state, index, whole, out, scope)
    _rmap(state, mapped, out, scope)
    if scope is None or not design.check_scoped:
        return out + design.check(state, index)
    holders = {s: index.slot_holders[s] for s in scope.slots if s in index.slot_holders}
    kept = scope.grown if design.check_grown else {}
    if kept:  # a frame that only gained mappers shows its new ones and one old one: the old
        # ones agreed with each other in the base (``Design.check_grown``)
        found = design.check(
            state,
            MapIndex(
                {
                    f: (m[k - 1], *scope.added[f]) if (k := kept.get(f)) else m
                    for f, m in mapped.items()
                },
                holders,
                index.outside,
            ),
        )
        if not found:
            return out
    # all of them (and again so if something was found, for the sentences a full check says)
    return out + design.check(state, MapIndex(mapped, holders, index.outside))


def _in(table: dict[int, Any], keys: set[int] | None) -> dict[int, Any]:
    """The entries of ``table`` under ``keys`` (all of them when ``keys`` is None)."""
    if keys is None:
        return table
    return {k: table[k] for k in keys if k in table}


def _writable(st: State, scope: Scope | None) -> list[tuple[int, int, int]]:
    """(pid, vpn, pte) of every writable PTE in scope (all of them without a scope): what
    G7 and G8 look at."""
    tables = st.ptes
    if scope is None:
        return [
            (pid, vpn, pte)
            for pid, table in tables.items()
            for vpn, pte in table.items()
            if pte & PTE_WRITE
        ]
    out = []
    for pid, vpns in scope.ptes.items():
        get = tables.get(pid, {}).get
        out += [(pid, vpn, pte) for vpn in vpns if (pte := get(vpn, 0)) & PTE_WRITE]
    return out


def _layout(
    st: State,
    index: MapIndex,
    out: list[Violation],
    scope: Scope | None,
    writable: list[tuple[int, int, int]],
) -> None:
    """G1 (vma layout), G2 (PTE placement), G8 (zero page read-only)."""
    mms = st.mms if scope is None else {p: st.mms[p] for p in scope.pids if p in st.mms}
    for pid, mm in mms.items():
        last_end = -1
        for vid in mm.vmas:
            vma = st.vmas.get(vid)
            if vma is None:
                out.append(Violation("G1", f"pid {pid} lists vma {vid}, which does not exist."))
                continue
            if vma.pid != pid:
                out.append(
                    Violation(
                        "G1", f"vma {vid} is listed by pid {pid} but belongs to pid {vma.pid}."
                    )
                )
            if vma.vm_start % PAGE_SIZE or vma.vm_end % PAGE_SIZE or vma.vm_end <= vma.vm_start:
                out.append(
                    Violation(
                        "G1",
                        f"vma {vid} [{vma.vm_start:#x},{vma.vm_end:#x}) is "
                        "empty or not page-aligned.",
                    )
                )
            if vma.vm_start < last_end:
                out.append(Violation("G1", f"vma {vid} of pid {pid} overlaps or is out of order."))
            last_end = vma.vm_end
        if mm.starts != tuple(st.vmas[v].vm_start for v in mm.vmas if v in st.vmas):
            out.append(Violation("G1", f"the vma index of pid {pid} is stale."))
    for pid, vpn, pte in writable:
        if pte & PTE_KIND == PTE_ZERO:
            out.append(
                Violation("G8", f"pid {pid} maps the zero page writable at {vpn << PAGE_SHIFT:#x}.")
            )
    for pid, vpn in index.outside:
        out.append(
            Violation("G2", f"pid {pid} has a PTE at {vpn << PAGE_SHIFT:#x} outside every vma.")
        )
    owned = {v for mm in st.mms.values() for v in mm.vmas}
    for vid in st.vmas:
        if vid not in owned:
            out.append(Violation("G1", f"vma {vid} belongs to no process."))
    if set(st.ptes) != set(st.mms):
        out.append(Violation("G2", "page tables and processes do not match."))


def _frames(
    st: State,
    index: MapIndex,
    whole: set[int] | None,
    out: list[Violation],
    scope: Scope | None,
    writable: list[tuple[int, int, int]],
) -> None:
    """G3 (mapcount), G4 (frame liveness) over the frames ``whole`` (every frame when
    None); G7 (writability) over the writable PTEs in scope."""
    mapcount, mappers_of = st.page_mapcount, index.page_mappers
    for pfn, mappers in _in(mappers_of, whole).items():
        if pfn not in mapcount:
            where = ", ".join(f"pid {p} {v << PAGE_SHIFT:#x}" for p, v, _ in mappers)
            out.append(Violation("G4", f"frame {pfn} is freed but still mapped ({where})."))
    for pfn, mc in _in(mapcount, whole).items():
        n = len(mappers_of.get(pfn, ()))
        if mc != n:
            out.append(
                Violation("G3", f"frame {pfn} has mapcount {mc} but {n} present PTEs map it.")
            )
        if mc == 0 and not st.page_flags[pfn] & PG_SWAPCACHE:
            out.append(
                Violation(
                    "G4",
                    f"frame {pfn} is allocated, unmapped and not in the swap "
                    "cache: it should have been freed.",
                )
            )
    if scope is not None and whole is not None:  # and every writable PTE mapping a frame
        # in scope but the old mappers of a frame that had two or more: none of their
        # (unchanged) PTEs was writable in the sound base (G7), so none is now
        grown, tables, in_scope = scope.grown, st.ptes, scope.ptes
        few = [pfn for pfn, k in grown.items() if k < 2]
        writable = writable + [
            (pid, vpn, pte)
            for pfn in (*whole, *few)
            for pid, vpn, _ in mappers_of.get(pfn, ())
            if (pte := tables[pid][vpn]) & PTE_WRITE and vpn not in in_scope.get(pid, ())
        ]
    for pid, vpn, pte in writable:
        if pte & PTE_KIND != PTE_PAGE:
            continue
        pfn = pte >> PTE_SHIFT
        if st.page_mapcount.get(pfn) != 1:
            mc = st.page_mapcount.get(pfn)
            out.append(
                Violation(
                    "G7",
                    f"pid {pid} maps frame {pfn} writable at "
                    f"{vpn << PAGE_SHIFT:#x} but "
                    + ("the frame is freed." if mc is None else f"its mapcount is {mc}."),
                )
            )
        elif st.page_flags[pfn] & PG_SWAPCACHE and st.swap_ptes.get(st.page_private[pfn], 0):
            out.append(
                Violation(
                    "G7",
                    f"pid {pid} maps frame {pfn} writable but swap PTEs "
                    f"still hold its slot {st.page_private[pfn]}.",
                )
            )


def _swap(
    st: State, index: MapIndex, whole: set[int] | None, out: list[Violation], scope: Scope | None
) -> None:
    """G5 (swap cache bijection), G6 (swap counts), over the slots in scope and the frames
    ``whole`` (every one of them when None)."""
    slots = None if scope is None else scope.slots
    for slot, pfn in _in(st.swap_cache, slots).items():
        if (
            pfn not in st.page_mapcount
            or not st.page_flags[pfn] & PG_SWAPCACHE
            or st.page_private.get(pfn) != slot
        ):
            out.append(
                Violation("G5", f"slot {slot} caches frame {pfn}, which does not point back at it.")
            )
    for pfn, flags in _in(st.page_flags, whole).items():
        if flags & PG_SWAPCACHE:
            private = st.page_private.get(pfn)
            if private is None or st.swap_cache.get(private) != pfn:
                out.append(
                    Violation(
                        "G5",
                        f"frame {pfn} is PG_swapcache for slot {private}, which does not cache it.",
                    )
                )
            if private not in st.swap_ptes:
                out.append(
                    Violation(
                        "G5",
                        f"frame {pfn} is in the swap cache of slot "
                        f"{private}, which is not allocated.",
                    )
                )
    for slot in _in(index.slot_holders, slots):
        if slot not in st.swap_ptes:
            out.append(Violation("G6", f"swap PTEs hold slot {slot}, which is free."))
    for slot, ptes in _in(st.swap_ptes, slots).items():
        held = len(index.slot_holders.get(slot, ()))
        if ptes != held:
            out.append(Violation("G6", f"slot {slot} counts {ptes} swap PTEs but {held} hold it."))
        if ptes == 0 and slot not in st.swap_cache:
            out.append(Violation("G6", f"slot {slot} is held by nothing but was not freed."))


def _rmap(
    st: State, mapped: dict[int, Sequence[Mapper]], out: list[Violation], scope: Scope | None
) -> None:
    """G9 (rmap completeness) and G11 (offsets), through the design's own walk, over the
    frames ``mapped`` (those in scope, with their mappers)."""
    design = get_design(st.design, st.options)
    grown, added = (scope.grown, scope.added) if scope is not None else ({}, {})
    mapcount = st.page_mapcount
    # a frame that only gained mappers: its old ones keep their verdicts
    todo = {
        pfn: added[pfn] if pfn in grown else mappers
        for pfn, mappers in mapped.items()
        if pfn in mapcount
    }
    missed, placed = design.reach(st, todo)
    vmas, page_index, index_at = st.vmas, st.page_index, design.page_index_at
    for pfn, mappers in todo.items():
        for pid, vpn, _ in missed.get(pfn, ()):
            out.append(
                Violation(
                    "G9",
                    f"frame {pfn} is mapped by pid {pid} at "
                    f"{vpn << PAGE_SHIFT:#x}, but its reclaim walk cannot reach "
                    "that PTE: reclaim would leave it mapped.",
                )
            )
        index_of = page_index.get(pfn)
        if index_of is None or pfn in placed:
            continue
        for _, vpn, vid in mappers:
            vma = vmas.get(vid) if vid is not None else None
            if vma is None:
                continue
            expected = index_at(vma, vpn << PAGE_SHIFT)
            if expected is not None and expected != index_of:
                out.append(
                    Violation(
                        "G11",
                        f"frame {pfn} has index {index_of}, but vma {vid} "
                        f"maps it at {vpn << PAGE_SHIFT:#x}, where the index "
                        f"should be {expected}.",
                    )
                )


__all__ = ["check"]


def _vma_ptes(old: State, new: State, vmas: set[int], scope: Scope) -> None:
    """The processes of changed vmas, and every PTE in their old and new ranges, join
    ``scope``."""
    for vid in vmas:
        for st in (old, new):
            vma = st.vmas.get(vid)
            if vma is None:
                continue
            scope.pids.add(vma.pid)
            vpns = scope.ptes.setdefault(vma.pid, set())
            for table in (old.ptes.get(vma.pid, {}), new.ptes.get(vma.pid, {})):
                if not vpns.issuperset(table):  # (a new process's are all in already)
                    lo, hi = vma.vm_start >> PAGE_SHIFT, vma.vm_end >> PAGE_SHIFT
                    vpns.update(vpn for vpn, _ in ptes_in_range(table, lo, hi))


def _changed_vmas(old: State, new: State) -> tuple[set[int], set[int]]:
    """The vmas and anon_vmas that changed, directly or through an anon_vma_chain."""
    vmas = _changed(old.vmas, new.vmas) | _changed(old.vma_chain, new.vma_chain)
    anon_vmas = _changed(old.anon_vmas, new.anon_vmas)
    for avc_id in _changed(old.avcs, new.avcs):
        for st in (old, new):
            avc = st.avcs.get(avc_id)
            if avc is not None:
                vmas.add(avc.vma)
                anon_vmas.add(avc.anon_vma)
    # a vma chained to an anon_vma (anon_vma_chain) that came, went or changed its root
    # changed with it: the rules of the pages it maps compare roots. One whose tree grew (a
    # fork's) or whose counts changed leaves them as they were (the counts are checked
    # whole, and the pages that point at it are in scope through their page->mapping).
    rooted = {
        a
        for a in anon_vmas
        if (was := old.anon_vmas.get(a)) is None
        or (now := new.anon_vmas.get(a)) is None
        or getattr(was, "root", None) != getattr(now, "root", None)
    }
    if rooted:
        vmas.update(avc.vma for avc in new.avcs.values() if avc.anon_vma in rooted)
    return vmas, anon_vmas


def _changed_anonmms(old: State, new: State) -> tuple[set[int], set[int]]:
    """The anonmms that changed (with every member of a changed ring), and the processes
    that own one of them or whose ``mm->anonmm`` changed."""
    # but an anonmm whose reference count alone changed (a page of it mapped or freed), or
    # whose ring only grew (a fork's): D2.4 checks the counts over the whole state, and a
    # walk through a ring that lost no mm still reaches every PTE it reached (the frames
    # whose walk it is that gained mappers are in scope by their mapcounts)
    anonmms = {
        a
        for a in _changed(old.anonmms, new.anonmms)
        if (was := old.anonmms.get(a)) is None
        or (now := new.anonmms.get(a)) is None
        or replace(was, count=now.count, ring=now.ring) != now
        or not set(was.ring) <= set(now.ring)
    }
    owners = _changed(old.mm_anonmm, new.mm_anonmm)
    for pid in owners:
        anonmms.update(a for a in (old.mm_anonmm.get(pid), new.mm_anonmm.get(pid)) if a is not None)
    if anonmms:  # a ring's members reach it through their head
        anonmms.update(a.id for a in new.anonmms.values() if a.head in anonmms)
        owners.update(
            st.anonmms[a].pid
            for st in (old, new)
            for a in anonmms
            if a in st.anonmms and st.anonmms[a].pid is not None
        )
    return anonmms, owners
