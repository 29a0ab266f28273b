"""Lazy upgrades (dynorm.schema.upgrade): old items read as the current model, on every
read path; writes stamp the version; what cannot be upgraded is refused, never guessed."""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Annotated, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import Field

import dynorm
from dynorm import (
    GlobalIndex,
    MockTransport,
    Model,
    PartitionKey,
    SchemaError,
    UpgradeFailed,
    ValidationFailed,
    upgrade,
)
from dynorm._types import Request, Response
from dynorm.schema.classes import meta_of
from dynorm.schema.upgrade import SCHEMA_ATTRIBUTE, upgraded
from dynorm.streams.events import decode_record
from dynorm.tables import create_table_request

EXAMPLES = int(os.environ.get("DYNORM_UPGRADE_EXAMPLES", "60"))


class Person(Model, table="people", schema_version=3):
    """Version 1 stored ``name`` and ``points``; version 2 split the name; version 3
    renamed ``points`` to ``score``."""

    person_id: Annotated[str, PartitionKey]
    first: str
    last: str = ""
    score: Decimal = Decimal(0)
    nick: str | None = None

    by_last = GlobalIndex("last", projection="KEYS_ONLY")


@upgrade(Person, from_version=1)
def split_name(item: dict[str, Any]) -> dict[str, Any]:
    first, _, last = item.pop("name").partition(" ")
    return {**item, "first": first, "last": last}


@upgrade(Person, from_version=2)
def rename_points(item: dict[str, Any]) -> None:
    item["score"] = item.pop("points", 0)   # in place: None means "the item I was given"


def v1(person_id: str, name: str, points: str, **extra: Any) -> dict[str, Any]:
    return {"person_id": {"S": person_id}, "name": {"S": name}, "points": {"N": points},
            **extra}


# ---------------------------------------------------------------------------- property

TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
NUMBER = st.one_of(st.integers(-10**20, 10**20).map(str),
                   st.tuples(st.integers(-999, 999), st.integers(0, 10**6)).map(
                       lambda p: f"{p[0]}.{p[1]:07d}"))
SCALAR = st.one_of(
    TEXT.map(lambda s: {"S": s}), NUMBER.map(lambda n: {"N": n}),
    st.binary(max_size=8).map(lambda b: {"B": b}), st.booleans().map(lambda b: {"BOOL": b}),
    st.just({"NULL": True}),
    st.sets(TEXT, min_size=1, max_size=3).map(lambda s: {"SS": sorted(s)}),
    st.sets(st.integers(-99, 99), min_size=1, max_size=3).map(
        lambda s: {"NS": sorted(str(n) for n in s)}),
)
VALUE = st.recursive(SCALAR, lambda inner: st.one_of(
    st.lists(inner, max_size=3).map(lambda v: {"L": v}),
    st.dictionaries(TEXT.filter(bool), inner, max_size=3).map(lambda v: {"M": v})),
    max_leaves=6)
EXTRA = st.dictionaries(st.from_regex(r"x_[a-z]{1,5}", fullmatch=True), VALUE, max_size=3)


def _canonical(av: Any) -> Any:
    """Sets compare as sets (their order on the wire is the server's), numbers as numbers
    (DynamoDB stores 0.0000000 as 0: the text is its to choose)."""
    if isinstance(av, dict):
        return {k: (sorted(map(Decimal, v)) if k == "NS" else sorted(v) if k in ("SS", "BS")
                    else Decimal(v) if k == "N" else _canonical(v))
                for k, v in av.items()}
    if isinstance(av, list):
        return [_canonical(x) for x in av]
    return av


@settings(max_examples=EXAMPLES, deadline=None)
@given(person_id=TEXT.filter(bool), name=TEXT, points=NUMBER, extra=EXTRA,
       version=st.sampled_from([None, 1, 2]))
def test_an_old_item_reads_as_its_upgrade(person_id: str, name: str, points: str,
                                          extra: dict[str, Any], version: int | None) -> None:
    item = v1(person_id, name, points, **extra)
    if version is not None:
        item[SCHEMA_ATTRIBUTE] = {"N": str(version)}
    first, _, last = name.partition(" ")
    if version == 2:   # version 2 stored the split name
        del item["name"]
        item.update(first={"S": first}, last={"S": last})
    # The upgrade, written out by hand: what the read must give.
    expected = Person(person_id=person_id, first=first, last=last, score=Decimal(points))
    assert Person.from_item(item) == expected
    out = upgraded(Person, meta_of(Person), item)
    assert out[SCHEMA_ATTRIBUTE] == {"N": "3"}
    # Every attribute the upgrades did not touch comes back exactly as stored.
    for attr, av in extra.items():
        assert _canonical(out[attr]) == _canonical(av)
    assert Decimal(out["score"]["N"]) == Decimal(points)
    assert out["person_id"] == {"S": person_id}


def test_a_current_item_is_read_as_it_is() -> None:
    item = {"person_id": {"S": "p1"}, "first": {"S": "Ada"}, SCHEMA_ATTRIBUTE: {"N": "3"}}
    assert upgraded(Person, meta_of(Person), item) is item
    assert Person.from_item(item) == Person(person_id="p1", first="Ada")


# ---------------------------------------------------------------------------- refusals


def test_a_newer_item_is_refused_not_downgraded() -> None:
    item = {"person_id": {"S": "p1"}, "first": {"S": "Ada"}, SCHEMA_ATTRIBUTE: {"N": "4"}}
    with pytest.raises(UpgradeFailed) as caught:
        Person.from_item(item)
    error = caught.value
    assert (error.model, error.table, error.key) == ("Person", "people",
                                                       {"person_id": {"S": "p1"}})
    assert (error.stored_version, error.model_version) == (4, 3)
    assert "Person (person_id='p1') in table 'people': the item is at schema version 4, " \
           "newer than Person's schema_version=3" in str(error)
    assert isinstance(error, ValidationFailed)   # what every reader already handles


def test_a_failing_upgrade_names_model_key_function_and_versions() -> None:
    with pytest.raises(UpgradeFailed, match=r"Person \(person_id='p2'\) in table 'people': "
                       r"upgrade split_name from schema version 1 to 2 \(the item is at 1, "
                       r"Person at 3\) raised KeyError: 'name'") as caught:
        Person.from_item({"person_id": {"S": "p2"}, "points": {"N": "1"}})
    assert isinstance(caught.value.__cause__, KeyError)


def test_missing_upgrades_key_changes_and_odd_versions_are_refused() -> None:
    class Gap(Model, table="gaps", schema_version=3):
        gap_id: Annotated[str, PartitionKey]

    class Thing(Model, table="things", schema_version=2):
        thing_id: Annotated[str, PartitionKey]

    @upgrade(Thing, from_version=1)
    def move(item: dict[str, Any]) -> dict[str, Any]:
        return {**item, "thing_id": item["thing_id"] + "!"}

    with pytest.raises(UpgradeFailed, match=r"no upgrade from schema version 2 to 3: declare "
                       r"it with @dynorm.upgrade\(Gap, from_version=2\)"):
        Gap.from_item({"gap_id": {"S": "g"}, **_at(2)})
    with pytest.raises(UpgradeFailed, match="changed the key attribute 'thing_id'"):
        Thing.from_item({"thing_id": {"S": "t"}})
    with pytest.raises(UpgradeFailed, match="not a whole number"):
        Thing.from_item({"thing_id": {"S": "t"}, SCHEMA_ATTRIBUTE: {"S": "2"}})
    assert move({"thing_id": "t"}) == {"thing_id": "t!"}  # returned unchanged: callable


def _at(version: int) -> dict[str, Any]:
    return {SCHEMA_ATTRIBUTE: {"N": str(version)}}


def test_declarations_are_checked() -> None:
    class Plain(Model, table="plain"):
        plain_id: Annotated[str, PartitionKey]

    with pytest.raises(SchemaError, match="Plain declares no schema version"):
        upgrade(Plain, from_version=1)
    with pytest.raises(SchemaError, match="from_version must be a whole number from 1 to 2"):
        upgrade(Person, from_version=3)
    with pytest.raises(SchemaError, match="two upgrades from version 1: split_name and"):
        upgrade(Person, from_version=1)(lambda item: item)
    with pytest.raises(SchemaError, match="schema_version must be a whole number >= 1"):
        class Bad(Model, table="bad", schema_version=0):
            bad_id: Annotated[str, PartitionKey]
    with pytest.raises(SchemaError, match="'_schema' holds the schema version"):
        class Clash(Model, table="clash", schema_version=2):
            clash_id: Annotated[str, PartitionKey]
            stamp: int = Field(0, alias="_schema")


# ---------------------------------------------------------------------------- requests


def _server(items: dict[str, Any]) -> MockTransport:
    def answer(op: str, req: Request) -> Response:
        if op == "GetItem":
            return {"Item": items[req["Key"]["person_id"]["S"]]}
        if op in ("Query", "Scan"):
            return {"Items": list(items.values())}
        if op == "BatchGetItem":
            return {"Responses": {"people": list(items.values())}}
        if op == "TransactGetItems":
            return {"Responses": [{"Item": item} for item in items.values()]}
        return {}
    return MockTransport(answer)


async def test_every_read_path_upgrades_and_writes_stamp_the_version() -> None:
    old = v1("p1", "Ada Lovelace", "36")
    transport = _server({"p1": old})
    ada = Person(person_id="p1", first="Ada", last="Lovelace", score=Decimal(36))
    async with dynorm.connect(transport=transport):
        assert await Person.get("p1") == ada
        assert await Person.scan().to_list() == [ada]
        assert await Person.query(Person.person_id == "p1").to_list() == [ada]
        assert await dynorm.get_many(Person, ["p1"]) == [ada]
        assert await dynorm.batch_get((Person, "p1")) == (ada,)
        assert list(await dynorm.transact_get((Person, "p1"))) == [ada]
        with pytest.raises(UpgradeFailed, match="returned only part of it"):
            await Person.scan().project(Person.first).to_list()
        with pytest.raises(UpgradeFailed, match="returned only part of it"):
            await Person.by_last.query(Person.last == "Lovelace").to_list()
        await ada.save()
        await Person.update_item("p1", Person.nick.set("ada"), upsert=True)
        async with dynorm.batch() as batch:
            batch.save(ada)
        async with dynorm.transaction() as tx:
            tx.save(ada)
    sent = {op: req for op, req in transport.requests}
    # Every write path stamps the version, as save() does.
    batched = sent["BatchWriteItem"]["RequestItems"]["people"][0]["PutRequest"]["Item"]
    assert batched[SCHEMA_ATTRIBUTE] == {"N": "3"}
    assert sent["TransactWriteItems"]["TransactItems"][0]["Put"]["Item"] == \
        sent["PutItem"]["Item"]
    assert sent["Scan"]["ProjectionExpression"].count("#") == 3   # first, key, _schema
    assert SCHEMA_ATTRIBUTE in sent["Scan"]["ExpressionAttributeNames"].values()
    assert sent["PutItem"]["Item"] == {
        "person_id": {"S": "p1"}, "first": {"S": "Ada"}, "last": {"S": "Lovelace"},
        "score": {"N": "36"}, SCHEMA_ATTRIBUTE: {"N": "3"}}
    update = sent["UpdateItem"]
    # An upsert writes the version, and never into an item of another version.
    assert update["UpdateExpression"] == "SET #n0 = :v0, #n1 = :v1"
    assert update["ConditionExpression"] == "attribute_not_exists(#n2) OR #n1 = :v2"
    assert update["ExpressionAttributeNames"] == {"#n0": "nick", "#n1": "_schema",
                                                  "#n2": "person_id"}
    assert update["ExpressionAttributeValues"] == {":v0": {"S": "ada"}, ":v1": {"N": "3"},
                                                   ":v2": {"N": "3"}}


def test_a_stream_image_of_an_old_item_is_upgraded() -> None:
    record = {"eventName": "MODIFY", "dynamodb": {
        "SequenceNumber": "1", "Keys": {"person_id": {"S": "p1"}},
        "OldImage": v1("p1", "Ada", "1"),
        "NewImage": {"person_id": {"S": "p1"}, "first": {"S": "Ada"}, **_at(3)}}}
    event = decode_record(Person, record, table="people")
    assert event.old == Person(person_id="p1", first="Ada", score=Decimal(1))
    assert event.new == Person(person_id="p1", first="Ada")


def test_an_index_that_projects_part_of_the_items_projects_the_version() -> None:
    request = create_table_request(meta_of(Person), "people")
    assert request["GlobalSecondaryIndexes"][0]["Projection"] == {
        "ProjectionType": "INCLUDE", "NonKeyAttributes": [SCHEMA_ATTRIBUTE]}
