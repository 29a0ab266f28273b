"""A transport for unit tests of code that uses dynorm: no server, no network."""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable

from dynorm._types import Request, Response

__all__ = ["MockTransport"]

Handler = Callable[[str, Request], Response | Awaitable[Response]]


class MockTransport:
    """Records every request and answers with ``handler(operation, payload)``.

    ```python
    transport = MockTransport(lambda op, req: {"Item": {...}} if op == "GetItem" else {})
    async with dynorm.connect(transport=transport):
        await User.get("u1")
    assert transport.requests[0] == ("GetItem", {"TableName": "users", ...})
    ```

    The handler may return a dict or an awaitable of one, and may raise dynorm errors.
    """

    accepts_json_fragments = False  # requests are recorded as plain dicts

    def __init__(self, handler: Handler | None = None) -> None:
        self.handler = handler
        self.requests: list[tuple[str, Request]] = []
        self.closed = False

    async def open(self) -> None:
        """Nothing to set up."""

    async def call(self, operation: str, payload: Request) -> Response:
        self.requests.append((operation, copy.deepcopy(payload)))
        if self.handler is None:
            return {}
        result = self.handler(operation, payload)
        if isinstance(result, dict):
            return result
        return await result

    async def close(self) -> None:
        self.closed = True
