"""The public namespace: one sorted __all__, every name importable, nothing private."""

from __future__ import annotations

import dynorm


def test_all_is_sorted_and_complete() -> None:
    names = dynorm.__all__
    # ruff's RUF022 order: CONSTANTS, then Classes, then functions, each alphabetical
    def group(name: str) -> tuple[int, str]:
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert list(names) == sorted(names, key=group)
    assert len(set(names)) == len(names)
    for name in names:
        assert hasattr(dynorm, name), name
        assert not name.startswith("_")


def test_every_exception_is_exported() -> None:
    import dynorm.exceptions as exc

    classes = {n for n, v in vars(exc).items() if isinstance(v, type)
               and issubclass(v, dynorm.DynormError)}
    assert classes <= set(dynorm.__all__), classes - set(dynorm.__all__)


def test_import_does_not_load_botocore() -> None:
    import subprocess
    import sys

    code = "import sys, dynorm; print('botocore' in sys.modules, 'moto' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_exception_tree_in_the_docstring_names_every_exception() -> None:
    import inspect

    import dynorm.exceptions as exc

    doc = exc.__doc__ or ""
    for name in dynorm.__all__:
        obj = getattr(dynorm, name)
        if inspect.isclass(obj) and issubclass(obj, dynorm.DynormError):
            assert f"── {name} " in doc or f"    {name}\n" in doc, name


def test_type_only_names_live_in_dynorm_types() -> None:
    """What dynorm only hands you is in dynorm.types, once: not at the top level too."""
    import dynorm.types as types

    names = types.__all__
    assert list(names) == sorted(names) and len(set(names)) == len(names)
    assert {"Query", "Scan", "Page", "BoundIndex", "Transaction", "BatchWriter",
            "CancellationReason", "FailedWrite", "CollectionResult", "CollectionQuery",
            "Transport", "ConnectionSettings", "ShardedQuery", "Capacity", "CapacityTotals",
            "CapacityUnits", "CallEvent"} == set(names)
    for name in names:
        assert getattr(types, name).__name__ == name
        assert name not in dynorm.__all__ and not hasattr(dynorm, name), name
    # what users construct or declare stays at the top level
    for name in ("Model", "KeyTemplate", "RetryPolicy", "MockTransport", "Collection"):
        assert name in dynorm.__all__
