"""An application's garbage in reference cycles, counted while it lives (tests of the
garbage collector's schedule around settled answers, `dynorm._gc`)."""

from __future__ import annotations

import weakref
from typing import Any


class _Link:
    """One object of a two-object reference cycle (no ``__dict__``: a cycle is two
    tracked objects)."""

    __slots__ = ("__weakref__", "other")

    def __init__(self) -> None:
        self.other: Any = None


class Cycles:
    """Makes two-object cycles and counts those still alive (collected or not)."""

    def __init__(self) -> None:
        self._alive: weakref.WeakSet[_Link] = weakref.WeakSet()

    def make(self) -> _Link:
        a, b = _Link(), _Link()
        a.other, b.other = b, a
        self._alive.add(a)
        return a

    def alive(self) -> int:
        """Cycles not yet freed."""
        return len(self._alive)
