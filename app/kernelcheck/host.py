"""The host side: the environment, the agent processes, procfs, and a temporary swap area.

Everything here touches the real machine. Every process started is ended and every swap
area enabled is turned off and removed, also on errors and timeouts (``Host.close`` and
``swap_area`` run from ``finally``).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import platform
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..engine import PAGE_SIZE
from .decode import (
    KPF_WRITEBACK,
    MapsLine,
    PagemapEntry,
    decode_pagemap,
    decode_u64s,
    kpf_has,
    parse_maps,
)

#: The scenario's address space (i386 TASK_SIZE, see docs/scenarios.md).
WINDOW_SIZE = 0xC0000000
#: Candidate bases for the window, tried in order; the first free one is used.
WINDOW_BASES = (0x7E0000000000, 0x7D0000000000, 0x600000000000, 0x500000000000)
#: A spare page just above the window, for the calibration agent.
CALIBRATION_OFFSET = WINDOW_SIZE
CALL_TIMEOUT = 30.0
SWAP_BYTES = 64 << 20
SWAP_DIR_PREFIX = "rmaplab-kernel-check-"
AGENT_SCRIPT = Path(__file__).resolve().parent / "agent.py"

PROT_BITS = {"r": 1, "w": 2, "x": 4}
MADV_DOFORK = 11
MADV_DONTFORK = 10
MADV_PAGEOUT = 21
MREMAP_MAYMOVE = 1
MREMAP_FIXED = 2


def prot_bits(prot: str) -> int:
    """``PROT_*`` bits of a scenario prot (``none``, ``r``, ``rw``, ...)."""
    return 0 if prot == "none" else sum(PROT_BITS[c] for c in prot)


class HostError(Exception):
    """The host could not do what the check needs (not a disagreement)."""


class AgentDied(HostError):
    """An agent process ended without being asked to."""


# ----- the environment --------------------------------------------------------------------


@dataclass
class Environment:
    """What this machine lets the check see and do."""

    system: str
    release: str
    root: bool
    page_size: int
    proc_pagemap: bool
    kpageflags: bool
    swaps: list[dict[str, Any]] = field(default_factory=list)
    zswap: str | None = None
    overcommit: int | None = None
    cpu: int = -1
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def can_run(self) -> bool:
        return not self.problems

    @property
    def pfns_visible(self) -> bool:
        """Frame numbers in pagemap, kpageflags and kpagecount need CAP_SYS_ADMIN."""
        return self.root and self.kpageflags

    def to_json(self) -> dict[str, Any]:
        return {
            "system": self.system,
            "release": self.release,
            "root": self.root,
            "page_size": self.page_size,
            "pfns_visible": self.pfns_visible,
            "swaps": self.swaps,
            "zswap": self.zswap,
            "overcommit_memory": self.overcommit,
            "cpu": self.cpu,
            "problems": list(self.problems),
            "warnings": list(self.warnings),
        }


def read_swaps() -> list[dict[str, Any]]:
    """The active swap areas of ``/proc/swaps``."""
    out = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/swaps").read_text().splitlines()[1:]:
            parts = line.split()
            if len(parts) >= 5:
                out.append(
                    {
                        "name": parts[0],
                        "type": parts[1],
                        "size_kib": int(parts[2]),
                        "used_kib": int(parts[3]),
                        "priority": int(parts[4]),
                    }
                )
    return out


def _read_text(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def probe() -> Environment:
    """Look at the machine; ``problems`` lists what rules out running at all."""
    uname = platform.uname()
    root = os.geteuid() == 0
    env = Environment(
        system=uname.system,
        release=uname.release,
        root=root,
        page_size=os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 0,
        proc_pagemap=Path("/proc/self/pagemap").exists(),
        kpageflags=root and os.access("/proc/kpageflags", os.R_OK),
    )
    if uname.system != "Linux":
        env.problems.append(f"this is {uname.system}, not Linux")
        return env
    if not env.proc_pagemap:
        env.problems.append("/proc/self/pagemap is missing (CONFIG_PROC_PAGE_MONITOR=n)")
    if env.page_size != PAGE_SIZE:
        env.problems.append(f"the page size is {env.page_size} bytes; scenarios use 4096")
    if not hasattr(os, "pidfd_open") or not hasattr(socket, "send_fds"):
        env.problems.append("Python lacks os.pidfd_open or socket.send_fds")
    env.swaps = read_swaps()
    env.zswap = _read_text("/sys/module/zswap/parameters/enabled")
    over = _read_text("/proc/sys/vm/overcommit_memory")
    env.overcommit = int(over) if over and over.isdigit() else None
    if env.overcommit == 2:
        env.warnings.append(
            "vm.overcommit_memory is 2: the kernel ignores MAP_NORESERVE and "
            "accounts writable private vmas (VM_ACCOUNT), a flag the simulator "
            "does not compare (docs/semantics.md#flags), so some merges may "
            "differ"
        )
    with contextlib.suppress(OSError, AttributeError):
        env.cpu = min(os.sched_getaffinity(0))
    with contextlib.suppress(OSError):
        flags = next(
            (
                line
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("flags")
            ),
            "",
        ).split()
        if "ospke" in flags:
            env.warnings.append(
                "this CPU has memory protection keys (ospke): an execute-only "
                "mapping is not readable here, where the simulator lets any "
                "access right read (x86 without pkeys)"
            )
    return env


# ----- agents -------------------------------------------------------------------------------


class AgentHandle:
    """The controller's end of one agent process."""

    def __init__(self, sock: socket.socket, pid: int, label: str) -> None:
        self.sock = sock
        self.pid = pid
        self.label = label
        self.pidfd: int | None = os.pidfd_open(pid)
        self.alive = True
        sock.settimeout(CALL_TIMEOUT)

    def call(self, cmd: str, **args: Any) -> dict[str, Any]:
        """Send one command and wait for its reply."""
        self._send(cmd, args)
        try:
            data = self.sock.recv(1 << 20)
        except TimeoutError:
            raise HostError(
                f"agent {self.label} (pid {self.pid}) did not answer {cmd!r} "
                f"within {CALL_TIMEOUT:.0f} s"
            ) from None
        except ConnectionError:
            data = b""
        if not data:
            self.alive = False
            raise AgentDied(f"agent {self.label} (pid {self.pid}) died during {cmd!r}")
        reply: dict[str, Any] = json.loads(data)
        return reply

    def _send(self, cmd: str, args: dict[str, Any]) -> None:
        try:
            self.sock.send(json.dumps({"cmd": cmd, **args}).encode())
        except OSError:
            self.alive = False
            raise AgentDied(f"agent {self.label} (pid {self.pid}) has died") from None

    def fork(self, label: str) -> AgentHandle:
        """A real ``fork()`` of this agent; returns the child's handle."""
        self._send("fork", {})
        try:
            data, fds, _flags, _addr = socket.recv_fds(self.sock, 1 << 16, 1)
        except TimeoutError:
            raise HostError(
                f"agent {self.label} did not fork within {CALL_TIMEOUT:.0f} s"
            ) from None
        except ConnectionError:
            data, fds = b"", []
        if not data or not fds:
            self.alive = False
            raise AgentDied(f"agent {self.label} (pid {self.pid}) died while forking")
        reply = json.loads(data)
        return AgentHandle(socket.socket(fileno=fds[0]), int(reply["pid"]), label)

    def exit(self) -> None:
        """Ask the agent to ``_exit(0)`` and wait until its mm is gone."""
        with contextlib.suppress(AgentDied):
            self._send("exit", {})
        deadline = time.monotonic() + CALL_TIMEOUT
        with contextlib.suppress(OSError, TimeoutError):
            while self.sock.recv(1 << 16):
                if time.monotonic() > deadline:
                    break
        self._wait_gone(CALL_TIMEOUT)
        self.alive = False
        self._close()

    def kill(self) -> None:
        """SIGKILL through the pidfd (no pid-reuse race) and wait for the end."""
        if self.pidfd is not None:
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            self._wait_gone(5.0)
        self.alive = False
        self._close()

    def _wait_gone(self, timeout: float) -> bool:
        if self.pidfd is None:
            return True
        ready, _, _ = select.select([self.pidfd], [], [], timeout)
        return bool(ready)

    def _close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
        if self.pidfd is not None:
            with contextlib.suppress(OSError):
                os.close(self.pidfd)
            self.pidfd = None


class Host:
    """The zygote and every agent forked from it; ``close`` ends them all."""

    def __init__(self, env: Environment) -> None:
        self.env = env
        self.agents: list[AgentHandle] = []
        self.zygote: AgentHandle | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", str(AGENT_SCRIPT), str(theirs.fileno()), str(self.env.cpu)],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                close_fds=True,
            )
        finally:
            theirs.close()
        self.zygote = AgentHandle(mine, self.proc.pid, "zygote")
        reply = self.zygote.call("ping")
        if not reply.get("ok"):
            raise HostError(f"the agent did not start: {reply}")

    def spawn(self, label: str) -> AgentHandle:
        """A fresh process with no mapping in the window: a fork of the zygote."""
        assert self.zygote is not None
        agent = self.zygote.fork(label)
        self.agents.append(agent)
        return agent

    def fork(self, parent: AgentHandle, label: str) -> AgentHandle:
        agent = parent.fork(label)
        self.agents.append(agent)
        return agent

    def process_list(self) -> list[dict[str, Any]]:
        """Every process started, as ``{"label", "pid"}`` (the zygote first)."""
        every = ([self.zygote] if self.zygote else []) + self.agents
        return [{"label": a.label, "pid": a.pid} for a in every]

    def close(self) -> None:
        """End every agent (SIGKILL if it is still there) and the zygote."""
        for agent in reversed(self.agents):
            if agent.alive:
                agent.kill()
        if self.zygote is not None and self.zygote.alive:
            self.zygote.kill()
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def __enter__(self) -> Host:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ----- procfs ------------------------------------------------------------------------------


def read_maps(pid: int) -> list[MapsLine]:
    return parse_maps(Path(f"/proc/{pid}/maps").read_text())


def read_pagemap(pid: int, start: int, pages: int) -> list[PagemapEntry]:
    """The pagemap entries of ``pages`` pages from virtual address ``start``."""
    with open(f"/proc/{pid}/pagemap", "rb", buffering=0) as f:
        f.seek((start // PAGE_SIZE) * 8)
        data = b""
        want = pages * 8
        while len(data) < want:
            chunk = f.read(want - len(data))
            if not chunk:
                break
            data += chunk
    return decode_pagemap(data)


class KPages:
    """``/proc/kpageflags`` and ``/proc/kpagecount`` readers (root only)."""

    def __init__(self) -> None:
        self.flags_f = open("/proc/kpageflags", "rb", buffering=0)  # noqa: SIM115
        self.count_f = open("/proc/kpagecount", "rb", buffering=0)  # noqa: SIM115

    def _word(self, f: Any, pfn: int) -> int:
        f.seek(pfn * 8)
        return decode_u64s(f.read(8))[0]

    def flags(self, pfn: int) -> int:
        return self._word(self.flags_f, pfn)

    def count(self, pfn: int) -> int:
        return self._word(self.count_f, pfn)

    def close(self) -> None:
        self.flags_f.close()
        self.count_f.close()

    def wait_writeback(self, pfn: int, timeout: float = 10.0) -> bool:
        """Wait until the frame is no longer under writeback; False on timeout."""
        deadline = time.monotonic() + timeout
        while kpf_has(self.flags(pfn), KPF_WRITEBACK):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.002)
        return True


# ----- a temporary swap area ----------------------------------------------------------------


@dataclass
class SwapInfo:
    """Whether pages can be paged out, and what was done to make it so."""

    available: bool
    how: str
    created: str | None = None
    cleanup: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "available": self.available,
            "how": self.how,
            "created": self.created,
            "cleanup": list(self.cleanup),
        }


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.swapon.argtypes = [ctypes.c_char_p, ctypes.c_int]
    libc.swapoff.argtypes = [ctypes.c_char_p]
    return libc


def write_swap_file(path: Path, size: int) -> None:
    """A swap file without holes and with the ``SWAPSPACE2`` header (what mkswap writes)."""
    pages = size // PAGE_SIZE
    header = bytearray(PAGE_SIZE)
    # union swap_header.info after 1024 boot bytes: version, last_page, nr_badpages, uuid
    struct.pack_into("<III", header, 1024, 1, pages - 1, 0)
    header[1036:1052] = uuid.uuid4().bytes
    header[PAGE_SIZE - 10 :] = b"SWAPSPACE2"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, bytes(header))
        zeros = bytes(1 << 20)
        left = size - PAGE_SIZE
        while left > 0:
            left -= os.write(fd, zeros[: min(left, len(zeros))])
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def swap_area(env: Environment, allow_create: bool = True) -> Iterator[SwapInfo]:
    """Yield whether swap is usable; if none is active and we are root, make a swap file.

    A swap file made here is turned off and deleted on the way out, whatever happened.
    """
    active = read_swaps()
    if active:
        names = ", ".join(s["name"] for s in active)
        note = ""
        if any("zram" in s["name"] for s in active):
            note = (
                " (a zram device: the kernel frees the swap cache on every swap-in there,"
                " which the simulator's disk-like device does not; "
                "docs/semantics.md#swap-cache)"
            )
        yield SwapInfo(True, f"the active swap area(s) {names}{note}")
        return
    if not env.root:
        yield SwapInfo(
            False,
            "no swap area is active, and making one needs root: page-out "
            "(reclaim) steps are not checkable",
        )
        return
    if not allow_create:
        yield SwapInfo(
            False,
            "no swap area is active and making one was not allowed "
            "(--no-swap): page-out (reclaim) steps are not checkable",
        )
        return
    libc = _libc()
    errors = []
    made: tuple[Path, Path] | None = None
    for parent in dict.fromkeys(("/var/tmp", tempfile.gettempdir())):
        folder = None
        try:
            folder = Path(tempfile.mkdtemp(prefix=SWAP_DIR_PREFIX, dir=parent))
            path = folder / "swapfile"
            write_swap_file(path, SWAP_BYTES)
            if libc.swapon(str(path).encode(), 0) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"swapon: {os.strerror(err)}")
            made = (folder, path)
            break
        except OSError as exc:
            errors.append(f"{parent}: {exc.strerror or exc}")
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
    if made is None:
        yield SwapInfo(
            False,
            "no swap area is active and none could be made ("
            + "; ".join(errors)
            + "): page-out (reclaim) steps are not checkable",
        )
        return
    folder, path = made
    info = SwapInfo(
        True, f"a {SWAP_BYTES >> 20} MiB swap file made for this check, {path}", created=str(path)
    )
    try:
        yield info
    finally:
        _remove_swap(libc, folder, path, info)


def _remove_swap(libc: ctypes.CDLL, folder: Path, path: Path, info: SwapInfo) -> None:
    """``swapoff`` the file and delete it (kept, and said so, if swapoff fails)."""
    if libc.swapoff(str(path).encode()) != 0:
        err = ctypes.get_errno()
        if err != errno.EINVAL:  # EINVAL: it is not an active swap area (any more)
            info.cleanup.append(
                f"swapoff {path} failed: {os.strerror(err)}; the file is "
                "left in place: run 'swapoff' on it and delete it"
            )
            return
    shutil.rmtree(folder, ignore_errors=True)
    info.cleanup.append(f"swapoff {path} and deleted it")
