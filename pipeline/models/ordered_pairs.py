"""Pairs of numeric columns where one never exceeds the other: modelled as a gap.

The dew point never exceeds the temperature (they meet when the air is saturated). A model of
the two as correlated columns breaks that: the HMM put the dew point above the temperature on
5.5 % of its rows, and relative humidity, computed from the two, then sat at 100 % on 6.3 % of
rows against 1.1 % real. Modelled instead as `temperature - dew point`, a non-negative gap
(its score map keeps it inside the real range), the order holds on every row.

A pair counts when, on the rows where both are known, `low <= high` always, the bound is
approached (the gap's 1st percentile is under `TIGHT_SHARE` of the lower column's spread: a
pressure of 1000 hPa is above every temperature, which says nothing), the columns are
correlated (`MIN_CORRELATION`) and the one rewritten as a gap is known wherever it is known
now except on a negligible share of rows. Each column is in at most one pair.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

MIN_ROWS = 50
MIN_CORRELATION = 0.5
TIGHT_SHARE = 0.1
MAX_LOST = 0.001  # share of rows where the gap cannot be formed (its partner missing)


@dataclass(frozen=True)
class OrderedPair:
    low: str
    high: str
    gap_column: str  # low or high: the column modelled as the gap between them

    @property
    def anchor(self) -> str:
        return self.high if self.gap_column == self.low else self.low

    def to_gap(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        out[self.gap_column] = frame[self.high] - frame[self.low]
        return out

    def from_gap(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        gap = np.maximum(frame[self.gap_column].to_numpy(dtype=float), 0.0)
        anchor = frame[self.anchor].to_numpy(dtype=float)
        out[self.gap_column] = anchor - gap if self.gap_column == self.low else anchor + gap
        return out


def _pair(frame: pd.DataFrame, low: str, high: str) -> OrderedPair | None:
    a, b = frame[low].astype(float), frame[high].astype(float)
    both = a.notna() & b.notna()
    if both.sum() < MIN_ROWS or not (a[both] <= b[both]).all():
        return None
    gap = (b - a)[both]
    if a[both].std() == 0 or gap.quantile(0.01) > TIGHT_SHARE * a[both].std():
        return None
    if a[both].corr(b[both]) < MIN_CORRELATION:
        return None
    # rewrite the column with more missing values (its partner is then known where it is)
    for gap_column, anchor in sorted(
        ((low, b), (high, a)), key=lambda item: -frame[item[0]].isna().mean()
    ):
        lost = (frame[gap_column].notna() & anchor.isna()).mean()
        if lost <= MAX_LOST:
            return OrderedPair(low, high, gap_column)
    return None


def find_ordered_pairs(frame: pd.DataFrame, columns: list[str]) -> list[OrderedPair]:
    """Ordered pairs among `columns` (numeric), the most correlated first."""
    found = []
    for x, y in itertools.permutations(columns, 2):
        pair = _pair(frame, x, y)
        if pair is not None:
            found.append((frame[x].astype(float).corr(frame[y].astype(float)), pair))
    pairs: list[OrderedPair] = []
    used: set[str] = set()
    for _, pair in sorted(found, key=lambda item: -item[0]):
        if {pair.low, pair.high} & used:
            continue
        pairs.append(pair)
        used |= {pair.low, pair.high}
    return pairs
