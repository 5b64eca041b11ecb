"""Values on a grid: a column with few distinct real values takes only those values.

A model's sampled values land between a column's real values (a score mapped back through
quantile knots, or a column computed from others, such as a gap), and where a column has few
distinct values such off-grid values tell synthetic rows from real ones. `value_grid` finds a
column's grid on the training values; `snap` moves sampled values onto it, optionally inside
per-row bounds (a pair's order kept).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# A column with at most this many distinct real values is snapped onto them,
MAX_GRID_VALUES = 1000
# when at most this share of its rows hold a value no other row holds: the Good-Turing
# estimate of how often a fresh row shows a value not seen in training. Above it, a grid of
# values that barely repeat is the training rows themselves (a series of 51 yearly birth
# counts, each once), and snapping onto it replays them.
UNSEEN_SHARE_MAX = 0.1


def value_grid(
    values: pd.Series, leave_out: np.ndarray | None = None, max_values: int = MAX_GRID_VALUES
) -> np.ndarray | None:
    """The distinct numeric values of a column, increasing, when there are between 1 and
    `max_values` of them and they mostly repeat; else None. `leave_out`: rows (bool, aligned
    with `values`) whose values are not grid values (a value a rule sets)."""
    numbers = pd.to_numeric(values, errors="coerce")
    if leave_out is not None:
        numbers = numbers[~leave_out]
    distinct, counts = np.unique(numbers.dropna().to_numpy(dtype=float), return_counts=True)
    if 0 < len(distinct) <= max_values and mostly_repeated(counts):
        return distinct
    return None


def mostly_repeated(counts: np.ndarray) -> bool:
    """`counts`: how many rows hold each distinct value (see UNSEEN_SHARE_MAX)."""
    return np.sum(counts == 1) <= UNSEEN_SHARE_MAX * counts.sum()


def find_value_grids(
    frame: pd.DataFrame, columns: list[str], leave_out: dict[str, np.ndarray] | None = None
) -> dict[str, np.ndarray]:
    """`value_grid` of each column that has one, in the order of `columns`."""
    leave_out = leave_out or {}
    grids = {}
    for name in columns:
        grid = value_grid(frame[name], leave_out.get(name))
        if grid is not None:
            grids[name] = grid
    return grids


def snap(
    values: np.ndarray, grid: np.ndarray, low: np.ndarray | None = None,
    high: np.ndarray | None = None,
) -> np.ndarray:
    """Each value onto the nearest grid value inside [low, high] (per row; NaN: no bound).
    Where no grid value fits, the value is clipped into the bounds.

    Not just the two grid neighbours: the bound itself may have been snapped below the value
    (a dew point under a temperature snapped down), and then the nearest fitting grid value
    lies further down."""
    out = values.copy()
    known = ~np.isnan(values)
    v = values[known]
    lo = np.full(len(v), -np.inf) if low is None else np.nan_to_num(low[known], nan=-np.inf)
    hi = np.full(len(v), np.inf) if high is None else np.nan_to_num(high[known], nan=np.inf)
    last = len(grid) - 1
    # nearest grid values: either side of the value, the highest under `hi`, the lowest over `lo`
    candidates = np.column_stack([
        grid[np.clip(np.searchsorted(grid, v, side="right") - 1, 0, last)],
        grid[np.clip(np.searchsorted(grid, v, side="left"), 0, last)],
        grid[np.clip(np.searchsorted(grid, hi, side="right") - 1, 0, last)],
        grid[np.clip(np.searchsorted(grid, lo, side="left"), 0, last)],
    ])
    fits = (candidates >= lo[:, None]) & (candidates <= hi[:, None])
    distance = np.where(fits, np.abs(candidates - v[:, None]), np.inf)
    best = distance.argmin(1)
    rows = np.arange(len(v))
    out[known] = np.where(fits[rows, best], candidates[rows, best], np.clip(v, lo, hi))
    return out
