"""Twenty participants stepping their sessions while one posts a fork storm to /api/runs.

Usage: python bench/room_under_attack.py [--participants 20] [--rounds 30]

Starts the service (uvicorn, a fresh SQLite file). Each participant opens a session (two
processes, eight pages) and applies an op (a read or a write) every 0.3 s. Meanwhile an
attacker posts, again and again, a 2.5 KB scenario: a 4096-page mmap, a 4096-page write
and 60 forks, giving up after 1 s each time (what froze the room before: the engine ran
on the event loop). Prints the participants' latencies and the attacker's answers; the
last line is "participants p99 under attack: <ms> ms" (target: under 250 ms, no errors).
"""

from __future__ import annotations

import argparse
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

FORK_STORM = {
    "name": "fork-storm",
    "ops": [
        {"op": "spawn", "pid": 1},
        {"op": "mmap", "pid": 1, "addr": "0x10000", "pages": 4096, "prot": "rw"},
        {"op": "write", "pid": 1, "addr": "0x10000", "value": 1, "pages": 4096},
        *({"op": "fork", "pid": 1, "child": c} for c in range(2, 62)),
    ],
}
SETUP = [
    {"op": "spawn", "pid": 1},
    {"op": "mmap", "pid": 1, "addr": "0x10000", "pages": 8, "prot": "rw"},
    {"op": "write", "pid": 1, "addr": "0x10000", "value": 1, "pages": 8},
    {"op": "fork", "pid": 1, "child": 2},
]


def participant(url: str, rounds: int, latencies: list[float], errors: list[str]) -> None:
    """Open a session, then apply a read or a write every 0.3 s, ``rounds`` times."""
    with httpx.Client(base_url=url, timeout=10) as c:
        sid = c.post("/api/sessions", json={"ops": SETUP, "at_step": 4}).json()["id"]
        for i in range(rounds):
            op = {
                "op": "write" if i % 2 else "read",
                "pid": 1 + i % 2,
                "addr": 0x10000 + (i % 8) * 0x1000,
            }
            if i % 2:
                op["value"] = i
            t = time.perf_counter()
            r = c.post(f"/api/sessions/{sid}/ops", json={"op": op})
            latencies.append(time.perf_counter() - t)
            if r.status_code != 200:
                errors.append(f"{r.status_code} {r.text[:200]}")
            time.sleep(0.3)


def room(
    url: str, participants: int, rounds: int, attack: bool
) -> tuple[list[float], list[str], list[object]]:
    """Run the room (with the attacker if ``attack``): latencies, errors, attack answers."""
    latencies: list[float] = []
    errors: list[str] = []
    answers: list[object] = []
    stop = threading.Event()

    def attacker() -> None:
        while not stop.is_set():
            try:
                r = httpx.post(url + "/api/runs", json={"scenario": FORK_STORM}, timeout=1)
                answers.append(r.status_code)
            except httpx.TimeoutException:
                answers.append("gave up")

    bad = threading.Thread(target=attacker)
    if attack:
        bad.start()
        time.sleep(0.2)
    threads = [
        threading.Thread(target=participant, args=(url, rounds, latencies, errors))
        for _ in range(participants)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    if attack:
        bad.join()
    return latencies, errors, answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp) / "room.sqlite3").start()
        try:
            results = {
                attack: room(server.url, args.participants, args.rounds, attack)
                for attack in (False, True)
            }
        finally:
            server.stop()
    for attack, (lat, errors, answers) in results.items():
        q = statistics.quantiles(lat, n=100)
        print(
            f"{'under attack' if attack else 'quiet':<13} {len(lat)} steps, "
            f"p50 {q[49] * 1e3:.0f} ms, p99 {q[98] * 1e3:.0f} ms, max {max(lat) * 1e3:.0f} ms,"
            f" {len(errors)} errors{'; attacker: ' + str(answers) if attack else ''}"
        )
    lat = results[True][0]
    print(f"participants p99 under attack: {statistics.quantiles(lat, n=100)[98] * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
