"""The agent: one real process per scenario process, driven over a socket.

Run as ``python -I agent.py FD CPU``: standard library only, so it starts fast and maps
nothing in the scenario window. The first process is the *zygote*: it holds no scenario
mapping and only forks (a scenario ``spawn`` is a fork of the zygote). Every agent is the
same loop; a scenario ``fork`` is a real ``fork()`` of the agent.

Messages are JSON objects, one per SOCK_SEQPACKET datagram; every command gets one reply
``{"ok": true, ...}`` or ``{"ok": false, "errno": N, "error": "EFAULT"}``, except
``exit``, whose answer is the end of the connection.

Memory accesses never touch the page from user mode. A read copies the page's first 8
bytes into a pipe with ``write(2)``; a write copies the value from a pipe into the page
with ``read(2)``. The kernel's copy faults through the same handler as a user access
(``do_user_addr_fault`` → ``handle_mm_fault``: zero page, copy on write, swap-in) and
returns ``EFAULT`` where a user access would get SIGSEGV, so the kernel itself decides the
SIGSEGV outcome and the agent survives it.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import signal
import socket
import sys
from typing import Any

PR_SET_NAME = 15
PR_SET_CHILD_SUBREAPER = 36
PR_SET_THP_DISABLE = 41
MAP_PRIVATE = 0x02
MAP_ANONYMOUS = 0x20
MAP_NORESERVE = 0x4000
MAP_FIXED_NOREPLACE = 0x100000
MAX_MESSAGE = 1 << 20
SYS_MOVE_PAGES = {"x86_64": 279, "aarch64": 239}.get(os.uname().machine, -1)

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [
    ctypes.c_void_p,
    ctypes.c_size_t,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_long,
]
_libc.mremap.restype = ctypes.c_void_p
_libc.mremap.argtypes = [
    ctypes.c_void_p,
    ctypes.c_size_t,
    ctypes.c_size_t,
    ctypes.c_int,
    ctypes.c_void_p,
]
for _name in ("munmap", "mprotect", "madvise"):
    getattr(_libc, _name).restype = ctypes.c_int
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_libc.read.restype = ctypes.c_ssize_t
_libc.read.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
_libc.write.restype = ctypes.c_ssize_t
_libc.write.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
_libc.syscall.restype = ctypes.c_long
_libc.prctl.restype = ctypes.c_int
_libc.prctl.argtypes = [
    ctypes.c_int,
    ctypes.c_ulong,
    ctypes.c_ulong,
    ctypes.c_ulong,
    ctypes.c_ulong,
]


#: a command's answer to the controller (one JSON message)
Reply = dict[str, Any]


def _fail(err: int | None = None) -> Reply:
    err = ctypes.get_errno() if err is None else err
    return {"ok": False, "errno": err, "error": errno.errorcode.get(err, str(err))}


class Agent:
    """One process's command loop."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.pipe_r, self.pipe_w = os.pipe()

    # ----- the loop --------------------------------------------------------------------

    def serve(self) -> None:
        while True:
            try:
                data = self.sock.recv(MAX_MESSAGE)
            except (ConnectionError, OSError):
                os._exit(0)
            if not data:
                os._exit(0)  # the controller is gone: so are we
            msg = json.loads(data)
            cmd = msg.pop("cmd")
            if cmd == "exit":
                os._exit(0)
            if cmd == "fork":
                self.fork()
                continue
            try:
                reply = getattr(self, "do_" + cmd)(**msg)
            except Exception as exc:  # report, never die on a bad command
                reply = {"ok": False, "errno": 0, "error": f"{type(exc).__name__}: {exc}"}
            self.sock.send(json.dumps(reply).encode())

    def fork(self) -> None:
        """A real fork; the child's end of a new socket pair goes to the controller."""
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:
            self.sock.close()
            theirs.close()
            os.close(self.pipe_r)
            os.close(self.pipe_w)
            Agent(mine).serve()
            os._exit(0)
        mine.close()
        socket.send_fds(
            self.sock, [json.dumps({"ok": True, "pid": pid}).encode()], [theirs.fileno()]
        )
        theirs.close()

    # ----- commands ----------------------------------------------------------------------

    def do_ping(self) -> Reply:
        return {"ok": True, "pid": os.getpid()}

    def do_mmap(self, addr: int, length: int, prot: int) -> Reply:
        flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE | MAP_NORESERVE
        got = _libc.mmap(addr, length, prot, flags, -1, 0)
        if got is None or got == ctypes.c_void_p(-1).value:
            return _fail()
        if got != addr:  # an old kernel ignoring MAP_FIXED_NOREPLACE
            _libc.munmap(got, length)
            return _fail(errno.EEXIST)
        return {"ok": True}

    def do_munmap(self, addr: int, length: int) -> Reply:
        return {"ok": True} if _libc.munmap(addr, length) == 0 else _fail()

    def do_mprotect(self, addr: int, length: int, prot: int) -> Reply:
        return {"ok": True} if _libc.mprotect(addr, length, prot) == 0 else _fail()

    def do_mremap(self, addr: int, old_len: int, new_len: int, flags: int, new_addr: int) -> Reply:
        got = _libc.mremap(addr, old_len, new_len, flags, new_addr)
        if got is None or got == ctypes.c_void_p(-1).value:
            return _fail()
        return {"ok": True, "addr": got}

    def do_madvise(self, addr: int, length: int, advice: int) -> Reply:
        return {"ok": True} if _libc.madvise(addr, length, advice) == 0 else _fail()

    def do_access(self, addr: int, pages: int, value: int | None) -> Reply:
        """Read (``value`` None) or write ``pages`` pages from ``addr``, one page apart.

        Stops at the first page the kernel refuses: ``fault`` tells it was EFAULT (the
        SIGSEGV a user access would get).
        """
        values: list[int] = []
        for i in range(pages):
            at = addr + i * 0x1000
            reply = self.do_read(at) if value is None else self.do_write(at, value)
            if not reply["ok"]:
                return {
                    "ok": True,
                    "done": i,
                    "values": values,
                    "fault": reply["error"] == "EFAULT",
                    "error": None if reply["error"] == "EFAULT" else reply["error"],
                }
            if value is None:
                values.append(reply["value"])
        return {"ok": True, "done": pages, "values": values, "fault": False, "error": None}

    def do_drain(self, addr: int) -> Reply:
        """Empty every CPU's LRU batches (``lru_add_drain_all``), as move_pages(2) does.

        ``move_pages`` starts with ``lru_cache_disable()``, which drains the per-CPU folio
        batches of all CPUs; asking to move one page to the node it is on moves nothing.
        A batch on another CPU holds a reference on its folios (say, the rotation that
        ends a page-out's write-back), and a folio with a reference too many is copied
        where it would have been reused (``wp_can_reuse_anon_folio``) and keeps its swap
        cache where it would have left it (``should_try_to_free_swap``).
        """
        pages = (ctypes.c_void_p * 1)(addr)
        nodes = (ctypes.c_int * 1)(0)
        status = (ctypes.c_int * 1)(0)
        rc = _libc.syscall(SYS_MOVE_PAGES, 0, 1, pages, nodes, status, 0)
        return {"ok": True} if rc >= 0 else _fail()

    def do_read(self, addr: int) -> Reply:
        """The 8 bytes at ``addr``, copied by the kernel (EFAULT instead of SIGSEGV)."""
        n = _libc.write(self.pipe_w, addr, 8)
        if n != 8:
            return _fail() if n < 0 else _fail(errno.EIO)
        value = int.from_bytes(os.read(self.pipe_r, 8), "little", signed=True)
        return {"ok": True, "value": value}

    def do_write(self, addr: int, value: int) -> Reply:
        """Store ``value`` at ``addr`` through the kernel's copy_to_user."""
        os.write(self.pipe_w, value.to_bytes(8, "little", signed=True))
        n = _libc.read(self.pipe_r, addr, 8)
        if n != 8:
            err = ctypes.get_errno()
            os.read(self.pipe_r, 8)  # the bytes stay in the pipe on EFAULT: drain them
            return _fail(err) if n < 0 else _fail(errno.EIO)
        return {"ok": True}


def main() -> None:
    fd, cpu = int(sys.argv[1]), int(sys.argv[2])
    sock = socket.socket(fileno=fd)
    name = ctypes.create_string_buffer(b"rmaplab-agent")
    _libc.prctl(PR_SET_NAME, ctypes.addressof(name), 0, 0, 0)
    # Orphans (a middle process exits) are re-parented here and reaped automatically.
    _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # No transparent huge pages of any size in these processes (inherited by fork), so
    # every fault maps one small page, as in the simulator, without a vma flag change.
    if _libc.prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) != 0:
        sys.stderr.write("rmaplab-agent: PR_SET_THP_DISABLE failed\n")
    # One CPU for every agent: freshly faulted pages sit in this CPU's LRU batch, which
    # madvise(MADV_PAGEOUT) drains before it isolates the pages.
    if cpu >= 0:
        os.sched_setaffinity(0, {cpu})
    Agent(sock).serve()


if __name__ == "__main__":
    main()
