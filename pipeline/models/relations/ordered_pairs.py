"""Pairs of numeric columns where one never exceeds the other: modelled as a gap.

The dew point never exceeds the temperature (they meet when the air is saturated); a day's
minimum never exceeds its maximum. A model of the two as correlated columns breaks that on
some rows, and whatever is computed from the pair (humidity from temperature and dew point)
breaks with it. Modelled instead as the anchor column plus a non-negative gap, the order
holds on every row.

A pair counts when, on the rows where both are known, `low <= high` always while values
paired at random would break the order on at least `MIN_CHANCE_BREAKS` of pairs (so the
order is a property of the rows, not of the ranges: a pressure of 1000 hPa is above every
temperature, which says nothing), the columns are correlated (`MIN_CORRELATION`) or, for
two dates in a table, their order is too regular for chance (`MAX_CHANCE`), and the one
rewritten as a gap is known wherever it is known now except on a negligible share of rows.
Each column is in at most one pair.

Timestamps pair as numbers do (a poll's start and end, an admission and a discharge), in
seconds since the epoch; their gap is handed to the model as a timestamp that far past the
epoch, so every model takes it as the date column it replaces.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.models.relations.value_grids import snap

MIN_ROWS = 50
MIN_CORRELATION = 0.5
MIN_CHANCE_BREAKS = 0.01
# Two weakly correlated dates (a placement's start and end) pair when independent rows would
# keep their order on every row with at most this probability: their gap is a duration. Not
# for numbers, where it paired a month counter with a processor speed (Ecdat's Computers),
# nor for a series' steps, whose dependence makes a long run of kept orders far likelier.
MAX_CHANCE = 1e-6
MAX_LOST = 0.001  # share of rows where the gap cannot be formed (its partner missing)
EPOCH = pd.Timestamp(0)


@dataclass(frozen=True)
class OrderedPair:
    low: str
    high: str
    gap_column: str  # low or high: the column modelled as the gap between them
    # two dates only (they have no schema bounds): the gap column's training range, in epoch
    # seconds; a rebuilt end clipped to the latest real end still follows its start
    gap_range: tuple[float, float] | None = None
    # two numbers: the values the gap column's rows share, when most rows hold one (loan
    # amounts, 78 % in whole thousands): a rebuilt value lands on them, on its side of the
    # anchor, where anchor plus gap would smear them over every number between
    grid: np.ndarray | None = None

    @property
    def dated(self) -> bool:
        """Two timestamp columns (a model may return them as text)."""
        return self.gap_range is not None

    @property
    def anchor(self) -> str:
        return self.high if self.gap_column == self.low else self.low

    def to_gap(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        gap = frame[self.high] - frame[self.low]
        out[self.gap_column] = EPOCH + gap if pd.api.types.is_timedelta64_dtype(gap) else gap
        return out

    def from_gap(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        if self.dated:
            anchor = pd.to_datetime(frame[self.anchor])
            seconds = _seconds(pd.to_datetime(frame[self.gap_column]))
            gap = pd.to_timedelta(np.maximum(seconds, 0.0), unit="s")
        else:
            gap = np.maximum(frame[self.gap_column].to_numpy(dtype=float), 0.0)
            anchor = frame[self.anchor].to_numpy(dtype=float)
        rebuilt = anchor - gap if self.gap_column == self.low else anchor + gap
        if self.grid is not None:
            below = self.gap_column == self.low
            rebuilt = snap(rebuilt, self.grid, None if below else anchor, anchor if below else None)
        if self.dated:
            zone = getattr(rebuilt.dt, "tz", None)
            bounds = [pd.Timestamp(v, unit="s", tz=zone and "UTC") for v in self.gap_range]
            rebuilt = rebuilt.clip(*(b.tz_convert(zone) if zone else b for b in bounds))
        out[self.gap_column] = rebuilt
        return out


def as_numbers(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The columns as floats, timestamps as seconds since the epoch (NaN where missing)."""
    return pd.DataFrame({c: _seconds(frame[c]) if pd.api.types.is_datetime64_any_dtype(frame[c])
                         else frame[c].astype(float) for c in columns}, index=frame.index)


def _seconds(stamps: pd.Series) -> np.ndarray:
    if stamps.dt.tz is not None:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    # a barely trained model's stamps can lie centuries out: the gap is clipped to its range
    # afterwards, so numpy's overflow warning would only reach the user's console
    with np.errstate(over="ignore", invalid="ignore"):
        return (stamps - EPOCH).dt.total_seconds().to_numpy(dtype=float)


def _chance_breaks(low: np.ndarray, high: np.ndarray) -> float:
    """P(low > high) for a low and a high drawn independently from their columns."""
    ordered = np.sort(low)
    return float(1.0 - np.searchsorted(ordered, high, side="right").mean() / len(ordered))


def _pair(frame: pd.DataFrame, low: str, high: str,
          durations: bool) -> tuple[float, OrderedPair] | None:
    """The pair and how often random pairing would break its order; None if not a pair."""
    a, b = frame[low].astype(float), frame[high].astype(float)
    both = a.notna() & b.notna()
    if both.sum() < MIN_ROWS or not (a[both] <= b[both]).all():
        return None
    breaks = _chance_breaks(a[both].to_numpy(), b[both].to_numpy())
    if breaks < MIN_CHANCE_BREAKS:
        return None
    beyond_chance = durations and (1 - breaks) ** both.sum() <= MAX_CHANCE
    if a[both].corr(b[both]) < MIN_CORRELATION and not beyond_chance:
        return None
    # rewrite the column with more missing values (its partner is then known where it is)
    for gap_column, anchor in sorted(
        ((low, b), (high, a)), key=lambda item: -frame[item[0]].isna().mean()
    ):
        lost = (frame[gap_column].notna() & anchor.isna()).mean()
        if lost <= MAX_LOST:
            return breaks, OrderedPair(low, high, gap_column)
    return None


def _ordered_candidates(frame: pd.DataFrame, columns: list[str]) -> list[tuple[str, str]]:
    """(low, high) pairs whose order holds on every row where both are known: one vectorised
    pass per column, so a wide table does not run `_pair` on every one of its c^2 pairs."""
    if len(columns) < 2:
        return []
    x = frame[columns].to_numpy(dtype=float, na_value=np.nan)
    known = ~np.isnan(x)
    out = []
    for i, low in enumerate(columns):
        with np.errstate(invalid="ignore"):
            holds = np.where(known[:, [i]] & known, x[:, [i]] <= x, True).all(axis=0)
        holds[i] = False
        out += [(low, columns[j]) for j in np.flatnonzero(holds)]
    return out


def find_ordered_pairs(frame: pd.DataFrame, columns: list[str],
                       durations: bool = False) -> list[OrderedPair]:
    """Ordered pairs among `columns` (numeric); where a column could join several, the pair
    whose order random pairing breaks most often wins: an order that the ranges nearly
    explain (a dew point in °F under a humidity in %) is rarely broken by random pairs."""
    found = [pair for x, y in _ordered_candidates(frame, columns)
             if (pair := _pair(frame, x, y, durations))]
    pairs: list[OrderedPair] = []
    used: set[str] = set()
    for _, pair in sorted(found, key=lambda item: -item[0]):
        if {pair.low, pair.high} & used:
            continue
        pairs.append(pair)
        used |= {pair.low, pair.high}
    return pairs
