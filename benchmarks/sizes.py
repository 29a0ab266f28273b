"""How much each scenario does: the full run's sizes and the --quick ones (CI)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Sizes:
    ops: int  # single-item operations per contender per round
    items: int  # batch write size; query and batch get use items // 10
    page: int  # query page size
    tx: int  # transactions (of 10 puts) per contender per round
    codec: int  # items encoded + decoded per contender per round
    memory: tuple[int, int]  # query iteration sizes for the memory check
    import_runs: int
    memory_page: int = 1000  # items per request in the memory check
    read: tuple[int, int] = (1_000, 10_000)  # the read path's small and large query
    cold_runs: int = 7  # fresh processes per cold-start case (after one warm-up)
    migration: int = 5_000  # items of the migration scenario's table
    backup: tuple[int, ...] = (10_000, 50_000)  # table sizes exported and imported

    @property
    def query_items(self) -> int:
        return max(self.items // 10, 1)


FULL = Sizes(ops=200, items=10_000, page=100, tx=20, codec=100_000, memory=(10_000, 50_000),
             import_runs=7)
QUICK = Sizes(ops=10, items=300, page=10, tx=3, codec=2_000, memory=(500, 1_000),
              import_runs=3, memory_page=100, read=(10, 50), cold_runs=2,
              migration=500, backup=(1_000, 5_000))
