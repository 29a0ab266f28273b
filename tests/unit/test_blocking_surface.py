"""Never drift (issue 19): every public async operation has a blocking twin with the
same parameters, and the types mypy sees name exactly the twins that exist.

The async surface is enumerated, not listed: the coroutine functions and async context
manager factories of ``dynorm.__all__``, the public async methods of the classes there
(with `Query` and `Scan`, whose readers are reached through ``Model.query()``). A class
with async methods is either mapped to its twin here or excluded with a reason: a new one
fails ``test_every_class_with_async_methods_is_accounted_for`` until it is one or the
other.
"""

from __future__ import annotations

import ast
import inspect
import typing
from pathlib import Path
from typing import Annotated, Any

import pytest

import dynorm
from dynorm import blocking
from dynorm.blocking._twins import HOOK_PREFIXES, async_surface, model_surface, read_surface
from dynorm.collection import CollectionQuery
from dynorm.read.query import Query, Scan
from dynorm.types import BatchWriter, ShardedQuery, Transaction

ROOT = Path(__file__).resolve().parents[2]

#: Classes whose async methods have blocking twins: class -> its twin class(es).
TWINS: dict[type, tuple[type, ...]] = {
    dynorm.Model: (blocking.ModelTwin, blocking.InstanceTwin),
    Query: (blocking.ReadTwin,),
    Scan: (blocking.ReadTwin,),
    ShardedQuery: (blocking.ReadTwin,),
    Transaction: (blocking.BlockingTransaction,),
    BatchWriter: (blocking.BlockingBatch,),
    dynorm.Connection: (blocking.BlockingConnection,),
    CollectionQuery: (blocking.CollectionTwin,),
}

#: Classes with async methods and no twin, and why.
NO_TWIN = {
    "StreamListener": "stays async; docs/sync.md runs it in a thread or with python -m",
    "CheckpointStore": "the stream listener's, awaited by it",
    "InMemoryCheckpoints": "the stream listener's, awaited by it",
    "TableCheckpoints": "the stream listener's, awaited by it",
    "Transport": "a transport is implemented, not called: Connection calls it",
    "MockTransport": "a transport is implemented, not called: Connection calls it",
    "RegionRouter": "a transport (one per multi-Region connection): Connection calls it",
    "Keyring": "a keyring is implemented, not called: encrypted fields call it",
    "LocalKeyring": "a keyring is implemented, not called: encrypted fields call it",
    "KmsKeyring": "a keyring is implemented, not called: encrypted fields call it",
    "ValueStore": "a value store is implemented, not called: its fields call it",
    "S3Value": "a value store is a field marker: its fields' reads and writes call it",
}

#: Async methods that are not operations: the hooks dynorm awaits, dunder protocols
#: whose twins are the sync protocols (checked separately).
_PROTOCOLS = {"__aenter__": "__enter__", "__aexit__": "__exit__", "__aiter__": "__iter__"}


def _function(value: Any) -> Any:
    return value.__func__ if isinstance(value, (classmethod, staticmethod)) else value


def _is_async(value: Any) -> bool:
    function = inspect.unwrap(_function(value))
    return inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function)


def async_methods(cls: type) -> set[str]:
    names = set()
    for name in dir(cls):
        if name.startswith("_") and name not in _PROTOCOLS:
            continue
        if name.startswith(HOOK_PREFIXES) and issubclass(cls, dynorm.Model):
            continue
        value = inspect.getattr_static(cls, name)
        if _is_async(value) or (name == "__aiter__" and callable(value)):
            names.add(name)
    return names


def exported() -> dict[str, Any]:
    import dynorm.types

    return {**{name: getattr(dynorm, name) for name in dynorm.__all__},
            **{name: getattr(dynorm.types, name) for name in dynorm.types.__all__}}


def _makes_async_context(function: Any) -> bool:
    """A factory of async context managers: ``transaction()``, ``connect()``, ``local()``."""
    if inspect.isasyncgenfunction(inspect.unwrap(function)):
        return True
    try:
        returned = typing.get_type_hints(function).get("return")
    except Exception:  # pragma: no cover - an unresolvable annotation is no factory
        return False
    return isinstance(returned, type) and hasattr(returned, "__aenter__")


def module_operations() -> dict[str, Any]:
    """The async operations among dynorm's exported functions."""
    ops = {}
    for name, value in exported().items():
        if inspect.isfunction(value) and (_is_async(value) or _makes_async_context(value)):
            ops[name] = value
    return ops


def params(function: Any, *, drop_first: bool = False) -> list[tuple[str, Any, Any, str]]:
    """(name, kind, default, annotation text) of each parameter."""
    values = list(inspect.signature(function).parameters.values())
    if drop_first:
        values = values[1:]
    return [(p.name, p.kind, p.default, str(p.annotation)) for p in values]


# ---------------------------------------------------------------------------- tests


def test_the_enumeration_finds_the_known_operations() -> None:
    """Guards the enumeration itself: a broken one would make every test here vacuous."""
    assert {"get_many", "batch_get", "transact_get", "create_tables", "transaction", "batch",
            "connect", "configure", "close", "local"} <= set(module_operations())
    assert {"get", "find_one", "save", "update", "update_item", "delete", "refresh",
            "create_table", "delete_table"} <= async_methods(dynorm.Model)
    assert {"to_list", "first", "count", "page", "pages", "__aiter__"} <= async_methods(Query)
    assert {"commit", "__aenter__", "__aexit__"} <= async_methods(Transaction)


def test_every_class_with_async_methods_is_accounted_for() -> None:
    found = {name for name, value in exported().items()
             if isinstance(value, type) and async_methods(value)}
    mapped = {cls.__name__ for cls in TWINS}
    assert found - mapped - set(NO_TWIN) == set(), (
        "classes with async methods and neither a blocking twin (TWINS) nor a reason "
        "for none (NO_TWIN)")


@pytest.mark.parametrize("name", sorted(module_operations()))
def test_every_module_operation_has_a_twin_with_its_parameters(name: str) -> None:
    twin = getattr(blocking, name, None)
    assert twin is not None, f"dynorm.{name} has no twin dynorm.blocking.{name}"
    assert params(twin) == params(getattr(dynorm, name)), name


@pytest.mark.parametrize("cls", list(TWINS), ids=lambda c: c.__name__)
def test_every_async_method_has_a_twin_with_its_parameters(cls: type) -> None:
    twins = TWINS[cls]
    for name in sorted(async_methods(cls)):
        own = _PROTOCOLS.get(name, name)
        holder = next((t for t in twins if own in vars(t) or hasattr(t, own)), None)
        assert holder is not None, f"{cls.__name__}.{name} has no blocking twin"
        if name in _PROTOCOLS:
            continue  # __enter__/__exit__/__iter__: the sync protocol itself
        static = inspect.getattr_static(cls, name)
        bound = isinstance(static, classmethod)
        expected = params(getattr(cls, name), drop_first=not bound)
        assert params(getattr(holder, own), drop_first=True) == expected, f"{cls.__name__}.{name}"


def test_model_twins_split_class_and_instance_side() -> None:
    surface = model_surface()
    assert set(surface["class"]) == {n for n in async_methods(dynorm.Model)
                                     if isinstance(inspect.getattr_static(dynorm.Model, n),
                                                   classmethod)}
    for name in surface["instance"]:
        assert hasattr(blocking.InstanceTwin, name) and not hasattr(blocking.ModelTwin, name)
    assert read_surface().keys() | {"__aiter__"} == async_methods(Query) | async_methods(Scan)


def test_hooks_have_no_twin() -> None:
    hooks = [n for n in vars(dynorm.Model) if n.startswith(HOOK_PREFIXES)]
    assert sorted(hooks) == ["after_delete", "after_save", "before_delete", "before_save"]
    assert not any(hasattr(blocking.InstanceTwin, h) for h in hooks)


# ------------------------------------------------------- what mypy sees is what exists


def _typed_names(path: Path, cls_name: str) -> set[str]:
    """The attributes the ``TYPE_CHECKING`` constructor of ``cls_name`` declares."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    cls = next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == cls_name)
    names = set()
    for node in ast.walk(cls):
        if isinstance(node, ast.FunctionDef) and node.name == "__init__":
            for stmt in ast.walk(node):
                if isinstance(stmt, ast.Assign):
                    for target in stmt.targets:
                        if (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)
                                and target.value.id == "self" and not target.attr.startswith("_")):
                            names.add(target.attr)
    return names


@pytest.mark.parametrize(("module", "twin", "expected"), [
    ("_twins.py", "ModelTwin", lambda: set(model_surface()["class"])),
    ("_twins.py", "InstanceTwin", lambda: set(model_surface()["instance"])),
    ("_twins.py", "ReadTwin", lambda: set(read_surface())),
    ("_twins.py", "CollectionTwin", lambda: set(async_surface(CollectionQuery))),
    ("_writes.py", "BlockingTransaction",
     lambda: {n for n in dir(Transaction) if not n.startswith("_")
              and inspect.isfunction(inspect.getattr_static(Transaction, n))}),
    ("_writes.py", "BlockingBatch",
     lambda: {n for n in dir(BatchWriter) if not n.startswith("_")
              and inspect.isfunction(inspect.getattr_static(BatchWriter, n))}),
])
def test_the_typed_twins_are_the_twins_that_exist(module: str, twin: str,
                                                   expected: Any) -> None:
    """The ``TYPE_CHECKING`` constructors (what mypy reads) declare exactly the methods
    made at run time: a new async operation fails here until it is typed too."""
    typed = _typed_names(ROOT / "dynorm" / "blocking" / module, twin)
    assert typed == expected(), f"{twin}: add to (or drop from) its TYPE_CHECKING __init__"


def test_twins_keep_no_model_class_alive() -> None:
    import gc
    import weakref

    def declare() -> weakref.ref[type[dynorm.Model]]:
        class Temporary(dynorm.Model, table="blocking-temporary"):
            key: Annotated[str, dynorm.PartitionKey]

        assert isinstance(Temporary.sync, blocking.ModelTwin)
        assert isinstance(Temporary(key="k").sync, blocking.InstanceTwin)
        assert isinstance(Temporary.query(Temporary.key == "k").sync, blocking.ReadTwin)
        return weakref.ref(Temporary)

    ref = declare()
    gc.collect()
    assert ref() is None
