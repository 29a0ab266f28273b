"""Issue 15's data-integrity bugs, each as it was reported: partial copies, entity
isolation, reads and limits. Each test failed before the fix (the stored item was
overwritten with defaults, another entity's item was decoded or written into, ...)."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from pydantic import BaseModel

import dynorm
from dynorm import (
    ConditionFailed,
    Connection,
    GlobalIndex,
    InvalidCursor,
    InvalidKey,
    ItemNotFound,
    ItemTooLarge,
    KeyTemplate,
    Model,
    PartialCopy,
    PartitionKey,
    Projection,
    SortKey,
    Version,
    VersionConflict,
    attr,
)


class Address(BaseModel):
    city: str
    street: str = ""


class Doc(Model, table="integrity_docs"):
    owner: Annotated[str, PartitionKey]
    doc_id: Annotated[str, SortKey]
    status: str = "open"
    total: int = 0
    prefs: dict[str, int] = {}
    address: Address | None = None

    by_status = GlobalIndex("status", "doc_id", projection=Projection.keys_only())
    by_total = GlobalIndex("status", "total", projection=Projection.include("prefs"),
                           name="by_total")


class Ledger(Model, table="integrity_ledgers"):
    account: Annotated[str, PartitionKey]
    balance: int = 0
    note: str = ""
    version: Annotated[int, Version] = 0

    by_note = GlobalIndex("note", projection=Projection.keys_only())


async def raw(conn: Connection, table: str, key: dict[str, Any]) -> dict[str, Any]:
    return (await conn.call("GetItem", {"TableName": table, "Key": key,
                                        "ConsistentRead": True})).get("Item", {})


DOC_KEY = {"owner": {"S": "ada"}, "doc_id": {"S": "d1"}}


async def seed_doc() -> Doc:
    doc = Doc(owner="ada", doc_id="d1", status="shipped", total=7, prefs={"a": 1, "b": 2},
              address=Address(city="Paris", street="Rue"))
    return await doc.save()


# ---------------------------------------------------------------- partial copies


@pytest.mark.dynorm_tables([Doc])
async def test_keys_only_index_read_is_a_partial_copy(dynorm_connection: Connection) -> None:
    await seed_doc()
    before = await raw(dynorm_connection, "integrity_docs", DOC_KEY)
    [copy] = await Doc.by_status.query(attr(Doc.status) == "shipped").to_list()
    assert copy.status == "shipped" and copy.doc_id == "d1"
    with pytest.raises(AttributeError):
        _ = copy.total  # not read: absent, never the default 0
    with pytest.raises(PartialCopy, match=r"Doc is a partial copy.*total") as info:
        await copy.save()
    assert "total" in info.value.fields and info.value.model == "Doc"
    assert await raw(dynorm_connection, "integrity_docs", DOC_KEY) == before


@pytest.mark.dynorm_tables([Doc])
async def test_include_index_read_holds_what_the_index_projects(
        dynorm_connection: Connection) -> None:
    await seed_doc()
    await Doc(owner="bob", doc_id="d2", status="shipped", total=3).save()  # no prefs stored
    copies = await Doc.by_total.query(attr(Doc.status) == "shipped").to_list()
    assert [(c.doc_id, c.total, c.prefs) for c in copies] == [("d2", 3, {}),
                                                            ("d1", 7, {"a": 1, "b": 2})]
    with pytest.raises(AttributeError):
        _ = copies[0].address
    with pytest.raises(PartialCopy, match="address"):
        await copies[0].save()


@pytest.mark.dynorm_tables([Doc])
async def test_nested_projection_cannot_be_saved_or_moved(dynorm_connection: Connection) -> None:
    await seed_doc()
    before = await raw(dynorm_connection, "integrity_docs", DOC_KEY)
    [copy] = await Doc.query(attr(Doc.owner) == "ada").project(
        Doc.prefs["a"], Doc.address.city, Doc.status, Doc.total).to_list()
    assert copy.prefs == {"a": 1} and copy.address.city == "Paris"
    with pytest.raises(AttributeError):
        _ = copy.address.street  # not read: absent, never the default "" (stored: "Rue")
    with pytest.raises(PartialCopy, match=r"address, prefs") as info:
        await copy.save()
    assert info.value.fields == ["address", "prefs"]
    with pytest.raises(PartialCopy):
        await copy.move(doc_id="d9")
    assert await raw(dynorm_connection, "integrity_docs", DOC_KEY) == before
    assert await Doc.find_one("ada", "d9") is None
    # update() touches only what it names, and leaves a complete copy behind
    await copy.update(attr(Doc.total).add(1))
    assert copy.prefs == {"a": 1, "b": 2} and copy.address == Address(city="Paris", street="Rue")
    await copy.save()  # complete now
    assert (await Doc.get("ada", "d1", consistent=True)).total == 8


@pytest.mark.dynorm_tables([Ledger])
async def test_projection_of_a_versioned_model_keeps_the_version_check(
        dynorm_connection: Connection) -> None:
    await Ledger(account="a1", balance=10, note="n").save()
    [copy] = await Ledger.scan().project(Ledger.balance).to_list()
    assert copy.version == 1  # fetched although not asked for
    await (await Ledger.get("a1", consistent=True)).update(attr(Ledger.balance).add(5))
    with pytest.raises(VersionConflict):
        await copy.update(attr(Ledger.balance).add(1))
    with pytest.raises(VersionConflict):
        await copy.delete()
    assert (await Ledger.get("a1", consistent=True)).balance == 15


@pytest.mark.dynorm_tables([Ledger])
async def test_index_copy_without_the_version_refuses_unchecked_writes(
        dynorm_connection: Connection) -> None:
    await Ledger(account="a1", balance=10, note="n").save()
    [copy] = await Ledger.by_note.query(attr(Ledger.note) == "n").to_list()
    for write in (copy.update(attr(Ledger.balance).add(1)), copy.delete()):
        with pytest.raises(PartialCopy, match="without its version 'version'"):
            await write
    assert (await Ledger.get("a1", consistent=True)).balance == 10
    # the escape: the whole items behind the index page
    [whole] = await Ledger.by_note.query(attr(Ledger.note) == "n").full().to_list()
    assert whole == await Ledger.get("a1", consistent=True)
    await whole.update(attr(Ledger.balance).add(1))
    assert (await Ledger.get("a1", consistent=True)).balance == 11


@pytest.mark.dynorm_tables([Doc])
async def test_full_pages_skip_items_deleted_meanwhile(dynorm_connection: Connection) -> None:
    for i in range(5):
        await Doc(owner="ada", doc_id=f"d{i}", status="open", total=i).save()
    pages = [p async for p in Doc.by_status.query(attr(Doc.status) == "open").full()
             .page_size(2).pages()]
    assert [[d.total for d in p.items] for p in pages if p.items] == [[0, 1], [2, 3], [4]]
    with pytest.raises(dynorm.ExpressionError, match="returns whole items already"):
        Doc.query(attr(Doc.owner) == "ada").full()


# ---------------------------------------------------------------- entity isolation


class Person(Model, table="integrity_shared", entity="person"):
    pid: str
    name: str = ""
    team: str | None = None

    pk = PartitionKey("ID#{pid}")
    sk = SortKey("ROW")

    by_team = GlobalIndex(KeyTemplate("TEAM#{team}", attribute="gsi1pk"),
                          KeyTemplate("P#{pid}", attribute="gsi1sk"), name="gsi1")


class Pet(Model, table="integrity_shared", entity="pet"):
    pid: str
    species: str = "cat"

    pk = PartitionKey("ID#{pid}")
    sk = SortKey("ROW")


SHARED_KEY = {"pk": {"S": "ID#x"}, "sk": {"S": "ROW"}}


@pytest.mark.dynorm_tables([Person, Pet])
async def test_batch_and_transactional_reads_see_only_their_entity(
        dynorm_connection: Connection) -> None:
    await Pet(pid="x", species="dog").save()
    assert await Person.get_many([{"pid": "x"}]) == [None]
    assert await dynorm.batch_get((Person, {"pid": "x"}), (Pet, {"pid": "x"})) == (
        None, Pet(pid="x", species="dog"))
    assert await dynorm.transact_get((Person, {"pid": "x"})) == (None,)
    assert await Person.find_one(pid="x") is None


@pytest.mark.dynorm_tables([Person, Pet])
async def test_update_item_never_writes_into_another_entity(
        dynorm_connection: Connection) -> None:
    await Pet(pid="x", species="dog").save()
    before = await raw(dynorm_connection, "integrity_shared", SHARED_KEY)
    with pytest.raises(ItemNotFound, match="Person"):
        await Person.update_item({"pid": "x"}, attr(Person.name).set("Eve"))
    with pytest.raises(ConditionFailed, match="is not a Person"):
        await Person.update_item({"pid": "x"}, attr(Person.name).set("Eve"), upsert=True)
    assert await raw(dynorm_connection, "integrity_shared", SHARED_KEY) == before


@pytest.mark.dynorm_tables([Person, Pet])
async def test_upsert_writes_what_save_writes(dynorm_connection: Connection) -> None:
    created = await Person.update_item({"pid": "y"}, attr(Person.team).set("red"), upsert=True)
    assert created == Person(pid="y", team="red")
    saved = await Person(pid="z", team="red").save()
    item = await raw(dynorm_connection, "integrity_shared", {"pk": {"S": "ID#y"},
                                                              "sk": {"S": "ROW"}})
    twin = await raw(dynorm_connection, "integrity_shared", {"pk": {"S": "ID#z"},
                                                              "sk": {"S": "ROW"}})
    assert set(item) == set(twin) - {"name"}  # the same marker and index keys
    assert item["_type"] == {"S": "person"} and item["gsi1pk"] == {"S": "TEAM#red"}
    assert await Person.get(pid="y") == created
    team = await Person.by_team.query(attr(Person.team) == "red").to_list()
    assert [p.pid for p in team] == ["y", "z"] and team[1] == saved


# ---------------------------------------------------------------- reads


@pytest.mark.dynorm_tables([Doc])
async def test_pages_stop_at_the_limit(dynorm_connection: Connection) -> None:
    for i in range(7):
        await Doc(owner="ada", doc_id=f"d{i}").save()
    query = Doc.query(attr(Doc.owner) == "ada").filter(attr(Doc.total) >= 0)  # reads 3 a page
    pages = [p async for p in query.page_size(3).limit(5).pages()]
    assert [[d.doc_id for d in p.items] for p in pages] == [["d0", "d1", "d2"], ["d3", "d4"]]
    rest = await Doc.query(attr(Doc.owner) == "ada").page(size=10, cursor=pages[-1].cursor)
    assert [d.doc_id for d in rest.items] == ["d5", "d6"]


async def test_cursor_is_bound_to_the_physical_table(dynorm_server: dynorm.LocalServer) -> None:
    dynorm_server.reset()
    for prefix in ("staging-", "prod-"):
        async with dynorm_server.connect(table_prefix=prefix, cursor_secret="shared"):
            await Doc.create_table()
            for i in range(3):
                await Doc(owner="ada", doc_id=f"d{i}").save()
    async with dynorm_server.connect(table_prefix="staging-", cursor_secret="shared"):
        page = await Doc.query(attr(Doc.owner) == "ada").page(size=1)
        assert page.cursor is not None
    async with dynorm_server.connect(table_prefix="prod-", cursor_secret="shared"):
        with pytest.raises(InvalidCursor):
            await Doc.query(attr(Doc.owner) == "ada").page(size=1, cursor=page.cursor)


# ---------------------------------------------------------------- limits


@pytest.mark.dynorm_tables([Doc])
async def test_key_values_over_dynamodbs_limits_are_refused_before_sending(
        dynorm_connection: Connection) -> None:
    with pytest.raises(InvalidKey, match=r"Doc.owner: the partition key value is 2049 bytes"):
        await Doc(owner="x" * 2049, doc_id="d").save()
    with pytest.raises(InvalidKey, match=r"Doc.doc_id: the sort key value is 1026 bytes"):
        await Doc(owner="ada", doc_id="é" * 513).save()
    with pytest.raises(InvalidKey, match="partition key value is 2049 bytes"):
        await Doc.get("x" * 2049, "d")  # not "not found": the key cannot exist
    with pytest.raises(InvalidKey, match=r"Doc.status: the partition key value of index "
                                         r"by_status is 2052 bytes"):
        await Doc(owner="ada", doc_id="d", status="€" * 684).save()
    await Doc(owner="x" * 2048, doc_id="d" * 1024).save()  # at the limit: fine


@pytest.mark.dynorm_tables([Doc])
async def test_update_past_400_kb_is_item_too_large(dynorm_connection: Connection) -> None:
    doc = await Doc(owner="ada", doc_id="d1", address=Address(city="P", street="s" * 300_000)
                    ).save()
    with pytest.raises(ItemTooLarge, match=r"values of this update are .* bytes"):
        await doc.update(attr(Doc.prefs).set({f"k{i}": i for i in range(40_000)}))
    with pytest.raises(ItemTooLarge, match="would make the item larger than"):
        await doc.update(attr(Doc.prefs).set({f"key{i:05d}": i for i in range(12_000)}))
    assert (await Doc.get("ada", "d1", consistent=True)).prefs == {}


class Member(Model, table="integrity_members", entity="member"):
    mid: str
    team: str | None = None
    pk = PartitionKey("M#{mid}")
    sk = SortKey("ROW")
    by_team = GlobalIndex(KeyTemplate("TEAM#{team}", attribute="gsi1pk"),
                          projection=Projection.keys_only(), name="gsi1")


def test_an_entity_index_projects_the_entity_attribute() -> None:
    """Found by the state machine on DynamoDB Local: an entity's query filters on the
    entity attribute, which DynamoDB refuses on an index that does not project it."""
    from dynorm.tables import create_table_request

    [index] = create_table_request(Member._meta(), "t")["GlobalSecondaryIndexes"]
    assert index["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["_type"]}


@pytest.mark.dynorm_tables([Member])
async def test_entity_query_of_a_keys_only_index(dynorm_connection: Connection) -> None:
    await Member(mid="a", team="red").save()
    await Member(mid="b", team="blue").save()
    [red] = await Member.by_team.query(attr(Member.team) == "red").to_list()
    assert red.mid == "a"
    [whole] = await Member.by_team.query(attr(Member.team) == "red").full().to_list()
    assert whole == Member(mid="a", team="red")


def test_a_filter_on_what_the_index_does_not_hold_is_refused_when_built() -> None:
    with pytest.raises(dynorm.ExpressionError, match=r"Doc.by_status projects KEYS_ONLY and "
                                                      r"does not hold Doc.total"):
        Doc.by_status.query(attr(Doc.status) == "open").filter(attr(Doc.total) > 1)
    Doc.by_total.query(attr(Doc.status) == "open").filter(attr(Doc.prefs).exists())  # held
