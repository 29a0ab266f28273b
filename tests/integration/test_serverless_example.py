"""The serverless example (examples/serverless/), invoked as AWS Lambda invokes it.

Each test is one execution environment: the environment variables Lambda and the SAM
template set (pointed at the local server), the handlers called as plain functions with
the events Lambda passes, ``runtime.shutdown()`` at the end. The tests are sync, as the
Lambda runtime is: the handlers run their own event loop.

* HTTP: API Gateway events built per AWS's documented formats (there is no API Gateway
  sample among the oracles): payload format 2.0 of HTTP APIs, "Working with AWS Lambda
  proxy integrations for HTTP APIs" (docs.aws.amazon.com/apigateway/latest/
  developerguide/http-api-develop-integrations-lambda.html), and 1.0 of REST APIs,
  "Input format of a Lambda function for proxy integration" (.../developerguide/
  set-up-lambda-proxy-integrations.html).
* Streams: the real Lambda events in the shared external-oracles folder next to the
  repository (lambda/, see its SOURCES.md; read from there, never copied), aimed at the
  example's table here; and the records of the example's own table's stream.
* The SAM template: its tables are what make_template.py generates, and what the tests'
  tables are.
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from dynorm import Connection, LocalServer, plan
from tests.support.serverless import (
    adapt_record,
    api_event,
    from_oracles,
    lambda_records,
    no_leak,
    stream_record,
    utc,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "serverless"
ORACLES = ROOT.parent / "shared" / "external-oracles" / "lambda"
PREFIX = "dev-"

# The example's modules, imported as Lambda imports them (CodeUri is the example's
# folder: ``notes`` is a top-level package there).
if str(EXAMPLE) not in sys.path:
    sys.path.insert(0, str(EXAMPLE))
api = importlib.import_module("notes.api")
models = importlib.import_module("notes.models")
runtime = importlib.import_module("notes.runtime")
stream = importlib.import_module("notes.stream")

needs_oracles = pytest.mark.skipif(
    not ORACLES.is_dir(), reason=f"the Lambda event samples are not at {ORACLES} (the "
                                 "shared external-oracles folder next to the repository)")


@pytest.fixture(params=["fast", "aioboto3"])
def lambda_env(dynorm_server: LocalServer, monkeypatch: pytest.MonkeyPatch,
               request: pytest.FixtureRequest) -> Iterator[None]:
    """A fresh execution environment with empty tables; ended after the test."""
    dynorm_server.reset()
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {   # what Lambda sets, and the template's variables
        "AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local", "AWS_SESSION_TOKEN": "local-session",
        "DYNORM_TABLE_PREFIX": PREFIX, "DYNORM_CURSOR_SECRET": "s" * 32,
        "DYNORM_ENDPOINT_URL": dynorm_server.endpoint_url,
        "DYNORM_TRANSPORT": request.param,
    }.items():
        monkeypatch.setenv(name, value)
    on_server(models.create_tables())
    try:
        yield
    finally:
        runtime.shutdown()


def on_server(work: Any) -> Any:
    """Run test-side async work (set-up, checks) on a connection of its own."""
    async def run() -> Any:
        async with Connection(transport="fast"):
            return await work
    return asyncio.run(run())


def call(method: str, path: str, route: str, fmt: str = "2.0", **kw: Any) -> tuple[
        int, dict[str, str], Any]:
    """Invoke the API function; (status, headers, decoded body)."""
    response = api.handler(api_event(fmt, method, path, route, **kw), None)
    assert set(response) <= {"statusCode", "headers", "body", "isBase64Encoded"}
    assert isinstance(response["body"], str)
    body = json.loads(response["body"]) if response["body"] else None
    if response["statusCode"] >= 400:
        no_leak(response["body"])
    return response["statusCode"], response["headers"], body


def put(note_id: str, fmt: str = "2.0", **fields: Any) -> tuple[int, dict[str, str], Any]:
    body = {"owner": "ada", "title": f"title of {note_id}", **fields}
    return call("PUT", f"/notes/{note_id}", "/notes/{note_id}", fmt, body=json.dumps(body))


def history(note_id: str) -> list[dict[str, Any]]:
    status, _, body = call("GET", f"/notes/{note_id}/history", "/notes/{note_id}/history")
    assert status == 200
    return list(body["items"])


# ------------------------------------------------------------------ the HTTP API


@pytest.mark.parametrize("fmt", ["2.0", "1.0"])
def test_create_read_replace_delete(lambda_env: None, fmt: str) -> None:
    status, headers, note = put("n1", fmt, text="hello", tags=["a"])
    assert (status, headers["location"], note["version"]) == (201, "/notes/n1", 1)
    assert headers["content-type"] == "application/json"
    status, _, body = put("n1", fmt)                          # create only: it exists
    assert (status, body) == (409, {"detail": "note 'n1' already exists",
                                    "current_version": 1})
    assert call("GET", "/notes/n1", "/notes/{note_id}", fmt)[2] == note
    status, _, replaced = put("n1", fmt, title="new", version=1)
    assert (status, replaced["title"], replaced["version"]) == (200, "new", 2)
    status, _, body = put("n1", fmt, title="stale", version=1)   # a stale copy
    assert (status, body["current_version"]) == (409, 2)
    assert "you sent version 1, the stored one is 2" in body["detail"]
    assert call("DELETE", "/notes/n1", "/notes/{note_id}", fmt)[:1] == (204,)
    assert call("GET", "/notes/n1", "/notes/{note_id}", fmt)[::2] == (
        404, {"detail": "note 'n1' not found"})
    assert put("n1", fmt, version=2)[::2] == (404, {"detail": "note 'n1' not found"})
    assert call("DELETE", "/notes/n1", "/notes/{note_id}", fmt)[0] == 404


def test_pages_and_cursors(lambda_env: None) -> None:
    for i in range(5):
        assert put(f"a{i}")[0] == 201
    assert put("b0", owner="bob")[0] == 201
    seen, cursor, pages = [], None, 0
    while True:
        query = {"owner": "ada", "limit": "2", **({"cursor": cursor} if cursor else {})}
        status, _, page = call("GET", "/notes", "/notes", query=query)
        assert status == 200
        seen += [n["note_id"] for n in page["items"]]
        pages += 1
        cursor = page["cursor"]
        if cursor is None:
            break
    assert (seen, pages) == (["a0", "a1", "a2", "a3", "a4"], 3)   # oldest first
    _, _, first = call("GET", "/notes", "/notes", query={"owner": "ada", "limit": "2"})
    for query in ({"owner": "bob", "cursor": first["cursor"]},     # another owner's
                  {"owner": "ada", "cursor": first["cursor"][:-2] + "xx"},
                  {"owner": "ada", "limit": "0"}, {"limit": "5"}):
        status, _, body = call("GET", "/notes", "/notes", query=query)
        assert status == 400, (query, body)


def test_a_cursor_outlives_its_execution_environment(
        lambda_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Lambda spreads requests over environments: each opens its own connection. The
    template's DYNORM_CURSOR_SECRET makes them accept each other's cursors; without
    it each would sign with a random key of its own."""
    for i in range(3):
        put(f"a{i}")
    query = {"owner": "ada", "limit": "2"}
    cursor = call("GET", "/notes", "/notes", query=query)[2]["cursor"]
    runtime.shutdown()                                    # another environment
    status, _, page = call("GET", "/notes", "/notes", query={**query, "cursor": cursor})
    assert (status, [n["note_id"] for n in page["items"]]) == (200, ["a2"])
    monkeypatch.delenv("DYNORM_CURSOR_SECRET")
    runtime.shutdown()
    cursor = call("GET", "/notes", "/notes", query=query)[2]["cursor"]
    runtime.shutdown()
    assert call("GET", "/notes", "/notes", query={**query, "cursor": cursor})[0] == 400


def test_bad_requests_are_answered_in_the_services_words(lambda_env: None) -> None:
    note = "/notes/{note_id}"
    assert call("PUT", "/notes/x", note, body="{not json")[::2] == (
        400, {"detail": "the body is not valid JSON"})
    assert call("PUT", "/notes/x", note)[::2] == (400, {"detail": "a JSON body is required"})
    status, _, body = call("PUT", "/notes/x", note, body=json.dumps({"owner": "ada"}))
    assert (status, body["detail"], [e["field"] for e in body["errors"]]) == (
        422, "invalid note", ["title"])
    assert put("x", colour="red")[0] == 422                    # an unknown field
    assert put("x", version=0)[0] == 422
    assert put("k" * 3000, title="t")[::2] == (
        422, {"detail": "note_id: at most 2048 bytes"})
    status, _, body = put("big", text="x" * 450_000)
    assert status == 413 and body["detail"].startswith("the note is too large to store (")
    status, headers, body = call("POST", "/notes", "/notes")
    assert (status, headers["allow"]) == (405, "GET")
    assert call("GET", "/nothing", "/nothing")[0] == 404
    encoded = base64.b64encode(json.dumps({"owner": "ada", "title": "b64"}).encode())
    assert call("PUT", "/notes/b", note, body=encoded.decode(), base64_body=True)[0] == 201


def test_database_trouble_is_a_503_and_a_log_line(
        lambda_env: None, caplog: pytest.LogCaptureFixture) -> None:
    on_server(models.Note.delete_table())
    with caplog.at_level(logging.ERROR, logger="notes.api"):
        status, headers, body = call("GET", "/notes/n1", "/notes/{note_id}")
    assert (status, headers["retry-after"], body) == (
        503, "1", {"detail": "the database is unavailable; retry later"})
    assert "TableNotFound" in caplog.text        # the details go to the log only


def test_stage_prefix_and_proxy_routes(lambda_env: None) -> None:
    """A named stage prefixes rawPath; a ``{proxy+}`` route sends no note_id parameter."""
    assert put("my note")[0] == 201
    event = api_event("2.0", "GET", "/prod/notes/my%20note", "/{proxy+}", stage="prod",
                      path_parameters={"proxy": "notes/my note"})
    response = api.handler(event, None)
    assert (response["statusCode"], json.loads(response["body"])["note_id"]) == (
        200, "my note")


def test_an_event_api_gateway_did_not_send_fails_the_invocation(lambda_env: None) -> None:
    with pytest.raises(api.NotAnApiEvent):
        api.handler({"Records": []}, None)


def test_one_connection_serves_every_invocation(lambda_env: None) -> None:
    put("n1")
    connection, loop = runtime._connection, runtime._loop
    for _ in range(3):
        assert call("GET", "/notes/n1", "/notes/{note_id}")[0] == 200
        assert runtime._connection is connection and runtime._loop is loop
    assert connection is not None and connection.is_open
    runtime.shutdown()                                     # the environment ends
    assert not connection.is_open
    assert call("GET", "/notes/n1", "/notes/{note_id}")[0] == 200
    assert runtime._connection is not connection


def test_the_reuse_measurement_runs(dynorm_server: LocalServer) -> None:
    """examples/serverless/measure_reuse.py (its figures are quoted in docs/lambda.md)."""
    env = {**os.environ, "DYNORM_ENDPOINT_URL": dynorm_server.endpoint_url,
           "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
    done = subprocess.run([sys.executable, str(EXAMPLE / "measure_reuse.py"),
                           "--invocations", "3"], capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    rows = [re.fullmatch(r"\s+(\w+)\s+(.+?)\s+([\d.]+) ms CPU\s+([\d.]+) ms", line)
            for line in done.stdout.splitlines()[1:]]
    assert [(m.group(1), m.group(2)) for m in rows if m] == [
        (transport, how) for transport in ("fast", "aioboto3")
        for how in ("one loop and connection", "asyncio.run + connection each time")]


# ------------------------------------------------------------------ the stream handler

ORACLE_EVENTS = from_oracles(ORACLES)


@needs_oracles
@pytest.mark.parametrize("name", sorted(ORACLE_EVENTS) or ["(none)"])
def test_oracle_events_become_history(lambda_env: None, name: str) -> None:
    event = ORACLE_EVENTS[name]
    adapted = {**event, "Records": [adapt_record(r, PREFIX + "notes")
                                    for r in event["Records"]]}
    assert stream.handler(adapted, None) == {"batchItemFailures": []}
    expected: dict[tuple[str, str], dict[str, Any]] = {}
    for record in adapted["Records"]:         # a redelivered record rewrites its item
        data = record["dynamodb"]
        image = data.get("NewImage") or data.get("OldImage")
        expected[(data["Keys"]["note_id"]["S"], data["SequenceNumber"].zfill(40))] = {
            "kind": record["eventName"].lower(),
            "title": image["title"]["S"] if image else None,
            "version": int(image["version"]["N"]) if image else None,
            "at": data.get("ApproximateCreationDateTime"),
        }
    got = {}
    for note_id in {key for key, _ in expected}:
        for change in history(note_id):
            got[(note_id, change["sequence"])] = change
    assert sorted(got) == sorted(expected)
    for key, want in expected.items():
        change = got[key]
        assert (change["kind"], change["title"], change["version"]) == (
            want["kind"], want["title"], want["version"])
        if want["at"] is not None:
            assert datetime.fromisoformat(change["at"]) == utc(float(want["at"])), key


@needs_oracles
def test_records_of_other_tables_are_skipped(
        lambda_env: None, caplog: pytest.LogCaptureFixture) -> None:
    """The oracles as published name other tables (or placeholders): not this
    function's records; each is logged and none is reported as failed."""
    for name, event in ORACLE_EVENTS.items():
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="dynorm.streams"):
            assert stream.handler(event, None) == {"batchItemFailures": []}, name
        assert len(caplog.records) == len(event["Records"]), name
    assert history("id=101") == []


@needs_oracles
def test_a_failing_record_and_the_later_ones_are_reported(lambda_env: None) -> None:
    """As AWS's sample answer has it: the failed records' sequence numbers."""
    sample = json.loads((ORACLES / "aws-lambda-dotnet" / "dynamodb-batchitemfailures-"
                         "response.json").read_text("utf-8-sig"))
    records = [stream_record("INSERT", "other", 1, table="someone-elses"),  # not ours
               stream_record("INSERT", "n1", 2, table=PREFIX + "notes"),
               stream_record("MODIFY", "n1", 3, table=PREFIX + "notes")]
    on_server(models.NoteChange.delete_table())          # every write now fails
    answer = stream.handler({"Records": records}, None)
    assert answer.keys() == sample.keys()
    assert [set(f) for f in answer["batchItemFailures"]] == [
        set(f) for f in sample["batchItemFailures"]] * 2
    assert answer == {"batchItemFailures": [{"itemIdentifier": "2"},
                                            {"itemIdentifier": "3"}]}
    on_server(models.create_tables())                    # fixed: Lambda retries from 2
    assert stream.handler({"Records": records[1:]}, None) == {"batchItemFailures": []}
    assert [c["kind"] for c in history("n1")] == ["insert", "modify"]


def test_a_poison_record_goes_to_on_error_and_counts_as_done(
        lambda_env: None, caplog: pytest.LogCaptureFixture) -> None:
    poison = stream_record("INSERT", "bad", 1, table=PREFIX + "notes")
    del poison["dynamodb"]["NewImage"]["title"]           # written by another program
    records = [poison, stream_record("INSERT", "good", 2, table=PREFIX + "notes")]
    with caplog.at_level(logging.ERROR, logger="notes.stream"):
        assert stream.handler({"Records": records}, None) == {"batchItemFailures": []}
    assert "stream record 1 of dev-notes not handled (invalid)" in caplog.text
    assert (history("bad"), len(history("good"))) == ([], 1)


def test_api_changes_reach_the_history_through_the_stream(lambda_env: None) -> None:
    assert put("n1", title="first")[0] == 201
    assert put("n1", title="second", version=1)[0] == 200
    assert call("DELETE", "/notes/n1", "/notes/{note_id}")[0] == 204
    records = on_server(lambda_records(PREFIX + "notes"))
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "REMOVE"]
    assert stream.handler({"Records": records}, None) == {"batchItemFailures": []}
    assert [(c["kind"], c["title"], c["version"]) for c in history("n1")] == [
        ("insert", "first", 1), ("modify", "second", 2), ("remove", "second", 2)]


# ------------------------------------------------------------------ the SAM template


class _CloudFormation(yaml.SafeLoader):
    """Reads !Ref, !GetAtt, !Sub ... as {"Ref": ...}, {"Fn::GetAtt": ...}, ..."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        return {name: value.split(".", 1) if suffix == "GetAtt" else value}
    if isinstance(node, yaml.SequenceNode):
        return {name: loader.construct_sequence(node, deep=True)}
    return {name: loader.construct_mapping(node, deep=True)}  # type: ignore[arg-type]


_CloudFormation.add_multi_constructor("!", _intrinsic)


def template() -> dict[str, Any]:
    text = (EXAMPLE / "template.yaml").read_text("utf-8")
    return dict(yaml.load(text, Loader=_CloudFormation))


def test_the_template_is_what_make_template_generates() -> None:
    done = subprocess.run([sys.executable, str(EXAMPLE / "make_template.py"), "--check"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_the_templates_tables_are_the_tables_the_tests_use(lambda_env: None) -> None:
    """make_template.py and create_tables() read the same declarations: the tables made
    here are what the models declare (an empty plan), and what the template says."""
    assert not on_server(plan(*models.MODELS)).changes
    resources = template()["Resources"]

    async def live(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
        conn = Connection(transport="fast")
        async with conn:
            table = (await conn.call("DescribeTable", {"TableName": name}))["Table"]
            ttl = await conn.call("DescribeTimeToLive", {"TableName": name})
        return table, ttl["TimeToLiveDescription"]

    for model in models.MODELS:
        declared = resources[f"{model.__name__}Table"]["Properties"]
        name = declared["TableName"]["Fn::Sub"].replace("${TablePrefix}", PREFIX)
        table, ttl = on_server(live(name))
        assert declared["KeySchema"] == table["KeySchema"]
        assert sorted(map(str, declared["AttributeDefinitions"])) == sorted(
            map(str, table["AttributeDefinitions"]))
        assert {(g["IndexName"], str(g["KeySchema"]), g["Projection"]["ProjectionType"])
                for g in declared.get("GlobalSecondaryIndexes", [])} == {
            (g["IndexName"], str(g["KeySchema"]), g["Projection"]["ProjectionType"])
            for g in table.get("GlobalSecondaryIndexes", [])}
        assert declared.get("StreamSpecification", {}).get("StreamViewType") == (
            table.get("StreamSpecification", {}).get("StreamViewType"))
        assert declared.get("TimeToLiveSpecification", {}).get("AttributeName") == (
            ttl.get("AttributeName"))
        assert declared["BillingMode"] == table["BillingModeSummary"]["BillingMode"]


def test_the_template_wires_the_handlers() -> None:
    resources = template()["Resources"]
    for function, module in (("ApiFunction", api), ("StreamFunction", stream)):
        handler = resources[function]["Properties"]["Handler"]
        assert handler == f"{module.__name__}.handler" and callable(module.handler)
    source = resources["StreamFunction"]["Properties"]["Events"]["NoteChanges"]
    assert source["Type"] == "DynamoDB"
    assert source["Properties"]["Stream"] == {"Fn::GetAtt": ["NoteTable", "StreamArn"]}
    assert source["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    routes = {(e["Properties"]["Method"], e["Properties"]["Path"])
              for e in resources["ApiFunction"]["Properties"]["Events"].values()}
    for method, path, _ in api.ROUTES:       # every route reaches the function
        assert (method, path) in routes or ("ANY", path) in routes, (method, path)
