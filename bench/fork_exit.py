"""Engine fork+exit against the real kernel's fork+exit+wait, with the same touched pages.

Usage: python bench/fork_exit.py --pages 262144 [--repeat 5] [--designs all|a,b,...]

The engine side (a fresh interpreter) builds one process with PAGES touched pages
(mmap + one bulk write), then times apply(fork) + apply(exit of the child). The kernel
side (another fresh interpreter) maps PAGES private anonymous pages with
MADV_NOHUGEPAGE, writes one byte per page, then times os.fork() + child _exit(0) +
waitpid. Each side runs in its own process so the peak RSS reported for the engine is
the engine's alone. The last line is "engine/kernel ratio: <number>" (best of N each) for
the design measured (anon_vma_rfc2 by default); with several designs, for the slowest.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def engine_side(pages: int, repeat: int, design: str) -> dict[str, float]:
    import resource

    sys.path.insert(0, str(ROOT))
    from app.engine import apply, new_state, parse_op

    state = new_state(design)
    for op in (
        {"op": "spawn", "pid": 1},
        {"op": "mmap", "pid": 1, "addr": 0x100000, "pages": pages, "prot": "rw"},
    ):
        state = apply(state, parse_op(op)).state
    t0 = time.perf_counter()
    state = apply(
        state, parse_op({"op": "write", "pid": 1, "addr": 0x100000, "value": 7, "pages": pages})
    ).state
    touch = time.perf_counter() - t0
    best_fork = best_total = float("inf")
    for i in range(repeat):
        child = 2 + i
        t0 = time.perf_counter()
        forked = apply(state, parse_op({"op": "fork", "pid": 1, "child": child})).state
        t1 = time.perf_counter()
        exited = apply(forked, parse_op({"op": "exit", "pid": child}))
        t2 = time.perf_counter()
        del forked, exited  # keep one fork alive at a time: the peak is one fork's worth
        best_fork = min(best_fork, t1 - t0)
        best_total = min(best_total, t2 - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"touch_s": touch, "fork_s": best_fork, "fork_exit_s": best_total, "peak_mb": peak}


def kernel_side(pages: int, repeat: int) -> dict[str, float]:
    import mmap
    import os

    region = mmap.mmap(-1, pages * 4096, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    region.madvise(mmap.MADV_NOHUGEPAGE)
    for offset in range(0, pages * 4096, 4096):
        region[offset] = 1
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        best = min(best, time.perf_counter() - t0)
    return {"fork_exit_wait_s": best}


def _side(name: str, pages: int, repeat: int, design: str = "") -> dict[str, float]:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--side",
            name,
            "--pages",
            str(pages),
            "--repeat",
            str(repeat),
            "--designs",
            design,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=1 << 18)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--designs",
        default="anon_vma_rfc2",
        help="the designs to measure: all, or names separated by commas",
    )
    parser.add_argument("--side", choices=("engine", "kernel"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side == "kernel":
        print(json.dumps(kernel_side(args.pages, args.repeat)))
        return
    if args.side == "engine":
        print(json.dumps(engine_side(args.pages, args.repeat, args.designs)))
        return
    if args.designs == "all":
        sys.path.insert(0, str(ROOT))
        from app.engine import available_designs

        designs = list(available_designs())
    else:
        designs = args.designs.split(",")
    kernel = _side("kernel", args.pages, args.repeat)
    per_page = kernel["fork_exit_wait_s"] / args.pages * 1e9
    print(f"pages: {args.pages}")
    print(
        f"kernel fork+exit+wait: {kernel['fork_exit_wait_s'] * 1e3:.1f} ms ({per_page:.0f} ns/page)"
    )
    ratios = []
    for design in designs:
        engine = _side("engine", args.pages, args.repeat, design)
        ratio = engine["fork_exit_s"] / kernel["fork_exit_wait_s"]
        ratios.append(ratio)
        print(
            f"{design:<16} fork {engine['fork_s'] * 1e3:7.1f} ms, fork+exit "
            f"{engine['fork_exit_s'] * 1e3:7.1f} ms, peak RSS {engine['peak_mb']:4.0f} MB, "
            f"ratio {ratio:5.2f} (building the state: {engine['touch_s']:.2f} s)"
        )
    print(f"engine/kernel ratio: {max(ratios):.2f}")


if __name__ == "__main__":
    main()
