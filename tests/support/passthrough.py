"""A pass-through around a real connection's transport, for a second connection with
other settings (capacity, telemetry, hooks) on the same server: it records every answer
and leaves the inner transport open when the second connection closes."""

from __future__ import annotations

from dynorm._types import Request, Response
from dynorm.transport.base import Transport

__all__ = ["Recorder"]


class Recorder:
    """Passes each call to ``inner`` and keeps ``(operation, answer)`` in ``answers``."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.accepts_json_fragments = inner.accepts_json_fragments
        self.answers: list[tuple[str, Response]] = []

    async def open(self) -> None:
        """The inner transport is open already."""

    async def close(self) -> None:
        """The inner transport's own connection closes it."""

    async def call(self, operation: str, payload: Request) -> Response:
        answer = await self.inner.call(operation, payload)
        self.answers.append((operation, answer))
        return answer
