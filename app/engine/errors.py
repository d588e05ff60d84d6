"""Errors raised by the engine for caller mistakes.

A simulated kernel outcome (SIGSEGV, a refused merge, an unreachable page) is never an
exception: it is part of the step's result. An ``EngineError`` means the caller asked for
something malformed or impossible, and the state it passed in is left exactly as it was.
"""


class EngineError(Exception):
    """A caller mistake: the operation was not applied."""


class ScenarioError(EngineError):
    """The scenario or op is malformed (unknown op, bad field, unaligned address...)."""


class OpError(EngineError):
    """The op is well formed but impossible in this state (unknown pid, overlap...)."""


class DesignUnavailable(EngineError):
    """The design or option is unknown, or not built yet."""
