"""Run a scenario on the host kernel and compare every step with the simulator.

The simulator side is ``anon_vma_chain`` (D5, mainline 6.18/6.19) with its default
options, whatever design the scenario names. The kernel side is one real process per
scenario process (see ``agent.py``), observed after every step through
``/proc/PID/maps``, ``/proc/PID/pagemap``, ``/proc/kpageflags`` and ``/proc/kpagecount``.
What the kernel cannot show is reported as not observable; what it cannot do as the
scenario asks is reported as not checkable, with the reason.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..engine import (
    Op,
    State,
    StepResult,
    describe_op,
    iterate,
    new_state,
    op_to_json,
    parse_scenario,
    state_to_json,
)
from ..engine.ops import Exit, Fork, Merge, Mmap, Mprotect, Mremap, Munmap, Read, Reclaim, Spawn
from ..engine.ops import Write as WriteOp
from ..engine.scenario import Scenario
from .decode import (
    KPF_ANON,
    KPF_ANON_EXCLUSIVE_ALIAS,
    KPF_COMPOUND_HEAD,
    KPF_COMPOUND_TAIL,
    KPF_SWAPCACHE,
    KPF_ZERO_PAGE,
    kpf_has,
    kpf_names,
    maps_in_window,
)
from .host import (
    CALIBRATION_OFFSET,
    MADV_DOFORK,
    MADV_DONTFORK,
    MADV_PAGEOUT,
    MREMAP_FIXED,
    MREMAP_MAYMOVE,
    PAGE,
    WINDOW_BASES,
    WINDOW_SIZE,
    AgentDied,
    AgentHandle,
    Environment,
    Host,
    HostError,
    KPages,
    SwapInfo,
    probe,
    prot_bits,
    read_maps,
    read_pagemap,
    swap_area,
)

ENGINE_DESIGN = "anon_vma_chain"
#: The kernel the simulator's D5 models (Errata, "Pinned version").
MODELLED_KERNELS = ("6.18", "6.19")
#: An access op touching more pages than this is not run on the host.
MAX_ACCESS_PAGES = 16384

AGREE = "agree"
DIFFER = "differ"
NOT_OBSERVABLE = "not observable"
NOT_CHECKABLE = "not checkable"
SUSPENDED = "suspended"
NOT_CHECKED = "not checked"

#: What the kernel never shows, for every step.
NEVER_OBSERVABLE = (
    "anon_vma and anon_vma_chain objects: which exist, their interval trees, the vmas' "
    "chains, num_children/num_active_vmas",
    "page->mapping and page->index (which anon_vma a page points at)",
    "the write permission of a present PTE (pagemap has no write bit)",
    "the exclusive marker of a swap PTE (pagemap shows no flag for it)",
    "rmap walks: which vmas try_to_unmap visits, in which order, and what that costs",
    "frames that only the swap cache holds (no PTE maps them, so no pagemap entry finds "
    "them)",
    "the simulator's counters and metadata sizes",
)

#: The aspects compared after every step, in report order.
ASPECTS = ("op", "outcome", "processes", "vmas", "ptes", "frames", "swap_slots", "mapcount",
           "exclusive", "swapcache")
#: The aspects that a not-checkable page-out makes meaningless from then on.
PAGE_ASPECTS = ("ptes", "frames", "swap_slots", "mapcount", "exclusive", "swapcache")


class CheckError(Exception):
    """The scenario or an argument is bad (exit status 2)."""


# ----- the two views ------------------------------------------------------------------------


@dataclass
class KPte:
    """What pagemap (and kpageflags/kpagecount) say about one virtual page."""

    kind: str  # page | zero | present (frame hidden) | swap
    pfn: int | None = None
    swap: tuple[int, int] | None = None
    mapped_once: bool = False
    flags: int | None = None
    count: int | None = None


@dataclass
class KernelView:
    vmas: dict[int, list[tuple[int, int, str]]]
    ptes: dict[tuple[int, int], KPte]
    stray: list[str] = field(default_factory=list)
    alive: dict[int, bool] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """What the kernel showed after a step, in scenario addresses (for scripts)."""
        ptes = []
        for (pid, addr), k in sorted(self.ptes.items()):
            item: dict[str, Any] = {"pid": pid, "addr": addr, "kind": k.kind}
            if k.pfn is not None:
                item["pfn"] = k.pfn
            if k.swap is not None:
                item["swap"] = {"type": k.swap[0], "offset": k.swap[1]}
            if k.kind in ("page", "present"):
                item["mapped_once"] = k.mapped_once
            if k.flags is not None:
                item["kpageflags"] = kpf_names(k.flags)
            if k.count is not None:
                item["kpagecount"] = k.count
            ptes.append(item)
        return {"vmas": [{"pid": pid, "vm_start": s, "vm_end": e, "prot": p}
                         for pid, vmas in sorted(self.vmas.items()) for s, e, p in vmas],
                "ptes": ptes}


@dataclass
class EngineView:
    vmas: dict[int, list[tuple[int, int, str]]]
    ptes: dict[tuple[int, int], dict[str, Any]]
    pages: dict[int, dict[str, Any]]
    slots: set[int]

    @classmethod
    def of(cls, doc: Mapping[str, Any]) -> EngineView:
        vmas = {mm["pid"]: [(v["vm_start"], v["vm_end"], v["prot"]) for v in mm["vmas"]]
                for mm in doc["mms"]}
        ptes = {(mm["pid"], p["addr"]): p for mm in doc["mms"] for p in mm["ptes"]}
        return cls(vmas, ptes, {p["pfn"]: p for p in doc["pages"]},
                   {s["slot"] for s in doc["swap"]})


def _hex(addr: int) -> str:
    return f"{addr:#x}"


def _pos(pos: tuple[int, int]) -> str:
    return f"pid {pos[0]} {pos[1]:#x}"


def _vmas_text(vmas: Iterable[tuple[int, int, str]]) -> str:
    items = [f"[{s:#x},{e:#x}) {p}" for s, e, p in vmas]
    return ", ".join(items) if items else "(none)"


def _engine_pte_text(p: dict[str, Any] | None) -> str:
    if p is None:
        return "none"
    if p["kind"] == "page":
        return f"frame F{p['pfn']}"
    if p["kind"] == "swap":
        return f"swap slot S{p['slot']}"
    return "zero page"


def _kernel_pte_text(k: KPte | None) -> str:
    if k is None:
        return "none"
    if k.kind == "page":
        return f"frame {k.pfn:#x}"
    if k.kind == "swap":
        assert k.swap is not None
        return f"swap entry type {k.swap[0]} offset {k.swap[1]:#x}"
    if k.kind == "zero":
        return "zero page"
    return "a present page (frame number hidden)"


# ----- aspects --------------------------------------------------------------------------------


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
        out: dict[str, Any] = {"aspect": self.name, "status": self.status,
                               "differences": self.differences}
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

    def check(self, pairs: dict[int, Any], alive: set[int], step: int, aspect: Aspect,
              lingering: set[Any] | None = None) -> list[str]:
        notes = []
        for e, k in sorted(pairs.items()):
            known = self.e2k.get(e)
            if known is not None and known != k:
                aspect.differ(f"{self.kind} {self.label(e)} (the same one since step "
                              f"{self.since[e]})", f"still {self.kind} {self.label(e)}",
                              f"was {_ident(known)}, now {_ident(k)}")
            old = self.k2e.get(k)
            if old is not None and old != e:
                if old in alive:
                    aspect.differ(f"{self.kind} {self.label(e)}",
                                  f"a different {self.kind} from {self.label(old)}, which "
                                  "still exists",
                                  f"the same {_ident(k)} as {self.label(old)}")
                elif lingering is not None and k in lingering:
                    notes.append(
                        f"{self.label(e)} is frame {_ident(k)} again in the kernel: its swap "
                        "cache still held the page that MADV_PAGEOUT wrote out, where the "
                        "simulator's reclaim frees the frame at once (docs/semantics.md#reclaim)")
        for e, k in pairs.items():
            if self.e2k.get(e) != k:
                self.since[e] = step
            self.e2k[e] = k
            self.k2e[k] = e
        return notes


def _ident(k: Any) -> str:
    if isinstance(k, tuple):
        return f"type {k[0]} offset {k[1]:#x}"
    return f"{k:#x}"


# ----- the kernel side of one step -------------------------------------------------------


@dataclass
class KernelStep:
    outcome: str = "ok"
    value: int | None = None
    values: list[int] = field(default_factory=list)
    pages_done: int = 0
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    not_checkable: str | None = None
    placement: str | None = None
    lru_choice: str | None = None


class Session:
    """One kernel-check run: the host processes, the views, and the per-step comparison."""

    def __init__(self, env: Environment, swap: SwapInfo, host: Host, base: int) -> None:
        self.env = env
        self.swap = swap
        self.host = host
        self.base = base
        self.agents: dict[int, AgentHandle] = {}
        self.kpages: KPages | None = None
        self.exclusive_bit: bool = False
        self.exclusive_note = "PageAnonExclusive: not observable without root"
        self.frames = Identity("frame", lambda e: f"F{e}")
        self.slots = Identity("slot", lambda e: f"S{e}")
        self.lingering: set[int] = set()
        self.suspended_since: int | None = None
        self.suspend_reason = ""
        self.drain_failed = False

    # ----- setup -------------------------------------------------------------------------

    def calibrate(self) -> None:
        """Find out whether kpageflags bit 34 follows PG_anon_exclusive on this kernel.

        A first-touch page must have it; after fork neither mapping may; after the child
        exits the page is mapped once (pagemap bit 56) but still not exclusive; a write
        reuses it and sets the bit again. Only then does the check compare it.
        """
        if self.kpages is None:
            return
        addr = self.base + CALIBRATION_OFFSET
        probe_agent = self.host.spawn("calibration")
        try:
            probe_agent.call("mmap", addr=addr, length=PAGE, prot=3)
            probe_agent.call("write", addr=addr, value=1)
            seen = [self._exclusive_bit_at(probe_agent.pid, addr)]
            child = self.host.fork(probe_agent, "calibration-child")
            seen.append(self._exclusive_bit_at(probe_agent.pid, addr))
            seen.append(self._exclusive_bit_at(child.pid, addr))
            child.exit()
            seen.append(self._exclusive_bit_at(probe_agent.pid, addr))
            probe_agent.call("write", addr=addr, value=2)
            seen.append(self._exclusive_bit_at(probe_agent.pid, addr))
        finally:
            probe_agent.exit()
        expected = [(True, True), (False, False), (False, False), (False, True),
                    (True, True)]
        if seen == expected:
            self.exclusive_bit = True
            self.exclusive_note = ("PageAnonExclusive read from kpageflags bit 34, which "
                                   "follows PG_anon_exclusive on this kernel (calibrated)")
        else:
            self.exclusive_note = ("PageAnonExclusive: not observable (kpageflags bit 34 did "
                                   f"not follow PG_anon_exclusive in calibration: {seen})")

    def _exclusive_bit_at(self, pid: int, addr: int) -> tuple[bool, bool]:
        assert self.kpages is not None
        entry = read_pagemap(pid, addr, 1)[0]
        if not entry.present or not entry.pfn:
            return (False, False)
        return (kpf_has(self.kpages.flags(entry.pfn), KPF_ANON_EXCLUSIVE_ALIAS),
                entry.exclusive)

    # ----- observing ---------------------------------------------------------------------

    def observe(self, engine: EngineView) -> KernelView:
        vmas: dict[int, list[tuple[int, int, str]]] = {}
        ptes: dict[tuple[int, int], KPte] = {}
        stray = []
        for spid, agent in sorted(self.agents.items()):
            lines = maps_in_window(read_maps(agent.pid), self.base, WINDOW_SIZE)
            mine = []
            for m in lines:
                if not m.private or m.path or m.offset:
                    stray.append(f"pid {spid}: {m.start - self.base:#x}-{m.end - self.base:#x} "
                                 f"{m.perms} {m.path}")
                mine.append((m.start - self.base, m.end - self.base, m.prot))
            vmas[spid] = mine
            ranges = [(s, e) for s, e, _ in mine] + [(s, e) for s, e, _ in
                                                      engine.vmas.get(spid, [])]
            for start, end in _merge_ranges(ranges):
                entries = read_pagemap(agent.pid, self.base + start, (end - start) // PAGE)
                for i, entry in enumerate(entries):
                    if entry.none:
                        continue
                    ptes[(spid, start + i * PAGE)] = self._kpte(entry)
        alive = {spid: _alive(agent.pid) for spid, agent in self.agents.items()}
        return KernelView(vmas, ptes, stray, alive)

    def _kpte(self, entry: Any) -> KPte:
        if entry.swapped:
            return KPte("swap", swap=entry.swap_entry)
        if not entry.pfn or self.kpages is None:
            return KPte("present", mapped_once=entry.exclusive)
        flags = self.kpages.flags(entry.pfn)
        if kpf_has(flags, KPF_ZERO_PAGE):
            return KPte("zero", pfn=entry.pfn, flags=flags)
        return KPte("page", pfn=entry.pfn, mapped_once=entry.exclusive, flags=flags,
                    count=self.kpages.count(entry.pfn))

    # ----- performing ----------------------------------------------------------------------

    def perform(self, op: Op, pre: State, pre_view: EngineView, result: StepResult
                ) -> KernelStep:
        ks = KernelStep()
        base = self.base
        match op:
            case Spawn(pid):
                self.agents[pid] = self.host.spawn(f"pid {pid}")
            case Mmap(pid, pages, prot, addr):
                if addr is None:
                    addr = int(result.result["addr"])
                    ks.placement = (f"mmap without an address: the kernel would choose its own "
                                    f"place (top-down, outside the window); the check maps at "
                                    f"the simulator's choice {addr:#x}")
                self._syscall(ks, pid, "mmap", addr=base + addr, length=pages * PAGE,
                              prot=prot_bits(prot))
            case Read(pid, addr, pages) | WriteOp(pid, addr, _, pages):
                if pages > MAX_ACCESS_PAGES:
                    ks.not_checkable = (f"an access of {pages} pages is larger than the check "
                                        f"runs on a real machine ({MAX_ACCESS_PAGES} pages)")
                    return ks
                value = op.value if isinstance(op, WriteOp) else None
                self._access(ks, pid, addr, pages, value)
            case Fork(pid, child):
                self.agents[child] = self.host.fork(self.agents[pid], f"pid {child}")
            case Exit(pid):
                self.agents.pop(pid).exit()
            case Munmap(pid, addr, pages):
                self._syscall(ks, pid, "munmap", addr=base + addr, length=pages * PAGE)
            case Mprotect(pid, addr, pages, prot):
                self._syscall(ks, pid, "mprotect", addr=base + addr, length=pages * PAGE,
                              prot=prot_bits(prot))
            case Mremap(pid, addr, pages, new_pages, new_addr):
                self._mremap(ks, pre, pid, addr, pages, new_pages, new_addr)
            case Merge(pid, addr):
                self._merge(ks, pid, addr)
            case Reclaim():
                self._reclaim(ks, op, pre_view)
        return ks

    def _syscall(self, ks: KernelStep, pid: int, cmd: str, **args: Any) -> dict[str, Any]:
        reply = self.agents[pid].call(cmd, **args)
        if not reply.get("ok"):
            shown = {k: _hex(v - self.base) if k in ("addr", "new_addr") else v
                     for k, v in args.items()}
            ks.errors.append(f"{cmd}({', '.join(f'{k}={v}' for k, v in shown.items())}) "
                             f"failed in pid {pid}: {reply.get('error')}")
        return reply

    def _access(self, ks: KernelStep, pid: int, addr: int, pages: int,
                value: int | None) -> None:
        page = addr & ~(PAGE - 1)
        reply = self.agents[pid].call("access", addr=self.base + page, pages=pages,
                                      value=value)
        ks.pages_done = int(reply["done"])
        ks.values = [int(v) for v in reply["values"]]
        if reply["fault"]:
            ks.outcome = "segv"
        elif reply.get("error"):
            ks.errors.append(f"{'read' if value is None else 'write'} at "
                             f"{page + ks.pages_done * PAGE:#x} failed: {reply['error']}")
        if value is None and pages == 1 and ks.values:
            ks.value = ks.values[0]

    def _mremap(self, ks: KernelStep, pre: State, pid: int, addr: int, pages: int,
                new_pages: int, new_addr: int | None) -> None:
        old_len, new_len = pages * PAGE, new_pages * PAGE
        if new_addr is not None:
            flags, dest = MREMAP_MAYMOVE | MREMAP_FIXED, new_addr
        else:
            vma = pre.vma_at(pid, addr)
            grows_in_place = (new_len <= old_len or vma is None or (
                addr + old_len == vma.vm_end
                and pre.range_is_free(pid, vma.vm_end, addr + new_len)))
            if grows_in_place:
                flags, dest = 0, 0
            else:
                chosen = pre.get_unmapped_area(pid, new_len)
                if chosen is None:
                    flags, dest = 0, 0
                else:
                    flags, dest = MREMAP_MAYMOVE | MREMAP_FIXED, chosen
                    ks.placement = (f"mremap without an address moves where the kernel "
                                    f"chooses (outside the window); the check moves to the "
                                    f"simulator's choice {chosen:#x}")
        self._syscall(ks, pid, "mremap", addr=self.base + addr, old_len=old_len,
                      new_len=new_len, flags=flags, new_addr=self.base + dest if flags else 0)

    def _merge(self, ks: KernelStep, pid: int, addr: int) -> None:
        here = [m for m in read_maps(self.agents[pid].pid)
                if m.start <= self.base + addr < m.end]
        if not here:
            ks.errors.append(f"merge: the kernel has no vma at {addr:#x} in pid {pid}")
            return
        vma = here[0]
        ks.notes.append("merge is done as madvise(MADV_DONTFORK) then madvise(MADV_DOFORK) "
                        "over the whole vma: clearing the flag again makes the kernel try "
                        "vma_merge_existing_range with both neighbours")
        for advice in (MADV_DONTFORK, MADV_DOFORK):
            self._syscall(ks, pid, "madvise", addr=vma.start, length=vma.end - vma.start,
                          advice=advice)

    # ----- reclaim ---------------------------------------------------------------------------

    def _reclaim(self, ks: KernelStep, op: Reclaim, view: EngineView) -> None:
        if op.count is not None:
            victims = sorted(view.pages)[:op.count]
            ks.lru_choice = ("which frames a reclaim of the inactive list takes: the kernel's "
                             "LRU order is not the simulator's allocation order "
                             "(docs/semantics.md#reclaim); the "
                             f"check pages out the simulator's choice {victims}")
        elif op.pfn is not None:
            victims = [op.pfn] if op.pfn in view.pages else []
        else:
            assert op.pid is not None and op.addr is not None
            pte = view.ptes.get((op.pid, op.addr & ~(PAGE - 1)))
            victims = [pte["pfn"]] if pte and pte["kind"] == "page" else []
        if not victims:
            ks.notes.append("nothing resident to reclaim: nothing is done on the kernel either")
            return
        if not self.swap.available:
            ks.not_checkable = f"page-out needs swap: {self.swap.how}"
            return
        if self.suspended_since is not None:
            ks.not_checkable = (f"the page state of the two sides parted at step "
                                f"{self.suspended_since}, so the simulator's frame cannot be "
                                "located in the kernel")
            return
        targets = []
        for pfn in victims:
            where = [pos for pos, p in view.ptes.items()
                     if p["kind"] == "page" and p["pfn"] == pfn]
            if not where:
                ks.not_checkable = (f"frame F{pfn} is held only by the swap cache; the kernel "
                                    "has no call that reclaims one given frame")
                return
            if len(where) > 1:
                ks.not_checkable = (
                    f"frame F{pfn} is mapped by {len(where)} PTEs "
                    f"({', '.join(_pos(w) for w in sorted(where))}); madvise(MADV_PAGEOUT) "
                    "leaves a page mapped by more than one process alone "
                    "(folio_maybe_mapped_shared in mm/madvise.c), and the kernel offers no "
                    "other way to page out one chosen shared page")
                return
            targets.append(where[0])
        for pos in targets:
            self._pageout(ks, pos)

    def _pageout(self, ks: KernelStep, pos: tuple[int, int]) -> None:
        pid, addr = pos
        agent = self.agents[pid]
        before = read_pagemap(agent.pid, self.base + addr, 1)[0]
        old_pfn = before.pfn if before.present else None
        for attempt in range(5):
            self._syscall(ks, pid, "madvise", addr=self.base + addr, length=PAGE,
                          advice=MADV_PAGEOUT)
            if ks.errors:
                return
            after = read_pagemap(agent.pid, self.base + addr, 1)[0]
            if not after.present:
                break
            time.sleep(0.01 * (attempt + 1))
        else:
            ks.not_checkable = (f"madvise(MADV_PAGEOUT) left {_pos(pos)} mapped after 5 tries "
                                "(the kernel may keep a page for its own reasons: not on an "
                                "LRU list yet, locked, or no swap space)")
            return
        if self.kpages is not None and old_pfn:
            if not self.kpages.wait_writeback(old_pfn):
                ks.notes.append(f"the write-back of frame {old_pfn:#x} did not finish in 10 s")
            flags = self.kpages.flags(old_pfn)
            if (kpf_has(flags, KPF_SWAPCACHE) and kpf_has(flags, KPF_ANON)
                    and self.kpages.count(old_pfn) == 0):
                self.lingering.add(old_pfn)
                ks.notes.append(
                    f"the kernel keeps the written-back page (frame {old_pfn:#x}) in its swap "
                    "cache until memory pressure frees it; the simulator's reclaim frees it at "
                    "once (docs/semantics.md#reclaim). Not observable until a swap-in finds it "
                    "there")
        else:
            time.sleep(0.05)
        self._drain(ks)

    def _drain(self, ks: KernelStep) -> None:
        """Empty the LRU batches of every CPU once the page-out is over.

        The write-back's end puts the folio in a per-CPU rotation batch, often on another
        CPU than the agents'; that batch's reference would make the next write fault copy
        a page the simulator (and a quiet kernel) reuses. See ``Agent.do_drain``.
        """
        assert self.host.zygote is not None
        reply = self.host.zygote.call("drain", addr=self.base)
        if not reply.get("ok") and not self.drain_failed:
            self.drain_failed = True
            ks.notes.append(f"could not drain the other CPUs' LRU batches (move_pages: "
                            f"{reply.get('error')}): a later write may copy a page the "
                            "simulator reuses")

    # ----- comparing ---------------------------------------------------------------------------

    def compare(self, index: int, engine_step: Mapping[str, Any], eng: EngineView,
                ker: KernelView, ks: KernelStep) -> tuple[list[Aspect], list[str]]:
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
                vmas.differ(f"vmas of pid {pid}", _vmas_text(e), _vmas_text(k))
        for line in ker.stray:
            vmas.differ("a mapping in the window that is not private anonymous memory",
                        "(none)", line)
        if self.suspended_since is not None:
            for name in PAGE_ASPECTS:
                aspects[name] = Aspect(name, SUSPENDED, note=(
                    f"not compared since step {self.suspended_since}: "
                    f"{self.suspend_reason}"))
        else:
            notes += self._compare_pages(index, aspects, eng, ker)
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

    def _compare_pages(self, index: int, aspects: dict[str, Aspect], eng: EngineView,
                       ker: KernelView) -> list[str]:
        notes: list[str] = []
        hidden = self.kpages is None
        pte_a = aspects["ptes"]
        if hidden:
            pte_a.note = "without root the frame number is hidden: a present page and the " \
                         "zero page look the same"
        positions = sorted(set(eng.ptes) | set(ker.ptes))
        for pos in positions:
            e, k = eng.ptes.get(pos), ker.ptes.get(pos)
            ekind = e["kind"] if e else "none"
            kkind = k.kind if k else "none"
            same = ekind == kkind or (kkind == "present" and ekind in ("page", "zero"))
            if not same:
                pte_a.differ(f"PTE {_pos(pos)}", _engine_pte_text(e), _kernel_pte_text(k))
            if k is not None and k.kind == "page" and k.flags is not None:
                if not kpf_has(k.flags, KPF_ANON):
                    pte_a.differ(f"PTE {_pos(pos)}", "an anonymous page",
                                 f"frame {k.pfn:#x} is not PageAnon")
                if kpf_has(k.flags, KPF_COMPOUND_HEAD) or kpf_has(k.flags, KPF_COMPOUND_TAIL):
                    pte_a.differ(f"PTE {_pos(pos)}", "a small page",
                                 f"frame {k.pfn:#x} is part of a large folio")
        # identity classes: which positions share one frame / one slot
        both_page = [p for p in positions if p in eng.ptes and p in ker.ptes
                     and eng.ptes[p]["kind"] == "page" and ker.ptes[p].kind == "page"]
        both_swap = [p for p in positions if p in eng.ptes and p in ker.ptes
                     and eng.ptes[p]["kind"] == "swap" and ker.ptes[p].kind == "swap"]
        frames_a, slots_a = aspects["frames"], aspects["swap_slots"]
        if hidden:
            frames_a.status = NOT_OBSERVABLE
            frames_a.note = "frame numbers are hidden without root"
        else:
            _partition(frames_a, "frame", both_page, lambda p: eng.ptes[p]["pfn"],
                       lambda p: ker.ptes[p].pfn, "F")
            pairs = {eng.ptes[p]["pfn"]: ker.ptes[p].pfn for p in both_page}
            notes += self.frames.check(pairs, set(eng.pages), index, frames_a, self.lingering)
        _partition(slots_a, "swap slot", both_swap, lambda p: eng.ptes[p]["slot"],
                   lambda p: ker.ptes[p].swap, "S")
        self.slots.check({eng.ptes[p]["slot"]: ker.ptes[p].swap for p in both_swap},
                         eng.slots, index, slots_a)
        # per frame: mapcount, exclusive-mapped bit, PageAnonExclusive, swap cache
        mc_a, ex_a, sc_a = aspects["mapcount"], aspects["exclusive"], aspects["swapcache"]
        present = [p for p in positions if p in eng.ptes and p in ker.ptes
                   and eng.ptes[p]["kind"] == "page" and ker.ptes[p].kind in ("page", "present")]
        seen: set[int] = set()
        for pos in present:
            pfn = eng.ptes[pos]["pfn"]
            page = eng.pages[pfn]
            k = ker.ptes[pos]
            once = page["mapcount"] == 1
            if k.mapped_once != once:
                mc_a.differ(f"F{pfn} at {_pos(pos)}: pagemap bit 56 (mapped once)",
                            f"mapcount {page['mapcount']}",
                            "mapped once" if k.mapped_once else "mapped more than once")
            if pfn in seen:
                continue
            seen.add(pfn)
            if k.count is not None and k.count != page["mapcount"]:
                mc_a.differ(f"mapcount of F{pfn} ({_pos(pos)})", str(page["mapcount"]),
                            f"{k.count} (kpagecount of {k.pfn:#x})")
            if k.flags is None:
                continue
            if self.exclusive_bit:
                e_ex = "exclusive" in page["flags"]
                k_ex = kpf_has(k.flags, KPF_ANON_EXCLUSIVE_ALIAS)
                if e_ex != k_ex:
                    ex_a.differ(f"PageAnonExclusive of F{pfn} ({_pos(pos)})", str(e_ex),
                                str(k_ex))
            e_sc = "swapcache" in page["flags"]
            k_sc = kpf_has(k.flags, KPF_SWAPCACHE)
            if e_sc != k_sc:
                sc_a.differ(f"F{pfn} ({_pos(pos)}) in the swap cache", str(e_sc), str(k_sc))
        if not self.exclusive_bit:
            ex_a.status = NOT_OBSERVABLE
            ex_a.note = self.exclusive_note
        if hidden:
            sc_a.status = NOT_OBSERVABLE
            sc_a.note = "kpageflags needs root"
        return notes


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        stat = open(f"/proc/{pid}/stat").read()  # noqa: SIM115
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _merge_ranges(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _partition(aspect: Aspect, what: str, positions: list[tuple[int, int]], eng_key: Any,
               ker_key: Any, prefix: str) -> None:
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
        ker_parts = sorted({_ident(ker_key(p)) for p in members})
        aspect.differ(f"the {what} {prefix}{key}",
                      f"one {what} {prefix}{key} at {', '.join(_pos(p) for p in members)}",
                      f"{len(ker_parts)} {what}(s) there: {', '.join(ker_parts)}" if
                      len(ker_parts) > 1 else
                      f"{ker_parts[0]} is also at "
                      + ", ".join(_pos(p) for p in kg[ker_key(members[0])]))


# ----- the whole run ---------------------------------------------------------------------------


def _engine_steps(scenario: Scenario, options: tuple[str, ...]
                  ) -> list[tuple[Op, StepResult, dict[str, Any]]]:
    from ..engine import EngineError, step_to_json

    out = []
    try:
        for index, op, result in iterate(scenario, ENGINE_DESIGN, options):
            out.append((op, result, step_to_json(index, op_to_json(op), result)))
    except EngineError as exc:
        raise CheckError(str(exc)) from None
    return out


def _choose_base(host: Host) -> int:
    assert host.zygote is not None
    for base in WINDOW_BASES:
        lines = maps_in_window(read_maps(host.zygote.pid), base, WINDOW_SIZE + 0x10000)
        if not lines:
            return base
    raise HostError("no free window for the scenario's address space in the agent")


def kernel_check(data: Mapping[str, Any] | Scenario, *, allow_swap_create: bool = True,
                 env: Environment | None = None, engine_options: Iterable[str] = ()
                 ) -> dict[str, Any]:
    """The kernel-check document of one scenario (see docs/kernel-check.md).

    The simulator side is ``anon_vma_chain`` with ``engine_options`` (default none: current
    mainline; an older-kernel switch is how the tests make sure a difference is caught).
    Raises ``CheckError`` for a bad scenario (one the simulator refuses).
    """
    from ..engine import EngineError

    try:
        scenario = data if isinstance(data, Scenario) else parse_scenario(data)
    except EngineError as exc:
        raise CheckError(str(exc)) from None
    options = tuple(engine_options)
    engine_steps = _engine_steps(scenario, options)
    env = env or probe()
    doc: dict[str, Any] = {
        "scenario": {"name": scenario.name, "title": scenario.title},
        "engine": {"design": ENGINE_DESIGN, "options": sorted(options),
                   "scenario_design": scenario.design},
        "host": env.to_json(),
        "ran": False,
        "swap": None,
        "skipped": [],
        "warnings": list(env.warnings),
        "exclusive": None,
        "window_base": None,
        "processes": [],
        "page_state_suspended_since": None,
        "not_observable": list(NEVER_OBSERVABLE),
        "steps": [],
    }
    if env.release and not env.release.startswith(MODELLED_KERNELS):
        doc["warnings"].append(f"the simulator models Linux 6.18/6.19; this kernel is "
                               f"{env.release}: differences may be version differences")
    if not env.can_run:
        reason = "; ".join(env.problems)
        doc["skipped"].append(f"nothing can run on this host: {reason}")
        doc["steps"] = [_unrun(i, op, step, NOT_CHECKABLE, reason)
                        for i, (op, _, step) in enumerate(engine_steps, start=1)]
        return _finish(doc)
    if not env.root:
        doc["skipped"].append(
            "not root: frame numbers (pagemap PFNs), /proc/kpageflags and /proc/kpagecount "
            "are hidden, so frame identity, mapcounts, the zero page, PageAnonExclusive and "
            "the swap cache are not observable, and no swap area can be made; compared: "
            "vmas, present/swap/none PTEs, swap-slot identity, pagemap's mapped-once bit, "
            "values and SIGSEGV outcomes")
    with contextlib.ExitStack() as stack:
        swap = stack.enter_context(swap_area(env, allow_create=allow_swap_create))
        doc["swap"] = swap.to_json()
        if not swap.available:
            doc["skipped"].append(swap.how)
        try:
            host = stack.enter_context(Host(env))
            base = _choose_base(host)
        except (HostError, OSError) as exc:
            reason = f"the agent processes could not start: {exc}"
            doc["skipped"].append(reason)
            doc["steps"] = [_unrun(i, op, step, NOT_CHECKABLE, reason)
                            for i, (op, _, step) in enumerate(engine_steps, start=1)]
            host = None
        if host is None:
            stack.close()
            doc["swap"] = swap.to_json()
            return _finish(doc)
        session = Session(env, swap, host, base)
        if env.pfns_visible:
            session.kpages = KPages()
            stack.callback(session.kpages.close)
        try:
            session.calibrate()
        except (HostError, OSError) as exc:
            session.exclusive_note = f"PageAnonExclusive: not observable (calibration failed: " \
                                     f"{exc})"
        doc["exclusive"] = session.exclusive_note
        doc["window_base"] = session.base
        doc["ran"] = True
        try:
            _run_steps(doc, session, engine_steps)
        finally:
            doc["processes"] = host.process_list()
            doc["page_state_suspended_since"] = session.suspended_since
    doc["swap"] = swap.to_json()
    return _finish(doc)


def _run_steps(doc: dict[str, Any], session: Session,
               engine_steps: list[tuple[Op, StepResult, dict[str, Any]]]) -> None:
    pre_state: State = new_state(ENGINE_DESIGN, engine_steps[0][1].state.options
                                 if engine_steps else ())
    pre_doc = state_to_json(pre_state)
    pre_view = EngineView.of(pre_doc)
    for index, (op, result, step) in enumerate(engine_steps, start=1):
        post_doc = state_to_json(result.state)
        post_view = EngineView.of(post_doc)
        try:
            ks = session.perform(op, pre_state, pre_view, result)
            ker = session.observe(post_view)
        except (AgentDied, HostError, OSError) as exc:
            doc["steps"].append(_unrun(index, op, step, DIFFER, f"the host failed: {exc}"))
            for j, (op2, _, step2) in enumerate(engine_steps[index:], start=index + 1):
                doc["steps"].append(_unrun(j, op2, step2, NOT_CHECKED,
                                           f"not run after the failure at step {index}"))
            return
        if ks.not_checkable and session.suspended_since is None and (
                pre_view.ptes != post_view.ptes):
            session.suspended_since = index
            session.suspend_reason = ("the simulator changed PTEs in a step the kernel could "
                                      "not perform")
        aspects, notes = session.compare(index, step, post_view, ker, ks)
        verdict = (DIFFER if any(a.status == DIFFER for a in aspects)
                   else NOT_CHECKABLE if ks.not_checkable else AGREE)
        not_obs = []
        for walk in step["walks"]:
            not_obs.append(f"the rmap walk of F{walk['pfn']}: {len(walk['visited'])} "
                           f"visited of {walk['candidates']} candidates")
        if _anon_summary(pre_doc) != _anon_summary(post_doc):
            not_obs.append("the anon_vma / anon_vma_chain changes of this step")
        before = {p["pfn"]: p["mapping"] for p in pre_doc["pages"]}
        moved = [f"F{p['pfn']}" for p in post_doc["pages"]
                 if p["mapping"] is not None and before.get(p["pfn"]) != p["mapping"]]
        if moved:
            not_obs.append(f"which anon_vma {', '.join(moved)} now point(s) at "
                           "(page->mapping)")
        doc["steps"].append({
            "index": index, "op": op_to_json(op), "label": describe_op(op),
            "verdict": verdict, "not_checkable": ks.not_checkable,
            "aspects": [a.to_json() for a in aspects],
            "notes": ks.notes + notes, "not_observable": not_obs,
            "kernel": {"outcome": ks.outcome, "value": ks.value, "values": ks.values,
                       "observed": ker.to_json()},
        })
        pre_state, pre_doc, pre_view = result.state, post_doc, post_view


def _anon_summary(doc: Mapping[str, Any]) -> Any:
    return doc.get("anon_vmas"), doc.get("vma_chains")


def _unrun(index: int, op: Op, step: Mapping[str, Any], verdict: str, reason: str
           ) -> dict[str, Any]:
    return {"index": index, "op": op_to_json(op), "label": describe_op(op),
            "verdict": verdict, "not_checkable": reason, "aspects": [], "notes": [],
            "not_observable": [], "kernel": None}


def _finish(doc: dict[str, Any]) -> dict[str, Any]:
    counts = dict.fromkeys((AGREE, DIFFER, NOT_CHECKABLE, NOT_CHECKED), 0)
    for step in doc["steps"]:
        counts[step["verdict"]] += 1
    doc["summary"] = counts
    doc["verdict"] = DIFFER if counts[DIFFER] else AGREE
    return doc


def exit_status(doc: Mapping[str, Any]) -> int:
    """1 when anything differs, else 0 (a bad scenario is 2, raised as CheckError)."""
    return 1 if doc["summary"][DIFFER] else 0
