"""Secrets stay secret, cursors cannot be forged, expressions hold no user text."""

from __future__ import annotations

import logging
import re
from typing import Annotated, Any

import pytest
from pydantic import Field

import dynorm
from dynorm import LocalServer, Model, PartitionKey, SortKey, TransportError
from dynorm.read.pagination import InvalidCursor, decode_cursor, encode_cursor
from tests.support.fault_proxy import FaultConfig, faulty_connection

ACCESS_KEY = "AKIASECRETKEYID12345"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzz-very-secret"
SESSION_TOKEN = "FwoGZXIvYXdzEJr//////////token-secret-part"

HOSTILE = ['") OR attribute_exists(#x', "#n0", ":v0 OR :v1", "a) OR (b", "SET x = :v0"]


class Box(Model, table="sec_boxes"):
    box_id: Annotated[str, PartitionKey]
    slot: Annotated[int, SortKey]
    label: str = Field(default="", alias='x") OR attribute_exists(#y')
    note: str = Field(default="", alias="#n0 = :v0")
    size: int = Field(default=0, alias="size")  # a reserved word


def secrets() -> list[str]:
    return [SECRET_KEY, SESSION_TOKEN, SECRET_KEY.split("/")[-1]]


@pytest.mark.parametrize("transport", ["aioboto3", "fast"])
async def test_credentials_never_in_reprs_logs_or_errors(
        dynorm_server: LocalServer, transport: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, botocore's included
    texts: list[str] = []
    config = FaultConfig.mixed(0.5, seed=1)
    async with faulty_connection(dynorm_server, FaultConfig(), [Box], transport=transport,
                                 max_attempts=2, aws_access_key_id=ACCESS_KEY,
                                 aws_secret_access_key=SECRET_KEY,
                                 aws_session_token=SESSION_TOKEN) as (proxy, conn):
        proxy.config = config
        texts += [repr(conn), str(conn), repr(conn.transport)]
        for i in range(30):
            try:
                await Box(box_id="b", slot=i).save()
                await Box.get("b", i)
            except dynorm.DynormError as exc:
                texts += [str(exc), repr(exc), repr(exc.__cause__), str(exc.__cause__)]
        assert sum(proxy.stats.faults.values()) > 5
    # And a connection refused outright.
    async with dynorm.connect(endpoint_url="http://127.0.0.1:9", region="us-east-1",
                              aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                              max_attempts=1, transport=transport):
        with pytest.raises(TransportError) as info:
            await Box.get("b", 1)
        texts += [str(info.value), repr(info.value), str(info.value.__cause__)]
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith(BOTO)]
    theirs = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith(BOTO))
    assert len(ours) > 5  # dynorm logged its retries
    blob = "\n".join(texts + ours)
    for secret in secrets():
        assert secret not in blob
    # botocore's own DEBUG output (aioboto3 transport only) never holds the secret key,
    # but its canonical-request line does show the session token: a botocore behaviour,
    # documented in docs/reliability.md (keep botocore's loggers above DEBUG in production).
    assert SECRET_KEY not in theirs


BOTO = ("botocore", "aiobotocore", "aioboto3", "boto3", "urllib3")


async def test_cursors_are_signed_and_scoped(dynorm_server: LocalServer) -> None:
    dynorm_server.reset()
    async with dynorm_server.connect(transport="fast", cursor_secret="one"):
        await Box.create_table()
        for i in range(3):
            await Box(box_id="b", slot=i).save()
        page = await Box.query(Box.box_id == "b").page(size=1)
        assert page.cursor is not None
        scope = Box.query(Box.box_id == "b")._scope()
        # A cursor forged for another item, signed with a guessed secret.
        forged = encode_cursor({"box_id": {"S": "other"}, "slot": {"N": "0"}}, scope, b"guess")
        with pytest.raises(InvalidCursor, match="altered or forged"):
            await Box.query(Box.box_id == "b").page(size=1, cursor=forged)
        # The real payload re-signed with another secret; the real signature on a new payload.
        _, _, mac = page.cursor.partition(".")
        other_payload = forged.partition(".")[0]
        with pytest.raises(InvalidCursor):
            await Box.query(Box.box_id == "b").page(cursor=f"{other_payload}.{mac}")
        assert decode_cursor(page.cursor, scope, b"one")["slot"] == {"N": "0"}
    async with dynorm_server.connect(transport="fast", cursor_secret="two"):
        with pytest.raises(InvalidCursor, match="altered or forged"):
            await Box.query(Box.box_id == "b").page(cursor=page.cursor)


_TOKEN = re.compile(
    r"#n\d+|:v\d+|\[\d+\]|<>|<=|>=|[=<>(),.+\-]|\s+|"
    r"\b(?:AND|OR|NOT|BETWEEN|IN|SET|REMOVE|ADD|DELETE|attribute_exists|attribute_not_exists|"
    r"attribute_type|begins_with|contains|size|if_not_exists|list_append)\b")


def only_placeholders(expression: str) -> bool:
    return _TOKEN.sub("", expression) == ""


async def test_expressions_hold_only_placeholders(dynorm_server: LocalServer) -> None:
    async with faulty_connection(dynorm_server, FaultConfig(), [Box]) as (proxy, _):
        for value in HOSTILE:
            box = await Box(box_id=value, slot=1, label=value, note=value, size=3).save()
            await box.update(Box.label.set(value), Box.note.set(value + "!"), Box.size.add(1),
                             condition=(Box.label == value) & Box.note.begins_with(value))
            await Box.query(Box.box_id == value, Box.slot.between(0, 5)).filter(
                Box.label.contains(value) | (Box.note == value), Box.size > 0).to_list()
            await Box.scan().filter(Box.label.is_in(value, "x")).to_list()
            await box.delete(condition=Box.note.exists())
    expressions: list[str] = []
    names: list[Any] = []
    for _, payload in proxy.requests:
        for field, text in payload.items():
            if field.endswith("Expression"):
                expressions.append(text)
        names += list(payload.get("ExpressionAttributeNames", {}).values())
    assert len(expressions) > 20
    for text in expressions:
        assert only_placeholders(text), text
        for value in HOSTILE:
            if not only_placeholders(value):  # "#n0" looks like a placeholder by design
                assert value not in text
    # The hostile aliases travelled only as ExpressionAttributeNames values.
    assert 'x") OR attribute_exists(#y' in names and "#n0 = :v0" in names and "size" in names
