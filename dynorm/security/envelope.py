"""Sealing attribute values: compression and AES-256-GCM encryption of one attribute,
bound to its table, item key and attribute name (pure: no I/O).

The codec turns a field into an AttributeValue as usual; `seal_item()` then replaces the
value of every ``Encrypted``/``Compressed`` attribute by a binary one, and `open_item()`
turns it back before the codec reads it. Every write builds its item in
``TableMeta._item`` and every read decodes in ``TableMeta.decode_item``, so these are
the only two places values are sealed and opened.

A sealed value (``B``) is::

    packed   = tag + payload        S: UTF-8 text, N: number text, B: bytes, J: JSON AV
    squeezed = 0xC1 + algorithm + compressed(packed)          (Compressed)
    sealed   = 0xE1 + len(wrapped):u16 + wrapped + nonce:12 + AES-GCM(packed|squeezed)

``wrapped`` is the data key as the keyring wrapped it (KMS's ciphertext blob, or a local
master key's id and wrapping). The associated data is the header (version and wrapped
key) and ``["table", "attribute", [[key name, type, value]...]]``: a value copied to
another item, attribute or table, or altered by one bit, fails authentication.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from dynorm._types import AttributeValue, Item
from dynorm.codec.json import dumps, loads
from dynorm.security.errors import DecryptionFailed, KeyringError
from dynorm.security.stores import REFERENCE, RESOLVED, reference

if TYPE_CHECKING:
    from dynorm.security.keyring import Keyring
    from dynorm.security.stores import ValueStore

__all__ = ["SealedAttr", "compress", "decompress", "looks_sealed", "open_for_upgrade",
           "open_item", "pack", "seal_item", "unpack"]

_urandom = os.urandom
ENCRYPTED = 0xE1
COMPRESSED = 0xC1
_NONCE = 12
#: Decompressed values larger than this are refused (a "zip bomb" in a stored value).
MAX_DECOMPRESSED = 64 << 20


@dataclass(frozen=True)
class SealedAttr:
    """An attribute stored sealed: compressed, encrypted, or both (in that order); or
    compressed or not, in a value store (S3), the item holding a reference."""

    field: str
    attr: str
    keyring: Keyring | None = None
    compression: str | None = None  # "zstd" | "zlib" | None
    level: int | None = None
    store: ValueStore | None = None
    codec: Any = None  # the field's codec (a value store encodes before the item is built)
    #: read a value stored before the field was sealed (not binary) as it is
    accept_plaintext: bool = False
    #: the items it applies to, when not all (an older schema version's attribute,
    #: declared by ``@upgrade(stored=)``: the items at that version)
    applies: Callable[[Mapping[str, Any]], bool] | None = None

    def content(self, av: AttributeValue) -> bytes:
        """The bytes a value store holds for ``av`` (packed, compressed if marked)."""
        data = pack(av)
        if self.compression is not None:
            data = compress(data, self.compression, self.level)
        return data


# ---------------------------------------------------------------------------- packing


def pack(av: AttributeValue) -> bytes:
    """An AttributeValue as bytes: a one-letter tag and the value (JSON for maps, lists,
    sets, booleans and NULL)."""
    if len(av) == 1:
        ((tag, value),) = av.items()
        if tag == "S":
            return b"S" + str(value).encode("utf-8")
        if tag == "N":
            return b"N" + str(value).encode("ascii")
        if tag == "B":
            return b"B" + bytes(value)
    return b"J" + dumps(av)


def unpack(data: bytes) -> AttributeValue:
    """`pack()` reversed (binary values back to ``bytes``)."""
    tag, body = data[:1], data[1:]
    if tag == b"S":
        return {"S": body.decode("utf-8")}
    if tag == b"N":
        return {"N": body.decode("ascii")}
    if tag == b"B":
        return {"B": bytes(body)}
    if tag == b"J":
        av: AttributeValue = loads(body)
        _binary(av)
        return av
    raise ValueError(f"unknown packed value tag {tag!r}")


def _binary(node: Any) -> None:
    """Base64 ``B``/``BS`` values inside a decoded JSON AttributeValue back to bytes."""
    import base64

    if not isinstance(node, dict):
        return
    for tag, value in node.items():
        if tag == "B" and isinstance(value, str):
            node["B"] = base64.b64decode(value)
        elif tag == "BS":
            node["BS"] = [base64.b64decode(v) if isinstance(v, str) else v for v in value]
        elif tag == "M":
            for inner in value.values():
                _binary(inner)
        elif tag == "L":
            for inner in value:
                _binary(inner)


# ---------------------------------------------------------------------------- compression


def zstd_available() -> bool:
    """True when the ``zstandard`` package can be imported."""
    try:
        import zstandard  # noqa: F401
    except ImportError:
        return False
    return True


def compress(data: bytes, algorithm: str, level: int | None) -> bytes:
    """``0xC1 + algorithm letter + compressed data``."""
    if algorithm == "zstd":
        import zstandard

        return b"\xc1z" + zstandard.ZstdCompressor(level=level or 3).compress(data)
    return b"\xc1d" + zlib.compress(data, 6 if level is None else level)


def decompress(data: bytes) -> bytes:
    """`compress()` reversed, whichever algorithm wrote it (ValueError if unreadable)."""
    if len(data) < 2 or data[0] != COMPRESSED:
        raise ValueError("not a compressed value")
    algorithm, body = data[1:2], data[2:]
    if algorithm == b"d":
        inflater = zlib.decompressobj()
        try:
            out = inflater.decompress(body, MAX_DECOMPRESSED)
        except zlib.error as exc:
            raise ValueError(f"zlib: {exc}") from None
        if inflater.unconsumed_tail:
            raise ValueError(f"decompresses to more than {MAX_DECOMPRESSED} bytes")
        return out
    if algorithm == b"z":
        try:
            import zstandard
        except ImportError:
            raise ValueError("compressed with zstd: install the zstandard package "
                             "(pip install 'dynorm[zstd]')") from None
        try:
            reader = zstandard.ZstdDecompressor().decompressobj()
            out = reader.decompress(body)
        except zstandard.ZstdError as exc:
            raise ValueError(f"zstd: {exc}") from None
        if len(out) > MAX_DECOMPRESSED:
            raise ValueError(f"decompresses to more than {MAX_DECOMPRESSED} bytes")
        return out
    raise ValueError(f"unknown compression {algorithm!r}")


# ---------------------------------------------------------------------------- binding


def _canonical(av: AttributeValue) -> list[Any]:
    ((tag, value),) = av.items()
    if tag == "N":  # DynamoDB answers 1.50 as 1.5: bind the number, not its spelling
        try:
            number = Decimal(value).normalize()
        except InvalidOperation:  # pragma: no cover - the codec writes valid numbers
            return [tag, value]
        return [tag, "0" if number == 0 else format(number, "f")]
    return [tag, value]


def context(table: str, attr: str, key: Mapping[str, AttributeValue]) -> bytes:
    """The associated data binding a value to its table, item key and attribute."""
    return dumps([table, attr, [[name, *_canonical(av)] for name, av in key.items()]])


def _describe(key: Mapping[str, AttributeValue]) -> str:
    return ", ".join(f"{name}={next(iter(av.values()))!r}" for name, av in key.items())


# ---------------------------------------------------------------------------- items


def seal_item(model: str, table: str, key_names: tuple[str, ...],
              sealed: tuple[SealedAttr, ...], item: Item) -> None:
    """Replace each sealed attribute's value in ``item`` (just built) by its sealed form."""
    key: dict[str, AttributeValue] | None = None
    for spec in sealed:
        av = item.get(spec.attr)
        if av is None:
            continue
        data = spec.content(av)
        if spec.store is not None:
            digest, ref = reference(data)
            if not spec.store.present(digest):
                raise KeyringError(
                    f"{model}.{spec.field}: its value was not uploaded to {spec.store!r}: "
                    "only dynorm's async writes store values (they upload first)")
            item[spec.attr] = {"B": ref}
            continue
        if spec.keyring is not None:
            if key is None:
                key = {name: item[name] for name in key_names}
            data = encrypt(spec.keyring, data, context(table, spec.attr, key))
        item[spec.attr] = {"B": data}


def encrypt(keyring: Keyring, data: bytes, aad: bytes) -> bytes:
    """``0xE1 + wrapped key + nonce + AES-GCM(data)`` with the keyring's current data key."""
    key = keyring.encryption_key()
    nonce = _urandom(_NONCE)
    sealed: bytes = key.aead.encrypt(nonce, data, key.header + aad)
    return key.header + nonce + sealed


def open_item(model: str, table: str, key_names: tuple[str, ...],
              sealed: tuple[SealedAttr, ...], item: Mapping[str, AttributeValue]) -> Item:
    """A copy of ``item`` with each sealed attribute's value opened (``item`` itself when
    it holds none); DecryptionFailed naming the field when one does not open."""
    out: Item | None = None
    for spec in sealed:
        av = item.get(spec.attr)
        if av is None:
            continue
        key = {name: item[name] for name in key_names if name in item}
        try:
            value = _open(spec, av, table, key)
        except DecryptionFailed as exc:
            raise DecryptionFailed(
                f"{model}.{spec.field}: the value stored in table {table!r} under key "
                f"({_describe(key)}) cannot be read: {exc}",
                model=model, table=table, key=key, field=spec.field,
            ) from None
        if out is None:
            out = dict(item)
        out[spec.attr] = value
    return item if out is None else out  # type: ignore[return-value]


def open_for_upgrade(model: str, table: str, key_names: tuple[str, ...],
                     sealed: tuple[SealedAttr, ...], item: Mapping[str, AttributeValue],
                     declared: Collection[str] = ()) -> Item:
    """`open_item()`, and also the encrypted values of attributes the model no longer
    declares sealed (an older version's, which an upgrade may rename or drop): each is
    opened with the model's keyrings where it authenticates under its own attribute
    name, else left as stored. The ``declared`` attributes are left as stored: the
    upgrade declares how the item's version stored them (``@upgrade(stored=)``) and
    opens them so."""
    mine = tuple(s for s in sealed if s.attr not in declared) if declared else sealed
    out = dict(open_item(model, table, key_names, mine, item))
    keyrings = {id(s.keyring): s.keyring for s in sealed if s.keyring is not None}
    known = {s.attr for s in sealed} | set(declared)
    key = {name: item[name] for name in key_names if name in item}
    for attr, av in item.items():
        data = av.get("B") if attr not in known and isinstance(av, dict) else None
        if not isinstance(data, (bytes, bytearray)) or data[:1] != bytes([ENCRYPTED]):
            continue
        for keyring in keyrings.values():
            try:
                out[attr] = _open(SealedAttr(attr, attr, keyring), av, table, key)
                break
            except (DecryptionFailed, KeyringError):
                continue
    return out


def looks_sealed(av: Any) -> str | None:
    """What a stored value looks like dynorm sealed it as (``"compressed"``,
    ``"encrypted"``, ``"stored in S3"``), else None: checked on the values of an older
    schema version an upgrade would otherwise get as stored. The layout is checked,
    not only the first byte, so plain bytes are hardly ever taken for sealed ones: a
    compressed value's zlib header or zstd magic number, an encrypted value's key
    length, a reference's length and size (under 2**40 bytes)."""
    data = av.get("B") if isinstance(av, Mapping) and len(av) == 1 else None
    if not isinstance(data, (bytes, bytearray, memoryview)) or len(data) < 4:
        return None
    size = len(data)
    head = bytes(data[:41])
    if head[0] == COMPRESSED:
        zlib_header = head[1:2] == b"d" and head[2] & 0x0F == 8 and (
            (head[2] << 8 | head[3]) % 31 == 0)
        zstd_magic = head[1:6] == b"z\x28\xb5\x2f\xfd"
        return "compressed" if zlib_header or zstd_magic else None
    if head[0] == ENCRYPTED:
        wrapped = int.from_bytes(head[1:3], "big")
        return "encrypted" if wrapped > 0 and 3 + wrapped + _NONCE + 16 <= size else None
    if head[0] == REFERENCE and size == 41 and head[33:36] == b"\0\0\0":
        return "stored in S3"
    return None


def _failed(reason: str) -> DecryptionFailed:
    return DecryptionFailed(reason, model="", table="", key={}, field="")


def _open(spec: SealedAttr, av: AttributeValue, table: str,
          key: Mapping[str, AttributeValue]) -> AttributeValue:
    data = av.get("B")
    if spec.accept_plaintext and (len(av) != 1 or data is None):
        return av  # stored before the field was sealed (accept_plaintext=True)
    if not isinstance(data, (bytes, bytearray, memoryview)) or len(av) != 1:
        what = "an encrypted" if spec.keyring is not None else "a compressed"
        raise _failed(f"it is stored as {next(iter(av), '?')}, not as {what} value "
                      "(written before the field was marked, or by another program)")
    data = bytes(data)
    if spec.store is not None:
        if data[:1] == bytes([REFERENCE]):
            missing = f"{data[1:33].hex()} ({int.from_bytes(data[33:41], 'big')} bytes)"
            raise _failed(f"its object {missing} is missing from {spec.store!r}, does not "
                          "match its digest, or was not fetched (only dynorm's async reads "
                          "fetch values)")
        if data[:1] != bytes([RESOLVED]):
            raise _failed("it is not a reference to a stored value")
        data = data[33:]
    if spec.keyring is not None:
        data = decrypt(spec.keyring, data, context(table, spec.attr, key))
    try:
        if data[:1] == b"\xc1":
            data = decompress(data)
        elif spec.compression is not None and spec.keyring is None:  # (or in a store)
            raise ValueError("not a compressed value")
        return unpack(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _failed(f"the stored bytes are not a value dynorm sealed ({exc})") from None


def split(data: bytes) -> tuple[bytes, bytes, bytes]:
    """``(header, wrapped key, rest)`` of an encrypted value (ValueError if malformed)."""
    if len(data) < 3 or data[0] != ENCRYPTED:
        raise ValueError("not an encrypted value")
    size = int.from_bytes(data[1:3], "big")
    end = 3 + size
    if len(data) < end + _NONCE + 16:
        raise ValueError("truncated")
    return data[:end], data[3:end], data[end:]


def header(wrapped: bytes) -> bytes:
    """The header written before every value encrypted under ``wrapped``."""
    return bytes([ENCRYPTED]) + len(wrapped).to_bytes(2, "big") + wrapped


def decrypt(keyring: Keyring, data: bytes, aad: bytes) -> bytes:
    """The plaintext of an encrypted value; DecryptionFailed if it does not authenticate."""
    try:
        head, wrapped, rest = split(data)
    except ValueError as exc:
        raise _failed(f"the stored bytes are not an encrypted value ({exc})") from None
    aead = keyring.decryption_key(wrapped)  # DecryptionFailed for a key it cannot open
    try:
        plain: bytes = aead.decrypt(rest[:_NONCE], rest[_NONCE:], head + aad)
    except Exception as exc:  # cryptography's InvalidTag
        if type(exc).__name__ != "InvalidTag":
            raise
        raise _failed(
            "it does not authenticate: altered, or copied from another item, attribute or "
            "table") from None
    return plain


def wrapped_keys(sealed: tuple[SealedAttr, ...], items: Any) -> dict[Keyring, set[bytes]]:
    """The wrapped data keys the encrypted values of ``items`` need, per keyring."""
    needed: dict[Keyring, set[bytes]] = {}
    for item in items:
        for spec in sealed:
            if spec.keyring is None or (spec.applies is not None and not spec.applies(item)):
                continue
            av = item.get(spec.attr)
            data = av.get("B") if isinstance(av, dict) else None
            if not isinstance(data, (bytes, bytearray)):
                continue
            try:
                _, wrapped, _ = split(bytes(data))
            except ValueError:
                continue  # refused, naming the field, when the item is decoded
            if not spec.keyring.has_key(wrapped):
                needed.setdefault(spec.keyring, set()).add(wrapped)
    return needed

