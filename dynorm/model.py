"""The ``Model`` base class: a pydantic model bound to a DynamoDB table.

```python
class User(Model, table="users"):
    user_id: Annotated[str, PartitionKey]
    name: str
    age: int = 0

await User.create_table()
await User(user_id="u1", name="Ada").save()
user = await User.get("u1")
```

On the class, field names are attribute paths for conditions (``User.age > 30``);
on instances they are the values, as in any pydantic model.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import pydantic
from pydantic import ConfigDict
from pydantic._internal._model_construction import ModelMetaclass
from typing_extensions import Self

from dynorm._sync import ModelSync
from dynorm._types import Item
from dynorm.connection import get_connection
from dynorm.read import items as read_items
from dynorm.schema import decode as reads
from dynorm.schema.classes import compile_model, meta_of
from dynorm.schema.indexes import GlobalIndex, LocalIndex, _Index
from dynorm.schema.keys import key_arg
from dynorm.schema.templates import KeyTemplate

if TYPE_CHECKING:
    from dynorm.expressions import Condition, Path, UpdateAction
    from dynorm.read.query import BoundIndex, Query, Scan
    from dynorm.schema.meta import TableMeta
    from dynorm.schema.settings import TableSettings
    from dynorm.tables import StreamView
    from dynorm.transport.base import RetryPolicy

# Queries, scans and writes load their modules on first use (issue 18): a program that
# only gets items (a Lambda reading by key) does not pay for the query builder, the
# write path and their expression and request types at its cold start.

__all__ = ["Model", "ModelMeta"]


class ModelMeta(ModelMetaclass):
    """pydantic's metaclass plus class-level attribute paths (``User.age``)."""

    if not TYPE_CHECKING:  # type checkers must see `User.typo` as an error, not as Any

        def __getattr__(cls, name: str) -> Any:
            # Only reached when normal lookup fails: pydantic removes fields from the class.
            paths = cls.__dict__.get("__dynorm_paths__")
            if paths is None and not name.startswith("__") and cls.__dict__.get(
                    "__dynorm_pending__"):
                compile_model(cls)  # declared before its forward references resolved
                paths = cls.__dict__.get("__dynorm_paths__")
            if paths is not None:
                path = paths.get(name)
                if path is not None:
                    return path
                if not name.startswith("_"):
                    raise AttributeError(
                        f"{cls.__name__} has no field or attribute {name!r} "
                        f"(fields: {', '.join(paths)})"
                    )
            return super().__getattr__(name)


class Model(pydantic.BaseModel, metaclass=ModelMeta):
    """Base class of dynorm models. Declare the table with ``class X(Model, table="x")``.

    Instances validate on assignment; fields may set ``Field(alias="attr")`` to use a
    different attribute name on the wire.
    """

    model_config = ConfigDict(
        # An unknown keyword is a typo (``Score(scroe=5)``), not data to drop silently.
        # Reading is unaffected: decoding passes only declared fields, so items holding
        # more (an entity marker, index keys, attributes of older versions) still load.
        extra="forbid",
        validate_assignment=True,
        validate_by_name=True,
        validate_by_alias=True,
        ignored_types=(GlobalIndex, LocalIndex, KeyTemplate),
    )

    __dynorm_table__: ClassVar[str | None] = None
    __dynorm_entity__: ClassVar[str | None] = None
    __dynorm_entity_attr__: ClassVar[str] = "_type"
    __dynorm_store_key_fields__: ClassVar[bool] = False
    #: the table settings declared with settings=TableSettings(...) (dynorm.plan/apply)
    __dynorm_settings__: ClassVar[TableSettings | None] = None
    #: the declared schema_version= (lazy upgrades on read: dynorm.schema.upgrade)
    __dynorm_schema_version__: ClassVar[int | None] = None
    __dynorm_meta__: ClassVar[TableMeta | None] = None
    __dynorm_paths__: ClassVar[dict[str, Path]] = {}
    __dynorm_pending__: ClassVar[bool] = False
    #: the hooks this class overrides (set when compiled; see dynorm.schema.classes)
    __dynorm_hooks__: ClassVar[frozenset[str]] = frozenset()
    #: names a field may not take: they would hide Model's public methods
    __dynorm_reserved__: ClassVar[frozenset[str]] = frozenset()
    #: blocking twins: ``User.sync.get("u1")``, ``user.sync.save()`` (dynorm.blocking)
    sync: ClassVar[ModelSync] = ModelSync()

    def __init_subclass__(
        cls,
        *,
        table: str | None = None,
        entity: str | None = None,
        entity_attribute: str | None = None,
        store_key_fields: bool | None = None,
        settings: TableSettings | None = None,
        schema_version: int | None = None,
        **kwargs: Any,
    ) -> None:
        # Runs before pydantic has collected fields; keep the declaration for later.
        if table is not None:
            cls.__dynorm_table__ = table
        if entity is not None:
            cls.__dynorm_entity__ = entity
        if entity_attribute is not None:
            cls.__dynorm_entity_attr__ = entity_attribute
        if store_key_fields is not None:
            cls.__dynorm_store_key_fields__ = store_key_fields
        if settings is not None:
            cls.__dynorm_settings__ = settings
        if schema_version is not None:
            cls.__dynorm_schema_version__ = schema_version
        super().__init_subclass__(**kwargs)

    @classmethod
    def __pydantic_on_complete__(cls) -> None:
        """pydantic (2.12+) has resolved every annotation: compile the declaration now.

        At class creation for most models; for one whose annotations name a class
        defined later, when ``model_rebuild()`` (explicit or pydantic's own) resolves them.
        """
        compile_model(cls)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if cls.__pydantic_complete__:
            compile_model(cls)  # pydantic before 2.12 has no __pydantic_on_complete__
        else:
            cls.__dynorm_pending__ = True  # compiled once the annotations resolve

    # ------------------------------------------------------------------ declaration

    @classmethod
    def _meta(cls) -> TableMeta:
        """The compiled table metadata (`dynorm.schema.classes.meta_of`)."""
        return meta_of(cls)

    @classmethod
    def _bind_index(cls, index: _Index) -> BoundIndex[Self] | _Index:
        meta = cls.__dict__.get("__dynorm_meta__")
        if meta is None or index.name not in meta.indexes:
            return index
        from dynorm.read.query import BoundIndex  # loaded on first use (issue 18)

        return BoundIndex(cls, index, meta.indexes[index.name])

    @classmethod
    def table_name(cls) -> str:
        """The physical table name under the current connection (prefix included)."""
        return get_connection().table_name(meta_of(cls).table_name)

    # ------------------------------------------------------------------ wire form

    def to_item(self, *, store_none: bool = False) -> Item:
        """This instance as a DynamoDB item (wire form), keys and size checked."""
        return meta_of(type(self)).encode_item(self, store_none=store_none)

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Self:
        """Decode a DynamoDB item (wire form) into an instance, validated.

        Raises:
            ValidationFailed: naming the table, key and fields that do not fit; or the
                item is another entity's (single-table design), which no read returns
                as this model.
        """
        if not reads.is_own(meta_of(cls), item):
            raise reads.another_entity(cls, item)
        found: Self = reads.from_item(cls, item)
        return found

    # ------------------------------------------------------------------ reads

    @classmethod
    async def find_one(cls, partition: Any = None, sort: Any = None, *, consistent: bool = False,
                       **key_fields: Any) -> Self | None:
        """The item with this key, or None.

        ``find_one("u1")``, ``find_one("u1", "tetris")`` (the partition and sort values),
        ``find_one(("u1", "tetris"))`` or ``find_one({...})`` (a key as every method takes
        it), or the key fields by name: ``find_one(user_id="u1", order_id="o9")``
        (required for keys computed by templates).

        Args:
            partition: the partition key value, or a whole key.
            sort: the sort key value (required when the table has a sort key).
            consistent: use a strongly consistent read.
            key_fields: the key by field name instead.

        Raises:
            InvalidKey: the key does not fit the model (named, with the shape it expects).
        """
        key = key_arg(cls.__name__, partition, sort, key_fields)
        return await read_items.find_one(cls, key, consistent=consistent)

    @classmethod
    async def get(cls, partition: Any = None, sort: Any = None, *, consistent: bool = False,
                  **key_fields: Any) -> Self:
        """The item with this key (same arguments as `find_one`).

        Raises:
            ItemNotFound: no item has this key.
            InvalidKey: the key does not fit the model.
        """
        key = key_arg(cls.__name__, partition, sort, key_fields)
        return await read_items.get(cls, key, consistent=consistent)

    async def refresh(self, *, consistent: bool = True) -> Self:
        """Reload this instance's fields from the table (strongly consistent by default).

        Raises:
            ItemNotFound: the item no longer exists.
        """
        return await read_items.refresh(self, consistent=consistent)

    @classmethod
    async def get_many(cls, keys: Iterable[Any], *, consistent: bool = False,
                       retry: RetryPolicy | None = None) -> list[Self | None]:
        """Items by key (BatchGetItem, 100 per call), in the order given; None where missing.

        Each key is the partition value, ``(partition, sort)``, or a dict of key fields.
        The same as [`dynorm.get_many(Model, keys)`][dynorm.get_many], whose ``retry``
        (the rounds of unprocessed keys) it takes.
        """
        from dynorm.read.batch_get import get_many  # loaded on first use (issue 18)

        return await get_many(cls, keys, consistent=consistent, retry=retry)

    # ------------------------------------------------------------------ queries

    @classmethod
    def query(cls, *key_conditions: Condition) -> Query[Self]:
        """A Query on the table: ``User.query(User.user_id == "u1", User.ts > t0)``.

        The key conditions need equality on the partition key and at most one condition
        on the sort key (``= < <= > >= between begins_with``); they are checked now.
        """
        from dynorm.read.query import build_query  # loaded on first use (issue 18)

        return build_query(cls, None, key_conditions)

    @classmethod
    def scan(cls) -> Scan[Self]:
        """A Scan of the whole table (add ``.filter()``, ``.segments(n)``...)."""
        from dynorm.read.query import Scan  # loaded on first use (issue 18)

        return Scan(cls)

    # ------------------------------------------------------------------ writes

    async def save(self, *, condition: Condition | None = None, store_none: bool = False) -> Self:
        """Write the whole item (PutItem), replacing any item with the same key.

        With a ``Version`` field the write only succeeds if the stored version is the one
        this instance was read with (or the item is new), and the version goes up by one.

        Args:
            condition: only write if this holds for the stored item.
            store_none: write None fields as NULL instead of leaving them out.

        Raises:
            ConditionFailed: ``condition`` was false (``.item`` is the stored item).
            VersionConflict: the stored version differs from this instance's.
        """
        from dynorm.write import items as write_items  # loaded on first use

        return await write_items.save(self, condition=condition, store_none=store_none)

    async def move(self, **changes: Any) -> Self:
        """Change fields that make up the table key: delete this item and save it under its
        new key in one transaction (DynamoDB cannot update a key in place).

        ``await order.move(order_id="o10")``. The old item must still be as read (its
        version, when versioned) and no item may exist under the new key.

        Raises:
            TransactionCanceled: the old item changed or the new key is taken.
        """
        from dynorm.write import items as write_items  # loaded on first use

        return await write_items.move(self, changes)

    async def delete(self, *, condition: Condition | None = None) -> None:
        """Delete this item (DeleteItem); deleting a missing item is not an error.

        Raises:
            ConditionFailed: ``condition`` (or the version check) was false.
        """
        from dynorm.write import items as write_items  # loaded on first use

        await write_items.delete(self, condition=condition)

    async def update(self, *actions: UpdateAction, condition: Condition | None = None) -> Self:
        """Apply update actions (UpdateItem) and refresh this instance from the result.

        ``await user.update(User.score.add(5), User.tags.add({"pro"}))``. The item must
        still exist (a deleted item is not recreated) and, with a ``Version`` field, still
        have this copy's version, which then goes up by one.

        The instance then holds the item as stored after the update (DynamoDB's
        ``ALL_NEW``). Several updates of one instance may run at once (``asyncio.gather``);
        their answers can arrive in another order than DynamoDB applied them, so:

        * with a ``Version`` field, the instance keeps the answer with the highest version;
        * without one, answers are applied as they come, and when the last of a set of
          overlapping updates of this instance returns, it re-reads the item (one strongly
          consistent ``GetItem``): the instance then holds the item as stored after all of
          them. Updates that never overlap cost no extra read.

        Raises:
            ItemNotFound: the item no longer exists.
            ConditionFailed / VersionConflict: ``condition`` or the version check failed.
        """
        from dynorm.write import items as write_items  # loaded on first use

        return await write_items.update(self, actions, condition,
                                        reload=read_items.reload_quietly)

    @classmethod
    async def update_item(
        cls,
        key: Any,
        *actions: UpdateAction,
        condition: Condition | None = None,
        upsert: bool = False,
        return_values: Literal["ALL_NEW", "ALL_OLD", "NONE"] = "ALL_NEW",
    ) -> Self | None:
        """Update an item by key without loading it first.

        Args:
            key: the partition key value, ``(partition, sort)`` for tables with a sort key,
                or a dict of key fields (required for keys computed by templates).
            actions: update actions such as ``Score.score.add(5)``.
            condition: only update if this holds.
            upsert: create the item if it does not exist (DynamoDB's default); by default
                a missing item raises ItemNotFound instead of creating a partial item.
            return_values: which image to return as a model (None for ``"NONE"`` or when
                ``ALL_OLD`` finds no previous item).

        Raises:
            ItemNotFound: the item does not exist and ``upsert`` is False.
            InvalidKey: the key does not fit the model.
        """
        from dynorm.write import items as write_items  # loaded on first use

        return await write_items.update_item(cls, key, actions, condition=condition,
                                             upsert=upsert, return_values=return_values)

    # ------------------------------------------------------------------ hooks

    async def before_save(self) -> None:
        """Called before every save of this instance (direct, batch or transaction).

        Override to stamp fields or validate; raising aborts the write.
        """

    async def after_save(self) -> None:
        """Called after a save of this instance succeeded."""

    async def before_delete(self) -> None:
        """Called before every delete of this instance; raising aborts it."""

    async def after_delete(self) -> None:
        """Called after a delete of this instance succeeded."""

    # ------------------------------------------------------------------ tables

    @classmethod
    async def create_table(
        cls,
        *,
        exists_ok: bool = True,
        billing_mode: Literal["PAY_PER_REQUEST", "PROVISIONED"] | None = None,
        read_capacity: int | None = None,
        write_capacity: int | None = None,
        stream: StreamView | bool | None = None,
        wait: bool = True,
    ) -> None:
        """Create this model's table from its declaration, wait until ACTIVE, enable TTL.

        The table is made as the model declares it, ``settings=TableSettings(...)``
        included (billing, stream, table class, encryption, deletion protection and tags
        in CreateTable; point-in-time recovery right after): ``dynorm.plan(Model)`` on
        it is empty. An existing table is left as it is (but TTL is enabled); change it
        with ``dynorm.apply(await dynorm.plan(Model))``.

        Args:
            exists_ok: an existing table is fine (default); False raises ResourceInUse.
            billing_mode: on-demand (the default) or ``"PROVISIONED"`` with the
                capacities (default 5 each), for a model that declares no billing.
            stream: enable DynamoDB Streams with this view type (``True`` means
                ``"NEW_AND_OLD_IMAGES"``); anything else is a ValueError.
            wait: wait until the table and its indexes are ACTIVE.

        Raises:
            ValueError: an argument contradicts the model's declared settings.
        """
        from dynorm.tables import create_model_tables  # loaded on first use (issue 18)

        await create_model_tables(
            get_connection(), [cls], exists_ok=exists_ok, wait=wait,
            billing_mode=billing_mode, read_capacity=read_capacity,
            write_capacity=write_capacity, stream=stream,
        )

    @classmethod
    async def delete_table(cls, *, missing_ok: bool = True, wait: bool = True) -> None:
        """Delete this model's table (a missing table is fine unless ``missing_ok=False``)."""
        from dynorm.tables import delete_table  # loaded on first use (issue 18)

        await delete_table(get_connection(), meta_of(cls), missing_ok=missing_ok, wait=wait)


Model.__dynorm_reserved__ = frozenset(
    n for n in vars(Model) if not n.startswith("_") and n != "model_config"
)


async def create_tables(*models: type[Model], **options: Any) -> None:
    """Create the tables of several models (see ``Model.create_table`` for options).

    Models that share a table (single-table design) are created together: one table
    with the union of their indexes and their merged settings; conflicting declarations
    raise SchemaError.
    """
    from dynorm.tables import create_model_tables  # loaded on first use (issue 18)

    await create_model_tables(get_connection(), models, **options)
