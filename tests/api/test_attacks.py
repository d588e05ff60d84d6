"""The attacks of issue 10, against a real ``rmaplab serve`` (uvicorn) on 127.0.0.1.

Each loop is bounded. The timing bounds are generous sanity bounds, not benchmarks
(bench/room_under_attack.py measures).
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from .server import Server

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from room_under_attack import FORK_STORM, SETUP, room


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("attacks") / "sessions.sqlite3").start()
    yield s
    s.stop()


def test_a_fork_storm_run_does_not_freeze_twenty_participants(server):
    latencies, errors, attempts = room(server.url, 20, 15, attack=True)
    assert not errors, errors[:5]
    assert attempts and set(attempts) <= {"gave up", 409, 503}, attempts
    p99 = statistics.quantiles(latencies, n=100)[98]
    assert p99 < 0.25, f"p99 {p99 * 1000:.0f} ms over {len(latencies)} steps"
    # the abandoned run was stopped: the service answers at once
    t = time.perf_counter()
    assert httpx.get(server.url + "/healthz").status_code == 200
    assert time.perf_counter() - t < 0.5


def test_the_fork_storm_is_refused_at_a_limit(server):
    r = httpx.post(server.url + "/api/runs", json={"scenario": FORK_STORM}, timeout=60)
    assert r.status_code in (409, 503), r.text
    assert "RMAPLAB_MAX_PTES" in r.text or "RMAPLAB_MAX_REQUEST_SECONDS" in r.text


def test_a_run_beyond_the_cpu_budget_is_stopped_and_named(tmp_path):
    s = Server(
        tmp_path / "budget.sqlite3", RMAPLAB_MAX_PTES="1000000", RMAPLAB_MAX_REQUEST_SECONDS="0.5"
    ).start()
    try:
        t = time.perf_counter()
        r = httpx.post(s.url + "/api/runs", json={"scenario": FORK_STORM}, timeout=60)
        assert r.status_code == 503, r.text
        assert "RMAPLAB_MAX_REQUEST_SECONDS" in r.text and "0.5" in r.text
        assert int(r.headers["retry-after"]) >= 1
        assert time.perf_counter() - t < 20  # stopped, not run to the end
        # the worker that ran it serves again
        r = httpx.post(s.url + "/api/compare", json={"scenario": {"ops": SETUP}}, timeout=30)
        assert r.status_code == 200, r.text
    finally:
        s.stop()


def test_201_processes_hit_the_process_limit_in_runs_and_compare(server):
    scenario = {"name": "many", "ops": [{"op": "spawn", "pid": p} for p in range(1, 202)]}
    for route in ("/api/runs", "/api/compare"):
        r = httpx.post(server.url + route, json={"scenario": scenario}, timeout=30)
        assert r.status_code == 409, (route, r.text)
        assert "RMAPLAB_MAX_PROCESSES" in r.text


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity", "1e999", '"\\ud800"'])
def test_non_finite_numbers_and_lone_surrogates_are_422(server, bad):
    with httpx.Client(base_url=server.url) as c:
        sid = c.post("/api/sessions", json={"ops": SETUP}).json()["id"]
        bodies = {
            "/api/sessions": '{"at_step": %s}',
            f"/api/sessions/{sid}/ops": '{"op": {"op": "write", "pid": 1, "addr": 65536, '
            '"value": %s}}',
            f"/api/sessions/{sid}/cursor": '{"step": %s}',
            "/api/runs": '{"scenario": {"name": %s, "ops": []}}',
            "/api/compare": '{"scenario": {"ops": []}, "designs": [%s]}',
        }
        for route, body in bodies.items():
            r = c.post(route, content=body % bad, headers={"content-type": "application/json"})
            assert r.status_code == 422, (route, r.status_code, r.text)
            assert r.json()["errors"][0]["loc"][0] == "body"


def test_the_zero_page_session_stays_small_and_fast(server):
    ops = [{"op": "spawn", "pid": 1}]
    for k in range(8):
        addr = 0x10000 + k * 4096 * 4096
        ops += [
            {"op": "mmap", "pid": 1, "addr": addr, "pages": 4096, "prot": "rw"},
            {"op": "read", "pid": 1, "addr": addr, "pages": 4096},
        ]
    with httpx.Client(base_url=server.url, timeout=60) as c:
        r = c.post("/api/sessions", json={"ops": ops, "at_step": len(ops)})
        assert r.status_code == 201, r.text
        sid = r.json()["id"]
        refused = 0
        for child in range(2, 64):
            r = c.post(
                f"/api/sessions/{sid}/ops", json={"op": {"op": "fork", "pid": 1, "child": child}}
            )
            assert r.status_code in (200, 409), r.text
            if r.status_code == 409:
                assert "RMAPLAB_MAX_PTES" in r.text or "RMAPLAB_MAX_RESPONSE" in r.text
                refused += 1
                if refused > 3:
                    break
        assert refused
        length = c.get(f"/api/sessions/{sid}").json()["length"]
        t = time.perf_counter()
        r = c.post(f"/api/sessions/{sid}/cursor", json={"step": length})
        assert time.perf_counter() - t < 5
        assert len(r.content) < 16 << 20
        r = c.post("/api/runs", json={"scenario": {"ops": ops}, "states": "all"})
        assert r.status_code == 409 and "RMAPLAB_MAX_RESPONSE" in r.text, r.text[:300]


def test_a_crowd_of_creations_does_not_expire_a_session_in_use(tmp_path):
    server = Server(tmp_path / "crowd.sqlite3", RMAPLAB_MAX_SESSIONS="300").start()
    try:
        _crowd(server)
    finally:
        server.stop()


def _crowd(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as c:
        mine = c.post("/api/sessions", json={"scenario": "seed-story"}).json()["id"]
        statuses = []
        refused = None
        for i in range(1100):
            r = c.post("/api/sessions", content=b"")
            statuses.append(r.status_code)
            if r.status_code == 429 and refused is None:
                refused = r
            if i % 100 == 0:
                assert c.get(f"/api/sessions/{mine}").status_code == 200
        assert c.get(f"/api/sessions/{mine}").status_code == 200
        assert set(statuses) <= {201, 429}
        assert refused is not None and int(refused.headers["retry-after"]) >= 1
        assert "RMAPLAB_CREATE_PER_MINUTE" in refused.text


def test_a_second_counters_of_a_300_op_session_is_fast(server):
    ops = [
        {"op": "spawn", "pid": 1},
        {"op": "mmap", "pid": 1, "addr": "0x10000", "pages": 1024, "prot": "rw"},
        {"op": "write", "pid": 1, "addr": "0x10000", "value": 1, "pages": 1024},
    ]
    ops += [{"op": "fork", "pid": 1, "child": c} for c in range(2, 12)]
    ops += [
        {"op": "write", "pid": 1 + i % 11, "addr": 0x10000 + (i % 1024) * 0x1000, "value": i}
        for i in range(300 - len(ops))
    ]
    with httpx.Client(base_url=server.url, timeout=60) as c:
        sid = c.post("/api/sessions", json={"ops": ops}).json()["id"]
        assert c.get(f"/api/sessions/{sid}/counters").status_code == 200
        t = time.perf_counter()
        r = c.get(f"/api/sessions/{sid}/counters")
        assert r.status_code == 200 and r.json()["steps"] == 300
        assert time.perf_counter() - t < 1


# ----- storage faults (need root: a small tmpfs, chattr) -----------------------------------


@contextmanager
def _tmpfs(path: Path, size: str):
    path.mkdir()
    if subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    ).returncode:
        pytest.skip("cannot mount a tmpfs here (not root?): the disk-full test needs one")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _faulty(s: Server) -> None:
    with httpx.Client(base_url=s.url, timeout=10) as c:
        r = c.post("/api/sessions", json={"ops": SETUP})
        assert r.status_code == 503, r.text
        assert "RMAPLAB_DB" in r.text
        deadline = time.monotonic() + 3  # /healthz probes the store once a second
        while (r := c.get("/healthz")).status_code == 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert r.status_code == 503 and "RMAPLAB_DB" in r.text, r.text


def test_a_full_disk_is_503_and_unhealthy(tmp_path):
    with _tmpfs(tmp_path / "small", "1m") as folder:
        s = Server(folder / "sessions.sqlite3").start()
        try:
            filler = folder / "filler"
            with filler.open("wb", buffering=0) as f:  # unbuffered: closing writes nothing
                try:
                    while True:
                        f.write(b"\0" * 65536)
                except OSError:
                    pass
            _faulty(s)
        finally:
            s.stop()


@pytest.mark.skipif(shutil.which("chattr") is None, reason="needs chattr")
def test_a_read_only_store_is_503_and_unhealthy(tmp_path):
    db = tmp_path / "sessions.sqlite3"
    s = Server(db).start()
    files = [str(db), f"{db}-wal"]
    if subprocess.run(["chattr", "+i", *files], capture_output=True).returncode:
        s.stop()
        pytest.skip("chattr +i is not possible here (not root, or the filesystem)")
    try:
        _faulty(s)
    finally:
        subprocess.run(["chattr", "-i", *files], check=False)
        s.stop()


def test_an_unopenable_store_stops_the_start_in_one_line(tmp_path):
    s = Server(tmp_path / "no" / "such" / "folder" / "x.sqlite3")
    with pytest.raises(RuntimeError) as info:
        s.start()
    message = str(info.value)
    assert "RMAPLAB_DB=" in message and "unable to open" in message
    assert "Traceback" not in message


def test_a_rooms_slow_engine_work_is_stopped_and_blocks_no_one(tmp_path):
    """A room's engine work runs in the worker pool like a session's: past
    RMAPLAB_MAX_REQUEST_SECONDS it is stopped (503, named), and while it runs the service
    answers other requests."""
    s = Server(tmp_path / "room-budget.sqlite3", RMAPLAB_MAX_REQUEST_SECONDS="0.5").start()
    try:
        small = httpx.post(s.url + "/api/rooms", json={"scenario": {"ops": SETUP}}, timeout=30)
        assert small.status_code == 201, small.text
        heavy = {
            "name": "slow",
            "ops": [
                {"op": "spawn", "pid": 1},
                {"op": "mmap", "pid": 1, "addr": "0x10000", "pages": 4096, "prot": "rw"},
                {"op": "write", "pid": 1, "addr": "0x10000", "value": 1, "pages": 4096},
                *({"op": "read", "pid": 1, "addr": "0x10000", "pages": 4096} for _ in range(1990)),
            ],
        }
        answer: list[httpx.Response] = []
        t = time.perf_counter()
        slow = threading.Thread(
            target=lambda: answer.append(
                httpx.post(s.url + "/api/rooms", json={"scenario": heavy}, timeout=60)
            )
        )
        slow.start()
        time.sleep(0.2)
        others = []
        while slow.is_alive() and len(others) < 20:
            u = time.perf_counter()
            assert httpx.get(s.url + "/healthz").status_code == 200
            assert httpx.get(f"{s.url}/api/rooms/{small.json()['code']}").status_code == 200
            others.append(time.perf_counter() - u)
        slow.join()
        assert others and max(others) < 1.0, others
        r = answer[0]
        assert r.status_code == 503, r.text[:300]
        assert "RMAPLAB_MAX_REQUEST_SECONDS" in r.text and "0.5" in r.text
        assert int(r.headers["retry-after"]) >= 1
        assert time.perf_counter() - t < 20
    finally:
        s.stop()
