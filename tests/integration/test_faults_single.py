"""Single-item writes through faults: what dynorm reports is what the table holds.

* A write reported as done is stored exactly; one reported as failed is absent, or the
  error says its outcome is unknown (``TransportError``/``ServerError``, or a
  ``ConditionFailed`` with ``ambiguous``).
* A conditional write is never applied twice by a retry: the version guard makes the
  retry of an applied write fail its condition. When that happens to a put or a delete,
  the transport sees its own effect in the item DynamoDB returns with the failure and
  reports success (``settle_ambiguous``); for an update it cannot, and the error is
  marked ``ambiguous`` instead of passing for an ordinary conflict.
"""

from __future__ import annotations

from typing import Annotated

import pytest

from dynorm import (
    ConditionFailed,
    LocalServer,
    Model,
    PartitionKey,
    ServerError,
    TransportError,
    Version,
    VersionConflict,
)
from tests.support.fault_proxy import FaultConfig, faulty_connection
from tests.support.figures import record

WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem"})


class Note(Model, table="fs_notes"):
    note_id: Annotated[str, PartitionKey]
    body: str
    version: Annotated[int, Version] = 0


class Counter(Model, table="fs_counters"):
    name: Annotated[str, PartitionKey]
    n: int = 0
    version: Annotated[int, Version] = 0


class Tally(Model, table="fs_tallies"):
    """No Version field: an update's only condition is that the item exists."""

    name: Annotated[str, PartitionKey]
    n: int = 0


class Hits(Model, table="fs_hits", entity="hits"):
    """An entity: an upsert's condition is ``attribute_not_exists(key) OR _type = :hits``,
    with ``SET _type = :hits``, which a repeat passes again."""

    name: Annotated[str, PartitionKey]
    n: int = 0


def ambiguous(exc: BaseException) -> bool:
    """The error says an earlier attempt may have applied (and its message says so too)."""
    flagged = bool(getattr(exc, "ambiguous", False))
    assert flagged == ("may have applied it" in str(exc)), exc
    return flagged


@pytest.mark.parametrize("transport", ["aioboto3", "fast"])
async def test_versioned_saves_and_deletes_through_lost_answers(
        dynorm_server: LocalServer, transport: str) -> None:
    """Every third answer to a write is lost after the server applied it. The retry of a
    guarded put then meets its own item; dynorm must still report success."""
    config = FaultConfig(seed=3, drop_after_rate=0.35, fault_operations=WRITES)
    async with faulty_connection(dynorm_server, config, [Note], transport=transport,
                                 max_attempts=6) as (proxy, _):
        notes = [Note(note_id=f"n{i}", body=f"body {i}") for i in range(60)]
        for note in notes:
            await note.save()  # new item: condition attribute_not_exists(version)
            assert note.version == 1
        for note in notes[::2]:
            note.body += " (edited)"
            await note.save()  # condition version = 1
            assert note.version == 2
        for note in notes[::3]:
            await note.delete()  # condition version = current
        lost = len(proxy.applied_unseen)
        assert lost >= 20, proxy.stats.summary()
    async with dynorm_server.connect(transport=transport):
        for i, note in enumerate(notes):
            got = await Note.find_one(note.note_id, consistent=True)
            assert got == (None if i % 3 == 0 else note)
    record(f"single_saves_deletes[{transport}]", proxy, writes=len(notes) * 2 + 20,
           answers_lost_after_write=lost, items_verified=len(notes), items_lost=0)


async def test_guarded_counter_is_never_incremented_twice(dynorm_server: LocalServer) -> None:
    """``update(Counter.n.add(1))`` with a version guard through lost answers (and other
    faults): the counter equals the increments dynorm reported done plus those whose
    outcome it reported as unknown that did apply; never a retry's double."""
    config = FaultConfig(seed=17, drop_after_rate=0.25, drop_before_rate=0.05,
                         server_error_rate=0.05, throttling_rate=0.05,
                         fault_operations=frozenset({"UpdateItem"}))
    done = unknown = unknown_applied = 0
    async with faulty_connection(dynorm_server, config, [Counter], transport="fast",
                                 max_attempts=5) as (proxy, _):
        counters = [await Counter(name=f"c{i}").save() for i in range(4)]
        for round_ in range(40):
            counter = counters[round_ % 4]
            before = counter.n
            try:
                await counter.update(Counter.n.add(1))
            except VersionConflict as exc:
                # One writer per counter: a conflict can only be our own lost attempt,
                # and dynorm must not pass it off as an ordinary conflict.
                assert ambiguous(exc), f"a plain VersionConflict for our own write: {exc}"
                assert exc.actual == exc.expected + 1
                unknown += 1
            except (TransportError, ServerError):
                unknown += 1
            else:
                done += 1
                assert counter.n == before + 1
            fresh = await Counter.get(counter.name, consistent=True)
            delta = fresh.n - before
            assert delta in (0, 1), f"increment applied {delta} times"
            unknown_applied += delta if counter.n == before else 0
            counter.__dict__.update(fresh.__dict__)
        applied = sum(1 for op, _ in proxy.applied_unseen if op == "UpdateItem")
    async with dynorm_server.connect(transport="fast"):
        total = sum([(await Counter.get(c.name, consistent=True)).n for c in counters])
    assert applied > 0 and unknown > 0
    # Every increment applied at most once: the total is the calls reported done plus
    # those of unknown outcome that did apply, never a retry's double.
    assert total == done + unknown_applied
    record("guarded_counter", proxy, calls=40, reported_done=done, reported_unknown=unknown,
           unknown_that_applied=unknown_applied, final_total=total, double_applied=0)


@pytest.mark.parametrize(("model", "transport"),
                         [(Tally, "aioboto3"), (Tally, "fast"), (Hits, "fast")])
async def test_unversioned_count_is_not_sent_again_after_a_lost_answer(
        dynorm_server: LocalServer, transport: str, model: type[Tally | Hits]) -> None:
    """A count of a model without a Version field: ``update(Tally.n.add(1))`` carries only
    ``attribute_exists(name)``, an entity's ``update_item(..., upsert=True)`` only
    ``attribute_not_exists(name) OR _type = :hits``; a repeat passes either again. Its
    answer is lost after the server applied it, on a kept-alive connection: neither the
    connection's retry nor the fast HTTP client's quiet resend of a request on a stale
    connection may send it again (each once counted 2 for an add of 1 and reported
    success)."""
    config = FaultConfig(seed=1, fault_operations=frozenset({"UpdateItem"}))
    async with faulty_connection(dynorm_server, config, [model], transport=transport,
                                 max_attempts=4) as (proxy, _):
        counter = await model(name="t").save()  # the connection is kept alive for the update

        async def count() -> None:
            if model is Tally:
                await counter.update(model.n.add(1))
            else:
                await model.update_item("t", model.n.add(1), upsert=True)

        config.drop_after_rate, config.max_faults = 1.0, 1
        with pytest.raises(TransportError, match="not retried") as info:
            await count()
        assert info.value.sent
        updates = [p for op, p in proxy.requests if op == "UpdateItem"]
        assert len(proxy.applied_unseen) == 1
        assert len(updates) == 1, updates  # sent once
        await count()  # no fault now: counted once
    async with dynorm_server.connect(transport=transport):
        assert (await model.get("t", consistent=True)).n == 2


async def test_failed_writes_are_absent_or_flagged(dynorm_server: LocalServer) -> None:
    """30% faults of every kind and only 2 attempts, so some writes do fail: each one
    that dynorm reports failed without an "unknown outcome" flag is really absent."""
    config = FaultConfig.mixed(0.30, seed=23, operations=WRITES)
    outcomes: dict[str, str] = {}
    async with faulty_connection(dynorm_server, config, [Note], transport="aioboto3",
                                 max_attempts=2) as (proxy, _):
        for i in range(120):
            note = Note(note_id=f"m{i}", body="x" * i)
            try:
                await note.save()
                outcomes[note.note_id] = "done"
            except (TransportError, ServerError):
                outcomes[note.note_id] = "unknown"
            except ConditionFailed as exc:
                assert ambiguous(exc)
                outcomes[note.note_id] = "unknown"
            except Exception as exc:  # throttling spent: reported, certainly not applied
                outcomes[note.note_id] = f"failed:{type(exc).__name__}"
    async with dynorm_server.connect(transport="fast"):
        for i in range(120):
            got = await Note.find_one(f"m{i}", consistent=True)
            state = outcomes[f"m{i}"]
            if state == "done":
                assert got == Note(note_id=f"m{i}", body="x" * i, version=1)
            elif state.startswith("failed"):
                assert got is None, state
    failed = sum(1 for v in outcomes.values() if v != "done")
    assert failed > 0, proxy.stats.summary()
    record("single_failures", proxy, writes=120, reported_failed=failed,
           reported_unknown=sum(1 for v in outcomes.values() if v == "unknown"), items_lost=0)
