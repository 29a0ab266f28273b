"""The two tables of the notes service, declared once.

Each model declares its table whole: keys, indexes and TTL in the class, billing,
stream and backups in ``settings=``. ``make_template.py`` writes the SAM template's
table resources from these declarations, and ``create_tables()`` makes the tables
the tests (and local runs) use from the same ones.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import dynorm
from dynorm import (
    TTL,
    GlobalIndex,
    Model,
    OnDemand,
    PartitionKey,
    SortKey,
    TableSettings,
    Version,
)


class Note(Model, table="notes", settings=TableSettings(
        billing=OnDemand(),
        stream="NEW_AND_OLD_IMAGES",          # read by the stream function
        point_in_time_recovery=True)):
    """A note; its table's stream feeds the history below."""

    note_id: Annotated[str, PartitionKey]
    owner: str
    title: str
    text: str = ""
    tags: list[str] = []
    updated_at: datetime
    version: Annotated[int, Version] = 0

    by_owner = GlobalIndex("owner", "updated_at")   # an owner's notes, oldest first


class NoteChange(Model, table="note-changes",
                 settings=TableSettings(billing=OnDemand())):
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


MODELS: tuple[type[Model], ...] = (Note, NoteChange)


async def create_tables() -> None:
    """Make the tables what the models declare, on the current connection (local runs
    and tests; on AWS the SAM template declares them)."""
    await dynorm.apply(await dynorm.plan(*MODELS), poll_interval=0.05)


__all__ = ["MODELS", "Note", "NoteChange", "create_tables"]
