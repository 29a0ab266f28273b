"""Paths, conditions, key conditions, update actions and projections (pure, no I/O).

One [`Placeholders`][dynorm.expressions.Placeholders] per request; every part of the request
compiles into it::

    ph = Placeholders()
    key = to_key_condition(User.id == "u1", partition_attr="id", sort_attr=None,
                           index_name=None).compile(ph)       # '#n0 = :v0'
    flt = (User.age > 3).compile(ph)                           # '#n1 > :v1'
    request = {"KeyConditionExpression": key, "FilterExpression": flt, **ph.to_request()}
"""

import importlib
from typing import TYPE_CHECKING, Any

from dynorm.expressions._bases import Operand, UpdateOperand
from dynorm.expressions.paths import Path
from dynorm.expressions.placeholders import Placeholders
from dynorm.expressions.projections import compile_projection
from dynorm.expressions.typed import Attr, attr

if TYPE_CHECKING:  # loaded on first use, below
    from dynorm.expressions.conditions import (
        TYPE_TAGS,
        And,
        BeginsWith,
        Between,
        Compare,
        Condition,
        Contains,
        Exists,
        In,
        IsType,
        Not,
        NotExists,
        Or,
    )
    from dynorm.expressions.keys import KeyCondition, to_key_condition
    from dynorm.expressions.operands import Size, Value, size
    from dynorm.expressions.updates import (
        AddAction,
        Arithmetic,
        DeleteAction,
        IfNotExists,
        ListAppend,
        RemoveAction,
        SetAction,
        UpdateAction,
        compile_update,
        list_append,
    )

# The condition, key condition and update classes are loaded on first use (issue 18):
# a program that only gets items by key (a Lambda's cold start) builds none of them.
# Paths import them when an operator or method first builds one.
_LAZY: dict[str, str] = {
    **dict.fromkeys(("TYPE_TAGS", "And", "BeginsWith", "Between", "Compare", "Condition",
                     "Contains", "Exists", "In", "IsType", "Not", "NotExists", "Or"),
                    "dynorm.expressions.conditions"),
    **dict.fromkeys(("KeyCondition", "to_key_condition"), "dynorm.expressions.keys"),
    **dict.fromkeys(("Size", "Value", "size"), "dynorm.expressions.operands"),
    **dict.fromkeys(("AddAction", "Arithmetic", "DeleteAction", "IfNotExists", "ListAppend",
                     "RemoveAction", "SetAction", "UpdateAction", "compile_update",
                     "list_append"), "dynorm.expressions.updates"),
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'dynorm.expressions' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "TYPE_TAGS",
    "AddAction",
    "And",
    "Arithmetic",
    "Attr",
    "BeginsWith",
    "Between",
    "Compare",
    "Condition",
    "Contains",
    "DeleteAction",
    "Exists",
    "IfNotExists",
    "In",
    "IsType",
    "KeyCondition",
    "ListAppend",
    "Not",
    "NotExists",
    "Operand",
    "Or",
    "Path",
    "Placeholders",
    "RemoveAction",
    "SetAction",
    "Size",
    "UpdateAction",
    "UpdateOperand",
    "Value",
    "attr",
    "compile_projection",
    "compile_update",
    "list_append",
    "size",
    "to_key_condition",
]
