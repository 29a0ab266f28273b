"""Encrypted and compressed fields through every read and write path, on the server.

With a local keyring (both backends, both transports) and with KMS on moto's server
(``GenerateDataKey``/``Decrypt``): each path must seal on write and open on read, and a
KMS keyring whose cache was emptied shows that each read path loads its data keys
before decoding (a path that did not would raise KeyringError).
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from typing import Annotated, Any

import pytest
from pydantic import SecretStr

import dynorm
from dynorm import Connection, Model, PartitionKey, SortKey, Version
from dynorm.kms import KmsKeyring
from dynorm.security import (
    Compressed,
    DecryptionFailed,
    Encrypted,
    Keyring,
    LocalKeyring,
)
from dynorm.streams import ChangeEvent, StreamListener

LOCAL = LocalKeyring({"k1": os.urandom(32)})
NOTE = "a long note that compresses well. " * 200


def models(keys: Keyring, suffix: str) -> tuple[type[Model], type[Model]]:
    class Patient(Model, table=f"enc_patients_{suffix}"):
        patient_id: Annotated[str, PartitionKey]
        visit: Annotated[int, SortKey]
        ssn: Annotated[SecretStr, Encrypted(keys)]
        notes: Annotated[str, Compressed(), Encrypted(keys)] = ""
        scans: Annotated[dict[str, bytes], Encrypted(keys)] = {}
        summary: Annotated[str, Compressed()] = ""
        ward: str = "A"
        version: Annotated[int, Version] = 0

    class Doctor(Model, table=f"enc_doctors_{suffix}"):
        doctor_id: Annotated[str, PartitionKey]
        license: Annotated[str, Encrypted(keys)]

    return Patient, Doctor


async def every_path(keys: Keyring, suffix: str, raw_check: bool = True) -> dict[str, Any]:
    """Write through save, batch and transaction; read back through get, query, scan,
    get_many, batch_get, transact_get, update (ALL_NEW), update_item and refresh."""
    Patient, Doctor = models(keys, suffix)
    await Patient.create_table()
    await Doctor.create_table()
    forget = keys.forget

    def patient(pid: str, visit: int) -> Any:
        return Patient(patient_id=pid, visit=visit, ssn=SecretStr(f"ssn-{pid}-{visit}"),
                       notes=NOTE, scans={"x": bytes(range(256))}, summary=NOTE[:500])

    await patient("p1", 1).save()
    async with dynorm.batch() as b:
        for i in range(2, 5):
            b.save(patient("p1", i), unversioned=True)
    async with dynorm.transaction() as tx:
        tx.save(patient("p2", 1))
        tx.save(Doctor(doctor_id="d1", license="LIC-42"))

    if raw_check:  # what DynamoDB holds: bytes, no plaintext anywhere
        conn = dynorm.get_connection()
        raw = await conn.call("GetItem", {"TableName": conn.table_name(
            Patient.__dynorm_meta__.table_name),
            "Key": {"patient_id": {"S": "p1"}, "visit": {"N": "1"}}})
        item = raw["Item"]
        for attr in ("ssn", "notes", "scans", "summary"):
            assert set(item[attr]) == {"B"}, attr
        dump = b"".join(bytes(v["B"]) for k, v in item.items()
                        if "B" in v and k != "summary")  # summary: compressed only
        assert b"ssn-p1-1" not in dump and b"compresses well" not in dump
        assert len(item["notes"]["B"]) < len(NOTE) // 10  # compressed, then encrypted

    def check(p: Any, pid: str, visit: int) -> None:
        assert p.ssn.get_secret_value() == f"ssn-{pid}-{visit}"
        assert p.notes == NOTE and p.summary == NOTE[:500]
        assert p.scans == {"x": bytes(range(256))}
        assert "ssn-" not in repr(p) and "notes=" not in repr(p) and "scans" not in repr(p)

    forget()
    check(await Patient.get("p1", 1), "p1", 1)
    forget()
    got = await Patient.query(Patient.patient_id == "p1").to_list()
    assert [p.visit for p in got] == [1, 2, 3, 4]
    for p in got:
        check(p, "p1", p.visit)
    forget()
    pages = [page async for page in Patient.query(Patient.patient_id == "p1").page_size(2).pages()]
    check(pages[1].items[0], "p1", 3)
    forget()
    page = await Patient.query(Patient.patient_id == "p1").page(3)
    check(page.items[2], "p1", 3)
    forget()
    scanned = await Patient.scan().filter(Patient.ssn.exists()).to_list()
    assert len(scanned) == 5
    forget()
    many = await dynorm.get_many(Patient, [("p1", 2), ("p2", 1), ("p9", 9)])
    assert many[2] is None
    check(many[0], "p1", 2)
    check(many[1], "p2", 1)
    forget()
    pat, doc = await dynorm.batch_get((Patient, ("p1", 3)), (Doctor, "d1"))
    check(pat, "p1", 3)
    assert doc is not None and doc.license == "LIC-42"
    forget()
    pat, doc = await dynorm.transact_get((Patient, ("p1", 4)), (Doctor, "d1"))
    check(pat, "p1", 4)
    forget()
    p = await Patient.get("p2", 1)
    forget()
    await p.update(Patient.ward.set("B"))  # the ALL_NEW answer holds ciphertext
    check(p, "p2", 1)
    assert p.ward == "B" and p.version == 2
    forget()
    fresh = await Patient.update_item(("p2", 1), Patient.ward.set("C"))
    assert fresh is not None
    check(fresh, "p2", 1)
    forget()
    await p.refresh()
    check(p, "p2", 1)
    p.ssn = SecretStr("new-ssn")
    await p.save()
    assert (await Patient.get("p2", 1)).ssn.get_secret_value() == "new-ssn"
    moved = await p.move(visit=7)  # re-encrypted under its new key
    forget()
    assert (await Patient.get("p2", 7)).ssn.get_secret_value() == "new-ssn"
    assert moved.visit == 7
    return {"Patient": Patient, "Doctor": Doctor}


async def test_every_path_with_a_local_keyring(dynorm_connection: Connection) -> None:
    await every_path(LOCAL, "local")


async def test_moved_or_altered_values_do_not_decrypt(dynorm_connection: Connection) -> None:
    Patient, _ = models(LOCAL, "tamper")
    await Patient.create_table()
    conn = dynorm.get_connection()
    table = conn.table_name(Patient.__dynorm_meta__.table_name)
    await Patient(patient_id="p1", visit=1, ssn=SecretStr("secret-one")).save()
    await Patient(patient_id="p2", visit=1, ssn=SecretStr("secret-two")).save()
    one = (await conn.call("GetItem", {"TableName": table, "Key": {
        "patient_id": {"S": "p1"}, "visit": {"N": "1"}}}))["Item"]

    async def put_and_read(item: dict[str, Any], field: str) -> None:
        await conn.call("PutItem", {"TableName": table, "Item": item})
        key = (item["patient_id"]["S"], int(item["visit"]["N"]))
        with pytest.raises(DecryptionFailed) as caught:
            await Patient.get(*key)
        error = caught.value
        assert error.field == field and error.table == Patient.__dynorm_meta__.table_name
        assert error.key == {"patient_id": item["patient_id"], "visit": item["visit"]}
        assert "secret-" not in str(error) and key[0] in str(error)

    # p1's ciphertext copied into p2's item
    await put_and_read({**one, "patient_id": {"S": "p2"}}, "ssn")
    # the ssn ciphertext stored as the notes attribute
    await put_and_read({**one, "notes": one["ssn"]}, "notes")
    # one bit flipped
    flipped = bytearray(one["ssn"]["B"])
    flipped[-1] ^= 1
    await put_and_read({**one, "ssn": {"B": bytes(flipped)}}, "ssn")
    # a plaintext value where a sealed one belongs
    await put_and_read({**one, "ssn": {"S": "secret-plain"}}, "ssn")


@pytest.mark.only_on("moto", reason="KMS: moto's server implements it, DynamoDB Local not")
async def test_every_path_and_the_stream_with_kms(dynorm_connection: Connection) -> None:
    creator = KmsKeyring("unused")
    key_id = (await creator._call("CreateKey", {}))["KeyMetadata"]["KeyId"]
    keys = KmsKeyring(key_id, max_age=60)
    Patient = (await every_path(keys, "kms"))["Patient"]
    # data keys: one GenerateDataKey after each forget() before a write, not per item
    assert keys.calls["generate"] <= 4
    assert keys.calls["unwrap"] >= 10  # each read path loaded its keys after forget()

    # rotation: a new KMS key for new values; old values still read
    new_id = (await creator._call("CreateKey", {}))["KeyMetadata"]["KeyId"]
    rotated = KmsKeyring(new_id)
    Rotated, _ = models(rotated, "kms")
    old = await Rotated.get("p1", 1)
    assert old.ssn.get_secret_value() == "ssn-p1-1"
    await Rotated(patient_id="p5", visit=1, ssn=SecretStr("after")).save()
    assert (await Patient.get("p5", 1)).ssn.get_secret_value() == "after"

    # the stream's images decrypt too (data keys loaded by the listener)
    Streamed, _ = models(keys, "kms_stream")
    await Streamed.create_table(stream="NEW_AND_OLD_IMAGES")
    listener = StreamListener(Streamed, poll_interval=0.05, describe_interval=0.2)
    seen: list[ChangeEvent[Any]] = []

    @listener.on(Streamed)
    async def changed(event: ChangeEvent[Any]) -> None:
        seen.append(event)

    s = await Streamed(patient_id="s1", visit=1, ssn=SecretStr("streamed"), notes="n").save()
    await s.update(Streamed.ward.set("Z"))
    keys.forget()
    task = asyncio.create_task(listener.run())
    deadline = time.monotonic() + 10
    while len(seen) < 2 and time.monotonic() < deadline and not task.done():
        await asyncio.sleep(0.02)
    listener.stop()
    await task
    assert [e.kind for e in seen] == ["insert", "modify"]
    assert seen[1].old is not None and seen[1].old.ssn.get_secret_value() == "streamed"
    assert seen[1].new is not None and seen[1].new.ward == "Z"
    assert seen[1].new.notes == "n"
    await creator.close()
    await keys.close()
    await rotated.close()


@pytest.mark.only_on("moto", reason="KMS: moto's server implements it, DynamoDB Local not")
async def test_a_wrapped_key_kms_refuses_is_a_decryption_failure(
        dynorm_connection: Connection) -> None:
    creator = KmsKeyring("unused")
    key_id = (await creator._call("CreateKey", {}))["KeyMetadata"]["KeyId"]
    keys = KmsKeyring(key_id)
    Patient, _ = models(keys, "kms_bad")
    await Patient.create_table()
    await Patient(patient_id="p1", visit=1, ssn=SecretStr("kms-secret")).save()
    conn = dynorm.get_connection()
    table = conn.table_name(Patient.__dynorm_meta__.table_name)
    item = (await conn.call("GetItem", {"TableName": table, "Key": {
        "patient_id": {"S": "p1"}, "visit": {"N": "1"}}}))["Item"]
    sealed = bytearray(item["ssn"]["B"])
    sealed[10] ^= 0xFF  # inside KMS's ciphertext blob of the data key
    item["ssn"] = {"B": bytes(sealed)}
    await conn.call("PutItem", {"TableName": table, "Item": item})
    keys.forget()
    with pytest.raises(DecryptionFailed, match=r"Patient\.ssn.*p1") as caught:
        await Patient.get("p1", 1)
    assert "kms-secret" not in str(caught.value)
    assert base64.b64encode(b"kms-secret").decode() not in str(caught.value)
    await creator.close()
    await keys.close()
