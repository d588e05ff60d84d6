"""Remembering pure results across states that share tables.

A step copies only the tables it writes, so consecutive states share most of their
tables as the very same objects. A result computed from some tables (a verdict, a part
of the JSON document) is therefore still valid for any later state whose tables are
those same objects. ``IdentityMemo`` keeps the last few results with the tables they
came from (held, so they cannot be freed and their identity reused) and finds them again
by identity.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class IdentityMemo(Generic[T]):
    """The last ``size`` results of a function of some objects, keyed by their identity.

    Results are shared between callers: treat them as read-only.
    """

    def __init__(self, size: int) -> None:
        self._entries: deque[tuple[tuple[Any, ...], T]] = deque(maxlen=size)

    def get(self, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
        newest_first: Iterator[tuple[tuple[Any, ...], T]] = reversed(self._entries)
        for seen, known in newest_first:
            if len(seen) == len(key) and all(a is b for a, b in zip(seen, key, strict=True)):
                return known
        value = compute()
        self._entries.append((key, value))
        return value
