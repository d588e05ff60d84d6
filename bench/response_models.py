"""What validating a session document through its response model would cost.

Usage: python bench/response_models.py [--pages 2048] [--repeat 10]

The large documents (sessions, steps, runs, compare) are encoded once in the engine
worker and sent as they are; their routes declare the response models for /openapi.json
only. This measures why: for a session over a written and forked mapping of PAGES pages
under two designs, the time to encode the document (what the worker does) against the
time to validate it through ``models.Session`` (what ``response_model`` would add). The
last line is "validate/encode ratio: <number>".
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.api import models  # noqa: E402
from app.api.config import Settings  # noqa: E402
from app.api.worker import Engine  # noqa: E402


def timed(fn: Callable[[], object], repeat: int) -> float:
    """The median milliseconds of ``fn``."""
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - start) * 1000)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=2048)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    ops = [
        {"op": "spawn", "pid": 1},
        {"op": "mmap", "pid": 1, "addr": 0x10000, "pages": args.pages, "prot": "rw"},
        {"op": "write", "pid": 1, "addr": 0x10000, "value": 1, "pages": args.pages},
        {"op": "fork", "pid": 1, "child": 2},
    ]
    designs = [
        {"design": "anon_vma_rfc2", "options": []},
        {"design": "anon_vma_chain", "options": []},
    ]
    head = {
        "id": "bench",
        "view_id": "view",
        "read_only": False,
        "step": len(ops),
        "length": len(ops),
        "scenario": None,
    }
    data = Engine(Settings(db=":memory:")).create("bench", 1, designs, ops, head)
    doc = json.loads(data)
    encode = timed(
        lambda: json.dumps(
            doc, ensure_ascii=False, allow_nan=False, separators=(",", ":")
        ).encode(),
        args.repeat,
    )
    validate = timed(lambda: models.Session.model_validate(doc), args.repeat)
    print(f"session document: {len(data) / 1024:.0f} KiB ({args.pages} pages, 2 designs)")
    print(f"encode (json.dumps, in the worker): {encode:.1f} ms")
    print(f"validate (models.Session): {validate:.1f} ms")
    print(f"validate/encode ratio: {validate / encode:.1f}")


if __name__ == "__main__":
    main()
