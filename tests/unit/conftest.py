"""Fixtures shared by unit test modules."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import dynorm.read.answers as answers


@pytest.fixture(scope="module")
def split_every_answer() -> Iterator[None]:
    """Answers shorter than `dynorm.read.answers.SPLIT_BYTES` are parsed whole; a module
    using this fixture (``pytestmark``) splits short ones too, for the whole module (the
    property tests' examples are short)."""
    kept, answers.SPLIT_BYTES = answers.SPLIT_BYTES, 0
    try:
        yield
    finally:
        answers.SPLIT_BYTES = kept
