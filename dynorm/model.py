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

import asyncio
import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar

import pydantic
from pydantic import ConfigDict
from pydantic._internal._model_construction import ModelMetaclass
from typing_extensions import Self

from dynorm._types import Item
from dynorm.codec.core import MAX_ITEM_BYTES
from dynorm.connection import Connection, get_connection
from dynorm.exceptions import (
    ConditionFailed,
    DynormError,
    ExpressionError,
    InvalidKey,
    ItemNotFound,
    ItemTooLarge,
    RequestRejected,
    SchemaError,
    ValidationFailed,
)
from dynorm.expressions import Condition, Path, UpdateAction
from dynorm.expressions.operations import DeleteItem, GetItem, PutItem, UpdateItem
from dynorm.read.query import Query, Scan
from dynorm.schema import decode as reads
from dynorm.schema import prepare as writes
from dynorm.schema.compile import compile_meta
from dynorm.schema.indexes import GlobalIndex, LocalIndex, _Index
from dynorm.schema.key_conditions import key_query
from dynorm.schema.meta import (
    IndexMeta,
    KeyAttr,
    TableMeta,
    check_update_size,
)
from dynorm.schema.partial import (
    mark_complete,
)
from dynorm.schema.settings import TableSettings
from dynorm.schema.templates import KeyTemplate
from dynorm.tables import StreamView, create_table, delete_table

__all__ = ["BoundIndex", "Model", "ModelMeta"]

log = logging.getLogger(__name__)


class _Flight:
    """The ``update()`` calls of one instance now running (see ``Model.update``)."""

    __slots__ = ("overlapped", "running")

    def __init__(self) -> None:
        self.running = 0
        self.overlapped = False


#: id(instance) -> its running updates; an entry lives only while one runs.
_UPDATES_IN_FLIGHT: dict[int, _Flight] = {}

class ModelMeta(ModelMetaclass):
    """pydantic's metaclass plus class-level attribute paths (``User.age``)."""

    if not TYPE_CHECKING:  # type checkers must see `User.typo` as an error, not as Any

        def __getattr__(cls, name: str) -> Any:
            # Only reached when normal lookup fails: pydantic removes fields from the class.
            paths = cls.__dict__.get("__dynorm_paths__")
            if paths is None and not name.startswith("__") and cls.__dict__.get(
                    "__dynorm_pending__"):
                cls._compile_now()  # declared before its forward references resolved
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


M = TypeVar("M", bound="Model")


class BoundIndex(Generic[M]):
    """A secondary index seen from its model: ``User.by_email``."""

    __slots__ = ("index", "meta", "model")

    def __init__(self, model: type[M], index: _Index, meta: IndexMeta) -> None:
        self.model = model
        self.index = index
        self.meta = meta

    @property
    def name(self) -> str:
        return self.meta.name

    def __repr__(self) -> str:
        return f"<{self.model.__name__}.{self.index.attribute}: {self.index!r}>"

    def query(self, *key_conditions: Condition) -> Query[M]:
        """A Query on this index: ``Score.by_game.query(Score.game == "tetris")``."""
        meta = self.model._meta()
        key, exact = key_query(meta, self.meta, key_conditions)
        query = Query(self.model, key, self.meta)
        return query._refine(exact)

    def scan(self) -> Scan[M]:
        """A Scan of this index."""
        return Scan(self.model, self.meta)


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
    __dynorm_meta__: ClassVar[TableMeta | None] = None
    __dynorm_paths__: ClassVar[dict[str, Path]] = {}
    __dynorm_pending__: ClassVar[bool] = False

    def __init_subclass__(
        cls,
        *,
        table: str | None = None,
        entity: str | None = None,
        entity_attribute: str | None = None,
        store_key_fields: bool | None = None,
        settings: TableSettings | None = None,
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
        super().__init_subclass__(**kwargs)

    @classmethod
    def __pydantic_on_complete__(cls) -> None:
        """pydantic (2.12+) has resolved every annotation: compile the declaration now.

        At class creation for most models; for one whose annotations name a class
        defined later, when ``model_rebuild()`` (explicit or pydantic's own) resolves them.
        """
        cls._compile_now()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if cls.__pydantic_complete__:
            cls._compile_now()  # pydantic before 2.12 has no __pydantic_on_complete__
        else:
            cls.__dynorm_pending__ = True  # compiled once the annotations resolve

    @classmethod
    def _compile_now(cls) -> None:
        """Compile the declaration (TableMeta, codecs, paths) once; SchemaError if wrong."""
        if "__dynorm_paths__" in cls.__dict__:
            return
        if not cls.__pydantic_complete__ and not cls.model_rebuild(raise_errors=False):
            raise SchemaError(
                f"{cls.__name__} names a type that is not defined yet: define it, then call "
                f"{cls.__name__}.model_rebuild()"
            )
        if "__dynorm_paths__" in cls.__dict__:
            return  # model_rebuild() completed the class, and compiled it on the way
        declared = [
            (name, value)
            for klass in reversed(cls.__mro__)
            for name, value in vars(klass).items()
            if isinstance(value, (_Index, KeyTemplate))
        ]
        # A subclass re-declaring an attribute replaces the inherited declaration.
        unique = list(dict(declared).values())
        try:
            meta = compile_meta(
                cls,
                cls.__dynorm_table__,
                [d for d in unique if isinstance(d, _Index)],
                _reserved_names(),
                templates=[d for d in unique if isinstance(d, KeyTemplate) and d.role],
                entity=cls.__dynorm_entity__,
                entity_attr=cls.__dynorm_entity_attr__,
                store_key_fields=cls.__dynorm_store_key_fields__,
            )
        except SchemaError:
            raise
        except DynormError as exc:
            raise SchemaError(f"{cls.__name__}: {exc}") from exc
        cls.__dynorm_meta__ = meta
        codec = meta.codec if meta is not None else None
        if codec is None:
            from dynorm.codec.objects import ObjectCodec

            codec = ObjectCodec(cls)
        cls.__dynorm_paths__ = {
            name: Path((fc.attr,), fc.codec, cls, name) for name, fc in codec.fields.items()
        }
        cls.__dynorm_pending__ = False

    # ------------------------------------------------------------------ declaration

    @classmethod
    def _meta(cls) -> TableMeta:
        meta = cls.__dynorm_meta__
        if meta is None and cls.__dynorm_pending__:
            cls._compile_now()
            meta = cls.__dynorm_meta__
        if meta is None:
            raise SchemaError(
                f"{cls.__name__} has no table: declare it as class {cls.__name__}(Model, "
                'table="...")'
            )
        return meta

    @classmethod
    def _key_path(cls, key: KeyAttr) -> Path:
        """The path of a key attribute (a field's, or a template's computed attribute)."""
        if key.template is None:
            return cls.__dynorm_paths__[key.field]
        return Path((key.attr,), key.codec, cls, None)

    @classmethod
    def _bind_index(cls, index: _Index) -> BoundIndex[Self] | _Index:
        meta = cls.__dict__.get("__dynorm_meta__")
        if meta is None or index.name not in meta.indexes:
            return index
        return BoundIndex(cls, index, meta.indexes[index.name])

    @classmethod
    def table_name(cls) -> str:
        """The physical table name under the current connection (prefix included)."""
        return get_connection().table_name(cls._meta().table_name)

    # ------------------------------------------------------------------ wire form

    def to_item(self, *, store_none: bool = False) -> Item:
        """This instance as a DynamoDB item (wire form), keys and size checked."""
        return self._meta().encode_item(self, store_none=store_none)

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Self:
        """Decode a DynamoDB item (wire form) into an instance, validated.

        Raises:
            ValidationFailed: naming the table, key and fields that do not fit.
        """
        found: Self = reads.from_item(cls, item)
        return found

    @classmethod
    def _from_projection(cls, item: Mapping[str, Any], covered: frozenset[str] = frozenset(),
                         incomplete: frozenset[str] = frozenset()) -> Self:
        """A partial copy of what a read returned (see `dynorm.schema.decode.from_projection`)."""
        partial: Self = reads.from_projection(cls, item, covered, incomplete)
        return partial

    @classmethod
    def _read(cls, item: Mapping[str, Any]) -> Self | None:
        """A whole stored item as an instance; None for another entity's item."""
        found: Self | None = reads.read(cls, item)
        return found

    def _missing_fields(self) -> list[str]:
        return writes.missing_fields(self)

    def _refuse_partial(self, action: str) -> None:
        writes.refuse_partial(self, action)

    @classmethod
    def _validation_failed(cls, item: Mapping[str, Any], exc: pydantic.ValidationError
                           ) -> ValidationFailed:
        return reads.validation_failed(cls, item, exc)

    # ------------------------------------------------------------------ reads

    @classmethod
    def _wire_key(cls, partition: Any, sort: Any, fields: Mapping[str, Any]) -> Item:
        meta = cls._meta()
        if fields:
            if partition is not None or sort is not None:
                raise InvalidKey(f"{cls.__name__}: give the key by position or by name, not both")
            return meta.key_from_fields(fields)
        return meta.key(partition, sort)

    @classmethod
    async def find_one(cls, partition: Any = None, sort: Any = None, *, consistent: bool = False,
                       **key_fields: Any) -> Self | None:
        """The item with this key, or None.

        Args:
            partition: the partition key value.
            sort: the sort key value (required when the table has a sort key).
            consistent: use a strongly consistent read.
            key_fields: the key by field name instead, e.g. ``user_id="u1"``; required
                for keys computed by templates (``Order.find_one(user_id="u1", order_id="o9")``).
        """
        conn = get_connection()
        key = cls._wire_key(partition, sort, key_fields)
        response = await conn.call("GetItem", cls._get_request(conn, key, consistent))
        item = response.get("Item")
        return None if item is None else cls._read(item)

    @classmethod
    def _get_request(cls, conn: Connection, key: Item, consistent: bool) -> dict[str, Any]:
        return GetItem(conn.table_name(cls._meta().table_name), key, consistent).to_request()

    @classmethod
    def _is_own(cls, item: Mapping[str, Any]) -> bool:
        """False for an item of another entity sharing the table (single-table design)."""
        return reads.is_own(cls._meta(), item)

    @classmethod
    def _presence_guard(cls, meta: TableMeta, must_exist: bool) -> Condition | None:
        return writes.presence_guard(cls, meta, must_exist)

    @classmethod
    async def get(cls, partition: Any = None, sort: Any = None, *, consistent: bool = False,
                  **key_fields: Any) -> Self:
        """The item with this key (same arguments as `find_one`).

        Raises:
            ItemNotFound: no item has this key.
        """
        found = await cls.find_one(partition, sort, consistent=consistent, **key_fields)
        if found is None:
            meta = cls._meta()
            key = cls._wire_key(partition, sort, key_fields)
            raise ItemNotFound(
                f"{cls.__name__} ({meta.describe_key(key)}) not found in table "
                f"{meta.table_name!r}",
                model=cls.__name__,
                key=key,
            )
        return found

    async def refresh(self, *, consistent: bool = True) -> Self:
        """Reload this instance's fields from the table (strongly consistent by default).

        Raises:
            ItemNotFound: the item no longer exists.
        """
        meta = self._meta()
        cls = type(self)
        conn = get_connection()
        key = meta.key_of(self)
        response = await conn.call("GetItem", cls._get_request(conn, key, consistent))
        item = response.get("Item")
        fresh = None if item is None else cls._read(item)
        if fresh is None:
            raise ItemNotFound(
                f"{cls.__name__} ({meta.describe_key(key)}) not found in table "
                f"{meta.table_name!r}",
                model=cls.__name__,
                key=key,
            )
        self.__dict__.update(fresh.__dict__)
        mark_complete(self)
        return self

    # ------------------------------------------------------------------ writes

    def _version_guard(self, meta: TableMeta) -> tuple[Condition | None, int | None]:
        return writes.version_guard(self, meta)

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
        await self.before_save()
        conn = get_connection()
        op, current = self._prepare_put(conn.table_name(self._meta().table_name), condition,
                                        store_none)
        await self._write(conn, "PutItem", op.to_request(), self._meta(), current)
        self._written(current)
        await self.after_save()
        return self

    async def move(self, **changes: Any) -> Self:
        """Change fields that make up the table key: delete this item and save it under its
        new key in one transaction (DynamoDB cannot update a key in place).

        ``await order.move(order_id="o10")``. The old item must still be as read (its
        version, when versioned) and no item may exist under the new key.

        Raises:
            TransactionCanceled: the old item changed or the new key is taken.
        """
        from dynorm.write.transaction import transaction  # transactions sit above models

        meta = self._meta()
        self._refuse_partial("move()")
        moved = self.model_copy(update=changes)
        moved = type(self).model_validate(moved.model_dump(by_alias=True))
        if meta.key_of(moved) == meta.key_of(self):
            raise ExpressionError(f"{type(self).__name__}.move(): the key does not change")
        if meta.version is not None:
            moved.__dict__[meta.version.field] = 0  # a new item under the new key
        async with transaction() as tx:
            tx.delete(self, condition=type(self)._key_path(meta.partition).exists())
            tx.save(moved, condition=type(self)._key_path(meta.partition).not_exists())
        return moved

    async def delete(self, *, condition: Condition | None = None) -> None:
        """Delete this item (DeleteItem); deleting a missing item is not an error.

        Raises:
            ConditionFailed: ``condition`` (or the version check) was false.
        """
        await self.before_delete()
        conn = get_connection()
        op, current = self._prepare_delete(conn.table_name(self._meta().table_name), condition)
        await self._write(conn, "DeleteItem", op.to_request(), self._meta(), current)
        await self.after_delete()

    # Building blocks shared with transactions and batches: they prepare the same
    # operations (version guard included) and call _written() once the write succeeded.

    def _prepare_put(self, table: str, condition: Condition | None, store_none: bool = False
                     ) -> tuple[PutItem, int | None]:
        """The PutItem for this instance and the version it was read with (None: unversioned)."""
        return writes.prepare_put(self, table, condition, store_none)

    def _put_json(self, store_none: bool = False) -> tuple[bytes, int | None]:
        """The item of an unconditional put as wire JSON, and the version it was read with."""
        meta = self._meta()
        _, current = self._put_guard(meta)
        data = meta.encode_item_json(self, store_none=store_none,
                                     version=None if current is None else current + 1)
        return data, current

    def _put_guard(self, meta: TableMeta) -> tuple[Condition | None, int | None]:
        return writes.put_guard(self, meta)

    def _prepare_delete(self, table: str, condition: Condition | None
                        ) -> tuple[DeleteItem, int | None]:
        return writes.prepare_delete(self, table, condition)

    def _written(self, version: int | None) -> None:
        """Record a successful put/update: the version this copy now carries."""
        meta = self._meta()
        if version is not None and meta.version is not None:
            self.__dict__[meta.version.field] = version + 1

    # ------------------------------------------------------------------ hooks

    @classmethod
    def _hooked(cls, name: str) -> bool:
        """True when this class overrides the hook ``name`` (batches skip the await if not)."""
        return getattr(cls, name) is not getattr(Model, name)

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

    async def _write(self, conn: Connection, operation: str, request: dict[str, Any],
                     meta: TableMeta, version: int | None) -> dict[str, Any]:
        try:
            return await conn.call(operation, request)
        except ConditionFailed as exc:
            raise type(self)._condition_failed(exc, meta, request, version) from exc

    @classmethod
    def _decode_stored(cls, raw: Mapping[str, Any] | None) -> Any:
        """An item DynamoDB returned with an error: the model where it fits, else raw."""
        return reads.decode_stored(cls, raw)

    @classmethod
    def _condition_failed(cls, exc: ConditionFailed, meta: TableMeta, request: dict[str, Any],
                          version: int | None) -> ConditionFailed:
        return writes.condition_failed(cls, exc, meta, request, version)

    @classmethod
    async def get_many(cls, keys: Iterable[Any], *, consistent: bool = False
                       ) -> list[Self | None]:
        """Items by key (BatchGetItem, 100 per call), in the order given; None where missing.

        Keys are given as for `update_item`: a partition value, a
        ``(partition, sort)`` tuple, or a dict of field values.
        """
        from dynorm.read.batch_get import get_many  # batch reads sit above model in the layers

        return await get_many(cls, keys, consistent=consistent)

    # ------------------------------------------------------------------ queries

    @classmethod
    def query(cls, *key_conditions: Condition) -> Query[Self]:
        """A Query on the table: ``User.query(User.user_id == "u1", User.ts > t0)``.

        The key conditions need equality on the partition key and at most one condition
        on the sort key (``= < <= > >= between begins_with``); they are checked now.
        """
        key, exact = key_query(cls._meta(), None, key_conditions)
        return Query(cls, key)._refine(exact)

    @classmethod
    def scan(cls) -> Scan[Self]:
        """A Scan of the whole table (add ``.filter()``, ``.segments(n)``...)."""
        return Scan(cls)

    # ------------------------------------------------------------------ updates

    @classmethod
    def _check_actions(cls, meta: TableMeta, actions: tuple[UpdateAction, ...]) -> None:
        writes.check_actions(cls, meta, actions)

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
        cls = type(self)
        meta = self._meta()
        conn = get_connection()
        op, current = self._prepare_update(conn.table_name(meta.table_name), actions, condition)
        flight = _UPDATES_IN_FLIGHT.setdefault(id(self), _Flight())
        flight.running += 1
        flight.overlapped = flight.overlapped or flight.running > 1
        cancelled = False
        try:
            response = await cls._send_update(conn, meta, op, current, guarded=True)
            fresh = cls.from_item(response["Attributes"])  # ALL_NEW: the whole item
            version = meta.version.field if meta.version is not None else None
            if version is None or getattr(fresh, version) >= (getattr(self, version, 0) or 0):
                self.__dict__.update(fresh.__dict__)
                mark_complete(self)
        except asyncio.CancelledError:
            cancelled = True
            raise
        finally:
            flight.running -= 1
            if flight.running == 0:
                del _UPDATES_IN_FLIGHT[id(self)]
                if flight.overlapped and meta.version is None and not cancelled:
                    await self._reload_after_overlap()
        return self

    async def _reload_after_overlap(self) -> None:
        """The last of overlapping unversioned updates: the answers may have come out of
        order, so read the item as stored. The updates themselves were made: a failed
        read leaves the newest answer applied and is logged, not raised."""
        try:
            await self.refresh()
        except DynormError as exc:
            log.warning("%s: could not re-read the item after overlapping updates (%s); "
                        "the instance may be older than the stored item", type(self).__name__,
                        exc)

    def _prepare_update(self, table: str, actions: tuple[UpdateAction, ...],
                        condition: Condition | None) -> tuple[UpdateItem, int | None]:
        """The UpdateItem for this instance: the item must exist and carry our version."""
        return writes.prepare_update(self, table, actions, condition)

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
                or a dict of field values for keys computed by templates.
            actions: update actions such as ``Score.score.add(5)``.
            condition: only update if this holds.
            upsert: create the item if it does not exist (DynamoDB's default); by default
                a missing item raises ItemNotFound instead of creating a partial item.
            return_values: which image to return as a model (None for ``"NONE"`` or when
                ``ALL_OLD`` finds no previous item).

        Raises:
            ItemNotFound: the item does not exist and ``upsert`` is False.
        """
        meta = cls._meta()
        if isinstance(key, Mapping):
            known: dict[str, Any] = dict(key)
            wire_key = meta.key_from_fields(known)
        else:
            parts = key if isinstance(key, tuple) else (key,)
            wire_key = meta.key(*parts)
            known = {k.field: v for k, v in zip(meta.key_attrs, parts, strict=False)}
        presence = cls._presence_guard(meta, must_exist=not upsert)
        conn = get_connection()
        op = cls._update_operation(conn.table_name(meta.table_name), wire_key, actions,
                                   writes.both(presence, condition), return_values,
                                   bump=meta.version is not None, known=known,
                                   creating=upsert)
        response = await cls._send_update(conn, meta, op, None, guarded=not upsert)
        attributes = response.get("Attributes")
        return cls.from_item(attributes) if attributes else None

    @classmethod
    def _update_operation(cls, table: str, key: Item, actions: tuple[UpdateAction, ...],
                          condition: Condition | None, return_values: Any, *, bump: bool,
                          known: Mapping[str, Any] | None = None, loaded: bool = False,
                          creating: bool = False) -> UpdateItem:
        return writes.update_operation(cls, table, key, actions, condition, return_values,
                                       bump=bump, known=known, loaded=loaded,
                                       creating=creating)

    @classmethod
    async def _send_update(cls, conn: Connection, meta: TableMeta, op: UpdateItem,
                           version: int | None, *, guarded: bool) -> dict[str, Any]:
        request = op.to_request()
        check_update_size(cls.__name__, request)
        try:
            return await conn.call("UpdateItem", request)
        except RequestRejected as exc:
            if "maximum allowed size" not in exc.message:
                raise
            raise ItemTooLarge(
                f"{cls.__name__} ({meta.describe_key(op.key)}): this update would make the "
                f"item larger than DynamoDB's {MAX_ITEM_BYTES} bytes (400 KB); nothing was "
                "written; store large values elsewhere (e.g. S3) and keep a reference",
                size=None,
            ) from exc
        except ConditionFailed as exc:
            stored = exc.response.get("Item")
            if guarded and (stored is None or not cls._is_own(stored)):
                missing = ItemNotFound(
                    f"{cls.__name__} ({meta.describe_key(op.key)}) not found in table "
                    f"{meta.table_name!r}; update_item(..., upsert=True) creates missing items",
                    model=cls.__name__, key=op.key,
                )
                raise missing from exc
            raise cls._condition_failed(exc, meta, request, version) from exc

    # ------------------------------------------------------------------ tables

    @classmethod
    async def create_table(
        cls,
        *,
        exists_ok: bool = True,
        billing_mode: Literal["PAY_PER_REQUEST", "PROVISIONED"] = "PAY_PER_REQUEST",
        read_capacity: int = 5,
        write_capacity: int = 5,
        stream: StreamView | bool | None = None,
        wait: bool = True,
    ) -> None:
        """Create this model's table from its declaration, wait until ACTIVE, enable TTL.

        Args:
            exists_ok: an existing table is fine (default); False raises ResourceInUse.
            billing_mode: on-demand (default) or ``"PROVISIONED"`` with the capacities.
            stream: enable DynamoDB Streams with this view type (``True`` means
                ``"NEW_AND_OLD_IMAGES"``); anything else is a ValueError.
            wait: wait until the table and its indexes are ACTIVE.
        """
        await create_table(
            get_connection(), cls._meta(), exists_ok=exists_ok, wait=wait,
            billing_mode=billing_mode, read_capacity=read_capacity,
            write_capacity=write_capacity, stream=stream,
        )

    @classmethod
    async def delete_table(cls, *, missing_ok: bool = True, wait: bool = True) -> None:
        """Delete this model's table (a missing table is fine unless ``missing_ok=False``)."""
        await delete_table(get_connection(), cls._meta(), missing_ok=missing_ok, wait=wait)


def _reserved_names() -> frozenset[str]:
    """Names a field may not take: they would hide Model's public methods."""
    return frozenset(n for n in vars(Model) if not n.startswith("_") and n != "model_config")


async def create_tables(*models: type[Model], **options: Any) -> None:
    """Create the tables of several models (see ``Model.create_table`` for options).

    Models that share a table (single-table design) are created together: one table
    with the union of their indexes; conflicting declarations raise SchemaError.
    """
    by_table: dict[str, list[TableMeta]] = {}
    for model in models:
        meta = model._meta()
        by_table.setdefault(meta.table_name, []).append(meta)
    for metas in by_table.values():
        await create_table(get_connection(), metas, **options)
