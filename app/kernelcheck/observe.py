"""Observing the kernel: the scenario's processes through ``/proc/PID/maps`` and
``/proc/PID/pagemap`` and, as root, ``/proc/kpageflags`` and ``/proc/kpagecount``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..engine import PAGE_SIZE
from .decode import KPF_ANON_EXCLUSIVE_ALIAS, KPF_ZERO_PAGE, kpf_has, maps_in_window
from .host import (
    CALIBRATION_OFFSET,
    WINDOW_SIZE,
    AgentHandle,
    Host,
    KPages,
    read_maps,
    read_pagemap,
)
from .views import EngineView, KernelView, KPte


class Observer:
    """Reads what the kernel shows of the scenario's window in each process."""

    def __init__(self, base: int, kpages: KPages | None) -> None:
        self.base = base
        self.kpages = kpages
        self.exclusive_bit = False
        self.exclusive_note = "PageAnonExclusive: not observable without root"

    def calibrate(self, host: Host) -> None:
        """Find out whether kpageflags bit 34 follows PG_anon_exclusive on this kernel.

        A first-touch page must have it; after fork neither mapping may; after the child
        exits the page is mapped once (pagemap bit 56) but still not exclusive; a write
        reuses it and sets the bit again. Only then does the check compare it.
        """
        if self.kpages is None:
            return
        addr = self.base + CALIBRATION_OFFSET
        probe_agent = host.spawn("calibration")
        try:
            probe_agent.call("mmap", addr=addr, length=PAGE_SIZE, prot=3)
            probe_agent.call("write", addr=addr, value=1)
            seen = [self._exclusive_bit_at(probe_agent.pid, addr)]
            child = host.fork(probe_agent, "calibration-child")
            seen.append(self._exclusive_bit_at(probe_agent.pid, addr))
            seen.append(self._exclusive_bit_at(child.pid, addr))
            child.exit()
            seen.append(self._exclusive_bit_at(probe_agent.pid, addr))
            probe_agent.call("write", addr=addr, value=2)
            seen.append(self._exclusive_bit_at(probe_agent.pid, addr))
        finally:
            probe_agent.exit()
        expected = [(True, True), (False, False), (False, False), (False, True), (True, True)]
        if seen == expected:
            self.exclusive_bit = True
            self.exclusive_note = (
                "PageAnonExclusive read from kpageflags bit 34, which "
                "follows PG_anon_exclusive on this kernel (calibrated)"
            )
        else:
            self.exclusive_note = (
                "PageAnonExclusive: not observable (kpageflags bit 34 did "
                f"not follow PG_anon_exclusive in calibration: {seen})"
            )

    def _exclusive_bit_at(self, pid: int, addr: int) -> tuple[bool, bool]:
        assert self.kpages is not None
        entry = read_pagemap(pid, addr, 1)[0]
        if not entry.present or not entry.pfn:
            return (False, False)
        return (kpf_has(self.kpages.flags(entry.pfn), KPF_ANON_EXCLUSIVE_ALIAS), entry.exclusive)

    def observe(self, agents: Mapping[int, AgentHandle], engine: EngineView) -> KernelView:
        vmas: dict[int, list[tuple[int, int, str]]] = {}
        ptes: dict[tuple[int, int], KPte] = {}
        stray = []
        for spid, agent in sorted(agents.items()):
            lines = maps_in_window(read_maps(agent.pid), self.base, WINDOW_SIZE)
            mine = []
            for m in lines:
                if not m.private or m.path or m.offset:
                    stray.append(
                        f"pid {spid}: {m.start - self.base:#x}-{m.end - self.base:#x} "
                        f"{m.perms} {m.path}"
                    )
                mine.append((m.start - self.base, m.end - self.base, m.prot))
            vmas[spid] = mine
            ranges = [(s, e) for s, e, _ in mine] + [
                (s, e) for s, e, _ in engine.vmas.get(spid, [])
            ]
            for start, end in _merge_ranges(ranges):
                entries = read_pagemap(agent.pid, self.base + start, (end - start) // PAGE_SIZE)
                for i, entry in enumerate(entries):
                    if entry.none:
                        continue
                    ptes[(spid, start + i * PAGE_SIZE)] = self._kpte(entry)
        alive = {spid: _alive(agent.pid) for spid, agent in agents.items()}
        return KernelView(vmas, ptes, stray, alive)

    def _kpte(self, entry: Any) -> KPte:
        if entry.swapped:
            return KPte("swap", swap=entry.swap_entry)
        if not entry.pfn or self.kpages is None:
            return KPte("present", mapped_once=entry.exclusive)
        flags = self.kpages.flags(entry.pfn)
        if kpf_has(flags, KPF_ZERO_PAGE):
            return KPte("zero", pfn=entry.pfn, flags=flags)
        return KPte(
            "page",
            pfn=entry.pfn,
            mapped_once=entry.exclusive,
            flags=flags,
            count=self.kpages.count(entry.pfn),
        )


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
