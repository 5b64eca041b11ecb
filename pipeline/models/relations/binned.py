"""A category read off a number: each of its values one interval of the number (a market's
direction, Up where the day's return is above 0; an age band from the age; a period from
the year). A model that learns the two side by side mixes them near every cut (Smarket's
direction and return: Column Pair Trends 0.24). The model still learns the category, so a
condition on it is honoured exactly; once the output is written, every other row takes the
value its number falls in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

MAX_BINS = 12  # a category of more values than this is a label, not bands of a number
MIN_BIN_ROWS = 5  # each band held by at least this many rows: a rare one is no evidence
# The number must take several values per band, or its values are a lookup (a dependency).
MIN_VALUES_PER_BIN = 3


@dataclass(frozen=True)
class BinnedCategory:
    column: str  # the category
    number: str  # the number whose intervals set it
    cuts: np.ndarray  # ascending: between one band's largest value and the next's least
    labels: tuple  # the category of each band, len(cuts) + 1
    dated: bool = False  # the number is a date (its cuts in epoch seconds)

    @property
    def columns(self) -> tuple[str, str]:
        return self.column, self.number

    def holds(self, frame: pd.DataFrame) -> bool:
        return _bands(frame[self.column], _numbers(frame[self.number])) is not None

    def apply(self, frame: pd.DataFrame, keep: bool = False) -> pd.DataFrame:
        """The category of each row whose number is known, read off its band; `keep`
        leaves the model's own values (a condition on the category asked for them)."""
        if keep:
            return frame
        number = frame[self.number]
        if self.dated:  # SDV's models return dates as text
            number = pd.to_datetime(number, errors="coerce")
        x = _numbers(number)
        known = ~np.isnan(x)
        values = frame[self.column].to_numpy(dtype=object, copy=True)
        labels = np.asarray(self.labels, dtype=object)
        values[known] = labels[np.searchsorted(self.cuts, x[known], side="right")]
        frame[self.column] = pd.Series(values, index=frame.index).astype(frame[self.column].dtype)
        return frame


def find_binned(frame: pd.DataFrame, categories: list[str],
                numbers: list[str]) -> list[list[str]]:
    """[category, number] for each category that is bands of some number (the first such
    number in the table's order)."""
    found = []
    values = {n: _numbers(frame[n]) for n in numbers}
    for column in categories:
        levels = frame[column].nunique()
        if not 2 <= levels <= MAX_BINS:
            continue
        for number in numbers:
            if number != column and _bands(frame[column], values[number]) is not None:
                found.append([column, number])
                break
    return found


def fit_binned(train: pd.DataFrame, columns: list[str]) -> BinnedCategory | None:
    column, number = columns
    bands = _bands(train[column], _numbers(train[number]))
    if bands is None:
        return None
    cuts, labels = bands
    dated = pd.api.types.is_datetime64_any_dtype(train[number])
    return BinnedCategory(column, number, cuts, labels, dated)


def _bands(category: pd.Series, x: np.ndarray) -> tuple[np.ndarray, tuple] | None:
    """(cuts, labels) when each value of `category` is one interval of `x` on the rows with a
    number, the category known on every one of them; else None."""
    known = ~np.isnan(x)
    if not known.any() or category[known].isna().any():
        return None
    codes, labels = pd.factorize(category[known])
    x = x[known]
    counts = np.bincount(codes)
    if len(labels) < 2 or counts.min() < MIN_BIN_ROWS:
        return None
    if len(np.unique(x)) < MIN_VALUES_PER_BIN * len(labels):
        return None
    order = np.argsort(x, kind="stable")
    xs, cs = x[order], codes[order]
    changes = np.flatnonzero(cs[1:] != cs[:-1])
    if len(changes) != len(labels) - 1 or np.any(xs[changes] == xs[changes + 1]):
        return None  # a band split in two, or one value in two bands
    cuts = (xs[changes] + xs[changes + 1]) / 2
    return cuts, tuple(labels[cs[np.r_[0, changes + 1]]])


def _numbers(values: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(values):
        from pipeline.models.relations.ordered_pairs import as_numbers

        return as_numbers(values.to_frame(), [values.name])[values.name].to_numpy()
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
