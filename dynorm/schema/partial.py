"""Per-field validation outside a full model: partial (projected) copies and key values.

Pure helpers of the model layer: a field's value validated on its own with a cached
``TypeAdapter``, and partial instances that hold only the fields that were fetched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pydantic

from dynorm.codec.decoding import decode_value

if TYPE_CHECKING:
    pass

__all__ = [
    "construct_partial",
    "field_value",
    "incomplete_fields",
    "mark_complete",
    "mark_incomplete",
    "partial_value",
]

#: Where a partial instance records the fields it holds only in part (a projection of
#: ``prefs["a"]`` fetches one key of the map ``prefs``). Kept in pydantic's private
#: storage, which complete instances of dynorm models leave ``None``: no cost for them.
_INCOMPLETE = "_dynorm_incomplete"

def field_value(cls: type[pydantic.BaseModel], name: str, av: dict[str, Any]) -> Any:
    """The Python value of an encoded literal for one field (to fill key templates)."""
    return _adapter(cls, name).validate_python(decode_value(av))


def _adapter(cls: type[pydantic.BaseModel], name: str) -> pydantic.TypeAdapter[Any]:
    """One field's validator, made once and kept on the class (not in a module-level
    cache, which would keep every model class alive)."""
    adapters: dict[str, pydantic.TypeAdapter[Any]] | None = cls.__dict__.get(
        "__dynorm_adapters__")
    if adapters is None:
        adapters = {}
        type.__setattr__(cls, "__dynorm_adapters__", adapters)
    adapter = adapters.get(name)
    if adapter is None:
        info = cls.model_fields[name]
        adapter = pydantic.TypeAdapter(info.annotation if info.annotation is not None else Any)
        adapters[name] = adapter
    return adapter


def partial_value(cls: type[pydantic.BaseModel], name: str, raw: Any, *,
                  part: bool = False) -> Any:
    """Validate one fetched field.

    ``part``: the field was fetched in part (a projection of ``Doc.address.city``): a
    nested model is then built with only the sub-fields that were read -- at every
    depth, since what a deeper path left out is not known here -- and each of those is
    validated on its own. Nothing it did not read is filled with a default.
    """
    if part and isinstance(raw, dict):
        nested = _object_codec_of(cls, name)
        if nested is not None:
            values = {
                sub.name: partial_value(nested.cls, sub.name, raw[sub.attr], part=True)
                for sub in nested.fields.values() if sub.attr in raw
            }
            return construct_partial(nested.cls, values)
    return _adapter(cls, name).validate_python(raw)


def _object_codec_of(cls: type[pydantic.BaseModel], name: str) -> Any:
    """The per-field codec of the model a field holds (None for any other field)."""
    from dynorm.codec.objects import object_codec_for  # the objects import the codec

    field = object_codec_for(cls).fields.get(name)
    return None if field is None else field.codec.object_codec


def construct_partial(cls: type[pydantic.BaseModel], values: dict[str, Any]) -> Any:
    # model_construct fills defaults; a partial copy must not pretend to know them.
    instance = cls.model_construct(_fields_set=set(values), **values)
    for name in cls.model_fields.keys() - values.keys():
        instance.__dict__.pop(name, None)
    return instance


def mark_incomplete(instance: pydantic.BaseModel, fields: frozenset[str]) -> None:
    """Record that ``instance`` holds ``fields`` only in part (saving it would lose data)."""
    if not fields:
        return
    private = instance.__pydantic_private__
    if private is None:
        object.__setattr__(instance, "__pydantic_private__", {_INCOMPLETE: fields})
    else:
        private[_INCOMPLETE] = fields


def incomplete_fields(instance: pydantic.BaseModel) -> frozenset[str]:
    """The fields ``instance`` holds only in part (empty for complete instances)."""
    private = instance.__pydantic_private__
    if not private:
        return frozenset()
    found: frozenset[str] = private.get(_INCOMPLETE, frozenset())
    return found


def mark_complete(instance: pydantic.BaseModel) -> None:
    """Forget partial-ness once the whole item was read into ``instance``."""
    private = instance.__pydantic_private__
    if private:
        private.pop(_INCOMPLETE, None)
