"""Blocking DynamoDB calls for managing a local server (readiness, wiping tables).

The embedded servers are managed from synchronous code (a pytest fixture's ``reset()``,
a thread waiting for a JVM to come up), so these few calls go through ``urllib``, signed
with dynorm's own SigV4 signer and the local credentials: any DynamoDB-compatible
server accepts them, including one that checks signatures.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from dynorm.transport._sigv4 import amz_date, sign_request

__all__ = ["LOCAL_CREDENTIALS", "LOCAL_REGION", "call", "delete_all_tables"]

#: Credentials the local servers accept (they check none); never real ones.
LOCAL_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}
LOCAL_REGION = "us-east-1"


def call(endpoint_url: str, operation: str, payload: dict[str, Any], *,
         timeout: float = 10.0) -> dict[str, Any]:
    """One DynamoDB JSON call; raises ``urllib.error.URLError``/``HTTPError`` on failure."""
    url = endpoint_url.rstrip("/") + "/"
    body = json.dumps(payload).encode()
    headers = [("Content-Type", "application/x-amz-json-1.0"),
               ("X-Amz-Target", f"DynamoDB_20120810.{operation}")]
    signed = sign_request(
        "POST", url, headers, body,
        access_key=LOCAL_CREDENTIALS["aws_access_key_id"],
        secret_key=LOCAL_CREDENTIALS["aws_secret_access_key"],
        session_token=None, region=LOCAL_REGION, service="dynamodb", timestamp=amz_date(),
    )
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={**dict(headers), **signed})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        answer: dict[str, Any] = json.loads(response.read() or b"{}")
    return answer


def delete_all_tables(endpoint_url: str) -> list[str]:
    """Delete every table the server lists (all pages); returns their names."""
    names: list[str] = []
    request: dict[str, Any] = {}
    while True:
        page = call(endpoint_url, "ListTables", request)
        names.extend(page.get("TableNames", []))
        last = page.get("LastEvaluatedTableName")
        if not last:
            break
        request = {"ExclusiveStartTableName": last}
    for name in names:
        try:
            call(endpoint_url, "DeleteTable", {"TableName": name})
        except urllib.error.HTTPError as exc:  # deleted meanwhile: nothing left to do
            if b"ResourceNotFoundException" not in exc.read():
                raise
    return names
