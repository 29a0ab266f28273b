"""``MODULE[:NAME]`` arguments: the model classes to plan, apply or follow."""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from typing import TypeGuard

from dynorm.model import Model

__all__ = ["BadTarget", "load_models"]


class BadTarget(ValueError):
    """A ``MODULE[:NAME]`` argument names no model with a table."""


def _has_table(obj: object) -> TypeGuard[type[Model]]:
    return (inspect.isclass(obj) and issubclass(obj, Model) and obj is not Model
            and obj.__dynorm_table__ is not None)


def load_models(targets: list[str]) -> list[type[Model]]:
    """Import each ``MODULE`` and take its model ``NAME``, or every model with a table
    defined in the module (or in a module inside it, for a package that re-exports).

    The current directory is searched first, as ``python -m`` does.

    Raises:
        BadTarget: a module cannot be imported, a name is missing or is not a model
            with a table, or a module defines no model with a table.
    """
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    found: dict[type[Model], None] = {}
    for target in targets:
        module_name, _, name = target.partition(":")
        if not module_name:
            raise BadTarget(f"{target!r}: expected MODULE or MODULE:NAME (e.g. app.models:User)")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise BadTarget(f"{target!r}: cannot import module {module_name!r}: {exc}") from exc
        if name:
            obj = getattr(module, name, None)
            if obj is None:
                names = [n for n, v in vars(module).items() if _has_table(v)]
                raise BadTarget(
                    f"{target!r}: module {module_name!r} has no attribute {name!r} "
                    f"(models with a table there: {', '.join(names) or 'none'})")
            if not _has_table(obj):
                raise BadTarget(f"{target!r}: {name} is not a dynorm Model with a table")
            found[obj] = None
            continue
        prefix = module.__name__ + "."
        models = [v for v in vars(module).values() if _has_table(v) and (
            v.__module__ == module.__name__ or v.__module__.startswith(prefix))]
        if not models:
            raise BadTarget(f"{target!r}: module {module_name!r} defines no Model with a "
                            "table (class X(Model, table=...))")
        for model in models:
            found[model] = None
    return list(found)
