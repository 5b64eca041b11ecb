"""Rare values are identifying: no value that fewer than k training rows hold is published.

Every model's output passes through here, after it is cast to the schema:
- a numeric column is kept between its k-th smallest and k-th largest training values, so a
  one-off extreme (a dimension of 58.9 where the next largest is 10.7) is never reproduced;
  values past a bound are mirrored inside it rather than piled onto it;
- a numeric value equal to a value fewer than k training rows hold is moved: in a column
  on a grid (most rows hold a value k rows share) to the nearest shared value, so it stays
  on the grid; elsewhere one unit of the column's resolution (its step, its decimals, its
  smallest gap) at a time towards the median, until it is not one;
- a category fewer than k training rows hold is replaced by a frequent one, drawn in
  proportion to the frequent ones' counts;
- a column in a relation (an order, a derived column, a dependency) is not moved, which would
  break the relation, but for a column only in orders, which is mirrored inside its range as
  above: a tabular model draws again the rows that take any of them past its range, or
  whose order the mirroring broke.

Rare numeric values are kept only as hashes, as training ids are: the fitted model must not
carry the values it protects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipeline.models.relations.value_grids import snap
from pipeline.schema import ColumnSpec, DatasetSchema, Role
from pipeline.schema.written_numbers import on_grid

MAX_NUDGES = 20  # units a value may be moved before it is left as it is


@dataclass(frozen=True)
class NumericProtection:
    low: float  # the k-th smallest training value
    high: float  # the k-th largest
    median: float
    unit: float  # the column's resolution: how far one nudge moves a value
    digits: int  # decimals a nudged value is rounded to
    rare: np.ndarray  # sorted hashes of the values fewer than k training rows hold
    common: np.ndarray  # on a grid: the sorted values at least k training rows share; else none
    step: float | None = None  # the schema's step: a moved value lands on it


@dataclass(frozen=True)
class CategoryProtection:
    rare: list[Any]  # categories fewer than k training rows hold
    frequent: list[Any]
    weights: np.ndarray  # the frequent ones' shares


@dataclass(frozen=True)
class ValueProtection:
    k: int
    numeric: dict[str, NumericProtection]
    categories: dict[str, CategoryProtection]

    @classmethod
    def fit(cls, train: pd.DataFrame, schema: DatasetSchema, k: int) -> ValueProtection:
        numeric, categories = {}, {}
        for spec in _protected(schema, train):
            if spec.role == Role.numerical:
                found = _fit_numeric(train[spec.name], spec, k)
                if found is not None:
                    numeric[spec.name] = found
            else:
                found = _fit_categories(train[spec.name], k)
                if found is not None:
                    categories[spec.name] = found
        return cls(k, numeric, categories)

    def apply(self, frame: pd.DataFrame, rng: np.random.Generator,
              keep: set[str] = frozenset()) -> dict[str, int]:
        """Protect `frame` in place; the number of values changed per column. `keep`: columns
        a caller conditioned on, left as asked."""
        changed = {}
        for name, protection in self.numeric.items():
            if name in frame.columns and name not in keep:
                changed[name] = _protect_numeric(frame, name, protection)
        for name, protection in self.categories.items():
            if name in frame.columns and name not in keep:
                changed[name] = _protect_categories(frame, name, protection, rng)
        return {name: n for name, n in changed.items() if n}

    def mirror(self, frame: pd.DataFrame, columns: set[str]) -> dict[str, int]:
        """Values of `columns` past their protected range mirrored inside it (in place), and
        nothing else: the bounds part of `apply`, for columns whose other values must stay."""
        changed = {}
        for name in sorted(columns & set(self.numeric) & set(frame.columns)):
            p = self.numeric[name]
            values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float,
                                                                          na_value=np.nan)
            changed[name] = _write_moved(frame, name, values, _reflect(values, p.low, p.high),
                                         p)
        return {name: n for name, n in changed.items() if n}

    def past_range(self, frame: pd.DataFrame, columns: set[str]) -> np.ndarray:
        """Rows whose value in one of `columns` lies past its protected range."""
        past = np.zeros(len(frame), dtype=bool)
        for name in sorted(columns & set(self.numeric) & set(frame.columns)):
            p = self.numeric[name]
            values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float,
                                                                          na_value=np.nan)
            past |= (values < p.low) | (values > p.high)
        return past


def singleton_value_share(train: pd.DataFrame, synthetic: pd.DataFrame,
                          schema: DatasetSchema) -> float:
    """Share of synthetic values (numeric and categorical cells, missing left out) that exactly
    one training row holds: the target is 0."""
    hits = total = 0
    for spec in _protected(schema, train, synthetic):
        counts = _written(train[spec.name].dropna(), spec).value_counts()
        singletons = set(counts.index[counts == 1])
        values = _written(synthetic[spec.name].dropna(), spec)
        if singletons and len(values):
            hits += int(values.isin(singletons).sum())
        total += len(values)
    return hits / total if total else 0.0


def _written(values: pd.Series, spec: ColumnSpec) -> pd.Series:
    if spec.role != Role.numerical:
        return values
    return pd.Series(spec.as_written(pd.to_numeric(values, errors="coerce")), index=values.index)


def _protected(schema: DatasetSchema, *frames: pd.DataFrame) -> list[ColumnSpec]:
    return [
        c for c in schema.columns
        if c.role in (Role.numerical, Role.categorical) and not c.empty
        and not c.derived_from_index and c.shared != "public"
        and c.name not in (schema.sequence_key, schema.sequence_index)
        and all(c.name in f.columns for f in frames)
    ]


def _hashes(values: np.ndarray) -> np.ndarray:
    canonical = np.round(np.asarray(values, dtype=float), 9) + 0.0  # -0.0 hashes as 0.0
    return pd.util.hash_array(canonical)


def _fit_numeric(values: pd.Series, spec: ColumnSpec, k: int) -> NumericProtection | None:
    present = spec.as_written(pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float))
    if len(present) < 2 * k:
        return None
    ordered = np.sort(present)
    distinct, counts = np.unique(ordered, return_counts=True)
    return NumericProtection(
        low=float(ordered[k - 1]), high=float(ordered[-k]), median=float(np.median(ordered)),
        unit=_unit(spec, distinct), rare=np.sort(_hashes(distinct[counts < k])),
        common=_grid(distinct, counts, k),
        digits=spec.decimals if spec.decimals is not None else 0 if spec.integer else 12,
        step=spec.step,
    )


# A column is on a grid when at least this share of its rows hold a value k rows share.
GRID_SHARE = 0.5


def _grid(distinct: np.ndarray, counts: np.ndarray, k: int) -> np.ndarray:
    shared = counts >= k
    on_grid = counts[shared].sum() >= GRID_SHARE * counts.sum()
    return distinct[shared] if on_grid else distinct[:0]


def _unit(spec: ColumnSpec, distinct: np.ndarray) -> float:
    if spec.step:
        return float(spec.step)
    if spec.decimals is not None:
        return 10.0 ** -spec.decimals
    if spec.integer:
        return 1.0
    gaps = np.diff(distinct)
    gaps = gaps[gaps > 0]
    # the typical spacing: a move by the smallest gap would leave the value on its record
    return float(np.median(gaps)) if len(gaps) else 1.0


def _fit_categories(values: pd.Series, k: int) -> CategoryProtection | None:
    counts = values.dropna().value_counts()
    rare, frequent = counts[counts < k], counts[counts >= k]
    if rare.empty or frequent.empty:
        return None
    return CategoryProtection(list(rare.index), list(frequent.index),
                              (frequent / frequent.sum()).to_numpy())


def _protect_numeric(frame: pd.DataFrame, name: str, p: NumericProtection) -> int:
    column = frame[name]
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    out = _reflect(values, p.low, p.high)
    # only the rows that hold a rare value are moved, so only they are looked at again
    rows = np.flatnonzero(_is_rare(out, p.rare))
    if len(rows) and len(p.common):
        out[rows] = snap(out[rows], p.common)
    towards = np.sign(p.median - out[rows])
    for _ in range(MAX_NUDGES):
        rare = _is_rare(out[rows], p.rare)
        if not rare.any():
            break
        rows, towards = rows[rare], towards[rare]
        out[rows] += np.where(towards == 0, 1.0, towards) * p.unit
    return _write_moved(frame, name, values, out, p)


def _write_moved(frame: pd.DataFrame, name: str, values: np.ndarray, out: np.ndarray,
                 p: NumericProtection) -> int:
    """`out` written where it moved a value; how many it moved."""
    changed = ~np.isclose(out, values, rtol=0, atol=p.unit * 1e-6) & ~np.isnan(values)
    if changed.any():
        from pipeline.postprocess import rounded_int64

        # only moved values are rounded: a kept value is a column value as it was, and a
        # value like 5.38020833333333 (inches in feet) rounded would be a value of no row
        kept = pd.Series(np.where(changed, on_grid(out, p.step, p.digits), values),
                         index=frame.index)
        integer = isinstance(frame[name].dtype, pd.Int64Dtype)
        frame[name] = rounded_int64(kept) if integer else kept.astype(frame[name].dtype)
    return int(changed.sum())


def _reflect(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Values past a bound mirrored inside it: clipping would pile them onto the bound, a
    training value, where every one of them would sit on that training record."""
    out = np.where(values < low, 2 * low - values, values)
    out = np.where(out > high, 2 * high - out, out)
    return np.clip(out, low, high)


def _is_rare(values: np.ndarray, rare: np.ndarray) -> np.ndarray:
    present = ~np.isnan(values)
    if not len(rare) or not present.any():
        return np.zeros(len(values), dtype=bool)
    return present & in_sorted(_hashes(np.where(present, values, 0.0)), rare)


def in_sorted(hashes: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    """np.isin for a key set, in pandas' hash table: np.isin sorts the queries, and a binary
    search of random 64-bit hashes misses the cache at every step."""
    from pandas.core.algorithms import isin

    if not len(sorted_keys):
        return np.zeros(len(hashes), dtype=bool)
    return isin(hashes, sorted_keys)


def _protect_categories(frame: pd.DataFrame, name: str, p: CategoryProtection,
                        rng: np.random.Generator) -> int:
    column = frame[name]
    rare = column.isin(p.rare).to_numpy()
    if not rare.any():
        return 0
    drawn = np.asarray(p.frequent, dtype=object)[rng.choice(len(p.frequent), int(rare.sum()),
                                                            p=p.weights)]
    values = column.astype(object).to_numpy()
    values[rare] = drawn
    frame[name] = pd.Series(values, index=frame.index).astype(column.dtype)
    return int(rare.sum())
