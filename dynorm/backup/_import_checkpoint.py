"""Import, checkpointing: chunks confirmed in order, the rejects file, and the
checkpoint file that lets a killed import resume (see `dynorm.backup.importer`).

The checkpoint records the first line not known to be written (every line before it
was written or rejected) and the size of the rejects file at that point; it is replaced
atomically (`write_atomically`), at most about once a second, whenever it moves on. A
resumed import truncates the rejects file to that size and goes on from that line.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path
from typing import IO

from dynorm.backup._import_lines import Entry
from dynorm.backup.errors import TransferError
from dynorm.backup.progress import Reporter
from dynorm.backup.storage import write_atomically
from dynorm.codec.json import dumps, loads

__all__ = ["CHECKPOINT_FORMAT", "Checkpoint", "Chunk"]

CHECKPOINT_FORMAT = 1


class Chunk:
    """Up to 25 items (and the lines rejected before them), written as one call."""

    __slots__ = ("done", "end", "items", "kids", "rejects", "seq", "written")

    def __init__(self, seq: int) -> None:
        self.seq = seq
        self.items: list[Entry] = []
        #: the key identities of ``items``
        self.kids: set[bytes] = set()
        #: records for the rejects file, in line order
        self.rejects: list[bytes] = []
        #: (file, line) of the first line after the chunk
        self.end = (0, 0)
        self.written = 0
        self.done = asyncio.Event()


class Checkpoint:
    """How far an import got; confirms its chunks in order.

    Args:
        path: the checkpoint file (None: nothing is saved).
        source: the location read (``Storage.url``).
        table: the table written.
        files: the data files read, in order.
        rejects: the rejects file (None: a rejected line stops the import).
        reporter: the import's progress counts.
        interval: seconds between two saves, at least.
    """

    def __init__(self, path: Path | None, source: str, table: str, files: tuple[str, ...],
                 rejects: Path | None, reporter: Reporter, interval: float = 1.0) -> None:
        self.path = path
        self.source = source
        self.table = table
        self.files = files
        self.rejects_path = rejects
        self.reporter = reporter
        self.interval = interval
        self.rejects: IO[bytes] | None = None
        self.rejects_size = 0
        #: (file, line) of the first line not known to be written
        self.position = (0, 0)
        self.written = 0
        self.rejected = 0
        self.resumed = False
        self._finished: dict[int, Chunk] = {}
        self._next = 0  # the seq of the next chunk to confirm
        self._saved_at = -float("inf")

    def load(self) -> None:
        """Continue from the checkpoint file, if there is one."""
        if self.path is None or not self.path.exists():
            return
        state = loads(self.path.read_bytes())
        if state.get("format") != CHECKPOINT_FORMAT or state.get("table") != self.table or (
                state.get("source") != self.source
                or tuple(state.get("files") or ()) != self.files):
            raise TransferError(
                f"checkpoint {self.path} belongs to another import (of "
                f"{state.get('source')!r} into {state.get('table')!r}): delete it or pass "
                "another checkpoint path")
        self.position = (state["file"], state["line"])
        self.written = state["written"]
        self.rejected = state["rejected"]
        self.rejects_size = state["rejectsSize"]
        self.reporter.items = self.written
        self.reporter.rejected = self.rejected
        self.reporter.resumed_items = self.written + self.rejected
        self.resumed = True
        if self.rejects_path is not None and self.rejects_path.exists():
            with open(self.rejects_path, "r+b") as handle:
                handle.truncate(self.rejects_size)

    def save(self) -> None:
        """Replace the checkpoint file (the rejects written so far flushed to disk
        first)."""
        self._saved_at = time.monotonic()
        if self.path is None:
            return
        if self.rejects is not None:
            self.rejects.flush()
            os.fsync(self.rejects.fileno())
        write_atomically(self.path, dumps({
            "format": CHECKPOINT_FORMAT, "source": self.source, "table": self.table,
            "files": list(self.files), "file": self.position[0],
            "line": self.position[1], "written": self.written, "rejected": self.rejected,
            "rejectsSize": self.rejects_size}))

    def confirmed(self, chunk: Chunk) -> None:
        """A chunk is written: confirm it and every finished chunk after it, in order;
        save when the position moved and the last save is ``interval`` old.

        Raises:
            TransferError: a chunk holds rejected lines and there is no rejects file.
        """
        self._finished[chunk.seq] = chunk
        moved = False
        while self._next in self._finished:
            done = self._finished.pop(self._next)
            self._next += 1
            if done.rejects:
                self._write_rejects(done.rejects)
            self.written += done.written
            self.position = done.end
            moved = True
        if moved and time.monotonic() - self._saved_at >= self.interval:
            self.save()

    def _write_rejects(self, records: list[bytes]) -> None:
        if self.rejects_path is None:
            raise TransferError(
                "import: an item was rejected and no rejects file was given "
                f"(rejects=, --rejects): {records[0][:500].decode(errors='replace')}")
        if self.rejects is None:
            self.rejects_path.parent.mkdir(parents=True, exist_ok=True)
            self.rejects = open(self.rejects_path, "ab")  # noqa: SIM115 - closed by close()
        for record in records:
            self.rejects.write(record)
            self.rejects_size += len(record)
        self.rejected += len(records)
        self.reporter.rejected += len(records)

    def finish(self) -> None:
        """The import is complete: close the rejects file, delete the checkpoint."""
        self.close()
        if self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    def close(self) -> None:
        if self.rejects is not None:
            self.rejects.close()
            self.rejects = None
