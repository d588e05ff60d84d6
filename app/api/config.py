"""Settings from the environment, with defaults sized for a 2-core laptop serving a workshop.

This is the one place that names every limit: the routes, the session manager and the
engine workers all read them from here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

DEFAULT_DB = "rmaplab.sqlite3"


def _number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = float(raw) if isinstance(default, float) else int(raw)
    except ValueError:
        kind = "a number" if isinstance(default, float) else "an integer"
        raise SystemExit(f"rmaplab: {name}={raw!r} is not {kind}") from None
    if not value > 0:
        raise SystemExit(f"rmaplab: {name} must be positive")
    return value


@dataclass(frozen=True, slots=True)
class Settings:
    """Every limit the service enforces. Environment variable: RMAPLAB_<FIELD> (upper)."""

    #: where sessions live; ":memory:" keeps them in memory only
    db: str = DEFAULT_DB
    #: the shared store of several processes (``redis://HOST:PORT/DB``); "" for SQLite
    store: str = ""
    #: pages in one mmap, mremap, munmap, mprotect, or one ranged read/write
    max_pages: int = 4096
    #: live processes in one design's state
    max_processes: int = 64
    #: allocated frames in one design's state
    max_frames: int = 16384
    #: mapped PTEs (present, zero-page and swap) in one design's state
    max_ptes: int = 65536
    #: vmas in one design's state
    max_vmas: int = 4096
    #: ops in one session's log
    max_steps: int = 2000
    #: ops in one scenario posted to /api/runs, /api/compare or a new session
    max_run_ops: int = 5000
    #: sessions kept; creating one more expires the longest idle
    max_sessions: int = 1000
    #: seconds a session may stay idle (no request at all) before it expires
    session_ttl: int = 7 * 24 * 3600
    #: sessions one client address may create at once (the bucket of the rate limit)
    create_burst: int = 400
    #: sessions one client address may create per minute once its burst is spent
    create_per_minute: int = 120
    #: request body size in bytes (413 beyond)
    max_body: int = 1 << 20
    #: response body size in bytes
    max_response: int = 8 << 20
    #: CPU seconds of engine work one request may use
    max_request_seconds: float = 2.0
    #: engine worker processes serving sessions (0: one per core)
    workers: int = 0
    #: estimated megabytes of session states one worker keeps cached (least recent go first)
    live_memory_mb: int = 512
    #: keep every Nth step's state in memory; other steps are rebuilt by replay
    snapshot_every: int = 32

    @classmethod
    def from_env(cls) -> Settings:
        store = os.environ.get("RMAPLAB_STORE", "")
        if store and not store.startswith(("redis://", "rediss://", "unix://")):
            raise SystemExit(
                f"rmaplab: RMAPLAB_STORE={store!r} is not a redis://HOST:PORT/DB "
                "URL (unset it for the embedded SQLite store)"
            )
        values: dict[str, object] = {"db": os.environ.get("RMAPLAB_DB", DEFAULT_DB), "store": store}
        for f in fields(cls):
            if f.name in ("db", "store"):
                continue
            name = f"RMAPLAB_{f.name.upper()}"
            if f.name == "workers" and os.environ.get(name) == "0":
                values[f.name] = 0
                continue
            values[f.name] = _number(name, f.default)  # type: ignore[arg-type]
        return cls(**values)  # type: ignore[arg-type]

    @property
    def session_workers(self) -> int:
        """How many engine workers serve sessions."""
        return self.workers or os.cpu_count() or 1
