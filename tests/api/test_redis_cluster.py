"""Past one process: a Redis and two real ``rmaplab serve`` processes, A and B, over it.

A session made on A is stepped on B; ``expected_step`` and "two requests on one session
never interleave" hold across them; a room moved on A reaches a follower of B; a kill -9
of A loses no acknowledged step; Redis going away is a 503 naming it, and its return (with
every acknowledged step: AOF, appendfsync always) needs no restart of the service.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from .server import RedisServer, Server

SETUP = [
    {"op": "spawn", "pid": 1},
    {"op": "mmap", "pid": 1, "addr": "0x1000", "pages": 4, "prot": "rw"},
]


def write(value):
    return {"op": "write", "pid": 1, "addr": "0x1000", "value": value}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if not RedisServer.available():
        pytest.skip(
            "redis-server is not installed, so the two-process Redis test does NOT "
            "run: install Debian's redis-server (scripts/test.sh does, as root)"
        )
    folder = tmp_path_factory.mktemp("cluster")
    redis = RedisServer(folder).start()
    a = Server(folder / "a.sqlite3", RMAPLAB_STORE=redis.url).start()
    b = Server(folder / "b.sqlite3", RMAPLAB_STORE=redis.url).start()
    yield redis, a, b
    for s in (a, b):
        s.stop()
    redis.stop()


def new_session(url, ops=SETUP):
    r = httpx.post(url + "/api/sessions", json={"ops": ops, "at_step": len(ops)}, timeout=30)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_a_session_made_on_a_is_stepped_on_b(cluster):
    _, a, b = cluster
    sid = new_session(a.url)
    r = httpx.post(f"{b.url}/api/sessions/{sid}/ops", json={"op": write(5)}, timeout=30)
    assert r.status_code == 200 and r.json()["step"] == 3, r.text
    doc = httpx.get(f"{a.url}/api/sessions/{sid}", timeout=30).json()
    assert (doc["step"], doc["length"], doc["ops"][-1]["value"]) == (3, 3, 5)
    assert httpx.post(f"{a.url}/api/sessions/{sid}/undo", timeout=30).json()["step"] == 2
    assert httpx.get(f"{b.url}/api/sessions/{sid}", timeout=30).json()["step"] == 2


def test_a_stale_expected_step_on_a_after_b_moved_is_409(cluster):
    _, a, b = cluster
    sid = new_session(a.url)
    assert httpx.get(f"{a.url}/api/sessions/{sid}", timeout=30).json()["step"] == 2  # A knows
    r = httpx.post(
        f"{b.url}/api/sessions/{sid}/ops", json={"op": write(1), "expected_step": 2}, timeout=30
    )
    assert r.status_code == 200, r.text
    r = httpx.post(
        f"{a.url}/api/sessions/{sid}/ops", json={"op": write(2), "expected_step": 2}, timeout=30
    )
    assert r.status_code == 409 and r.json()["step"] == 3, r.text
    assert httpx.get(f"{a.url}/api/sessions/{sid}", timeout=30).json()["length"] == 3
    # and the other way round: A last saw step 3, B moved to 4, a client that knows it
    # (expected_step 4) is served by A; an undo on A starts from step 5
    assert (
        httpx.post(f"{b.url}/api/sessions/{sid}/ops", json={"op": write(3)}, timeout=30).json()[
            "step"
        ]
        == 4
    )
    r = httpx.post(
        f"{a.url}/api/sessions/{sid}/ops", json={"op": write(4), "expected_step": 4}, timeout=30
    )
    assert r.status_code == 200 and r.json()["step"] == 5, r.text
    assert httpx.post(f"{b.url}/api/sessions/{sid}/undo", timeout=30).json()["step"] == 4
    assert httpx.post(f"{a.url}/api/sessions/{sid}/redo", timeout=30).json()["step"] == 5
    assert httpx.post(f"{a.url}/api/sessions/{sid}/redo", timeout=30).status_code == 409


def test_50_concurrent_ops_through_both_processes_are_each_applied_once(cluster):
    _, a, b = cluster
    sid = new_session(a.url)
    values = [*range(25), *range(100, 125)]  # 0..24 through A, 100..124 through B

    def post(value):
        url = a.url if value < 100 else b.url
        return httpx.post(
            f"{url}/api/sessions/{sid}/ops", json={"op": write(value)}, timeout=60
        ).status_code

    with ThreadPoolExecutor(50) as pool:
        statuses = list(pool.map(post, values))
    assert statuses == [200] * 50
    doc = httpx.get(f"{b.url}/api/sessions/{sid}", timeout=30).json()
    assert doc["length"] == len(SETUP) + 50 and doc["step"] == len(SETUP) + 50
    assert sorted(op["value"] for op in doc["ops"][len(SETUP) :]) == sorted(values)
    # every step replays: the log is one log, not two interleaved halves
    last = httpx.get(f"{a.url}/api/sessions/{sid}/steps/{len(SETUP) + 50}", timeout=30)
    assert last.status_code == 200


def test_a_room_moved_on_a_reaches_a_follower_on_b_within_a_second(cluster):
    _, a, b = cluster
    room = httpx.post(a.url + "/api/rooms", json={"scenario": "aim7-shape"}, timeout=30).json()
    code, key = room["code"], {"X-Room-Key": room["key"]}
    events: list[tuple[float, dict]] = []
    following = threading.Event()

    def follow():
        with httpx.stream("GET", f"{b.url}/api/rooms/{code}/events", timeout=30) as stream:
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    events.append((time.monotonic(), json.loads(line[6:])))
                    following.set()
                    if len(events) == 2:
                        return

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    assert following.wait(10) and events[0][1]["step"] == 0
    moved = time.monotonic()
    r = httpx.post(f"{a.url}/api/rooms/{code}/cursor", json={"step": 5}, headers=key, timeout=30)
    assert r.status_code == 200, r.text
    thread.join(5)
    assert len(events) == 2 and events[1][1]["step"] == 5
    assert events[1][0] - moved < 1.0, f"{events[1][0] - moved:.3f} s"


def test_redis_gone_is_503_naming_it_and_its_return_needs_no_restart(cluster):
    redis, a, b = cluster
    sid = new_session(a.url)
    for i in range(5):
        assert (
            httpx.post(
                f"{b.url}/api/sessions/{sid}/ops", json={"op": write(i)}, timeout=30
            ).status_code
            == 200
        )
    room = httpx.post(a.url + "/api/rooms", json={"scenario": "aim7-shape"}, timeout=30).json()
    steps: list[int] = []

    def follow():  # a follower of B that stays connected while Redis is away
        with httpx.stream("GET", f"{b.url}/api/rooms/{room['code']}/events", timeout=60) as stream:
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    steps.append(json.loads(line[6:])["step"])
                    if steps[-1] == 7:
                        return

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    while not steps:
        time.sleep(0.05)
    redis.kill()  # kill -9: appendfsync always kept every acknowledged write
    try:
        r = httpx.post(f"{a.url}/api/sessions/{sid}/ops", json={"op": write(9)}, timeout=30)
        assert r.status_code == 503 and "RMAPLAB_STORE=redis://" in r.text, r.text
        deadline = time.monotonic() + 5  # /healthz probes the store once a second
        while (h := httpx.get(b.url + "/healthz", timeout=30)).status_code == 200:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert h.status_code == 503 and "RMAPLAB_STORE=redis://" in h.text, h.text
    finally:
        redis.start()
    deadline = time.monotonic() + 10
    while httpx.get(a.url + "/healthz", timeout=30).status_code != 200:
        assert time.monotonic() < deadline, "A did not recover when Redis came back"
        time.sleep(0.2)
    doc = httpx.get(f"{a.url}/api/sessions/{sid}", timeout=30).json()
    assert doc["length"] == len(SETUP) + 5 and doc["ops"][-1]["value"] == 4
    r = httpx.post(f"{b.url}/api/sessions/{sid}/ops", json={"op": write(10)}, timeout=30)
    assert r.status_code == 200 and r.json()["step"] == len(SETUP) + 6
    # B's fan-out found Redis again: a move on A reaches the follower of B
    deadline = time.monotonic() + 10
    while 7 not in steps and time.monotonic() < deadline:
        r = httpx.post(
            f"{a.url}/api/rooms/{room['code']}/cursor",
            json={"step": 7},
            headers={"X-Room-Key": room["key"]},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        follower.join(1)
    assert steps[-1] == 7, steps


def test_kill_9_of_a_loses_no_acknowledged_step(cluster):
    _, a, b = cluster
    sid = new_session(a.url)
    acknowledged: list[int] = []
    stop = threading.Event()

    def hammer():
        with httpx.Client(base_url=a.url, timeout=10) as c:
            for i in range(10000):
                if stop.is_set():
                    return
                try:
                    r = c.post(f"/api/sessions/{sid}/ops", json={"op": write(i)})
                except httpx.TransportError:
                    return
                if r.status_code == 200:
                    acknowledged.append(i)

    thread = threading.Thread(target=hammer)
    thread.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    a.kill()
    stop.set()
    thread.join(15)
    assert len(acknowledged) >= 20
    doc = httpx.get(f"{b.url}/api/sessions/{sid}", timeout=30).json()
    logged = [op["value"] for op in doc["ops"][len(SETUP) :]]
    # every acknowledged op is there, in order; at most the one in flight beyond them
    assert logged[: len(acknowledged)] == acknowledged
    assert len(logged) - len(acknowledged) in (0, 1)
    r = httpx.post(f"{b.url}/api/sessions/{sid}/ops", json={"op": write(-1)}, timeout=30)
    assert r.status_code == 200 and r.json()["step"] == doc["length"] + 1


def test_serve_workers_2_over_redis_serves_every_session(cluster, tmp_path):
    redis, _, _ = cluster
    s = Server(tmp_path / "w.sqlite3", workers=2, RMAPLAB_STORE=redis.url).start()
    try:
        with httpx.Client(base_url=s.url, timeout=30) as c:
            sids = [new_session(s.url) for _ in range(4)]
            for i in range(10):
                for sid in sids:
                    r = c.post(
                        f"/api/sessions/{sid}/ops",
                        json={"op": write(i)},
                        headers={"Connection": "close"},
                    )  # spread over both processes
                    assert r.status_code == 200 and r.json()["step"] == len(SETUP) + i + 1
    finally:
        s.stop()
