"""PynamoDB (synchronous, botocore underneath): its own model classes, built from the same
field values inside the timed region; reads return PynamoDB model instances."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pynamodb.attributes import (
    Attribute,
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    NumberSetAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.connection import Connection
from pynamodb.constants import STRING
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from benchmarks.contenders import Contender, Key
from benchmarks.data import CREDS, DT_FORMAT, MAX_SCORE, REGION, TABLE, UTC, Bench


class IsoDateTime(Attribute[dt.datetime]):
    """dynorm's datetime wire form (PynamoDB's own UTCDateTimeAttribute writes ``+0000``)."""

    attr_type = STRING

    def serialize(self, value: dt.datetime) -> str:
        return value.strftime(DT_FORMAT)

    def deserialize(self, value: str) -> dt.datetime:
        return dt.datetime.strptime(value, DT_FORMAT).replace(tzinfo=UTC)


class PAddress(MapAttribute[str, Any]):
    street = UnicodeAttribute()
    city = UnicodeAttribute()
    zip = UnicodeAttribute()
    country = UnicodeAttribute()


def model_class(url: str) -> type[Model]:
    class PBench(Model):
        class Meta:
            table_name = TABLE
            host = url
            region = REGION
            aws_access_key_id = CREDS["aws_access_key_id"]
            aws_secret_access_key = CREDS["aws_secret_access_key"]

        pk = UnicodeAttribute(hash_key=True)
        sk = NumberAttribute(range_key=True)
        name = UnicodeAttribute()
        email = UnicodeAttribute()
        status = UnicodeAttribute()
        age = NumberAttribute()
        score = NumberAttribute()
        visits = NumberAttribute()
        balance = NumberAttribute()  # float: PynamoDB has no Decimal number attribute
        rate = NumberAttribute()
        active = BooleanAttribute()
        created = IsoDateTime()
        updated = IsoDateTime()
        tags = UnicodeSetAttribute()
        lucky = NumberSetAttribute()
        history = ListAttribute(of=NumberAttribute)
        aliases = ListAttribute(of=UnicodeAttribute)
        address = PAddress()  # type: ignore[no-untyped-call]
        attrs: MapAttribute[str, int] = MapAttribute()  # type: ignore[no-untyped-call]

    return PBench


def build(cls: type[Model], m: Bench) -> Model:
    a = m.address
    return cls(
        m.pk, m.sk, name=m.name, email=m.email, status=m.status, age=m.age, score=m.score,
        visits=m.visits, balance=float(m.balance), rate=float(m.rate), active=m.active,
        created=m.created, updated=m.updated, tags=set(m.tags), lucky=set(m.lucky),
        history=list(m.history), aliases=list(m.aliases),
        address=PAddress(street=a.street, city=a.city, zip=a.zip,  # type: ignore[no-untyped-call]
                         country=a.country),
        attrs=dict(m.attrs),
    )


class PynamoDB(Contender):
    sync = True
    returns = "PynamoDB model instances"

    async def open(self, url: str, tx_url: str) -> None:
        self.cls: Any = model_class(url)
        self.tx_cls: Any = model_class(tx_url)
        self.tx_connection = Connection(host=tx_url, region=REGION)
        self.tx_connection.session.set_credentials(CREDS["aws_access_key_id"],
                                                   CREDS["aws_secret_access_key"])

    async def put(self, items: Sequence[Bench]) -> None:
        for m in items:
            build(self.cls, m).save()

    async def get(self, keys: Sequence[Key]) -> None:
        for pk, sk in keys:
            self.cls.get(pk, sk)

    async def update(self, items: Sequence[Bench]) -> None:
        cls = self.cls
        for m in items:
            cls(m.pk, m.sk).update(actions=[cls.score.add(1), cls.status.set("seen")],
                                   condition=cls.pk.exists() & (cls.score < MAX_SCORE))

    async def query(self, pk: str, page_size: int | None) -> int:
        return sum(1 for _ in self.cls.query(pk, page_size=page_size))

    async def scan(self, segments: int) -> int:
        def segment(i: int) -> int:
            return sum(1 for _ in self.cls.scan(segment=i, total_segments=segments))

        with ThreadPoolExecutor(segments) as pool:
            return sum(pool.map(segment, range(segments)))

    async def batch_write(self, items: Sequence[Bench]) -> None:
        with self.cls.batch_write() as writer:
            for m in items:
                writer.save(build(self.cls, m))

    async def batch_get(self, keys: Sequence[Key]) -> int:
        return len(list(self.cls.batch_get(list(keys))))  # every item held, as the others do

    async def transaction(self, items: Sequence[Bench]) -> None:
        with TransactWrite(connection=self.tx_connection) as tx:
            for m in items:
                tx.save(build(self.tx_cls, m))
