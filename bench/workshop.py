"""A simulated workshop: many participants, each with a session, one op every 2 seconds.

Usage: python bench/workshop.py [--users 300] [--seconds 60] [--redis] [--workers N]

Starts the service (uvicorn, one worker, a fresh SQLite file; with ``--redis``, a fresh
redis-server as its store, AOF with appendfsync always, and ``rmaplab serve --workers N``,
default 2, over it), then runs locust headless
against it on loopback: each simulated participant opens a session on the seed's story,
then every 2 seconds either steps forward, steps back, or applies an op of its own (a
write, a read, a reclaim, a fork now and then). Prints locust's summary and, as its last
line, "p99 <ms> ms, <n> requests, <e> errors". Targets: p99 < 100 ms, zero errors.
Needs locust (pip install locust); it is not part of the test extras.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.api.server import RedisServer, Server  # noqa: E402

LOCUSTFILE = """
import random
from locust import HttpUser, constant, task

class Participant(HttpUser):
    wait_time = constant(2)

    def on_start(self):
        r = self.client.post("/api/sessions", json={"scenario": "seed-story", "at_step": 6},
                             name="open a session")
        self.sid = r.json()["id"]
        self.i = 0

    @task(3)
    def jump(self):
        with self.client.post(f"/api/sessions/{self.sid}/cursor",
                              json={"step": random.randint(0, 12)}, name="jump to a step",
                              catch_response=True) as r:
            if r.status_code == 409:  # the log got shorter than that step: a valid answer
                r.success()

    @task(2)
    def back(self):
        with self.client.post(f"/api/sessions/{self.sid}/undo", name="undo",
                              catch_response=True) as r:
            if r.status_code == 409:  # at step 0: nothing to undo is a valid answer
                r.success()

    @task(5)
    def op(self):
        self.i += 1
        pid = random.choice([1, 2])
        addr = random.choice(["0x1000", "0x2000", "0x3000", "0x10000"])
        op = random.choice([
            {"op": "write", "pid": pid, "addr": addr, "value": self.i},
            {"op": "read", "pid": pid, "addr": addr},
            {"op": "reclaim", "pid": pid, "addr": addr},
        ])
        with self.client.post(f"/api/sessions/{self.sid}/ops", json={"op": op},
                              name="apply an op", catch_response=True) as r:
            # a SIGSEGV is an outcome (200); a refused op (409, e.g. an exited pid after a
            # jump) is a valid answer too; anything else is an error
            if r.status_code == 409:
                r.success()
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument(
        "--redis", action="store_true", help="serve over a fresh redis-server (RMAPLAB_STORE)"
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="with --redis: rmaplab serve --workers N (default 2)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        locustfile = Path(tmp) / "locustfile.py"
        locustfile.write_text(LOCUSTFILE)
        redis = RedisServer(Path(tmp)).start() if args.redis else None
        if redis is not None:
            server = Server(
                Path(tmp) / "workshop.sqlite3", workers=args.workers, RMAPLAB_STORE=redis.url
            ).start()
        else:
            server = Server(Path(tmp) / "workshop.sqlite3").start()
        try:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "locust",
                    "-f",
                    str(locustfile),
                    "--headless",
                    "--host",
                    server.url,
                    "-u",
                    str(args.users),
                    "-r",
                    str(max(1, args.users // 10)),
                    "-t",
                    f"{args.seconds}s",
                    "--csv",
                    str(Path(tmp) / "out"),
                    "--only-summary",
                    "--loglevel",
                    "WARNING",
                ],
                check=False,
                cwd=tmp,
            )
        finally:
            server.stop()
            if redis is not None:
                redis.stop()
        rows = list(csv.DictReader((Path(tmp) / "out_stats.csv").open()))
    total = next(r for r in rows if r["Name"] == "Aggregated")
    where = (
        f"rmaplab serve --workers {args.workers} over Redis"
        if args.redis
        else "one process over SQLite"
    )
    print(f"{args.users} participants for {args.seconds} s, one request every 2 s each ({where})")
    print(
        f"p99 {total['99%']} ms, {total['Request Count']} requests, {total['Failure Count']} errors"
    )


if __name__ == "__main__":
    main()
