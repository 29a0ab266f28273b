"""Generated codecs can be debugged, switched off, and never keep model classes alive."""

from __future__ import annotations

import gc
import inspect
import os
import subprocess
import sys
import traceback
import weakref
from typing import Annotated

import pydantic
import pytest

from dynorm import Model, PartitionKey


class Shown(Model, table="shown_docs"):
    id: Annotated[str, PartitionKey]
    n: int = 0


def test_generated_source_is_visible_to_tracebacks_and_inspect() -> None:
    codec = Shown._meta().codec
    source = inspect.getsource(codec.encode_fields)
    assert source.startswith("def encode_fields(obj, store_none=False):")
    assert "d.get('n')" in source
    with pytest.raises(AttributeError) as info:
        codec.decode_fields(None)  # type: ignore[arg-type]
    frames = traceback.extract_tb(info.value.__traceback__)
    generated = [f for f in frames if f.filename.startswith("<dynorm decode of")]
    assert generated and generated[-1].line  # the failing generated line, as text


def test_the_switch_falls_back_to_the_plain_loops() -> None:
    code = (
        "from typing import Annotated\n"
        "from dynorm import Model, PartitionKey\n"
        "class D(Model, table='ddd'):\n"
        "    id: Annotated[str, PartitionKey]\n"
        "    n: int | None = 5\n"
        "c = D._meta().codec\n"
        "print(c.encode_fields.__name__, c.decode_fields.__name__)\n"
        "d = D(id='a', n=None)\n"
        "assert D.from_item(d.to_item()) == d\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "DYNORM_NO_CODEGEN": "1"})
    assert out.stdout.split() == ["_encode_fields_loop", "_decode_fields_loop"]


def test_codec_caches_do_not_keep_model_classes_alive() -> None:
    def make() -> weakref.ref[type]:
        class Inner(pydantic.BaseModel):
            x: int = 0

        class Gone(Model, table="gone_docs"):
            id: Annotated[str, PartitionKey]
            inner: Inner = Inner()
            inners: list[Inner] = []

        doc = Gone(id="a", inner=Inner(x=1), inners=[Inner(x=2)])
        assert Gone.from_item(doc.to_item()) == doc
        return weakref.ref(Inner)

    ref = make()
    gc.collect()
    assert ref() is None
