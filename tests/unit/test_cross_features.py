"""Today's features combined, with exact requests (MockTransport): where one feature's
write could overwrite what another stores."""

from __future__ import annotations

import base64
import hashlib
import traceback
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import Field

import dynorm
from dynorm import (
    BatchWriteFailed,
    EncodingError,
    GlobalIndex,
    KeyTemplate,
    MockTransport,
    Model,
    PartitionKey,
    SchemaError,
    UpgradeFailed,
    ValidationFailed,
    upgrade,
)
from dynorm._types import Request, Response
from dynorm.cli.tail import _dump as tail_dump
from dynorm.migrate import Migration
from dynorm.migrate.item import item_change
from dynorm.schema.classes import meta_of
from dynorm.security import Compressed, Encrypted, LocalKeyring, ValueStore
from dynorm.streams import FailedRecord, StreamListener
from dynorm.tables.create import merged_table_request

STAMP_AT = 1767225600.123


class Ticket(Model, table="tickets"):
    ticket_id: Annotated[str, PartitionKey]
    region: str = "eu"                                     # a field named like a Region
    source: str = Field(default="web", alias="_origin")   # stored as _origin


def answer(op: str, req: Request) -> Response:
    return {}


@pytest.mark.parametrize("origin", [True, "region"])
async def test_an_origin_stamp_never_overwrites_a_field_of_the_item(
        origin: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """connect(origin=...) writes its stamp to one attribute of every item: an item that
    already holds that attribute as data (a field stored under that name) is refused,
    naming the attribute, instead of losing the field's value to the stamp."""
    monkeypatch.setattr("dynorm.connection.attempts.time.time", lambda: STAMP_AT)
    transport = MockTransport(answer)
    async with dynorm.connect(transport=transport, region="eu-west-1", origin=origin):
        with pytest.raises(EncodingError, match="origin stamp"):
            await Ticket(ticket_id="t1").save()
        with pytest.raises(BatchWriteFailed, match=r"EncodingError: .* origin stamp"):
            async with dynorm.batch() as b:
                b.save(Ticket(ticket_id="t2"))
        with pytest.raises(EncodingError, match="origin stamp"):
            async with dynorm.transaction() as tx:
                tx.save(Ticket(ticket_id="t3"))
    assert transport.requests == []  # nothing was sent


class Member(Model, table="club", entity="member", schema_version=2):
    pk = PartitionKey("M#{member_id}")
    member_id: str
    team: str = "a"
    by_team = GlobalIndex(KeyTemplate("TEAM#{team}", attribute="gsi1pk"),
                          projection="KEYS_ONLY")


class Visit(Model, table="club", entity="visit"):
    pk = PartitionKey("M#{member_id}")
    member_id: str
    team: str = "a"
    by_team = GlobalIndex(KeyTemplate("TEAM#{team}", attribute="gsi1pk"),
                          projection="KEYS_ONLY")


def test_one_entity_of_a_shared_table_may_declare_a_schema_version() -> None:
    """A schema version makes an entity's index project ``_schema`` too (an index page
    must say which version it read); another entity of the table sharing that index
    without a schema version is not a disagreement about the index: the table's index
    projects what each entity needs, and both read through it."""
    request = merged_table_request([meta_of(Member), meta_of(Visit)], "club")
    (index,) = request["GlobalSecondaryIndexes"]
    assert index["Projection"] == {"ProjectionType": "INCLUDE",
                                   "NonKeyAttributes": ["_type", "_schema"]}
    again = merged_table_request([meta_of(Visit), meta_of(Member)], "club")
    assert again["GlobalSecondaryIndexes"] == request["GlobalSecondaryIndexes"]
    with pytest.raises(SchemaError, match="disagree about index 'by_team'"):
        merged_table_request([meta_of(Member), meta_of(Guest)], "club")  # not _schema only


class Guest(Model, table="club", entity="guest"):
    pk = PartitionKey("M#{member_id}")
    member_id: str
    team: str = "a"
    note: str = ""
    by_team = GlobalIndex(KeyTemplate("TEAM#{team}", attribute="gsi1pk"),
                          projection=["note"])


class NoteV1(Model, table="notes_x"):
    note_id: Annotated[str, PartitionKey]
    data: Annotated[bytes, Compressed()] = b""


class Note(Model, table="notes_x", schema_version=2):
    note_id: Annotated[str, PartitionKey]
    payload: Annotated[bytes, Compressed()] = b""


@upgrade(Note, from_version=1, stored={"data": Compressed()})
def rename_data(item: dict[str, Any]) -> None:
    item["payload"] = item.pop("data", b"")


class NoteV2(Model, table="notes_x", schema_version=2):
    note_id: Annotated[str, PartitionKey]
    payload: Annotated[bytes, Compressed()] = b""


@upgrade(NoteV2, from_version=1)  # does not say that version 1 compressed "data"
def rename_data_blindly(item: dict[str, Any]) -> None:
    item["payload"] = item.pop("data", b"")


def test_an_upgrade_renaming_a_compressed_field_reads_its_value() -> None:
    """An upgrade that renames an older version's compressed attribute gets its value
    when it declares how that version stored it (``stored=``), and is refused, naming
    the attribute and the fix, when it does not -- never the compressed bytes as the
    value (which save() would then store, compressed once more)."""
    stored = NoteV1(note_id="n1", data=b"\x00\x01" * 300).to_item()
    note = Note.from_item(stored)
    assert note.payload == b"\x00\x01" * 300
    assert meta_of(Note).encode_item(note)["payload"] == NoteV1(
        note_id="n1", data=b"\x00\x01" * 300).to_item()["data"]  # sealed once, alike
    with pytest.raises(UpgradeFailed, match=(
            r"NoteV2 \(note_id='n1'\).*attribute 'data' \(schema version 1\) looks "
            r"compressed.*@dynorm.upgrade\(NoteV2, from_version=1, "
            r"stored=\{'data': Compressed\(\)\}\)")):
        NoteV2.from_item(stored)


class MemoryStore(ValueStore):
    """A value store in memory (S3Value's contract: objects keyed by digest)."""

    def __init__(self) -> None:
        super().__init__()
        self.objects: dict[str, bytes] = {}

    async def put(self, key: str, data: bytes) -> None:
        self.objects[key] = data

    async def get(self, key: str) -> bytes | None:
        return self.objects.get(key)


PHOTOS = MemoryStore()


class Photo(Model, table="photos_x"):
    photo_id: Annotated[str, PartitionKey]
    image: Annotated[bytes, PHOTOS] = b""

    async def before_save(self) -> None:
        self.image = self.image or f"rendered {self.photo_id}".encode()


async def test_every_write_path_stores_what_before_save_sets() -> None:
    """save(), a batch and a transaction run before_save() before the values it sets
    are uploaded: the item refers to the object of the value it holds."""
    transport = MockTransport(answer)
    async with dynorm.connect(transport=transport, region="eu-west-1"):
        await Photo(photo_id="p1").save()
        async with dynorm.batch() as b:
            b.save(Photo(photo_id="p2"))
        async with dynorm.transaction() as tx:
            tx.save(Photo(photo_id="p3"))
    items = [transport.requests[0][1]["Item"],
             transport.requests[1][1]["RequestItems"]["photos_x"][0]["PutRequest"]["Item"],
             transport.requests[2][1]["TransactItems"][0]["Put"]["Item"]]
    for n, item in enumerate(items, 1):
        reference = bytes(item["image"]["B"])
        assert PHOTOS.objects[reference[1:33].hex()] == b"B" + f"rendered p{n}".encode()


class DownStore(MemoryStore):
    """A value store that cannot be reached (S3 down, throttled, no network)."""

    async def get(self, key: str) -> bytes | None:
        raise ConnectionError("S3 is unreachable")


DOWN = DownStore()


class Scan(Model, table="scans_x"):
    scan_id: Annotated[str, PartitionKey]
    image: Annotated[bytes, DOWN]


async def test_the_lambda_adapter_retries_a_record_whose_values_cannot_be_fetched() -> None:
    """A stream record whose S3 values cannot be fetched now is not invalid: the Lambda
    batch fails and is retried, as StreamListener retries the shard and as the adapter
    does when KMS cannot give its data keys; reported as invalid, it would be skipped
    (its change lost to the handler)."""
    reference = b"S" + hashlib.sha256(b"Bimage").digest() + (6).to_bytes(8, "big")
    record = {
        "eventID": "1", "eventName": "INSERT", "eventSource": "aws:dynamodb",
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:1:table/scans_x/stream/2026",
        "dynamodb": {"Keys": {"scan_id": {"S": "s1"}}, "SequenceNumber": "100",
                     "NewImage": {"scan_id": {"S": "s1"},
                                  "image": {"B": base64.b64encode(reference).decode()}},
                     "StreamViewType": "NEW_IMAGE"}}
    listener = StreamListener(Scan)
    seen: list[Any] = []
    failed: list[FailedRecord] = []

    @listener.on(Scan)
    async def handle(event: Any) -> None:
        seen.append(event)

    listener.on_error(failed.append)
    with pytest.raises(ConnectionError, match="unreachable"):
        await listener.lambda_handler(table_prefix="")({"Records": [record]}, None)
    assert (seen, failed) == ([], [])


SECRETS = LocalKeyring({"k1": bytes(32)})


class Patient(Model, table="patients_x"):
    patient_id: Annotated[str, PartitionKey]
    ssn: Annotated[str, Encrypted(SECRETS)]
    note: Annotated[str, Compressed()] = ""


def test_streams_tail_never_prints_a_decrypted_value() -> None:
    """`dynorm streams tail --model` prints each event's images: an encrypted field
    shows that it is there, never its value (as the model's repr hides it); a
    compressed one is shown as it is."""
    patient = Patient(patient_id="p1", ssn="123-45-6789", note="n")
    assert "123-45-6789" not in repr(patient)
    shown = tail_dump(patient)
    assert shown == {"patient_id": "p1", "ssn": "<encrypted>", "note": "n"}


class Pin(Model, table="pins_x"):
    pin_id: Annotated[str, PartitionKey]
    pin: Annotated[str, Encrypted(SECRETS)]


class PinV2(Model, table="pins_x", schema_version=2):
    pin_id: Annotated[str, PartitionKey]
    pin: Annotated[int, Encrypted(SECRETS)]


@upgrade(PinV2, from_version=1)
def pin_to_int(item: dict[str, Any]) -> None:
    item["pin"] = int(item["pin"])


def test_a_failed_upgrade_never_repeats_a_decrypted_value() -> None:
    """An upgrade sees decrypted values; the error of one that raises names the upgrade,
    the item and the exception's type, but not its message (``int('pin-4711')`` puts the
    value in it), neither in the error nor in its traceback."""
    stored = Pin(pin_id="p1", pin="pin-4711").to_item()
    with pytest.raises(UpgradeFailed, match=r"pin_to_int .* raised ValueError") as caught:
        PinV2.from_item(stored)
    shown = "".join(traceback.format_exception(caught.value))
    assert "4711" not in shown and "pin_to_int" in shown


async def test_a_failed_migration_never_logs_a_decrypted_value(
        caplog: pytest.LogCaptureFixture) -> None:
    """A migration's change sees the decrypted instance: a change that raises is listed
    (and logged) with its exception's type, not its message, which may hold a value."""
    stored = Pin(pin_id="p1", pin="pin-4711").to_item()

    def answer(op: str, req: Request) -> Response:
        if op == "DescribeTable":
            return {"Table": {"TableStatus": "ACTIVE", "ItemCount": 1}}
        return {"Items": [stored], "Count": 1, "ScannedCount": 1} if op == "Scan" else {}

    def change(pin: Pin) -> Pin:
        raise ValueError(f"cannot parse {pin.pin!r}")

    async with dynorm.connect(transport=MockTransport(answer), region="eu-west-1"):
        result = await Migration("pins-x", Pin, change).run(segments=1, dry_run=True)
    assert result.failed == 1
    assert "ValueError" in result.failures[0].reason
    assert "4711" not in result.failures[0].reason and "4711" not in caplog.text


class Profile(Model, table="club", entity="profile"):
    pk = PartitionKey("M#{member_id}")
    member_id: str
    team: str = "a"


def test_from_item_refuses_another_entitys_item() -> None:
    """Model.from_item() (what import_table(model=) checks items with, and stream
    events decode with) applies the entity check every read path applies: an item of
    another entity of the table is not read as this model, even where its fields fit."""
    visit = Visit(member_id="m1", team="b").to_item()
    with pytest.raises(ValidationFailed, match=r"entity 'visit'.* not a Profile") as caught:
        Profile.from_item(visit)
    assert caught.value.model == "Profile" and caught.value.table == "club"
    assert Profile.from_item(Profile(member_id="m1").to_item()) == Profile(member_id="m1")


def test_no_module_waits_with_asyncio_wait_for() -> None:
    """The house rule (Python 3.11's asyncio.wait_for can swallow a cancellation: Ctrl-C
    of `dynorm streams tail` would not stop it): dynorm._aio.within / wait_event."""
    root = Path(dynorm.__file__).parent
    found = [f"{path.relative_to(root)}:{n}"
             for path in sorted(root.rglob("*.py"))
             for n, line in enumerate(path.read_text().splitlines(), 1)
             if "asyncio.wait_for(" in line and not line.lstrip().startswith("#")]
    assert found == []


def test_a_backfill_guards_every_attribute_an_upgrade_read() -> None:
    """The UpdateItem of a migrated item read through its upgrades is conditioned on
    every attribute it read (the upgrade's inputs), the ones it changes included."""
    meta = meta_of(Member)
    old = {"pk": {"S": "M#m1"}, "name": {"S": "Ada"}, "team": {"S": "a"},
           "_migrations": {"SS": ["earlier"]}}
    new = Member(member_id="m1", team="b").to_item()
    request = item_change(meta, old, new, upgraded=True).request("club", "m2")
    names = request["ExpressionAttributeNames"]
    assert sorted(v for k, v in names.items() if k.startswith("#s")) == [
        "_schema", "_type", "gsi1pk", "team"]  # what the change writes, each guarded
    assert [v for k, v in names.items() if k.startswith("#g")] == ["name"]
    assert request["ConditionExpression"].endswith(" AND #g0 = :g0")
    assert request["ExpressionAttributeValues"][":g0"] == {"S": "Ada"}
    plain = item_change(meta, old, new).request("club", "m2")  # read at its version
    assert "#g0" not in plain["ExpressionAttributeNames"]


def test_an_applications_cyclic_garbage_is_collected_while_answers_are_settled() -> None:
    """Big answers are parsed `settled` (dynorm._gc: the new tree moved to the oldest
    generation by gc.freeze() + gc.unfreeze(), which also zero the collector's counts). An
    application that reads big answers often, holding objects in cycles across each
    read and dropping them after, must still have that garbage collected by the
    collector's own schedule (no gc.collect() of its own): it once never was. The schedule
    kept is the one of answers parsed with the collector paused: each answer one young
    collection, a full one after ``threshold[1] * threshold[2]`` of them (100) once the
    oldest generation has grown by a quarter."""
    import gc

    from dynorm._gc import settled
    from tests.support.garbage import Cycles

    cycles = Cycles()
    was = gc.isenabled()
    gc.enable()
    try:
        gc.collect()
        _, middle, oldest = gc.get_threshold()
        every = middle * oldest + 1  # answers between two full collections
        # Answers that grow the oldest generation by a quarter within ``every`` reads,
        # whatever the heap this process has (pytest's, the other tests').
        size = max(200, len(gc.get_objects()) // (every // 2))
        peak = 0
        for _ in range(3 * every):
            held = [cycles.make() for _ in range(20)]  # alive across the read...
            tree = settled(lambda: [{"S": [i]} for i in range(size)])
            del tree, held  # ... then garbage
            peak = max(peak, cycles.alive())
        assert peak <= 20 * (every + 1), (
            f"{peak} of {60 * every:,} garbage cycles not collected")
    finally:
        (gc.enable if was else gc.disable)()
