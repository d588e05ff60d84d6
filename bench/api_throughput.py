"""Op round trips through the real server, against a bare endpoint of the same server.

Usage: python bench/api_throughput.py [--seconds 10] [--clients 8]

Starts uvicorn (one worker, a fresh SQLite file), then for SECONDS each, with CLIENTS
concurrent keep-alive clients: (1) GET /healthz, the bare endpoint; (2) POST an op to a
teaching-size session (2 processes, 32 pages; writes and reads over its pages, a fork and
a reclaim now and then), each client on its own session. Prints requests/s and p50/p99
latency of both; the last line is "op/bare throughput ratio: <number>".
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.api.server import Server  # noqa: E402

SETUP = [
    {"op": "spawn", "pid": 1},
    {"op": "mmap", "pid": 1, "addr": "0x10000", "pages": 32, "prot": "rw"},
    {"op": "write", "pid": 1, "addr": "0x10000", "value": 1, "pages": 32},
    {"op": "fork", "pid": 1, "child": 2},
]


def _op(i: int) -> dict:
    pid = 1 + i % 2
    addr = 0x10000 + (i * 7 % 32) * 0x1000
    if i % 50 == 49:
        return {"op": "reclaim", "pid": pid, "addr": addr}
    if i % 3 == 0:
        return {"op": "write", "pid": pid, "addr": addr, "value": i}
    return {"op": "read", "pid": pid, "addr": addr}


def _load(url: str, seconds: float, clients: int, op_mode: bool) -> list[float]:
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(k: int) -> None:
        mine = []
        with httpx.Client(base_url=url, timeout=30) as c:
            sid = None
            i = 0
            while time.monotonic() < deadline:
                if op_mode and (sid is None or i >= 1500):  # stay under the step limit
                    sid = c.post("/api/sessions", json={"ops": SETUP, "at_step": 4}).json()["id"]
                    i = 0
                t = time.perf_counter()
                if op_mode:
                    r = c.post(f"/api/sessions/{sid}/ops", json={"op": _op(i)})
                else:
                    r = c.get("/healthz")
                mine.append(time.perf_counter() - t)
                r.raise_for_status()
                i += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies


def _report(name: str, lat: list[float], seconds: float) -> float:
    rate = len(lat) / seconds
    q = statistics.quantiles(lat, n=100)
    print(f"{name:<6} {rate:8.0f} req/s   p50 {q[49] * 1e3:6.2f} ms   p99 {q[98] * 1e3:6.2f} ms")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp) / "bench.sqlite3").start()
        try:
            bare = _report(
                "bare", _load(server.url, args.seconds, args.clients, False), args.seconds
            )
            ops = _report("op", _load(server.url, args.seconds, args.clients, True), args.seconds)
        finally:
            server.stop()
    print(f"machine: {os.cpu_count()} cores; uvicorn, 1 worker; {args.clients} clients")
    print(f"op/bare throughput ratio: {ops / bare:.2f}")


if __name__ == "__main__":
    main()
