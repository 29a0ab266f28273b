"""Bulk-load a CSV file into DynamoDB with a progress bar: a plain script, no ``await``.

    python examples/bulk_load_csv.py               # a generated sample (5,000 products)
    python examples/bulk_load_csv.py products.csv    # your file: sku,name,price,stock

Each row is validated by the model (a bad row is reported with its line number and
skipped, never half-written), then written by a batch (BatchWriteItem, 25 items per
call, several calls in flight, unprocessed items retried). The batch sends while the
script goes on reading; the bar counts rows read and items written.

It runs on the embedded local backend unless told otherwise, explicitly:
``DYNORM_ENDPOINT_URL`` (a server you run) or ``DYNORM_EXAMPLE_AWS=1`` (real AWS, where
the table "bulk-products" is created, billed, and deleted again).
"""

from __future__ import annotations

import contextlib
import csv
import os
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Annotated, TextIO

from pydantic import Field, ValidationError

import dynorm
from dynorm import Model, PartitionKey


class Product(Model, table="bulk-products"):
    sku: Annotated[str, PartitionKey]
    name: str = Field(min_length=1)
    price: Decimal = Field(ge=0)
    stock: int = Field(ge=0)


class Progress:
    """A text progress bar on stderr: redrawn in place on a terminal, a line every 20%
    otherwise (a log, a CI job)."""

    def __init__(self, total: int, out: TextIO = sys.stderr, width: int = 30) -> None:
        self.total = max(total, 1)
        self.out = out
        self.width = width
        self.started = time.monotonic()
        self.tty = out.isatty()
        self.shown = -1

    def update(self, read: int, written: int, final: bool = False) -> None:
        share = min(read / self.total, 1.0)
        step = int(share * 5)  # 20% steps when not on a terminal
        if not (self.tty or final or step > self.shown):
            return
        self.shown = step
        done = int(share * self.width)
        rate = written / max(time.monotonic() - self.started, 1e-9)
        bar = "#" * done + "." * (self.width - done)
        line = (f"[{bar}] {read}/{self.total} rows read, {written} written, "
                f"{rate:,.0f} items/s")
        self.out.write(("\r" + line) if self.tty else line + "\n")
        if final and self.tty:
            self.out.write("\n")
        self.out.flush()


def sample_csv(path: Path, rows: int = 5000) -> Path:
    """A CSV of products, with one bad row (a negative price): it is skipped."""
    rng = random.Random(7)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["sku", "name", "price", "stock"])
        for i in range(rows):
            price = "-1.00" if i == 1234 else f"{rng.randint(100, 99_999) / 100:.2f}"
            stock = rng.randint(0, 500)
            writer.writerow([f"sku-{i:05d}", f"Product {i}", price, stock])
    return path


def load(path: Path) -> tuple[int, list[str]]:
    """Write every valid row of ``path``; the number written and the rows skipped."""
    with path.open(newline="", encoding="utf-8") as f:
        total = sum(1 for _ in f) - 1  # the header
    skipped: list[str] = []
    progress = Progress(total)
    read = 0
    with path.open(newline="", encoding="utf-8") as f, dynorm.blocking.batch() as batch:
        for line, row in enumerate(csv.DictReader(f), start=2):
            read += 1
            try:
                product = Product.model_validate(row)
            except ValidationError as exc:
                fields = ", ".join(str(e["loc"][0]) for e in exc.errors())
                skipped.append(f"line {line}: {fields}")
                continue
            batch.save(product)
            if read % 250 == 0:
                progress.update(read, batch.written)
    progress.update(read, batch.written, final=True)  # the block waited for every write
    return batch.written, skipped


@contextlib.contextmanager
def connection() -> Iterator[None]:
    """The embedded backend unless DYNORM_ENDPOINT_URL or DYNORM_EXAMPLE_AWS=1 says."""
    told = (os.environ.get("DYNORM_ENDPOINT_URL")
            or os.environ.get("DYNORM_EXAMPLE_AWS") == "1")
    if told:
        with dynorm.blocking.connect():
            yield
    else:
        with dynorm.blocking.local():
            yield


def main(argv: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp, connection():
        path = Path(argv[0]) if argv else sample_csv(Path(tmp) / "products.csv")
        Product.sync.create_table()
        try:
            written, skipped = load(path)
            print(f"loaded {written} rows into {Product.sync.table_name()}"
                  f" ({len(skipped)} skipped)")
            for reason in skipped[:10]:
                print("  skipped", reason)
            print("table holds", Product.scan().sync.count(), "items")
            print("sku-00042:", Product.sync.get("sku-00042").price)
        finally:
            if os.environ.get("DYNORM_EXAMPLE_AWS") == "1":
                Product.sync.delete_table()


if __name__ == "__main__":
    main(sys.argv[1:])
