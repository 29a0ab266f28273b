"""Every model-declaration mistake fails at class creation, naming class and field."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any
from uuid import UUID

import pytest
from pydantic import BaseModel, Field

from dynorm import (
    TTL,
    GlobalIndex,
    LocalIndex,
    Model,
    PartitionKey,
    Path,
    Projection,
    SchemaError,
    SortKey,
    Version,
)


def declare(body: dict[str, Any], annotations: dict[str, Any], table: str | None = "tbl") -> type:
    namespace = {"__annotations__": annotations, **body}
    kwargs = {"table": table} if table is not None else {}
    return type("Broken", (Model,), namespace, **kwargs)


def test_no_partition_key() -> None:
    with pytest.raises(SchemaError, match=r"Broken: table 'tbl' needs a partition key"):
        declare({}, {"name": str})


def test_two_partition_keys() -> None:
    with pytest.raises(SchemaError, match=r"Broken: more than one PartitionKey field: a, b"):
        declare({}, {"a": Annotated[str, PartitionKey], "b": Annotated[str, PartitionKey]})


def test_two_sort_keys() -> None:
    with pytest.raises(SchemaError, match=r"more than one SortKey field: b, c"):
        declare(
            {},
            {
                "a": Annotated[str, PartitionKey],
                "b": Annotated[str, SortKey],
                "c": Annotated[int, SortKey],
            },
        )


@pytest.mark.parametrize("bad", [float, bool, list[str], dict[str, int], set[str], Any])
def test_key_of_a_type_keys_cannot_hold(bad: Any) -> None:
    with pytest.raises(SchemaError, match=r"Broken\.a: the partition key must be a string, number"):
        declare({}, {"a": Annotated[bad, PartitionKey]})


def test_optional_key() -> None:
    with pytest.raises(SchemaError, match=r"Broken\.a: the partition key cannot be optional"):
        declare({}, {"a": Annotated[str | None, PartitionKey]})


@pytest.mark.parametrize("good", [str, int, Decimal, bytes, datetime, date, UUID])
def test_key_types_that_work(good: Any) -> None:
    cls = declare({}, {"a": Annotated[good, PartitionKey]})
    assert cls.__dynorm_meta__.partition.type in ("S", "N", "B")


def test_enum_key_is_stored_as_its_value_type() -> None:
    class Color(Enum):
        RED = "red"

    cls = declare({}, {"a": Annotated[Color, PartitionKey]})
    assert cls.__dynorm_meta__.partition.type == "S"


def test_same_field_partition_and_sort() -> None:
    with pytest.raises(SchemaError, match=r"more than one|both partition"):
        declare({}, {"a": Annotated[str, PartitionKey, SortKey]})


def test_index_naming_a_missing_field() -> None:
    with pytest.raises(SchemaError, match=r"Broken\.by_x \(GlobalIndex\): no field named 'x'"):
        declare({"by_x": GlobalIndex("x")}, {"a": Annotated[str, PartitionKey]})


def test_index_sort_key_missing_field() -> None:
    with pytest.raises(SchemaError, match=r"no field named 'nope'"):
        declare(
            {"by_b": GlobalIndex("b", "nope")}, {"a": Annotated[str, PartitionKey], "b": str}
        )


def test_index_include_missing_field() -> None:
    with pytest.raises(SchemaError, match=r"no field named 'ghost'"):
        declare(
            {"by_b": GlobalIndex("b", projection=Projection.include("ghost"))},
            {"a": Annotated[str, PartitionKey], "b": str},
        )


def test_index_key_of_bad_type() -> None:
    with pytest.raises(SchemaError, match=r"Broken\.tags: the index partition key must be"):
        declare(
            {"by_tags": GlobalIndex("tags")},
            {"a": Annotated[str, PartitionKey], "tags": list[str]},
        )


def test_local_index_needs_table_sort_key() -> None:
    with pytest.raises(SchemaError, match=r"a local index needs a table with a sort key"):
        declare({"by_b": LocalIndex("b")}, {"a": Annotated[str, PartitionKey], "b": str})


def test_duplicate_index_names() -> None:
    with pytest.raises(SchemaError, match=r"two indexes are named 'same'"):
        declare(
            {"i1": GlobalIndex("b", name="same"), "i2": GlobalIndex("c", name="same")},
            {"a": Annotated[str, PartitionKey], "b": str, "c": str},
        )


@pytest.mark.parametrize("bad", [str, float, date, list[int]])
def test_ttl_on_wrong_type(bad: Any) -> None:
    with pytest.raises(SchemaError, match=r"Broken\.exp: TTL must be a datetime or int"):
        declare({}, {"a": Annotated[str, PartitionKey], "exp": Annotated[bad, TTL]})


def test_ttl_optional_datetime_is_fine() -> None:
    cls = declare(
        {"exp": None}, {"a": Annotated[str, PartitionKey], "exp": Annotated[datetime | None, TTL]}
    )
    assert cls.__dynorm_meta__.ttl.attr == "exp"


def test_two_ttls() -> None:
    with pytest.raises(SchemaError, match="more than one TTL field"):
        declare(
            {},
            {
                "a": Annotated[str, PartitionKey],
                "x": Annotated[int, TTL],
                "y": Annotated[int, TTL],
            },
        )


def test_version_must_be_int() -> None:
    with pytest.raises(SchemaError, match=r"Broken\.v: Version must be an int field"):
        declare({}, {"a": Annotated[str, PartitionKey], "v": Annotated[str, Version]})


def test_version_on_key() -> None:
    with pytest.raises(SchemaError, match=r"Broken\.a: a key attribute cannot also be the Version"):
        declare({}, {"a": Annotated[int, PartitionKey, Version]})


def test_field_name_hiding_a_method() -> None:
    with pytest.raises(SchemaError, match=r"field name\(s\) save would hide dynorm's Model"), \
            pytest.warns(UserWarning, match="shadows"):
        declare({}, {"a": Annotated[str, PartitionKey], "save": int})


def test_two_fields_one_attribute_name() -> None:
    with pytest.raises(SchemaError, match=r"fields 'b' and 'c' both use attribute name 'b'"):
        declare(
            {"c": Field(alias="b")},
            {"a": Annotated[str, PartitionKey], "b": int, "c": int},
        )


def test_unstorable_type() -> None:
    with pytest.raises(SchemaError, match=r"Broken\.s: set\[float | list\]|Broken.s"):
        declare({}, {"a": Annotated[str, PartitionKey], "s": set[tuple[int, int]]})


def test_empty_table_name() -> None:
    with pytest.raises(SchemaError, match="table name must be a non-empty string"):
        declare({}, {"a": Annotated[str, PartitionKey]}, table="")


def test_field_name_hiding_a_method_names_it() -> None:
    with pytest.raises(SchemaError, match=r"query"), pytest.warns(UserWarning):
        declare({}, {"a": Annotated[str, PartitionKey], "query": int})


def test_model_without_table_has_no_io() -> None:
    class Base(Model):
        a: Annotated[str, PartitionKey]

    with pytest.raises(SchemaError, match="Base has no table"):
        Base._meta()


class Address(BaseModel):
    city: str
    zip_code: str = Field(alias="zip")


class User(Model, table="users"):
    user_id: Annotated[str, PartitionKey]
    full_name: str = Field(default="", alias="name")
    tags: list[str] = []
    address: Address | None = None
    scores: dict[str, int] = {}
    by_name = GlobalIndex("full_name", projection=["tags"])


def test_class_attributes_are_paths() -> None:
    assert isinstance(User.user_id, Path)
    assert str(User.full_name) == "name"  # the wire name
    assert str(User.address.city) == "address.city"
    assert str(User.address.zip_code) == "address.zip"
    assert str(User.tags[0]) == "tags[0]"
    assert str(User.scores["chess"]) == "scores.chess"
    assert User.address.city.owner is User


def test_unknown_attribute_on_class_and_path() -> None:
    with pytest.raises(AttributeError):
        User.nope  # noqa: B018
    with pytest.raises(AttributeError, match="Address has no field 'nope'"):
        User.address.nope  # noqa: B018


def test_instances_stay_pydantic_models() -> None:
    u = User(user_id="u1", name="Ada", tags=["x"])
    assert u.full_name == "Ada"
    assert u.model_dump() == {
        "user_id": "u1", "full_name": "Ada", "tags": ["x"], "address": None, "scores": {},
    }
    u2 = User(user_id="u1", full_name="Ada")  # by field name too
    assert u2.full_name == "Ada"
    with pytest.raises(ValueError):
        u.tags = 5  # type: ignore[assignment]  # validated on assignment


def test_index_meta_uses_attribute_names() -> None:
    meta = User.__dynorm_meta__
    index = meta.indexes["by_name"]
    assert index.partition.attr == "name"
    assert index.projection_type == "INCLUDE" and index.projection_attrs == ("tags",)
    assert User.by_name.name == "by_name"


def test_invalid_table_and_index_names() -> None:
    with pytest.raises(SchemaError, match="table name 'ab' is not valid"):
        declare({}, {"a": Annotated[str, PartitionKey]}, table="ab")
    with pytest.raises(SchemaError, match="index name 'g1' is not valid"):
        declare({"g": GlobalIndex("b", name="g1")}, {"a": Annotated[str, PartitionKey], "b": str})
