"""CRUD against the real moto server over HTTP on 127.0.0.1."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

import pytest
from pydantic import BaseModel, Field

import dynorm
from dynorm import (
    TTL,
    ConditionFailed,
    Connection,
    GlobalIndex,
    InvalidKey,
    ItemNotFound,
    ItemTooLarge,
    LocalIndex,
    Model,
    PartitionKey,
    SortKey,
    ValidationFailed,
    Version,
    VersionConflict,
)

UTC = timezone.utc


class Tier(str, Enum):
    FREE = "free"
    PRO = "pro"


class Address(BaseModel):
    city: str
    zip_code: str = Field(alias="zip")
    lines: list[str] = []


class Profile(Model, table="profiles"):
    user_id: Annotated[str, PartitionKey]
    name: str
    age: int = 0
    balance: Decimal = Decimal("0")
    ratio: float = 0.0
    active: bool = True
    avatar: bytes = b""
    tags: set[str] = set()
    lucky: frozenset[int] = frozenset()
    history: list[int | str] = []
    prefs: dict[str, Any] = {}
    address: Address | None = None
    tier: Tier = Tier.FREE
    kind: Literal["person", "bot"] = "person"
    uid: UUID = Field(default_factory=uuid4)
    born: date | None = None
    joined: datetime = Field(default_factory=lambda: datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    nickname: str | None = None
    expires: Annotated[datetime | None, TTL] = None


class Score(Model, table="scores"):
    user_id: Annotated[str, PartitionKey]
    game: Annotated[str, SortKey]
    score: int = 0
    version: Annotated[int, Version] = 0
    by_game = GlobalIndex("game", "score")
    by_score = LocalIndex("score", projection="KEYS_ONLY")


def full_profile() -> Profile:
    return Profile(
        user_id="u1",
        name="Ada",
        age=36,
        balance=Decimal("12345678901234567890.123456789012345678"),
        ratio=0.1,
        active=False,
        avatar=b"\x00\xffpng",
        tags={"a", "b"},
        lucky=frozenset({7, 13}),
        history=[1, "two", 3],
        prefs={"theme": "dark", "n": 3, "nested": {"x": [1, None, True]}},
        address=Address(city="Paris", zip="75001", lines=["1 rue"]),
        tier=Tier.PRO,
        kind="bot",
        born=date(1990, 12, 10),
        joined=datetime(2026, 11, 25, 10, 0, tzinfo=timezone(timedelta(hours=2))),
        expires=datetime(2030, 1, 1, tzinfo=UTC),
    )


@pytest.mark.dynorm_tables([Profile])
async def test_save_get_round_trip_every_type(dynorm_connection: Connection) -> None:
    original = full_profile()
    await original.save()
    loaded = await Profile.get("u1", consistent=True)
    assert loaded == original
    assert loaded.balance == Decimal("12345678901234567890.123456789012345678")
    assert loaded.joined.utcoffset() == timedelta(0)  # stored and read back as UTC

    raw = await dynorm_connection.call(
        "GetItem", {"TableName": "profiles", "Key": {"user_id": {"S": "u1"}}}
    )
    item = raw["Item"]
    assert item["joined"] == {"S": "2026-11-25T08:00:00.000000Z"}
    assert item["expires"] == {"N": str(int(datetime(2030, 1, 1, tzinfo=UTC).timestamp()))}
    assert item["tier"] == {"S": "pro"}
    assert item["address"]["M"]["zip"] == {"S": "75001"}
    assert set(item["lucky"]["NS"]) == {"7", "13"}
    assert "nickname" not in item  # None omitted


@pytest.mark.dynorm_tables([Profile])
async def test_empty_sets_and_none_are_omitted(dynorm_connection: Connection) -> None:
    await Profile(user_id="u2", name="Bob").save()
    raw = await dynorm_connection.call(
        "GetItem", {"TableName": "profiles", "Key": {"user_id": {"S": "u2"}}}
    )
    assert "tags" not in raw["Item"] and "born" not in raw["Item"]
    loaded = await Profile.get("u2")
    assert loaded.tags == set() and loaded.born is None


@pytest.mark.dynorm_tables([Profile])
async def test_get_missing_raises_and_find_one_returns_none(
    dynorm_connection: Connection,
) -> None:
    with pytest.raises(ItemNotFound, match=r"Profile \(user_id='nobody'\) not found"):
        await Profile.get("nobody")
    assert await Profile.find_one("nobody") is None


@pytest.mark.dynorm_tables([Profile])
async def test_delete_and_refresh(dynorm_connection: Connection) -> None:
    p = await Profile(user_id="u3", name="Cy").save()
    other = await Profile.get("u3")
    other.age = 41
    await other.save()
    assert p.age == 0
    await p.refresh()
    assert p.age == 41
    await p.delete()
    assert await Profile.find_one("u3") is None
    with pytest.raises(ItemNotFound):
        await p.refresh()


@pytest.mark.dynorm_tables([Profile])
async def test_conditional_save_carries_current_item(dynorm_connection: Connection) -> None:
    await Profile(user_id="u4", name="Dee", age=20).save()
    with pytest.raises(ConditionFailed) as info:
        await Profile(user_id="u4", name="Dee2").save(condition=Profile.user_id.not_exists())
    assert isinstance(info.value.item, Profile)
    assert info.value.item.name == "Dee"
    assert "Profile (user_id='u4')" in str(info.value)
    assert (await Profile.get("u4")).name == "Dee"  # nothing written


@pytest.mark.dynorm_tables([Profile])
async def test_conditional_delete(dynorm_connection: Connection) -> None:
    p = await Profile(user_id="u5", name="Eve", age=20).save()
    with pytest.raises(ConditionFailed):
        await p.delete(condition=Profile.age > 30)
    assert await Profile.find_one("u5") is not None
    await p.delete(condition=Profile.age == 20)
    assert await Profile.find_one("u5") is None


@pytest.mark.dynorm_tables([Score])
async def test_version_increments_and_guards(dynorm_connection: Connection) -> None:
    s = Score(user_id="u1", game="chess")
    await s.save()
    assert s.version == 1
    copy = await Score.get("u1", "chess")
    copy.score = 5
    await copy.save()
    assert copy.version == 2
    s.score = 99
    with pytest.raises(VersionConflict) as info:
        await s.save()
    assert (info.value.expected, info.value.actual) == (1, 2)
    assert (await Score.get("u1", "chess")).score == 5
    with pytest.raises(VersionConflict):
        await s.delete()
    await copy.delete()
    assert await Score.find_one("u1", "chess") is None


@pytest.mark.dynorm_tables([Score])
async def test_new_item_with_version_zero_cannot_overwrite(dynorm_connection: Connection) -> None:
    await Score(user_id="u1", game="go").save()
    with pytest.raises(VersionConflict) as info:
        await Score(user_id="u1", game="go", score=3).save()
    assert info.value.actual == 1


@pytest.mark.dynorm_tables([Score])
async def test_table_with_indexes_created_from_declaration(dynorm_connection: Connection) -> None:
    desc = (await dynorm_connection.call("DescribeTable", {"TableName": "scores"}))["Table"]
    assert {k["AttributeName"]: k["KeyType"] for k in desc["KeySchema"]} == {
        "user_id": "HASH", "game": "RANGE",
    }
    assert [g["IndexName"] for g in desc["GlobalSecondaryIndexes"]] == ["by_game"]
    assert desc["LocalSecondaryIndexes"][0]["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert desc["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    await Score.create_table()  # exists_ok by default: idempotent
    with pytest.raises(dynorm.ResourceInUse):
        await Score.create_table(exists_ok=False)


@pytest.mark.dynorm_tables([Profile])
async def test_ttl_enabled_on_create(dynorm_connection: Connection) -> None:
    ttl = await dynorm_connection.call("DescribeTimeToLive", {"TableName": "profiles"})
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires"
    await Profile.create_table()  # a second create leaves TTL alone, no error


async def test_create_provisioned_with_stream_and_delete(dynorm_connection: Connection) -> None:
    await Score.create_table(billing_mode="PROVISIONED", read_capacity=3, write_capacity=2,
                             stream="NEW_AND_OLD_IMAGES")
    desc = (await dynorm_connection.call("DescribeTable", {"TableName": "scores"}))["Table"]
    assert desc["ProvisionedThroughput"]["ReadCapacityUnits"] == 3
    assert desc["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert desc["LatestStreamArn"]
    await Score.delete_table()
    with pytest.raises(dynorm.TableNotFound):
        await dynorm_connection.call("DescribeTable", {"TableName": "scores"})
    await Score.delete_table()  # missing_ok by default
    with pytest.raises(dynorm.TableNotFound):
        await Score.delete_table(missing_ok=False)


async def test_create_tables_and_prefix(dynorm_server: Any) -> None:
    async with dynorm_server.connect(table_prefix="test-") as conn:
        await dynorm.create_tables(Profile, Score)
        names = (await conn.call("ListTables", {}))["TableNames"]
        assert {"test-profiles", "test-scores"} <= set(names)
        await Profile(user_id="p", name="P").save()
        assert (await Profile.get("p")).name == "P"
        assert Profile.table_name() == "test-profiles"


@pytest.mark.dynorm_tables([Profile])
async def test_item_too_large_rejected_before_sending(dynorm_connection: Connection) -> None:
    big = Profile(user_id="big", name="x" * (400 * 1024))
    with pytest.raises(ItemTooLarge, match=r"Profile: item is \d+ bytes, over DynamoDB's limit"):
        await big.save()
    assert await Profile.find_one("big") is None


@pytest.mark.dynorm_tables([Profile])
async def test_empty_key_rejected(dynorm_connection: Connection) -> None:
    with pytest.raises(InvalidKey, match=r"Profile\.user_id: key attributes cannot be empty"):
        await Profile(user_id="", name="x").save()
    with pytest.raises(InvalidKey, match=r"Profile\.user_id"):
        await Profile.get("")


@pytest.mark.dynorm_tables([Score])
async def test_key_of_wrong_type_and_missing_sort(dynorm_connection: Connection) -> None:
    with pytest.raises(InvalidKey, match=r"Score\.game: invalid key value: expected str"):
        await Score.get("u1", 5)
    with pytest.raises(InvalidKey, match=r"Score: sort key 'game' is required"):
        await Score.get("u1")


@pytest.mark.dynorm_tables([Profile])
async def test_item_not_fitting_model_names_table_key_field(
    dynorm_connection: Connection,
) -> None:
    await dynorm_connection.call(
        "PutItem",
        {"TableName": "profiles",
         "Item": {"user_id": {"S": "bad"}, "name": {"S": "x"}, "age": {"S": "old"}}},
    )
    with pytest.raises(ValidationFailed) as info:
        await Profile.get("bad")
    err = info.value
    assert (err.model, err.table, err.key, err.fields) == (
        "Profile", "profiles", {"user_id": {"S": "bad"}}, ["age"],
    )
    assert "table 'profiles' with key (user_id='bad') does not fit Profile" in str(err)


async def test_missing_table_is_table_not_found(dynorm_connection: Connection) -> None:
    with pytest.raises(dynorm.TableNotFound) as info:
        await Profile.get("x")
    assert info.value.code == "ResourceNotFoundException"
    assert info.value.operation == "GetItem"


async def test_no_connection_raises_with_hint() -> None:
    with pytest.raises(dynorm.ConnectionNotConfigured, match=r"dynorm\.connect"):
        await Profile.get("x")


async def test_configure_and_close(dynorm_server: Any) -> None:
    dynorm_server.reset()
    conn = await dynorm.configure(endpoint_url=dynorm_server.endpoint_url, region="us-east-1",
                                  aws_access_key_id="k", aws_secret_access_key="s")
    try:
        assert dynorm.get_connection() is conn
        await Profile.create_table()
        await Profile(user_id="c", name="C").save()
        assert (await Profile.get("c")).name == "C"
    finally:
        await dynorm.close()
    with pytest.raises(dynorm.ConnectionNotConfigured):
        dynorm.get_connection()


async def test_local_backend_starts_and_stops() -> None:
    async with dynorm.local() as conn:
        assert conn.endpoint_url and conn.endpoint_url.startswith("http://127.0.0.1:")
        await Profile.create_table()
        await Profile(user_id="l", name="L").save()
        assert (await Profile.get("l")).name == "L"
    with pytest.raises(dynorm.ConnectionNotConfigured):
        dynorm.get_connection()


async def test_unreachable_server_is_transport_error() -> None:
    async with dynorm.connect(endpoint_url="http://127.0.0.1:9", region="us-east-1",
                              aws_access_key_id="k", aws_secret_access_key="s",
                              retry=dynorm.RetryPolicy(max_attempts=2, base_delay=0.01)):
        with pytest.raises(dynorm.TransportError, match=r"GetItem: no answer .* after 2 attempt"):
            await Profile.get("x")


def test_connection_repr_hides_credentials() -> None:
    conn = dynorm.connect(aws_access_key_id="AKIASECRET", aws_secret_access_key="topsecret",
                          region="eu-west-1")
    assert "SECRET" not in repr(conn) and "topsecret" not in repr(conn)


async def test_configure_does_not_close_an_enclosing_connect_block(dynorm_server: Any) -> None:
    dynorm_server.reset()
    async with dynorm_server.connect() as block:
        first = await dynorm.configure(endpoint_url=dynorm_server.endpoint_url,
                                       region="us-east-1")
        second = await dynorm.configure(endpoint_url=dynorm_server.endpoint_url,
                                        region="us-east-1")
        assert block.is_open  # configure() replaced only the connection it made before
        assert not first.is_open and second.is_open
        assert dynorm.get_connection() is block  # this task's block wins over the default
    assert dynorm.get_connection() is second  # outside any block: the default
    await dynorm.close()
    assert not second.is_open
