"""Upgrades of attributes an older schema version stored sealed (``@upgrade(stored=)``):
compressed, encrypted or in a value store (S3) under a name the model no longer declares
so. The upgrade gets the value, or the read is refused naming the attribute and the fix;
never the stored bytes as the value."""

from __future__ import annotations

import copy
import os
from typing import Annotated, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dynorm
from dynorm import (
    DecryptionFailed,
    MockTransport,
    Model,
    PartitionKey,
    SchemaError,
    UpgradeFailed,
    upgrade,
)
from dynorm._types import Request, Response
from dynorm.schema.classes import meta_of
from dynorm.schema.upgrade import stored_of
from dynorm.security import Compressed, Encrypted, LocalKeyring, ValueStore
from dynorm.security.envelope import (
    compress,
    encrypt,
    looks_sealed,
    pack,
    reference,
    zstd_available,
)

OLD_KEYS = LocalKeyring({"old": os.urandom(32)})
NEW_KEYS = LocalKeyring({"new": os.urandom(32)})
BODY = b"\x00\x01 large value " * 200


class MemoryStore(ValueStore):
    """A value store in memory (S3Value's contract: objects keyed by digest)."""

    def __init__(self) -> None:
        super().__init__()
        self.objects: dict[str, bytes] = {}

    async def put(self, key: str, data: bytes) -> None:
        self.objects[key] = data

    async def get(self, key: str) -> bytes | None:
        return self.objects.get(key)


STORE = MemoryStore()


class DocV1(Model, table="docs_u"):
    doc_id: Annotated[str, PartitionKey]
    body: Annotated[bytes, STORE] = b""
    secret: Annotated[str, Encrypted(OLD_KEYS)] = ""
    summary: Annotated[str, Compressed()] = ""
    thumbnail: Annotated[bytes, Compressed()] = b""


class Doc(Model, table="docs_u", schema_version=2):
    """Version 2 renamed body -> content (still in S3), secret -> token (encrypted with
    another keyring), summary -> abstract (plain now), and dropped the thumbnail."""

    doc_id: Annotated[str, PartitionKey]
    content: Annotated[bytes, STORE] = b""
    token: Annotated[str, Encrypted(NEW_KEYS)] = ""
    abstract: str = ""


@upgrade(Doc, from_version=1, stored={"body": STORE, "secret": Encrypted(OLD_KEYS),
                                      "summary": (Compressed(),), "thumbnail": None})
def rename(item: dict[str, Any]) -> dict[str, Any]:
    assert isinstance(item.pop("thumbnail"), bytes)  # handed over as stored: dropped
    return {"doc_id": item["doc_id"], "content": item.pop("body"),
            "token": item.pop("secret"), "abstract": item.pop("summary")}


def answering(stored: list[dict[str, Any]]) -> MockTransport:
    def answer(op: str, req: Request) -> Response:
        items = copy.deepcopy(stored)  # reads resolve references in the answer
        if op == "GetItem":
            return {"Item": items[0]}
        if op == "Query":
            return {"Items": items, "Count": len(items)}
        return {}
    return MockTransport(answer)


async def v1_item(doc_id: str = "d1") -> dict[str, Any]:
    transport = MockTransport(lambda op, req: {})
    async with dynorm.connect(transport=transport, region="eu-west-1"):
        await DocV1(doc_id=doc_id, body=BODY, secret="s3cret", summary="short " * 50,
                    thumbnail=b"\x89PNG" * 40).save()
    item: dict[str, Any] = transport.requests[0][1]["Item"]
    assert len(item["body"]["B"]) == 41  # a reference to the object in STORE
    return item


async def test_every_sealing_of_an_old_version_is_opened_for_its_upgrade() -> None:
    """get and query fetch the old version's S3 object (declared by ``stored=``) before
    the upgrade runs; the compressed and encrypted values reach it opened."""
    stored = await v1_item()
    async with dynorm.connect(transport=answering([stored]), region="eu-west-1"):
        before = STORE.calls["get"]
        doc = await Doc.get("d1")
        (again,) = await Doc.query(Doc.doc_id == "d1").to_list()
    assert STORE.calls["get"] - before == 2  # one per read
    for got in (doc, again):
        assert (got.content, got.token, got.abstract) == (BODY, "s3cret", "short " * 50)
    saved = meta_of(Doc).encode_item(doc)  # saved: the current sealing only
    assert set(saved) == {"doc_id", "content", "token", "abstract", "_schema"}
    assert saved["content"] == stored["body"]  # the same object, referenced again


async def test_items_at_another_version_do_not_load_what_an_old_version_stored() -> None:
    """What ``stored=`` declares applies to items at that version only: a current item
    with an attribute of that name costs no S3 read and is not opened."""
    current = {"doc_id": {"S": "d2"}, "abstract": {"S": "plain"}, "_schema": {"N": "2"},
               "body": {"B": reference(b"Bsomething")[1]}}  # not read by the model
    async with dynorm.connect(transport=answering([current]), region="eu-west-1"):
        before = STORE.calls["get"]
        doc = await Doc.get("d2")
    assert STORE.calls["get"] == before and doc.abstract == "plain"


async def test_a_missing_object_of_an_old_version_names_the_attribute() -> None:
    stored = await v1_item("d3")
    stored["body"] = {"B": reference(b"Bnever uploaded")[1]}
    async with dynorm.connect(transport=answering([stored]), region="eu-west-1"):
        with pytest.raises(DecryptionFailed, match=r"Doc\.body.*d3.*missing"):
            await Doc.get("d3")
    with pytest.raises(DecryptionFailed, match="not fetched"):  # the pure read: no I/O
        Doc.from_item(await v1_item("d4"))


class Bare(Model, table="docs_u", schema_version=2):
    """Like Doc, but what version 1 stored sealed is not declared."""

    doc_id: Annotated[str, PartitionKey]
    abstract: str = ""


@upgrade(Bare, from_version=1)
def keep(item: dict[str, Any]) -> None:
    pass


@pytest.mark.parametrize(("attr", "what", "fix"), [
    ("body", "stored in S3", 'S3Value\\("bucket"\\)'),
    ("secret", "encrypted", r"Encrypted\(keyring\)"),
    ("summary", "compressed", r"Compressed\(\)"),
])
async def test_an_undeclared_sealed_attribute_is_refused_not_handed_over(
        attr: str, what: str, fix: str) -> None:
    stored = await v1_item()
    only = {k: v for k, v in stored.items() if k in ("doc_id", attr)}
    with pytest.raises(UpgradeFailed, match=(
            rf"attribute '{attr}' \(schema version 1\) looks {what} by dynorm.*"
            rf"@dynorm.upgrade\(Bare, from_version=1, stored=\{{'{attr}': {fix}\}}\), "
            rf"or stored=\{{'{attr}': None\}}")) as caught:
        Bare.from_item(only)
    assert "s3cret" not in str(caught.value)


def test_a_field_sealed_now_that_an_old_version_stored_plain() -> None:
    """``stored={"notes": None}``: version 1 stored the attribute the model now
    compresses as a plain value; the model's opening is not applied to it."""

    class Plain(Model, table="notes_u"):
        k: Annotated[str, PartitionKey]
        notes: bytes = b""

    class Squeezed(Model, table="notes_u", schema_version=2):
        k: Annotated[str, PartitionKey]
        notes: Annotated[bytes, Compressed()] = b""

    old = meta_of(Plain).encode_item(Plain(k="a", notes=b"raw"))
    with pytest.raises(DecryptionFailed, match="not a compressed value"):
        Squeezed.from_item(old)  # no upgrade yet: the model's own opening refuses it

    upgrade(Squeezed, from_version=1, stored={"notes": None})(lambda item: None)
    assert Squeezed.from_item(old).notes == b"raw"
    current = meta_of(Squeezed).encode_item(Squeezed(k="a", notes=b"raw"))
    assert Squeezed.from_item(current).notes == b"raw"  # version 2: compressed


def test_declarations_are_checked_when_made() -> None:
    def declare(stored: Any) -> None:
        upgrade(Doc, from_version=1, stored=stored)

    for stored, message in [
        ({"doc_id": Compressed()}, "'doc_id' is a key"),
        ({"_schema": None}, "'_schema' is a key, an index key or dynorm's own"),
        ({"body": "gzip"}, r"'body' must be Compressed\(\), Encrypted\(keyring\)"),
        ({"body": ()}, "'body' must be"),
        ({"body": (Encrypted(OLD_KEYS), STORE)}, "Encrypted and .* together"),
        (["body"], "takes a dict"),
    ]:
        with pytest.raises(SchemaError, match=message):
            declare(stored)
    assert set(stored_of(Doc)[1]) == {"body", "secret", "summary", "thumbnail"}


def test_a_subclass_compiled_later_gets_its_bases_declarations() -> None:
    class Later(Doc, table="docs_u2", schema_version=2):
        pass

    assert set(meta_of(Later).stored_before[1]) == {"body", "secret", "summary",
                                                    "thumbnail"}
    assert meta_of(Later).loading  # the old version's store needs I/O


@settings(max_examples=int(os.environ.get("DYNORM_UPGRADE_EXAMPLES", "60")),
          deadline=None)
@given(text=st.text(max_size=300), blob=st.binary(max_size=300),
       algorithm=st.sampled_from(["zlib", "zstd"] if zstd_available() else ["zlib"]))
def test_sealed_values_are_told_from_plain_ones(text: str, blob: bytes,
                                                algorithm: str) -> None:
    """Every value dynorm compresses, encrypts or stores by reference is recognised;
    text stored as bytes never is (UTF-8 never holds 0xC1; an 0xE1 lead byte gives a
    key length over 32 KB)."""
    for av in ({"S": text}, {"B": blob}):
        assert looks_sealed({"B": compress(pack(av), algorithm, None)}) == "compressed"
        assert looks_sealed({"B": reference(pack(av))[1]}) == "stored in S3"
        sealed = encrypt(OLD_KEYS, pack(av), b'["docs_u", "secret", []]')
        assert looks_sealed({"B": sealed}) == "encrypted"
    assert looks_sealed({"B": text.encode()}) is None
    assert looks_sealed({"S": text}) is None
