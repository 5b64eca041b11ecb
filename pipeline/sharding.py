"""Split a large sample request into seeded shards that can be written in parallel.

Each shard has its own seed derived from the run's seed and its index (numpy SeedSequence),
so the result does not depend on which worker runs which shard, or in what order.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

DEFAULT_SHARD_ROWS = 1_000_000


@dataclass(frozen=True)
class Shard:
    index: int
    start: int  # first row's position in the whole sample (for unique ids across shards)
    rows: int
    seed: int


def plan_shards(n: int, shard_rows: int = DEFAULT_SHARD_ROWS, seed: int = 0) -> list[Shard]:
    if n < 1:
        raise ValueError("n must be positive")
    sizes = [min(shard_rows, n - start) for start in range(0, n, shard_rows)]
    if len(sizes) == 1:
        return [Shard(0, 0, n, seed)]  # one shard keeps the plain run's seed and output
    children = np.random.SeedSequence(seed).spawn(len(sizes))
    starts = np.cumsum([0, *sizes[:-1]])
    return [Shard(i, int(start), size, int(child.generate_state(1)[0]))
            for i, (start, size, child) in enumerate(zip(starts, sizes, children))]


def available_cores() -> int:
    """The cores this process may run on (a container's limit, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
