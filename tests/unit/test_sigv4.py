"""Differential test: dynorm's SigV4 signer against botocore's ``SigV4Auth``.

A few hundred generated requests (random bodies, regions, services, URLs, header sets
and orders, with and without a session token) are signed by both at one frozen time;
the ``Authorization`` headers must be identical.
"""

from __future__ import annotations

import random
import string
from datetime import datetime, timezone
from unittest import mock

import pytest

botocore_auth = pytest.importorskip("botocore.auth")
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

from dynorm.transport._sigv4 import (  # noqa: E402
    SigV4Signer,
    amz_date,
    host_from_url,
    normalize_path,
    sign_request,
)

REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2", "cn-north-1", "us-gov-west-1", "local"]
SERVICES = ["dynamodb", "dynamodb", "streams.dynamodb"]
HOSTS = [
    "https://dynamodb.{region}.amazonaws.com/",
    "https://streams.dynamodb.{region}.amazonaws.com",
    "http://127.0.0.1:8000/",
    "http://localhost:4567",
    "https://dynamodb.{region}.amazonaws.com:443/",
    "http://Example.COM:80/a/./b/../c//d",
    "https://vpce-1.dynamodb.{region}.vpce.amazonaws.com/x%20y/~z",
    "http://[::1]:9000/",
]
OPERATIONS = ["GetItem", "PutItem", "Query", "BatchWriteItem", "GetRecords", "DescribeStream"]


def _text(rng: random.Random, n: int) -> str:
    alphabet = string.ascii_letters + string.digits + " \t-_./:=+,;\"'{}[]é€"
    return "".join(rng.choice(alphabet) for _ in range(n))


def _case(rng: random.Random, name: str) -> str:
    return "".join(c.upper() if rng.random() < 0.3 else c for c in name)


def _request(rng: random.Random) -> dict[str, object]:
    region = rng.choice(REGIONS)
    service = rng.choice(SERVICES)
    url = rng.choice(HOSTS).format(region=region)
    if rng.random() < 0.15:
        url += ("&" if "?" in url else "?") + "b=2&a=1&a=0&c"
    prefix = "DynamoDBStreams_20120810" if "streams" in service else "DynamoDB_20120810"
    headers = [
        (_case(rng, "X-Amz-Target"), f"{prefix}.{rng.choice(OPERATIONS)}"),
        (_case(rng, "Content-Type"), "application/x-amz-json-1.0"),
    ]
    extras = [
        ("User-Agent", "dynorm/0.1 " + _text(rng, 5)),
        ("Accept-Encoding", "identity"),
        ("X-Custom-Thing", "  several   spaced\tvalues  "),
        ("x-amzn-trace-id", "Root=1-abc"),
        ("Content-Length", str(rng.randint(0, 9999))),
        ("Expect", "100-continue"),
        ("X-Amz-Client-Context", _text(rng, 20)),
    ]
    headers += rng.sample(extras, rng.randint(0, len(extras)))
    if rng.random() < 0.3:
        headers.append(("Host", host_from_url(url)))
    rng.shuffle(headers)
    body = _text(rng, rng.randint(0, 400)).encode()
    token = None if rng.random() < 0.5 else _text(rng, rng.randint(20, 300))
    key = "AKIA" + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(16))
    secret = "".join(rng.choice(string.ascii_letters + string.digits + "/+") for _ in range(40))
    return {"region": region, "service": service, "url": url, "headers": headers,
            "body": body, "token": token, "key": key, "secret": secret}


def _botocore_authorization(case: dict[str, object], frozen: datetime) -> str:
    headers: dict[str, str] = {}
    for name, value in case["headers"]:  # type: ignore[attr-defined]
        headers[name] = value
    request = AWSRequest(method="POST", url=str(case["url"]), data=case["body"],
                         headers=headers)
    credentials = Credentials(str(case["key"]), str(case["secret"]),
                              case["token"])  # type: ignore[arg-type]
    auth = botocore_auth.SigV4Auth(credentials, str(case["service"]), str(case["region"]))
    with mock.patch.object(botocore_auth, "get_current_datetime", return_value=frozen):
        auth.add_auth(request)
    return str(request.headers["Authorization"])


@pytest.mark.parametrize("seed", range(6))
def test_authorization_matches_botocore(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(60):
        case = _request(rng)
        frozen = datetime(2020 + rng.randint(0, 9), rng.randint(1, 12), rng.randint(1, 28),
                          rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59))
        # dict() of the generated pairs: botocore gets one value per exact name.
        pairs = list(dict(case["headers"]).items())  # type: ignore[call-overload]
        ours = sign_request(
            "POST", str(case["url"]), pairs, case["body"],  # type: ignore[arg-type]
            access_key=str(case["key"]), secret_key=str(case["secret"]),
            session_token=case["token"],  # type: ignore[arg-type]
            region=str(case["region"]), service=str(case["service"]),
            timestamp=amz_date(frozen),
        )
        assert ours["Authorization"] == _botocore_authorization(case, frozen), case


def test_signing_key_is_cached_per_date() -> None:
    signer = SigV4Signer("us-east-1", "dynamodb")
    first = signer.signing_key("secret", "20240101")
    assert signer.signing_key("secret", "20240101") is first
    assert signer.signing_key("secret", "20240102") != first
    assert signer.signing_key("other", "20240101") != first


def test_aws_documented_example() -> None:
    # The GET example of AWS's "Signature Version 4 test suite" (get-vanilla).
    signer = SigV4Signer("us-east-1", "service")
    auth = signer.authorization(
        "GET", "/", "", [("Host", "example.amazonaws.com"), ("X-Amz-Date", "20150830T123600Z")],
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830T123600Z",
    )
    assert auth == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=host;x-amz-date, "
        "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    )


def test_path_normalization() -> None:
    assert normalize_path("") == "/"
    assert normalize_path("/a/./b/../c//d/") == "/a/c/d/"
    assert normalize_path("/x y/~z") == "/x%20y/~z"
    assert host_from_url("https://H.example.com:443/") == "h.example.com"
    assert host_from_url("http://h:8000") == "h:8000"
    assert host_from_url("http://[::1]:9000/") == "[::1]:9000"


def test_frozen_time_is_utc() -> None:
    aware = datetime(2024, 1, 1, 12, 0, tzinfo=timezone.utc)
    assert amz_date(aware) == "20240101T120000Z"


@pytest.mark.parametrize("seed", range(3))
def test_transport_headers_match_botocore(seed: int) -> None:
    """The exact headers FastTransport sends, signed by botocore, give the same signature."""
    pytest.importorskip("aiohttp")
    from types import SimpleNamespace

    from dynorm.transport.base import STREAM_OPERATIONS
    from dynorm.transport.fast import FastTransport

    rng = random.Random(1000 + seed)
    for _ in range(40):
        region = rng.choice(REGIONS)
        endpoint_url = rng.choice([None, "http://127.0.0.1:8000", "http://localhost:4567/",
                                   "https://dynamodb.internal.example:8443/base/"])
        transport = FastTransport(SimpleNamespace(region_name=region),  # type: ignore[arg-type]
                                  region=region, endpoint_url=endpoint_url)
        transport._access_key = "AKIA" + str(rng.randint(10**15, 10**16))
        transport._secret_key = _text(rng, 40)
        transport._token = None if rng.random() < 0.5 else "".join(
            rng.choice(string.ascii_letters + string.digits + "/+=") for _ in range(200))
        operation = rng.choice(OPERATIONS)
        endpoint = transport._streams if operation in STREAM_OPERATIONS else transport._main
        body = _text(rng, rng.randint(0, 300)).encode()
        frozen = datetime(2024, rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23),
                          rng.randint(0, 59), rng.randint(0, 59))
        sent = transport._headers(endpoint, operation, body, amz_date(frozen))
        unsigned = {k: v for k, v in sent.items()
                    if k not in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token")}
        case = {"region": region, "service": "dynamodb", "url": str(endpoint.url),
                "headers": list(unsigned.items()), "body": body, "token": transport._token,
                "key": transport._access_key, "secret": transport._secret_key}
        assert sent["Authorization"] == _botocore_authorization(case, frozen), case
        if endpoint_url is None and operation in STREAM_OPERATIONS:
            assert sent["Host"] == f"streams.dynamodb.{region}.amazonaws.com" or \
                region.startswith("cn-")
