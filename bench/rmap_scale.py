"""The seed's scale: a fork family of 1,000 processes x 16 vmas, 10,000 reclaims per design.

Usage: python bench/rmap_scale.py [--processes 1000] [--vmas 16] [--reclaims 10000]
                                  [--designs all|a,b,...]

Setup (not timed): process 1 maps VMAS vmas of 4 pages (with gaps, so none merge) and
writes every page; it forks PROCESSES-1 children; child i writes one page (vma i % VMAS),
so each holds one private copy. Workload: RECLAIMS rounds of "reclaim the frame at
(pid, addr)" for a seeded random (pid, addr); when that PTE is a swap entry, the process
first reads it back in (a swap-in, not timed).

Two rates per design, from a fresh interpreter running that design alone:
- walk visits/s: simulated rmap visits per second of time spent in the rmap walk itself
  (``try_to_unmap``: the design's walk, the probes, the unmapping) -- the target metric;
- reclaims/s: whole reclaim ops per second (the walk plus the swap slot, the swap cache,
  the events and the step's copy-on-write of the state's tables).
and the peak RSS. The last line is "min visits/s over designs: <number>" (walk visits/s).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = 4


def one_design(design: str, processes: int, vmas: int, reclaims: int) -> dict[str, float]:
    import resource

    sys.path.insert(0, str(ROOT))
    import app.engine.reclaim as reclaim
    from app.engine import apply, new_state, parse_op
    from app.engine.state import PTE_KIND, PTE_SWAP

    walk_time = [0.0]
    untimed = reclaim.try_to_unmap

    def timed(step, pfn):  # the same signature as try_to_unmap
        t = time.perf_counter()
        walk = untimed(step, pfn)
        walk_time[0] += time.perf_counter() - t
        return walk

    reclaim.try_to_unmap = timed

    def do(state, op):
        return apply(state, parse_op(op)).state

    t0 = time.perf_counter()
    st = do(new_state(design), {"op": "spawn", "pid": 1})
    bases = [0x100000 + i * 0x10000 for i in range(vmas)]
    for base in bases:
        st = do(st, {"op": "mmap", "pid": 1, "addr": base, "pages": PAGES, "prot": "rw"})
        st = do(st, {"op": "write", "pid": 1, "addr": base, "value": 1, "pages": PAGES})
    for child in range(2, processes + 1):
        st = do(st, {"op": "fork", "pid": 1, "child": child})
    for child in range(2, processes + 1):
        base = bases[child % vmas] + ((child // vmas) % PAGES) * 0x1000
        st = do(st, {"op": "write", "pid": child, "addr": base, "value": child})
    setup = time.perf_counter() - t0
    rng = random.Random(7)
    visits_before = st.counters["rmap_visits"]
    reclaim_time = 0.0
    for _ in range(reclaims):
        pid = rng.randint(1, processes)
        addr = rng.choice(bases) + rng.randrange(PAGES) * 0x1000
        pte = st.ptes[pid].get(addr >> 12)
        if pte is not None and pte & PTE_KIND == PTE_SWAP:
            st = do(st, {"op": "read", "pid": pid, "addr": addr})
        op = parse_op({"op": "reclaim", "pid": pid, "addr": addr})
        t1 = time.perf_counter()
        st = apply(st, op).state
        reclaim_time += time.perf_counter() - t1
    visits = st.counters["rmap_visits"] - visits_before
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "setup_s": setup,
        "reclaim_s": reclaim_time,
        "walk_s": walk_time[0],
        "visits": visits,
        "visits_per_s": visits / walk_time[0] if walk_time[0] else 0.0,
        "reclaims_per_s": reclaims / reclaim_time,
        "peak_mb": peak,
        "walks": st.counters["rmap_walks"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=1000)
    parser.add_argument("--vmas", type=int, default=16)
    parser.add_argument("--reclaims", type=int, default=10000)
    parser.add_argument("--designs", default="all")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_design(args.one, args.processes, args.vmas, args.reclaims)))
        return
    sys.path.insert(0, str(ROOT))
    from app.engine import available_designs

    designs = list(available_designs()) if args.designs == "all" else args.designs.split(",")
    rates = []
    print(
        f"{args.processes} processes x {args.vmas} vmas x {PAGES} pages, {args.reclaims} reclaims"
    )
    for design in designs:
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--one",
                design,
                "--processes",
                str(args.processes),
                "--vmas",
                str(args.vmas),
                "--reclaims",
                str(args.reclaims),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        r = json.loads(out.stdout)
        rates.append(r["visits_per_s"])
        print(
            f"{design:<16} setup {r['setup_s']:5.1f} s  {r['walks']} walks  "
            f"{r['visits']} visits  walk visits/s {r['visits_per_s']:>11,.0f}  "
            f"reclaims/s {r['reclaims_per_s']:>7,.0f}  peak {r['peak_mb']:.0f} MB"
        )
    print(f"min visits/s over designs: {min(rates):.0f}")


if __name__ == "__main__":
    main()
