"""Comparing one step: the simulator's view against the kernel's, aspect by aspect."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .decode import (
    KPF_ANON,
    KPF_ANON_EXCLUSIVE_ALIAS,
    KPF_COMPOUND_HEAD,
    KPF_COMPOUND_TAIL,
    KPF_SWAPCACHE,
    kpf_has,
)
from .perform import KernelStep
from .views import (
    EngineView,
    KernelView,
    engine_pte_text,
    ident_text,
    kernel_pte_text,
    pos_text,
    vmas_text,
)

AGREE = "agree"
DIFFER = "differ"
NOT_OBSERVABLE = "not observable"
NOT_CHECKABLE = "not checkable"
SUSPENDED = "suspended"
NOT_CHECKED = "not checked"

#: The aspects compared after every step, in report order.
ASPECTS = (
    "op",
    "outcome",
    "processes",
    "vmas",
    "ptes",
    "frames",
    "swap_slots",
    "mapcount",
    "exclusive",
    "swapcache",
)
#: The aspects that a not-checkable page-out makes meaningless from then on.
PAGE_ASPECTS = ("ptes", "frames", "swap_slots", "mapcount", "exclusive", "swapcache")


@dataclass
class Aspect:
    name: str
    status: str = AGREE
    differences: list[dict[str, str]] = field(default_factory=list)
    note: str | None = None

    def differ(self, what: str, engine: str, kernel: str) -> None:
        self.status = DIFFER
        self.differences.append({"what": what, "engine": engine, "kernel": kernel})

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "aspect": self.name,
            "status": self.status,
            "differences": self.differences,
        }
        if self.note:
            out["note"] = self.note
        return out


class Identity:
    """Keeps the simulator's frame (or slot) numbers matched with the kernel's over time.

    The simulator never reuses a number; the kernel reuses a frame or a swap offset as soon
    as it is free. So a pair must stay matched while the simulator's object is alive, and a
    kernel number may move on to a new simulator object only once the old one is gone.
    """

    def __init__(self, kind: str, label: Any) -> None:
        self.kind = kind
        self.label = label
        self.e2k: dict[int, Any] = {}
        self.k2e: dict[Any, int] = {}
        self.since: dict[int, int] = {}

    def check(
        self,
        pairs: dict[int, Any],
        alive: set[int],
        step: int,
        aspect: Aspect,
        lingering: set[Any] | None = None,
    ) -> list[str]:
        notes = []
        for e, k in sorted(pairs.items()):
            known = self.e2k.get(e)
            if known is not None and known != k:
                aspect.differ(
                    f"{self.kind} {self.label(e)} (the same one since step {self.since[e]})",
                    f"still {self.kind} {self.label(e)}",
                    f"was {ident_text(known)}, now {ident_text(k)}",
                )
            old = self.k2e.get(k)
            if old is not None and old != e:
                if old in alive:
                    aspect.differ(
                        f"{self.kind} {self.label(e)}",
                        f"a different {self.kind} from {self.label(old)}, which still exists",
                        f"the same {ident_text(k)} as {self.label(old)}",
                    )
                elif lingering is not None and k in lingering:
                    notes.append(
                        f"{self.label(e)} is frame {ident_text(k)} again in the kernel: its swap "
                        "cache still held the page that MADV_PAGEOUT wrote out, where the "
                        "simulator's reclaim frees the frame at once (docs/semantics.md#reclaim)"
                    )
        for e, k in pairs.items():
            if self.e2k.get(e) != k:
                self.since[e] = step
            self.e2k[e] = k
            self.k2e[k] = e
        return notes


class Comparator:
    """Compares each step; keeps the frame and slot numbers of both sides matched over time.

    ``frames_visible``: the kernel shows frame numbers and kpageflags (root);
    ``exclusive_bit``: kpageflags bit 34 follows PG_anon_exclusive (calibrated).
    """

    def __init__(self, frames_visible: bool, exclusive_bit: bool, exclusive_note: str) -> None:
        self.hidden = not frames_visible
        self.exclusive_bit = exclusive_bit
        self.exclusive_note = exclusive_note
        self.frames = Identity("frame", lambda e: f"F{e}")
        self.slots = Identity("slot", lambda e: f"S{e}")

    def compare(
        self,
        index: int,
        engine_step: Mapping[str, Any],
        eng: EngineView,
        ker: KernelView,
        ks: KernelStep,
        *,
        lingering: set[int] | None = None,
        suspended: tuple[int, str] | None = None,
    ) -> tuple[list[Aspect], list[str]]:
        """The aspects of one step and the notes on them. ``lingering``: kernel frames a
        page-out left in the swap cache; ``suspended``: since which step, and why, the page
        state is no longer compared."""
        aspects = {name: Aspect(name) for name in ASPECTS}
        notes: list[str] = []
        if ks.not_checkable:
            for name in ("op", "outcome"):
                aspects[name] = Aspect(name, NOT_CHECKABLE, note=ks.not_checkable)
        op_a = aspects["op"]
        for err in ks.errors:
            op_a.differ("the operation", "succeeds", err)
        if ks.placement:
            aspects["placement"] = Aspect("placement", NOT_CHECKABLE, note=ks.placement)
        if ks.lru_choice:
            aspects["lru_choice"] = Aspect("lru_choice", NOT_CHECKABLE, note=ks.lru_choice)
        if not ks.not_checkable:
            self._compare_outcome(aspects["outcome"], engine_step, ks)
        procs = aspects["processes"]
        live = sorted(pid for pid, ok in ker.alive.items() if ok)
        if sorted(eng.vmas) != live:
            procs.differ("live processes", str(sorted(eng.vmas)), str(live))
        vmas = aspects["vmas"]
        for pid in sorted(set(eng.vmas) | set(ker.vmas)):
            e, k = eng.vmas.get(pid, []), ker.vmas.get(pid, [])
            if e != k:
                vmas.differ(f"vmas of pid {pid}", vmas_text(e), vmas_text(k))
        for line in ker.stray:
            vmas.differ(
                "a mapping in the window that is not private anonymous memory", "(none)", line
            )
        if suspended is not None:
            since, reason = suspended
            for name in PAGE_ASPECTS:
                aspects[name] = Aspect(
                    name, SUSPENDED, note=f"not compared since step {since}: {reason}"
                )
        else:
            notes += self._compare_pages(index, aspects, eng, ker, lingering or set())
        return list(aspects.values()), notes

    def _compare_outcome(self, a: Aspect, step: Mapping[str, Any], ks: KernelStep) -> None:
        op = step["op"]
        if op["op"] not in ("read", "write"):
            if ks.outcome != "ok":
                a.differ("outcome", step["outcome"], ks.outcome)
            return
        if step["outcome"] != ks.outcome:
            a.differ("outcome", step["outcome"], ks.outcome)
        if op.get("pages", 1) > 1:
            done = step["result"].get("pages_done")
            if done != ks.pages_done:
                a.differ("pages done", str(done), str(ks.pages_done))
            if op["op"] == "read" and step["result"].get("values") != ks.values:
                a.differ("values read", str(step["result"].get("values")), str(ks.values))
        elif op["op"] == "read" and step["value"] != ks.value:
            a.differ("value read", str(step["value"]), str(ks.value))

    def _compare_pages(
        self,
        index: int,
        aspects: dict[str, Aspect],
        eng: EngineView,
        ker: KernelView,
        lingering: set[int],
    ) -> list[str]:
        notes: list[str] = []
        hidden = self.hidden
        pte_a = aspects["ptes"]
        if hidden:
            pte_a.note = (
                "without root the frame number is hidden: a present page and the "
                "zero page look the same"
            )
        positions = sorted(set(eng.ptes) | set(ker.ptes))
        _compare_ptes(pte_a, positions, eng, ker)
        # identity classes: which positions share one frame / one slot
        both_page = [
            p
            for p in positions
            if p in eng.ptes
            and p in ker.ptes
            and eng.ptes[p]["kind"] == "page"
            and ker.ptes[p].kind == "page"
        ]
        both_swap = [
            p
            for p in positions
            if p in eng.ptes
            and p in ker.ptes
            and eng.ptes[p]["kind"] == "swap"
            and ker.ptes[p].kind == "swap"
        ]
        frames_a, slots_a = aspects["frames"], aspects["swap_slots"]
        if hidden:
            frames_a.status = NOT_OBSERVABLE
            frames_a.note = "frame numbers are hidden without root"
        else:
            _partition(
                frames_a,
                "frame",
                both_page,
                lambda p: eng.ptes[p]["pfn"],
                lambda p: ker.ptes[p].pfn,
                "F",
            )
            pairs = {eng.ptes[p]["pfn"]: ker.ptes[p].pfn for p in both_page}
            notes += self.frames.check(pairs, set(eng.pages), index, frames_a, lingering)
        _partition(
            slots_a,
            "swap slot",
            both_swap,
            lambda p: eng.ptes[p]["slot"],
            lambda p: ker.ptes[p].swap,
            "S",
        )
        self.slots.check(
            {eng.ptes[p]["slot"]: ker.ptes[p].swap for p in both_swap}, eng.slots, index, slots_a
        )
        # per frame: mapcount, exclusive-mapped bit, PageAnonExclusive, swap cache
        mc_a, ex_a, sc_a = aspects["mapcount"], aspects["exclusive"], aspects["swapcache"]
        present = [
            p
            for p in positions
            if p in eng.ptes
            and p in ker.ptes
            and eng.ptes[p]["kind"] == "page"
            and ker.ptes[p].kind in ("page", "present")
        ]
        seen: set[int] = set()
        for pos in present:
            pfn = eng.ptes[pos]["pfn"]
            page = eng.pages[pfn]
            k = ker.ptes[pos]
            once = page["mapcount"] == 1
            if k.mapped_once != once:
                mc_a.differ(
                    f"F{pfn} at {pos_text(pos)}: pagemap bit 56 (mapped once)",
                    f"mapcount {page['mapcount']}",
                    "mapped once" if k.mapped_once else "mapped more than once",
                )
            if pfn in seen:
                continue
            seen.add(pfn)
            if k.count is not None and k.count != page["mapcount"]:
                mc_a.differ(
                    f"mapcount of F{pfn} ({pos_text(pos)})",
                    str(page["mapcount"]),
                    f"{k.count} (kpagecount of {k.pfn:#x})",
                )
            if k.flags is None:
                continue
            if self.exclusive_bit:
                e_ex = "exclusive" in page["flags"]
                k_ex = kpf_has(k.flags, KPF_ANON_EXCLUSIVE_ALIAS)
                if e_ex != k_ex:
                    ex_a.differ(
                        f"PageAnonExclusive of F{pfn} ({pos_text(pos)})", str(e_ex), str(k_ex)
                    )
            e_sc = "swapcache" in page["flags"]
            k_sc = kpf_has(k.flags, KPF_SWAPCACHE)
            if e_sc != k_sc:
                sc_a.differ(f"F{pfn} ({pos_text(pos)}) in the swap cache", str(e_sc), str(k_sc))
        if not self.exclusive_bit:
            ex_a.status = NOT_OBSERVABLE
            ex_a.note = self.exclusive_note
        if hidden:
            sc_a.status = NOT_OBSERVABLE
            sc_a.note = "kpageflags needs root"
        return notes


def _compare_ptes(
    pte_a: Aspect, positions: list[tuple[int, int]], eng: EngineView, ker: KernelView
) -> None:
    """The kind of each PTE on both sides; a kernel page must be a small anonymous one."""
    for pos in positions:
        e, k = eng.ptes.get(pos), ker.ptes.get(pos)
        ekind = e["kind"] if e else "none"
        kkind = k.kind if k else "none"
        same = ekind == kkind or (kkind == "present" and ekind in ("page", "zero"))
        if not same:
            pte_a.differ(f"PTE {pos_text(pos)}", engine_pte_text(e), kernel_pte_text(k))
        if k is not None and k.kind == "page" and k.flags is not None:
            if not kpf_has(k.flags, KPF_ANON):
                pte_a.differ(
                    f"PTE {pos_text(pos)}", "an anonymous page", f"frame {k.pfn:#x} is not PageAnon"
                )
            if kpf_has(k.flags, KPF_COMPOUND_HEAD) or kpf_has(k.flags, KPF_COMPOUND_TAIL):
                pte_a.differ(
                    f"PTE {pos_text(pos)}",
                    "a small page",
                    f"frame {k.pfn:#x} is part of a large folio",
                )


def _partition(
    aspect: Aspect,
    what: str,
    positions: list[tuple[int, int]],
    eng_key: Any,
    ker_key: Any,
    prefix: str,
) -> None:
    """Compare which positions share one object on each side (partitions, not numbers)."""
    eg: dict[Any, list[tuple[int, int]]] = {}
    kg: dict[Any, list[tuple[int, int]]] = {}
    for p in positions:
        eg.setdefault(eng_key(p), []).append(p)
        kg.setdefault(ker_key(p), []).append(p)
    e_classes = {frozenset(v) for v in eg.values()}
    k_classes = {frozenset(v) for v in kg.values()}
    if e_classes == k_classes:
        return
    for key, members in sorted(eg.items()):
        if frozenset(members) in k_classes:
            continue
        ker_parts = sorted({ident_text(ker_key(p)) for p in members})
        aspect.differ(
            f"the {what} {prefix}{key}",
            f"one {what} {prefix}{key} at {', '.join(pos_text(p) for p in members)}",
            f"{len(ker_parts)} {what}(s) there: {', '.join(ker_parts)}"
            if len(ker_parts) > 1
            else f"{ker_parts[0]} is also at "
            + ", ".join(pos_text(p) for p in kg[ker_key(members[0])]),
        )
