"""Op throughput of ``rmaplab serve --workers 2`` against ``--workers 1``, over one Redis.

Usage: python bench/workers.py [--seconds 30] [--rounds 3] [--clients 32]

Starts a redis-server (AOF, appendfsync always, in a temporary folder), then, in the same
run and over that same Redis, ``rmaplab serve --workers 1`` and ``rmaplab serve --workers
2`` side by side (default engine workers: one per core per server process), and drives
them in turn, ``--rounds`` times each (1, 2, 2, 1, 1, 2, ...: a machine shared with other
jobs drifts, and the drift falls on both), ``--seconds`` in all for each, every turn after
a 1 s warm-up. The driver is ``--clients`` keep-alive connections from one asyncio process
(a minimal HTTP/1.1 client, so that the load generator takes little of the machine), each
applying ops (a write or a read of a page) to its own session one after the other. An op
is one ``POST /api/sessions/{id}/ops`` answered 200; a session that reaches
RMAPLAB_MAX_STEPS is replaced. Prints ops/s and p50/p99 of each, and as its last line
``2-worker/1-worker op throughput: <ratio>``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.api.server import RedisServer, Server  # noqa: E402

#: a small machine: the engine's share of an op stays small, so what is measured is the
#: service's own cost per request (HTTP, JSON, the store, the pipe to the engine), which one
#: process's event loop bounds (the engine work already spreads over the cores in one)
SETUP = [
    {"op": "spawn", "pid": 1},
    {"op": "mmap", "pid": 1, "addr": "0x10000", "pages": 2, "prot": "rw"},
    {"op": "write", "pid": 1, "addr": "0x10000", "value": 1, "pages": 2},
]


def op_of(i: int) -> dict:
    addr = 0x10000 + (i % 2) * 0x1000
    return [
        {"op": "write", "pid": 1, "addr": addr, "value": i},
        {"op": "read", "pid": 1, "addr": addr},
    ][i % 2]


class Connection:
    """One keep-alive HTTP/1.1 connection: a request, then its whole answer."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: dict) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        data = json.dumps(body).encode()
        self.writer.write(
            b"POST %s HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json"
            b"\r\nContent-Length: %d\r\n\r\n%s" % (path.encode(), len(data), data)
        )
        assert self.reader is not None
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        return status, await self.reader.readexactly(length)


async def drive(port: int, clients: int, seconds: float) -> tuple[int, list[float]]:
    """Ops answered 200 in ``seconds`` (after a 1 s warm-up), and their latencies."""
    warm_until = time.monotonic() + 1
    end = warm_until + seconds
    done = 0
    latencies: list[float] = []

    async def client(n: int) -> None:
        nonlocal done
        conn = Connection(port)

        async def new() -> str:
            status, body = await conn.post("/api/sessions", {"ops": SETUP, "at_step": 3})
            assert status == 201, body[:200]
            return json.loads(body)["id"]

        sid = await new()
        i = n
        while (now := time.monotonic()) < end:
            i += 1
            status, body = await conn.post(f"/api/sessions/{sid}/ops", {"op": op_of(i)})
            if status == 409 and b"RMAPLAB_MAX_STEPS" in body:
                sid = await new()
                continue
            assert status in (200, 409), (status, body[:200])
            if status == 200 and now >= warm_until:
                done += 1
                latencies.append(time.monotonic() - now)

    await asyncio.gather(*(client(n) for n in range(clients)))
    return done, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args()
    turn = args.seconds / args.rounds
    done = {1: 0, 2: 0}
    latencies: dict[int, list[float]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        redis = RedisServer(folder).start()
        servers = {}
        try:
            for n in (1, 2):
                servers[n] = Server(
                    folder / f"w{n}.sqlite3",
                    workers=n,
                    RMAPLAB_STORE=redis.url,
                    RMAPLAB_CREATE_BURST="100000",
                ).start()
            for r in range(args.rounds):
                for n in (1, 2) if r % 2 == 0 else (2, 1):
                    ops, lat = asyncio.run(drive(servers[n].port, args.clients, turn))
                    done[n] += ops
                    latencies[n] += lat
        finally:
            for server in servers.values():
                server.stop()
            redis.stop()
    rate = {}
    for n in (1, 2):
        q = statistics.quantiles(latencies[n], n=100)
        rate[n] = done[n] / args.seconds
        print(
            f"--workers {n}: {rate[n]:.0f} ops/s ({done[n]} ops in {args.seconds:.0f} s, "
            f"{args.clients} connections), p50 {q[49] * 1000:.1f} ms, "
            f"p99 {q[98] * 1000:.1f} ms",
            flush=True,
        )
    print(f"2-worker/1-worker op throughput: {rate[2] / rate[1]:.2f}")


if __name__ == "__main__":
    main()
