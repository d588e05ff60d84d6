"""Performing each scenario op on the kernel: the agent processes' system calls, and a
reclaim as ``madvise(MADV_PAGEOUT)`` of the simulator's chosen frame."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ..engine import PAGE_SIZE, Op, State, StepResult
from ..engine.ops import Exit, Fork, Merge, Mmap, Mprotect, Mremap, Munmap, Read, Reclaim, Spawn
from ..engine.ops import Write as WriteOp
from .decode import KPF_ANON, KPF_SWAPCACHE, kpf_has
from .host import (
    MADV_DOFORK,
    MADV_DONTFORK,
    MADV_PAGEOUT,
    MREMAP_FIXED,
    MREMAP_MAYMOVE,
    AgentHandle,
    Host,
    KPages,
    SwapInfo,
    prot_bits,
    read_maps,
    read_pagemap,
)
from .views import EngineView, hex_addr, pos_text

#: An access op touching more pages than this is not run on the host.
MAX_ACCESS_PAGES = 16384


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


class Performer:
    """Carries out the scenario's ops on the host's agent processes, one per scenario pid.

    ``suspended_since`` is the step from which the kernel's pages no longer follow the
    simulator's (an op the kernel could not perform changed PTEs): a later page-out could
    not find the simulator's frame, and the page aspects are not compared.
    """

    def __init__(self, host: Host, swap: SwapInfo, base: int, kpages: KPages | None) -> None:
        self.host = host
        self.swap = swap
        self.base = base
        self.kpages = kpages
        self.agents: dict[int, AgentHandle] = {}
        #: kernel frames that a page-out left in the swap cache with no mapping
        self.lingering: set[int] = set()
        self.suspended_since: int | None = None
        self.suspend_reason = ""
        self.drain_failed = False

    def perform(self, op: Op, pre: State, pre_view: EngineView, result: StepResult) -> KernelStep:
        ks = KernelStep()
        base = self.base
        match op:
            case Spawn(pid):
                self.agents[pid] = self.host.spawn(f"pid {pid}")
            case Mmap(pid, pages, prot, addr):
                if addr is None:
                    addr = int(result.result["addr"])
                    ks.placement = (
                        f"mmap without an address: the kernel would choose its own "
                        f"place (top-down, outside the window); the check maps at "
                        f"the simulator's choice {addr:#x}"
                    )
                self._syscall(
                    ks,
                    pid,
                    "mmap",
                    addr=base + addr,
                    length=pages * PAGE_SIZE,
                    prot=prot_bits(prot),
                )
            case Read(pid, addr, pages) | WriteOp(pid, addr, _, pages):
                if pages > MAX_ACCESS_PAGES:
                    ks.not_checkable = (
                        f"an access of {pages} pages is larger than the check "
                        f"runs on a real machine ({MAX_ACCESS_PAGES} pages)"
                    )
                    return ks
                value = op.value if isinstance(op, WriteOp) else None
                self._access(ks, pid, addr, pages, value)
            case Fork(pid, child):
                self.agents[child] = self.host.fork(self.agents[pid], f"pid {child}")
            case Exit(pid):
                self.agents.pop(pid).exit()
            case Munmap(pid, addr, pages):
                self._syscall(ks, pid, "munmap", addr=base + addr, length=pages * PAGE_SIZE)
            case Mprotect(pid, addr, pages, prot):
                self._syscall(
                    ks,
                    pid,
                    "mprotect",
                    addr=base + addr,
                    length=pages * PAGE_SIZE,
                    prot=prot_bits(prot),
                )
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
            shown = {
                k: hex_addr(v - self.base) if k in ("addr", "new_addr") else v
                for k, v in args.items()
            }
            ks.errors.append(
                f"{cmd}({', '.join(f'{k}={v}' for k, v in shown.items())}) "
                f"failed in pid {pid}: {reply.get('error')}"
            )
        return reply

    def _access(self, ks: KernelStep, pid: int, addr: int, pages: int, value: int | None) -> None:
        page = addr & ~(PAGE_SIZE - 1)
        reply = self.agents[pid].call("access", addr=self.base + page, pages=pages, value=value)
        ks.pages_done = int(reply["done"])
        ks.values = [int(v) for v in reply["values"]]
        if reply["fault"]:
            ks.outcome = "segv"
        elif reply.get("error"):
            ks.errors.append(
                f"{'read' if value is None else 'write'} at "
                f"{page + ks.pages_done * PAGE_SIZE:#x} failed: {reply['error']}"
            )
        if value is None and pages == 1 and ks.values:
            ks.value = ks.values[0]

    def _mremap(
        self,
        ks: KernelStep,
        pre: State,
        pid: int,
        addr: int,
        pages: int,
        new_pages: int,
        new_addr: int | None,
    ) -> None:
        old_len, new_len = pages * PAGE_SIZE, new_pages * PAGE_SIZE
        if new_addr is not None:
            flags, dest = MREMAP_MAYMOVE | MREMAP_FIXED, new_addr
        else:
            vma = pre.vma_at(pid, addr)
            grows_in_place = (
                new_len <= old_len
                or vma is None
                or (
                    addr + old_len == vma.vm_end
                    and pre.range_is_free(pid, vma.vm_end, addr + new_len)
                )
            )
            if grows_in_place:
                flags, dest = 0, 0
            else:
                chosen = pre.get_unmapped_area(pid, new_len)
                if chosen is None:
                    flags, dest = 0, 0
                else:
                    flags, dest = MREMAP_MAYMOVE | MREMAP_FIXED, chosen
                    ks.placement = (
                        f"mremap without an address moves where the kernel "
                        f"chooses (outside the window); the check moves to the "
                        f"simulator's choice {chosen:#x}"
                    )
        self._syscall(
            ks,
            pid,
            "mremap",
            addr=self.base + addr,
            old_len=old_len,
            new_len=new_len,
            flags=flags,
            new_addr=self.base + dest if flags else 0,
        )

    def _merge(self, ks: KernelStep, pid: int, addr: int) -> None:
        here = [m for m in read_maps(self.agents[pid].pid) if m.start <= self.base + addr < m.end]
        if not here:
            ks.errors.append(f"merge: the kernel has no vma at {addr:#x} in pid {pid}")
            return
        vma = here[0]
        ks.notes.append(
            "merge is done as madvise(MADV_DONTFORK) then madvise(MADV_DOFORK) "
            "over the whole vma: clearing the flag again makes the kernel try "
            "vma_merge_existing_range with both neighbours"
        )
        for advice in (MADV_DONTFORK, MADV_DOFORK):
            self._syscall(
                ks, pid, "madvise", addr=vma.start, length=vma.end - vma.start, advice=advice
            )

    # ----- reclaim ---------------------------------------------------------------------------

    def _reclaim(self, ks: KernelStep, op: Reclaim, view: EngineView) -> None:
        if op.count is not None:
            victims = sorted(view.pages)[: op.count]
            ks.lru_choice = (
                "which frames a reclaim of the inactive list takes: the kernel's "
                "LRU order is not the simulator's allocation order "
                "(docs/semantics.md#reclaim); the "
                f"check pages out the simulator's choice {victims}"
            )
        elif op.pfn is not None:
            victims = [op.pfn] if op.pfn in view.pages else []
        else:
            assert op.pid is not None and op.addr is not None
            pte = view.ptes.get((op.pid, op.addr & ~(PAGE_SIZE - 1)))
            victims = [pte["pfn"]] if pte and pte["kind"] == "page" else []
        if not victims:
            ks.notes.append("nothing resident to reclaim: nothing is done on the kernel either")
            return
        if not self.swap.available:
            ks.not_checkable = f"page-out needs swap: {self.swap.how}"
            return
        if self.suspended_since is not None:
            ks.not_checkable = (
                f"the page state of the two sides parted at step "
                f"{self.suspended_since}, so the simulator's frame cannot be "
                "located in the kernel"
            )
            return
        targets = []
        for pfn in victims:
            where = [pos for pos, p in view.ptes.items() if p["kind"] == "page" and p["pfn"] == pfn]
            if not where:
                ks.not_checkable = (
                    f"frame F{pfn} is held only by the swap cache; the kernel "
                    "has no call that reclaims one given frame"
                )
                return
            if len(where) > 1:
                ks.not_checkable = (
                    f"frame F{pfn} is mapped by {len(where)} PTEs "
                    f"({', '.join(pos_text(w) for w in sorted(where))}); madvise(MADV_PAGEOUT) "
                    "leaves a page mapped by more than one process alone "
                    "(folio_maybe_mapped_shared in mm/madvise.c), and the kernel offers no "
                    "other way to page out one chosen shared page"
                )
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
            self._syscall(
                ks, pid, "madvise", addr=self.base + addr, length=PAGE_SIZE, advice=MADV_PAGEOUT
            )
            if ks.errors:
                return
            after = read_pagemap(agent.pid, self.base + addr, 1)[0]
            if not after.present:
                break
            time.sleep(0.01 * (attempt + 1))
        else:
            ks.not_checkable = (
                f"madvise(MADV_PAGEOUT) left {pos_text(pos)} mapped after 5 tries "
                "(the kernel may keep a page for its own reasons: not on an "
                "LRU list yet, locked, or no swap space)"
            )
            return
        if self.kpages is not None and old_pfn:
            if not self.kpages.wait_writeback(old_pfn):
                ks.notes.append(f"the write-back of frame {old_pfn:#x} did not finish in 10 s")
            flags = self.kpages.flags(old_pfn)
            if (
                kpf_has(flags, KPF_SWAPCACHE)
                and kpf_has(flags, KPF_ANON)
                and self.kpages.count(old_pfn) == 0
            ):
                self.lingering.add(old_pfn)
                ks.notes.append(
                    f"the kernel keeps the written-back page (frame {old_pfn:#x}) in its swap "
                    "cache until memory pressure frees it; the simulator's reclaim frees it at "
                    "once (docs/semantics.md#reclaim). Not observable until a swap-in finds it "
                    "there"
                )
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
            ks.notes.append(
                f"could not drain the other CPUs' LRU batches (move_pages: "
                f"{reply.get('error')}): a later write may copy a page the "
                "simulator reuses"
            )
