"""The pure parts of export and import: AWS's export layout, lines, gzip, manifests,
table definitions, progress arithmetic, and the S3 client's signatures (against
botocore's ``S3SigV4Auth``)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import random
import string
import zlib
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from unittest import mock

import orjson
import pytest

from dynorm.backup import layout
from dynorm.backup.errors import S3Error
from dynorm.backup.progress import Progress, RateLimit
from dynorm.backup.s3 import (
    S3Client,
    canonical_query,
    connection_credentials,
    connection_region,
    proxy_for,
    s3_endpoint,
)

ITEM = {"pk": {"S": "user#1"}, "n": {"N": "-1.50"}, "b": {"B": b"\x00\xff"},
        "bs": {"BS": [b"a", b"\x01"]}, "m": {"M": {"B": {"S": "not binary"}}},
        "l": {"L": [{"NULL": True}, {"BOOL": False}, {"SS": ["x", "y"]}]}}


async def _stream(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


async def _lines(data: bytes, size: int = 7) -> list[bytes]:
    return [line async for line in layout.read_lines(_stream(data, size))]


def test_export_ids_have_aws_form_and_sort_by_time() -> None:
    first = layout.new_export_id(1_693_685_827.463)
    assert first.startswith("01693685827463-") and layout.is_export_id(first)
    assert layout.new_export_id(1_693_685_827.464) > first
    assert not layout.is_export_id("../../etc")


def test_keys_of_an_export() -> None:
    assert layout.export_folder("01-x") == "AWSDynamoDB/01-x/"
    assert layout.data_file_key("01-x", 3, 12) == "AWSDynamoDB/01-x/data/seg0003-00012.json.gz"
    assert layout.is_data_file("AWSDynamoDB/01-x/data/seg0003-00012.json.gz")
    assert layout.is_data_file("pre/AWSDynamoDB/u/data/906ad69c.gz")  # moto's names
    assert layout.is_data_file("items.jsonl")
    for other in ("AWSDynamoDB/x/manifest-files.json", "AWSDynamoDB/x/_started",
                  "AWSDynamoDB/x/_dynorm/export.json", "AWSDynamoDB/x/manifest-summary.json",
                  "notes.txt"):
        assert not layout.is_data_file(other), other
    assert layout.relative_data_key(
        "AWSDynamoDB/01-x/", "my/prefix/AWSDynamoDB/01-x/data/a.json.gz"
    ) == "AWSDynamoDB/01-x/data/a.json.gz"


def test_a_line_round_trips_every_attribute_type() -> None:
    line = layout.encode_line(ITEM)
    assert line.endswith(b"}\n") and line.startswith(b'{"Item":{"pk":{"S":"user#1"}')
    parsed = layout.parse_line(line)
    assert parsed["b"] == {"B": base64.b64encode(b"\x00\xff").decode()}  # as in the file
    assert layout.has_binary(line)
    assert layout.binary_to_bytes(parsed) == ITEM
    assert layout.parse_line(b'{"pk":{"S":"plain"}}') == {"pk": {"S": "plain"}}
    # a line of the rejects file is read as its item
    reject = orjson.dumps({"file": "f", "line": 3, "error": "bad", "Item": {"pk": {"S": "r"}}})
    assert layout.parse_line(reject) == {"pk": {"S": "r"}}


@pytest.mark.parametrize("line", [b"[1, 2]", b'{"pk": "text"}', b'{"pk": {"S": "a", "N": "1"}}',
                                  b"not json"])
def test_a_line_that_is_not_dynamodb_json_is_refused(line: bytes) -> None:
    with pytest.raises(ValueError):
        layout.parse_line(line)


async def test_lines_of_plain_and_gzip_files_in_any_chunking() -> None:
    text = b'{"a":{"S":"1"}}\n\n{"a":{"S":"2"}}\r\n{"a":{"S":"3"}}'
    expected = [b'{"a":{"S":"1"}}', b'{"a":{"S":"2"}}', b'{"a":{"S":"3"}}']
    for size in (1, 5, 1000):
        assert await _lines(text, size) == expected
        assert await _lines(gzip.compress(text), size) == expected
    # several gzip members one after the other (concatenated files) read as one
    two = gzip.compress(b'{"a":{"S":"1"}}\n') + gzip.compress(b'{"a":{"S":"2"}}\n')
    assert await _lines(two, 3) == expected[:2]
    assert await _lines(b"") == []


async def test_a_truncated_gzip_file_is_an_error() -> None:
    data = gzip.compress(b'{"a":{"S":"1"}}\n' * 1000)
    with pytest.raises(ValueError, match="truncated"):
        await _lines(data[: len(data) // 2], 64)


async def test_read_lines_feeds_the_checksum_the_raw_bytes() -> None:
    data = gzip.compress(b'{"a":{"S":"1"}}\n')
    digest = hashlib.md5()
    assert len([x async for x in layout.read_lines(_stream(data, 4), digest)]) == 1
    assert digest.hexdigest() == hashlib.md5(data).hexdigest()


def test_gzip_writer_output_is_standard_gzip() -> None:
    writer = layout.GzipWriter()
    writer.write(b"one\n", 1)
    writer.write(b"two\n", 1)
    assert (writer.items, writer.raw_bytes) == (2, 8)
    assert gzip.decompress(writer.finish()) == b"one\ntwo\n"


def test_manifests_have_aws_fields() -> None:
    data = b"\x1f\x8bdata"
    md5, etag = layout.file_checksums(data)
    assert base64.b64decode(md5) == hashlib.md5(data).digest()
    assert etag == hashlib.md5(data).hexdigest() == layout.checksum_hex(data)
    files = layout.manifest_files([{"itemCount": 2, "md5Checksum": md5, "etag": etag,
                                    "dataFileS3Key": "p/AWSDynamoDB/x/data/a.json.gz",
                                    "bytes": 99}])
    assert files == (b'{"itemCount":2,"md5Checksum":"' + md5.encode() + b'","etag":"'
                     + etag.encode() + b'","dataFileS3Key":"p/AWSDynamoDB/x/data/a.json.gz"}\n')
    assert [e["itemCount"] for e in layout.manifest_entries(files)] == [2]
    summary = orjson.loads(layout.manifest_summary(
        export_arn="arn:t/export/x", start_time=1604474914.028, end_time=1604475223.897,
        table_arn="arn:t", table_id="id", s3_bucket="b", s3_prefix="p",
        manifest_files_key="p/AWSDynamoDB/x/manifest-files.json", billed_size_bytes=10,
        item_count=2))
    assert list(summary) == [
        "version", "exportArn", "startTime", "endTime", "tableArn", "tableId", "exportTime",
        "s3Bucket", "s3Prefix", "s3SseAlgorithm", "s3SseKmsKeyId", "manifestFilesS3Key",
        "billedSizeBytes", "itemCount", "outputFormat", "exportType"]
    assert summary["startTime"] == "2020-11-04T07:28:34.028Z"
    assert summary["version"] == "2020-06-30"
    assert summary["outputFormat"] == "DYNAMODB_JSON"


def test_table_definition_keeps_keys_billing_and_indexes() -> None:
    description = {
        "TableName": "t", "TableStatus": "ACTIVE", "ItemCount": 3,
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "ProvisionedThroughput": {"ReadCapacityUnits": 0, "WriteCapacityUnits": 0,
                                  "NumberOfDecreasesToday": 0},
        "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
        "GlobalSecondaryIndexes": [{"IndexName": "g", "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"}], "Projection": {
                "ProjectionType": "ALL"}, "IndexStatus": "ACTIVE", "ItemCount": 3}],
    }
    assert layout.table_definition(description) == {
        "AttributeDefinitions": description["AttributeDefinitions"],
        "KeySchema": description["KeySchema"],
        "BillingMode": "PAY_PER_REQUEST",
        "GlobalSecondaryIndexes": [{"IndexName": "g", "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"}}],
    }
    description["BillingModeSummary"] = {"BillingMode": "PROVISIONED"}
    description["ProvisionedThroughput"] = {"ReadCapacityUnits": 7, "WriteCapacityUnits": 3}
    provisioned = layout.table_definition(description)
    assert provisioned["ProvisionedThroughput"] == {"ReadCapacityUnits": 7,
                                                    "WriteCapacityUnits": 3}
    assert provisioned["GlobalSecondaryIndexes"][0]["ProvisionedThroughput"] == {
        "ReadCapacityUnits": 7, "WriteCapacityUnits": 3}


def test_progress_rate_eta_and_fraction() -> None:
    progress = Progress("export", items=600, elapsed=2.0, total=1000, resumed_items=200)
    assert progress.items_per_second == 200.0
    assert progress.eta == 2.0
    assert progress.fraction == 0.6
    assert Progress("import", items=5).eta is None
    assert Progress("import", items=5, done=True).fraction == 1.0


async def test_rate_limit_spreads_items_over_time() -> None:
    with pytest.raises(ValueError):
        RateLimit(0)
    limit = RateLimit(4000)
    loop_time = __import__("time").monotonic
    start = loop_time()
    for _ in range(10):
        await limit.take(500)  # 5,000 items: one second's burst, then 0.25 s at 4,000/s
    assert 0.2 < loop_time() - start < 0.8


# ---------------------------------------------------------------------------- S3


def test_s3_endpoints() -> None:
    class Conn:
        endpoint_url: str | None = "http://127.0.0.1:5000"
        region: str | None = "eu-west-1"

    assert s3_endpoint(Conn(), None) == ("http://127.0.0.1:5000", True)  # type: ignore[arg-type]
    Conn.endpoint_url = None
    assert s3_endpoint(Conn(), None) == ("https://s3.eu-west-1.amazonaws.com", False)  # type: ignore[arg-type]
    assert s3_endpoint(None, "http://minio:9000/") == ("http://minio:9000", True)
    assert canonical_query({"prefix": "a b/c", "list-type": "2"}) == "list-type=2&prefix=a%20b%2Fc"


botocore_auth = pytest.importorskip("botocore.auth")


def _botocore_s3(method: str, url: str, body: bytes, headers: dict[str, str],
                 credentials: tuple[str, str, str | None], region: str,
                 frozen: datetime) -> dict[str, str]:
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
    auth = botocore_auth.S3SigV4Auth(Credentials(*credentials), "s3", region)
    with mock.patch.object(botocore_auth, "get_current_datetime", return_value=frozen):
        auth.add_auth(request)
    return dict(request.headers.items())


@pytest.mark.parametrize("seed", range(4))
def test_s3_signatures_match_botocore(seed: int) -> None:
    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits + "-_.~/ +=é&?"
    for _ in range(40):
        region = rng.choice(["us-east-1", "eu-west-1", "ap-southeast-2"])
        path_style = rng.random() < 0.5
        endpoint = ("http://127.0.0.1:5000" if path_style
                    else f"https://s3.{region}.amazonaws.com")
        client = S3Client(endpoint, region, path_style=path_style)
        key = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))).lstrip("/")
        method = rng.choice(["GET", "PUT", "DELETE"])
        body = rng.randbytes(rng.randint(1, 300)) if method == "PUT" else b""
        params = ({"list-type": "2", "prefix": key} if method == "GET" and rng.random() < 0.5
                  else None)
        extra = {"range": "bytes=0-99"} if method == "GET" and not params else {}
        if body:
            extra["content-md5"] = base64.b64encode(hashlib.md5(body).digest()).decode()
        token = None if rng.random() < 0.5 else "token/" + str(rng.random())
        credentials = ("AKIDEXAMPLE", "secret/" + str(rng.random()), token)
        frozen = datetime(2024, rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23),
                          rng.randint(0, 59), rng.randint(0, 59))
        origin, target, headers = client.prepare(
            method, "my-bucket", "" if params else key, params, body, extra, credentials,
            frozen.strftime("%Y%m%dT%H%M%SZ"))
        theirs = _botocore_s3(method, origin + target, body,
                              {k: v for k, v in headers.items() if k != "authorization"},
                              credentials, region, frozen)
        assert headers["authorization"] == theirs["Authorization"], (method, key, params)


def test_gzip_of_a_data_file_is_what_zlib_reads() -> None:
    writer = layout.GzipWriter(level=1)
    writer.write(layout.encode_line(ITEM), 1)
    data = writer.finish()
    assert zlib.decompress(data, wbits=31).startswith(b'{"Item":')


_PROXY_VARIABLES = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY",
                    "no_proxy", "ALL_PROXY", "all_proxy", "REQUEST_METHOD")


@pytest.mark.parametrize("settings", [
    {},
    {"HTTPS_PROXY": "proxy.corp:3128", "HTTP_PROXY": "http://plain:8080"},
    {"https_proxy": "http://user:pw@proxy.corp:3128"},
    {"HTTPS_PROXY": "http://p:1", "HTTP_PROXY": "http://p:2",
     "NO_PROXY": ".amazonaws.com,127.0.0.1"},
    {"HTTP_PROXY": "http://p:2", "no_proxy": "*"},
    {"ALL_PROXY": "http://all:1"},  # botocore looks at the URL's scheme only
])
def test_proxy_for_chooses_as_botocore_does(monkeypatch: pytest.MonkeyPatch,
                                            settings: dict[str, str]) -> None:
    import botocore.utils

    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    for url in ("https://bucket.s3.eu-west-1.amazonaws.com", "https://minio.corp:9000",
                "http://127.0.0.1:5000", "http://minio:9000"):
        chosen = botocore.utils.get_environ_proxies(url).get(url.split(":")[0])
        if chosen and not chosen.startswith("http"):
            chosen = "http://" + chosen  # botocore's ProxyConfiguration adds the scheme
        assert proxy_for(url) == chosen, (settings, url)


async def test_s3_signs_with_the_connections_credentials_and_region() -> None:
    from dynorm.transport._credentials import Credentials

    class Transport:
        region = "ap-south-1"
        calls = 0

        async def credentials(self) -> Credentials:
            Transport.calls += 1
            return Credentials("AKIDCONN", "secret", "token", None, "explicit")

    class Conn:
        endpoint_url: str | None = None
        region: str | None = None
        transport = Transport()

    conn: Any = Conn()
    assert connection_region(conn) == "ap-south-1"
    assert s3_endpoint(conn, None) == ("https://s3.ap-south-1.amazonaws.com", False)
    get = connection_credentials(conn, "https://s3.ap-south-1.amazonaws.com")
    assert await get() == ("AKIDCONN", "secret", "token") and Transport.calls == 1
    # no connection: dummy keys for a local server only
    assert await connection_credentials(None, "http://127.0.0.1:1")() == (
        "local", "local", None)
    with pytest.raises(S3Error, match="open dynorm connection"):
        await connection_credentials(None, "https://s3.amazonaws.com")()


# ---------------------------------------------------------------------------- restores


async def test_imports_write_items_unstamped_keeping_their_origin_stamps() -> None:
    """import_table writes inside unstamped(): a restored item keeps the stamp it was
    exported with (the integration test: test_cross_features), and tasks started inside
    (the import's writers) inherit that."""
    import asyncio

    from dynorm.transport.origin import stamp, unstamped

    old = {"M": {"region": {"S": "us-west-2"}, "at": {"N": "1700000000000"}}}
    request = {"RequestItems": {"t": [{"PutRequest": {"Item": {"pk": {"S": "a"},
                                                               "_origin": old}}}]}}
    stamped = stamp("BatchWriteItem", request, "_origin", "eu-west-1", 1767225600123)
    assert stamped["RequestItems"]["t"][0]["PutRequest"]["Item"]["_origin"] == {
        "M": {"region": {"S": "eu-west-1"}, "at": {"N": "1767225600123"}}}
    async def in_a_task() -> Any:
        return stamp("PutItem", {"Item": {"pk": {"S": "a"}}}, "_origin", "eu-west-1", 1)

    with unstamped():
        assert stamp("BatchWriteItem", request, "_origin", "eu-west-1", 1) is request
        assert await asyncio.ensure_future(in_a_task()) == {"Item": {"pk": {"S": "a"}}}
    assert stamp("PutItem", {"Item": {}}, "_origin", "r", 1) == {
        "Item": {"_origin": {"M": {"region": {"S": "r"}, "at": {"N": "1"}}}}}


def test_backup_benchmark_report_states_the_goals() -> None:
    from benchmarks.backup import Result, Run, table

    result = Result("dynalite")
    for size, slow in ((10_000, 1.0), (50_000, 5.0)):
        result.runs[("export", size, "dynorm")] = [Run(size, slow / 3, 0.2, 0.3)]
        result.runs[("export", size, "boto3 script")] = [Run(size, slow, 1.5, 0.3)]
        result.runs[("import", size, "dynorm")] = [Run(size, slow / 1.5, 0.3, 1.4)]
        result.runs[("import", size, "boto3 script")] = [Run(size, slow, 3.0, 1.4)]
    result.peaks = {("export", 10_000): 50 << 20, ("export", 50_000): 60 << 20,
                    ("import", 10_000): 8 << 20, ("import", 50_000): 20 << 20}
    lines = table(result, 1)
    assert "| export | 10,000 | dynorm | 30,000 | 20.0 | 30.0 | 90% | 3.00x |" in lines
    assert ("target: backup import of 50,000: 1.50x the boto3 script's items/s, median "
            "of the rounds (goal >= 2x): NOT met") in lines
    assert ("target: backup export peak memory 10,000 -> 50,000 items: 1.20x (goal: "
            "flat, <= 1.5x): met") in lines
    assert any(line.startswith("target: backup import peak memory") and "NOT met" in line
               for line in lines)
