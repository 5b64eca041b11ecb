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
    number in the table's order). Each number is sorted once: a wide table's pairs are many."""
    found = []
    ordered = {n: _ordered(_numbers(frame[n])) for n in numbers}
    for column in categories:
        codes, labels = pd.factorize(frame[column])
        if not 2 <= len(labels) <= MAX_BINS:
            continue
        for number in numbers:
            if number != column and _bands(codes, ordered[number]) is not None:
                found.append([column, number])
                break
    return found


def fit_binned(train: pd.DataFrame, columns: list[str]) -> BinnedCategory | None:
    column, number = columns
    codes, labels = pd.factorize(train[column])
    bands = _bands(codes, _ordered(_numbers(train[number])))
    if bands is None:
        return None
    cuts, band_codes = bands
    dated = pd.api.types.is_datetime64_any_dtype(train[number])
    return BinnedCategory(column, number, cuts, tuple(labels[band_codes]), dated)


def _ordered(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """The rows with a number in its order, their numbers, and how many distinct ones."""
    rows = np.flatnonzero(~np.isnan(x))
    rows = rows[np.argsort(x[rows], kind="stable")]
    xs = x[rows]
    return rows, xs, int(np.count_nonzero(xs[1:] != xs[:-1]) + 1) if len(xs) else 0


def _bands(codes: np.ndarray, ordered: tuple[np.ndarray, np.ndarray, int]
           ) -> tuple[np.ndarray, np.ndarray] | None:
    """(cuts, the category code of each band) when each category (`codes`, -1 missing) is
    one interval of the number on the rows that have one, known on every one of them."""
    rows, xs, distinct = ordered
    if not len(rows):
        return None
    cs = codes[rows]
    if (cs < 0).any():
        return None
    counts = np.bincount(cs)
    levels = int(np.count_nonzero(counts))
    if levels < 2 or counts[counts > 0].min() < MIN_BIN_ROWS:
        return None
    if distinct < MIN_VALUES_PER_BIN * levels:
        return None
    changes = np.flatnonzero(cs[1:] != cs[:-1])
    if len(changes) != levels - 1 or np.any(xs[changes] == xs[changes + 1]):
        return None  # a band split in two, or one value in two bands
    return (xs[changes] + xs[changes + 1]) / 2, cs[np.r_[0, changes + 1]]


def _numbers(values: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(values):
        from pipeline.models.relations.ordered_pairs import as_numbers

        return as_numbers(values.to_frame(), [values.name])[values.name].to_numpy()
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
