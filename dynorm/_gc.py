"""The cyclic garbage collector paused while a big response is parsed and decoded.

Parsing a page of items (orjson) and decoding it into models allocate hundreds of
thousands of containers in one stretch of code that never yields to the event loop and
makes no garbage cycles: every object it makes is either reachable from the result or
freed by reference counting as soon as it is dropped. CPython's collector, triggered
every 700 container allocations, spends that stretch walking the very trees being built
(on a page of 10,000 items, about a third of the client's CPU). `paused()` turns it off
for such a stretch, and only for it: it is turned on again before any other task runs,
and never turned on if it was off (an application that disabled it keeps it disabled).
The switch is process-wide: another thread that turns the collector off while a decode
in this thread has it paused finds it on again when that decode ends. dynorm never
changes the collector's thresholds (the application's choice: docs/performance.md).
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import ParamSpec, TypeVar

__all__ = ["PAUSE_BYTES", "paused"]

P = ParamSpec("P")
T = TypeVar("T")

#: A response body at least this long is parsed with the collector paused (below it, a
#: parse triggers no collection worth avoiding).
PAUSE_BYTES = 32_768

_isenabled = gc.isenabled
_disable = gc.disable
_enable = gc.enable


def paused(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``function(*args, **kwargs)`` with the cyclic collector off (if it was on)."""
    if not _isenabled():
        return function(*args, **kwargs)
    _disable()
    try:
        return function(*args, **kwargs)
    finally:
        _enable()
