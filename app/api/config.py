"""Settings from the environment, with defaults sized for a 2-core laptop serving a workshop."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

DEFAULT_DB = "rmaplab.sqlite3"


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"rmaplab: {name}={raw!r} is not an integer") from None
    if value < 1:
        raise SystemExit(f"rmaplab: {name} must be at least 1")
    return value


@dataclass(frozen=True, slots=True)
class Settings:
    """Every limit the service enforces. Environment variable: RMAPLAB_<FIELD> (upper)."""

    #: where sessions live; ":memory:" keeps them in memory only
    db: str = DEFAULT_DB
    #: pages in one mmap, mremap, munmap, mprotect, or one ranged read/write
    max_pages: int = 4096
    #: live processes in one design's state
    max_processes: int = 64
    #: allocated frames in one design's state
    max_frames: int = 16384
    #: ops in one session's log
    max_steps: int = 2000
    #: ops in one scenario posted to /api/runs, /api/compare or a new session
    max_run_ops: int = 5000
    #: sessions kept; creating one more expires the longest idle
    max_sessions: int = 1000
    #: request body size in bytes (413 beyond)
    max_body: int = 1 << 20
    #: keep every Nth step's state in memory; other steps are rebuilt by replay
    snapshot_every: int = 32

    @classmethod
    def from_env(cls) -> Settings:
        values: dict[str, object] = {"db": os.environ.get("RMAPLAB_DB", DEFAULT_DB)}
        for f in fields(cls):
            if f.name != "db":
                values[f.name] = _int(f"RMAPLAB_{f.name.upper()}", f.default)  # type: ignore[arg-type]
        return cls(**values)  # type: ignore[arg-type]
