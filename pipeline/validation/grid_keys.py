"""Grid keys: columns whose values together name one cell of a table laid out as a grid, one
row per cell (corps x year, sex x method x age group, province x province, species x sex x
specimen number); and a row index: a date column that steps through a calendar, one row per
date (a monthly series kept as a table).

In such a table a holdout row is a cell the training rows do not have, while any model that
learnt the key columns' values writes cells the training rows do have: on the key columns
alone, synthetic rows sit on training records and holdout rows never do, however honest the
model. So the privacy tests compare records on the other columns, as they leave out the time
index a series' entities all share. A grid is recognised by two things together: (nearly)
every row has a key of its own, and the rows fill most of the grid the key values span; a
table of people has neither.
"""

from __future__ import annotations

from itertools import combinations
from math import prod

import numpy as np
import pandas as pd

from pipeline.schema import DatasetSchema, Role

KEY_SIZES = (2, 3, 4, 5, 6)
# Keys of more columns than this are searched among the few-valued columns only (the
# factors of a full factorial design), which keeps the number of sets tried small.
WIDE_KEY, WIDE_KEY_VALUES, WIDE_KEY_CANDIDATES = 4, 20, 15
MIN_ROWS = 20
MAX_REPEATED_KEYS = 0.01  # share of rows whose key another row has too
MIN_FILLED = 0.5  # share of the grid's cells that have a row
MAX_KEY_VALUES = 500
MAX_CANDIDATES = 30


def grid_layout(real: pd.DataFrame, schema: DatasetSchema, columns: list[str]) -> list[str]:
    """The columns that say where a row sits rather than what it records: its calendar row
    index, then a grid key among the rest ([] for a table of people)."""
    index = row_index(real, schema, columns)
    return index + grid_key(real, schema, [c for c in columns if c not in index])


def grid_key(real: pd.DataFrame, schema: DatasetSchema, columns: list[str]) -> list[str]:
    """The fewest of `columns` (two to six) that key the real rows as a grid, or []."""
    if schema.is_time_series or len(real) < MIN_ROWS:
        return []
    codes = _candidate_codes(real, schema, columns)
    sizes = {name: int(c.max()) + 1 for name, c in codes.items()}
    for size in KEY_SIZES:
        pool = list(codes)  # most values first (`_candidate_codes`)
        if size > WIDE_KEY:
            pool = [c for c in pool if sizes[c] <= WIDE_KEY_VALUES][:WIDE_KEY_CANDIDATES]
        sets = [s for s in combinations(pool, size)
                if len(real) <= prod(sizes[c] for c in s) <= len(real) / MIN_FILLED]
        for key in sorted(sets, key=lambda s: prod(sizes[c] for c in s)):
            if _repeated_share([codes[c] for c in key], [sizes[c] for c in key]) <= \
                    MAX_REPEATED_KEYS:
                return list(key)
    return []


def row_index(real: pd.DataFrame, schema: DatasetSchema, columns: list[str]) -> list[str]:
    """The datetime columns with a date of their own on every row, at a calendar frequency
    (every month, every day): where the rows are, not what they record."""
    found = []
    for name in columns:
        values = real[name]
        if schema.column(name).role != Role.datetime or len(values) < MIN_ROWS:
            continue
        if values.isna().any() or not values.is_unique:
            continue
        try:
            frequency = pd.infer_freq(pd.DatetimeIndex(values.sort_values()))
        except (TypeError, ValueError):
            frequency = None
        if frequency is not None:
            found.append(name)
    return found


def _candidate_codes(real: pd.DataFrame, schema: DatasetSchema,
                     columns: list[str]) -> dict[str, np.ndarray]:
    """Integer codes of the columns that can be part of a key: discrete (categories, flags,
    whole numbers of few values), never missing, with more than one value."""
    found: dict[str, np.ndarray] = {}
    for name in columns:
        spec = schema.column(name)
        whole = spec.role == Role.numerical and spec.integer
        if spec.role not in (Role.categorical, Role.boolean) and not whole:
            continue
        values = real[name]
        if values.isna().any():
            continue
        codes = pd.factorize(values)[0]
        if 2 <= codes.max() + 1 <= MAX_KEY_VALUES:
            found[name] = codes
    ranked = sorted(found, key=lambda c: -int(found[c].max()))[:MAX_CANDIDATES]
    return {name: found[name] for name in ranked}


def _repeated_share(codes: list[np.ndarray], sizes: list[int]) -> float:
    combined = np.zeros(len(codes[0]), dtype=np.int64)
    for column, size in zip(codes, sizes):
        combined = combined * size + column
    _, inverse, counts = np.unique(combined, return_inverse=True, return_counts=True)
    return float((counts[inverse] > 1).mean())


def without_keys(schema: DatasetSchema, key: list[str]) -> DatasetSchema:
    """The schema with the key columns out of every comparison (given the id role, which no
    privacy test reads)."""
    columns = [c.model_copy(update={"role": Role.id}) if c.name in key else c
               for c in schema.columns]
    return schema.model_copy(update={"columns": columns})
