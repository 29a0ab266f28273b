"""Upgrades of attributes an older schema version stored sealed (``@upgrade(stored=)``),
against real servers: read by every read path and stored by a backfill as the current
version seals them; an upgrade that does not declare them is refused."""

from __future__ import annotations

from typing import Annotated, Any

import pytest

import dynorm
from dynorm import Compressed, Connection, Model, PartitionKey, UpgradeFailed, upgrade
from dynorm.kms import KmsKeyring
from dynorm.migrate import Migration
from dynorm.s3values import S3Value
from dynorm.schema.upgrade import SCHEMA_ATTRIBUTE
from dynorm.security import Encrypted
from dynorm.security.envelope import decompress

TEXT = "a note that compresses well. " * 400


class NoteV1(Model, table="notes_up"):
    note_id: Annotated[str, PartitionKey]
    data: Annotated[str, Compressed()] = ""


class Note(Model, table="notes_up", schema_version=2):
    note_id: Annotated[str, PartitionKey]
    body: Annotated[str, Compressed()] = ""


@upgrade(Note, from_version=1, stored={"data": Compressed()})
def rename_data(item: dict[str, Any]) -> None:
    item["body"] = item.pop("data", "")


class Blind(Model, table="notes_up", schema_version=2):
    note_id: Annotated[str, PartitionKey]
    body: str = ""


@upgrade(Blind, from_version=1)
def rename_blindly(item: dict[str, Any]) -> None:
    item["body"] = item.pop("data", "")


async def raw(conn: Connection, table: str, key: str) -> dict[str, Any]:
    answer = await conn.call("GetItem", {"TableName": conn.table_name(table),
                                         "Key": {"note_id": {"S": key}},
                                         "ConsistentRead": True})
    item: dict[str, Any] = answer["Item"]
    return item


@pytest.mark.dynorm_tables([Note])
async def test_a_renamed_compressed_attribute_is_read_and_backfilled(
        dynorm_connection: Connection) -> None:
    for i in range(3):
        await NoteV1(note_id=f"n{i}", data=f"{i} {TEXT}").save()
    note = await Note.get("n0", consistent=True)
    assert note.body == f"0 {TEXT}"
    found = await Note.scan().to_list()
    assert sorted(n.body for n in found) == [f"{i} {TEXT}" for i in range(3)]
    assert [n.body for n in await dynorm.get_many(Note, ["n1"])] == [f"1 {TEXT}"]
    with pytest.raises(UpgradeFailed, match=r"'data' \(schema version 1\) looks compressed"):
        await Blind.get("n0", consistent=True)

    result = await Migration("notes-v2", Note, lambda n: n).run(segments=1)
    assert result.changed == 3, str(result)
    stored = await raw(dynorm_connection, "notes_up", "n2")
    assert stored[SCHEMA_ATTRIBUTE] == {"N": "2"}
    assert decompress(bytes(stored["body"]["B"])) == f"S2 {TEXT}".encode()  # sealed once
    assert (await Note.get("n2", consistent=True)).body == f"2 {TEXT}"


@pytest.mark.only_on("moto", reason="S3: moto's server serves it, DynamoDB Local not")
async def test_a_renamed_s3_attribute_is_fetched_for_its_upgrade(
        dynorm_connection: Connection) -> None:
    store = S3Value("dynorm-upgrades", prefix="docs")
    await store.create_bucket()

    class DocV1(Model, table="docs_up"):
        doc_id: Annotated[str, PartitionKey]
        blob: Annotated[bytes, store] = b""

    class Doc(Model, table="docs_up", schema_version=2):
        doc_id: Annotated[str, PartitionKey]
        content: Annotated[bytes, store] = b""

    cold = S3Value("dynorm-upgrades", prefix="docs")  # another process: nothing cached

    @upgrade(Doc, from_version=1, stored={"blob": cold})
    def rename(item: dict[str, Any]) -> None:
        item["content"] = item.pop("blob", b"")

    await Doc.create_table()
    value = bytes(range(256)) * 2_000  # over DynamoDB's 400 KB item limit
    await DocV1(doc_id="d1", blob=value).save()
    reference = (await raw_doc(dynorm_connection))["blob"]
    assert len(reference["B"]) == 41  # a reference to the object
    assert (await Doc.get("d1", consistent=True)).content == value
    (doc,) = await Doc.query(Doc.doc_id == "d1").to_list()
    assert doc.content == value and cold.calls["get"] == 2
    await doc.save()  # the same object, referenced under the new name
    stored = await raw_doc(dynorm_connection)
    assert stored["content"] == reference and "blob" not in stored
    assert stored[SCHEMA_ATTRIBUTE] == {"N": "2"}
    await store.close()
    await cold.close()


@pytest.mark.only_on("moto", reason="KMS (GenerateDataKey, Decrypt) is moto's")
async def test_a_renamed_kms_encrypted_attribute_is_decrypted_with_a_cold_keyring(
        dynorm_connection: Connection) -> None:
    """The data key of an old version's encrypted attribute is loaded from KMS before
    the upgrade runs (a fresh process's keyring holds none), as for the model's own."""
    creator = KmsKeyring("unused")
    key_id = (await creator._call("CreateKey", {}))["KeyMetadata"]["KeyId"]

    class VaultV1(Model, table="vault_up"):
        vault_id: Annotated[str, PartitionKey]
        secret: Annotated[str, Encrypted(KmsKeyring(key_id))] = ""

    class Vault(Model, table="vault_up", schema_version=2):
        vault_id: Annotated[str, PartitionKey]
        pin: str = ""  # stored plain from version 2 on

    cold = KmsKeyring(key_id)

    @upgrade(Vault, from_version=1, stored={"secret": Encrypted(cold)})
    def rename(item: dict[str, Any]) -> None:
        item["pin"] = item.pop("secret", "")

    class Unsaid(Model, table="vault_up", schema_version=2):
        vault_id: Annotated[str, PartitionKey]
        pin: Annotated[str, Encrypted(KmsKeyring(key_id))] = ""

    upgrade(Unsaid, from_version=1)(rename)

    await VaultV1.create_table()
    await VaultV1(vault_id="v1", secret="4711").save()
    assert (await Vault.get("v1", consistent=True)).pin == "4711"
    assert cold.calls["unwrap"] == 1
    with pytest.raises(UpgradeFailed, match=r"'secret' .* looks encrypted") as caught:
        await Unsaid.get("v1", consistent=True)  # its keyring opens only its own fields
    assert "4711" not in str(caught.value)


async def raw_doc(conn: Connection) -> dict[str, Any]:
    answer = await conn.call("GetItem", {"TableName": conn.table_name("docs_up"),
                                         "Key": {"doc_id": {"S": "d1"}},
                                         "ConsistentRead": True})
    item: dict[str, Any] = answer["Item"]
    return item
