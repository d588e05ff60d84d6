"""What a step tells: events (the narration), reclaim walks and the step result."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from .state import PAGE_SHIFT, State, Vma, pte_fields

if TYPE_CHECKING:
    from .designs.base import Design


_NONE = re.compile(r"\bNone\b")


def plain(text: str) -> str:
    """A sentence as a student reads it: a missing pointer is NULL, as in the kernel, never
    Python's None (texts format ids that may be missing)."""
    return _NONE.sub("NULL", text) if "None" in text else text


@dataclass(frozen=True, slots=True)
class Event:
    """One thing the simulated kernel did.

    ``func`` names the kernel function it models, by the name of the design's era
    (``mm/memory.c:do_wp_page``), or starts with "simulator: " for a modelling choice;
    ``objects`` lists the objects involved as ``{"kind", "id"}`` (a PTE is
    ``{"kind": "pte", "pid", "addr"}``, a range of PTEs ``{"kind": "pte_range", ...}``);
    ``text`` is one sentence a student understands, in plain words; ``ref``, for readers of
    the code, is the anchor of docs/semantics.md that explains a modelling choice.
    """

    kind: str
    func: str
    text: str
    objects: tuple[dict[str, Any], ...] = ()
    ref: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = {
            "kind": self.kind,
            "func": self.func,
            "text": self.text,
            "objects": [dict(o) for o in self.objects],
        }
        if self.ref:
            out["ref"] = self.ref
        return out


class Visit(NamedTuple):
    """One container the reclaim walk probed: hit, miss, or skip (address out of range).

    ``pte_before``/``pte_after`` are the raw PTE the probe found and what it holds after
    (None: no PTE there, or a skip that never looked). ``vma`` is the vma a vma visit
    probed, as the walk found it (immutable, so kept as is), and ``page_index`` the
    ``page->index`` its ``vma_address`` is computed from; both None for other visits.
    """

    kind: str
    id: int
    result: str
    pid: int | None = None
    addr: int | None = None
    note: str | None = None
    pte_before: int | None = None
    pte_after: int | None = None
    vma: Vma | None = None
    page_index: int | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "id": self.id,
            "result": self.result,
            "pid": self.pid,
            "addr": self.addr,
        }
        if self.note:
            out["note"] = self.note
        out["pte_before"] = None if self.pte_before is None else pte_fields(self.pte_before)
        out["pte_after"] = None if self.pte_after is None else pte_fields(self.pte_after)
        vma, index = self.vma, self.page_index
        if vma is None or index is None:
            out.update(vma_address=None, vm_start=None, vm_end=None, vm_pgoff=None)
        else:  # vma_address(), inside the vma or not
            out.update(
                vma_address=vma.vm_start + ((index - vma.vm_pgoff) << PAGE_SHIFT),
                vm_start=vma.vm_start,
                vm_end=vma.vm_end,
                vm_pgoff=vma.vm_pgoff,
            )
        return out


@dataclass(frozen=True, slots=True)
class Walk:
    """The ``try_to_unmap`` walk of one frame (semantics.md#sizes, semantics.md#walk-accounting).

    ``visited`` stops once the mapcount reaches 0; ``candidates`` counts everything
    the walk would iterate without that early exit. ``index`` is the ``page->index`` the
    walk computes addresses from (None where the design's walk uses none), ``slot`` the
    swap slot every hit PTE receives, ``mapcount`` the page's mapcount as the walk began.
    """

    pfn: int
    via: dict[str, Any] | None
    visited: tuple[Visit, ...]
    candidates: int
    unmapped: int
    remaining: int
    index: int | None = None
    slot: int | None = None
    mapcount: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "pfn": self.pfn,
            "via": self.via,
            "visited": [v.to_json() for v in self.visited],
            "candidates": self.candidates,
            "unmapped": self.unmapped,
            "remaining": self.remaining,
            "index": self.index,
            "slot": self.slot,
            "mapcount": self.mapcount,
        }


@dataclass(slots=True)
class Step:
    """The working context of one ``apply``: the successor state and what it reports."""

    state: State
    design: Design
    events: list[Event] = field(default_factory=list)
    walks: list[Walk] = field(default_factory=list)
    outcome: str = "ok"
    value: int | None = None
    result: dict[str, Any] = field(default_factory=dict)
    _bulk: dict[tuple[str, str], list[Any]] | None = None

    def emit(
        self, kind: str, role: str, text: str, *objects: dict[str, Any], ref: str | None = None
    ) -> None:
        """Record an event; ``role`` names the kernel function by its role in the era
        table (``eras.py``). Inside ``bulk()`` repeated kinds fold into one range event."""
        func = self.design.funcs[role]
        text = plain(text)
        if self._bulk is None:
            self.events.append(Event(kind, func, text, tuple(objects), ref))
            return
        seen = self._bulk.get((kind, func))
        if seen is None:
            self._bulk[(kind, func)] = [text, objects, 1]
        else:
            seen[2] += 1

    def fold(self, kind: str, role: str) -> bool:
        """Inside ``bulk()``, count one more event of a kind already being folded and return
        True: its text would be dropped, so a hot path need not build it. False otherwise,
        and the caller emits as usual."""
        if self._bulk is None:
            return False
        seen = self._bulk.get((kind, self.design.funcs[role]))
        if seen is None:
            return False
        seen[2] += 1
        return True

    def begin_bulk(self) -> None:
        """Start folding events: bulk work is one range event, not one per PTE."""
        self._bulk = {}

    def end_bulk(self) -> None:
        """Stop folding; each folded kind becomes one event ("N times, first: ...")."""
        bulk, self._bulk = self._bulk or {}, None
        for (kind, func), (text, objects, n) in bulk.items():
            if n > 1:
                text = f"{n} times; the first: {text}"
            self.events.append(Event(kind, func, text, tuple(objects)))


@dataclass(frozen=True, slots=True)
class StepResult:
    """What ``apply`` returns: the new state and everything the step reported."""

    state: State
    events: tuple[Event, ...]
    walks: tuple[Walk, ...]
    outcome: str
    value: int | None
    result: dict[str, Any]


def obj(kind: str, ident: int) -> dict[str, Any]:
    """An object reference for an event."""
    return {"kind": kind, "id": ident}


def anon_vma_obj(ident: int | None) -> tuple[dict[str, Any], ...]:
    """An anon_vma as event objects: one, or none for NULL (a vma without one)."""
    return () if ident is None else (obj("anon_vma", ident),)


def pte_obj(pid: int, addr: int) -> dict[str, Any]:
    """A PTE reference for an event."""
    return {"kind": "pte", "pid": pid, "addr": addr}


def hexa(addr: int) -> str:
    """An address as a student reads it."""
    return f"{addr:#x}"


def span(start: int, end: int) -> str:
    return f"[{start:#x},{end:#x})"


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


def id_list(kind: str, ids: list[int] | tuple[int, ...], limit: int = 8) -> str:
    """'frames 1, 2 and 3' / 'frame 4' / 'frames 1, 2, ... (40 in all)'."""
    ids = list(ids)
    if not ids:
        return f"no {kind}s"
    if len(ids) == 1:
        return f"{kind} {ids[0]}"
    if len(ids) > limit:
        shown = ", ".join(str(i) for i in ids[:limit])
        return f"{kind}s {shown}, ... ({len(ids)} in all)"
    return f"{kind}s " + ", ".join(str(i) for i in ids[:-1]) + f" and {ids[-1]}"
