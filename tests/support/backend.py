"""Which server the integration suite runs on (``DYNORM_TEST_BACKEND``, see conftest)."""

from __future__ import annotations

from typing import TypeVar

from dynorm.testing import server_from_env

__all__ = ["BACKEND", "on_backend"]

T = TypeVar("T")

#: ``"moto"``, ``"dynamodb-local"``, or ``"endpoint"`` (a server you run yourself).
BACKEND = server_from_env().backend


def on_backend(*, moto: T, aws: T) -> T:
    """What the suite expects here: moto's behaviour on moto, AWS's everywhere else
    (DynamoDB Local is AWS's own emulator and behaves as AWS documents)."""
    return moto if BACKEND == "moto" else aws
