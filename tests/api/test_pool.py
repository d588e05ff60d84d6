"""The event loop never waits on a worker's half-written answer, nor walks the start-up heap
at every full garbage collection."""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import os
import pickle
import struct
import threading
from multiprocessing.connection import Connection

from app.api.config import Settings
from app.api.pool import Worker

from .conftest import make_client


def _framed(obj: object) -> bytes:
    """``obj`` as ``Connection.send`` puts it on the pipe."""
    payload = pickle.dumps(obj)
    return struct.pack("!i", len(payload)) + payload


def _worker_with_pipe() -> tuple[Worker, Connection]:
    worker = Worker(Settings(), background=False)
    parent, child = multiprocessing.Pipe()
    worker.conn = parent
    return worker, child


def test_a_half_written_answer_leaves_the_loop_serving_others() -> None:
    """The worker writes the first half of a large answer, then waits until the event loop
    shows it is still running other coroutines before it writes the rest. Before the fix
    the loop sat in ``conn.recv()`` on the half message: the writer's wait timed out."""
    answer = ("ok", b"x" * 3_000_000)
    data = _framed(answer)
    loop_ran = threading.Event()
    waited: list[bool] = []  # whether the writer saw the loop run before its timeout

    async def main() -> tuple[object, bool]:
        worker, child = _worker_with_pipe()

        def write() -> None:
            sock = child.fileno()
            half = len(data) // 2
            view = memoryview(data)
            sent = 0
            while sent < half:
                sent += os.write(sock, view[sent:half])
            waited.append(loop_ran.wait(timeout=5))
            while sent < len(data):
                sent += os.write(sock, view[sent:])

        async def other_request() -> None:
            await asyncio.sleep(0.05)
            loop_ran.set()

        await worker.lock.acquire()
        writer = threading.Thread(target=write)
        writer.start()
        other = asyncio.ensure_future(other_request())
        reply = await worker._reply()
        await other
        writer.join()
        return reply, worker.lock.locked()

    reply, still_locked = asyncio.run(main())
    assert waited == [True]
    assert reply == answer
    assert not still_locked  # the worker is released for the next job


def test_a_worker_that_dies_mid_answer_is_reported_dead() -> None:
    async def main() -> tuple[object, bool]:
        worker, child = _worker_with_pipe()
        await worker.lock.acquire()
        os.write(child.fileno(), _framed(("ok", b"y" * 1000))[:500])
        child.close()
        reply = await worker._reply()
        return reply, worker.lock.locked()

    reply, still_locked = asyncio.run(main())
    assert reply == ("dead", None)
    assert not still_locked


def test_the_start_up_heap_is_kept_out_of_full_collections() -> None:
    """Each full collection of the app's start-up objects (some 80,000) stalled the loop for
    50-80 ms on the benchmark machine, the workshop's p99; the lifespan freezes them once
    the app is up and gives them back to the collector at shutdown."""
    assert gc.get_freeze_count() == 0
    with make_client() as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_freeze_count() > 20_000
    assert gc.get_freeze_count() == 0
