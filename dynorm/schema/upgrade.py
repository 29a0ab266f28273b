"""Lazy upgrades: old items read as the current model (pure: no I/O).

A model that changes the shape of its items declares a schema version, and for each
older version a function that takes an item one version up:

```python
class User(Model, table="users", schema_version=2):
    user_id: Annotated[str, PartitionKey]
    first: str
    last: str = ""


@dynorm.upgrade(User, from_version=1)
def split_name(item: dict[str, Any]) -> dict[str, Any]:
    first, _, last = item.pop("name").partition(" ")
    return {**item, "first": first, "last": last}
```

An older version may have stored an attribute sealed (``Compressed()``, ``Encrypted()``,
in S3 with ``S3Value``) that the model no longer declares so under that name (renamed,
dropped, stored plain now): the upgrade declares how, ``@dynorm.upgrade(User,
from_version=1, stored={"bio": Compressed()})``, and gets the value opened --
decompressed, decrypted, fetched from S3 by the async reads (``TableMeta.loading``).
Without it, an attribute that looks sealed is refused (`UpgradeFailed`, naming it and
the fix) rather than handed over as its stored bytes.

Every write stores the version in the item (attribute ``_schema``); an item without it
is version 1. Every read of a whole item (get, query, scan, batch and transactional
gets, stream events, the items an update returns) goes through `upgraded()` from the
one read path (`dynorm.schema.decode`): an older item is decoded to plain Python values
(``str``, ``int``/``Decimal``, ``bytes``, ``bool``, ``None``, ``set``, ``list``,
``dict``: `dynorm.codec.decoding.decode_value`), handed to each upgrade in turn, encoded
again and read as usual. Nothing is written back: ``save()`` the instance, or run a
backfill migration (docs/tables.md), to store the upgraded item.

Data is never lost or invented: an item of a *newer* version than the model is refused
(`UpgradeFailed`), never read as if it were current; so is an upgrade that fails, a
missing upgrade, an upgrade that changes the key, and a read of part of an old item (a
projection, an index that does not project every attribute: an upgrade needs the whole
item). Updates (``update()``, ``update_item()``, in transactions) require the stored item
to be at the model's version, so they never mix two shapes in one item.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from dynorm._types import AttributeValue, Item
from dynorm.codec.decoding import decode_value
from dynorm.codec.dynamic import encode_value
from dynorm.exceptions import DynormError, SchemaError, ValidationFailed
from dynorm.security.envelope import SealedAttr, looks_sealed, open_item
from dynorm.security.markers import Compressed, Encrypted, sealing_of
from dynorm.security.stores import ValueStore

if TYPE_CHECKING:
    from dynorm.model import Model
    from dynorm.schema.meta import TableMeta

__all__ = [
    "SCHEMA_ATTRIBUTE",
    "UpgradeFailed",
    "UpgradeFunction",
    "check_schema_version",
    "stored_of",
    "stored_version",
    "upgrade",
    "upgraded",
    "upgrades_of",
]

#: The attribute holding an item's schema version (a number; absent: version 1).
SCHEMA_ATTRIBUTE = "_schema"

UpgradeFunction = Callable[[dict[str, Any]], "dict[str, Any] | None"]
"""Takes an item (attribute name -> plain value) one version up: returns the new item,
or None after changing the one it was given."""

F = TypeVar("F", bound=UpgradeFunction)

_UPGRADES: weakref.WeakKeyDictionary[type, dict[int, UpgradeFunction]] = (
    weakref.WeakKeyDictionary())
#: how each version stored attributes, as its upgrade declares (``stored=``)
_STORED: weakref.WeakKeyDictionary[type, dict[int, dict[str, SealedAttr | None]]] = (
    weakref.WeakKeyDictionary())


class UpgradeFailed(ValidationFailed):
    """A stored item cannot be read as the current version of its model: it is newer
    than the model, an upgrade is missing or failed, or only part of an old item was
    read. Nothing was changed in the table.

    Attributes:
        model, table, key, fields: as `ValidationFailed` (``fields`` is empty).
        stored_version: the item's schema version.
        model_version: the model's ``schema_version``.
    """

    def __init__(self, message: str, *, model: str, table: str, key: dict[str, Any],
                 stored_version: int | None, model_version: int) -> None:
        super().__init__(message, model=model, table=table, key=key, fields=[])
        self.stored_version = stored_version
        self.model_version = model_version


def check_schema_version(model: str, version: Any) -> int:
    """``schema_version=`` as declared: a whole number >= 1 (SchemaError otherwise)."""
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise SchemaError(f"{model}: schema_version must be a whole number >= 1, not "
                          f"{version!r}")
    return version


def upgrade(model: type[Model], *, from_version: int,
            stored: Mapping[str, Any] | None = None) -> Callable[[F], F]:
    """Declare the function that takes ``model``'s items from ``from_version`` to the next.

    ```python
    @dynorm.upgrade(User, from_version=1)
    def split_name(item: dict[str, Any]) -> dict[str, Any]: ...
    ```

    The function gets the stored item as plain values keyed by attribute name (keys
    included) and returns the item of the next version (or None after changing the one
    it got). It runs on every read of an older item until the item is saved again, so it
    must be quick, synchronous and deterministic, and must not change the key. The
    function is returned unchanged (call it in tests, or from a migration).

    Args:
        model: the model class (it declares ``schema_version``).
        from_version: the version the function upgrades from.
        stored: how items at ``from_version`` stored attributes that the model no
            longer declares so under that name: attribute name -> the field's markers
            then (``Compressed()``, ``Encrypted(keyring)``, an ``S3Value``, or a tuple
            of them, as in ``Annotated[...]``), or None to hand the stored value over
            as it is (plain bytes, or an attribute the function drops). The function
            gets each declared value opened (decompressed, decrypted, fetched from S3
            by the async reads); an undeclared attribute that looks sealed raises
            `UpgradeFailed` instead of reaching it as stored bytes.

    Raises:
        SchemaError: the model declares no ``schema_version``, ``from_version`` is not
            below it, an upgrade from that version is declared already, or ``stored``
            names a key or holds something other than those markers.
    """
    name = getattr(model, "__name__", repr(model))
    current = getattr(model, "__dynorm_schema_version__", None)
    if current is None:
        raise SchemaError(
            f"{name} declares no schema version: declare it, e.g. class {name}(Model, "
            "table=..., schema_version=2), before its upgrades")
    if isinstance(from_version, bool) or not isinstance(from_version, int) or not (
            1 <= from_version < current):
        raise SchemaError(
            f"{name}: upgrade from_version must be a whole number from 1 to {current - 1} "
            f"({name} is at schema_version={current}), not {from_version!r}")

    declared = _declared(name, model, from_version, stored)

    def register(function: F) -> F:
        if not callable(function):
            raise SchemaError(f"{name}: @upgrade(from_version={from_version}) decorates a "
                              f"function, not {function!r}")
        own = _UPGRADES.setdefault(model, {})
        if from_version in own:
            raise SchemaError(
                f"{name}: two upgrades from version {from_version}: "
                f"{_name(own[from_version])} and {_name(function)}")
        own[from_version] = function
        _STORED.setdefault(model, {})[from_version] = declared
        _refresh(model)
        return function

    return register


def _declared(name: str, model: type[Model], version: int, stored: Any
              ) -> dict[str, SealedAttr | None]:
    """``stored=`` checked: attribute -> how items at ``version`` sealed it (None: plain)."""
    if stored is None:
        return {}
    where = f"{name}: @upgrade(from_version={version}, stored=...)"
    if not isinstance(stored, Mapping):
        raise SchemaError(f"{where} takes a dict of attribute name -> markers, not "
                          f"{stored!r}")
    meta = model.__dict__.get("__dynorm_meta__")
    reserved = {SCHEMA_ATTRIBUTE}
    if meta is not None:
        reserved |= {k.attr for k in meta.key_attrs} | {meta.entity_attr}
        reserved |= {i.partition.attr for i in meta.indexes.values()}
        reserved |= {i.sort.attr for i in meta.indexes.values() if i.sort is not None}
    out: dict[str, SealedAttr | None] = {}
    for attr, markers in stored.items():
        if not isinstance(attr, str) or not attr:
            raise SchemaError(f"{where}: {attr!r} is not an attribute name")
        if attr in reserved:
            raise SchemaError(f"{where}: {attr!r} is a key, an index key or dynorm's own "
                              "attribute: it is never stored sealed")
        if markers is None:
            out[attr] = None
            continue
        listed = list(markers) if isinstance(markers, (tuple, list)) else [markers]
        wrong = [m for m in listed if not (isinstance(m, (Encrypted, Compressed, ValueStore))
                                           or m is Compressed)]
        if wrong or not listed:
            raise SchemaError(
                f"{where}: {attr!r} must be Compressed(), Encrypted(keyring), an S3Value, "
                f"a tuple of them or None, not {markers!r}")
        encrypted, compressed, store = sealing_of(listed)
        if encrypted is not None and store is not None:
            raise SchemaError(f"{where}: {attr!r}: Encrypted and {store!r} together are "
                              "never stored by dynorm")
        out[attr] = SealedAttr(
            attr, attr, encrypted.keyring if encrypted is not None else None,
            compressed.algorithm if compressed is not None else None, None, store, None,
            bool((encrypted is not None and encrypted.accept_plaintext)
                 or (compressed is not None and compressed.accept_plaintext)),
            functools.partial(_at_version, version))
    return out


def _at_version(version: int, item: Mapping[str, AttributeValue]) -> bool:
    return stored_version(item) == version


def stored_of(model: type[Any]) -> dict[int, dict[str, SealedAttr | None]]:
    """How ``model``'s older versions stored attributes, as their upgrades declare
    (``stored=``), by version (a subclass's own upgrades win over its bases')."""
    found: dict[int, dict[str, SealedAttr | None]] = {}
    for klass in reversed(model.__mro__):
        found.update(_STORED.get(klass, {}))
    return {version: dict(attrs) for version, attrs in found.items() if attrs}


def _refresh(model: type[Model]) -> None:
    """Hand ``stored_of()`` to the compiled metadata of ``model`` and its subclasses (a
    model compiled later gets it from `dynorm.schema.compile`)."""
    todo: list[type] = [model]
    while todo:
        klass = todo.pop()
        todo.extend(klass.__subclasses__())
        meta = klass.__dict__.get("__dynorm_meta__")
        if meta is not None:
            meta.stored_before.clear()
            meta.stored_before.update(stored_of(klass))
            meta.__dict__.pop("_loading", None)


def upgrades_of(model: type[Model]) -> dict[int, UpgradeFunction]:
    """``model``'s upgrade functions by the version they upgrade from (a subclass's own
    win over its bases')."""
    found: dict[int, UpgradeFunction] = {}
    for klass in reversed(model.__mro__):
        found.update(_UPGRADES.get(klass, {}))
    return found


def stored_version(item: Mapping[str, AttributeValue]) -> int | None:
    """The schema version an item carries: 1 when it has none; None when it is not a
    whole number >= 1."""
    av = item.get(SCHEMA_ATTRIBUTE)
    if av is None:
        return 1
    text = av.get("N") if isinstance(av, Mapping) else None
    if not isinstance(text, str) or not text.isdigit() or int(text) < 1:
        return None
    return int(text)


def _name(function: Any) -> str:
    return str(getattr(function, "__qualname__", None) or repr(function))


def _failed(cls: type[Model], meta: TableMeta, item: Mapping[str, AttributeValue],
            stored: int | None, what: str) -> UpgradeFailed:
    key = {k.attr: item[k.attr] for k in meta.key_attrs if k.attr in item}
    return UpgradeFailed(
        f"{cls.__name__} ({meta.describe_key(key)}) in table {meta.table_name!r}: {what}",
        model=cls.__name__, table=meta.table_name, key=key, stored_version=stored,
        model_version=meta.schema_version or 1)


def upgraded(cls: type[Model], meta: TableMeta, item: Mapping[str, AttributeValue], *,
             whole: bool = True) -> Mapping[str, AttributeValue]:
    """``item`` as the current version of ``cls`` (the item itself when it is current).

    Args:
        cls: the model class (``meta.schema_version`` is set).
        meta: its compiled declaration.
        item: the stored item (wire form).
        whole: the read returned the whole item (False: a projection or a partial
            index, which cannot be upgraded).

    Raises:
        UpgradeFailed: see the module.
        DecryptionFailed: an attribute the upgrade declares stored sealed
            (``stored=``) does not open (altered, a missing S3 object, not fetched).
    """
    current = meta.schema_version or 1
    stored = stored_version(item)
    if stored == current:
        return item
    if stored is None:
        raise _failed(cls, meta, item, None,
                      f"the schema version {item.get(SCHEMA_ATTRIBUTE)} is not a whole "
                      "number >= 1; the item was not written by dynorm's schema versions")
    if stored > current:
        raise _failed(cls, meta, item, stored,
                      f"the item is at schema version {stored}, newer than "
                      f"{cls.__name__}'s schema_version={current} (written by a newer "
                      "release of the model); it is not read as an older version, which "
                      "would lose what it holds: read it with the newer model")
    if not whole:
        raise _failed(cls, meta, item, stored,
                      f"the item is at schema version {stored} (the model at {current}) "
                      "and this read returned only part of it (a projection, or an index "
                      "that does not project every attribute); an upgrade needs the whole "
                      "item: read whole items (no project(); full() for an index) or "
                      "backfill the table with a migration (docs/tables.md)")
    functions = upgrades_of(cls)
    declared = meta.stored_before.get(stored, {})
    opening = tuple(spec for spec in declared.values() if spec is not None)
    secret = any(spec.keyring is not None for spec in (*meta.sealed, *opening))
    if opening:  # DecryptionFailed naming the attribute when one does not open
        item = open_item(cls.__name__, meta.table_name, tuple(k.attr for k in meta.key_attrs),
                         opening, item)
    _refuse_sealed(cls, meta, item, stored, declared)
    plain: dict[str, Any] = {name: decode_value(av) for name, av in item.items()}
    for version in range(stored, current):
        function = functions.get(version)
        if function is None:
            raise _failed(cls, meta, item, stored,
                          f"no upgrade from schema version {version} to {version + 1}: "
                          f"declare it with @dynorm.upgrade({cls.__name__}, "
                          f"from_version={version})")
        what = (f"upgrade {_name(function)} from schema version {version} to {version + 1} "
                f"(the item is at {stored}, {cls.__name__} at {current})")
        try:
            result = function(plain)
        except Exception as exc:  # the user's function: named with the item
            if not secret:
                raise _failed(cls, meta, item, stored,
                              f"{what} raised {type(exc).__name__}: {exc}") from exc
            # It saw decrypted values, which its message may repeat (int("pin-4711")):
            # neither the error nor its cause shows it; the cause keeps the frames.
            hidden = RuntimeError(f"{type(exc).__name__} (message not shown)")
            raise _failed(cls, meta, item, stored,
                          f"{what} raised {type(exc).__name__} (its message is not shown: "
                          "the item holds decrypted values)"
                          ) from hidden.with_traceback(exc.__traceback__)
        if result is not None:
            plain = result
        if not isinstance(plain, dict):
            raise _failed(cls, meta, item, stored,
                          f"{what} returned a {type(plain).__name__}, not the item (a dict) "
                          "or None")
    plain.pop(SCHEMA_ATTRIBUTE, None)
    try:
        out: Item = {name: encode_value(value) for name, value in plain.items()}
    except DynormError as exc:
        raise _failed(cls, meta, item, stored,
                      f"the upgrades from schema version {stored} made a value DynamoDB "
                      f"cannot hold: {'(not shown: decrypted)' if secret else exc}"
                      ) from (None if secret else exc)
    for key in meta.key_attrs:
        if out.get(key.attr) != item.get(key.attr):
            raise _failed(cls, meta, item, stored,
                          f"the upgrades from schema version {stored} changed the key "
                          f"attribute {key.attr!r} ({item.get(key.attr)} -> "
                          f"{out.get(key.attr)}); an upgrade cannot move an item")
    out[SCHEMA_ATTRIBUTE] = {"N": str(current)}
    return out


_EXAMPLE = {"compressed": "Compressed()", "encrypted": "Encrypted(keyring)",
            "stored in S3": 'S3Value("bucket")'}


def _refuse_sealed(cls: type[Model], meta: TableMeta, item: Mapping[str, AttributeValue],
                   stored: int, declared: Mapping[str, SealedAttr | None]) -> None:
    """UpgradeFailed for an attribute of an old item that still looks sealed (compressed,
    encrypted, a reference to S3) and that no ``stored=`` declares: the upgrade would
    get its stored bytes as the value (the model's own sealed attributes are opened
    already, `TableMeta.open_sealed`)."""
    skip = {SCHEMA_ATTRIBUTE, meta.entity_attr, *(k.attr for k in meta.key_attrs),
            *(s.attr for s in meta.sealed), *declared,
            *(k.attr for i in meta.indexes.values() for k in (i.partition, i.sort) if k)}
    for name, av in item.items():
        what = None if name in skip else looks_sealed(av)
        if what is None:
            continue
        raise _failed(
            cls, meta, item, stored,
            f"its attribute {name!r} (schema version {stored}) looks {what} by dynorm, "
            f"and {cls.__name__} does not declare it so: the upgrade would get the stored "
            "bytes, not the value. Declare how version "
            f"{stored} stored it: @dynorm.upgrade({cls.__name__}, from_version={stored}, "
            f"stored={{{name!r}: {_EXAMPLE[what]}}}), or stored={{{name!r}: None}} if it "
            "holds plain bytes (or the upgrade drops it)")
