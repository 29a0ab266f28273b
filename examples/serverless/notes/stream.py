"""The notes table's stream -> each note's history, through dynorm's Lambda adapter.

Lambda's event source mapping reads the stream and calls ``handler`` with a batch of
records; the adapter (``listener.lambda_handler()``) decodes each record into a typed
``ChangeEvent[Note]`` and runs the subscriptions below, in order. With
``ReportBatchItemFailures`` on the mapping (the template sets it), a record whose
handler still fails after its retries is answered in ``batchItemFailures``, with every
later record of the batch (they were not handled): Lambda retries from that record,
so each note's changes are still handled in order. A record whose image does not fit
``Note`` goes to ``on_error`` and counts as done, so one bad item cannot block the
shard.

Handlers run at least once per record (a retried batch delivers some again):
``record_change`` writes an item keyed by the record's sequence number, so a second
delivery writes the same item again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from dynorm.streams import ChangeEvent, FailedRecord, StreamListener

from . import runtime
from .models import Note, NoteChange

log = logging.getLogger(__name__)

KEEP_HISTORY = timedelta(days=30)   # NoteChange's TTL

listener = StreamListener(Note)


@listener.on(Note, retries=2, backoff=0.2)   # then the record is reported as failed
async def record_change(event: ChangeEvent[Note]) -> None:
    note = event.new or event.old          # None for a KEYS_ONLY stream
    await NoteChange(
        note_id=event.keys["note_id"],
        sequence=event.sequence_number.zfill(40),
        kind=event.kind,
        at=event.approximate_creation_time,
        title=note.title if note else None,
        version=note.version if note else None,
        expires=datetime.now(timezone.utc) + KEEP_HISTORY,
    ).save()


@listener.on_error
async def dead_letter(failure: FailedRecord) -> None:
    """Records not handled: the log here; a real service would also send them to a
    queue to replay once fixed."""
    log.error("stream record %s of %s not handled (%s): %r", failure.sequence_number,
              failure.table, failure.reason, failure.error)


_handle = listener.lambda_handler()


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda entry point (``notes.stream.handler`` in the template):
    ``{"batchItemFailures": [{"itemIdentifier": sequence_number}, ...]}``."""
    return runtime.run(_handle(event, context))


__all__ = ["handler", "listener"]
