"""Contenders: one adapter module each, all with the same scenario methods.

An adapter's ``available()`` says whether its library is installed; the runner skips a
contender that is not, with a line in the output.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

from benchmarks.data import Bench

#: name -> (module, class, constructor kwargs, library the adapter needs)
REGISTRY: dict[str, tuple[str, str, dict[str, Any], str]] = {
    "raw-aioboto3": ("raw_aioboto3", "RawAioboto3", {}, "aioboto3"),
    "dynorm-aioboto3": ("dynorm_", "Dynorm", {"transport": "aioboto3"}, "dynorm"),
    "dynorm-fast": ("dynorm_", "Dynorm", {"transport": "fast"}, "dynorm"),
    "dynorm-blocking": ("dynorm_blocking", "DynormBlocking", {"transport": "fast"}, "dynorm"),
    "boto3-table": ("boto3_table", "Boto3Table", {}, "boto3"),
    "pynamodb": ("pynamodb_", "PynamoDB", {}, "pynamodb"),
    "pydynox": ("pydynox_", "Pydynox", {}, "pydynox"),
    "aiodynamo": ("aiodynamo_", "Aiodynamo", {}, "aiodynamo"),
}
BASELINE = "raw-aioboto3"

Key = tuple[str, int]


class Contender:
    """One client library. Every scenario method does the whole timed unit of work."""

    name = ""
    sync = False  # a synchronous library (runs blocking, in the same process)
    #: What reads hand back (the read-path table prints it).
    returns = ""
    #: A CA file to trust for an https endpoint (the https scenario), for adapters whose
    #: library takes one explicitly; the others read AWS_CA_BUNDLE or SSL_CERT_FILE.
    ca_bundle: str | None = None

    async def open(self, url: str, tx_url: str) -> None:
        """Connect to the main server (``url``) and the transactions server (``tx_url``)."""

    async def close(self) -> None: ...

    def activate(self) -> None:
        """Called before each measurement (dynorm: make this contender's connection current)."""

    async def put(self, items: Sequence[Bench]) -> None:
        """One PutItem per item, one after the other."""
        raise NotImplementedError

    async def get(self, keys: Sequence[Key]) -> None:
        """One GetItem per key, one after the other."""
        raise NotImplementedError

    async def update(self, items: Sequence[Bench]) -> None:
        """One UpdateItem per item: score + 1, status = "seen", if the item exists and
        score < MAX_SCORE, returning the new item (ALL_NEW)."""
        raise NotImplementedError

    async def query(self, pk: str, page_size: int | None) -> int:
        """Every item of partition ``pk``, ``page_size`` per request (None: no ``Limit``,
        the server's 1 MB pages); returns the count."""
        raise NotImplementedError

    async def scan(self, segments: int) -> int:
        """Every item of the table, ``segments`` segments read in parallel (the async
        libraries concurrently, the sync ones in threads); returns the count."""
        raise NotImplementedError

    async def batch_write(self, items: Sequence[Bench]) -> None:
        """All items with BatchWriteItem (25 per call)."""
        raise NotImplementedError

    async def batch_get(self, keys: Sequence[Key]) -> int:
        """All keys with BatchGetItem (100 per call); returns the number of items found.

        Every item read is held in one list until the call returns -- what an application
        that asks for these keys has in hand, and what dynorm (``get_many``) and pydynox
        hand back. (Until session 9 the aiodynamo, boto3 and raw aioboto3 contenders
        counted each answer's items and dropped them: holding them costs aiodynamo 5 %
        more client CPU per batch get, measured in one process, alternated.)"""
        raise NotImplementedError

    async def transaction(self, items: Sequence[Bench]) -> None:
        """One TransactWriteItems putting all ``items`` (on the transactions server)."""
        raise NotImplementedError


def available(name: str) -> str | None:
    """None if the contender can run, else why not."""
    library = REGISTRY[name][3]
    try:
        importlib.import_module(library)
    except ImportError as exc:
        return f"{library} is not installed ({exc})"
    return None


def create(name: str) -> Contender:
    module, cls, kwargs, _ = REGISTRY[name]
    klass = getattr(importlib.import_module(f"benchmarks.contenders.{module}"), cls)
    contender: Contender = klass(**kwargs)
    contender.name = name
    return contender
