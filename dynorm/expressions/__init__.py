"""Paths, conditions, key conditions, update actions and projections (pure, no I/O).

One [`Placeholders`][dynorm.expressions.Placeholders] per request; every part of the request
compiles into it::

    ph = Placeholders()
    key = to_key_condition(User.id == "u1", partition_attr="id", sort_attr=None,
                           index_name=None).compile(ph)       # '#n0 = :v0'
    flt = (User.age > 3).compile(ph)                           # '#n1 > :v1'
    request = {"KeyConditionExpression": key, "FilterExpression": flt, **ph.to_request()}
"""

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
from dynorm.expressions.operands import Operand, Size, Value, size
from dynorm.expressions.paths import Path
from dynorm.expressions.placeholders import Placeholders
from dynorm.expressions.projections import compile_projection
from dynorm.expressions.typed import Attr, attr
from dynorm.expressions.updates import (
    AddAction,
    Arithmetic,
    DeleteAction,
    IfNotExists,
    ListAppend,
    RemoveAction,
    SetAction,
    UpdateAction,
    UpdateOperand,
    compile_update,
    list_append,
)

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
