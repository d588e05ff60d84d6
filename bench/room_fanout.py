"""A room's fan-out: many followers on the event stream, the instructor moves the step.

Usage: python bench/room_fanout.py [--followers 300] [--moves 10]

Starts the service (uvicorn, one worker, a fresh SQLite file) on 127.0.0.1, opens a room
on the seed's story and connects the followers to /api/rooms/CODE/events (plain asyncio
sockets, one event loop, so the client costs little next to the server). Each move
posts the next step with the room's key; a follower's latency is the time from just
before the POST to the moment that follower has read the event. Every loop is bounded
(a follower that misses an event within --timeout seconds counts as a failure). Prints
each move's p50/p99/max and, as its last line, "room fan-out p99: <ms> ms" over all the
followers and moves. Target: p99 < 500 ms with 300 followers.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.api.server import Server  # noqa: E402

EVENT_ID = re.compile(rb"id: (\d+)\n")


class Follower:
    """One event-stream connection; ``seen`` maps each event id to when it was read."""

    def __init__(self) -> None:
        self.seen: dict[int, float] = {}
        self.arrived = asyncio.Event()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self, port: int, code: str) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        self.writer.write(
            f"GET /api/rooms/{code}/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Accept: text/event-stream\r\n\r\n".encode()
        )
        await self.writer.drain()

    async def read(self) -> None:
        assert self.reader is not None
        buffer = b""
        while True:
            chunk = await self.reader.read(65536)
            if not chunk:
                return
            now = time.perf_counter()
            buffer += chunk
            for match in EVENT_ID.finditer(buffer):
                self.seen.setdefault(int(match.group(1)), now)
                self.arrived.set()
            buffer = buffer[-64:]  # an id line split across two reads is found next time

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def wait_all(followers: list[Follower], event_id: int, timeout: float) -> int:
    """Wait (at most ``timeout`` s) until every follower read ``event_id``; the misses."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if all(event_id in f.seen for f in followers):
            return 0
        await asyncio.sleep(0.005)
    return sum(event_id not in f.seen for f in followers)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def run(port: int, followers_n: int, moves: int, timeout: float) -> list[float]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        room = (await client.post("/api/rooms", json={"scenario": "seed-story"})).json()
        code, key = room["code"], {"X-Room-Key": room["key"]}
        followers = [Follower() for _ in range(followers_n)]
        for i in range(0, followers_n, 50):  # connect in batches, as a class arrives
            await asyncio.gather(*(f.connect(port, code) for f in followers[i : i + 50]))
        readers = [asyncio.create_task(f.read()) for f in followers]
        missed = await wait_all(followers, room["seq"], timeout)
        if missed:
            raise SystemExit(f"{missed} followers never got the room's first event")
        doc = (await client.get(f"/api/rooms/{code}")).json()
        print(f"{doc['following']} followers on room {code}")
        latencies: list[float] = []
        failures = 0
        for move in range(1, moves + 1):
            await asyncio.sleep(0.3)
            sent = time.perf_counter()
            r = await client.post(
                f"/api/rooms/{code}/cursor", json={"step": move % 13}, headers=key
            )
            r.raise_for_status()
            seq = r.json()["seq"]
            missed = await wait_all(followers, seq, timeout)
            failures += missed
            got = [(f.seen[seq] - sent) * 1000 for f in followers if seq in f.seen]
            latencies += got
            print(
                f"move {move}: {len(got)} followers, p50 {statistics.median(got):.1f} ms, "
                f"p99 {percentile(got, 99):.1f} ms, max {max(got):.1f} ms"
                + (f", {missed} missed" if missed else "")
            )
        for f in followers:
            f.close()
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        if failures:
            print(f"{failures} events were not received within {timeout} s")
        return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--followers", type=int, default=300)
    parser.add_argument("--moves", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp) / "fanout.sqlite3").start()
        try:
            latencies = asyncio.run(run(server.port, args.followers, args.moves, args.timeout))
        finally:
            server.stop()
    print(f"room fan-out p99: {percentile(latencies, 99):.1f} ms")


if __name__ == "__main__":
    main()
