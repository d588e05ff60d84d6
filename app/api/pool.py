"""The service's side of the engine workers: processes, routing, budgets and cancellation.

``Pool`` starts its worker processes on first use. A worker runs one job at a time; the
jobs of one worker wait their turn in order. Sessions go to a fixed worker (by id), so
each worker keeps the states of its own sessions; stateless runs and comparisons go to a
separate worker that gets the CPU only when the sessions leave it (SCHED_IDLE), so a long
run never queues a session's step.

A job whose client disconnects is cancelled: the coroutine awaiting it is cancelled, the
worker gets SIGUSR1 and stops the job at once. A job past its CPU budget stops itself.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import pickle
import signal
import struct
import threading
from dataclasses import replace
from hashlib import blake2b
from typing import Any, ClassVar

from .config import Settings
from .errors import Internal, OverBudget, Unavailable, of_status
from .worker import serve


class NeedLog(Exception):
    """The worker does not hold the session's log at the version asked for."""


class Worker:
    """One engine process and the pipe to it; jobs run one at a time, in order."""

    def __init__(self, settings: Settings, background: bool) -> None:
        self.settings = settings
        self.background = background
        self.lock = asyncio.Lock()
        self.proc: Any = None
        self.conn: Any = None

    def _start(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        self.proc = ctx.Process(
            target=serve,
            args=(child, self.settings, self.background),
            daemon=True,
            name="rmaplab-engine",
        )
        self.proc.start()
        child.close()
        self.conn = parent

    def start(self) -> None:
        if self.proc is None or not self.proc.is_alive():
            self._start()

    def stop(self) -> None:
        if self.proc is not None:
            self.conn.close()
            self.proc.join(5)
            if self.proc.is_alive():
                self.proc.kill()
            self.proc = None

    async def call(self, name: str, sid: str | None, args: tuple[Any, ...]) -> bytes | None:
        """Run one job; the reply, or the ServiceError it stands for."""
        await self.lock.acquire()
        try:
            self.start()
            self.conn.send((name, sid, args))
        except BaseException:
            self.lock.release()
            raise
        reply = asyncio.ensure_future(self._reply())
        try:
            kind, value = await asyncio.shield(reply)
        except asyncio.CancelledError:
            if self.proc is not None:
                os.kill(self.proc.pid, signal.SIGUSR1)
            raise
        if kind == "ok":
            data: bytes | None = value
            return data
        if kind == "need_log":
            raise NeedLog
        if kind == "error":
            status, detail, extra = value
            raise of_status(status, detail, **extra)
        if kind == "stopped":
            raise OverBudget(
                f"the request needed more than {self.settings.max_request_seconds}"
                " s of engine time and was stopped; the limit is "
                "RMAPLAB_MAX_REQUEST_SECONDS",
                {"Retry-After": "1"},
            )
        if kind == "dead":
            raise Unavailable(
                "an engine worker died during the request; try again", {"Retry-After": "1"}
            )
        raise Internal(f"internal error in the engine: {value}")

    async def _reply(self) -> tuple[str, Any]:
        """Wait for the worker's answer without blocking the loop; release the worker."""
        try:
            try:
                return await self._receive()
            except (EOFError, OSError):
                self.stop()
                return "dead", None
        finally:
            self.lock.release()

    async def _receive(self) -> tuple[str, Any]:
        """The worker's answer, read as its bytes arrive. The loop never waits on a worker
        that has written part of its answer (a large document crosses the pipe in many
        writes, and a worker may lose its core between two of them): it reads what is
        there and goes back to the other requests. The framing is multiprocessing's (a
        4-byte length, or -1 and an 8-byte one), so the worker sends with ``conn.send``."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        fd = self.conn.fileno()
        buf = bytearray()

        def readable() -> None:
            if done.done():
                return
            try:
                chunk = os.read(fd, READ_CHUNK)
            except BlockingIOError:
                return
            except OSError as exc:
                done.set_exception(exc)
                return
            if not chunk:
                done.set_exception(EOFError("the engine worker closed its pipe"))
                return
            buf.extend(chunk)
            start, size = _frame(buf)
            if size is not None and len(buf) >= start + size:
                done.set_result(None)

        os.set_blocking(fd, False)  # the worker's only message for this job is awaited here
        loop.add_reader(fd, readable)
        try:
            await done
        finally:
            loop.remove_reader(fd)
            os.set_blocking(fd, True)  # ``conn.send`` writes whole messages
        start, _ = _frame(buf)
        reply: tuple[str, Any] = pickle.loads(memoryview(buf)[start:])
        return reply


#: how much of a worker's answer is read at once (a socket buffer's worth: a larger read
#: allocates, and maps, that much for every answer however small)
READ_CHUNK = 1 << 16
_LENGTH = struct.Struct("!i")
_LONG_LENGTH = struct.Struct("!Q")


def _frame(buf: bytearray) -> tuple[int, int | None]:
    """Where a message's payload starts in ``buf`` and its length (None until known)."""
    if len(buf) < _LENGTH.size:
        return 0, None
    (size,) = _LENGTH.unpack_from(buf)
    if size != -1:
        return _LENGTH.size, size
    if len(buf) < _LENGTH.size + _LONG_LENGTH.size:
        return 0, None
    return _LENGTH.size + _LONG_LENGTH.size, _LONG_LENGTH.unpack_from(buf, _LENGTH.size)[0]


class Pool:
    """The session workers (one per core unless RMAPLAB_WORKERS says) and the run worker."""

    _shared: ClassVar[dict[Settings, Pool]] = {}
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sessions = [Worker(settings, False) for _ in range(settings.session_workers)]
        self.runs = Worker(settings, True)

    @classmethod
    def shared(cls, settings: Settings) -> Pool:
        """One pool per set of limits in this process (the store does not matter to it)."""
        key = replace(settings, db="", store="")
        with cls._shared_lock:
            pool = cls._shared.get(key)
            if pool is None:
                pool = cls._shared[key] = cls(key)
            return pool

    def worker_of(self, sid: str) -> Worker:
        digest = blake2b(sid.encode(), digest_size=4).digest()
        return self.sessions[int.from_bytes(digest, "big") % len(self.sessions)]

    async def session(self, name: str, sid: str, *args: Any) -> bytes | None:
        """A job on session ``sid``, in the worker that holds its states."""
        return await self.worker_of(sid).call(name, sid, (sid, *args))

    async def stateless(self, name: str, *args: Any) -> bytes | None:
        """A run or a comparison, in the run worker."""
        return await self.runs.call(name, None, args)

    def start(self) -> None:
        for worker in [*self.sessions, self.runs]:
            worker.start()

    def stop(self) -> None:
        for worker in [*self.sessions, self.runs]:
            worker.stop()
