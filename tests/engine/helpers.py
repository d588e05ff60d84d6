"""Small builders shared by the engine tests."""

from __future__ import annotations

from collections.abc import Callable

from app.engine import apply, check, new_state, parse_op
from app.engine.state import State

#: The reference scenarios of the behavioural spec (§11) that scenarios/ holds.
SPEC_SCENARIOS = (
    "s1-first-touch",
    "s2-zero-page",
    "s3-fork-shares",
    "s4-aim7-shape",
    "s5-cow-both-ways",
    "s6-mprotect-split-merge",
    "s7-munmap-middle",
    "s8-mremap-move",
    "s9-fork-cow-mremap",
    "s13-grandchild",
    "s15-mremap-untouched",
)


def run_ops(*ops: dict, design: str = "anon_vma_rfc2", options: tuple[str, ...] = ()) -> State:
    """The state after applying JSON ops in order (spawn of pid 1 included by the caller)."""
    state = new_state(design, options)
    for op in ops:
        state = apply(state, parse_op(op)).state
    return state


def step_by_step(*ops: dict, design: str, options: tuple[str, ...] = ()) -> list:
    """(state, events, walks) after each JSON op, in order."""
    state = new_state(design, options)
    out = []
    for op in ops:
        result = apply(state, parse_op(op))
        state = result.state
        out.append((state, result.events, result.walks))
    return out


def spawn(pid: int = 1) -> dict:
    return {"op": "spawn", "pid": pid}


def mmap(addr: int, pages: int, prot: str = "rw", pid: int = 1) -> dict:
    return {"op": "mmap", "pid": pid, "addr": addr, "pages": pages, "prot": prot}


def write(addr: int, value: int = 1, pid: int = 1) -> dict:
    return {"op": "write", "pid": pid, "addr": addr, "value": value}


def read(addr: int, pid: int = 1) -> dict:
    return {"op": "read", "pid": pid, "addr": addr}


def fork(child: int, pid: int = 1) -> dict:
    return {"op": "fork", "pid": pid, "child": child}


def mprotect(addr: int, pages: int, prot: str, pid: int = 1) -> dict:
    return {"op": "mprotect", "pid": pid, "addr": addr, "pages": pages, "prot": prot}


def munmap(addr: int, pages: int, pid: int = 1) -> dict:
    return {"op": "munmap", "pid": pid, "addr": addr, "pages": pages}


def mremap(
    addr: int, pages: int, new_pages: int, new_addr: int | None = None, pid: int = 1
) -> dict:
    op = {"op": "mremap", "pid": pid, "addr": addr, "pages": pages, "new_pages": new_pages}
    if new_addr is not None:
        op["new_addr"] = new_addr
    return op


def reclaim(pfn: int) -> dict:
    return {"op": "reclaim", "pfn": pfn}


def vmas_of(state: State, pid: int = 1) -> list[tuple[int, int, int, int, str, int | None]]:
    """(id, vm_start, vm_end, vm_pgoff, prot, anon_vma) of each vma of ``pid``."""
    return [
        (v.id, v.vm_start, v.vm_end, v.vm_pgoff, v.prot, v.anon_vma)
        for v in (state.vmas[i] for i in state.mms[pid].vmas)
    ]


def lists(state: State) -> dict[int, tuple[int, ...]]:
    """Every anon_vma's list, head first."""
    return {av.id: av.vmas for av in state.anon_vmas.values()}


def corrupt(state: State, fn: Callable[[State], None]) -> State:
    """A copy of ``state`` that ``fn`` has changed behind the engine's back (for the checker)."""
    st = state.begin()
    fn(st)
    return st.finish()


def rules(state: State) -> set[str]:
    """The rules the checker says ``state`` breaks."""
    return {v.rule for v in check(state)}


#: A walk's and a visit's fields as the behavioural reference states them; the walk
#: player's fields (vma_address, the PTE before and after, ...) are tested on their own.
WALK_KEYS = ("pfn", "via", "visited", "candidates", "unmapped", "remaining")
VISIT_KEYS = ("kind", "id", "result", "pid", "addr", "note")


def reference_walks(walks: list[dict]) -> list[dict]:
    """Step-document walks cut down to the fields the reference tests compare."""
    return [
        {
            **{k: w[k] for k in WALK_KEYS},
            "visited": [{k: v[k] for k in VISIT_KEYS if k in v} for v in w["visited"]],
        }
        for w in walks
    ]
