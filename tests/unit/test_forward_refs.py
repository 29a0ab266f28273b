"""A model may name a class defined after it (``from __future__ import annotations``):
dynorm compiles the declaration once pydantic has resolved every annotation."""

from __future__ import annotations

from typing import Annotated

import pytest

from dynorm import Model, PartitionKey, SchemaError


class Shelf(Model, table="shelves"):
    shelf_id: Annotated[str, PartitionKey]
    top: Book | None = None          # Book is defined below
    books: list[Book] = []


class Book(Model):
    title: str
    pages: int = 0


class Orphan(Model, table="orphans"):
    orphan_id: Annotated[str, PartitionKey]
    parent: Nowhere | None = None  # noqa: F821 - never defined, on purpose


def test_a_later_class_round_trips() -> None:
    shelf = Shelf(shelf_id="s", top=Book(title="A", pages=3), books=[Book(title="B")])
    item = shelf.to_item()
    assert item["top"] == {"M": {"title": {"S": "A"}, "pages": {"N": "3"}}}
    assert Shelf.from_item(item) == shelf
    assert Shelf.top.pages.elements == ("top", "pages")  # paths see the later class too


def test_an_undefined_name_is_a_schema_error_naming_the_fix() -> None:
    with pytest.raises(SchemaError, match=r"Orphan names a type that is not defined yet: "
                                          r"define it, then call Orphan.model_rebuild\(\)"):
        _ = Orphan.parent
