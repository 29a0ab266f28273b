"""Pure codec micro-benchmark: encode + decode of the 19-attribute model, no I/O."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from benchmarks.data import DT_FORMAT, Bench, unwire, wire

BASELINE = "hand-written + pydantic"


def dynorm_codec() -> Callable[[Bench], Any]:
    to_item, from_item = Bench.to_item, Bench.from_item

    def run(m: Bench) -> Any:
        return from_item(to_item(m))

    return run


def hand_codec() -> Callable[[Bench], Any]:
    validate = Bench.model_validate

    def run(m: Bench) -> Any:
        return validate(unwire(wire(m)))

    return run


def boto3_codec() -> Callable[[Bench], Any]:
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    ser, de = TypeSerializer().serialize, TypeDeserializer().deserialize
    validate = Bench.model_validate

    def run(m: Bench) -> Any:
        d = m.model_dump()
        d["created"] = d["created"].strftime(DT_FORMAT)  # TypeSerializer has no datetime
        d["updated"] = d["updated"].strftime(DT_FORMAT)
        item = {k: ser(v) for k, v in d.items()}
        return validate({k: de(v) for k, v in item.items()})

    return run


def pynamodb_codec() -> Callable[[Bench], Any]:
    from benchmarks.contenders.pynamodb_ import build, model_class

    cls: Any = model_class("http://127.0.0.1:9")  # never connects

    def run(m: Bench) -> Any:
        return cls.from_raw_data(build(cls, m).serialize())

    return run


def contenders(installed: Callable[[str], bool]) -> dict[str, Callable[[], Callable[[Bench], Any]]]:
    found: dict[str, Callable[[], Callable[[Bench], Any]]] = {
        "dynorm (to_item + from_item)": dynorm_codec,
        BASELINE: hand_codec,
        "boto3 TypeSerializer + pydantic": boto3_codec,
    }
    if installed("pynamodb"):
        found["pynamodb (serialize + from_raw_data)"] = pynamodb_codec
    return found


def check(pool: Sequence[Bench]) -> None:
    """Every contender must round-trip the pool (dynorm/hand/boto3 to equal models)."""
    for name, factory in (("dynorm", dynorm_codec), ("hand", hand_codec),
                          ("boto3", boto3_codec)):
        run = factory()
        for m in pool[:50]:
            assert run(m) == m, name
