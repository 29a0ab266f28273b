"""The two tables of the notes service, declared once.

``TABLES`` says how each table is created: the local set-up (``create_tables()``) and
``make_template.py`` (the SAM template's table resources) both read it, so the table
deployed is the one the tests run against.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from dynorm import TTL, GlobalIndex, Model, PartitionKey, SortKey, Version


class Note(Model, table="notes"):
    """A note; its table's stream feeds the history below."""

    note_id: Annotated[str, PartitionKey]
    owner: str
    title: str
    text: str = ""
    tags: list[str] = []
    updated_at: datetime
    version: Annotated[int, Version] = 0

    by_owner = GlobalIndex("owner", "updated_at")   # an owner's notes, oldest first


class NoteChange(Model, table="note-changes"):
    """One change of a note, written by the stream handler (kept 30 days)."""

    note_id: Annotated[str, PartitionKey]
    #: the stream record's sequence number, zero-padded to 40 digits so that the
    #: history sorts in stream order (they are decimal strings of varying length)
    sequence: Annotated[str, SortKey]
    kind: Literal["insert", "modify", "remove"]
    at: datetime
    title: str | None = None        # after the change (before it, for a remove)
    version: int | None = None
    expires: Annotated[datetime, TTL]


#: Each table's creation options (``Model.create_table``'s keyword arguments).
TABLES: dict[type[Model], dict[str, Any]] = {
    Note: {"billing_mode": "PAY_PER_REQUEST", "stream": "NEW_AND_OLD_IMAGES"},
    NoteChange: {"billing_mode": "PAY_PER_REQUEST"},
}


async def create_tables() -> None:
    """Create both tables on the current connection (local runs and tests; on AWS the
    SAM template declares them)."""
    for model, options in TABLES.items():
        await model.create_table(**options)


__all__ = ["TABLES", "Note", "NoteChange", "create_tables"]
