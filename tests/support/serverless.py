"""Lambda events for tests/integration/test_serverless_example.py.

* ``api_event``: API Gateway proxy events as AWS documents them: payload format 2.0
  (HTTP APIs: docs.aws.amazon.com/apigateway/latest/developerguide/
  http-api-develop-integrations-lambda.html) and 1.0 (REST APIs: .../developerguide/
  set-up-lambda-proxy-integrations.html, "Input format of a Lambda function for proxy
  integration").
* ``from_oracles``: the DynamoDB Streams events AWS's projects publish, read from the
  shared external-oracles folder (never copied into the repository);
  ``adapt_record`` aims one of their records at the example's notes table.
* ``stream_record``: a record of the notes table, for cases no oracle shows.
* ``lambda_records``: the records of a table's stream as Lambda would pass them.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from dynorm import get_connection

__all__ = ["adapt_record", "api_event", "from_oracles", "lambda_records", "no_leak",
           "stream_record", "utc"]

_HOST = "abc123.execute-api.eu-west-1.amazonaws.com"
_AGENT = "curl/8.5.0"


def _params(route: str, path: str) -> dict[str, str]:
    names = re.findall(r"\{(\w+)\+?\}", route)
    pattern = re.sub(r"\\\{(\w+)\\\}", r"([^/]+)", re.escape(route))
    found = re.fullmatch(pattern, path)
    return dict(zip(names, found.groups(), strict=False)) if found else {}


def api_event(fmt: str, method: str, path: str, route: str, *,
              query: dict[str, str] | None = None, body: str | None = None,
              base64_body: bool = False, stage: str = "$default",
              path_parameters: dict[str, str] | None = None) -> dict[str, Any]:
    """An API Gateway proxy event for ``method path`` matched by ``route``."""
    params = path_parameters if path_parameters is not None else _params(route, path)
    headers = {"accept": "application/json", "host": _HOST, "user-agent": _AGENT,
               "x-amzn-trace-id": "Root=1-656af0f0-0123456789abcdef01234567",
               "x-forwarded-for": "192.0.2.1", "x-forwarded-port": "443",
               "x-forwarded-proto": "https"}
    if body is not None:
        headers.update({"content-type": "application/json",
                        "content-length": str(len(body.encode()))})
    if fmt == "2.0":
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": f"{method} {route}",
            "rawPath": path,
            "rawQueryString": urlencode(query or {}),
            "headers": headers,
            "requestContext": {
                "accountId": "123456789012", "apiId": "abc123", "domainName": _HOST,
                "domainPrefix": "abc123",
                "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                         "sourceIp": "192.0.2.1", "userAgent": _AGENT},
                "requestId": "P2vDdhkiliAEMkA=", "routeKey": f"{method} {route}",
                "stage": stage, "time": "02/Dec/2026:09:00:00 +0000",
                "timeEpoch": 1796202000000,
            },
            "isBase64Encoded": base64_body,
        }
        if query:                         # absent, not empty, when there are none
            event["queryStringParameters"] = dict(query)
        if params:
            event["pathParameters"] = params
        if body is not None:
            event["body"] = body
        return event
    assert fmt == "1.0", fmt
    named = {name.title(): value for name, value in headers.items()}
    return {
        "resource": route,
        "path": path,                     # without the stage: a REST API always has one
        "httpMethod": method,
        "headers": named,
        "multiValueHeaders": {name: [value] for name, value in named.items()},
        "queryStringParameters": dict(query) if query else None,
        "multiValueQueryStringParameters": (
            {name: [value] for name, value in query.items()} if query else None),
        "pathParameters": params or None,
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc123", "domainName": _HOST,
            "domainPrefix": "abc123", "extendedRequestId": "P2vDdhkiliAEMkA=",
            "httpMethod": method,
            "identity": {"sourceIp": "192.0.2.1", "userAgent": _AGENT},
            "path": f"/prod{path}", "protocol": "HTTP/1.1",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "requestTime": "02/Dec/2026:09:00:00 +0000",
            "requestTimeEpoch": 1796202000000, "resourceId": "x1y2z3",
            "resourcePath": route, "stage": "prod",
        },
        "body": body,
        "isBase64Encoded": base64_body,
    }


#: Words of DynamoDB's and dynorm's that must never reach an API client.
_INTERNAL = ("dynamodb", "dynorm", "conditionalcheck", "exception", "traceback",
             "resourcenotfound", "throughput", "amazon", "attributevalue", "model")


def no_leak(body: str) -> None:
    found = [word for word in _INTERNAL if word in body.lower()]
    assert not found, f"{found} in {body}"


# ------------------------------------------------------------------ stream events

#: aws-sam-cli's generated sample events use these defaults (SOURCES.md).
_SAM_DEFAULTS = {"partition": "aws", "region": "us-east-1", "account_id": "123456789012",
                 "table": "ExampleTableWithStream"}


def from_oracles(folder: Path) -> dict[str, dict[str, Any]]:
    """Every Lambda DynamoDB Streams event in the oracles' lambda/ folder, by name."""
    if not folder.is_dir():
        return {}
    events: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.rglob("*.json")):
        text = path.read_text("utf-8-sig")          # the .NET samples start with a BOM
        text = re.sub(r"\{\{\{(\w+)\}\}\}", lambda m: _SAM_DEFAULTS[m.group(1)], text)
        event = json.loads(text)
        if "Records" in event:                      # not the batch-failure answer
            events[str(path.relative_to(folder))] = event
    for path in sorted(folder.rglob("*.md")):       # events logged on AWS, in ```json
        text = path.read_text("utf-8")
        for block in re.findall(r"```json\n(.*?)```", text, re.DOTALL):
            event = json.loads(block)
            record = event["Records"][0]
            view = record["dynamodb"]["StreamViewType"]
            events[f"{path.parent.name}/{view}/{record['eventName']}"] = event
    return events


def _text(av: dict[str, Any]) -> str:
    ((_, value),) = av.items()
    return str(value)


def adapt_record(record: dict[str, Any], table: str) -> dict[str, Any]:
    """An oracle record aimed at the notes table ``table``: the same change (name, view
    type, sequence number, time, region, identity, every attribute it had), with the
    key turned into ``note_id`` and the images given Note's attributes."""
    out = copy.deepcopy(record)
    data = out["dynamodb"]
    keys = data["Keys"]
    note_id = ",".join(f"{name}={_text(av)}" for name, av in sorted(keys.items()))
    data["Keys"] = {"note_id": {"S": note_id}}
    for name in ("OldImage", "NewImage"):
        if name in data:
            image = data[name]
            texts = [av["S"] for attr, av in sorted(image.items())
                     if attr not in keys and "S" in av]
            version = 2 if name == "NewImage" and out["eventName"] == "MODIFY" else 1
            image.update(note_id={"S": note_id}, owner={"S": "oracle"},
                         title={"S": texts[0] if texts else "untitled"},
                         updated_at={"S": "2020-07-16T21:40:16Z"},
                         version={"N": str(version)})
    arn = str(record.get("eventSourceARN", ""))
    found = re.fullmatch(r"(arn:[^:]*:dynamodb:[^:]*:[^:]*:table/)[^/]+(/stream/.+)", arn)
    out["eventSourceARN"] = (
        found.group(1) + table + found.group(2) if found else
        f"arn:aws:dynamodb:{record.get('awsRegion', 'us-east-1')}:123456789012:table/"
        f"{table}/stream/2020-01-01T00:00:00.000")
    return out


def stream_record(event_name: str, note_id: str, sequence: int, *, table: str,
                  title: str = "a title") -> dict[str, Any]:
    """A NEW_AND_OLD_IMAGES record of a note, as Lambda passes it."""
    image = {"note_id": {"S": note_id}, "owner": {"S": "ada"}, "title": {"S": title},
             "updated_at": {"S": "2026-12-02T09:00:00Z"}, "version": {"N": "1"}}
    data: dict[str, Any] = {
        "ApproximateCreationDateTime": 1796202000, "Keys": {"note_id": {"S": note_id}},
        "SequenceNumber": str(sequence), "SizeBytes": 80,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if event_name != "INSERT":
        data["OldImage"] = copy.deepcopy(image)
    if event_name != "REMOVE":
        data["NewImage"] = image
    return {"eventID": f"e{sequence}", "eventName": event_name, "eventVersion": "1.1",
            "eventSource": "aws:dynamodb", "awsRegion": "eu-west-1", "dynamodb": data,
            "eventSourceARN": f"arn:aws:dynamodb:eu-west-1:123456789012:table/{table}"
                              "/stream/2026-12-02T00:00:00.000"}


def _json(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(type(value))


async def lambda_records(table: str) -> list[dict[str, Any]]:
    """Every record of ``table``'s stream (oldest first), in Lambda's JSON form."""
    conn = get_connection()
    arn = (await conn.call("DescribeTable", {"TableName": table}))["Table"]["LatestStreamArn"]
    shards = (await conn.call("DescribeStream", {"StreamArn": arn}))["StreamDescription"]
    records: list[dict[str, Any]] = []
    for shard in shards["Shards"]:
        iterator = (await conn.call("GetShardIterator", {
            "StreamArn": arn, "ShardId": shard["ShardId"],
            "ShardIteratorType": "TRIM_HORIZON"}))["ShardIterator"]
        while iterator:
            page = await conn.call("GetRecords", {"ShardIterator": iterator})
            records += page["Records"]
            iterator = page.get("NextShardIterator") if page["Records"] else None
    records.sort(key=lambda r: int(r["dynamodb"]["SequenceNumber"]))
    return [{**r, "eventSourceARN": arn} for r in json.loads(json.dumps(records,
                                                                        default=_json))]


def utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=timezone.utc)
