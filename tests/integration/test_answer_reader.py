"""Pages read into models as their answer is parsed (issue 26): ``to_list()``,
``pages()``, a parallel scan and ``get_many()`` on the fast transport build the items
while the garbage collector is paused (`dynorm.transport.base.answers_read_by`). They must
give exactly what the general way gives (``model_validate(decode_item(item))`` over the
raw answer), and an item that does not fit is raised where it always was."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated, Any

import pydantic
import pytest

import dynorm
import dynorm.read.answers as answers
from dynorm import Connection, Model, PartitionKey, SortKey, ValidationFailed
from dynorm.read.answers import DecodedItems
from dynorm.schema.classes import meta_of


class Spot(pydantic.BaseModel):
    lat: float
    lon: float


class Reading(Model, table="answer_readings", entity="reading", schema_version=2):
    device: Annotated[str, PartitionKey]
    seq: Annotated[int, SortKey]
    value: float
    note: str | None = None
    flags: set[str] = set()
    raw: bytes = b""
    at: dt.datetime
    spot: Spot | None = None


class Device(Model, table="answer_readings", entity="device"):
    device: Annotated[str, PartitionKey]
    seq: Annotated[int, SortKey]
    name: str = ""


TABLES = pytest.mark.dynorm_tables([Reading])
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
N = 150


def _reading(i: int) -> Reading:
    return Reading(device="d1", seq=i, value=i / 4, note=None if i % 3 else f"n{i}",
                   flags={f"f{i % 4}"} if i % 2 else set(), raw=bytes([i % 256]) * (i % 3),
                   at=T0 + dt.timedelta(seconds=i),
                   spot=Spot(lat=52.1, lon=4.3 + i) if i % 5 else None)


async def _seed() -> list[Reading]:
    items = [_reading(i) for i in range(N)]
    async with dynorm.batch() as b:
        for r in items:
            b.save(r, store_none=bool(r.seq % 2))  # NULLs in half of them
        b.save(Device(device="d1", seq=-1, name="the device"))  # another entity
    return items


async def _general(conn: Connection) -> list[Reading]:
    """The raw answer read the general way (no fast reader, no answer reader)."""
    meta = meta_of(Reading)
    answer = await conn.call("Query", {
        "TableName": conn.table_name(meta.table_name),
        "KeyConditionExpression": "device = :d", "FilterExpression": "#t = :e",
        "ExpressionAttributeNames": {"#t": "_type"},
        "ExpressionAttributeValues": {":d": {"S": "d1"}, ":e": {"S": "reading"}}})
    assert "LastEvaluatedKey" not in answer
    return [Reading.model_validate(meta.decode_item(item)) for item in answer["Items"]]


def _same(got: list[Reading], expected: list[Reading]) -> None:
    assert got == expected
    assert [r.model_fields_set for r in got] == [r.model_fields_set for r in expected]


@TABLES
async def test_whole_pages_read_as_parsed_equal_the_general_way(
        dynorm_connection: Connection) -> None:
    items = await _seed()
    expected = await _general(dynorm_connection)
    assert expected == items
    query = Reading.query(Reading.device == "d1").page_size(40)
    _same(await query.to_list(), expected)
    pages = [p async for p in query.pages()]
    _same([r for p in pages for r in p.items], expected)
    _same([r async for r in query], expected)
    scanned = await Reading.scan().segments(3).to_list()
    _same(sorted(scanned, key=lambda r: r.seq), expected)
    many = await Reading.get_many([("d1", i) for i in range(N)] + [("d1", -1)])
    assert many[-1] is None  # the other entity's item under that key
    _same([r for r in many[:-1] if r is not None], expected)
    fast = dynorm_connection.transport.__class__.__name__ == "FastTransport"
    assert all(type(p.items) is DecodedItems for p in pages) == fast


@TABLES
async def test_an_item_that_does_not_fit_is_raised_where_it_always_was(
        dynorm_connection: Connection) -> None:
    await _seed()
    table = dynorm_connection.table_name(meta_of(Reading).table_name)
    bad = Reading(device="d1", seq=70, value=1.0, at=T0).to_item()
    bad["value"] = {"S": "not a number"}
    await dynorm_connection.call("PutItem", {"TableName": table, "Item": bad})
    query = Reading.query(Reading.device == "d1").page_size(40)
    for read in (query.to_list(), Reading.scan().segments(2).to_list(),
                 Reading.get_many([("d1", i) for i in range(N)])):
        with pytest.raises(ValidationFailed, match="value"):
            await read
    seen: list[Any] = []
    with pytest.raises(ValidationFailed, match="value"):
        async for page in query.pages():
            seen.extend(page.items)
    # the pages before the one holding it, whole (the filter on the entity makes the
    # first page one short of its Limit: the other entity's item counts against it)
    assert [r.seq for r in seen] == list(range(len(seen))) and 0 < len(seen) < 70


class Left(Model, table="answer_pairs", entity="left"):
    pk: Annotated[str, PartitionKey]
    sk: Annotated[str, SortKey]
    note: str = ""


class Right(Model, table="answer_pairs", entity="right"):
    pk: Annotated[str, PartitionKey]
    sk: Annotated[str, SortKey]
    note: str = ""


@pytest.mark.dynorm_tables([Left])
async def test_a_task_started_during_a_read_never_has_its_answers_read_by_it(
        dynorm_connection: Connection) -> None:
    """A task started while a page is requested (here by a hook) copies the context the
    answer reader is set in: its own reads of that table must not be read by it -- as
    the other model, or emptied."""
    async with dynorm.batch() as b:
        for i in range(5):
            b.save(Left(pk="p", sk=f"l{i}", note="left"))
            b.save(Right(pk="p", sk=f"r{i}", note="right"))
    started: list[asyncio.Task[Any]] = []

    async def others() -> tuple[list[Right], list[dict[str, Any]]]:
        rights = [r async for r in Right.query(Right.pk == "p")]
        table = dynorm_connection.table_name("answer_pairs")
        answer = await dynorm_connection.call("BatchGetItem", {"RequestItems": {table: {
            "Keys": [{"pk": {"S": "p"}, "sk": {"S": f"l{i}"}} for i in range(5)]}}})
        return rights, answer["Responses"][table]

    armed = [True]

    def hook(event: Any) -> None:  # on the first request of each read of Left below
        if armed[0]:
            armed[0] = False
            started.append(asyncio.ensure_future(others()))

    dynorm_connection.on_request(hook)
    try:
        assert len(await Left.query(Left.pk == "p").to_list()) == 5
        rights, raw = await started.pop()
        assert [type(r) for r in rights] == [Right] * 5 and {r.note for r in rights} == {
            "right"}
        assert len(raw) == 5
        armed[0] = True
        assert len([x for x in await Left.get_many([("p", f"l{i}") for i in range(5)])
                    if x is not None]) == 5
        rights, raw = await started.pop()
        assert [type(r) for r in rights] == [Right] * 5 and len(raw) == 5
    finally:
        dynorm_connection.remove_hook(hook)


def _alive(cls: type[Model]) -> int:
    import gc

    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is cls)


@TABLES
async def test_a_reads_models_are_freed_once_the_caller_drops_them(
        dynorm_server: dynorm.LocalServer, dynorm_connection: Connection) -> None:
    """The answer reader lives in a context variable; a connection a read opens copies
    that context into its socket's callbacks for the connection's life. The reader (and
    the models it made) must not live on in it: each read below runs on a connection of
    its own, opened by the read. (It did, on servers that keep connections alive:
    DynamoDB Local, dynalite, AWS; moto's server here closes them.)"""
    await _seed()
    kind = type(dynorm_connection.transport).__name__
    before = _alive(Reading)
    reads = (lambda: Reading.get_many([("d1", i) for i in range(N)]),
             lambda: Reading.query(Reading.device == "d1").page_size(40).to_list(),
             lambda: Reading.scan().segments(3).to_list())
    for read in reads:
        transport = "fast" if kind == "FastTransport" else "aioboto3"
        async with dynorm_server.connect(transport=transport):
            got = await read()
            assert len([r for r in got if r is not None]) == N
            del got
            # (the handle that woke this task holds the last answer until it yields)
            await asyncio.sleep(0)
            assert _alive(Reading) == before, "a read's models outlived it"


class Seam(Model, table="answer_seams"):
    """Items whose JSON looks like the seams between items (`split_items`)."""

    pk: Annotated[str, PartitionKey]
    n: Annotated[int, SortKey]
    text: str = ""
    rows: list[dict[str, str]] = []
    doc: dict[str, Any] = {}
    blob: bytes | None = None


NASTY = ['},{"a":{"S":"x"}', '"},{"', "\\", '"', "}]", '],"Count":3', '{"S":', "é€😀",
         '"Items":[', "},", "\n", ""]


def _seam(i: int) -> Seam:
    text = NASTY[i % len(NASTY)] * (1 + i % 3)
    rows = [{"S": text}] if i % 4 == 1 else [{"a": text}, {"b": "2"}] if i % 4 == 2 else []
    return Seam(pk="p", n=i, text=text, rows=rows,
                doc={"S": {"L": [text]}, "x": [{"N": text}]} if i % 5 == 0 else {},
                blob=bytes([i % 256, 0]) if i in (7, 40) else None)


@pytest.mark.parametrize("split_bytes", [0, None], ids=["every answer split", "long ones"])
@pytest.mark.dynorm_tables([Seam])
async def test_items_that_look_like_seams_read_the_same_every_way(
        dynorm_connection: Connection, monkeypatch: pytest.MonkeyPatch,
        split_bytes: int | None) -> None:
    """Answers are split into one slice of JSON per item and parsed item by item where
    that can be trusted (`dynorm.read.answers.split_items`), whole otherwise (short
    answers, binary values, maps in lists named like type tags): every read gives exactly
    what parsing whole gives, in pages with and without such items."""
    if split_bytes is not None:
        monkeypatch.setattr(answers, "SPLIT_BYTES", split_bytes)
    items = [_seam(i) for i in range(60)]
    async with dynorm.batch() as b:
        for s in items:
            b.save(s)
    meta = meta_of(Seam)
    table = dynorm_connection.table_name(meta.table_name)
    expected: list[Seam] = []
    start: dict[str, Any] | None = None
    while True:  # the general way: raw pages of 7, parsed whole, decoded item by item
        request: dict[str, Any] = {
            "TableName": table, "KeyConditionExpression": "pk = :p", "Limit": 7,
            "ExpressionAttributeValues": {":p": {"S": "p"}}}
        if start:
            request["ExclusiveStartKey"] = start
        answer = await dynorm_connection.call("Query", request)
        expected += [Seam.model_validate(meta.decode_item(i)) for i in answer["Items"]]
        start = answer.get("LastEvaluatedKey")
        if not start:
            break
    assert expected == items
    for size in (7, 1000):
        query = Seam.query(Seam.pk == "p").page_size(size)
        _same_seams([s async for s in query], expected)
        _same_seams(await query.to_list(), expected)
        _same_seams([s async for p in query.pages() for s in p.items], expected)
        _same_seams(await query.limit(23).to_list(), expected[:23])
        _same_seams([s async for s in query.limit(23)], expected[:23])
        scanned = [s async for s in Seam.scan().page_size(size).segments(3)]
        _same_seams(sorted(scanned, key=lambda s: s.n), expected)
    many = await Seam.get_many([("p", i) for i in range(60)])
    _same_seams([s for s in many if s is not None], expected)


def _same_seams(got: list[Seam], expected: list[Seam]) -> None:
    assert got == expected
    assert [s.model_fields_set for s in got] == [s.model_fields_set for s in expected]
