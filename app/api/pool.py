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
import signal
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
        self.proc = ctx.Process(target=serve, args=(child, self.settings, self.background),
                                daemon=True, name="rmaplab-engine")
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
            raise OverBudget(f"the request needed more than {self.settings.max_request_seconds}"
                             " s of engine time and was stopped; the limit is "
                             "RMAPLAB_MAX_REQUEST_SECONDS", {"Retry-After": "1"})
        if kind == "dead":
            raise Unavailable("an engine worker died during the request; try again",
                              {"Retry-After": "1"})
        raise Internal(f"internal error in the engine: {value}")

    async def _reply(self) -> tuple[str, Any]:
        """Wait for the worker's answer without blocking the loop; release the worker."""
        try:
            loop = asyncio.get_running_loop()
            ready = loop.create_future()
            fd = self.conn.fileno()

            def readable() -> None:
                if not ready.done():
                    ready.set_result(None)

            loop.add_reader(fd, readable)
            try:
                await ready
            finally:
                loop.remove_reader(fd)
            try:
                reply: tuple[str, Any] = self.conn.recv()
                return reply
            except (EOFError, OSError):
                self.stop()
                return "dead", None
        finally:
            self.lock.release()


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
