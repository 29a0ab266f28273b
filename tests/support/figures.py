"""Figures from the reliability tests (requests sent, faults injected, items verified...).

Set ``DYNORM_FIGURES=path.jsonl`` to have each test append one JSON line; without it,
nothing is written. docs/reliability.md quotes a run.
"""

from __future__ import annotations

import json
import os
from typing import Any

from tests.support.fault_proxy import FaultProxy

__all__ = ["record"]


def record(test: str, proxy: FaultProxy | None = None, **figures: Any) -> None:
    path = os.environ.get("DYNORM_FIGURES")
    if not path:
        return
    line: dict[str, Any] = {"test": test, **figures}
    if proxy is not None:
        stats = proxy.stats
        line.update(requests=stats.requests, forwarded=stats.forwarded,
                    faults={k: v for k, v in stats.faults.items() if v},
                    throttled_batch=stats.throttled,
                    unprocessed_writes=stats.unprocessed_writes,
                    unprocessed_keys=stats.unprocessed_keys,
                    token_replays=stats.token_replays,
                    injected=stats.injected)
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(line, default=str) + "\n")
