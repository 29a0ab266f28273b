"""The benchmark runner's order of units (``benchmarks/run.py`` ``run_io``): with
``pilot``, each scenario's timed units in a round follow an untimed unit of the same
scenario, run by the last contender of the round's order that has not failed it."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks import run as bench_run
from benchmarks.contenders import Contender
from benchmarks.sizes import QUICK

LOG: list[tuple[str, str]] = []


class Fake(Contender):
    def __init__(self, name: str) -> None:
        self.name = name

    async def open(self, url: str, tx_url: str) -> None:
        pass

    async def close(self) -> None:
        pass


async def _scan(c: Contender, _: Any, r: int) -> int:
    LOG.append(("scan", c.name))
    return 1


async def _get(c: Contender, _: Any, r: int) -> int:
    LOG.append(("get", c.name))
    if c.name == "C":
        raise RuntimeError("C cannot get")
    return 1


async def test_each_scenario_starts_with_an_untimed_unit(monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    LOG.clear()
    monkeypatch.setattr(bench_run, "create", Fake)
    funcs = {"scan": ("item", _scan), "get": ("item", _get)}

    async def warm(c: Contender) -> None:
        pass

    results, errors = await bench_run.run_io(["A", "B", "C"], ["scan", "get"], QUICK, 2,
                                             "", "", funcs=funcs, warm_up=warm, pilot=True,
                                             settle=0.0)
    assert LOG == [
        ("scan", "C"), ("scan", "A"), ("scan", "B"), ("scan", "C"),  # round 1: A B C
        ("get", "C"), ("get", "A"), ("get", "B"), ("get", "C"),  # C's timed get fails
        ("scan", "A"), ("scan", "C"), ("scan", "B"), ("scan", "A"),  # round 2: C B A
        ("get", "A"), ("get", "B"), ("get", "A"),  # C left out, also as the pilot
    ]
    assert sorted(errors) == [("get", "C")]
    assert {k: len(v) for k, v in results.items()} == {
        ("scan", "A"): 2, ("scan", "B"): 2, ("scan", "C"): 2, ("get", "A"): 2,
        ("get", "B"): 2}


def test_the_read_path_table_pairs_each_peer_with_dynorm_in_the_same_round() -> None:
    """A machine that runs at half speed for some rounds slows every contender of those
    rounds: the ratio of medians then mixes speeds, the median of per-round ratios does
    not. Here a peer at 1.25x dynorm's time in four rounds of five reads as such paired,
    while the medians (a slow round of dynorm's against a fast one of the peer's) say
    0.62x."""
    from benchmarks import read_path

    speed = [1, 1, 2, 2, 2]  # dynorm's rounds: 2 fast, 3 slow
    peer_speed = [1, 1, 1, 2, 2]  # the peer's: 3 fast, 2 slow
    results = {("read-batch-get", "dynorm-fast"): [(10.0 * s, 20.0 * s) for s in speed],
               ("read-batch-get", "pydynox"): [(12.5 * s, 25.0 * s) for s in peer_speed]}
    lines = read_path.table(["dynorm-fast", "pydynox"], {"read-batch-get": "batch get"},
                            results, {}, {})
    row = next(line for line in lines if "| pydynox |" in line).split("|")
    assert [c.strip() for c in row[5:9]] == ["0.62x", "0.62x", "1.25x", "1.25x"]
    summary = next(line for line in lines if "vs the best peer" in line)
    assert "CPU 1.60x, wall 1.60x (medians); paired by round 0.80x, 0.80x" in summary
