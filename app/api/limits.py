"""The one place that decides whether a state or a request is within the limits.

Sessions, ``/api/runs``, ``/api/compare`` and walks all call these, in the engine worker,
after every step: a limit is a refusal naming the variable, and the state before the step
is kept.
"""

from __future__ import annotations

from typing import Any

from ..engine import State
from .config import Settings


def state_problem(state: State, settings: Settings) -> str | None:
    """What the state exceeds, as a sentence naming the variable, or None."""
    s = settings
    counts = (
        ("processes", len(state.mms), s.max_processes, "RMAPLAB_MAX_PROCESSES"),
        ("allocated frames", len(state.page_mapcount), s.max_frames, "RMAPLAB_MAX_FRAMES"),
        ("vmas", len(state.vmas), s.max_vmas, "RMAPLAB_MAX_VMAS"),
        (
            "mapped PTEs (zero-page and swap ones included)",
            sum(map(len, state.ptes.values())),
            s.max_ptes,
            "RMAPLAB_MAX_PTES",
        ),
    )
    for what, n, limit, variable in counts:
        if n > limit:
            return f"the op would make {n} {what}; the limit is {limit} ({variable})"
    return None


def op_problem(op: dict[str, Any], settings: Settings) -> tuple[str, str] | None:
    """A page count of one op beyond RMAPLAB_MAX_PAGES: (field, sentence), or None."""
    for name in ("pages", "new_pages", "count"):
        value = op.get(name)
        if value is not None and value > settings.max_pages:
            return name, (f"{value} pages; the limit is {settings.max_pages} (RMAPLAB_MAX_PAGES)")
    return None


def response_problem(size: int, settings: Settings) -> str | None:
    """An answer of ``size`` bytes beyond RMAPLAB_MAX_RESPONSE, as a sentence, or None."""
    if size > settings.max_response:
        return (
            f"the answer would be {size} bytes or more; the limit is "
            f"{settings.max_response} bytes (RMAPLAB_MAX_RESPONSE)"
        )
    return None
