"""The same scenarios over both transports: aioboto3 (botocore) and the lean "fast" one.

Against the moto server: CRUD, conditional failures carrying the item, query paging,
scan, updates, raw batch and transaction calls (cancellation reasons), bytes and binary
sets, and the stream API. Against a scripted HTTP server: identical error classes,
codes and messages for each transport, retries, the CRC32 check and credential refresh.
"""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Annotated, Any

import pytest
from aiohttp import web

import dynorm
from dynorm import ConditionFailed, Connection, Model, PartitionKey, SortKey
from dynorm.local import LocalServer
from tests.support.loopback import self_signed, serve

TRANSPORTS = ["aioboto3", "fast"]


class Blob(Model, table="fast_blobs"):
    owner: Annotated[str, PartitionKey]
    seq: Annotated[int, SortKey]
    name: str = ""
    data: bytes = b""
    chunks: set[bytes] = set()
    tags: set[str] = set()
    amount: Decimal = Decimal("0")
    meta: dict[str, Any] = {}


@pytest.fixture(params=TRANSPORTS)
async def conn(dynorm_server: LocalServer, request: pytest.FixtureRequest
               ) -> AsyncIterator[Connection]:
    dynorm_server.reset()
    async with dynorm_server.connect(max_attempts=3, transport=request.param) as connection:
        await Blob.create_table()
        yield connection


def _kind(connection: Connection) -> str:
    return "fast" if type(connection.transport).__name__ == "FastTransport" else "aioboto3"


async def test_selected_transport(conn: Connection) -> None:
    from dynorm.transport.aioboto3 import Aioboto3Transport
    from dynorm.transport.fast import FastTransport

    assert isinstance(conn.transport, (FastTransport, Aioboto3Transport))


async def test_crud_and_bytes_round_trip(conn: Connection) -> None:
    blob = Blob(owner="o1", seq=1, name="a", data=b"\x00\xff\x10binary", amount=Decimal("12.50"),
                chunks={b"\x01", b"\x02\x03", b""[:0] + b"z"}, tags={"x", "y"},
                meta={"nested": {"raw": b"\xde\xad", "n": 3}, "list": [b"\xbe\xef", "s"]})
    await blob.save()
    got = await Blob.get("o1", 1, consistent=True)
    assert got == blob
    assert got.meta["nested"]["raw"] == b"\xde\xad"
    raw = await conn.call("GetItem", {"TableName": "fast_blobs",
                                      "Key": {"owner": {"S": "o1"}, "seq": {"N": "1"}}})
    assert raw["Item"]["data"] == {"B": b"\x00\xff\x10binary"}
    assert sorted(raw["Item"]["chunks"]["BS"]) == [b"\x01", b"\x02\x03", b"z"]
    await got.update(Blob.name.set("b"), Blob.chunks.add({b"\x04"}))
    again = await Blob.get("o1", 1)
    assert again.name == "b" and b"\x04" in again.chunks
    await again.delete()
    assert await Blob.find_one("o1", 1) is None


async def test_conditional_failure_carries_item(conn: Connection) -> None:
    await Blob(owner="o2", seq=1, name="first", data=b"\x00").save()
    with pytest.raises(ConditionFailed) as info:
        await Blob(owner="o2", seq=1, name="second").save(condition=Blob.owner.not_exists())
    assert isinstance(info.value.item, Blob)
    assert info.value.item.name == "first" and info.value.item.data == b"\x00"
    # The raw transport error, as the model layer receives it.
    with pytest.raises(ConditionFailed) as raw:
        await conn.call("PutItem", {
            "TableName": "fast_blobs", "Item": {"owner": {"S": "o2"}, "seq": {"N": "1"}},
            "ConditionExpression": "attribute_not_exists(#o)",
            "ExpressionAttributeNames": {"#o": "owner"},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD"})
    error = raw.value
    assert error.code == "ConditionalCheckFailedException"
    assert error.operation == "PutItem"
    assert error.message == "The conditional request failed"
    assert error.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert error.response["Item"]["data"] == {"B": b"\x00"}


async def test_query_paging_scan_and_update(conn: Connection) -> None:
    for i in range(30):
        await Blob(owner="q", seq=i, name=f"n{i}", data=bytes([i])).save()
    items = await Blob.query(Blob.owner == "q").to_list()
    assert [b.seq for b in items] == list(range(30))
    assert [b.data for b in items] == [bytes([i]) for i in range(30)]
    seen: list[int] = []
    cursor = None
    while True:
        page = await Blob.query(Blob.owner == "q", Blob.seq >= 5).page(size=7, cursor=cursor)
        seen += [b.seq for b in page.items]
        cursor = page.cursor
        if cursor is None:
            break
    assert seen == list(range(5, 30))
    scanned = await Blob.scan().to_list()
    assert sorted(b.seq for b in scanned) == list(range(30))
    response = await conn.call("UpdateItem", {
        "TableName": "fast_blobs", "Key": {"owner": {"S": "q"}, "seq": {"N": "3"}},
        "UpdateExpression": "SET #d = :d ADD #a :one",
        "ExpressionAttributeNames": {"#d": "data", "#a": "amount"},
        "ExpressionAttributeValues": {":d": {"B": b"\xff" * 3}, ":one": {"N": "1"}},
        "ReturnValues": "ALL_NEW"})
    assert response["Attributes"]["data"] == {"B": b"\xff\xff\xff"}
    assert response["Attributes"]["amount"] == {"N": "1"}


async def test_raw_batch_write_and_get(conn: Connection) -> None:
    writes = [{"PutRequest": {"Item": {"owner": {"S": "b"}, "seq": {"N": str(i)},
                                       "data": {"B": bytes([i, i])}}}} for i in range(25)]
    response = await conn.call("BatchWriteItem", {"RequestItems": {"fast_blobs": writes}})
    assert not response.get("UnprocessedItems")
    keys = [{"owner": {"S": "b"}, "seq": {"N": str(i)}} for i in range(0, 25, 2)]
    got = await conn.call("BatchGetItem", {"RequestItems": {"fast_blobs": {"Keys": keys}}})
    items = got["Responses"]["fast_blobs"]
    assert sorted((int(i["seq"]["N"]), i["data"]["B"]) for i in items) == [
        (i, bytes([i, i])) for i in range(0, 25, 2)]
    assert (await Blob.get("b", 2)).data == b"\x02\x02"


async def test_transaction_cancellation_reasons(conn: Connection) -> None:
    await Blob(owner="t", seq=1, name="held", data=b"\x07").save()
    with pytest.raises(dynorm.ServiceError) as info:
        await conn.call("TransactWriteItems", {"TransactItems": [
            {"Put": {"TableName": "fast_blobs",
                     "Item": {"owner": {"S": "t"}, "seq": {"N": "2"}}}},
            {"Put": {"TableName": "fast_blobs",
                     "Item": {"owner": {"S": "t"}, "seq": {"N": "1"}},
                     "ConditionExpression": "attribute_not_exists(#o)",
                     "ExpressionAttributeNames": {"#o": "owner"},
                     "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
        ]})
    error = info.value
    assert error.code == "TransactionCanceledException"
    assert error.operation == "TransactWriteItems"
    reasons = error.response["CancellationReasons"]
    assert [r["Code"] for r in reasons] == ["None", "ConditionalCheckFailed"]
    assert reasons[1]["Item"]["data"] == {"B": b"\x07"}
    assert await Blob.find_one("t", 2) is None
    got = await conn.call("TransactGetItems", {"TransactItems": [
        {"Get": {"TableName": "fast_blobs", "Key": {"owner": {"S": "t"}, "seq": {"N": "1"}}}}]})
    assert got["Responses"][0]["Item"]["data"] == {"B": b"\x07"}


async def test_table_errors(conn: Connection) -> None:
    with pytest.raises(dynorm.TableNotFound) as info:
        await conn.call("GetItem", {"TableName": "missing", "Key": {"k": {"S": "x"}}})
    assert info.value.code == "ResourceNotFoundException"
    with pytest.raises(dynorm.RequestRejected) as rejected:
        await conn.call("Query", {"TableName": "fast_blobs",
                                  "KeyConditionExpression": "#o = :o",
                                  "ExpressionAttributeValues": {":o": {"S": "x"}}})
    assert rejected.value.code == "ValidationException"


async def test_stream_operations(conn: Connection) -> None:
    await conn.call("UpdateTable", {"TableName": "fast_blobs", "StreamSpecification": {
        "StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}})
    await Blob(owner="s", seq=1, data=b"\x01\x02").save()
    streams = await conn.call("ListStreams", {"TableName": "fast_blobs"})
    arn = streams["Streams"][0]["StreamArn"]
    described = await conn.call("DescribeStream", {"StreamArn": arn})
    shard = described["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = await conn.call("GetShardIterator", {
        "StreamArn": arn, "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"})
    records = await conn.call("GetRecords", {"ShardIterator": iterator["ShardIterator"]})
    images = [r["dynamodb"]["NewImage"] for r in records["Records"]]
    assert images[-1]["data"] == {"B": b"\x01\x02"}


# ----------------------------------------------------------- a scripted server


class Scripted:
    """Answers each POST with the next scripted (status, body, crc override) or an item."""

    def __init__(self) -> None:
        self.script: list[tuple[int, dict[str, Any] | bytes, int | None]] = []
        self.calls = 0
        self.headers: list[dict[str, str]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.calls += 1
        self.headers.append(dict(request.headers))
        await request.read()
        status, body, crc = (self.script.pop(0) if self.script
                             else (200, {"Item": {"id": {"S": "k"}, "b": {"B": "AAE="}}}, None))
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"x-amz-crc32": str(crc if crc is not None else zlib.crc32(raw)),
                   "x-amzn-RequestId": "req-1"}
        return web.Response(status=status, body=raw, headers=headers,
                            content_type="application/x-amz-json-1.0")


@pytest.fixture
async def scripted() -> AsyncIterator[tuple[Scripted, str]]:
    server = Scripted()
    async with serve(server.handle) as port:
        yield server, f"http://127.0.0.1:{port}"


def _connect(url: str, kind: str, attempts: int = 3) -> Connection:
    return dynorm.connect(endpoint_url=url, region="us-east-1", aws_access_key_id="k",
                          aws_secret_access_key="s", transport=kind,
                          retry=dynorm.RetryPolicy(max_attempts=attempts, base_delay=0.001))


_ERRORS: list[tuple[int, dict[str, Any] | bytes]] = [
    (400, {"__type": "com.amazonaws.dynamodb.v20120810#ValidationException",
           "message": "One or more parameter values were invalid"}),
    (400, {"__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
           "message": "The conditional request failed",
           "Item": {"id": {"S": "k"}, "b": {"B": "3q2+7w=="}}}),
    (400, {"__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
           "Message": "Transaction cancelled",
           "CancellationReasons": [{"Code": "None"}, {"Code": "ConditionalCheckFailed",
                                                      "Item": {"b": {"BS": ["AQ=="]}}}]}),
    (400, {"__type": "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException",
           "message": "Requested resource not found"}),
    (400, {"__type": "com.amazon.coral.validate#ValidationException"}),
    (400, {"__type": "SomethingNewException", "message": "new"}),
    (413, b"<html>too large</html>"),
    (500, {"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError",
           "message": "boom"}),
    (400, {"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException",
           "message": "Rate exceeded"}),
]


async def test_errors_match_between_transports(scripted: tuple[Scripted, str]) -> None:
    server, url = scripted
    seen: dict[str, list[tuple[Any, ...]]] = {}
    for kind in TRANSPORTS:
        seen[kind] = []
        async with _connect(url, kind, attempts=1) as connection:
            for status, body in _ERRORS:
                server.script = [(status, body, None)]
                with pytest.raises(dynorm.ServiceError) as info:
                    await connection.call("PutItem", {"TableName": "t",
                                                      "Item": {"id": {"S": "k"}}})
                e = info.value
                response = {k: v for k, v in e.response.items()
                            if k not in ("ResponseMetadata", "message", "Message")}
                seen[kind].append((type(e), e.code, e.operation, str(e), e.message, response))
    for ours, theirs in zip(seen["fast"], seen["aioboto3"], strict=True):
        assert ours == theirs


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_retries_then_success(scripted: tuple[Scripted, str], kind: str) -> None:
    server, url = scripted
    throttled = {"__type": "com.amazonaws.dynamodb.v20120810#"
                           "ProvisionedThroughputExceededException", "message": "slow down"}
    server.script = [(400, throttled, None), (500, {"__type": "InternalServerError"}, None)]
    async with _connect(url, kind, attempts=3) as connection:
        response = await connection.call("GetItem", {"TableName": "t", "Key": {}})
    assert response["Item"]["b"] == {"B": b"\x00\x01"}
    assert server.calls == 3


async def test_fast_crc_mismatch_is_retried_then_transport_error(
        scripted: tuple[Scripted, str]) -> None:
    server, url = scripted
    server.script = [(200, {"Item": {}}, 12345)]
    async with _connect(url, "fast", attempts=2) as connection:
        response = await connection.call("GetItem", {"TableName": "t", "Key": {}})
        assert response["Item"]["id"] == {"S": "k"} and server.calls == 2
        server.script = [(200, {"Item": {}}, 1)] * 2
        with pytest.raises(dynorm.TransportError, match="crc32"):
            await connection.call("GetItem", {"TableName": "t", "Key": {}})


async def test_fast_signs_with_session_token_and_streams_target(
        scripted: tuple[Scripted, str]) -> None:
    server, url = scripted
    async with dynorm.connect(endpoint_url=url, region="eu-west-1", aws_access_key_id="AK",
                              aws_secret_access_key="SK", aws_session_token="TOKEN",
                              transport="fast") as connection:
        await connection.call("GetRecords", {"ShardIterator": "x"})
        await connection.call("GetItem", {"TableName": "t", "Key": {}})
    streams, items = server.headers
    assert streams["X-Amz-Target"] == "DynamoDBStreams_20120810.GetRecords"
    assert items["X-Amz-Target"] == "DynamoDB_20120810.GetItem"
    assert items["X-Amz-Security-Token"] == "TOKEN"
    assert items["Content-Type"] == "application/x-amz-json-1.0"
    assert items["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AK/")
    assert "/eu-west-1/dynamodb/aws4_request, SignedHeaders=content-type;host;x-amz-date;" \
           "x-amz-security-token;x-amz-target, Signature=" in items["Authorization"]


async def test_fast_connection_refused_is_transport_error() -> None:
    from dynorm.local import _free_port

    url = f"http://127.0.0.1:{_free_port('127.0.0.1')}"
    async with _connect(url, "fast", attempts=2) as connection:
        with pytest.raises(dynorm.TransportError, match="after 2 attempt"):
            await connection.call("GetItem", {"TableName": "t", "Key": {}})


async def test_fast_polls_a_botocore_session_in_the_background(
        scripted: tuple[Scripted, str]) -> None:
    from types import SimpleNamespace

    from dynorm.transport.fast import FastTransport

    server, url = scripted

    class Refreshable:
        def __init__(self) -> None:
            self.reads = 0

        def refresh_needed(self, refresh_in: int | None = None) -> bool:
            return False

        async def get_frozen_credentials(self) -> Any:
            self.reads += 1
            return SimpleNamespace(access_key=f"AK{self.reads}", secret_key="s", token=None)

    source = Refreshable()

    class Session:
        region_name = "us-east-1"

        async def get_credentials(self) -> Refreshable:
            return source

    transport = FastTransport(Session(), endpoint_url=url)
    await transport.open()
    try:
        for _ in range(5):
            await transport.call("GetItem", {"TableName": "t", "Key": {}})
        assert source.reads == 1
        assert transport.credential_source == "botocore"
        # as if a minute had passed: botocore is asked again, in the background, while
        # this call signs with the credentials it has
        assert transport._refresher is not None
        transport._refresher._next_attempt = transport._credentials_until = 0.0
        await transport.call("GetItem", {"TableName": "t", "Key": {}})
        assert "Credential=AK1/" in server.headers[-1]["Authorization"]
        for _ in range(100):
            if source.reads == 2:
                break
            await asyncio.sleep(0.01)
        assert source.reads == 2
        await transport.call("GetItem", {"TableName": "t", "Key": {}})
        assert "Credential=AK2/" in server.headers[-1]["Authorization"]
    finally:
        await transport.close()


async def test_builtin_http_chunked_close_and_stale_connections() -> None:
    """The built-in HTTP client: chunked bodies, Connection: close, dropped keep-alives."""
    from dynorm.transport._http import HTTPClient

    mode = {"kind": "chunked"}

    async def handle(request: web.Request) -> web.StreamResponse:
        await request.read()
        if mode["kind"] == "chunked":
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            response.enable_chunked_encoding()
            await response.prepare(request)
            for part in (b'{"a":', b' "bc', b'd"}'):
                await response.write(part)
            await response.write_eof()
            return response
        return web.Response(body=b'{"ok":1}', headers={"Connection": "close"})

    async with serve(handle) as port:
        client = HTTPClient(f"http://127.0.0.1:{port}", read_timeout=5)
        head = f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 2\r\n\r\n".encode()
        try:
            for _ in range(3):
                status, _, body = await client.request(head, b"{}")
                assert (status, body) == (200, b'{"a": "bcd"}')
            assert len(client._idle) == 1  # one connection, kept alive
            for conn in client._idle:  # the server drops idle connections: a fresh one is used
                assert conn.transport is not None
                conn.transport.close()
            await asyncio.sleep(0.01)
            mode["kind"] = "close"
            for _ in range(2):
                assert (await client.request(head, b"{}"))[2] == b'{"ok":1}'
            assert not client._idle
        finally:
            await client.close()


async def test_builtin_http_over_tls(tmp_path: Any) -> None:
    import ssl

    from dynorm.transport._http import HTTPClient

    cert, server_ctx = self_signed(tmp_path)

    async def handle(request: web.Request) -> web.Response:
        return web.Response(body=await request.read())

    async with serve(handle, ssl_context=server_ctx) as port:
        client = HTTPClient(f"https://127.0.0.1:{port}", read_timeout=5)
        client._ssl = ssl.create_default_context(cafile=str(cert))
        head = f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 5\r\n\r\n".encode()
        try:
            for _ in range(2):
                assert (await client.request(head, b"hello"))[2] == b"hello"
            assert len(client._all) == 1
            untrusting = HTTPClient(f"https://127.0.0.1:{port}", connect_timeout=5)
            with pytest.raises(ConnectionError, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
                await untrusting.request(head, b"hello")
            await untrusting.close()
        finally:
            await client.close()


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_tls_certificates_as_botocore_verifies_them(
        kind: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """AWS_CA_BUNDLE (or a profile's ca_bundle) names the trusted certificates; without it
    a self-signed server is refused, by both transports alike."""
    cert, server_ctx = self_signed(tmp_path)
    server = Scripted()
    server.script = [(200, {"TableNames": ["over-tls"]}, None)]
    async with serve(server.handle, ssl_context=server_ctx) as port:
        url = f"https://127.0.0.1:{port}"
        monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
        async with _connect(url, kind, attempts=1) as conn:
            with pytest.raises(dynorm.TransportError, match=r"(?i)certificate|SSL"):
                await conn.call("ListTables", {})
        monkeypatch.setenv("AWS_CA_BUNDLE", str(cert))
        async with _connect(url, kind, attempts=1) as conn:
            answer = await conn.call("ListTables", {})
    assert answer["TableNames"] == ["over-tls"]


# ---------------------------------------------------------------- choosing the transport


def _chosen(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], **kwargs: Any) -> str:
    for name in ("DYNORM_TRANSPORT", "AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT",
                 "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "DYNORM_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    conn = dynorm.connect(aws_access_key_id="k", aws_secret_access_key="s", **kwargs)
    return type(conn._make_transport()).__name__


def test_the_fast_transport_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _chosen(monkeypatch, {}, region="eu-west-1") == "FastTransport"
    assert _chosen(monkeypatch, {}, region="cn-north-1") == "FastTransport"
    assert _chosen(monkeypatch, {}, endpoint_url="http://127.0.0.1:1") == "FastTransport"
    assert _chosen(monkeypatch, {"DYNORM_TRANSPORT": "aioboto3"}, region="eu-west-1") \
        == "Aioboto3Transport"
    assert _chosen(monkeypatch, {}, region="eu-west-1", transport="aioboto3") \
        == "Aioboto3Transport"


@pytest.mark.parametrize(("env", "region", "main", "streams"), [
    ({}, "eu-west-1", "dynamodb.eu-west-1.amazonaws.com",
     "streams.dynamodb.eu-west-1.amazonaws.com"),
    ({}, "cn-north-1", "dynamodb.cn-north-1.amazonaws.com.cn",
     "streams.dynamodb.cn-north-1.amazonaws.com.cn"),
    ({"AWS_USE_FIPS_ENDPOINT": "true"}, "us-east-1", "dynamodb-fips.us-east-1.amazonaws.com",
     "streams.dynamodb-fips.us-east-1.amazonaws.com"),
    ({"AWS_USE_DUALSTACK_ENDPOINT": "true"}, "eu-west-1", "dynamodb.eu-west-1.api.aws",
     "streams.dynamodb.eu-west-1.api.aws"),
    ({}, "us-iso-east-1", "dynamodb.us-iso-east-1.c2s.ic.gov",
     "streams.dynamodb.us-iso-east-1.c2s.ic.gov"),
    ({"AWS_ENDPOINT_URL_DYNAMODB": "https://ddb.example.test", "AWS_USE_FIPS_ENDPOINT": "true"},
     "us-east-1", "ddb.example.test", "streams.dynamodb-fips.us-east-1.amazonaws.com"),
])
async def test_endpoints_match_botocore(
        monkeypatch: pytest.MonkeyPatch, env: dict[str, str], region: str, main: str,
        streams: str) -> None:
    """The standard endpoints are built; FIPS, dual-stack and the isolated partitions come
    from botocore's endpoint rules (asked once, when the transport opens); the aioboto3
    transport's client lands on the same host."""
    _chosen(monkeypatch, env, region=region)  # clears the variables, then sets env
    async with dynorm.connect(region=region, aws_access_key_id="k",
                              aws_secret_access_key="s") as conn:
        transport: Any = conn.transport
        assert (transport._main.host, transport._streams.host) == (main, streams)
    async with dynorm.connect(region=region, aws_access_key_id="k", aws_secret_access_key="s",
                              transport="aioboto3") as conn:
        client: Any = conn.transport
        assert main in (await client._client("dynamodb")).meta.endpoint_url
        assert streams in (await client._client("dynamodbstreams")).meta.endpoint_url
