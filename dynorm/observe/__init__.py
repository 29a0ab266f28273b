"""Observability and cost: consumed capacity, call hooks, log records, OpenTelemetry.

- `Capacity` / `CapacityTotals` (`dynorm.observe.capacity`): what each call consumed,
  added up per table, index, model, entity and operation (``connect(capacity=True)``).
- `CallEvent` (`dynorm.observe.calls`): what ``connection.on_request`` /
  ``on_response`` hooks receive, one per attempt; the same facts go to the
  ``dynorm.observe`` logger at DEBUG, one record per call.
- ``dynorm.observe.otel.OpenTelemetry``: spans and metrics (``dynorm[otel]``), loaded
  only when asked for (``connect(telemetry=True)``).

See docs/observability.md.
"""

from __future__ import annotations

from dynorm.observe.calls import CallEvent, Hook, Observer
from dynorm.observe.capacity import Capacity, CapacityTotals, CapacityUnits, parse_capacity

__all__ = [
    "CallEvent",
    "Capacity",
    "CapacityTotals",
    "CapacityUnits",
    "Hook",
    "Observer",
    "parse_capacity",
]
