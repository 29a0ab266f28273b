"""An import resends unprocessed items under the same `RetryPolicy` as `dynorm.batch()`
(issue 16's one retry setting): ``max_attempts`` rounds in all, then a TransferError."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

import dynorm
from dynorm import MockTransport, RetryPolicy
from dynorm.backup.errors import TransferError
from dynorm.backup.importer import import_table


def _lines(path: Path, count: int) -> Path:
    source = path / "items.jsonl"
    source.write_bytes(b"".join(orjson.dumps({"Item": {"pk": {"S": f"k{i}"}}}) + b"\n"
                                for i in range(count)))
    return source


@pytest.mark.parametrize("attempts", [1, 3])
async def test_unprocessed_items_get_max_attempts_rounds(tmp_path: Path,
                                                         attempts: int) -> None:
    rounds: list[int] = []

    def handler(op: str, req: dict[str, Any]) -> dict[str, Any]:
        if op == "DescribeTable":
            return {"Table": {"TableName": "t", "TableStatus": "ACTIVE",
                              "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]}}
        assert op == "BatchWriteItem"
        rounds.append(len(req["RequestItems"]["t"]))
        return {"UnprocessedItems": req["RequestItems"]}  # never written

    async with dynorm.connect(transport=MockTransport(handler)):
        with pytest.raises(TransferError, match=f"3 item\\(s\\) still unwritten after "
                                                f"{attempts} rounds"):
            await import_table(_lines(tmp_path, 3), "t", concurrency=1,
                               retry=RetryPolicy(max_attempts=attempts, base_delay=0))
    assert rounds == [3] * attempts


async def test_the_default_is_the_batch_writers(tmp_path: Path) -> None:
    rounds: list[int] = []

    def handler(op: str, req: dict[str, Any]) -> dict[str, Any]:
        if op == "DescribeTable":
            return {"Table": {"TableName": "t", "TableStatus": "ACTIVE",
                              "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]}}
        rounds.append(len(req["RequestItems"]["t"]))
        # the first two rounds leave everything unprocessed, the third writes it all
        return {"UnprocessedItems": req["RequestItems"] if len(rounds) < 3 else {}}

    async with dynorm.connect(transport=MockTransport(handler)):
        result = await import_table(_lines(tmp_path, 2), "t", concurrency=1)
    assert rounds == [2, 2, 2] and result.items == 2
