"""Encrypted fields: client CPU per item, and KMS calls per 1,000 items (issue 23).

    python -m benchmarks --only encryption [--rounds 3]

CPU: one model with a 40-character ``str`` field stored plainly and the same model with
that field ``Encrypted`` (a `LocalKeyring`, its data key cached: the steady state of any
keyring), encoded (``TableMeta.encode_item``, what every write does) and decoded
(``from_item``, what every read does), alternated in one process; the overhead is the
difference of the medians of ``time.process_time`` per item (goal: <= 15 µs for a write
and a read together).

KMS: ``KmsKeyring`` against moto's KMS: 1,000 items written in a batch, the cache
emptied (a new process), then read back with one query; the calls counted by the
keyring (``keyring.calls``) for the default cache (5 minutes, 100,000 values per data
key) and for none worth the name (``max_uses=1``: a data key per value).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import dynorm
from dynorm import Encrypted, LocalKeyring, Model, PartitionKey, SortKey
from dynorm.kms import KmsKeyring
from dynorm.schema.classes import meta_of
from dynorm.schema.decode import from_item

CREDS = {"region": "us-east-1", "aws_access_key_id": "local",
         "aws_secret_access_key": "local"}
GOAL_US = 15.0
SECRET = "4111-1111-1111-1111 exp 12/29 cvv 123 xx"  # 40 characters

LOCAL = LocalKeyring({"bench": os.urandom(32)})


class Plain(Model, table="bench_plain"):
    pk: Annotated[str, PartitionKey]
    sk: Annotated[int, SortKey]
    name: str = "a customer"
    card: str = ""
    balance: int = 0


class Sealed(Model, table="bench_sealed"):
    pk: Annotated[str, PartitionKey]
    sk: Annotated[int, SortKey]
    name: str = "a customer"
    card: Annotated[str, Encrypted(LOCAL)] = ""
    balance: int = 0


@dataclass
class Result:
    #: model name -> (encode µs, decode µs) per round
    cpu: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    #: cache setting -> (items, GenerateDataKey calls, Decrypt calls)
    kms: dict[str, tuple[int, int, int]] = field(default_factory=dict)


def _per_item(fn: Callable[[], Any], n: int) -> float:
    start = time.process_time()
    fn()
    return (time.process_time() - start) / n * 1e6


def cpu_overhead(n: int, rounds: int, result: Result) -> None:
    """Encode and decode ``n`` items of each model, alternated, ``rounds`` times."""
    for cls in (Plain, Sealed):
        meta = meta_of(cls)
        items = [cls(pk="p", sk=i, card=SECRET, balance=i) for i in range(n)]
        wire = [meta.encode_item(x) for x in items]
        result.cpu.setdefault(cls.__name__, [])
        cls.__bench__ = (meta, items, wire)  # type: ignore[attr-defined]
    for _ in range(rounds):
        for cls in (Plain, Sealed):
            meta, items, wire = cls.__bench__  # type: ignore[attr-defined]
            encode = _per_item(lambda m=meta, xs=items: [m.encode_item(x) for x in xs], n)
            decode = _per_item(lambda c=cls, ws=wire: [from_item(c, w) for w in ws], n)
            result.cpu[cls.__name__].append((encode, decode))


async def kms_calls(url: str, n: int, result: Result) -> None:
    """GenerateDataKey and Decrypt calls for ``n`` items written then read, per cache."""
    async with dynorm.connect(endpoint_url=url, **CREDS):
        creator = KmsKeyring("unused")
        key_id = (await creator._call("CreateKey", {}))["KeyMetadata"]["KeyId"]
        await creator.close()
        for label, uses in (("default cache", 100_000), ("max_uses=1", 1)):
            writer = KmsKeyring(key_id, max_uses=uses)

            class Card(Model, table=f"bench_kms_{uses}"):
                pk: Annotated[str, PartitionKey]
                sk: Annotated[int, SortKey]
                card: Annotated[str, Encrypted(writer)] = ""

            await Card.create_table()
            count = n if uses > 1 else n // 10
            if uses == 1:  # a data key per value: one save (one GenerateDataKey) each
                for i in range(count):
                    await Card(pk="p", sk=i, card=SECRET).save()
            else:
                async with dynorm.batch() as b:
                    for i in range(n):
                        b.save(Card(pk="p", sk=i, card=SECRET))
            reader = KmsKeyring(key_id, max_uses=uses)  # another process: an empty cache

            class Read(Model, table=f"bench_kms_{uses}"):
                pk: Annotated[str, PartitionKey]
                sk: Annotated[int, SortKey]
                card: Annotated[str, Encrypted(reader)] = ""

            got = await Read.query(Read.pk == "p").to_list()
            assert len(got) == count and all(c.card == SECRET for c in got)
            result.kms[label] = (count, writer.calls["generate"], reader.calls["unwrap"])
            await writer.close()
            await reader.close()


def measure(url: str | None, rounds: int, items: int, log: Callable[..., None]) -> Result:
    result = Result()
    cpu_overhead(items, rounds, result)
    for name, runs in result.cpu.items():
        log(f"  encryption cpu {name:8} encode {statistics.median(r[0] for r in runs):6.1f} "
            f"decode {statistics.median(r[1] for r in runs):6.1f} µs per item")
    if url is not None:
        asyncio.run(kms_calls(url, 1000, result))
    return result


def table(result: Result) -> list[str]:
    plain, sealed = result.cpu["Plain"], result.cpu["Sealed"]

    def med(runs: list[tuple[float, float]], i: int) -> float:
        return statistics.median(r[i] for r in runs)

    enc, dec = med(sealed, 0) - med(plain, 0), med(sealed, 1) - med(plain, 1)
    out = [
        "encryption: client CPU per item, one 40-character field Encrypted (LocalKeyring, "
        "cached data key) vs stored plainly; medians of rounds, alternated",
        "",
        "| | encode (write) µs | decode (read) µs |",
        "|---|---:|---:|",
        f"| plain | {med(plain, 0):.1f} | {med(plain, 1):.1f} |",
        f"| encrypted | {med(sealed, 0):.1f} | {med(sealed, 1):.1f} |",
        f"| overhead | {enc:.1f} | {dec:.1f} |",
        "",
        f"overhead of a write and a read: {enc + dec:.1f} µs (goal <= {GOAL_US:.0f} µs): "
        + ("met" if enc + dec <= GOAL_US else "NOT met"),
    ]
    if result.kms:
        out += ["", "| KMS keyring | items | GenerateDataKey | Decrypt (reads, empty cache) |",
                "|---|---:|---:|---:|"]
        for label, (n, gen, unwrap) in result.kms.items():
            out.append(f"| {label} | {n:,} | {gen:,} | {unwrap:,} |")
    return out
