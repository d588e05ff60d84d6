"""A plain reference model of anonymous memory: what every process reads, nothing else.

No vmas, no frames, no swap, no rmap: per pid a dict ``vpn -> (prot, value)``. It applies
the ops of the scenario format (as normalised JSON objects, ``op_to_json(parse_op(...))``)
and predicts the outcome ("ok"/"segv") and every value read.

Acceptance: the model mirrors every check of the engine that does not depend on how the
mapped pages are cut into vmas (unknown/exited/reused pid, overlapping fixed mmap,
mprotect over a hole, TASK_SIZE...). Whether an mremap range of several pages lies inside
*one* vma depends on the vma structure, so there ``judge`` answers ``ENGINE``: the engine
decides, and when it refuses, the model is not applied.

``judge`` never changes the model; ``apply`` validates everything before changing it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
TASK_SIZE = 0xC0000000
MMAP_MIN_ADDR = 0x10000
MAX_PAGES = TASK_SIZE >> PAGE_SHIFT

#: the model is sure the engine accepts / refuses the op, or the vma layout decides
ACCEPT, REJECT, ENGINE = "accept", "reject", "engine"

Page = tuple[str, int]  # (prot, value)


class ModelReject(Exception):
    """The model is sure the engine must refuse this op (an ``OpError``)."""


@dataclass(frozen=True)
class Verdict:
    kind: str  # ACCEPT, REJECT or ENGINE
    reason: str = ""


@dataclass
class Prediction:
    """What the engine's ``StepResult`` must say."""

    outcome: str = "ok"
    value: int | None = None  # single-page read
    values: list[int] | None = None  # multi-page read
    pages_done: int | None = None  # multi-page read or write
    addr: int | None = None  # where mmap mapped the range


def readable(prot: str) -> bool:
    """x86: any access right allows a load."""
    return prot != "none"


def writable(prot: str) -> bool:
    return "w" in prot


class ReferenceModel:
    """Per pid, the pages it maps with their protection and value."""

    def __init__(self) -> None:
        self.procs: dict[int, dict[int, Page]] = {}
        self.used: set[int] = set()

    # ----- inspection -----------------------------------------------------------------

    def snapshot(self) -> tuple[dict[int, dict[int, Page]], frozenset[int]]:
        return copy.deepcopy(self.procs), frozenset(self.used)

    def pids(self) -> list[int]:
        return sorted(self.procs)

    def page(self, pid: int, addr: int) -> Page | None:
        return self.procs[pid].get(addr >> PAGE_SHIFT)

    def expected_read(self, pid: int, addr: int) -> int | None:
        """The value a read of ``addr`` gives, None for SIGSEGV."""
        page = self.page(pid, addr)
        if page is None or not readable(page[0]):
            return None
        return page[1]

    # ----- the two entry points ---------------------------------------------------------

    def judge(self, op: Mapping[str, Any]) -> Verdict:
        """Whether the engine must accept, must refuse, or decides (vma layout)."""
        try:
            certain, _ = self._plan(op)
        except ModelReject as exc:
            return Verdict(REJECT, str(exc))
        return Verdict(ACCEPT if certain else ENGINE)

    def apply(self, op: Mapping[str, Any]) -> Prediction:
        """Apply an op the engine accepted; raises ``ModelReject`` (unchanged) if invalid."""
        _, action = self._plan(op)
        return action()

    # ----- planning: validate first, then return the change ------------------------------

    def _need(self, pid: int) -> dict[int, Page]:
        if pid not in self.procs:
            raise ModelReject(f"pid {pid} has exited" if pid in self.used else f"unknown pid {pid}")
        return self.procs[pid]

    @staticmethod
    def _end_ok(vpn: int, pages: int) -> None:
        if vpn + pages > MAX_PAGES:
            raise ModelReject("the range runs past TASK_SIZE")

    @staticmethod
    def lowest_free(table: Mapping[int, Page], pages: int) -> int | None:
        """The vpn of the lowest free run of ``pages`` pages at or above MMAP_MIN_ADDR."""
        lo = MMAP_MIN_ADDR >> PAGE_SHIFT
        for vpn in sorted(table):
            if vpn < lo:
                continue
            if vpn - lo >= pages:
                return lo
            lo = vpn + 1
        return lo if lo + pages <= MAX_PAGES else None

    def _plan(self, op: Mapping[str, Any]) -> tuple[bool, Callable[[], Prediction]]:
        name = op["op"]
        planner = getattr(self, f"_plan_{name}")
        return planner(op)

    def _plan_spawn(self, op: Mapping[str, Any]) -> tuple[bool, Callable[[], Prediction]]:
        pid = op["pid"]
        if pid in self.used:
            raise ModelReject(f"pid {pid} is already in use or was used before")

        def act() -> Prediction:
            self.used.add(pid)
            self.procs[pid] = {}
            return Prediction()

        return True, act

    def _plan_mmap(self, op: Mapping[str, Any]) -> tuple[bool, Callable[[], Prediction]]:
        table = self._need(op["pid"])
        pages, prot, addr = op["pages"], op["prot"], op.get("addr")
        if addr is None:
            start = self.lowest_free(table, pages)
            if start is None:
                raise ModelReject("no free range")
        else:
            start = addr >> PAGE_SHIFT
            self._end_ok(start, pages)
            if any(v in table for v in range(start, start + pages)):
                raise ModelReject("overlapping fixed mmap (EEXIST)")

        def act() -> Prediction:
            for v in range(start, start + pages):
                table[v] = (prot, 0)
            return Prediction(addr=start << PAGE_SHIFT)

        return True, act

    def _plan_access(
        self, op: Mapping[str, Any], value: int | None
    ) -> tuple[bool, Callable[[], Prediction]]:
        table = self._need(op["pid"])
        first = op["addr"] >> PAGE_SHIFT
        pages = op.get("pages", 1)
        self._end_ok(first, pages)

        def act() -> Prediction:
            done = 0
            values = []
            for v in range(first, first + pages):
                page = table.get(v)
                if page is None:
                    break
                if value is None:
                    if not readable(page[0]):
                        break
                    values.append(page[1])
                else:
                    if not writable(page[0]):
                        break
                    table[v] = (page[0], value)
                done += 1
            outcome = "ok" if done == pages else "segv"
            if pages == 1:
                return Prediction(outcome, value=values[0] if values else None)
            return Prediction(outcome, values=values if value is None else None, pages_done=done)

        return True, act

    def _plan_read(self, op: Mapping[str, Any]) -> tuple[bool, Callable[[], Prediction]]:
        return self._plan_access(op, None)

    def _plan_write(self, op: Mapping[str, Any]) -> tuple[bool, Callable[[], Prediction]]:
        return self._plan_access(op, op["value"])

    def _plan_fork(self, op: Mapping[str, Any]) -> tuple[bool, Callable[[], Prediction]]:
        table = self._need(op["pid"])
        child = op["child"]
        if child in self.used:
            raise ModelReject(f"pid {child} is already in use or was used before")

        def act() -> Prediction:
            self.used.add(child)
            self.procs[child] = dict(table)
            return Prediction()

        return True, act

    def _plan_exit(self, op: Mapping[str, Any]) -> tuple[bool, Callable[[], Prediction]]:
        pid = op["pid"]
        self._need(pid)

        def act() -> Prediction:
            del self.procs[pid]
            return Prediction()

        return True, act

    def _plan_munmap(self, op: Mapping[str, Any]) -> tuple[bool, Callable[[], Prediction]]:
        table = self._need(op["pid"])
        start, pages = op["addr"] >> PAGE_SHIFT, op["pages"]
        self._end_ok(start, pages)

        def act() -> Prediction:
            for v in range(start, start + pages):
                table.pop(v, None)
            return Prediction()

        return True, act

    def _plan_mprotect(self, op: Mapping[str, Any]) -> tuple[bool, Callable[[], Prediction]]:
        table = self._need(op["pid"])
        start, pages, prot = op["addr"] >> PAGE_SHIFT, op["pages"], op["prot"]
        self._end_ok(start, pages)
        if any(v not in table for v in range(start, start + pages)):
            raise ModelReject("mprotect over a hole (ENOMEM)")

        def act() -> Prediction:
            for v in range(start, start + pages):
                table[v] = (prot, table[v][1])
            return Prediction()

        return True, act

    def _mremap_source(self, table: dict[int, Page], start: int, pages: int) -> str:
        """The prot of the range mremap moves, which must be mapped whole with one prot."""
        self._end_ok(start, pages)
        old = range(start, start + pages)
        if any(v not in table for v in old):
            raise ModelReject("mremap: the old range is not fully mapped (EFAULT)")
        prot = table[start][0]
        if any(table[v][0] != prot for v in old):
            raise ModelReject("mremap: the old range spans vmas of different prot (EFAULT)")
        return prot

    def _mremap_fixed_dest(
        self, table: dict[int, Page], start: int, pages: int, new_pages: int, new_addr: int
    ) -> int:
        """The first page of a fixed mremap destination, which must be free and apart from
        the old range."""
        dest = new_addr >> PAGE_SHIFT
        self._end_ok(dest, new_pages)
        if dest < start + pages and start < dest + new_pages:
            raise ModelReject("mremap: the new range overlaps the old one (EINVAL)")
        if any(v in table for v in range(dest, dest + new_pages)):
            raise ModelReject("mremap onto a mapped range")
        return dest

    def _plan_mremap(self, op: Mapping[str, Any]) -> tuple[bool, Callable[[], Prediction]]:
        table = self._need(op["pid"])
        start, pages, new_pages = op["addr"] >> PAGE_SHIFT, op["pages"], op["new_pages"]
        new_addr = op.get("new_addr")
        prot = self._mremap_source(table, start, pages)
        # One page always lies inside one vma; several may straddle a vma boundary.
        certain = pages == 1

        def move(count: int, dest: int) -> None:
            _move_pages(table, start, count, dest, new_pages, prot)

        def unmap(lo: int, hi: int) -> None:
            for v in range(lo, hi):
                del table[v]

        if new_addr is not None:
            dest = self._mremap_fixed_dest(table, start, pages, new_pages, new_addr)

            def act_fixed() -> Prediction:
                if new_pages < pages:
                    unmap(start + new_pages, start + pages)
                move(min(pages, new_pages), dest)
                return Prediction()

            return certain, act_fixed

        if new_pages <= pages:

            def act_shrink() -> Prediction:
                unmap(start + new_pages, start + pages)
                return Prediction()

            return certain, act_shrink

        tail = range(start + pages, start + new_pages)
        if start + new_pages <= MAX_PAGES and not any(v in table for v in tail):

            def act_grow() -> Prediction:
                for v in tail:
                    table[v] = (prot, 0)
                return Prediction()

            return certain, act_grow

        found = self.lowest_free(table, new_pages)
        if found is None:
            raise ModelReject("mremap: no free range (ENOMEM)")
        dest_vpn = found

        def act_move() -> Prediction:
            move(pages, dest_vpn)
            return Prediction()

        return certain, act_move

    def _plan_merge(self, op: Mapping[str, Any]) -> tuple[bool, Callable[[], Prediction]]:
        table = self._need(op["pid"])
        if op["addr"] >> PAGE_SHIFT not in table:
            raise ModelReject("merge: no vma contains the address")
        return True, Prediction

    def _plan_reclaim(self, op: Mapping[str, Any]) -> tuple[bool, Callable[[], Prediction]]:
        if op.get("pid") is not None:
            self._need(op["pid"])
        # Reclaim never changes what any process reads.
        return True, Prediction


def _move_pages(
    table: dict[int, Page], start: int, count: int, dest: int, new_pages: int, prot: str
) -> None:
    """Move ``count`` pages from ``start`` to ``dest``; the rest of ``new_pages`` is new."""
    moved = [table.pop(v) for v in range(start, start + count)]
    for i, page in enumerate(moved):
        table[dest + i] = page
    for v in range(dest + count, dest + new_pages):
        table[v] = (prot, 0)
