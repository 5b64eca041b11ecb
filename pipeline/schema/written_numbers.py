"""Numbers as the source writes them: the decimals a column's values need (float32 values
written out in full, or rounded to a fixed number of decimals, read as the decimals they stand
for) and the step they are written in (the largest unit every value is a multiple of, or a
round one all but a few rare values are on)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

MAX_DECIMALS = 8
# How far from a whole number a value scaled by 10**digits may be, relative to it, and still
# be written with that many digits: float64 rounding only, or float32's for a float32 column.
# Any looser, and a large value's last decimals pass for rounding noise: the output then
# drops digits the source writes, and no synthetic value equals a real one.
FLOAT32_DECIMALS_TOLERANCE, FLOAT64_DECIMALS_TOLERANCE = 1e-6, 1e-11
# How near a float64 must be to a float32 to be one written out, relative to it: 16 digits
# and a parser that is not exact (pandas' default) leave ~1e-14; float32s are 6e-8 apart.
FLOAT32_WRITTEN_TOLERANCE = 1e-12
MIN_STEP_VALUES = 3  # two values always share a step: it says nothing


def written_decimals(values: pd.Series, dtype: Any) -> int | None:
    """The fewest digits after the point that write every value (None past MAX_DECIMALS)."""
    x = np.unique(values.to_numpy(dtype=float))
    written = _fewest_digits(x, FLOAT64_DECIMALS_TOLERANCE, 0.0)
    single = str(dtype).lower() == "float32" or _float32(x) or _float32_rounded(x, written)
    if not single:
        return written
    # float32 arithmetic errs by its operands' size: a change of rates computed in float32
    # (9.3 - 11.9 = -2.6000003814697266) is off by the rates' rounding, not the change's
    typical = float(np.quantile(np.abs(x), 0.9)) if len(x) else 0.0
    return _fewest_digits(x, FLOAT32_DECIMALS_TOLERANCE, typical)


def _fewest_digits(x: np.ndarray, tolerance: float, typical: float) -> int | None:
    """The fewest digits within `tolerance` (relative to each value, or to `typical` where
    larger) of every value of `x`; None past MAX_DECIMALS."""
    for digits in range(MAX_DECIMALS + 1):
        scaled = x * 10.0**digits
        size = np.maximum(np.maximum(1.0, np.abs(scaled)), typical * 10.0**digits)
        if np.all(np.abs(scaled - np.round(scaled)) <= tolerance * size):
            return digits
    return None


# Values with at least this many significant digits tell a float32 from a short decimal.
FLOAT32_TELLING_DIGITS = 8
# How many telling values `_float32_rounded` needs, and the most it formats.
MIN_FLOAT32_TELLING, MAX_FLOAT32_CHECKED = 3, 2000


def _float32_rounded(x: np.ndarray, digits: int | None) -> bool:
    """Values are float32 ones rounded to `digits` decimals when written (an income of 10.91
    computed in float32 is 10.9100008, 6.8 is 6.8000002): each is its own float32 so
    rounded, and enough of them have the eight or more significant digits only a float32's
    noise gives such a column. An exact conversion (58.9670081 kg for 130 lb) or a double
    of many digits (779.4453145) is no float32 so rounded."""
    if digits is None or not digits or not np.isfinite(x).all():
        return False
    checked = x[:: max(1, len(x) // MAX_FLOAT32_CHECKED)]
    with np.errstate(over="ignore"):
        single = checked.astype(np.float32).astype(np.float64)
    if not np.array_equal(np.round(single, digits), np.round(checked, digits)):
        return False
    # a binary fraction (160.03125) is a float32 exactly: its digits tell nothing
    inexact = checked[single != checked]
    telling = [f"{abs(v):.{digits}f}".replace(".", "").strip("0") for v in inexact]
    return sum(len(s) >= FLOAT32_TELLING_DIGITS for s in telling) >= MIN_FLOAT32_TELLING


def _float32(x: np.ndarray) -> bool:
    """Values are float32 ones written out (Stata's and numpy's float32 columns exported to
    CSV: 3.0999999046325684 for 3.1), to the 16 or 17 digits a writer gives a float64: some
    need that many digits and are float32s, and every other one is short (a writer that
    shortens some writes 0.006 beside 0.027000000700354576; whole numbers are short)."""
    scaled = x * 10.0**MAX_DECIMALS
    short = np.abs(scaled - np.round(scaled)) <= FLOAT64_DECIMALS_TOLERANCE * np.maximum(
        1.0, np.abs(scaled))
    with np.errstate(over="ignore", invalid="ignore"):
        single = x.astype(np.float32).astype(np.float64)
        noise = ~short & (np.abs(single - x) <= FLOAT32_WRITTEN_TOLERANCE * np.abs(x))
    return bool(noise.any() and np.all(noise | short))


def on_grid(values: np.ndarray, step: float | None, decimals: int | None) -> np.ndarray:
    """Numbers as the source writes them: on its step, then to its decimals (which also
    clears the step's float noise)."""
    if step:
        values = np.round(values / step) * step
    return values if decimals is None else np.round(values, decimals)


def written_step(values: pd.Series, decimals: int | None) -> float | None:
    """The unit the values are written in steps of, when it is more than the last digit: the
    largest every value is a multiple of, or a coarser round one (1, 2, 2.5 or 5 times a
    power of ten) that all but a few rows are (`_round_unit`)."""
    if decimals is None:
        return None
    distinct, counts = np.unique(values.to_numpy(dtype=float), return_counts=True)
    scaled = np.round(distinct * 10.0**decimals)
    if len(scaled) < MIN_STEP_VALUES or np.abs(scaled).max() >= 2**53:
        return None
    whole = np.abs(scaled).astype(np.int64)
    unit = max(int(np.gcd.reduce(whole)), _round_unit(whole, counts))
    return unit / 10**decimals if unit > 1 else None


# A round unit holds when at most this share of rows, and of distinct values, lies off it,
# and no value off it is held by more rows than STEP_EXCEPTION_COUNT or this share of them:
# cell counts on a half grid with two averages of three (4.333333), scores that are whole but
# for a few halves. A value off the grid that recurs (a visibility of 1/8 mile on a grid of
# quarters) is part of the column's vocabulary, not an exception.
STEP_EXCEPTION_ROWS, STEP_EXCEPTION_VALUES, STEP_EXCEPTION_SHARE = 0.01, 0.25, 0.001
STEP_EXCEPTION_COUNT = 2


def _round_unit(whole: np.ndarray, counts: np.ndarray) -> int:
    """The largest round unit (in the last digit's units) the values are on but for a few
    rare exceptions (the STEP_EXCEPTION_ bounds), with at least MIN_STEP_VALUES distinct
    values on it; 1 when none is.

    Without it one odd value sets the step to the last digit, and every output value is
    written to digits that only that value needs."""
    best, top = 1, int(whole.max())
    most = max(STEP_EXCEPTION_COUNT, STEP_EXCEPTION_SHARE * counts.sum())
    for power in range(len(str(top))):
        for factor in (10, 20, 25, 50):  # 1, 2, 2.5 and 5 times 10**power
            unit = factor * 10**power // 10
            if unit <= best or factor == 25 and power == 0:
                continue
            off = whole % unit != 0
            on_grid = len(np.unique(whole[~off]))
            if (counts[off].sum() <= STEP_EXCEPTION_ROWS * counts.sum()
                    and off.sum() <= STEP_EXCEPTION_VALUES * len(whole)
                    and (counts[off] <= most).all()
                    and on_grid >= MIN_STEP_VALUES):
                best = unit
    return best
