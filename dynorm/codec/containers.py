"""The codecs of sets, lists, tuples and dicts, compiled once per declared type.

Sets are stored as SS / NS / BS (DynamoDB has no empty sets: an empty set encodes to
``None``, "nothing to store"; inside a list or under a map key it is refused, since it
would be lost). Lists and tuples are ``L``, dicts with ``str`` keys are ``M``. The common
cases (exact ``str`` / small ``int`` elements) take a one-pass fast path.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from typing import Any, Literal, cast, get_args, get_origin

from dynorm._types import AttributeValue
from dynorm.codec.core import (
    INT_FAST_LIMIT,
    Codec,
    compile_codec,
    type_name,
    wrong_type,
)
from dynorm.codec.decoding import decode_number, decode_value, tag_decoder
from dynorm.codec.dynamic import empty_map_key, encode_map_values, encode_set_dynamic
from dynorm.exceptions import EncodingError, SchemaError

__all__ = ["list_codec", "map_codec", "set_codec"]


def set_codec(tp: Any) -> Codec:
    args = get_args(tp)
    elem_tp = args[0] if args else Any
    elem = compile_codec(elem_tp)
    # float cannot be a key (inexact text) but is a fine member of a number set
    scalar_tag = elem.key_type or ("N" if elem_tp is float else None)
    if scalar_tag is None and elem_tp is not Any:
        raise SchemaError(
            f"set[{type_name(elem_tp)}] cannot be stored: DynamoDB sets hold only strings, "
            "numbers or bytes (use list[...] instead)"
        )
    if elem_tp is Any:
        return Codec(lambda v: encode_set_dynamic(_as_set(v)), tp, item_codec=elem, is_set=True,
                     tags={"SS", "NS", "BS"})
    elem_tag: str = scalar_tag or ""
    tag = elem_tag + "S"  # SS, NS, BS
    enc = elem.encode

    plain = {"S": str, "N": int}.get(elem_tag) if elem_tp in (str, int) else None

    def encode_set(v: Any) -> AttributeValue | None:
        values = v if type(v) is set or type(v) is frozenset else _as_set(v)
        if not values:
            return None
        # Fast paths, one pass: sets of exact str (or small int) values need no
        # per-element encoder.
        if plain is str:
            for x in values:
                if type(x) is not str or not x.isascii():
                    break
            else:
                return {tag: sorted(values)}
        elif plain is int:
            texts: list[str] = []
            for x in values:
                if type(x) is not int or not -INT_FAST_LIMIT < x < INT_FAST_LIMIT:
                    break
                texts.append(str(x))
            else:
                texts.sort()
                return {tag: texts}
        return {tag: sorted(enc(x)[elem_tag] for x in values)}  # type: ignore[index]

    if elem_tag != "N":
        decode = tag_decoder(tag, set)
    else:
        def decode_numbers(v: Any) -> Any:
            if plain is int:
                try:
                    return {int(x) for x in v}
                except ValueError:  # a fraction: pydantic judges the Decimal
                    pass
            return {decode_number(x) for x in v}

        decode = tag_decoder(tag, decode_numbers)
    return Codec(encode_set, tp, item_codec=elem, is_set=True, decode=decode, tags={tag},
                 exact=elem.exact and get_origin(tp) in (set, AbstractSet, typing.AbstractSet))


def _as_set(v: Any) -> AbstractSet[Any]:
    if isinstance(v, AbstractSet):
        return v
    raise wrong_type("set", v)


def list_codec(tp: Any) -> Codec:
    args = get_args(tp)
    origin = get_origin(tp)
    if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
        if args == ((),):
            args = ()
        fixed = [compile_codec(a) for a in args]

        def encode_tuple(v: Any) -> AttributeValue | None:
            if not isinstance(v, (list, tuple)) or len(v) != len(fixed):
                raise wrong_type(f"a tuple of {len(fixed)}", v)
            return {"L": [_in_collection(c.encode(x)) for c, x in zip(fixed, v, strict=True)]}

        decoders = [c.decode for c in fixed]

        def decode_tuple(v: Any) -> Any:
            # Element by element with each position's codec (a nested model's absent
            # fields, its unions...); a list of another length is left to validation.
            if len(v) != len(decoders):
                return [decode_value(x) for x in v]
            return [d(x) for d, x in zip(decoders, v, strict=True)]

        return Codec(encode_tuple, tp, tags={"L"}, decode=tag_decoder("L", decode_tuple))
    elem = compile_codec(args[0] if args else Any)
    enc = elem.encode
    dec = elem.decode

    plain = elem.python_type if elem.python_type in (str, int) else None

    def encode_list(v: Any) -> AttributeValue | None:
        if not isinstance(v, (list, tuple)):
            raise wrong_type("list", v)
        # Fast paths, one pass: lists of exact str / small int values (the common case).
        # (A loop: in Python 3.11 a comprehension's call costs more on short lists.)
        out: list[AttributeValue] = []
        if plain is str:
            for x in v:
                if type(x) is not str or not x.isascii():
                    break
                out.append({"S": x})
            else:
                return {"L": out}
        elif plain is int:
            for x in v:
                if type(x) is not int or not -INT_FAST_LIMIT < x < INT_FAST_LIMIT:
                    break
                out.append({"N": str(x)})
            else:
                return {"L": out}
        return {"L": [_in_collection(enc(x)) for x in v]}

    def decode_list(v: Any) -> Any:
        return [dec(x) for x in v]

    if plain is not None:
        # One comprehension for the common case; anything unexpected (NULL, another tag,
        # a fraction in an int list) goes element by element.
        def decode_str_list(v: Any) -> Any:
            try:
                return [x["S"] for x in v]
            except (KeyError, TypeError):
                return decode_list(v)

        def decode_int_list(v: Any) -> Any:
            try:
                return [int(x["N"]) for x in v]
            except (KeyError, TypeError, ValueError):
                return decode_list(v)

        decode = tag_decoder("L", decode_str_list if plain is str else decode_int_list)
    else:
        decode = tag_decoder("L", decode_list)
    return Codec(encode_list, tp, item_codec=elem, decode=decode, tags={"L"},
                 exact=elem.exact and origin is not tuple and tp is not tuple)


def _in_collection(av: AttributeValue | None) -> AttributeValue:
    if av is None:
        raise EncodingError(
            "an empty set inside a list cannot be stored: DynamoDB has no empty sets"
        )
    return av


def map_codec(tp: Any) -> Codec:
    args = get_args(tp)
    if args and args[0] is not str and cast(Any, get_origin(args[0])) is not Literal:
        raise SchemaError(f"{type_name(tp)} cannot be stored: map keys must be str")
    value = compile_codec(args[1] if args else Any)
    enc = value.encode
    dec = value.decode

    plain = value.python_type if value.python_type in (str, int) else None

    def encode_map(v: Any) -> AttributeValue | None:
        if type(v) is dict:
            if "" in v:
                raise empty_map_key()
            # Fast paths, one pass: str keys with exact str / small int values.
            out: dict[str, AttributeValue] = {}
            if plain is str:
                for k, x in v.items():
                    if (type(k) is not str or type(x) is not str or not k.isascii()
                            or not x.isascii()):
                        break
                    out[k] = {"S": x}
                else:
                    return {"M": out}
            elif plain is int:
                for k, x in v.items():
                    if (type(k) is not str or type(x) is not int or not k.isascii()
                            or not -INT_FAST_LIMIT < x < INT_FAST_LIMIT):
                        break
                    out[k] = {"N": str(x)}
                else:
                    return {"M": out}
        elif not isinstance(v, Mapping):
            raise wrong_type("dict", v)
        return {"M": encode_map_values(v, enc)}

    def decode_map(v: Any) -> Any:
        return {k: dec(x) for k, x in v.items()}

    if plain is not None:
        def decode_str_map(v: Any) -> Any:
            try:
                return {k: x["S"] for k, x in v.items()}
            except (KeyError, TypeError):
                return decode_map(v)

        def decode_int_map(v: Any) -> Any:
            try:
                return {k: int(x["N"]) for k, x in v.items()}
            except (KeyError, TypeError, ValueError):
                return decode_map(v)

        decode = tag_decoder("M", decode_str_map if plain is str else decode_int_map)
    else:
        decode = tag_decoder("M", decode_map)
    return Codec(encode_map, tp, item_codec=value, decode=decode, tags={"M"}, exact=value.exact)
