"""Compressed fields without a server: either algorithm reads back, the 400 KB check
comes after compression, and what is not a compressed value is refused."""

from __future__ import annotations

import os
import zlib
from typing import Annotated, Any

import pytest

from dynorm import ItemTooLarge, Model, PartitionKey
from dynorm.schema.classes import meta_of
from dynorm.security import Compressed, DecryptionFailed, envelope

TEXT = "the same sentence, over and over. " * 30_000  # ~1 MB, compresses ~1000x


def model(algorithm: str | None) -> type[Model]:
    class Doc(Model, table="docs_compressed"):
        doc_id: Annotated[str, PartitionKey]
        body: Annotated[str, Compressed(algorithm)] = ""
        blob: Annotated[bytes, Compressed(algorithm)] = b""
        tags: Annotated[list[Any], Compressed(algorithm)] = []

    return Doc


def round_trip(cls: type[Model], item: dict[str, Any]) -> Any:
    return cls.model_validate(meta_of(cls).decode_item(item))


@pytest.mark.parametrize("algorithm", ["zlib", "zstd"])
def test_round_trip_records_the_algorithm(algorithm: str) -> None:
    Doc = model(algorithm)
    doc = Doc(doc_id="d", body=TEXT, blob=b"\x00" * 1000, tags=[1, "a", None, b"b"])
    item = meta_of(Doc).encode_item(doc)  # ~1 MB of text: no ItemTooLarge
    assert item["body"]["B"][:2] == (b"\xc1z" if algorithm == "zstd" else b"\xc1d")
    assert len(item["body"]["B"]) < 20_000
    assert round_trip(Doc, item) == doc
    other = model("zlib" if algorithm == "zstd" else "zstd")
    assert round_trip(other, item) == other.model_validate(doc.model_dump())


def test_default_is_zstd_when_installed_else_zlib(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Compressed().algorithm == ("zstd" if envelope.zstd_available() else "zlib")
    monkeypatch.setattr(envelope, "zstd_available", lambda: False)
    assert Compressed().algorithm == "zlib"
    with pytest.raises(ValueError, match="zstandard"):
        Compressed("zstd")


def test_size_is_checked_after_compression() -> None:
    Doc = model("zlib")
    with pytest.raises(ItemTooLarge):
        meta_of(Doc).encode_item(Doc(doc_id="d", blob=os.urandom(420_000)))


@pytest.mark.parametrize("stored,reason", [
    ({"S": "plain text"}, "stored as S, not as a compressed value"),
    ({"B": b"\xc1dnot zlib"}, "not a value dynorm sealed"),
    ({"B": b"\xc1xunknown"}, "unknown compression"),
    ({"B": b"plain bytes"}, "not a compressed value"),
    ({"B": b"\xc1d" + zlib.compress(b"S" + b"x" * (envelope.MAX_DECOMPRESSED + 1))},
     "more than"),
])
def test_what_is_not_a_compressed_value_is_refused(stored: dict[str, Any], reason: str
                                                   ) -> None:
    Doc = model("zlib")
    with pytest.raises(DecryptionFailed, match=reason) as caught:
        round_trip(Doc, {"doc_id": {"S": "d"}, "body": stored})
    assert caught.value.field == "body" and caught.value.key == {"doc_id": {"S": "d"}}
