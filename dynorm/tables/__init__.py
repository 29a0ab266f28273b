"""Tables from model declarations: create and delete them, plan and apply their changes.

* ``create_table``/``delete_table`` (behind ``Model.create_table()``): make a table from
  its declaration (settings included: the desired state ``plan()`` compares with), or
  remove it.
* [`plan()`][dynorm.tables.lifecycle.plan] compares models with their live tables and returns a
  [`Plan`][dynorm.tables.changes.Plan] of [`Change`][dynorm.tables.changes.Change] values;
  [`apply()`][dynorm.tables.lifecycle.apply] makes them, in the order DynamoDB allows.

Layers inside: ``settings`` (in ``dynorm.schema``) and ``desired`` say what the models
declare, ``state`` reads what the table is, ``diff`` (pure) turns the difference into
changes, ``lifecycle`` runs them.
"""

from dynorm.tables.changes import ApplyProgress, Change, ChangeKind, Plan, PlanError, Step
from dynorm.tables.create import (
    STREAM_VIEWS,
    StreamView,
    create_table_request,
    delete_table,
    merged_table_request,
    stream_view,
)
from dynorm.tables.lifecycle import ProgressCallback, apply, plan
from dynorm.tables.make import create_model_tables, create_table

__all__ = [
    "STREAM_VIEWS",
    "ApplyProgress",
    "Change",
    "ChangeKind",
    "Plan",
    "PlanError",
    "ProgressCallback",
    "Step",
    "StreamView",
    "apply",
    "create_model_tables",
    "create_table",
    "create_table_request",
    "delete_table",
    "merged_table_request",
    "plan",
    "stream_view",
]
