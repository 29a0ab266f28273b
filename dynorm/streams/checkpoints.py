"""Where a listener remembers how far it has read each shard.

A checkpoint is the sequence number of the last record whose handlers all finished
(or were given up on by policy), per ``(stream ARN, shard id)``, plus whether the shard
was read to its end. A restarted listener asks for the records *after* it
(``AFTER_SEQUENCE_NUMBER``), so nothing is skipped; records handled after the last
checkpoint are delivered again (at least once).

Checkpoints never move backwards: sequence numbers compare as integers.

* [`InMemoryCheckpoints`][dynorm.streams.InMemoryCheckpoints] (the default): lost when the
  process ends.
* [`TableCheckpoints`][dynorm.streams.TableCheckpoints]: a DynamoDB table, shared by workers, which
  also holds their shard leases.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["Checkpoint", "CheckpointStore", "InMemoryCheckpoints", "position"]

#: Sequence numbers have at most 40 digits; zero-padded to this width they sort as text
#: in the same order as integers (DynamoDB numbers hold only 38 digits).
POSITION_WIDTH = 40


def position(sequence_number: str) -> str:
    """A sequence number as fixed-width text that sorts like the integer."""
    digits = str(int(sequence_number))
    if len(digits) > POSITION_WIDTH:
        raise ValueError(f"sequence number longer than {POSITION_WIDTH} digits: "
                         f"{sequence_number!r}")
    return digits.zfill(POSITION_WIDTH)


@dataclass(frozen=True)
class Checkpoint:
    """How far a shard has been read.

    Attributes:
        sequence_number: the last record done (``None``: none yet).
        finished: the shard is closed and was read to its end.
    """

    sequence_number: str | None = None
    finished: bool = False


@runtime_checkable
class CheckpointStore(Protocol):
    """Loads and saves shard checkpoints. Implementations must never move one backwards."""

    async def load(self, stream_arn: str, shard_id: str) -> Checkpoint | None:
        """The shard's checkpoint, or None if it was never saved."""
        ...

    async def save(
        self, stream_arn: str, shard_id: str, sequence_number: str | None, *,
        finished: bool = False,
    ) -> None:
        """Record ``sequence_number`` (and ``finished``); ignore a position behind the
        stored one."""
        ...


class InMemoryCheckpoints:
    """Checkpoints in a dict: for one process, lost when it ends (the default store)."""

    def __init__(self) -> None:
        self._data: dict[tuple[str, str], Checkpoint] = {}

    def __repr__(self) -> str:
        return f"InMemoryCheckpoints({len(self._data)} shards)"

    async def load(self, stream_arn: str, shard_id: str) -> Checkpoint | None:
        return self._data.get((stream_arn, shard_id))

    async def save(
        self, stream_arn: str, shard_id: str, sequence_number: str | None, *,
        finished: bool = False,
    ) -> None:
        key = (stream_arn, shard_id)
        current = self._data.get(key) or Checkpoint()
        seq = current.sequence_number
        if sequence_number is not None and (
            seq is None or int(sequence_number) >= int(seq)
        ):
            seq = sequence_number
        self._data[key] = Checkpoint(seq, finished or current.finished)
