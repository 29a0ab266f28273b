"""Encrypted fields without a server: sealing, tampering, rotation, declarations refused,
expressions refused, secrets kept out of reprs and messages."""

from __future__ import annotations

import logging
import os
from typing import Annotated, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, SecretStr

from dynorm import (
    ExpressionError,
    GlobalIndex,
    KeyTemplate,
    Model,
    PartitionKey,
    SchemaError,
    SortKey,
)
from dynorm.schema.classes import meta_of
from dynorm.security import (
    Compressed,
    DecryptionFailed,
    Encrypted,
    Keyring,
    KeyringError,
    LocalKeyring,
)
from dynorm.security.envelope import pack, unpack

K1, K2 = os.urandom(32), os.urandom(32)
KEYS = LocalKeyring({"k1": K1})


class Card(Model, table="cards"):
    owner: Annotated[str, PartitionKey]
    n: Annotated[int, SortKey]
    number: Annotated[SecretStr, Encrypted(KEYS)]
    pin: Annotated[int | None, Encrypted(KEYS)] = None
    meta: Annotated[dict[str, Any], Encrypted(KEYS)] = {}
    label: str = ""


def sealed(card: Card) -> dict[str, Any]:
    return meta_of(Card).encode_item(card)


def opened(item: dict[str, Any], cls: type[Model] = Card) -> Any:
    return cls.model_validate(meta_of(cls).decode_item(item))


CARD = Card(owner="ann", n=1, number=SecretStr("4111-1111"), pin=1234,
            meta={"a": [1, "x", b"\x00", None, True], "s": {"q"}})


def test_round_trip_and_stored_as_bytes() -> None:
    item = sealed(CARD)
    assert set(item["number"]) == {"B"} and set(item["pin"]) == {"B"}
    assert b"4111" not in item["number"]["B"] and item["label"] == {"S": ""}
    back = opened(item)
    assert back == CARD and back.number.get_secret_value() == "4111-1111"
    assert back.meta["s"] == {"q"} and back.meta["a"][2] == b"\x00"


def test_a_missing_optional_value_stays_missing() -> None:
    card = Card(owner="ann", n=2, number=SecretStr("x"))
    item = sealed(card)
    assert "pin" not in item and opened(item).pin is None


def test_each_write_uses_a_fresh_nonce() -> None:
    assert sealed(CARD)["number"] != sealed(CARD)["number"]


@pytest.mark.parametrize("change", ["other item", "other attribute", "flipped byte",
                                    "truncated", "plaintext", "wrong master key"])
def test_tampering_is_a_decryption_failure_naming_the_field(change: str) -> None:
    item = sealed(CARD)
    field, cls = "number", Card
    if change == "other item":
        item["owner"] = {"S": "bob"}
    elif change == "other attribute":
        item["pin"], field = item["number"], "pin"
    elif change == "flipped byte":
        data = bytearray(item["number"]["B"])
        data[len(data) // 2] ^= 0x40
        item["number"] = {"B": bytes(data)}
    elif change == "truncated":
        item["number"] = {"B": item["number"]["B"][:20]}
    elif change == "plaintext":
        item["number"] = {"S": "4111-1111"}
    else:
        other = LocalKeyring({"k1": K2})

        class Card2(Model, table="cards"):
            owner: Annotated[str, PartitionKey]
            n: Annotated[int, SortKey]
            number: Annotated[SecretStr, Encrypted(other)]

        cls = Card2
    with pytest.raises(DecryptionFailed) as caught:
        opened(item, cls)
    error = caught.value
    assert error.field == field and error.model == cls.__name__ and error.table == "cards"
    assert error.key["n"] == {"N": "1"}
    message = str(error)
    assert f"{cls.__name__}.{field}" in message and "cards" in message and "n='1'" in message
    assert "4111" not in message and "1234" not in message


def test_rotation_old_values_read_under_the_new_current_key() -> None:
    old = LocalKeyring({"2026-01": K1})

    class V1(Model, table="rot"):
        k: Annotated[str, PartitionKey]
        secret: Annotated[str, Encrypted(old)]

    item = meta_of(V1).encode_item(V1(k="a", secret="old value"))
    rotated = LocalKeyring({"2026-01": K1, "2026-07": K2}, current="2026-07")

    class V2(Model, table="rot"):
        k: Annotated[str, PartitionKey]
        secret: Annotated[str, Encrypted(rotated)]

    assert opened(item, V2).secret == "old value"
    new = meta_of(V2).encode_item(V2(k="a", secret="new value"))
    assert b"2026-07" in new["secret"]["B"][:20]
    with pytest.raises(DecryptionFailed, match="master key '2026-07'"):
        opened(new, V1)  # the old keyring lacks the new key


def test_data_key_reused_within_bounds_then_replaced() -> None:
    keys = LocalKeyring({"k": K1}, max_uses=3)

    class Few(Model, table="few"):
        k: Annotated[str, PartitionKey]
        s: Annotated[str, Encrypted(keys)]

    headers = [meta_of(Few).encode_item(Few(k=str(i), s="x"))["s"]["B"][:60]
               for i in range(7)]
    assert len(set(headers)) == 3  # 3 + 3 + 1 values
    assert keys.calls["generate"] == 3


def test_number_keys_bind_by_value_not_spelling() -> None:
    from decimal import Decimal

    class Num(Model, table="nums"):
        k: Annotated[Decimal, PartitionKey]
        s: Annotated[str, Encrypted(KEYS)]

    item = meta_of(Num).encode_item(Num(k=Decimal("1.50"), s="x"))
    item["k"] = {"N": "1.5"}  # how DynamoDB answers it
    assert opened(item, Num).s == "x"


class Inner(BaseModel):
    secret: Annotated[str, Encrypted(KEYS)]


@pytest.mark.parametrize("declare,message", [
    (lambda: type("A", (Model,), {"__annotations__": {
        "k": Annotated[str, PartitionKey, Encrypted(KEYS)]}}, table="tt1"),
     "cannot be .*partition key"),
    (lambda: type("B", (Model,), {"__annotations__": {
        "k": Annotated[str, PartitionKey], "s": Annotated[str, SortKey, Compressed()]}},
        table="tt1"), "Compressed.*sort key"),
    (lambda: type("C", (Model,), {"__annotations__": {
        "k": Annotated[str, PartitionKey], "e": Annotated[str, Encrypted(KEYS)]},
        "by_e": GlobalIndex("e")}, table="tt1"), "index by_e's partition key"),
    (lambda: type("D", (Model,), {"__annotations__": {
        "e": Annotated[str, Encrypted(KEYS)]},
        "pk": PartitionKey("U#{e}")}, table="tt1"), "partition key"),
    (lambda: type("E", (Model,), {"__annotations__": {
        "k": Annotated[str, PartitionKey], "inner": Inner}}, table="tt1"),
     r"Inner\.secret .*nested"),
    (lambda: type("F", (Model,), {"__annotations__": {
        "k": Annotated[str, PartitionKey], "e": Annotated[str, Encrypted]}}, table="tt1"),
     "needs a keyring"),
])
def test_declarations_refused(declare: Any, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        declare()


def test_key_template_input_refused() -> None:
    with pytest.raises(SchemaError, match=r"Card3\.e is Encrypted.*index gsi"):
        class Card3(Model, table="tt3"):
            k: Annotated[str, PartitionKey]
            e: Annotated[str, Encrypted(KEYS)]
            gsi = GlobalIndex(KeyTemplate("E#{e}", attribute="gpk"))


@pytest.mark.parametrize("build", [
    lambda: Card.number == "x",
    lambda: Card.number != "x",
    lambda: Card.pin > 3,
    lambda: Card.pin.between(1, 2),
    lambda: Card.pin.is_in(1, 2),
    lambda: Card.number.begins_with("4"),
    lambda: Card.meta.contains("a"),
    lambda: Card.meta.size(),
    lambda: Card.meta.is_type("M"),
    lambda: Card.meta["a"],
    lambda: Card.number.set("y"),
    lambda: Card.pin.add(1),
    lambda: Card.pin.set(Card.pin + 1),
    lambda: Card.meta.if_not_exists({}),
    lambda: Card.label == Card.number,  # the sealed path on the other side
    lambda: Card.label.set(Card.number),
    lambda: Card.label.set(Card.label.if_not_exists(Card.number)),
])
def test_expressions_on_encrypted_fields_refused(build: Any) -> None:
    with pytest.raises(ExpressionError, match="is encrypted"):
        build()


def test_existence_removal_and_projection_allowed() -> None:
    assert "attribute_exists" in repr(Card.number.exists())
    assert Card.pin.remove() is not None
    assert Card.query(Card.owner == "ann").project(Card.number) is not None


def test_reprs_and_logs_hide_decrypted_values(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    card = opened(sealed(CARD))
    assert "4111" not in repr(card) and "1234" not in repr(card) and "number" not in repr(card)
    assert "label=''" in repr(card)
    assert "4111" not in caplog.text
    assert "k1" in repr(KEYS) and repr(K1) not in repr(KEYS)


def test_kms_like_keyring_without_loaded_keys_is_a_clear_error() -> None:
    class Remote(Keyring):
        kind = b"R"

        async def _generate(self) -> tuple[bytes, bytes]:
            return K1, b"R" + b"w"

    remote = Remote()
    assert remote.needs_io

    class Far(Model, table="far"):
        k: Annotated[str, PartitionKey]
        s: Annotated[str, Encrypted(remote)]

    assert meta_of(Far).loaders == (remote,)
    assert meta_of(Card).loaders == ()  # a local keyring needs no loading
    with pytest.raises(KeyringError, match="async writes"):
        meta_of(Far).encode_item(Far(k="a", s="x"))


@settings(max_examples=60, deadline=None)
@given(st.recursive(
    st.one_of(st.text(st.characters(exclude_categories=("Cs",))).map(lambda s: {"S": s}),
              st.integers().map(lambda i: {"N": str(i)}),
              st.binary().map(lambda b: {"B": b}), st.booleans().map(lambda b: {"BOOL": b}),
              st.just({"NULL": True})),
    lambda inner: st.one_of(st.lists(inner, max_size=3).map(lambda v: {"L": v}),
                            st.dictionaries(st.text(max_size=5), inner, max_size=3).map(
                                lambda v: {"M": v})),
    max_leaves=8))
def test_pack_round_trips_any_attribute_value(av: dict[str, Any]) -> None:
    assert unpack(pack(av)) == av


def test_the_benchmark_measures_the_overhead() -> None:
    from benchmarks.encryption import Result, cpu_overhead, table

    result = Result()
    cpu_overhead(50, 1, result)
    (plain,), (sealed,) = result.cpu["Plain"], result.cpu["Sealed"]
    assert all(t > 0 for t in (*plain, *sealed))
    assert any(line.startswith("| overhead |") for line in table(result))


def test_lazy_upgrades_see_decrypted_values_and_may_rename_them() -> None:
    import dynorm

    class AccountV1(Model, table="upg_accounts"):
        account_id: Annotated[str, PartitionKey]
        secret: Annotated[str, Encrypted(KEYS)]

    class AccountV2(Model, table="upg_accounts", schema_version=2):
        account_id: Annotated[str, PartitionKey]
        token: Annotated[str, Encrypted(KEYS)]

    seen: list[Any] = []

    @dynorm.upgrade(AccountV2, from_version=1)
    def rename(item: dict[str, Any]) -> dict[str, Any]:
        seen.append(item["secret"])
        return {"account_id": item["account_id"], "token": item.pop("secret").upper()}

    from dynorm.schema.decode import from_item

    old = meta_of(AccountV1).encode_item(AccountV1(account_id="a", secret="s3cret"))
    upgraded = from_item(AccountV2, old)  # the one read path: upgrade, then validate
    assert seen == ["s3cret"] and upgraded.token == "S3CRET"
    current = meta_of(AccountV2).encode_item(upgraded)  # saved: sealed under "token"
    assert from_item(AccountV2, current).token == "S3CRET" and len(seen) == 1


def test_accept_plaintext_reads_values_stored_before_the_field_was_encrypted() -> None:
    class Before(Model, table="adopt"):
        k: Annotated[str, PartitionKey]
        email: str
        notes: str = ""

    class During(Model, table="adopt"):
        k: Annotated[str, PartitionKey]
        email: Annotated[str, Encrypted(KEYS, accept_plaintext=True)]
        notes: Annotated[str, Compressed(accept_plaintext=True)] = ""

    class After(Model, table="adopt"):
        k: Annotated[str, PartitionKey]
        email: Annotated[str, Encrypted(KEYS)]
        notes: Annotated[str, Compressed()] = ""

    plain = meta_of(Before).encode_item(Before(k="a", email="a@example.com", notes="n"))
    during = opened(plain, During)
    assert (during.email, during.notes) == ("a@example.com", "n")
    with pytest.raises(DecryptionFailed, match="not as an encrypted value"):
        opened(plain, After)
    resealed = meta_of(During).encode_item(during)  # writes always seal
    assert set(resealed["email"]) == {"B"} and set(resealed["notes"]) == {"B"}
    assert opened(resealed, After).email == "a@example.com"
    tampered = dict(resealed, email={"B": resealed["email"]["B"][:-1] + b"x"})
    with pytest.raises(DecryptionFailed, match="does not authenticate"):
        opened(tampered, During)  # a sealed value is still checked
    with pytest.raises(SchemaError, match=r"accept_plaintext.*bytes"):
        class Raw(Model, table="adopt"):
            k: Annotated[str, PartitionKey]
            blob: Annotated[bytes, Encrypted(KEYS, accept_plaintext=True)]


class Remote(Keyring):
    """A keyring whose data keys need I/O (as KMS's do), over a local one."""

    kind = b"R"

    def __init__(self) -> None:
        super().__init__()
        self.inner = LocalKeyring({"r": K2})

    async def _generate(self) -> tuple[bytes, bytes]:
        plain, wrapped = self.inner._generate_now()
        return plain, b"R" + wrapped

    async def _unwrap(self, wrapped: bytes) -> bytes:
        return self.inner._unwrap_now(wrapped[1:])


async def test_the_lambda_adapter_loads_data_keys_before_decoding() -> None:
    from dynorm.codec.json import dumps, loads
    from dynorm.schema.decode import from_item
    from dynorm.streams import ChangeEvent, StreamListener

    remote = Remote()

    class Secret(Model, table="lambda_secrets"):
        k: Annotated[str, PartitionKey]
        s: Annotated[str, Encrypted(remote)]

    await remote.ready_to_write()
    item = meta_of(Secret).encode_item(Secret(k="a", s="from the stream"))
    remote.forget()  # a fresh Lambda container: no data key cached
    with pytest.raises(KeyringError, match="async reads"):
        from_item(Secret, item)
    listener = StreamListener(Secret)
    seen: list[ChangeEvent[Secret]] = []

    @listener.on(Secret)
    async def changed(event: ChangeEvent[Secret]) -> None:
        seen.append(event)

    record = {"eventID": "1", "eventName": "INSERT", "eventSource": "aws:dynamodb",
              "dynamodb": {"Keys": {"k": {"S": "a"}}, "NewImage": loads(dumps(item)),
                           "SequenceNumber": "1", "StreamViewType": "NEW_IMAGE"},
              "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/"
                                "lambda_secrets/stream/2026-01-01T00:00:00.000"}
    result = await listener.lambda_handler(table_prefix="")({"Records": [record]}, None)
    assert result == {"batchItemFailures": []}
    assert seen[0].new is not None and seen[0].new.s == "from the stream"
    assert remote.calls["unwrap"] == 1


_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
_JSONISH = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**30, 10**30), _TEXT, st.binary()),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(_TEXT.filter(bool), inner, max_size=3)),
    max_leaves=10)


@settings(max_examples=40, deadline=None)
@given(number=_TEXT.filter(bool), pin=st.one_of(st.none(), st.integers(-10**9, 10**9)),
       meta=st.dictionaries(_TEXT.filter(bool), _JSONISH, max_size=4))
def test_any_value_round_trips_through_encrypted_fields(number: str, pin: int | None,
                                                        meta: dict[str, Any]) -> None:
    card = Card(owner="o", n=1, number=SecretStr(number), pin=pin, meta=meta)
    back = opened(sealed(card))
    assert back.number.get_secret_value() == number
    assert (back.pin, back.meta) == (pin, meta)


def test_a_decrypted_value_that_does_not_fit_is_not_shown() -> None:
    import traceback

    from dynorm import ValidationFailed
    from dynorm.schema.decode import from_item

    class Loose(Model, table="fit"):
        k: Annotated[str, PartitionKey]
        code: Annotated[str, Encrypted(KEYS)]

    class Strict(Model, table="fit"):
        k: Annotated[str, PartitionKey]
        code: Annotated[int, Encrypted(KEYS)]

    item = meta_of(Loose).encode_item(Loose(k="a", code="top-secret-code"))
    with pytest.raises(ValidationFailed) as caught:
        from_item(Strict, item)
    shown = "".join(traceback.format_exception(caught.value))
    assert "code" in str(caught.value) and "top-secret-code" not in shown
