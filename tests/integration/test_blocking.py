"""One suite, both APIs (issue 19): each scenario runs through the async API and through
the blocking API (``Model.sync``, ``query.sync``, ``dynorm.blocking``) on a real server.

The scenarios are written once, against `Api`: ``AsyncApi`` awaits dynorm's coroutines
on an event loop of the test's own; ``BlockingApi`` calls their blocking twins the way a
user writes them. Both must give the same results, errors and stored items.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Iterator
from typing import Annotated, Any, TypeVar

import pytest

import dynorm
from dynorm import (
    Collection,
    ConditionFailed,
    Connection,
    GlobalIndex,
    InvalidBatch,
    InvalidCursor,
    ItemNotFound,
    LocalServer,
    Model,
    PartitionKey,
    SortKey,
    TransactionCanceled,
    Version,
    VersionConflict,
    attr,
)
from dynorm import connection as _connection
from dynorm.read.query import Query, Scan
from dynorm.types import CollectionResult, Page

T = TypeVar("T")
M = TypeVar("M", bound=Model)


class Note(Model, table="blocking-notes"):
    user_id: Annotated[str, PartitionKey]
    note_id: Annotated[str, SortKey]
    title: str
    stars: int = 0
    tags: set[str] = set()
    by_stars = GlobalIndex("user_id", "stars")


class Account(Model, table="blocking-accounts"):
    account_id: Annotated[str, PartitionKey]
    owner: str
    balance: int = 0
    version: Annotated[int, Version] = 0


class Member(Model, table="blocking-shop", entity="member"):
    shop: Annotated[str, PartitionKey]
    sk: Annotated[str, SortKey]
    name: str


class Item(Model, table="blocking-shop", entity="item"):
    shop: Annotated[str, PartitionKey]
    sk: Annotated[str, SortKey]
    price: int


MODELS: list[type[Model]] = [Note, Account, Member]  # Item shares Member's table


# ---------------------------------------------------------------------------- the two APIs


class Api:
    """What a scenario does, in the words of one API."""

    name = ""

    def get(self, model: type[M], *key: Any, **kw: Any) -> M: ...
    def find_one(self, model: type[M], *key: Any, **kw: Any) -> M | None: ...
    def get_many(self, model: type[M], keys: list[Any], **kw: Any) -> list[M | None]: ...
    def update_item(self, model: type[M], key: Any, *actions: Any, **kw: Any) -> M | None: ...
    def save(self, item: M, **kw: Any) -> M: ...
    def update(self, item: M, *actions: Any, **kw: Any) -> M: ...
    def delete(self, item: Model, **kw: Any) -> None: ...
    def refresh(self, item: M) -> M: ...
    def move(self, item: M, **changes: Any) -> M: ...
    def to_list(self, read: Query[M] | Scan[M]) -> list[M]: ...
    def first(self, read: Query[M] | Scan[M]) -> M | None: ...
    def count(self, read: Query[M] | Scan[M]) -> int: ...
    def page(self, read: Query[M] | Scan[M], size: int, cursor: str | None
             ) -> Page[M]: ...
    def pages(self, read: Query[M] | Scan[M]) -> list[Page[M]]: ...
    def iterate(self, read: Query[M] | Scan[M], stop: int | None = None) -> list[M]: ...
    def batch_get(self, *pairs: Any) -> tuple[Any, ...]: ...
    def transact_get(self, *pairs: Any) -> tuple[Any, ...]: ...
    def transact(self, fill: Callable[[Any], None], **kw: Any) -> None: ...
    def batch(self, fill: Callable[[Any], None], **kw: Any) -> int: ...
    def collection(self, *models: type[Model], **fields: Any) -> CollectionResult: ...
    def create_tables(self, *models: type[Model]) -> None: ...


class AsyncApi(Api):
    """dynorm's coroutines, awaited on this test's own event loop."""

    name = "async"

    def __init__(self, connection: Connection) -> None:
        self.loop = asyncio.new_event_loop()
        self.context = contextvars.copy_context()
        self.context.run(_connection._current.set, connection)
        self.connection = connection
        self.run(connection.open())

    def run(self, coro: Any) -> Any:
        return self.context.run(self.loop.run_until_complete, coro)

    def close(self) -> None:
        self.run(self.connection.close())
        self.loop.close()

    def get(self, model: type[M], *key: Any, **kw: Any) -> M:
        return self.run(model.get(*key, **kw))  # type: ignore[no-any-return]

    def find_one(self, model: type[M], *key: Any, **kw: Any) -> M | None:
        return self.run(model.find_one(*key, **kw))  # type: ignore[no-any-return]

    def get_many(self, model: type[M], keys: list[Any], **kw: Any) -> list[M | None]:
        return self.run(dynorm.get_many(model, keys, **kw))  # type: ignore[no-any-return]

    def update_item(self, model: type[M], key: Any, *actions: Any, **kw: Any) -> M | None:
        return self.run(model.update_item(key, *actions, **kw))  # type: ignore[no-any-return]

    def save(self, item: M, **kw: Any) -> M:
        return self.run(item.save(**kw))  # type: ignore[no-any-return]

    def update(self, item: M, *actions: Any, **kw: Any) -> M:
        return self.run(item.update(*actions, **kw))  # type: ignore[no-any-return]

    def delete(self, item: Model, **kw: Any) -> None:
        self.run(item.delete(**kw))

    def refresh(self, item: M) -> M:
        return self.run(item.refresh())  # type: ignore[no-any-return]

    def move(self, item: M, **changes: Any) -> M:
        return self.run(item.move(**changes))  # type: ignore[no-any-return]

    def to_list(self, read: Query[M] | Scan[M]) -> list[M]:
        return self.run(read.to_list())  # type: ignore[no-any-return]

    def first(self, read: Query[M] | Scan[M]) -> M | None:
        return self.run(read.first())  # type: ignore[no-any-return]

    def count(self, read: Query[M] | Scan[M]) -> int:
        return self.run(read.count())  # type: ignore[no-any-return]

    def page(self, read: Query[M] | Scan[M], size: int, cursor: str | None
             ) -> Page[M]:
        return self.run(read.page(size=size, cursor=cursor))  # type: ignore[no-any-return]

    def pages(self, read: Query[M] | Scan[M]) -> list[Page[M]]:
        async def collect() -> list[Page[M]]:
            return [page async for page in read.pages()]

        return self.run(collect())  # type: ignore[no-any-return]

    def iterate(self, read: Query[M] | Scan[M], stop: int | None = None) -> list[M]:
        async def collect() -> list[M]:
            out: list[M] = []
            async for item in read:
                out.append(item)
                if stop is not None and len(out) == stop:
                    break
            return out

        return self.run(collect())  # type: ignore[no-any-return]

    def batch_get(self, *pairs: Any) -> tuple[Any, ...]:
        return self.run(dynorm.batch_get(*pairs))  # type: ignore[no-any-return]

    def transact_get(self, *pairs: Any) -> tuple[Any, ...]:
        return self.run(dynorm.transact_get(*pairs))  # type: ignore[no-any-return]

    def transact(self, fill: Callable[[Any], None], **kw: Any) -> None:
        async def go() -> None:
            async with dynorm.transaction(**kw) as tx:
                fill(tx)

        self.run(go())

    def batch(self, fill: Callable[[Any], None], **kw: Any) -> int:
        async def go() -> int:
            async with dynorm.batch(**kw) as b:
                fill(b)
            return b.written

        return self.run(go())  # type: ignore[no-any-return]

    def collection(self, *models: type[Model], **fields: Any) -> CollectionResult:
        return self.run(Collection(*models).query(**fields).fetch())  # type: ignore[no-any-return]

    def create_tables(self, *models: type[Model]) -> None:
        self.run(dynorm.create_tables(*models))


class BlockingApi(Api):
    """The blocking twins, spelt as a user spells them."""

    name = "blocking"

    def __init__(self, connection: Connection) -> None:
        self.connection = dynorm.blocking.BlockingConnection(connection)
        self.connection.__enter__()

    def close(self) -> None:
        self.connection.__exit__(None, None, None)

    def get(self, model: type[M], *key: Any, **kw: Any) -> M:
        return model.sync.get(*key, **kw)

    def find_one(self, model: type[M], *key: Any, **kw: Any) -> M | None:
        return model.sync.find_one(*key, **kw)

    def get_many(self, model: type[M], keys: list[Any], **kw: Any) -> list[M | None]:
        return dynorm.blocking.get_many(model, keys, **kw)

    def update_item(self, model: type[M], key: Any, *actions: Any, **kw: Any) -> M | None:
        return model.sync.update_item(key, *actions, **kw)

    def save(self, item: M, **kw: Any) -> M:
        return item.sync.save(**kw)

    def update(self, item: M, *actions: Any, **kw: Any) -> M:
        return item.sync.update(*actions, **kw)

    def delete(self, item: Model, **kw: Any) -> None:
        item.sync.delete(**kw)

    def refresh(self, item: M) -> M:
        return item.sync.refresh()

    def move(self, item: M, **changes: Any) -> M:
        return item.sync.move(**changes)

    def to_list(self, read: Query[M] | Scan[M]) -> list[M]:
        return read.sync.to_list()

    def first(self, read: Query[M] | Scan[M]) -> M | None:
        return read.sync.first()

    def count(self, read: Query[M] | Scan[M]) -> int:
        return read.sync.count()

    def page(self, read: Query[M] | Scan[M], size: int, cursor: str | None
             ) -> Page[M]:
        return read.sync.page(size=size, cursor=cursor)

    def pages(self, read: Query[M] | Scan[M]) -> list[Page[M]]:
        return list(read.sync.pages())

    def iterate(self, read: Query[M] | Scan[M], stop: int | None = None) -> list[M]:
        out: list[M] = []
        for item in read.sync:
            out.append(item)
            if stop is not None and len(out) == stop:
                break
        return out

    def batch_get(self, *pairs: Any) -> tuple[Any, ...]:
        return dynorm.blocking.batch_get(*pairs)

    def transact_get(self, *pairs: Any) -> tuple[Any, ...]:
        return dynorm.blocking.transact_get(*pairs)

    def transact(self, fill: Callable[[Any], None], **kw: Any) -> None:
        with dynorm.blocking.transaction(**kw) as tx:
            fill(tx)

    def batch(self, fill: Callable[[Any], None], **kw: Any) -> int:
        with dynorm.blocking.batch(**kw) as b:
            fill(b)
        return b.written

    def collection(self, *models: type[Model], **fields: Any) -> CollectionResult:
        return Collection(*models).query(**fields).sync.fetch()

    def create_tables(self, *models: type[Model]) -> None:
        dynorm.blocking.create_tables(*models)


@pytest.fixture(params=["async", "blocking"])
def api(dynorm_server: LocalServer, request: pytest.FixtureRequest) -> Iterator[Api]:
    dynorm_server.reset()
    connection = dynorm_server.connect(max_attempts=3)
    chosen: AsyncApi | BlockingApi = (
        AsyncApi(connection) if request.param == "async" else BlockingApi(connection))
    try:
        chosen.create_tables(*MODELS)
        yield chosen
    finally:
        chosen.close()


def note(i: int, user: str = "ada", **fields: Any) -> Note:
    return Note(user_id=user, note_id=f"n{i:03d}", title=f"note {i}", stars=i % 5, **fields)


# ---------------------------------------------------------------------------- scenarios


def test_crud(api: Api) -> None:
    saved = api.save(note(1, tags={"x"}))
    assert saved.title == "note 1"
    assert api.get(Note, "ada", "n001") == saved
    assert api.get(Note, user_id="ada", note_id="n001", consistent=True) == saved
    assert api.find_one(Note, "ada", "n999") is None
    with pytest.raises(ItemNotFound) as missing:
        api.get(Note, "ada", "n999")
    assert missing.value.model == "Note"

    stale = api.get(Note, "ada", "n001")
    api.update(saved, attr(Note.stars).add(10))
    assert api.refresh(stale).stars == 11

    moved = api.move(stale, note_id="n002")
    assert moved.note_id == "n002" and moved.stars == 11
    assert api.find_one(Note, "ada", "n001") is None
    api.delete(moved)
    assert api.find_one(Note, "ada", "n002") is None
    api.delete(moved)  # a missing item: not an error


def test_updates(api: Api) -> None:
    item = api.save(note(3))
    updated = api.update(item, attr(Note.stars).add(2), attr(Note.tags).add({"a", "b"}))
    assert updated is item and item.stars == 5 and item.tags == {"a", "b"}
    new = api.update_item(Note, ("ada", "n003"), attr(Note.title).set("renamed"))
    assert new is not None and new.title == "renamed" and new.stars == 5
    old = api.update_item(Note, ("ada", "n003"), attr(Note.stars).set(0),
                          return_values="ALL_OLD")
    assert old is not None and old.stars == 5
    with pytest.raises(ItemNotFound):
        api.update_item(Note, ("ada", "n404"), attr(Note.stars).set(1))
    created = api.update_item(Note, ("ada", "n404"), attr(Note.title).set("made"),
                              upsert=True)
    assert created is not None and created.title == "made"


def test_conditions_and_versions(api: Api) -> None:
    first = api.save(Account(account_id="a1", owner="ada", balance=10))
    assert first.version == 1
    with pytest.raises(VersionConflict):  # a second new copy under the same key
        api.save(Account(account_id="a1", owner="bob"))
    copy = api.get(Account, "a1")
    copy.balance = 20
    api.save(copy)
    assert copy.version == 2
    first.balance = 99  # version 1: stale
    with pytest.raises(VersionConflict) as conflict:
        api.save(first)
    assert (conflict.value.expected, conflict.value.actual) == (1, 2)
    with pytest.raises(ConditionFailed):
        api.save(copy, condition=attr(Account.balance) > 100)
    with pytest.raises(ConditionFailed):
        api.delete(copy, condition=attr(Account.owner) == "bob")
    assert api.get(Account, "a1", consistent=True).balance == 20


def test_queries_scans_and_pages(api: Api) -> None:
    for i in range(23):
        api.save(note(i))
    api.save(note(1, user="bob"))
    q = Note.query(attr(Note.user_id) == "ada")
    everything = api.to_list(q)
    assert [n.note_id for n in everything] == [f"n{i:03d}" for i in range(23)]
    assert api.iterate(q.page_size(4)) == everything
    assert api.iterate(q.page_size(4), stop=6) == everything[:6]  # left early
    assert api.count(q) == 23 and api.count(Note.scan()) == 24
    assert api.first(q.reverse()) == everything[-1]
    assert api.to_list(q.filter(attr(Note.stars) == 4).limit(3)) == [
        n for n in everything if n.stars == 4][:3]
    between = Note.query(attr(Note.user_id) == "ada", attr(Note.note_id).between("n005", "n007"))
    assert [n.note_id for n in api.to_list(between)] == ["n005", "n006", "n007"]
    by_stars = Note.by_stars.query(attr(Note.user_id) == "ada", attr(Note.stars) >= 4)
    assert {n.note_id for n in api.to_list(by_stars)} == {
        n.note_id for n in everything if n.stars >= 4}

    seen: list[Note] = []
    cursor = None
    while True:
        page = api.page(q, size=5, cursor=cursor)
        seen.extend(page.items)
        cursor = page.cursor
        if cursor is None:
            break
        assert len(page) == 5
    assert seen == everything
    assert [len(p) for p in api.pages(q.page_size(10))] == [10, 10, 3]
    assert sorted(n.note_id for n in api.to_list(Note.scan().segments(3))) == sorted(
        [n.note_id for n in everything] + ["n001"])
    with pytest.raises(InvalidCursor):
        api.page(Note.query(attr(Note.user_id) == "bob"), size=5,
                 cursor=api.page(q, size=5, cursor=None).cursor[:-2] + "xx")  # type: ignore[index]


def test_batches_and_batch_reads(api: Api) -> None:
    def fill(b: Any) -> None:
        for i in range(60):
            b.save(note(i))
        b.delete(Note, ("ada", "n000"))

    assert api.batch(fill, concurrency=4) == 60  # the delete replaced the save of n000
    assert api.count(Note.query(attr(Note.user_id) == "ada")) == 59
    with pytest.raises(InvalidBatch):
        api.batch(lambda b: b.save(Account(account_id="a", owner="x")))
    assert api.batch(lambda b: b.save(Account(account_id="a", owner="x"), unversioned=True)) == 1

    keys = [("ada", "n001"), ("ada", "n000"), ("ada", "n059"), ("ada", "n001")]
    found = api.get_many(Note, keys)
    assert [n.note_id if n else None for n in found] == ["n001", None, "n059", "n001"]
    one, missing, account = api.batch_get((Note, ("ada", "n002")), (Note, ("zed", "n1")),
                                          (Account, "a"))
    assert one.note_id == "n002" and missing is None and account.owner == "x"


def test_transactions(api: Api) -> None:
    a = api.save(Account(account_id="a", owner="ada", balance=50))
    b = api.save(Account(account_id="b", owner="bob", balance=0))
    gone = api.save(note(1))

    def transfer(tx: Any) -> None:
        tx.update(a, attr(Account.balance).add(-30), condition=attr(Account.balance) >= 30)
        tx.update(b, attr(Account.balance).add(30))
        tx.delete(gone)
        tx.check(Note, ("ada", "n404"), attr(Note.title).not_exists())
        tx.save(note(2))

    api.transact(transfer)
    a2, b2 = api.transact_get((Account, "a"), (Account, "b"))
    assert (a2.balance, b2.balance) == (20, 30) and (a.version, b.version) == (2, 2)
    assert api.find_one(Note, "ada", "n001") is None and api.get(Note, "ada", "n002")

    def overdraw(tx: Any) -> None:
        tx.update(a2, attr(Account.balance).add(-30), condition=attr(Account.balance) >= 30)
        tx.save(note(3))

    with pytest.raises(TransactionCanceled) as canceled:
        api.transact(overdraw)
    assert [r.code for r in canceled.value.failed] == ["ConditionalCheckFailed"]
    assert api.find_one(Note, "ada", "n003") is None  # nothing written

    def raising(tx: Any) -> None:
        tx.save(note(4))
        raise KeyError("abort")

    with pytest.raises(KeyError):
        api.transact(raising)
    assert api.find_one(Note, "ada", "n004") is None


def test_collections(api: Api) -> None:
    api.save(Member(shop="s1", sk="m#ada", name="Ada"))
    api.save(Item(shop="s1", sk="i#mug", price=9))
    api.save(Item(shop="s1", sk="i#tea", price=4))
    api.save(Item(shop="s2", sk="i#pen", price=1))
    result = api.collection(Member, Item, shop="s1")
    assert result.one(Member).name == "Ada"
    assert [i.price for i in result.of(Item)] == [9, 4]
