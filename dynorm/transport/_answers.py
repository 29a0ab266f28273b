"""What DynamoDB answered, read for `FastTransport`: binary values in a parsed answer
(base64 on the wire) and error answers turned into dynorm's exceptions, shaped like
botocore's ClientError so that both transports raise the same thing."""

from __future__ import annotations

import base64
import re
from typing import Any

from dynorm.codec.json import loads
from dynorm.exceptions import ServiceError, Throttled, error_for_code

__all__ = ["decode_binary", "error_answer", "has_binary"]

_b64decode = base64.b64decode
_BINARY_TAG = re.compile(rb'"BS?"').search


def decode_binary(node: Any) -> None:
    """Turn base64 ``B``/``BS`` AttributeValues into bytes, in place, anywhere in ``node``.

    An AttributeValue tagged ``B`` holds a string, ``BS`` a list of strings; a map of
    attributes that happens to have an attribute named ``B`` holds AttributeValues
    (dicts) instead, so the two cannot be confused.
    """
    if isinstance(node, dict):
        if len(node) == 1:
            value = node.get("B")
            if value.__class__ is str:
                node["B"] = _b64decode(value)
                return
            values = node.get("BS")
            if values.__class__ is list and all(v.__class__ is str for v in values):
                node["BS"] = [_b64decode(v) for v in values]
                return
        for child in node.values():
            if child.__class__ is dict or child.__class__ is list:
                decode_binary(child)
    elif isinstance(node, list):
        for child in node:
            if child.__class__ is dict or child.__class__ is list:
                decode_binary(child)


def has_binary(raw: bytes) -> bool:
    """Cheap pre-check on the raw body: no '"B"'/'"BS"' token, no binary value to decode.
    One regular-expression scan: ``in`` searches twice, and slowly for a needle that
    starts and ends with a quote in JSON (0.49 against 0.93 ms on a 700 KB page)."""
    return _BINARY_TAG(raw) is not None


def error_answer(operation: str, status: int, raw: bytes, request_id: str | None, *,
           ambiguous: bool = False) -> ServiceError:
    """The dynorm exception for an error answer, shaped like botocore's ClientError."""
    try:
        body = loads(raw) if raw else {}
        if not isinstance(body, dict):
            body = {"message": str(body)}
    except ValueError:
        body = {"message": raw.decode("utf-8", "replace")}
    code = str(body.pop("__type", "") or status)
    code = code.split(":", 1)[0].rsplit("#", 1)[-1]
    message = str(body.get("message", body.get("Message", "")) or "")
    if has_binary(raw):
        decode_binary(body)
    metadata: dict[str, Any] = {"HTTPStatusCode": status, "RetryAttempts": 0}
    if request_id:
        metadata["RequestId"] = request_id
    response: dict[str, Any] = {"Error": {"Message": message, "Code": code},
                                "ResponseMetadata": metadata, **body}
    cls = error_for_code(code, status)
    if not message:
        # botocore's ClientError text, which the aioboto3 transport falls back on.
        message = (f"An error occurred ({code}) when calling the {operation} operation "
                   "(reached max retries: 0): ")
    if cls is Throttled:
        message += " (retries exhausted)"
    return cls(message, code=code, operation=operation, response=response,
               ambiguous=ambiguous, status=status)
