"""Differential test on AWS's own sample data: the Developer Guide's tables and items.

The files are read from the shared external-oracles folder next to the repository (see
its SOURCES.md; never copied into the repo). Each sample table is loaded as written (a
synthetic key ``k`` is added, the items are not changed), then conditions derived from
the data itself (every attribute against each of its values, by every operator that
applies, plus the guide's own example conditions) run on the server as Scan filters and
in ``Condition.matches``: they must keep the same items.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from pathlib import Path as FilePath
from typing import Any

import pytest

from dynorm import Connection
from dynorm._types import AttributeValue
from dynorm.expressions import Condition
from dynorm.expressions.conditions import (
    BeginsWith,
    Between,
    Compare,
    Contains,
    Exists,
    In,
    IsType,
    NotExists,
)
from dynorm.expressions.operands import Size
from tests.integration.test_differential_types import MOTO_DIFFERS, leaves, tag
from tests.support.backend import BACKEND
from tests.support.differential import (
    KEY,
    Outcome,
    create_table,
    load,
    path,
    python_select,
    server_select,
    val,
)

ORACLES = FilePath(__file__).resolve().parents[2].parent / "shared" / "external-oracles"
DEVGUIDE = ORACLES / "devguide"

pytestmark = [
    pytest.mark.skipif(BACKEND not in ("moto", "dynamodb-local"),
                       reason="the expectations are those of moto and DynamoDB Local"),
    pytest.mark.skipif(not DEVGUIDE.is_dir(),
                       reason=f"the Developer Guide sample data is not at {DEVGUIDE} "
                              "(the shared external-oracles folder next to the repository)"),
]

AV = AttributeValue
Item = Mapping[str, AV]
TABLES = ("ProductCatalog", "Forum", "Thread", "Reply")


def document_to_wire(value: Any) -> AV:
    """A JSON document value as the DynamoDB document mapping stores it (lists as L)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, (int, float)):
        return {"N": str(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, list):
        return {"L": [document_to_wire(v) for v in value]}
    return {"M": {k: document_to_wire(v) for k, v in value.items()}}


def sample_items() -> dict[str, list[dict[str, AV]]]:
    """Table name -> its items, each with the synthetic key added."""
    tables: dict[str, list[dict[str, AV]]] = {}
    for name in TABLES:
        batch = json.loads((DEVGUIDE / f"{name}.json").read_text(encoding="utf-8"))
        tables[name] = [r["PutRequest"]["Item"] for r in batch[name]]
    wire = [json.loads((DEVGUIDE / f).read_text(encoding="utf-8")) for f in (
        "Expressions.ConditionExpressions.item-456.json",
        "Expressions.UpdateExpressions.item-789.json")]
    response = json.loads(
        (DEVGUIDE / "Expressions.ProjectionExpressions.response.json").read_text("utf-8"))
    doc = json.loads((DEVGUIDE / "Expressions.Attributes.item-123.json").read_text("utf-8"))
    tables["Examples"] = [*wire, response["Item"], document_to_wire(doc)["M"]]
    return {name: [{KEY: {"S": f"{name}#{i}"}, **it} for i, it in enumerate(items)]
            for name, items in tables.items()}


def guide_conditions() -> Iterator[Condition]:
    """The conditions the guide's expression pages run on these items."""
    price, cat = path("Price"), path("ProductCategory")
    yield Compare(">", price, val({"N": "500"}))
    yield Compare("<=", price, val({"N": "500"}))
    yield NotExists(price)
    yield In(cat, (val({"S": "Sporting Goods"}), val({"S": "Gardening Supplies"}))) & Between(
        price, val({"N": "500"}), val({"N": "600"}))
    yield BeginsWith(path("Pictures", "FrontView"), val({"S": "http://"}))
    yield Contains(path("Color"), val({"S": "Red"}))
    yield Compare(">", Size(path("VideoClip")), val({"N": "64000"}))
    yield Compare("=", path("ProductReviews", "FiveStar", 0), val({"S": "Excellent! Can't "
                  "recommend it highly enough! Buy it!"}))
    yield Exists(path("RelatedItems", 1))
    yield IsType(path("InStock"), "BOOL")
    yield Compare(">", path("Price"), path("Id"))


def derived_conditions(items: list[dict[str, AV]]) -> Iterator[Condition]:
    """Every attribute against each of its values (and its parts), by every operator."""
    values: dict[str, list[AV]] = {}
    for it in items:
        for name, av in it.items():
            if name != KEY and av not in values.setdefault(name, []):
                values[name].append(av)
    for name, avs in sorted(values.items()):
        p = path(name)
        yield Exists(p)
        yield NotExists(p)
        for t in ("S", "N", "L", "M", "BOOL", "NULL", "SS"):
            yield IsType(p, t)
        for n in (0, 1, 2, 3, 10):
            yield Compare(">=", Size(p), val({"N": str(n)}))
        for av in avs:
            yield Compare("=", p, val(av))
            yield Compare("<>", p, val(av))
            yield Contains(p, val(av))
            if tag(av) in ("N", "S"):
                for op in ("<", "<=", ">", ">="):
                    yield Compare(op, p, val(av))
            if tag(av) == "S":
                for cut in (1, 3, len(av["S"]) // 2):
                    yield BeginsWith(p, val({"S": av["S"][:cut]}))
                    yield Contains(p, val({"S": av["S"][cut:cut + 4]}))
            if tag(av) == "L":
                for element in av["L"]:
                    yield Contains(p, val(element))
                    yield Compare("=", path(name, 0), val(element))


def moto_reason(cond: Condition, mixed: set[str]) -> str | None:
    """moto's differences that this data can show: ordering is only an HTTP 500 there
    when the attribute holds values of more than one type in the table."""
    if BACKEND != "moto":
        return None
    for reason, applies in MOTO_DIFFERS:
        if not applies(cond):
            continue
        if reason.startswith("moto: < <= > >="):
            names = {str(e) for leaf in leaves(cond) for e in _path_names(leaf)}
            if not names & mixed:
                continue
        return reason
    return None


def show(outcome: Outcome) -> str:
    return str(sorted(outcome)) if isinstance(outcome, frozenset) else outcome


def _path_names(leaf: Condition) -> Iterator[str | int]:
    for p in leaf.paths():
        yield p.elements[0]


async def test_sample_tables(raw_conn: Connection) -> None:
    start = time.monotonic()
    failures: list[str] = []
    checked = 0
    skipped: dict[str, int] = {}
    for name, rows in sample_items().items():
        await create_table(raw_conn, name)
        items = await load(raw_conn, name, rows)
        types: dict[str, set[str]] = {}
        for it in items.values():
            for attr, av in it.items():
                types.setdefault(attr, set()).add(tag(av))
        mixed = {attr for attr, tags in types.items() if len(tags) > 1}
        for cond in [*guide_conditions(), *derived_conditions(rows)]:
            got = await server_select(raw_conn, name, cond)
            reason = moto_reason(cond, mixed)
            if reason is not None:
                skipped[reason] = skipped.get(reason, 0) + 1
                continue
            want = python_select(items, cond)
            checked += 1
            if got != want:
                failures.append(f"{name}: {cond!r}: server {show(got)}, python {show(want)}")
    print(f"devguide: {checked} conditions in {time.monotonic() - start:.1f}s, "
          f"moto skips {skipped}")
    assert checked > 500
    assert not failures, f"{len(failures)} disagreements:\n" + "\n".join(failures[:40])
