"""A fork storm through the engine with the invariant checker after every step.

Usage: python bench/fork_storm.py [--forks 15,30,60] [--design anon_vma_rfc2]

One process maps 4096 pages, writes them all, then forks N children; the whole run
(``run_scenario``, every step's document and invariants) is timed with the full checker
and with the incremental one (the service's and the CLI's default), each run in a fresh
interpreter (as a service worker would: no other run's states left in its heap). The last
line is "60-fork 4096-page run with incremental checking: <s> s" (for the largest N).
"""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.engine import run_scenario

checker = importlib.import_module("app.engine.check")


def storm(forks: int, design: str) -> dict:
    return {
        "name": "fork-storm",
        "design": design,
        "ops": [
            {"op": "spawn", "pid": 1},
            {"op": "mmap", "pid": 1, "addr": 0x10000, "pages": 4096, "prot": "rw"},
            {"op": "write", "pid": 1, "addr": 0x10000, "value": 1, "pages": 4096},
            *({"op": "fork", "pid": 1, "child": c} for c in range(2, 2 + forks)),
        ],
    }


def timed(forks: int, design: str, mode: str) -> float:
    """Seconds of one run, measured in this process."""
    checker.set_mode(mode)
    t = time.perf_counter()
    run_scenario(storm(forks, design))
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--forks", default="15,30,60")
    parser.add_argument("--design", default="anon_vma_rfc2")
    parser.add_argument("--one", metavar="MODE", help=argparse.SUPPRESS)  # a child's run
    args = parser.parse_args()
    if args.one:
        print(timed(int(args.forks), args.design, args.one))
        return
    seconds = 0.0
    for forks in (int(n) for n in args.forks.split(",")):
        row = []
        for mode in ("full", "incremental"):
            child = [sys.executable, __file__, "--forks", str(forks), "--design", args.design]
            out = subprocess.run([*child, "--one", mode], capture_output=True, text=True)
            if out.returncode:
                sys.exit(out.stderr)
            seconds = float(out.stdout)
            row.append(f"{mode} {seconds:6.2f} s")
        print(f"{forks:3} forks: " + ", ".join(row), flush=True)
    print(f"{forks}-fork 4096-page run with incremental checking: {seconds:.2f} s")


if __name__ == "__main__":
    main()
