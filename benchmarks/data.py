"""The benchmark model (19 attributes) and the hand-written forms every contender starts from.

Every contender starts from the same validated ``Bench`` instances (what an application
holds) and converts them to its own form inside the timed region: dynorm saves them as
they are; the raw aioboto3 client gets ``wire(m)`` (a hand-written per-field encoder);
boto3's Table, aiodynamo and pydynox get ``plain(m)`` (a hand-written dict of Python
values); PynamoDB gets its own model built from ``fields(m)``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, TypedDict

from pydantic import BaseModel

from dynorm import Model, PartitionKey, SortKey

TABLE = "bench_items"
REGION = "us-east-1"


class Credentials(TypedDict):
    aws_access_key_id: str
    aws_secret_access_key: str


CREDS: Credentials = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}
MAX_SCORE = 10**9  # the update's condition: score < MAX_SCORE (always true)
DT_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # dynorm's datetime wire form (UTC, sortable)
UTC = dt.timezone.utc


class Address(BaseModel):
    street: str
    city: str
    zip: str
    country: str


class Bench(Model, table=TABLE):
    pk: Annotated[str, PartitionKey]
    sk: Annotated[int, SortKey]
    name: str
    email: str
    status: str
    age: int
    score: int
    visits: int
    balance: Decimal
    rate: Decimal
    active: bool
    created: dt.datetime
    updated: dt.datetime
    tags: set[str]
    lucky: set[int]
    history: list[int]
    aliases: list[str]
    address: Address
    attrs: dict[str, int]


ATTRIBUTES = len(Bench.model_fields)
_T0 = dt.datetime(2024, 5, 17, 9, 30, 0, 123456, tzinfo=UTC)


def make(pk: str, i: int) -> Bench:
    return Bench(
        pk=pk, sk=i, name=f"user number {i}", email=f"user{i}@example.com",
        status="active" if i % 3 else "idle", age=20 + i % 50, score=i * 7, visits=i % 1000,
        balance=Decimal(i) / 8, rate=Decimal("0.0375"), active=bool(i % 2),
        created=_T0 + dt.timedelta(seconds=i), updated=_T0 + dt.timedelta(seconds=2 * i),
        tags={"red", "blue", f"t{i % 7}"}, lucky={i % 10, 11, 42},
        history=[i, i + 1, i + 2, i + 3], aliases=[f"u{i}", f"user-{i}"],
        address=Address(street=f"{i} Main Street", city="Amsterdam", zip="1012AB",
                        country="NL"),
        attrs={"logins": i % 13, "posts": i % 29, "likes": i % 101},
    )


def make_many(pk: str, n: int) -> list[Bench]:
    return [make(pk, i) for i in range(n)]


# ----------------------------------------------------------------- hand-written forms


def wire(m: Bench) -> dict[str, Any]:
    """A hand-written per-field encoder to DynamoDB's wire form (what dynorm's codec does)."""
    a = m.address
    return {
        "pk": {"S": m.pk}, "sk": {"N": str(m.sk)}, "name": {"S": m.name},
        "email": {"S": m.email}, "status": {"S": m.status}, "age": {"N": str(m.age)},
        "score": {"N": str(m.score)}, "visits": {"N": str(m.visits)},
        "balance": {"N": str(m.balance)}, "rate": {"N": str(m.rate)},
        "active": {"BOOL": m.active},
        "created": {"S": m.created.strftime(DT_FORMAT)},
        "updated": {"S": m.updated.strftime(DT_FORMAT)},
        "tags": {"SS": list(m.tags)}, "lucky": {"NS": [str(x) for x in m.lucky]},
        "history": {"L": [{"N": str(x)} for x in m.history]},
        "aliases": {"L": [{"S": x} for x in m.aliases]},
        "address": {"M": {"street": {"S": a.street}, "city": {"S": a.city},
                          "zip": {"S": a.zip}, "country": {"S": a.country}}},
        "attrs": {"M": {k: {"N": str(v)} for k, v in m.attrs.items()}},
    }


def unwire(item: dict[str, Any]) -> dict[str, Any]:
    """The hand-written decoder: wire form -> field values for ``Bench.model_validate``."""
    a = item["address"]["M"]
    return {
        "pk": item["pk"]["S"], "sk": int(item["sk"]["N"]), "name": item["name"]["S"],
        "email": item["email"]["S"], "status": item["status"]["S"],
        "age": int(item["age"]["N"]), "score": int(item["score"]["N"]),
        "visits": int(item["visits"]["N"]), "balance": Decimal(item["balance"]["N"]),
        "rate": Decimal(item["rate"]["N"]), "active": item["active"]["BOOL"],
        "created": item["created"]["S"], "updated": item["updated"]["S"],
        "tags": set(item["tags"]["SS"]), "lucky": {int(x) for x in item["lucky"]["NS"]},
        "history": [int(x["N"]) for x in item["history"]["L"]],
        "aliases": [x["S"] for x in item["aliases"]["L"]],
        "address": {"street": a["street"]["S"], "city": a["city"]["S"], "zip": a["zip"]["S"],
                    "country": a["country"]["S"]},
        "attrs": {k: int(v["N"]) for k, v in item["attrs"]["M"].items()},
    }


def plain(m: Bench) -> dict[str, Any]:
    """A hand-written dict of Python values (boto3's Table, aiodynamo, pydynox)."""
    a = m.address
    return {
        "pk": m.pk, "sk": m.sk, "name": m.name, "email": m.email, "status": m.status,
        "age": m.age, "score": m.score, "visits": m.visits, "balance": m.balance,
        "rate": m.rate, "active": m.active, "created": m.created.strftime(DT_FORMAT),
        "updated": m.updated.strftime(DT_FORMAT), "tags": set(m.tags), "lucky": set(m.lucky),
        "history": list(m.history), "aliases": list(m.aliases),
        "address": {"street": a.street, "city": a.city, "zip": a.zip, "country": a.country},
        "attrs": dict(m.attrs),
    }
