"""A fork storm through the engine with the invariant checker after every step.

Usage: python bench/fork_storm.py [--forks 15,30,60] [--design anon_vma_rfc2]

One process maps 4096 pages, writes them all, then forks N children; the whole run
(``run_scenario``, every step's document and invariants) is timed with the full checker
and with the incremental one (the service's and the CLI's default). The last line is
"60-fork 4096-page run with incremental checking: <s> s" (for the largest N).
"""

from __future__ import annotations

import argparse
import importlib
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--forks", default="15,30,60")
    parser.add_argument("--design", default="anon_vma_rfc2")
    args = parser.parse_args()
    seconds = 0.0
    for forks in (int(n) for n in args.forks.split(",")):
        row = []
        for mode in ("full", "incremental"):
            checker.set_mode(mode)
            t = time.perf_counter()
            run_scenario(storm(forks, args.design))
            seconds = time.perf_counter() - t
            row.append(f"{mode} {seconds:6.2f} s")
        print(f"{forks:3} forks: " + ", ".join(row))
    print(f"{forks}-fork 4096-page run with incremental checking: {seconds:.2f} s")


if __name__ == "__main__":
    main()
