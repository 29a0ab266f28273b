"""Issue 15's stateful oracle: "never lose, invent or alter a stored value".

A hypothesis state machine applies random sequences of dynorm operations to a real
DynamoDB-compatible server (the ``dynorm_server`` fixture: moto, or DynamoDB Local with
``DYNORM_TEST_BACKEND=dynamodb-local``) and the same operations to a plain in-memory
reference (``tests/support/reference.py``), then compares after every step.

Operations: save (with and without ``store_none``; new copies and loaded ones), update
(set, remove, add to a number and to a set, delete from a set, append/prepend, list
element set/remove, map key set/remove, nested fields, ``if_not_exists``, ``attr + n`` and
``n - attr``, copy of another attribute; with and without a condition) on a loaded instance
and with ``update_item(key, ...)`` (``upsert``, every ``return_values``), delete, move,
get/find_one, projections (top level, nested model field, map key), index reads
(LSI ``ALL``, GSI ``KEYS_ONLY`` and ``INCLUDE``, with and without ``.full()``), queries and
scans with random filters, limits, ``reverse()``, ``.pages()`` and ``.page(size, cursor)``,
batch writes, transactions (save/delete/update/check), get_many/batch_get/transact_get;
on a plain model and on two entities sharing one table with key templates, escaping
characters in keys and an overloaded ``KeyTemplate`` index. One entity (``Invoice``) also
has a schema version (with no upgrade from version 1, so an item that any write path
stored without its version fails the next read) and an encrypted field (written by every
write path, read back decrypted by every read path, never in a condition or an update).

Invariants (after every step, and at every read): each item the reference holds reads back
equal, values and types, through ``find_one(consistent=True)``; absent items are absent;
an entity never sees the other's item; versions go up by one per write and stale writes
raise ``VersionConflict`` and change nothing; partial copies expose only what they read
and ``save()``/``move()`` of them raise ``PartialCopy``; query/scan results equal the
reference filtered with the same condition (evaluated in Python on the stored attributes:
a missing attribute fails a comparison, as in DynamoDB), in sort-key order, never more
than ``.limit()``.

Budget: ``DYNORM_STATEFUL_EXAMPLES`` (default 20) runs of ``DYNORM_STATEFUL_STEPS``
(default 30) steps, derandomized, about a minute per backend. For a longer hunt::

    DYNORM_STATEFUL_EXAMPLES=500 DYNORM_STATEFUL_RANDOM=1 pytest tests/integration/test_stateful.py

(``DYNORM_STATEFUL_RANDOM=1`` drops ``derandomize`` so every run explores new sequences.)

A case that trips a known dynorm bug is switched off by its entry in ``KNOWN_BUGS``
(name -> minimal reproduction); remove the entry once the bug is fixed.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import sys
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from pydantic import BaseModel

import dynorm
from dynorm import (
    ConditionFailed,
    Connection,
    ExpressionError,
    GlobalIndex,
    ItemNotFound,
    KeyTemplate,
    LocalIndex,
    LocalServer,
    Model,
    PartialCopy,
    PartitionKey,
    Projection,
    SortKey,
    Version,
    VersionConflict,
    attr,
)
from dynorm.expressions import Condition, Path, list_append
from dynorm.security import Encrypted, LocalKeyring
from dynorm.write.transaction import TransactionCanceled
from tests.support.backend import BACKEND
from tests.support.reference import Reference, Stored, diff, present_attrs, same

#: Known dynorm bugs that would stop the machine: name -> minimal reproduction. The
#: operation or case named is skipped while the entry is here.
KNOWN_BUGS: dict[str, str] = {}

EXAMPLES = int(os.environ.get("DYNORM_STATEFUL_EXAMPLES", "20"))
STEPS = int(os.environ.get("DYNORM_STATEFUL_STEPS", "30"))
SHRINK = os.environ.get("DYNORM_STATEFUL_SHRINK", "1") not in ("", "0")
RANDOM = os.environ.get("DYNORM_STATEFUL_RANDOM", "") not in ("", "0")

T = TypeVar("T")
#: what the runs did (outcome counts), printed with ``DYNORM_STATEFUL_STATS=1``
STATS: Counter[str] = Counter()
Data = st.DataObject


# ------------------------------------------------------------------------ models


class Inner(BaseModel):
    a: int = 0
    b: str = ""


class Thing(Model, table="stateful_things"):
    pk: Annotated[str, PartitionKey]
    sk: Annotated[int, SortKey]
    status: str = "new"
    score: int = 0
    note: str | None = None
    tags: set[str] = set()
    log: list[str] = []
    prefs: dict[str, int] = {}
    inner: Inner = Inner()
    opt_inner: Inner | None = None
    version: Annotated[int, Version] = 0

    by_status = GlobalIndex("status", "sk", projection=Projection.keys_only())
    by_status_score = GlobalIndex("status", "score", projection=Projection.include("note", "tags"),
                                  name="by_status_score")
    by_score = LocalIndex("score")


class Order(Model, table="stateful_shop", entity="order"):
    account: str
    doc_id: str
    status: str = "open"
    total: int = 0
    lines: list[str] = []
    memo: str | None = None
    version: Annotated[int, Version] = 0

    pk = PartitionKey("ACCT#{account}")
    sk = SortKey("DOC#{doc_id}")
    by_status = GlobalIndex(KeyTemplate("STATUS#{status}", attribute="gsi1pk"),
                            KeyTemplate("DOC#{doc_id}", attribute="gsi1sk"), name="gsi1")


#: The master key of Invoice's encrypted field (the tests' own, not a secret).
KEYS = LocalKeyring({"k1": bytes(range(32))})


class Invoice(Model, table="stateful_shop", entity="invoice", schema_version=2):
    """Unversioned, with a schema version (no upgrade from 1 is declared: an item that a
    write path stored without its version cannot be read) and an encrypted field."""

    account: str
    doc_id: str
    status: str = "due"
    amount: int = 0
    tags: set[str] = set()
    secret: Annotated[str, Encrypted(KEYS)] = ""

    pk = PartitionKey("ACCT#{account}")
    sk = SortKey("DOC#{doc_id}")
    by_status = GlobalIndex(KeyTemplate("STATUS#{status}", attribute="gsi1pk"),
                            KeyTemplate("DOC#{doc_id}", attribute="gsi1sk"), name="gsi1")


PKS = ["p0", "p1"]
SKS = [0, 1, 2]
ACCOUNTS = ["a1", "a#2"]
DOCS = ["d1", "d#2", "d%3"]
STATUSES = ["new", "open", "o#x"]
WORDS = ["x", "y", "z"]
PREF_KEYS = ["k1", "k2"]
ENTITIES: tuple[type[Model], ...] = (Order, Invoice)

Key = tuple[Any, ...]


def thing_key(pk: str, sk: int) -> Key:
    return ("thing", pk, sk)


def shop_key(account: str, doc_id: str) -> Key:
    return ("shop", account, doc_id)


def key_of(m: Model) -> Key:
    if isinstance(m, Thing):
        return thing_key(m.__dict__["pk"], m.__dict__["sk"])
    return shop_key(m.__dict__["account"], m.__dict__["doc_id"])


def dynorm_key(model: type[Model], key: Key) -> Any:
    """The key as dynorm's by-key calls take it."""
    if model is Thing:
        return (key[1], key[2])
    return {"account": key[1], "doc_id": key[2]}


def all_keys() -> Iterator[Key]:
    for p in PKS:
        for s in SKS:
            yield thing_key(p, s)
    for a in ACCOUNTS:
        for d in DOCS:
            yield shop_key(a, d)


def key_attrs(key: Key) -> dict[str, Any]:
    if key[0] == "thing":
        return {"pk": key[1], "sk": key[2]}
    return {"account": key[1], "doc_id": key[2]}


def shop_sk(doc_id: str) -> str:
    """The stored sort key text (escaped), the order of entity queries."""
    return str(Invoice(account="a", doc_id=doc_id).to_item()["sk"]["S"])


# ------------------------------------------------------------------------ update actions


Attrs = dict[str, Any]


@dataclass
class Act:
    """An update action and its effect on the reference's present attributes."""

    field: str
    label: str
    action: Any
    effect: Callable[[Attrs], None]


def _set(name: str, value: Any) -> Callable[[Attrs], None]:
    def effect(a: Attrs) -> None:
        a[name] = value
    return effect


def _drop(name: str) -> Callable[[Attrs], None]:
    def effect(a: Attrs) -> None:
        a.pop(name, None)
    return effect


def _set_of(name: str, new: Callable[[Any], Any]) -> Callable[[Attrs], None]:
    def effect(a: Attrs) -> None:
        value = new(a.get(name))
        if value is None or (isinstance(value, set) and not value):
            a.pop(name, None)  # DynamoDB removes a set emptied by DELETE
        else:
            a[name] = value
    return effect


Maker = Callable[[Data], Act]


def thing_makers(a: Attrs) -> list[Maker]:
    """The update actions that are valid on an item holding ``a`` (an empty dict: absent)."""
    T_ = Thing
    out: list[Maker] = []

    def status(d: Data) -> Act:
        s = d.draw(st.sampled_from(STATUSES))
        return Act("status", f"status={s!r}", attr(T_.status).set(s), _set("status", s))

    def remove(d: Data) -> Act:
        f = d.draw(st.sampled_from(["status", "score", "note", "tags", "log", "prefs",
                                    "opt_inner"]))
        return Act(f, f"remove {f}", getattr(T_, f).remove(), _drop(f))

    def add(d: Data) -> Act:
        n = d.draw(st.integers(-3, 3))
        return Act("score", f"score add {n}", attr(T_.score).add(n),
                   _set_of("score", lambda v: (v or 0) + n))

    def ine(d: Data) -> Act:
        n, dflt = d.draw(st.integers(-2, 2)), d.draw(st.integers(0, 5))
        return Act("score", f"score = ine(score, {dflt}) + {n}",
                   attr(T_.score).set(attr(T_.score).if_not_exists(dflt) + n),
                   _set_of("score", lambda v: (dflt if v is None else v) + n))

    def arith(d: Data) -> Act:
        n = d.draw(st.integers(-2, 2))
        if d.draw(st.booleans()):
            return Act("score", f"score = score + {n}", attr(T_.score).set(attr(T_.score) + n),
                       _set_of("score", lambda v: v + n))
        return Act("score", f"score = {n} - score", attr(T_.score).set(n - attr(T_.score)),
                   _set_of("score", lambda v: n - v))

    def tags_add(d: Data) -> Act:
        s = d.draw(st.sets(st.sampled_from(WORDS), min_size=1))
        return Act("tags", f"tags add {sorted(s)}", attr(T_.tags).add(s),
                   _set_of("tags", lambda v: (v or set()) | s))

    def tags_delete(d: Data) -> Act:
        s = d.draw(st.sets(st.sampled_from(WORDS), min_size=1))
        return Act("tags", f"tags delete {sorted(s)}", attr(T_.tags).delete(s),
                   _set_of("tags", lambda v: None if v is None else v - s))

    def log_ine(d: Data) -> Act:
        xs = d.draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=2))
        return Act("log", f"log = list_append(ine(log, []), {xs})",
                   attr(T_.log).set(list_append(attr(T_.log).if_not_exists([]), xs)),
                   _set_of("log", lambda v: (v or []) + xs))

    def log_end(d: Data) -> Act:
        xs = d.draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=2))
        if d.draw(st.booleans()):
            return Act("log", f"log append {xs}", attr(T_.log).append(xs),
                       _set_of("log", lambda v: v + xs))
        return Act("log", f"log prepend {xs}", attr(T_.log).prepend(xs),
                   _set_of("log", lambda v: xs + v))

    def log_first(d: Data) -> Act:
        if d.draw(st.booleans()):
            return Act("log", "remove log[0]", attr(T_.log)[0].remove(),
                       _set_of("log", lambda v: v[1:]))
        w = d.draw(st.sampled_from(WORDS))
        return Act("log", f"log[0] = {w!r}", attr(T_.log)[0].set(w),
                   _set_of("log", lambda v: [w, *v[1:]]))

    def prefs(d: Data) -> Act:
        k = d.draw(st.sampled_from(PREF_KEYS))
        if d.draw(st.booleans()):
            return Act("prefs", f"remove prefs[{k!r}]", attr(T_.prefs)[k].remove(),
                       _set_of("prefs", lambda v: {x: y for x, y in v.items() if x != k}))
        n = d.draw(st.integers(-5, 5))
        return Act("prefs", f"prefs[{k!r}] = {n}", attr(T_.prefs)[k].set(n),
                   _set_of("prefs", lambda v: {**v, k: n}))

    def inner(d: Data) -> Act:
        if d.draw(st.booleans()):
            n = d.draw(st.integers(-3, 3))
            return Act("inner", f"inner.a add {n}", attr(T_.inner).a.add(n),
                       _set_of("inner", lambda v: {**v, "a": v.get("a", 0) + n}))
        w = d.draw(st.sampled_from(WORDS))
        return Act("inner", f"inner.b = {w!r}", attr(T_.inner).b.set(w),
                   _set_of("inner", lambda v: {**v, "b": w}))

    def whole_inner(d: Data) -> Act:
        value = Inner(a=d.draw(st.integers(-3, 3)), b=d.draw(st.sampled_from(WORDS)))
        if d.draw(st.booleans()):
            return Act("opt_inner", f"opt_inner = {value!r}", attr(T_.opt_inner).set(value),
                       _set("opt_inner", value.model_dump()))
        return Act("inner", f"inner = {value!r}", attr(T_.inner).set(value),
                   _set("inner", value.model_dump()))

    def note(d: Data) -> Act:
        v = d.draw(st.sampled_from([None, *WORDS]))
        return Act("note", f"note = {v!r}", attr(T_.note).set(v), _set("note", v))

    def note_copy(d: Data) -> Act:
        return Act("note", "note = status", attr(T_.note).set(attr(T_.status)),
                   _set_of("note", lambda v: a["status"]))

    out += [status, remove, add, ine, tags_add, tags_delete, log_ine, whole_inner, note]
    if "score" in a:
        out.append(arith)
    if "log" in a:
        out.append(log_end)
        if a["log"]:
            out.append(log_first)
    if "prefs" in a:
        out.append(prefs)
    if "inner" in a:
        out.append(inner)
    if "status" in a:
        out.append(note_copy)
    return out


def order_makers(a: Attrs) -> list[Maker]:
    O_ = Order
    out: list[Maker] = []

    def status(d: Data) -> Act:
        s = d.draw(st.sampled_from(STATUSES))
        return Act("status", f"status={s!r}", attr(O_.status).set(s), _set("status", s))

    def total(d: Data) -> Act:
        n = d.draw(st.integers(-3, 3))
        if d.draw(st.booleans()):
            return Act("total", f"total add {n}", attr(O_.total).add(n),
                       _set_of("total", lambda v: (v or 0) + n))
        return Act("total", f"total = ine(total, 1) + {n}",
                   attr(O_.total).set(attr(O_.total).if_not_exists(1) + n),
                   _set_of("total", lambda v: (1 if v is None else v) + n))

    def total_arith(d: Data) -> Act:
        n = d.draw(st.integers(-3, 3))
        return Act("total", f"total = total + {n}", attr(O_.total).set(attr(O_.total) + n),
                   _set_of("total", lambda v: v + n))

    def lines(d: Data) -> Act:
        xs = d.draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=2))
        return Act("lines", f"lines = list_append(ine(lines, []), {xs})",
                   attr(O_.lines).set(list_append(attr(O_.lines).if_not_exists([]), xs)),
                   _set_of("lines", lambda v: (v or []) + xs))

    def lines_end(d: Data) -> Act:
        xs = d.draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=2))
        return Act("lines", f"lines prepend {xs}", attr(O_.lines).prepend(xs),
                   _set_of("lines", lambda v: xs + v))

    def memo(d: Data) -> Act:
        v = d.draw(st.sampled_from([None, *WORDS]))
        if d.draw(st.booleans()):
            return Act("memo", "remove memo", attr(O_.memo).remove(), _drop("memo"))
        return Act("memo", f"memo = {v!r}", attr(O_.memo).set(v), _set("memo", v))

    out += [status, total, lines, memo]
    if "total" in a:
        out.append(total_arith)
    if "lines" in a:
        out.append(lines_end)
    return out


def invoice_makers(a: Attrs) -> list[Maker]:
    I_ = Invoice

    def status(d: Data) -> Act:
        s = d.draw(st.sampled_from(STATUSES))
        return Act("status", f"status={s!r}", attr(I_.status).set(s), _set("status", s))

    def amount(d: Data) -> Act:
        n = d.draw(st.integers(-3, 3))
        return Act("amount", f"amount add {n}", attr(I_.amount).add(n),
                   _set_of("amount", lambda v: (v or 0) + n))

    def tags(d: Data) -> Act:
        s = d.draw(st.sets(st.sampled_from(WORDS), min_size=1))
        kind = d.draw(st.sampled_from(["add", "delete", "remove"]))
        if kind == "add":
            return Act("tags", f"tags add {sorted(s)}", attr(I_.tags).add(s),
                       _set_of("tags", lambda v: (v or set()) | s))
        if kind == "delete":
            return Act("tags", f"tags delete {sorted(s)}", attr(I_.tags).delete(s),
                       _set_of("tags", lambda v: None if v is None else v - s))
        return Act("tags", "remove tags", attr(I_.tags).remove(), _drop("tags"))

    return [status, amount, tags]


MAKERS: dict[type[Model], Callable[[Attrs], list[Maker]]] = {
    Thing: thing_makers, Order: order_makers, Invoice: invoice_makers,
}


def draw_acts(d: Data, model: type[Model], a: Attrs) -> list[Act]:
    """1 to 3 actions on distinct fields, valid on an item holding ``a``."""
    makers = MAKERS[model](a)
    acts: list[Act] = []
    for _ in range(d.draw(st.integers(1, 3))):
        act = d.draw(st.sampled_from(makers))(d)
        if all(act.field != other.field for other in acts):
            acts.append(act)
    return acts


def apply_acts(acts: list[Act], a: Attrs) -> None:
    for act in acts:
        act.effect(a)


# ------------------------------------------------------------------------ conditions

Pred = Callable[[Attrs], bool]


@dataclass
class Cond:
    """A dynorm condition and the same test in Python on the present attributes."""

    label: str
    condition: Condition
    test: Pred
    fields: frozenset[str]


def _leaf_conditions(model: type[Model]) -> list[Callable[[Data], Cond]]:
    out: list[Callable[[Data], Cond]] = []

    def cmp(field: str) -> Callable[[Data], Cond]:
        def make(d: Data) -> Cond:
            k = d.draw(st.integers(-2, 4))
            path = attr(getattr(model, field))
            if d.draw(st.booleans()):
                return Cond(f"{field} >= {k}", path >= k,
                            lambda a: field in a and a[field] >= k, frozenset({field}))
            return Cond(f"{field} < {k}", path < k,
                        lambda a: field in a and a[field] < k, frozenset({field}))
        return make

    def status(d: Data) -> Cond:
        path = attr(model.status)
        kind = d.draw(st.sampled_from(["eq", "begins", "in"]))
        if kind == "eq":
            s = d.draw(st.sampled_from(STATUSES))
            return Cond(f"status == {s!r}", path == s, lambda a: a.get("status") == s,
                        frozenset({"status"}))
        if kind == "begins":
            return Cond("status begins_with 'o'", path.begins_with("o"),
                        lambda a: "status" in a and a["status"].startswith("o"),
                        frozenset({"status"}))
        ss = d.draw(st.lists(st.sampled_from(STATUSES), min_size=1, max_size=2, unique=True))
        return Cond(f"status in {ss}", path.is_in(*ss), lambda a: a.get("status") in ss,
                    frozenset({"status"}))

    def tags(d: Data) -> Cond:
        w = d.draw(st.sampled_from(WORDS))
        return Cond(f"tags contains {w!r}", attr(model.tags).contains(w),
                    lambda a: w in a.get("tags", set()), frozenset({"tags"}))

    def exists(field: str) -> Callable[[Data], Cond]:
        def make(d: Data) -> Cond:
            path = attr(getattr(model, field))
            if d.draw(st.booleans()):
                return Cond(f"exists({field})", path.exists(), lambda a: field in a,
                            frozenset({field}))
            return Cond(f"not_exists({field})", path.not_exists(), lambda a: field not in a,
                        frozenset({field}))
        return make

    def size(field: str) -> Callable[[Data], Cond]:
        def make(d: Data) -> Cond:
            n = d.draw(st.integers(0, 2))
            return Cond(f"size({field}) > {n}", attr(getattr(model, field)).size() > n,
                        lambda a: field in a and len(a[field]) > n, frozenset({field}))
        return make

    def inner_a(d: Data) -> Cond:
        k = d.draw(st.integers(-2, 2))
        return Cond(f"inner.a > {k}", attr(Thing.inner).a > k,
                    lambda a: "a" in a.get("inner", {}) and a["inner"]["a"] > k,
                    frozenset({"inner"}))

    def pref(d: Data) -> Cond:
        key = d.draw(st.sampled_from(PREF_KEYS))
        k = d.draw(st.integers(-2, 2))
        return Cond(f"prefs[{key!r}] == {k}", attr(Thing.prefs)[key] == k,
                    lambda a: a.get("prefs", {}).get(key, None) == k, frozenset({"prefs"}))

    # moto answers 500 to size() of a missing attribute (DynamoDB: the test is false)
    sizes = BACKEND != "moto"
    out.append(status)
    if model is Thing:
        out += [cmp("score"), tags, exists("note"), inner_a, pref]
        out += [size("log")] if sizes else []
    elif model is Order:
        out += [cmp("total"), exists("memo")]
        out += [size("lines")] if sizes else []
    else:
        out += [cmp("amount"), tags]
    return out


def draw_cond(d: Data, model: type[Model], exclude: frozenset[str] = frozenset(),
              depth: int = 0) -> Cond:
    leaves = _leaf_conditions(model)
    for _ in range(50):
        kind = d.draw(st.sampled_from(["leaf", "leaf", "and", "or", "not"] if depth < 2
                                      else ["leaf"]))
        if kind == "leaf":
            c = d.draw(st.sampled_from(leaves))(d)
        elif kind == "not":
            inner = draw_cond(d, model, exclude, depth + 1)
            c = Cond(f"NOT ({inner.label})", ~inner.condition,
                     lambda a, t=inner.test: not t(a), inner.fields)
        else:
            x = draw_cond(d, model, exclude, depth + 1)
            y = draw_cond(d, model, exclude, depth + 1)
            if kind == "and":
                c = Cond(f"({x.label}) AND ({y.label})", x.condition & y.condition,
                         lambda a, p=x.test, q=y.test: p(a) and q(a), x.fields | y.fields)
            else:
                c = Cond(f"({x.label}) OR ({y.label})", x.condition | y.condition,
                         lambda a, p=x.test, q=y.test: p(a) or q(a), x.fields | y.fields)
        if not c.fields & exclude:
            return c
    raise AssertionError("no condition outside the excluded fields")


# ------------------------------------------------------------------------ the machine


def expect(got: Model | None, want: Stored | None, what: str) -> None:
    if want is None:
        assert got is None, f"{what}: expected no item, got {got!r}"
        return
    assert got is not None, f"{what}: expected {want.expected()!r}, got nothing"
    exp = want.expected()
    assert type(got) is type(exp), f"{what}: got a {type(got).__name__}, want {exp!r}"
    assert same(got, exp), f"{what}: {diff(got, exp)}"


def fields_read(copy: Model) -> set[str]:
    return {f for f in type(copy).model_fields if f in copy.__dict__}


class StoreMachine(RuleBasedStateMachine):
    server: LocalServer | None = None

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.context = contextvars.Context()
        self.conn: Connection | None = None
        self.ref = Reference()
        self.copies: list[Model] = []  # complete copies loaded earlier (possibly stale)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        name = getattr(coro, "__qualname__", "?")
        STATS[name] += 1
        # One context for every step: the connection entered in open() stays current
        # (it lives in a ContextVar, and each task would otherwise get a copy).
        task = self.loop.create_task(coro, context=self.context)  # type: ignore[call-arg]
        try:
            return self.loop.run_until_complete(task)
        except Exception as exc:
            STATS[f"{name} -> {type(exc).__name__}"] += 1
            raise

    @initialize()
    def open(self) -> None:
        assert self.server is not None
        self.server.reset()
        self.conn = self.server.connect(transport="fast", max_attempts=3)
        self.run(self.conn.__aenter__())
        self.run(dynorm.create_tables(Thing, Order, Invoice))

    def teardown(self) -> None:
        try:
            if self.conn is not None:
                self.run(self.conn.__aexit__(None, None, None))
        finally:
            self.loop.close()

    # -------------------------------------------------------------- helpers

    def stored(self, key: Key) -> Stored | None:
        return self.ref.get(key)

    def own(self, model: type[Model], key: Key) -> Stored | None:
        s = self.ref.get(key)
        return s if s is not None and s.model is model else None

    def draw_key(self, d: Data, model: type[Model]) -> Key:
        if model is Thing:
            return thing_key(d.draw(st.sampled_from(PKS)), d.draw(st.sampled_from(SKS)))
        return shop_key(d.draw(st.sampled_from(ACCOUNTS)), d.draw(st.sampled_from(DOCS)))

    def fresh(self, d: Data, model: type[Model], key: Key) -> Model:
        """A new (never saved) instance with random values."""
        values: dict[str, Any] = key_attrs(key)
        if model is Thing:
            values |= {
                "status": d.draw(st.sampled_from(STATUSES)),
                "score": d.draw(st.integers(-3, 5)),
                "note": d.draw(st.sampled_from([None, *WORDS])),
                "tags": d.draw(st.sets(st.sampled_from(WORDS))),
                "log": d.draw(st.lists(st.sampled_from(WORDS), max_size=3)),
                "prefs": d.draw(st.dictionaries(st.sampled_from(PREF_KEYS), st.integers(-3, 3))),
                "inner": Inner(a=d.draw(st.integers(-3, 3)), b=d.draw(st.sampled_from(WORDS))),
                "opt_inner": d.draw(st.sampled_from([None, Inner(a=1, b="q")])),
            }
        elif model is Order:
            values |= {
                "status": d.draw(st.sampled_from(STATUSES)),
                "total": d.draw(st.integers(-3, 5)),
                "lines": d.draw(st.lists(st.sampled_from(WORDS), max_size=3)),
                "memo": d.draw(st.sampled_from([None, *WORDS])),
            }
        else:
            values |= {
                "status": d.draw(st.sampled_from(STATUSES)),
                "amount": d.draw(st.integers(-3, 5)),
                "tags": d.draw(st.sets(st.sampled_from(WORDS))),
                "secret": d.draw(st.sampled_from(["", *WORDS])),
            }
        return model.model_validate(values)

    def mutate(self, d: Data, copy: Model) -> None:
        """Change a field or two of a loaded copy (as an application would)."""
        other = self.fresh(d, type(copy), key_of(copy))
        for f in d.draw(st.sets(st.sampled_from(sorted(type(copy).model_fields)), max_size=2)):
            if f in ("pk", "sk", "account", "doc_id", "version"):
                continue
            setattr(copy, f, getattr(other, f))

    def draw_instance(self, d: Data, model: type[Model] | None = None) -> Model:
        """A held copy (maybe stale) or a new instance."""
        pool = [c for c in self.copies if model is None or type(c) is model]
        if len(pool) > 0 and d.draw(st.booleans()):
            c = d.draw(st.sampled_from(pool))
            if d.draw(st.booleans()):
                self.mutate(d, c)
            return c
        m = model or d.draw(st.sampled_from([Thing, Order, Invoice]))
        return self.fresh(d, m, self.draw_key(d, m))

    def keep(self, m: Model) -> None:
        self.copies.append(m)
        if len(self.copies) > 8:
            self.copies.pop(0)

    def version_ok(self, m: Model) -> bool:
        """Would the version guard of a write through ``m`` pass?"""
        if type(m)._meta().version is None:
            return True
        current = m.__dict__.get("version") or 0
        s = self.stored(key_of(m))
        if current == 0:
            return s is None or "version" not in s.attrs
        return s is not None and s.version == current

    def written_attrs(self, m: Model, store_none: bool = False) -> Attrs:
        a = present_attrs(m, store_none=store_none)
        if type(m)._meta().version is not None:
            a["version"] = (m.__dict__.get("version") or 0) + 1
        return a

    def bump(self, a: Attrs, model: type[Model]) -> None:
        if model._meta().version is not None:
            a["version"] = int(a.get("version", 0)) + 1

    # -------------------------------------------------------------- invariants

    @invariant()
    def everything_reads_back(self) -> None:
        if self.conn is None:
            return

        async def check() -> None:
            for p in PKS:
                for s in SKS:
                    got = await Thing.find_one(p, s, consistent=True)
                    expect(got, self.stored(thing_key(p, s)), f"Thing({p!r}, {s})")
            for acct in ACCOUNTS:
                for doc in DOCS:
                    key = shop_key(acct, doc)
                    for model in ENTITIES:
                        item = await model.find_one(account=acct, doc_id=doc, consistent=True)
                        expect(item, self.own(model, key), f"{model.__name__}({acct!r}, {doc!r})")

        self.run(check())

    # -------------------------------------------------------------- writes

    @rule(d=st.data())
    def save(self, d: Data) -> None:
        for _ in range(d.draw(st.integers(1, 3))):
            self.save_one(d)

    def save_one(self, d: Data) -> None:
        m = self.draw_instance(d)
        store_none = d.draw(st.booleans())
        key = key_of(m)
        before = m.__dict__.get("version")
        if self.version_ok(m):
            written = self.written_attrs(m, store_none)
            self.run(m.save(store_none=store_none))
            self.ref.put(key, type(m), written)
            if type(m)._meta().version is not None:
                assert m.__dict__["version"] == (before or 0) + 1
            self.keep(m)
        else:
            with pytest.raises(VersionConflict):
                self.run(m.save(store_none=store_none))
            assert m.__dict__.get("version") == before

    @rule(d=st.data())
    def load(self, d: Data) -> None:
        model = d.draw(st.sampled_from([Thing, Order, Invoice]))
        key = self.draw_key(d, model)
        want = self.own(model, key)
        if d.draw(st.booleans()):
            got = self.run(model.find_one(*self._pos(model, key), consistent=True,
                                          **self._named(model, key)))
        else:
            try:
                got = self.run(model.get(*self._pos(model, key), consistent=True,
                                         **self._named(model, key)))
            except ItemNotFound:
                got = None
        expect(got, want, f"get {model.__name__}{key}")
        if got is not None:
            self.keep(got)

    @staticmethod
    def _pos(model: type[Model], key: Key) -> tuple[Any, ...]:
        return (key[1], key[2]) if model is Thing else ()

    @staticmethod
    def _named(model: type[Model], key: Key) -> dict[str, Any]:
        return {} if model is Thing else {"account": key[1], "doc_id": key[2]}

    def _predict_update(self, m: Model, cond: Cond | None) -> type[Exception] | None:
        """The error an update through copy ``m`` must raise, or None."""
        s = self.stored(key_of(m))
        if s is None or s.model is not type(m):
            return ItemNotFound
        if not self.version_ok(m):
            return VersionConflict
        if cond is not None and not cond.test(s.attrs):
            return ConditionFailed
        return None

    @rule(d=st.data())
    def update(self, d: Data) -> None:
        pool = self.copies
        if not pool:
            return
        m = d.draw(st.sampled_from(pool))
        model, key = type(m), key_of(m)
        s = self.stored(key)
        base = s.attrs if s is not None and s.model is model else {}
        acts = draw_acts(d, model, base)
        cond = draw_cond(d, model) if d.draw(st.booleans()) else None
        error = self._predict_update(m, cond)
        before = m.__dict__.get("version")
        call = m.update(*[a.action for a in acts],
                        condition=None if cond is None else cond.condition)
        labels = [a.label for a in acts]
        if error is None:
            self.run(call)
            assert s is not None
            new = dict(s.attrs)
            apply_acts(acts, new)
            self.bump(new, model)
            self.ref.put(key, model, new)
            expect(m, self.stored(key), f"{model.__name__}.update({labels}) refreshed copy")
        else:
            with pytest.raises(error) as info:
                self.run(call)
            if error is ConditionFailed:
                assert not isinstance(info.value, VersionConflict), info.value
            assert m.__dict__.get("version") == before

    @rule(d=st.data())
    def update_item(self, d: Data) -> None:
        model = d.draw(st.sampled_from([Thing, Order, Invoice]))
        key = self.draw_key(d, model)
        s = self.stored(key)
        upsert = d.draw(st.booleans())
        base = s.attrs if s is not None and s.model is model else {}
        acts = draw_acts(d, model, base)
        cond = draw_cond(d, model) if d.draw(st.booleans()) else None
        rv = d.draw(st.sampled_from(["ALL_NEW", "ALL_OLD", "NONE"]))
        call = model.update_item(dynorm_key(model, key), *[a.action for a in acts],
                                 condition=None if cond is None else cond.condition,
                                 upsert=upsert, return_values=rv)  # type: ignore[arg-type]
        labels = [a.label for a in acts]
        what = f"{model.__name__}.update_item({key}, {labels}, upsert={upsert})"
        if s is not None and s.model is not model:
            # another entity's item: never written into
            with pytest.raises(ItemNotFound if not upsert else ConditionFailed):
                self.run(call)
            return
        if s is None and not upsert:
            with pytest.raises(ItemNotFound):
                self.run(call)
            return
        current = base if s is not None else {}
        if cond is not None and not cond.test(current):
            with pytest.raises(ConditionFailed):
                self.run(call)
            return
        got = self.run(call)
        new = dict(current) if s is not None else key_attrs(key)
        apply_acts(acts, new)
        self.bump(new, model)
        self.ref.put(key, model, new)
        if rv == "ALL_NEW":
            expect(got, self.stored(key), what)
        elif rv == "ALL_OLD":
            expect(got, s, what)
        else:
            assert got is None

    @rule(d=st.data())
    def delete(self, d: Data) -> None:
        pool = self.copies
        fresh = not pool or d.draw(st.integers(0, 3)) == 0
        m = self.draw_instance(d) if fresh else d.draw(st.sampled_from(pool))
        key = key_of(m)
        if self.version_ok(m) or (m.__dict__.get("version") or 0) == 0:
            self.run(m.delete())
            self.ref.delete(key)
        else:
            with pytest.raises(VersionConflict):
                self.run(m.delete())

    @rule(d=st.data())
    def move(self, d: Data) -> None:
        pool = [c for c in self.copies if type(c) in (Thing, Order)]
        if not pool:
            return
        m = d.draw(st.sampled_from(pool))
        model, key = type(m), key_of(m)
        if model is Thing:
            new_key = thing_key(key[1], d.draw(st.sampled_from([s for s in SKS if s != key[2]])))
            call = m.move(sk=new_key[2])
        else:
            new_key = shop_key(key[1], d.draw(st.sampled_from([x for x in DOCS if x != key[2]])))
            call = m.move(doc_id=new_key[2])
        s = self.stored(key)
        ok = (s is not None and s.model is model and self.version_ok(m)
              and self.stored(new_key) is None)
        if ok:
            moved = self.run(call)
            a = present_attrs(m) | key_attrs(new_key)
            a["version"] = 1
            self.ref.delete(key)
            self.ref.put(new_key, model, a)
            expect(moved, self.stored(new_key), f"moved {key} -> {new_key}")
            self.copies.remove(m)
            self.keep(moved)
        else:
            with pytest.raises(TransactionCanceled):
                self.run(call)

    @rule(d=st.data())
    def batch_write(self, d: Data) -> None:
        ops: list[tuple[str, Model | None, type[Model], Key]] = []
        for _ in range(d.draw(st.integers(1, 4))):
            if d.draw(st.booleans()):
                m = self.draw_instance(d).model_copy(deep=True)
                ops.append(("save", m, type(m), key_of(m)))
            else:
                model = d.draw(st.sampled_from([Thing, Order, Invoice]))
                ops.append(("delete", None, model, self.draw_key(d, model)))
        store_none = d.draw(st.booleans())

        async def go() -> None:
            async with dynorm.batch() as b:
                for op, m, model, key in ops:
                    if op == "save":
                        assert m is not None
                        b.save(m, store_none=store_none, unversioned=True)
                    else:
                        b.delete(model, dynorm_key(model, key), unversioned=True)

        final: dict[Key, tuple[str, Model | None, type[Model]]] = {}
        for op, m, model, key in ops:
            final[key] = (op, m, model)  # last write wins
        expected = {key: None if w is None else self.written_attrs(w, store_none)
                    for key, (_, w, _) in final.items()}
        self.run(go())
        for key, (op, m, model) in final.items():
            if op == "delete":
                self.ref.delete(key)
            else:
                a = expected[key]
                assert a is not None and m is not None
                self.ref.put(key, model, a)
                self.keep(m)

    @rule(d=st.data())
    def transaction(self, d: Data) -> None:
        plan: list[tuple[str, Any, Any, Any]] = []
        used: set[Key] = set()
        for _ in range(d.draw(st.integers(1, 4))):
            kind = d.draw(st.sampled_from(["save", "delete", "update", "check", "check_key"]))
            if kind in ("update", "check", "delete") and not self.copies:
                kind = "save"
            if kind == "check_key":
                model = d.draw(st.sampled_from([Thing, Order, Invoice]))
                key = self.draw_key(d, model)
                s = self.stored(key)
                if key in used or (s is not None and s.model is not model):
                    continue  # (what a check of another entity's item means is not specified)
                used.add(key)
                plan.append((kind, model, key, draw_cond(d, model)))
                continue
            m = self.draw_instance(d) if kind == "save" else d.draw(st.sampled_from(self.copies))
            if kind == "check" and type(m)._meta().version is None:
                continue
            if key_of(m) in used or any(m is p[1] for p in plan):
                continue
            used.add(key_of(m))
            if kind == "update":
                s = self.stored(key_of(m))
                base = s.attrs if s is not None and s.model is type(m) else {}
                plan.append((kind, m, draw_acts(d, type(m), base), None))
            else:
                plan.append((kind, m, None, None))
        if not plan:
            return
        ok = True
        for kind, m, extra, cond in plan:
            if kind == "check_key":
                s = self.own(m, extra)
                ok &= cond.test({} if s is None else s.attrs)  # a missing item: no attributes
            elif kind == "update":
                ok &= self._predict_update(m, None) is None
            elif kind == "delete":
                ok &= self.version_ok(m) or (m.__dict__.get("version") or 0) == 0
            else:
                ok &= self.version_ok(m)

        async def go() -> None:
            async with dynorm.transaction() as tx:
                for kind, m, extra, cond in plan:
                    if kind == "save":
                        tx.save(m)
                    elif kind == "delete":
                        tx.delete(m)
                    elif kind == "update":
                        tx.update(m, *[a.action for a in extra])
                    elif kind == "check":
                        tx.check(m)
                    else:
                        tx.check(m, dynorm_key(m, extra), cond.condition)

        if not ok:
            versions = [p[1].__dict__.get("version") for p in plan if isinstance(p[1], Model)]
            with pytest.raises(TransactionCanceled):
                self.run(go())
            after = [p[1].__dict__.get("version") for p in plan if isinstance(p[1], Model)]
            assert versions == after, "a canceled transaction changed a copy's version"
            return
        updates = {}
        for kind, m, extra, _ in plan:
            if kind == "save":
                updates[key_of(m)] = self.written_attrs(m)
            elif kind == "update":
                s = self.stored(key_of(m))
                assert s is not None
                new = dict(s.attrs)
                apply_acts(extra, new)
                self.bump(new, type(m))
                updates[key_of(m)] = new
        self.run(go())
        for kind, m, _extra, _ in plan:
            if kind in ("save", "update"):
                self.ref.put(key_of(m), type(m), updates[key_of(m)])
                if kind == "save":
                    self.keep(m)
            elif kind == "delete":
                self.ref.delete(key_of(m))

    # -------------------------------------------------------------- reads

    @rule(d=st.data())
    def read_many(self, d: Data) -> None:
        pairs: list[tuple[type[Model], Key]] = []
        for _ in range(d.draw(st.integers(1, 4))):
            model = d.draw(st.sampled_from([Thing, Order, Invoice]))
            pairs.append((model, self.draw_key(d, model)))
        how = d.draw(st.sampled_from(["get_many", "batch_get", "transact_get"]))
        wire = [(model, dynorm_key(model, key)) for model, key in pairs]
        if how == "get_many":
            model = pairs[0][0]
            pairs = [(model, k) for m, k in pairs if m is model]
            got: Any = self.run(dynorm.get_many(model, [dynorm_key(model, k) for _, k in pairs],
                                                consistent=True))
        elif how == "batch_get":
            got = self.run(dynorm.batch_get(*wire, consistent=True))
        else:
            if len({k for _, k in pairs}) != len(pairs):
                return  # one read per item in a transaction
            got = self.run(dynorm.transact_get(*wire))
        assert len(got) == len(pairs)
        for (model, key), item in zip(pairs, got, strict=True):
            expect(item, self.own(model, key), f"{how} {model.__name__}{key}")

    def _check_partial(self, copy: Model, readable: set[str], what: str) -> None:
        """``copy`` exposes exactly ``readable`` and refuses save()/move()."""
        for f in type(copy).model_fields:
            if f in readable:
                continue
            with pytest.raises(AttributeError):
                getattr(copy, f)
                raise AssertionError(f"{what}: {f} was not read but is exposed")

    def _try_partial_writes(self, d: Data, copy: Model) -> None:
        if not d.draw(st.booleans()):
            return
        with pytest.raises(PartialCopy):
            self.run(copy.save())
        if isinstance(copy, Thing):
            new_sk = next(s for s in SKS if s != copy.__dict__["sk"])
            with pytest.raises(PartialCopy):
                self.run(copy.move(sk=new_sk))

    @rule(d=st.data())
    def project(self, d: Data) -> None:
        T_ = Thing
        paths: dict[str, Path] = {
            "score": attr(T_.score), "status": attr(T_.status), "note": attr(T_.note),
            "tags": attr(T_.tags), "log": attr(T_.log), "opt_inner": attr(T_.opt_inner),
            "inner.a": attr(T_.inner).a, "prefs.k1": attr(T_.prefs)["k1"],
        }
        chosen = d.draw(st.lists(st.sampled_from(sorted(paths)), min_size=1, max_size=4,
                                 unique=True))
        p = d.draw(st.sampled_from(PKS))
        q = T_.query(attr(T_.pk) == p).project(*[paths[c] for c in chosen]).consistent()
        got = self.run(q.to_list())
        want = sorted(((k, s) for k, s in self.ref.of(T_) if k[1] == p), key=lambda x: x[0][2])
        assert [key_of(g) for g in got] == [k for k, _ in want], f"project {chosen}"
        for copy, (_key, s) in zip(got, want, strict=True):
            exp = s.expected()
            readable = {"pk", "sk", "version"} | {c.split(".")[0] for c in chosen}
            self._check_partial(copy, readable, f"project {chosen}")
            for c in chosen:
                if c == "inner.a":
                    if "inner" in s.attrs:
                        assert copy.inner.a == exp.inner.a, (c, copy.inner, exp.inner)
                        with pytest.raises(AttributeError):  # not fetched: absent
                            _ = copy.inner.b  # type: ignore[attr-defined]
                elif c == "prefs.k1":
                    if "prefs" in s.attrs:
                        stored_prefs = s.attrs["prefs"]
                        if "k1" in stored_prefs:
                            got_prefs = copy.prefs
                            assert same(got_prefs, {"k1": stored_prefs["k1"]}), got_prefs
                        else:
                            # nothing came back: either absent or empty, never invented
                            assert copy.__dict__.get("prefs", {}) == {}, copy.__dict__
                else:
                    assert same(getattr(copy, c), getattr(exp, c)), (c, getattr(copy, c), exp)
            assert copy.__dict__["version"] == s.version
            self._try_partial_writes(d, copy)

    def _sorted_things(self, items: list[tuple[Key, Stored]], by: str
                       ) -> list[tuple[Key, Stored]]:
        return sorted(items, key=lambda x: (x[1].attrs[by], x[0][1]) if by != "sk"
                      else (x[0][2], x[0][1]))

    def _compare_ordered(self, got: Sequence[Model], want: list[tuple[Key, Stored]], order: str,
                         limit: int | None, what: str, reverse: bool = False,
                         ties: bool = False) -> None:
        """``got`` are the first ``limit`` of ``want`` (already sorted); with ``ties``, the
        order within equal ``order`` values is free."""
        n = len(want) if limit is None else min(limit, len(want))
        assert len(got) == n, f"{what}: {len(got)} items, want {n}: {[k for k, _ in want]}"
        if reverse:
            want = want[::-1]
        if not ties:
            assert [key_of(g) for g in got] == [k for k, _ in want[:n]], what
        else:
            def sort_value(k: Key, s: Stored) -> Any:
                return k[2] if order == "sk" else shop_sk(k[2]) if order == "doc" \
                    else s.attrs[order]
            got_values = [sort_value(key_of(g), self.stored(key_of(g)))  # type: ignore[arg-type]
                          for g in got]
            assert got_values == [sort_value(k, s) for k, s in want[:n]], what
        by_key = dict(want)
        for g in got:
            s = by_key.get(key_of(g))
            assert s is not None, f"{what}: {key_of(g)} should not be returned"

    @rule(d=st.data())
    def query_table(self, d: Data) -> None:
        T_ = Thing
        p = d.draw(st.sampled_from(PKS))
        conds: list[Condition] = [attr(T_.pk) == p]
        sk_test: Callable[[int], bool] = lambda s: True  # noqa: E731
        kind = d.draw(st.sampled_from(["none", "ge", "lt", "between", "eq"]))
        k = d.draw(st.sampled_from(SKS))
        if kind == "ge":
            conds.append(attr(T_.sk) >= k)
            sk_test = lambda s: s >= k  # noqa: E731
        elif kind == "lt":
            conds.append(attr(T_.sk) < k)
            sk_test = lambda s: s < k  # noqa: E731
        elif kind == "between":
            conds.append(attr(T_.sk).between(k, k + 1))
            sk_test = lambda s: k <= s <= k + 1  # noqa: E731
        elif kind == "eq":
            conds.append(attr(T_.sk) == k)
            sk_test = lambda s: s == k  # noqa: E731
        q = T_.query(*conds)
        cond = draw_cond(d, T_) if d.draw(st.booleans()) else None
        if cond is not None:
            q = q.filter(cond.condition)
        limit = d.draw(st.sampled_from([None, 1, 2, 4]))
        if limit is not None:
            q = q.limit(limit)
        reverse = d.draw(st.booleans())
        if reverse:
            q = q.reverse()
        if d.draw(st.booleans()):
            q = q.page_size(d.draw(st.integers(1, 3)))
        q = q.consistent()
        want = self._sorted_things(
            [(key, s) for key, s in self.ref.of(T_) if key[1] == p and sk_test(key[2])
             and (cond is None or cond.test(s.attrs))], "sk")
        what = f"query {p} {kind} {k} filter={cond and cond.label} limit={limit} rev={reverse}"
        how = d.draw(st.sampled_from(["list", "pages", "page", "count"]))
        if how == "count":
            n = self.run(q.count())
            assert n == (len(want) if limit is None else min(limit, len(want))), what
            return
        if how == "pages":
            async def pages() -> list[list[Model]]:
                return [list(page.items) async for page in q.pages()]
            chunks = self.run(pages())
            got = [g for c in chunks for g in c]
            if limit is not None:
                assert len(got) <= limit, f"{what}: pages() returned {len(got)} > limit"
        elif how == "page":
            size = d.draw(st.integers(1, 3))
            got, cursor, rounds = [], None, 0
            while True:
                page = self.run(q.page(size, cursor))
                assert len(page.items) <= size
                got += page.items
                cursor, rounds = page.cursor, rounds + 1
                if cursor is None or rounds > 10:
                    break
                assert len(page.items) == size, f"{what}: short page {len(page.items)} before end"
            # page() reads to the end of the query: the limit is a bound per call
            limit = None if limit is None else max(limit, len(got))
            if limit is not None and len(got) > len(want):
                raise AssertionError(f"{what}: page() returned extra items")
            limit = None
        else:
            got = self.run(q.to_list())
        self._compare_ordered(got, want, "sk", limit, what, reverse)
        for g in got:
            expect(g, self.stored(key_of(g)), what)

    @rule(d=st.data())
    def scan(self, d: Data) -> None:
        model = d.draw(st.sampled_from([Thing, Order, Invoice]))
        q = model.scan().consistent()
        cond = draw_cond(d, model) if d.draw(st.booleans()) else None
        if cond is not None:
            q = q.filter(cond.condition)
        limit = d.draw(st.sampled_from([None, 1, 3]))
        if limit is not None:
            q = q.limit(limit)
        if d.draw(st.booleans()):
            q = q.segments(2)
        got = self.run(q.to_list())
        want = {k: s for k, s in self.ref.of(model) if cond is None or cond.test(s.attrs)}
        what = f"scan {model.__name__} filter={cond and cond.label} limit={limit}"
        assert len(got) == (len(want) if limit is None else min(limit, len(want))), what
        assert len({key_of(g) for g in got}) == len(got), f"{what}: duplicates"
        for g in got:
            assert key_of(g) in want, f"{what}: {key_of(g)} should not be returned"
            expect(g, want[key_of(g)], what)

    @rule(d=st.data())
    def query_index(self, d: Data) -> None:
        T_ = Thing
        which = d.draw(st.sampled_from(["by_status", "by_status_score", "by_score"]))
        full = d.draw(st.booleans()) and which != "by_score"
        reverse = d.draw(st.booleans())
        limit = d.draw(st.sampled_from([None, 1, 3]))
        if which == "by_score":
            p = d.draw(st.sampled_from(PKS))
            q = T_.by_score.query(attr(T_.pk) == p).consistent()
            members = [(k, s) for k, s in self.ref.of(T_) if k[1] == p and "score" in s.attrs]
            order, keys_of_index = "score", {"pk", "sk", "score"}
            readable = set(T_.model_fields)
        else:
            status = d.draw(st.sampled_from(STATUSES))
            index = getattr(T_, which)
            q = index.query(attr(T_.status) == status)
            members = [(k, s) for k, s in self.ref.of(T_) if s.attrs.get("status") == status]
            if which == "by_status":
                order, keys_of_index = "sk", {"pk", "sk", "status"}
                readable = set(keys_of_index)
            else:
                members = [(k, s) for k, s in members if "score" in s.attrs]
                order, keys_of_index = "score", {"pk", "sk", "status", "score"}
                readable = keys_of_index | {"note", "tags"}
        cond = None
        if d.draw(st.booleans()):
            cond = draw_cond(d, T_, exclude=frozenset(keys_of_index))
            try:
                q = q.filter(cond.condition)
            except ExpressionError:
                assert not cond.fields <= readable, f"filter {cond.label} refused"
                cond = None
            else:  # DynamoDB refuses a filter on what the index does not project
                assert cond.fields <= readable, f"filter {cond.label} accepted"
        if cond is not None:
            # the filter runs on the index's items: only the projected attributes exist
            members = [(k, s) for k, s in members
                       if cond.test({f: v for f, v in s.attrs.items() if f in readable})]
        if limit is not None:
            q = q.limit(limit)
        if reverse:
            q = q.reverse()
        if full:
            q = q.full()
        what = f"{which} full={full} filter={cond and cond.label} limit={limit} rev={reverse}"
        got = self.run(q.to_list())
        want = self._sorted_things(members, order)
        self._compare_ordered(got, want, order, limit, what, reverse, ties=True)
        for g in got:
            s = self.stored(key_of(g))
            assert s is not None
            if full or which == "by_score":
                expect(g, s, what)
                continue
            self._check_partial(g, readable, what)
            exp = s.expected()
            for f in readable:
                assert same(getattr(g, f), getattr(exp, f)), (what, f, getattr(g, f), exp)
            self._try_partial_writes(d, g)
            if d.draw(st.booleans()):
                with pytest.raises(PartialCopy):  # no version: a write could not be checked
                    self.run(g.update(attr(T_.score).add(1)))

    @rule(d=st.data())
    def query_entity(self, d: Data) -> None:
        model = d.draw(st.sampled_from([Order, Invoice]))
        by_index = d.draw(st.booleans())
        if by_index:
            status = d.draw(st.sampled_from(STATUSES))
            q = model.by_status.query(attr(model.status) == status)  # type: ignore[attr-defined]
            members = [(k, s) for k, s in self.ref.of(model) if s.attrs.get("status") == status]
            exclude = frozenset({"status", "doc_id"})
        else:
            acct = d.draw(st.sampled_from(ACCOUNTS))
            q = model.query(attr(model.account) == acct).consistent()  # type: ignore[attr-defined]
            members = [(k, s) for k, s in self.ref.of(model) if k[1] == acct]
            exclude = frozenset({"account", "doc_id"})
        cond = draw_cond(d, model, exclude=exclude) if d.draw(st.booleans()) else None
        if cond is not None:
            q = q.filter(cond.condition)
            members = [(k, s) for k, s in members if cond.test(s.attrs)]
        limit = d.draw(st.sampled_from([None, 1, 2]))
        if limit is not None:
            q = q.limit(limit)
        reverse = d.draw(st.booleans())
        if reverse:
            q = q.reverse()
        want = sorted(members, key=lambda x: (shop_sk(x[0][2]), x[0][1]))
        got = self.run(q.to_list())
        what = (f"{model.__name__} {'by_status' if by_index else 'query'} "
                f"filter={cond and cond.label} limit={limit} rev={reverse}")
        self._compare_ordered(got, want, "doc", limit, what, reverse, ties=by_index)
        for g in got:
            assert type(g) is model
            expect(g, self.own(model, key_of(g)), what)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="create_task(context=) is new in 3.11")
def test_stateful(dynorm_server: LocalServer) -> None:
    StoreMachine.server = dynorm_server
    run_state_machine_as_test(StoreMachine, settings=settings(
        max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None,
        derandomize=not RANDOM, database=None,
        phases=[p for p in Phase if p is not Phase.shrink or SHRINK],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                               HealthCheck.data_too_large],
    ))
    if os.environ.get("DYNORM_STATEFUL_STATS"):
        print("\n".join(f"{n:6d} {what}" for what, n in sorted(STATS.items())))
