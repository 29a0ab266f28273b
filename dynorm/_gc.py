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

A big answer the fast transport parses is `settled()` as well: the tree it makes goes
straight to the collector's oldest generation, where no young collection walks it while
it is read item by item and freed.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import ParamSpec, TypeVar

__all__ = ["PAUSE_BYTES", "paused", "settled"]

P = ParamSpec("P")
T = TypeVar("T")

#: A response body at least this long is parsed with the collector paused (below it, a
#: parse triggers no collection worth avoiding).
PAUSE_BYTES = 32_768

_isenabled = gc.isenabled
_disable = gc.disable
_enable = gc.enable
_freeze = gc.freeze
_unfreeze = gc.unfreeze
_freeze_count = gc.get_freeze_count
_collect = gc.collect
_get_count = gc.get_count
_get_stats = gc.get_stats
_get_threshold = gc.get_threshold
_get_objects = gc.get_objects


class _Owed:
    """What `settled()` took from the collector's schedule of full collections.

    ``gc.freeze()`` zeroes the collector's counts, among them the count of young
    collections since the last full one: an application that reads big answers often
    would never see a full collection again, and its cyclic garbage that reached the
    oldest generation would never be freed. So `settled()` keeps that count here, with
    the objects it moved to the oldest generation, and makes the full collection when the
    collector would have: more young collections than its third threshold, and more new
    objects in the oldest generation than a quarter of those that survived the last full
    collection (CPython's rule against quadratic collection work).
    """

    #: young collections since the last full collection, forgotten by the collector (in
    #: collections of its middle generation: `_young_since_settled`)
    young = 0.0
    #: objects moved to the oldest generation since the last full collection
    moved = 0
    #: objects that survived the last full collection dynorm made (0: none made yet)
    survived = 0
    #: the collector's count of full collections when last looked
    full = 0


def paused(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``function(*args, **kwargs)`` with the cyclic collector off (if it was on)."""
    if not _isenabled():
        return function(*args, **kwargs)
    _disable()
    try:
        return function(*args, **kwargs)
    finally:
        _enable()


def settled(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`paused()`, and what the call made then moved to the collector's oldest
    generation without being walked.

    For a big answer parsed into a tree that is then read item by item: the collector's
    next young collection would walk the whole fresh tree once, though reading frees it
    by reference counting (a fifth of the client's CPU per item of a 10,000-item query,
    measured). The young generations are collected first, as they would have been (they
    are small: at most a few thousand objects); then ``gc.freeze()`` and
    ``gc.unfreeze()`` move every tracked object -- the new tree, and the survivors just
    collected -- to the oldest generation in constant time. As that zeroes the
    collector's counts, a full collection is made here when the collector would have
    made one (`_Owed`: what the parse made, and the young objects alive then -- the
    application's -- that the move takes with it). Skipped (a plain `paused()`)
    when the application has frozen objects itself (``gc.freeze()`` before forking
    workers): unfreezing would undo that; and a plain call when it turned collection
    off (``gc.disable()``, or ``gc.set_threshold(0)``).
    """
    if not _isenabled() or not _get_threshold()[0]:  # (threshold 0: collection off too)
        return function(*args, **kwargs)
    _disable()
    try:
        promote = not _freeze_count()
        if promote:  # the young generations (small) collected first, as they would be
            young = _young_since_settled()
            # their survivors (the application's objects alive now) go to the oldest
            # generation too: counted, as the collector counts them
            held = len(_get_objects(0)) + len(_get_objects(1))
            held = max(0, held - _collect(1))
        result = function(*args, **kwargs)
        if promote and not _freeze_count():  # (nor frozen by another thread meanwhile)
            made = _get_count()[0]  # tracked objects made since: what freezing moves
            _freeze()
            _unfreeze()
            _settle_debt(young, held + made)
        return result
    finally:
        _enable()


def _young_since_settled() -> float:
    """The collector's young collections since the last freeze (which zeroed its counts),
    in collections of its middle generation, with the one this answer stands for: the
    collector paused while a big answer is parsed makes one collection of its youngest
    generation when it is turned on again, a ``threshold[1]``-th of a middle one, whatever
    the answer's size. (Counting a whole one per answer, as before, made a full
    collection -- tens of milliseconds on a heap of 50,000 objects -- every ten answers: on
    every `get_many` of 1,000 keys.)"""
    _, gen0_collections, gen1_collections = _get_count()
    return gen1_collections + (gen0_collections + 1) / max(_get_threshold()[1], 1)


def _settle_debt(young: float, moved: int) -> None:
    """Count what `settled()` took from the collector's schedule (`_Owed`), and make the
    full collection when the collector would have made it."""
    full = _get_stats()[2]["collections"]
    if full != _Owed.full:  # a full collection since (the collector's, the app's)
        _Owed.full, _Owed.young, _Owed.moved = full, 0.0, 0
    _Owed.young += young
    _Owed.moved += moved
    if _Owed.young > _get_threshold()[2] and _Owed.moved > _Owed.survived // 4:
        _collect(2)
        _freeze()  # everything is in the oldest generation now: counted, not walked
        _Owed.survived = _freeze_count()
        _unfreeze()
        _Owed.full, _Owed.young, _Owed.moved = _get_stats()[2]["collections"], 0.0, 0
