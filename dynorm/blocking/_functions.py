"""The blocking twins of dynorm's module-level operations, typed from the async ones."""

from __future__ import annotations

from dynorm import apply as _apply
from dynorm import batch_get as _batch_get
from dynorm import create_tables as _create_tables
from dynorm import get_many as _get_many
from dynorm import plan as _plan
from dynorm import transact_get as _transact_get
from dynorm.blocking._twins import blocking

__all__ = ["apply", "batch_get", "create_tables", "get_many", "plan", "transact_get"]

get_many = blocking(_get_many)
"""Blocking twin of [`dynorm.get_many()`][dynorm.get_many]:
``dynorm.blocking.get_many(User, ["u1", "u2"])``."""

batch_get = blocking(_batch_get)
"""Blocking twin of [`dynorm.batch_get()`][dynorm.batch_get]:
``user, order = dynorm.blocking.batch_get((User, "u1"), (Order, ("u1", "o9")))``."""

transact_get = blocking(_transact_get)
"""Blocking twin of [`dynorm.transact_get()`][dynorm.transact_get]: the items read in one
transaction."""

create_tables = blocking(_create_tables)
"""Blocking twin of [`dynorm.create_tables()`][dynorm.create_tables]."""

plan = blocking(_plan)
"""Blocking twin of [`dynorm.plan()`][dynorm.plan]: what `apply` would change."""

apply = blocking(_apply)
"""Blocking twin of [`dynorm.apply()`][dynorm.apply]: the plan's changes, made."""
