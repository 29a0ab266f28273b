"""A plain in-memory reference of what a DynamoDB table must hold, for the stateful test.

Each stored item is kept as the *attributes present* on the server, by field name, as plain
Python values (nested models as dicts): a field whose attribute is missing is not in
``attrs`` (it reads back as its default), which is what conditions, ``if_not_exists`` and
sparse indexes see. The expected read-back model is ``Model.model_validate(attrs)``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from dynorm import Model

__all__ = ["Reference", "Stored", "diff", "present_attrs", "same"]


def same(a: Any, b: Any) -> bool:
    """Equal values of the same types, all the way down (``1 == 1.0 == True`` is not enough)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, BaseModel):
        return same(dict(a.__dict__), dict(b.__dict__))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, (set, frozenset)):
        return bool(a == b) and sorted(map(repr, a)) == sorted(map(repr, b))
    return bool(a == b)


def diff(got: Any, want: Any, where: str = "") -> list[str]:
    """Where two values differ (for assertion messages)."""
    if same(got, want):
        return []
    if isinstance(got, BaseModel) and type(got) is type(want):
        return diff(dict(got.__dict__), dict(want.__dict__), where)
    if isinstance(got, dict) and isinstance(want, dict):
        out: list[str] = []
        for k in sorted(set(got) | set(want), key=str):
            if k not in got or k not in want:
                mine, theirs = got.get(k, "<absent>"), want.get(k, "<absent>")
                out.append(f"{where}.{k}: {mine!r} != {theirs!r}")
            else:
                out += diff(got[k], want[k], f"{where}.{k}")
        return out
    return [f"{where}: got {got!r} ({type(got).__name__}), want {want!r} ({type(want).__name__})"]


def present_attrs(instance: Model, *, store_none: bool = False) -> dict[str, Any]:
    """The fields ``save()`` writes as attributes: None only with ``store_none``, no empty
    sets (DynamoDB cannot store them)."""
    out: dict[str, Any] = {}
    for name, value in instance.model_dump().items():
        if value is None and not store_none:
            continue
        if isinstance(value, (set, frozenset)) and not value:
            continue
        out[name] = value
    return out


@dataclass
class Stored:
    """One item: the model (entity) that wrote it and its present attributes by field."""

    model: type[Model]
    attrs: dict[str, Any]

    def expected(self) -> Model:
        return self.model.model_validate(self.attrs)

    @property
    def version(self) -> int | None:
        value = self.attrs.get("version")
        return None if value is None else int(value)


@dataclass
class Reference:
    """Physical key -> the item stored there."""

    items: dict[tuple[Any, ...], Stored] = field(default_factory=dict)

    def get(self, key: tuple[Any, ...]) -> Stored | None:
        return self.items.get(key)

    def put(self, key: tuple[Any, ...], model: type[Model], attrs: dict[str, Any]) -> None:
        self.items[key] = Stored(model, copy.deepcopy(attrs))

    def delete(self, key: tuple[Any, ...]) -> None:
        self.items.pop(key, None)

    def snapshot(self) -> dict[tuple[Any, ...], Stored]:
        return copy.deepcopy(self.items)

    def restore(self, snapshot: dict[tuple[Any, ...], Stored]) -> None:
        self.items = copy.deepcopy(snapshot)

    def of(self, model: type[Model]) -> Iterator[tuple[tuple[Any, ...], Stored]]:
        for key, stored in self.items.items():
            if stored.model is model:
                yield key, stored
