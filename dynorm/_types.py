"""Wire shapes: DynamoDB's JSON as Python dicts.

Plain aliases rather than TypedDicts: request and response dicts are built and read in
hot paths, and an AttributeValue is a one-key dict whose key is the type tag
(``{"S": "x"}``, ``{"N": "1.5"}``, ``{"M": {...}}``).
"""

from __future__ import annotations

from typing import Any, TypeAlias

AttributeValue: TypeAlias = dict[str, Any]
"""One DynamoDB value, e.g. ``{"S": "hello"}`` or ``{"L": [{"N": "1"}]}``."""

Item: TypeAlias = dict[str, AttributeValue]
"""An item or key: attribute name -> AttributeValue."""

Request: TypeAlias = dict[str, Any]
"""The parameters of one DynamoDB operation, in the API's own (PascalCase) names."""

Response: TypeAlias = dict[str, Any]
"""The parsed answer of one DynamoDB operation."""

KeyType: TypeAlias = str
"""A key attribute's scalar type: ``"S"``, ``"N"`` or ``"B"``."""
