"""Straight-line item encoders and decoders, generated once per model class.

A generic loop over a model's fields costs about a quarter of a microsecond per field in
tuple unpacking and dispatch alone; the function generated here reads each field by its
literal name, inlines the common scalar cases (exact ``str``, ``bool`` and small ``int``
values become ``{"S": v}``, ``{"BOOL": v}``, ``{"N": str(v)}`` without a call) and calls
the field's compiled encoder for everything else. dataclasses, attrs and pydantic v1 build
their ``__init__`` the same way.

The generated code only encodes; it never names the field that failed. On an
``EncodingError`` the caller runs its generic loop again, which does (errors are rare, so
the second pass costs nothing in the common case).

The source is registered in `linecache` under a unique file name (as attrs does), so
tracebacks, ``pdb`` and ``inspect.getsource`` show the generated lines. Set
``DYNORM_NO_CODEGEN=1`` (before models are defined) to use the plain loops instead
(`ENABLED`), e.g. to step through a codec in a debugger.
"""

from __future__ import annotations

import itertools
import linecache
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dynorm._types import Item
from dynorm.exceptions import EncodingError

__all__ = ["ENABLED", "FieldDecoder", "FieldEncoder", "generate_decoder", "generate_encoder"]

#: False when ``DYNORM_NO_CODEGEN`` is set: models then encode and decode with loops.
ENABLED = os.environ.get("DYNORM_NO_CODEGEN", "") in ("", "0")

_serial = itertools.count(1)


def _define(source: str, what: str, qualname: str, namespace: dict[str, Any]) -> Any:
    """Compile ``source`` under a file name registered in linecache; its one function."""
    filename = f"<dynorm {what} of {qualname} #{next(_serial)}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), namespace)
    return namespace[f"{what}_fields"]

#: (field name, attribute name, encoder, the type inlined for exact values or None,
#: the tag of that inlined type, whether None is written as NULL even without store_none)
FieldEncoder = tuple[str, str, Callable[[Any], Any], "type | None", str, bool]


def generate_encoder(
    fields: Sequence[FieldEncoder],
    int_limit: int,
    qualname: str,
    on_error: Callable[..., Item],
) -> Callable[..., Item]:
    """``encode(obj, store_none=False) -> item`` for a model with these fields.

    ``on_error(obj, store_none)`` is called when an encoder raises ``EncodingError``;
    it is expected to raise a better one.
    """
    namespace: dict[str, Any] = {"EncodingError": EncodingError, "on_error": on_error}
    lines = [
        "def encode_fields(obj, store_none=False):",
        "  try:",
        "    d = obj.__dict__",
        "    out = {}",
    ]
    for i, (name, attr, enc, plain, tag, null_always) in enumerate(fields):
        encoder = f"_enc{i}"
        namespace[encoder] = enc
        n, a = repr(name), repr(attr)
        lines.append(f"    v = d.get({n})")
        if plain is str:
            # isascii() is O(1); other text goes through the encoder, which refuses lone
            # surrogates (not valid UTF-8).
            lines += [
                "    if type(v) is str and v.isascii():",
                f"        out[{a}] = {{{tag!r}: v}}",
                "    elif v is not None:",
            ]
        elif plain is bool:
            lines += [
                "    if v is True or v is False:",
                f"        out[{a}] = {{{tag!r}: v}}",
                "    elif v is not None:",
            ]
        elif plain is int:
            lines += [
                f"    if type(v) is int and -{int_limit} < v < {int_limit}:",
                f"        out[{a}] = {{{tag!r}: str(v)}}",
                "    elif v is not None:",
            ]
        else:
            lines.append("    if v is not None:")
        lines += [
            f"        av = {encoder}(v)",
            "        if av is not None:",
            f"            out[{a}] = av",
            f"    elif {n} in d:" if null_always else f"    elif store_none and {n} in d:",
            f"        out[{a}] = {{'NULL': True}}",
        ]
    lines += [
        "    return out",
        "  except EncodingError:",
        "    return on_error(obj, store_none)",
    ]
    source = "\n".join(lines) + "\n"
    function: Callable[..., Item] = _define(source, "encode", qualname, namespace)
    function.__qualname__ = f"{qualname}.encode_fields"
    return function


#: (attribute name, the tag read directly or None, conversion of that tag's value or
#: None, the full decoder, what an absent attribute means or None)
FieldDecoder = tuple[str, "str | None", "Callable[[Any], Any] | None", Callable[[Any], Any],
                     "Callable[[], Any] | None"]


def generate_decoder(fields: Sequence[FieldDecoder], qualname: str
                     ) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """``decode(item) -> {attr: plain value}`` for a model with these fields: each field's
    expected tag read inline, anything else through the field's full decoder."""
    namespace: dict[str, Any] = {}
    lines = ["def decode_fields(item):", "    out = {}"]
    for i, (attr, tag, convert, decode, absent) in enumerate(fields):
        a = repr(attr)
        namespace[f"_dec{i}"] = decode
        lines += [f"    av = item.get({a})", "    if av is not None:"]
        if tag is None:
            lines.append(f"        out[{a}] = _dec{i}(av)")
        else:
            value = "v"
            if convert is not None:
                namespace[f"_conv{i}"] = convert
                value = f"_conv{i}(v)"
            lines += [
                f"        v = av.get({tag!r})",
                f"        out[{a}] = {value} if v is not None else _dec{i}(av)",
            ]
        if absent is not None:
            namespace[f"_absent{i}"] = absent
            lines += ["    else:", f"        out[{a}] = _absent{i}()"]
    lines.append("    return out")
    source = "\n".join(lines) + "\n"
    function: Callable[[Mapping[str, Any]], dict[str, Any]] = _define(
        source, "decode", qualname, namespace)
    function.__qualname__ = f"{qualname}.decode_fields"
    return function
