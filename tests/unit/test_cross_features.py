"""Today's features combined, with exact requests (MockTransport): where one feature's
write could overwrite what another stores."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from pydantic import Field

import dynorm
from dynorm import BatchWriteFailed, EncodingError, MockTransport, Model, PartitionKey
from dynorm._types import Request, Response

STAMP_AT = 1767225600.123


class Ticket(Model, table="tickets"):
    ticket_id: Annotated[str, PartitionKey]
    region: str = "eu"                                     # a field named like a Region
    source: str = Field(default="web", alias="_origin")   # stored as _origin


def answer(op: str, req: Request) -> Response:
    return {}


@pytest.mark.parametrize("origin", [True, "region"])
async def test_an_origin_stamp_never_overwrites_a_field_of_the_item(
        origin: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """connect(origin=...) writes its stamp to one attribute of every item: an item that
    already holds that attribute as data (a field stored under that name) is refused,
    naming the attribute, instead of losing the field's value to the stamp."""
    monkeypatch.setattr("dynorm.connection.time.time", lambda: STAMP_AT)
    transport = MockTransport(answer)
    async with dynorm.connect(transport=transport, region="eu-west-1", origin=origin):
        with pytest.raises(EncodingError, match="origin stamp"):
            await Ticket(ticket_id="t1").save()
        with pytest.raises(BatchWriteFailed, match=r"EncodingError: .* origin stamp"):
            async with dynorm.batch() as b:
                b.save(Ticket(ticket_id="t2"))
        with pytest.raises(EncodingError, match="origin stamp"):
            async with dynorm.transaction() as tx:
                tx.save(Ticket(ticket_id="t3"))
    assert transport.requests == []  # nothing was sent
