"""The service's side of the engine workers: reading a worker's answer never blocks the loop."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import pickle
import struct
import threading
from multiprocessing.connection import Connection

from app.api.config import Settings
from app.api.pool import Worker


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
