"""Generated schemas through a server: save, get, the same values of the same types.

The unit oracle (tests/unit/test_codec_schemas.py) checks ``from_item(to_item(x))``;
here a handful of its generated models and instances go through ``save()`` and
``get()``, so the server's own handling of the wire form (number normalisation, maps,
sets, binary) is part of the round trip. Every generated model shares the table
``docs`` (partition key ``pk``).
"""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynorm import Connection, Model, PartitionKey
from tests.unit.test_codec_schemas import models, same_type


class Docs(Model, table="docs"):
    """Declares the shared table; the generated models write into it."""

    pk: Annotated[str, PartitionKey]


def generated(count: int) -> list[tuple[type[Model], list[Any]]]:
    """``count`` generated models with two instances each (a fixed, derandomized draw)."""
    out: list[tuple[type[Model], list[Any]]] = []

    @settings(max_examples=count, deadline=None, derandomize=True, database=None)
    @given(st.data())
    def collect(data: st.DataObject) -> None:
        cls, instances = data.draw(models())
        out.append((cls, [data.draw(instances()) for _ in range(2)]))

    collect()
    return out


@pytest.mark.dynorm_tables([Docs])
async def test_generated_schemas_survive_the_server(dynorm_connection: Connection) -> None:
    checked = 0
    for cls, values in generated(16):
        for value in values:
            checked += 1
            for store_none in (False, True):
                await value.save(store_none=store_none)
                back = await cls.get("k", consistent=True)
                assert back == value, (cls.__name__, value, back)
                same_type(value, back, cls.__name__)
    assert checked >= 10
