"""The ``.sync`` attribute of models, instances and queries: their blocking twins.

``User.sync.get("u1")``, ``user.sync.save()``, ``User.query(...).sync.to_list()``: the
same operations as the async ones, run on a blocking connection
([`dynorm.blocking`][dynorm.blocking]).

The descriptors live down here, beside the classes that carry them, but the twins are
made by `dynorm.blocking`, which sits above every layer: it registers its factories in
`FACTORIES` when imported (on the first ``.sync`` if nothing imported it before), so the
lower layers never import it. Type checkers see the twin types through type-only imports.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, overload

if TYPE_CHECKING:
    from dynorm.blocking._twins import CollectionTwin, InstanceTwin, ModelTwin, ReadTwin
    from dynorm.collection import CollectionQuery
    from dynorm.model import Model
    from dynorm.read.builder import _Read

__all__ = ["FACTORIES", "MODEL_TWINS", "CollectionSync", "ModelSync", "ReadSync"]

M = TypeVar("M", bound="Model")

#: ``"model"`` -> f(instance or None, owner), ``"read"`` -> f(query or scan, owner),
#: ``"collection"`` -> f(collection query, owner); filled by `dynorm.blocking` on import.
FACTORIES: dict[str, Callable[[Any, Any], Any]] = {}
#: ``[ModelTwin, InstanceTwin]``, filled by `dynorm.blocking` on import: ``Model.sync``
#: makes its twin itself (one call less on every blocking call of a model).
MODEL_TWINS: list[Any] = []

_new = object.__new__


def _factory(kind: str) -> Callable[[Any, Any], Any]:
    factory = FACTORIES.get(kind)
    if factory is None:
        import importlib

        importlib.import_module("dynorm.blocking")  # registers the factories
        factory = FACTORIES[kind]
    return factory


class ModelSync:
    """``Model.sync`` (class side: `ModelTwin`) and ``instance.sync`` (`InstanceTwin`)."""

    __slots__ = ()

    @overload
    def __get__(self, instance: None, owner: type[M]) -> ModelTwin[M]: ...

    @overload
    def __get__(self, instance: M, owner: type[M]) -> InstanceTwin[M]: ...

    def __get__(self, instance: Any, owner: Any) -> Any:
        # A new (one-slot) twin per access: a cache of them would keep classes alive.
        if not MODEL_TWINS:
            _factory("model")  # imports dynorm.blocking, which fills MODEL_TWINS
        if instance is None:
            twin = _new(MODEL_TWINS[0])
            twin._target = owner
        else:
            twin = _new(MODEL_TWINS[1])
            twin._target = instance
        return twin


class ReadSync:
    """``query.sync`` / ``scan.sync``: the blocking readers of a query or scan (`ReadTwin`)."""

    __slots__ = ()

    @overload
    def __get__(self, instance: None, owner: Any) -> ReadSync: ...

    @overload
    def __get__(self, instance: _Read[M], owner: Any) -> ReadTwin[M]: ...

    def __get__(self, instance: Any, owner: Any) -> Any:
        if instance is None:
            return self
        return _factory("read")(instance, owner)


class CollectionSync:
    """``query.sync`` of a collection query: its readers, blocking (`CollectionTwin`)."""

    __slots__ = ()

    @overload
    def __get__(self, instance: None, owner: Any) -> CollectionSync: ...

    @overload
    def __get__(self, instance: CollectionQuery, owner: Any) -> CollectionTwin: ...

    def __get__(self, instance: Any, owner: Any) -> Any:
        if instance is None:
            return self
        return _factory("collection")(instance, owner)
