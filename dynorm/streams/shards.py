"""Finding a table's stream and its shards, parents before children.

A stream is split into shards; when DynamoDB splits a shard the old one is closed (it
gets an ``EndingSequenceNumber``) and its children name it as ``ParentShardId``. To keep
per-item order, a child is read only once its parent has been read to the end (or has
aged out of the stream's 24-hour window and is no longer listed).

[`order_shards()`][dynorm.streams.order_shards] and
[`ready_shards()`][dynorm.streams.ready_shards] are pure; `stream_arn()` and `describe_shards()`
talk to the server.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from dynorm.connection import Connection
from dynorm.streams.events import StreamError

__all__ = [
    "Shard",
    "StreamNotEnabled",
    "describe_shards",
    "order_shards",
    "parse_shards",
    "ready_shards",
    "stream_arn",
]


class StreamNotEnabled(StreamError):
    """The table has no stream (create it with ``Model.create_table(stream=...)``)."""


@dataclass(frozen=True)
class Shard:
    """One shard of a stream.

    Attributes:
        stream_arn: the stream.
        shard_id: the shard.
        parent_id: the parent shard, if any (it must be read first).
        starting_sequence_number: the first sequence number in the shard.
        closed: True when the shard has an ending sequence number (no new records).
    """

    stream_arn: str
    shard_id: str
    parent_id: str | None = None
    starting_sequence_number: str | None = None
    closed: bool = False


def parse_shards(stream_arn: str, shards: Iterable[Mapping[str, Any]]) -> list[Shard]:
    """``DescribeStream``'s ``Shards`` entries as [`Shard`][dynorm.streams.Shard] values."""
    out = []
    for raw in shards:
        seq = raw.get("SequenceNumberRange") or {}
        out.append(
            Shard(
                stream_arn=stream_arn,
                shard_id=raw["ShardId"],
                parent_id=raw.get("ParentShardId"),
                starting_sequence_number=seq.get("StartingSequenceNumber"),
                closed="EndingSequenceNumber" in seq,
            )
        )
    return out


def order_shards(shards: Iterable[Shard]) -> list[Shard]:
    """The shards ordered so that every parent comes before its children.

    Parents that are not listed (trimmed from the stream) are ignored. Among shards with
    no order between them, the listing order is kept. Cycles (never produced by
    DynamoDB) are broken rather than looping.
    """
    listed = list(shards)
    by_id = {s.shard_id: s for s in listed}
    placed: set[str] = set()
    out: list[Shard] = []

    def place(shard: Shard, visiting: set[str]) -> None:
        if shard.shard_id in placed or shard.shard_id in visiting:
            return
        visiting.add(shard.shard_id)
        parent = by_id.get(shard.parent_id) if shard.parent_id else None
        if parent is not None:
            place(parent, visiting)
        placed.add(shard.shard_id)
        out.append(shard)

    for shard in listed:
        place(shard, set())
    return out


def ready_shards(shards: Iterable[Shard], finished: Collection[str]) -> list[Shard]:
    """The shards that may be read now: not finished, and whose parent is finished or gone.

    Args:
        shards: every shard currently listed for the stream.
        finished: ids of shards read to their end.

    Returns:
        The readable shards, parents first.
    """
    ordered = order_shards(shards)
    listed = {s.shard_id for s in ordered}
    return [
        s
        for s in ordered
        if s.shard_id not in finished
        and (s.parent_id is None or s.parent_id not in listed or s.parent_id in finished)
    ]


async def stream_arn(connection: Connection, table: str, *, model: str = "") -> str:
    """The latest stream ARN of a physical table.

    Raises:
        StreamNotEnabled: the table exists but has no enabled stream.
        TableNotFound: the table does not exist.
    """
    table_desc = (await connection.call("DescribeTable", {"TableName": table}))["Table"]
    arn = table_desc.get("LatestStreamArn")
    spec = table_desc.get("StreamSpecification") or {}
    # Only StreamEnabled == true means a stream is on: AWS (and DynamoDB Local) keep
    # LatestStreamArn after a stream is disabled or the table re-created without one.
    if not arn or spec.get("StreamEnabled") is not True:
        owner = f" (model {model})" if model else ""
        raise StreamNotEnabled(
            f"table {table!r}{owner} has no stream: create it with "
            'create_table(stream="NEW_AND_OLD_IMAGES") or enable one with UpdateTable'
        )
    return str(arn)


async def describe_shards(connection: Connection, arn: str) -> list[Shard]:
    """Every shard of a stream, paging through ``DescribeStream``."""
    shards: list[Shard] = []
    request: dict[str, Any] = {"StreamArn": arn}
    while True:
        desc = (await connection.call("DescribeStream", request))["StreamDescription"]
        shards.extend(parse_shards(arn, desc.get("Shards", [])))
        last = desc.get("LastEvaluatedShardId")
        if not last:
            return shards
        request = {"StreamArn": arn, "ExclusiveStartShardId": last}
