"""Multi-Region routing through MockTransports: where each attempt goes, when a Region
fails over and back, and that a write which may have been applied is never sent to
another Region (tests/integration/test_regions_failover.py does it with real servers)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import pytest

import dynorm
from dynorm import (
    FailoverPolicy,
    MockTransport,
    Model,
    PartitionKey,
    RegionRouter,
    ReplicatedWriteConflict,
    RetryPolicy,
    ServerError,
    TransportError,
)
from dynorm._types import Request, Response
from dynorm.exceptions import RETRYABLE_CODES, error_for_code, may_have_applied

FAST = RetryPolicy(max_attempts=6, base_delay=0.0001, max_delay=0.001)


class Note(Model, table="notes"):
    note_id: Annotated[str, PartitionKey]
    text: str = ""


class Region:
    """A Region's canned server: up, refusing connections, cutting answers, or 5xx."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.mode = "up"
        self.items: dict[str, Any] = {}

    def __call__(self, op: str, req: Request) -> Response:
        if self.mode == "refused":
            raise TransportError(f"{self.name}: connection refused", sent=False)
        if self.mode == "cut" and op != "ListTables":
            raise TransportError(f"{self.name}: connection reset after sending", sent=True)
        if self.mode == "unavailable":
            raise ServerError("down", code="ServiceUnavailable", operation=op, status=503)
        if op == "PutItem":
            self.items[req["Item"]["note_id"]["S"]] = req["Item"]
            return {}
        if op == "GetItem":
            item = self.items.get(req["Key"]["note_id"]["S"])
            return {"Item": item} if item else {}
        return {"TableNames": []}


def two_regions(**policy: Any) -> tuple[Region, Region, MockTransport, MockTransport,
                                        RegionRouter]:
    east, west = Region("us-east-1"), Region("us-west-2")
    te, tw = MockTransport(east), MockTransport(west)
    settings = {"probe_interval": 0.01, **policy}
    router = RegionRouter({"us-east-1": te, "us-west-2": tw}, FailoverPolicy(**settings))
    return east, west, te, tw, router


def ops(transport: MockTransport) -> list[str]:
    return [op for op, _ in transport.requests if op != "ListTables"]


async def test_calls_go_to_the_first_region_and_fail_over_when_it_refuses() -> None:
    east, west, te, tw, router = two_regions(probe_interval=60)
    async with dynorm.connect(transport=router, retry=FAST) as conn:
        assert conn.router is router
        await Note(note_id="a").save()
        assert (ops(te), ops(tw)) == (["PutItem"], [])
        east.mode = "refused"
        await Note(note_id="b").save()   # refused in us-east-1: certainly not applied
        assert ops(tw) == ["PutItem"] and "b" in west.items
        assert router.current == "us-west-2" and not router.healthy("us-east-1")
        (event,) = router.events
        assert (event.kind, event.region, event.to) == ("failover", "us-east-1", "us-west-2")
        assert "connection refused" in event.reason
        await Note(note_id="c").save()
        assert ops(te) == ["PutItem", "PutItem"]   # no more attempts in the failed Region


async def test_probe_brings_the_region_back_and_calls_fail_back() -> None:
    seen: list[str] = []
    east, west, te, tw, router = two_regions(
        on_event=lambda e: seen.append(f"{e.kind} {e.region}"))
    async with dynorm.connect(transport=router, retry=FAST):
        east.mode = "refused"
        await Note(note_id="a").save()
        await asyncio.sleep(0.05)
        assert router.current == "us-west-2"    # probes still refused
        east.mode = "up"
        for _ in range(100):
            if router.healthy("us-east-1"):
                break
            await asyncio.sleep(0.01)
        await Note(note_id="b").save()
    assert seen == ["failover us-east-1", "failback us-east-1"]
    assert "b" in east.items and "b" not in west.items
    assert ("ListTables", {"Limit": 1}) in te.requests
    assert te.closed and tw.closed


async def test_a_write_that_may_have_applied_is_never_sent_to_another_region() -> None:
    east, _west, te, tw, router = two_regions(probe_interval=60, failures=2)
    async with dynorm.connect(transport=router, retry=FAST):
        east.mode = "cut"     # the answer is lost after sending: applied or not?
        with pytest.raises(TransportError, match="ambiguous: it may have been applied in "
                           "us-east-1, which has failed over; not retried in another "
                           "Region") as caught:
            await Note(note_id="a").save()
        assert caught.value.sent and may_have_applied(caught.value)
        assert ops(te) == ["PutItem", "PutItem"] and ops(tw) == []
        # reads are safe anywhere: the next one goes to us-west-2
        assert await Note.find_one("a") is None
        assert ops(tw) == ["GetItem"]


async def test_5xx_burst_fails_a_region_over_and_an_ambiguous_5xx_write_stays() -> None:
    east, west, te, tw, router = two_regions(probe_interval=60, failures=3)
    async with dynorm.connect(transport=router, retry=FAST):
        east.mode = "unavailable"
        with pytest.raises(ServerError, match="ambiguous: it may have been applied in "
                           "us-east-1") as caught:
            await Note(note_id="a").save()
        assert caught.value.ambiguous and caught.value.code == "ServiceUnavailable"
        assert ops(te) == ["PutItem"] * 3 and ops(tw) == []
        assert router.current == "us-west-2"
        await Note(note_id="b").save()
        assert "b" in west.items


async def test_reads_fail_over_within_one_call() -> None:
    east, west, te, tw, router = two_regions(probe_interval=60, failures=2)
    west.items["a"] = {"note_id": {"S": "a"}, "text": {"S": "west"}}
    async with dynorm.connect(transport=router, retry=FAST):
        east.mode = "cut"
        found = await Note.get("a")
    assert found.text == "west"
    assert (ops(te), ops(tw)) == (["GetItem", "GetItem"], ["GetItem"])


async def test_read_region_takes_reads_while_writes_go_to_the_first() -> None:
    _east, west, te, tw, router = two_regions(read_region="us-west-2")
    async with dynorm.connect(transport=router, retry=FAST):
        await Note(note_id="a").save()
        await Note.find_one("a")
        west.mode = "refused"
        await Note.find_one("a")
    assert ops(te) == ["PutItem", "GetItem"] and ops(tw) == ["GetItem", "GetItem"]


def test_stream_calls_go_to_the_region_of_their_arn() -> None:
    *_, router = two_regions()
    arn = "arn:aws:dynamodb:us-west-2:1:table/notes/stream/2026"
    assert router.choose("DescribeStream", {"StreamArn": arn}) == "us-west-2"
    assert router.choose("DescribeStream", {"StreamArn": "arn:aws:dynamodb:eu-west-1:1:x"}
                         ) == "us-east-1"


async def test_replicated_write_conflict_is_typed_retryable_and_not_applied() -> None:
    assert error_for_code("ReplicatedWriteConflictException") is ReplicatedWriteConflict
    assert "ReplicatedWriteConflictException" in RETRYABLE_CODES
    conflicts = [2]

    def handler(op: str, req: Request) -> Response:
        if op == "PutItem" and conflicts[0]:
            conflicts[0] -= 1
            raise ReplicatedWriteConflict(
                "being modified in another Region", operation=op,
                code="ReplicatedWriteConflictException")
        return {}

    transport = MockTransport(handler)
    async with dynorm.connect(transport=transport, retry=FAST):
        await Note(note_id="a").save()
    assert [op for op, _ in transport.requests] == ["PutItem"] * 3
    error = ReplicatedWriteConflict("x", code="ReplicatedWriteConflictException")
    assert not may_have_applied(error)


@pytest.mark.parametrize(("settings", "message"), [
    (dict(regions="us-east-1"), "regions is a list of Regions"),
    (dict(regions=["us-east-1", "us-east-1"]), "distinct Region names"),
    (dict(regions=["us-east-1"], region="eu-west-1"), "give one or the other"),
    (dict(regions=["us-east-1"], endpoints={"eu-west-1": "http://x"}),
     "endpoints names eu-west-1, not in regions"),
    (dict(endpoints={"eu-west-1": "http://x"}), "endpoints= goes with regions="),
    (dict(regions=["us-east-1"], transport=MockTransport()), "not a Transport"),
])
def test_connection_refuses_inconsistent_region_settings(settings: dict[str, Any],
                                                          message: str) -> None:
    with pytest.raises(ValueError, match=message):
        dynorm.connect(**settings)


async def test_connect_with_regions_builds_one_transport_per_region() -> None:
    async with dynorm.connect(regions=["eu-west-1", "eu-central-1"], endpoints={
            "eu-central-1": "http://127.0.0.1:9"}, aws_access_key_id="k",
            aws_secret_access_key="s") as conn:
        router = conn.router
        assert router is not None and conn.region == "eu-west-1"
        assert router.regions == ("eu-west-1", "eu-central-1")
        assert [getattr(t, "region", None) for t in router.transports.values()] == [
            "eu-west-1", "eu-central-1"]
