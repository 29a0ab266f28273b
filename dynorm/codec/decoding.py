"""AttributeValues -> plain Python values: the generic decoder every codec falls back on
(``decode_value``: N -> int or Decimal, M -> dict, L -> list, sets -> sets) and the
per-tag decoders compiled codecs are made of (``tag_decoder``).

Plain values are what pydantic then validates into the declared types.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from dynorm._types import AttributeValue
from dynorm.exceptions import EncodingError

__all__ = ["Decoder", "decode_number", "decode_value", "tag_decoder"]

Decoder = Callable[[AttributeValue], Any]


def decode_number(text: str) -> int | Decimal:
    try:
        return int(text)
    except ValueError:
        return Decimal(text)


def _decode_m(v: Any) -> Any:
    return {k: decode_value(x) for k, x in v.items()}


def _decode_l(v: Any) -> Any:
    return [decode_value(x) for x in v]


_DECODERS: dict[str, Callable[[Any], Any]] = {
    "S": lambda v: v,
    "N": decode_number,
    "BOOL": lambda v: v,
    "NULL": lambda v: None,
    "B": lambda v: v,
    "M": _decode_m,
    "L": _decode_l,
    "SS": set,
    "NS": lambda v: {decode_number(x) for x in v},
    "BS": set,
}


def decode_value(av: AttributeValue) -> Any:
    """Decode any AttributeValue to plain Python (N -> int or Decimal, M -> dict...)."""
    for tag, raw in av.items():
        return _DECODERS[tag](raw)
    raise EncodingError("empty AttributeValue")


def tag_decoder(tag: str, convert: Callable[[Any], Any] | None = None) -> Decoder:
    """A decoder that reads the expected type tag directly; anything else (NULL, a wrong
    type written by another program) goes the generic way and pydantic judges it."""
    if convert is None:

        def decode_tag(av: AttributeValue) -> Any:
            v = av.get(tag)
            return v if v is not None else decode_value(av)

        decoder = decode_tag
    else:

        def decode_convert(av: AttributeValue) -> Any:
            v = av.get(tag)
            return convert(v) if v is not None else decode_value(av)

        decoder = decode_convert
    # ObjectCodec.decode_fields inlines these two to save a call per attribute.
    decoder.tag = tag  # type: ignore[attr-defined]
    decoder.convert = convert  # type: ignore[attr-defined]
    return decoder
