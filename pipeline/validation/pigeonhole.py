"""Candidate pairs for the near-copy search, by the pigeonhole principle: a query within
`allowed` differing fields of a record matches it on every field of at least one of
`allowed + 1` disjoint groups of fields (and on every field that may not differ at all). So
each group becomes a hash key, and only the records that share a query's key in some group
are compared field by field: the work grows with the matches, not with queries x records.

Codes match when they differ by at most 1 (`record_matches.FieldCodes`). Category codes are
spaced 3 apart, so they match only when equal and enter a key as they are; a number's code
enters as its bucket `code >> 1`, and a query probes its own bucket and the one next to it on
its side (an even code 2b matches 2b - 1, in bucket b - 1; an odd one 2b + 1 matches 2b + 2,
in bucket b + 1). A key keeps at most `MAX_TOLERANT_KEY` numbers, so at most
2 ** MAX_TOLERANT_KEY probes per query and group. Hash collisions only add candidates, which
the field-by-field check drops.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

MAX_TOLERANT_KEY = 6
# Keys are used when they leave fewer expected candidates per query than this; else the
# caller compares every pair (its one-hot product is cheaper than a flood of candidates).
MAX_EXPECTED_CANDIDATES = 2_000
_MIX = np.random.default_rng(20261206).integers(1, 2**62, size=64, dtype=np.uint64) | 1


@dataclass(frozen=True)
class _Key:
    exact: np.ndarray  # field indices entering as they are
    tolerant: np.ndarray  # field indices entering by bucket, probed on both sides
    order: np.ndarray  # reference rows sorted by their key's hash
    hashes: np.ndarray  # their hashes, sorted


class PigeonholeKeys:
    """One hash key per group of fields, built once over the reference rows."""

    def __init__(self, reference: np.ndarray, keys: list[tuple[np.ndarray, np.ndarray]]):
        self.keys = []
        for exact, tolerant in keys:
            hashes = _hash(reference[:, exact], reference[:, tolerant] >> 1)
            order = np.argsort(hashes, kind="stable")
            self.keys.append(_Key(exact, tolerant, order, hashes[order]))

    @classmethod
    def plan(cls, reference: np.ndarray, allowed: int, costs: np.ndarray,
             exact: np.ndarray, probability: np.ndarray) -> PigeonholeKeys | None:
        """Keys for these fields, or None when they would leave too many candidates.

        `costs`: what a differing field counts (a field costing more than `allowed` must
        match); `exact`: fields whose codes match only when equal; `probability`: chance
        that two random records match on each field."""
        p = np.clip(probability, 1.0 / max(len(reference), 1), 1.0)
        rigid = np.flatnonzero(costs > allowed)
        groups: list[list[int]] = [[] for _ in range(allowed + 1)]
        weight = np.zeros(allowed + 1)
        for f in sorted(np.flatnonzero(costs <= allowed), key=lambda f: p[f]):
            g = int(np.argmax(weight))  # the least selective group takes the next field
            groups[g].append(int(f))
            weight[g] += np.log(p[f])
        keys, expected = [], 0.0
        for group in groups:
            fields = np.array(sorted(set(group) | set(rigid.tolist())), dtype=np.int64)
            if len(fields) == 0:
                return None  # a group that always matches: every record is a candidate
            tolerant = fields[~exact[fields]]
            tolerant = tolerant[np.argsort(p[tolerant], kind="stable")][:MAX_TOLERANT_KEY]
            chosen = np.r_[fields[exact[fields]], tolerant]
            expected += len(reference) * float(np.prod(p[chosen]))
            keys.append((fields[exact[fields]], np.sort(tolerant)))
        if expected > MAX_EXPECTED_CANDIDATES:
            return None
        return cls(reference, keys)

    def candidates(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(query row, reference row) pairs sharing a key, each pair once."""
        rows, cols = [], []
        for key in self.keys:
            exact, codes = queries[:, key.exact], queries[:, key.tolerant]
            side = np.where(codes % 2 == 0, -1, 1)
            for flips in itertools.product((0, 1), repeat=len(key.tolerant)):
                buckets = (codes >> 1) + side * np.array(flips, dtype=np.int64)
                found, where = _lookup(key, _hash(exact, buckets))
                rows.append(found)
                cols.append(key.order[where])
        if not rows:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        pair = np.unique(np.concatenate(rows) * np.int64(2**31) + np.concatenate(cols))
        return pair // 2**31, pair % 2**31


def _lookup(key: _Key, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(query row, position in key.order) of every reference row whose hash equals one."""
    low = np.searchsorted(key.hashes, hashes, side="left")
    high = np.searchsorted(key.hashes, hashes, side="right")
    counts = high - low
    rows = np.repeat(np.arange(len(hashes)), counts)
    starts = np.repeat(low - np.r_[0, np.cumsum(counts)[:-1]], counts)
    return rows, starts + np.arange(len(rows))


def _hash(exact: np.ndarray, buckets: np.ndarray) -> np.ndarray:
    """One uint64 per row from its key's codes (wrapping products of odd multipliers)."""
    out = np.zeros(len(exact), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j, column in enumerate(np.hstack([exact, buckets]).T):
            out = (out ^ column.astype(np.uint64)) * _MIX[j % len(_MIX)]
    return out
