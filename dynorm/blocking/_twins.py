"""The blocking twins, made from the async API rather than written beside it.

Which operations have a twin is read from the async classes when this module is imported
(`model_surface`, `read_surface`): every public ``async def`` of `Model` (the hooks
aside) and every reader of a query or scan. Each twin calls the async operation of the
same name, on the same class or instance, with the same arguments, and runs it on the
current blocking connection: a new async operation has its twin at once, and an override
in a model subclass is what its twin runs.

Type checkers read the ``TYPE_CHECKING`` constructors instead: each twin is typed from
its async operation (``blocking(model.get)``: the same parameters, the awaited result),
so a changed signature changes the twin's type too. A test checks that these
constructors name exactly the operations found at run time.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from typing_extensions import ParamSpec

from dynorm import connection as _async
from dynorm._sync import FACTORIES, MODEL_TWINS
from dynorm.blocking import _connection as _connections
from dynorm.blocking._connection import BlockingConnection, _current, current
from dynorm.collection import CollectionQuery
from dynorm.model import Model
from dynorm.read.query import Query, Scan

if TYPE_CHECKING:
    from dynorm.read.builder import _Read

__all__ = [
    "CollectionTwin",
    "InstanceTwin",
    "ModelTwin",
    "ReadTwin",
    "async_surface",
    "blocking",
    "blocking_iter",
    "model_surface",
    "on_portal",
    "read_surface",
    "run",
]

_copy_context = contextvars.copy_context
_set_async_current = _async._current.set

P = ParamSpec("P")
T = TypeVar("T")
M = TypeVar("M", bound=Model)

#: Async methods of Model that dynorm calls, not the user: no blocking twin.
HOOK_PREFIXES = ("before_", "after_")


# ---------------------------------------------------------------------------- surfaces


def _kind(value: Any) -> str | None:
    """``"coroutine"``, ``"iterator"`` (an async generator) or None (not async)."""
    function = value.__func__ if isinstance(value, (classmethod, staticmethod)) else value
    if inspect.iscoroutinefunction(function):
        return "coroutine"
    if inspect.isasyncgenfunction(function):
        return "iterator"
    return None


def model_surface() -> dict[str, dict[str, str]]:
    """Model's public async operations: ``{"class": {name: kind}, "instance": {...}}``."""
    surface: dict[str, dict[str, str]] = {"class": {}, "instance": {}}
    for name, value in vars(Model).items():
        if name.startswith("_") or name.startswith(HOOK_PREFIXES):
            continue
        kind = _kind(value)
        if kind is not None:
            side = "class" if isinstance(value, classmethod) else "instance"
            surface[side][name] = kind
    return surface


def async_surface(*classes: type) -> dict[str, str]:
    """The public async methods of ``classes``: name -> kind."""
    surface: dict[str, str] = {}
    for cls in classes:
        for name in dir(cls):
            if name.startswith("_"):
                continue
            kind = _kind(inspect.getattr_static(cls, name))
            if kind is not None:
                surface[name] = kind
    return surface


def read_surface() -> dict[str, str]:
    """The readers of queries and scans (``async for`` aside): name -> kind."""
    return async_surface(Query, Scan)


# ---------------------------------------------------------------------------- wrappers


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run any dynorm coroutine on the current blocking connection and return its result
    (``dynorm.blocking.run(user.promote())`` for an async method of your own)."""
    return current("dynorm.blocking.run").run(coro)


def blocking(fn: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, T]:
    """The blocking twin of a coroutine function: the same parameters, the awaited result.

    ``get_many = blocking(dynorm.get_many)``: each call runs ``dynorm.get_many(...)`` on the
    current blocking connection. Type checkers see the twin's signature from ``fn``'s.
    """
    label = fn.__qualname__

    @functools.wraps(fn)
    def twin(*args: P.args, **kwargs: P.kwargs) -> T:
        return current(label).run(fn(*args, **kwargs), twin_of=label)

    return twin


def blocking_iter(fn: Callable[P, AsyncIterator[T]]) -> Callable[P, Iterator[T]]:
    """The blocking twin of an async generator function: a plain iterator."""
    label = fn.__qualname__

    @functools.wraps(fn)
    def twin(*args: P.args, **kwargs: P.kwargs) -> Iterator[T]:
        return current(label).iterate(fn(*args, **kwargs), twin_of=label)

    return twin


def on_portal(fn: Callable[P, T]) -> Callable[P, T]:
    """A plain method of a live async object (a batch's ``save()``), called on the loop
    that owns the object: for static typing (the runtime twins are made below)."""
    return fn


async def _call(fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
    return fn(*args, **kwargs)


def _twin_method(name: str, kind: str, signature: inspect.Signature | None,
                 doc: str | None, owner: str) -> Callable[..., Any]:
    """A method of a twin class calling ``self._target.<name>`` on the connection."""
    # (self._label, name): the label naming the call is made only for an error.
    if kind == "iterator":
        def method(self: _Twin, *args: Any, **kwargs: Any) -> Any:
            return self._connection(name).iterate(
                getattr(self._target, name)(*args, **kwargs), twin_of=(self._label, name))
    elif kind == "coroutine":  # the hot path: BlockingConnection._run_twin inlined
        def method(self: _Twin, *args: Any, **kwargs: Any) -> Any:
            connection = _current.get() or _connections._configured or self._connection(
                name)
            coro = getattr(self._target, name)(*args, **kwargs)
            portal = connection._portal
            if portal is None:
                return connection.run(coro)  # raises ConnectionNotConfigured
            context = _copy_context()
            context.run(_set_async_current, connection._connection)
            return portal.run(coro, context, (self._label, name))
    else:  # a plain method of an object that lives on the loop
        def method(self: _Twin, *args: Any, **kwargs: Any) -> Any:
            return self._connection(name)._run_twin(
                _call(getattr(self._target, name), args, kwargs), (self._label, name))
    method.__name__ = name
    method.__qualname__ = f"{owner}.{name}"
    method.__doc__ = doc
    if signature is not None:
        method.__signature__ = signature  # type: ignore[attr-defined]
    return method


def _with_self(signature: inspect.Signature) -> inspect.Signature:
    """``signature`` of a bound method, as the signature of a twin's (unbound) method."""
    own = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)
    return signature.replace(parameters=[own, *signature.parameters.values()])


def generate(twin: type[_Twin], targets: tuple[type, ...], names: dict[str, str], *,
             bound: bool) -> None:
    """Give ``twin`` one method per name, documented and signed as the first of
    ``targets`` that has it (``bound``: classmethods, whose signature has no ``cls``)."""
    for name, kind in names.items():
        target = next(t for t in targets if hasattr(t, name))
        function = getattr(target, name)
        signature = inspect.signature(function)
        if not bound:  # drop the target's self: the twin's self takes its place
            signature = signature.replace(parameters=list(signature.parameters.values())[1:])
        doc = (f"Blocking twin of [`{target.__name__}.{name}`]"
               f"[{target.__module__}.{target.__qualname__}.{name}].")
        setattr(twin, name, _twin_method(name, kind, _with_self(signature), doc,
                                         twin.__qualname__))


class _Twin:
    """A target (a model class, an instance, a query) seen through blocking methods."""

    if TYPE_CHECKING:
        _target: Any
    else:
        __slots__ = ("_target",)

        def __init__(self, target: Any) -> None:
            self._target = target

    def _label(self, name: str) -> str:
        return f"{type(self._target).__name__}.sync.{name}"

    def _connection(self, name: str) -> BlockingConnection:
        """The current blocking connection for operation ``name`` (`current()`)."""
        return _current.get() or _connections._configured or current(self._label(name))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self._target!r}>"


# ---------------------------------------------------------------------------- models


class ModelTwin(_Twin, Generic[M]):
    """``User.sync``: the model's class-side operations, blocking.

    ``User.sync.get("u1")``, ``User.sync.find_one("u1")``, ``User.sync.get_many(keys)``,
    ``User.sync.update_item(key, *actions)``, ``User.sync.create_table()``,
    ``User.sync.delete_table()``: the same arguments and results as the async ones.
    """

    if TYPE_CHECKING:
        def __init__(self, model: type[M]) -> None:
            self.find_one = blocking(model.find_one)
            self.get = blocking(model.get)
            self.get_many = blocking(model.get_many)
            self.update_item = blocking(model.update_item)
            self.create_table = blocking(model.create_table)
            self.delete_table = blocking(model.delete_table)
            self._target = model

    def _label(self, name: str) -> str:
        return f"{self._target.__name__}.sync.{name}"

    def table_name(self) -> str:
        """The physical table name under the current blocking connection (prefix
        included): `Model.table_name` in its context."""
        name: str = current(self._label("table_name")).context().run(self._target.table_name)
        return name


class InstanceTwin(_Twin, Generic[M]):
    """``user.sync``: an instance's operations, blocking.

    ``user.sync.save()``, ``user.sync.update(*actions)``, ``user.sync.delete()``,
    ``user.sync.refresh()``, ``user.sync.move(**changes)``: they change ``user`` as the
    async ones do and return what they return.
    """

    if TYPE_CHECKING:
        def __init__(self, instance: M) -> None:
            self.refresh = blocking(instance.refresh)
            self.save = blocking(instance.save)
            self.move = blocking(instance.move)
            self.delete = blocking(instance.delete)
            self.update = blocking(instance.update)
            self._target = instance


def _model_twin(instance: Model | None, owner: type[M]) -> Any:
    # A new (one-slot) twin per access: a cache of them would keep model classes alive.
    # Made without a call of __init__: this runs on every blocking call.
    if instance is None:
        twin: _Twin = _new(ModelTwin)
        twin._target = owner
    else:
        twin = _new(InstanceTwin)
        twin._target = instance
    return twin


_new = object.__new__


# ---------------------------------------------------------------------------- reads


class ReadTwin(_Twin, Generic[M]):
    """``query.sync`` / ``scan.sync``: the readers of a query or scan, blocking.

    ``for item in q.sync:``, ``q.sync.to_list()``, ``q.sync.first()``, ``q.sync.count()``,
    ``q.sync.page(size, cursor)``, ``for page in q.sync.pages():``. Iterating reads one
    DynamoDB response per step on the connection's loop, as ``async for`` does.
    """

    if TYPE_CHECKING:
        def __init__(self, read: _Read[M]) -> None:
            self.count = blocking(read.count)
            self.first = blocking(read.first)
            self.page = blocking(read.page)
            self.pages = blocking_iter(read.pages)
            self.to_list = blocking(read.to_list)
            self._target = read

    def __iter__(self) -> Iterator[M]:
        """Every matching item (up to ``limit``), a DynamoDB response at a time."""
        label = self._label("__iter__")
        pages = current(label).iterate(self._target._decoded_pages(), twin_of=label)
        try:
            for page in pages:
                yield from page
        finally:
            pages.close()


def _read_twin(read: _Read[Any], owner: Any) -> ReadTwin[Any]:
    return ReadTwin(read)


# ---------------------------------------------------------------------------- collections


class CollectionTwin(_Twin):
    """``query.sync`` of a [`Collection`][dynorm.Collection]'s query: its readers,
    blocking: ``Collection(User, Order).query(user_id="u1").sync.fetch()``,
    ``for item in query.sync:``."""

    if TYPE_CHECKING:
        def __init__(self, query: CollectionQuery) -> None:
            self.fetch = blocking(query.fetch)
            self.first = blocking(query.first)
            self.pages = blocking_iter(query.pages)
            self.to_list = blocking(query.to_list)
            self._target = query

    def __iter__(self) -> Iterator[Model]:
        """Every item of the partition (up to ``limit``), a DynamoDB response at a time."""
        label = self._label("__iter__")
        pages = current(label).iterate(self._target.pages(), twin_of=label)
        try:
            for page in pages:
                yield from page
        finally:
            pages.close()


def _collection_twin(query: CollectionQuery, owner: Any) -> CollectionTwin:
    return CollectionTwin(query)


# The async operations found now are the twins' methods.
_models = model_surface()
generate(ModelTwin, (Model,), _models["class"], bound=True)
generate(InstanceTwin, (Model,), _models["instance"], bound=False)
generate(ReadTwin, (Query, Scan), read_surface(), bound=False)
generate(CollectionTwin, (CollectionQuery,), async_surface(CollectionQuery), bound=False)
FACTORIES["model"] = _model_twin
MODEL_TWINS[:] = [ModelTwin, InstanceTwin]
FACTORIES["read"] = _read_twin
FACTORIES["collection"] = _collection_twin
