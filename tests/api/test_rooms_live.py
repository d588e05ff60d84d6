"""A room's event stream against a real server: latency, resume, heartbeats, restarts."""

from __future__ import annotations

import json
import queue
import threading
import time

import httpx
import pytest

from tests.api.server import Server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Server(
        tmp_path_factory.mktemp("rooms") / "rooms.sqlite3", RMAPLAB_ROOM_HEARTBEAT="1"
    ).start()
    yield s
    s.stop()


def open_room(url: str) -> tuple[str, dict[str, str]]:
    r = httpx.post(f"{url}/api/rooms", json={"scenario": "seed-story"})
    assert r.status_code == 201, r.text
    return r.json()["code"], {"X-Room-Key": r.json()["key"]}


class Follower:
    """An event-stream reader in a thread: every line, with the time it arrived."""

    def __init__(self, url: str, code: str, last_event_id: str | None = None) -> None:
        self.lines: queue.Queue[tuple[float, str]] = queue.Queue()
        self.headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
        self.url = f"{url}/api/rooms/{code}/events"
        self.stop = threading.Event()
        self.status: int | None = None
        self.content_type = ""
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with httpx.stream("GET", self.url, headers=self.headers, timeout=10) as r:
            self.status, self.content_type = r.status_code, r.headers["content-type"]
            for line in r.iter_lines():
                self.lines.put((time.monotonic(), line))
                if self.stop.is_set():
                    return

    def next_event(self, timeout: float = 5) -> tuple[float, int, dict]:
        """The next data event: when it arrived, its id, its data."""
        event_id = None
        deadline = time.monotonic() + timeout
        while True:
            at, line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            if line.startswith("id: "):
                event_id = int(line[4:])
            elif line.startswith("data: "):
                return at, event_id, json.loads(line[6:])

    def close(self) -> None:
        self.stop.set()


def test_a_follower_gets_a_cursor_move_within_a_second(server):
    code, key = open_room(server.url)
    follower = Follower(server.url, code)
    _, first_id, first = follower.next_event()
    assert follower.status == 200 and follower.content_type.startswith("text/event-stream")
    assert first["step"] == 0 and first["code"] == code
    sent = time.monotonic()
    assert (
        httpx.post(
            f"{server.url}/api/rooms/{code}/cursor", json={"step": 5}, headers=key
        ).status_code
        == 200
    )
    at, event_id, data = follower.next_event()
    assert data["step"] == 5 and event_id > first_id
    assert at - sent < 1.0, f"the move took {at - sent:.3f} s to arrive"
    assert data["question"]["id"] == 1  # the lesson's question about step 6
    follower.close()


def test_a_reconnect_resumes_after_its_last_event(server):
    code, key = open_room(server.url)
    first = Follower(server.url, code)
    _, seen, _ = first.next_event()
    first.close()
    httpx.post(f"{server.url}/api/rooms/{code}/cursor", json={"step": 2}, headers=key)
    # a reconnect that missed the move gets the room as it is now, at once
    behind = Follower(server.url, code, last_event_id=str(seen))
    _, event_id, data = behind.next_event(timeout=2)
    assert event_id > seen and data["step"] == 2
    # one that is up to date gets nothing until the next change
    current = Follower(server.url, code, last_event_id=str(event_id))
    with pytest.raises(queue.Empty):
        current.next_event(timeout=1.5)
    httpx.post(f"{server.url}/api/rooms/{code}/cursor", json={"step": 3}, headers=key)
    assert current.next_event()[2]["step"] == 3
    behind.close()
    current.close()


def test_an_idle_stream_gets_heartbeats(server):
    code, _ = open_room(server.url)
    follower = Follower(server.url, code)
    follower.next_event()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        _, line = follower.lines.get(timeout=5)
        if line == ": heartbeat":
            break
    else:
        pytest.fail("no heartbeat in 5 s (RMAPLAB_ROOM_HEARTBEAT=1)")
    assert httpx.get(f"{server.url}/api/rooms/{code}").json()["following"] >= 1
    follower.close()


def test_a_killed_server_loses_no_room(tmp_path):
    first = Server(tmp_path / "rooms.sqlite3").start()
    try:
        code, key = open_room(first.url)
        httpx.post(f"{first.url}/api/rooms/{code}/cursor", json={"step": 4}, headers=key)
        who = httpx.post(f"{first.url}/api/rooms/{code}/join").json()["participant"]
        httpx.post(
            f"{first.url}/api/rooms/{code}/answers",
            json={"participant": who, "question": 1, "answer": 2},
        )
        first.kill()
        second = Server(tmp_path / "rooms.sqlite3").start()
        try:
            doc = httpx.get(f"{second.url}/api/rooms/{code}", headers=key).json()
            assert doc["step"] == 4 and doc["participants"] == 1
            tally = httpx.get(f"{second.url}/api/rooms/{code}/tally?question=1", headers=key)
            assert tally.json()["counts"] == {"2": 1}
        finally:
            second.stop()
    finally:
        first.stop()


def test_open_streams_do_not_hold_a_stopping_server(tmp_path):
    s = Server(tmp_path / "rooms.sqlite3").start()
    try:
        code, _ = open_room(s.url)
        follower = Follower(s.url, code)
        follower.next_event()
        assert s.proc is not None
        s.proc.terminate()
        s.proc.wait(5)  # uvicorn waits for open responses; the rooms end theirs
        follower.thread.join(5)
        lines = []
        while not follower.lines.empty():
            lines.append(follower.lines.get()[1])
        assert "event: closed" not in lines  # a stop is not the end of the class
    finally:
        s.stop()
