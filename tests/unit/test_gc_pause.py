"""The collector paused while a page is decoded (dynorm._gc, issue 26).

Decoding a page makes no garbage cycles, so collections during it only walk the trees
being built; they are paused for that stretch alone and the collector's state is always
given back: on after success and after an error, still off for an application that
turned it off.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Annotated, Any

import pytest
from pydantic import field_validator

import dynorm
from dynorm import MockTransport, Model, PartitionKey, SortKey
from dynorm._gc import paused, settled
from dynorm.exceptions import ValidationFailed


@pytest.fixture(autouse=True)
def _collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    (gc.enable if was else gc.disable)()


def test_paused_runs_with_the_collector_off_and_turns_it_on_again() -> None:
    seen = paused(lambda a, b=0: (gc.isenabled(), a + b), 1, b=2)
    assert seen == (False, 3)
    assert gc.isenabled()


def test_paused_turns_it_on_again_after_an_error() -> None:
    def fail() -> None:
        raise KeyError("x")

    with pytest.raises(KeyError):
        paused(fail)
    assert gc.isenabled()


def test_settled_moves_what_it_made_to_the_oldest_generation() -> None:
    seen: list[bool] = []

    def parse() -> list[dict[str, Any]]:
        seen.append(gc.isenabled())
        return [{"S": str(i)} for i in range(50)] + [{"L": []}]

    tree = settled(parse)
    assert seen == [False] and gc.isenabled()
    oldest = {id(o) for o in gc.get_objects(generation=2)}
    assert id(tree) in oldest and id(tree[-1]) in oldest
    assert gc.get_freeze_count() == 0


def test_settled_leaves_an_applications_frozen_objects_frozen(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Not unfrozen (nor frozen again) by dynorm. Counted by the calls, not by
    ``gc.get_freeze_count()``: a frozen object another thread frees meanwhile lowers that
    count by one (seen once in CI: 487,414 against 487,415)."""
    import dynorm._gc as dgc

    calls: list[str] = []
    monkeypatch.setattr(dgc, "_unfreeze", lambda: calls.append("unfreeze"))
    monkeypatch.setattr(dgc, "_freeze", lambda: calls.append("freeze"))
    gc.freeze()
    try:
        tree = settled(lambda: [[i] for i in range(10)])
        assert calls == []  # not unfrozen by dynorm
        assert gc.get_freeze_count() > 0  # the application's objects are frozen still
        assert id(tree) in {id(o) for o in gc.get_objects(generation=0)}
    finally:
        gc.unfreeze()


def test_settled_turns_the_collector_on_again_after_an_error() -> None:
    def fail() -> None:
        raise ValueError("unreadable")

    with pytest.raises(ValueError, match="unreadable"):
        settled(fail)
    assert gc.isenabled()
    gc.disable()
    try:
        assert settled(lambda: 5) == 5 and not gc.isenabled()
    finally:
        gc.enable()


def test_paused_leaves_a_disabled_collector_disabled() -> None:
    gc.disable()
    assert paused(gc.isenabled) is False
    assert not gc.isenabled()


SEEN: list[bool] = []


class Row(Model, table="gc_rows"):
    pk: Annotated[str, PartitionKey]
    n: Annotated[int, SortKey]

    @field_validator("n")
    @classmethod
    def _record(cls, v: int) -> int:
        SEEN.append(gc.isenabled())
        if v < 0:
            raise ValueError("negative")
        return v


def _page(*ns: int) -> dict[str, Any]:
    return {"Items": [{"pk": {"S": "p"}, "n": {"N": str(n)}} for n in ns],
            "Count": len(ns)}


async def test_to_list_decodes_a_page_with_the_collector_paused() -> None:
    SEEN.clear()
    async with dynorm.connect(transport=MockTransport(lambda op, req: _page(1, 2, 3))):
        rows = await Row.query(dynorm.attr(Row.pk) == "p").to_list()
    assert [r.n for r in rows] == [1, 2, 3]
    assert SEEN == [False, False, False]
    assert gc.isenabled()


async def test_pages_decode_with_the_collector_paused() -> None:
    SEEN.clear()
    async with dynorm.connect(transport=MockTransport(lambda op, req: _page(4, 5))):
        pages = [p async for p in Row.query(dynorm.attr(Row.pk) == "p").pages()]
    assert [[r.n for r in p.items] for p in pages] == [[4, 5]]
    assert SEEN == [False, False]
    assert gc.isenabled()


async def test_a_page_that_does_not_fit_turns_the_collector_on_again() -> None:
    async with dynorm.connect(transport=MockTransport(lambda op, req: _page(1, -1))):
        with pytest.raises(ValidationFailed):
            await Row.query(dynorm.attr(Row.pk) == "p").to_list()
    assert gc.isenabled()


async def test_get_many_decodes_with_the_collector_paused() -> None:
    SEEN.clear()

    def answer(op: str, req: dict[str, Any]) -> dict[str, Any]:
        keys = req["RequestItems"]["gc_rows"]["Keys"]
        return {"Responses": {"gc_rows": keys}, "UnprocessedKeys": {}}

    async with dynorm.connect(transport=MockTransport(answer)):
        rows = await Row.get_many([("p", 1), ("p", 2)])
    assert [r.n for r in rows if r] == [1, 2]
    assert SEEN == [False, False]
    assert gc.isenabled()


def test_cyclic_garbage_stays_bounded_when_big_answers_are_made_of_few_objects() -> None:
    """Every settled answer moves *all* the young objects alive then to the oldest
    generation (``gc.collect(1)`` + freeze), the application's among them: its request
    objects held in cycles across a read become old garbage when dropped, freed only by
    a full collection. CPython makes one once the oldest generation has grown by a
    quarter; ``_Owed.moved`` counts only what the parse made, so an answer of 32 KB or
    more made of a few big strings (documents, blobs: a handful of containers) hardly
    counts, and the application's garbage piled up to many times the live heap (before:
    every cycle of 2,000+ reads kept, none freed after the first full collection)."""
    from tests.support.garbage import Cycles

    per_read = 250  # cycles an application holds across each read, then drops
    gc.collect()
    heap = len(gc.get_objects())
    every = gc.get_threshold()[1] * gc.get_threshold()[2] + 1  # answers per full one
    # the bound CPython keeps: the oldest generation grows by a quarter at most between
    # full collections, each made no sooner than ``every`` answers (generously doubled)
    bound = heap // 4 + 2 * every * 2 * per_read
    reads = bound // (2 * per_read) * 2  # twice as many reads as the bound allows
    cycles = Cycles()
    peak = 0
    for i in range(reads):
        held = [cycles.make() for _ in range(per_read)]  # alive across the read...
        answer = settled(lambda n: {"Items": [{"doc": {"S": f"{n}" * 40_000}}]}, i)
        del answer, held  # ... then garbage
        peak = max(peak, 2 * cycles.alive())
    assert peak <= bound, (
        f"{peak:,} garbage objects alive at once, over a heap of {heap:,}")


def test_settled_makes_no_collection_when_the_application_set_threshold_zero() -> None:
    """``gc.set_threshold(0)`` is Python's other documented way to turn automatic
    collection off (the collector stays "enabled"). An application that chose it has
    chosen when collections run, as one that called gc.disable() has: a big answer
    must not collect its young generations, nor make the full collections the
    collector "owes" (before: a middle collection on every answer, and a full one every
    hundred or so)."""
    before_threshold = gc.get_threshold()
    gc.set_threshold(0)
    try:
        gc.collect()
        before = [g["collections"] for g in gc.get_stats()]
        for _ in range(3 * 101):
            held = [[i] for i in range(300)]
            answer = settled(lambda: [{"S": [i]} for i in range(2_000)])
            del answer, held
        assert [g["collections"] for g in gc.get_stats()] == before
    finally:
        gc.set_threshold(*before_threshold)
