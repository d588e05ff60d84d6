"""A 1,000-step random scenario end to end in the engine (target: under 1 s).

Usage: python bench/random_steps.py [--steps 1000] [--seed 1]

Ops are drawn from the current state so that nearly all of them apply (a few invalid
ones are kept to exercise the error path). Reports the time of apply() alone, then of
apply() plus the JSON document of every step, plus the invariant checker.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.engine import EngineError, apply, check, new_state, parse_op, state_to_json
from app.engine.state import State

PROTS = ("r", "rw", "rw", "rw", "none")


def random_op(rng: random.Random, st: State, next_pid: list[int]) -> dict:
    pids = sorted(st.mms)
    if not pids or rng.random() < 0.02:
        next_pid[0] += 1
        return {"op": "spawn", "pid": next_pid[0]}
    pid = rng.choice(pids)
    vmas = [st.vmas[v] for v in st.mms[pid].vmas]
    kind = rng.choices(
        [
            "mmap",
            "write",
            "read",
            "fork",
            "exit",
            "munmap",
            "mprotect",
            "mremap",
            "merge",
            "reclaim",
        ],
        weights=[8, 30, 15, 4, 2, 4, 6, 5, 3, 10],
    )[0]
    addr = 0x10000 + rng.randrange(64) * 0x1000
    if kind == "mmap" or not vmas:
        return {"op": "mmap", "pid": pid, "pages": rng.randint(1, 8), "prot": rng.choice(PROTS)}
    vma = rng.choice(vmas)
    inside = rng.randrange(vma.vm_start, vma.vm_end, 0x1000)
    pages = rng.randint(1, max(1, (vma.vm_end - inside) >> 12))
    if kind == "write":
        return {"op": "write", "pid": pid, "addr": inside, "value": rng.randint(0, 999)}
    if kind == "read":
        return {"op": "read", "pid": pid, "addr": inside}
    if kind == "fork":
        if len(st.mms) > 6:
            return {"op": "exit", "pid": pid}
        next_pid[0] += 1
        return {"op": "fork", "pid": pid, "child": next_pid[0]}
    if kind == "exit":
        return {"op": "exit", "pid": pid}
    if kind == "munmap":
        return {"op": "munmap", "pid": pid, "addr": inside, "pages": pages}
    if kind == "mprotect":
        return {
            "op": "mprotect",
            "pid": pid,
            "addr": inside,
            "pages": pages,
            "prot": rng.choice(PROTS),
        }
    if kind == "mremap":
        op = {
            "op": "mremap",
            "pid": pid,
            "addr": inside,
            "pages": pages,
            "new_pages": rng.randint(1, 8),
        }
        if rng.random() < 0.5:
            op["new_addr"] = addr + 0x100000
        return op
    if kind == "merge":
        return {"op": "merge", "pid": pid, "addr": vma.vm_start}
    if st.page_mapcount and rng.random() < 0.7:
        return {"op": "reclaim", "pfn": rng.choice(sorted(st.page_mapcount))}
    return {"op": "reclaim", "count": rng.randint(1, 3)}


def build(steps: int, seed: int) -> list[dict]:
    """A random scenario of ``steps`` ops (generated against the engine's own states)."""
    rng = random.Random(seed)
    st = new_state("anon_vma_rfc2")
    ops, next_pid = [], [0]
    while len(ops) < steps:
        op = random_op(rng, st, next_pid)
        try:
            st = apply(st, parse_op(op)).state
        except EngineError:
            if rng.random() < 0.9:
                continue
        ops.append(op)
    return ops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    ops = [parse_op(op) for op in build(args.steps, args.seed)]
    for label, document, checked in (
        ("apply", False, False),
        ("apply+json", True, False),
        ("apply+json+check", True, True),
    ):
        st = new_state("anon_vma_rfc2")
        errors = 0
        t0 = time.perf_counter()
        for op in ops:
            try:
                result = apply(st, op)
            except EngineError:
                errors += 1
                continue
            st = result.state
            if document:
                state_to_json(st)
            if checked:
                assert not check(st)
        elapsed = time.perf_counter() - t0
        print(f"{label}: {len(ops)} steps ({errors} refused) in {elapsed * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
