"""What a token's transition depends on besides the previous token: how long that token has
lasted (its run's age) and the bin of one numeric column's value (its driver)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# A token's transition also depends on which of this many quantile bins its driver's value
# falls in, so tokens follow the values (a gust is reported in strong wind); ten, not four,
# since a token tied to a column's top decile is blurred by quartile bins.
DRIVER_BINS = 10
# ... and on how long the previous token has lasted (run age 1 | 2-3 | 4-7 | 8+), since a
# first-order chain ends every run at the same rate and makes long runs too rare.
AGE_EDGES = np.array([2, 4, 8])
MAX_AGE_TOKENS = 8  # channels with more token values keep one age bucket (table size)
MIN_DRIVER_GAIN = 0.005  # nats of token entropy a driver must explain to be used


@dataclass(frozen=True)
class Driver:
    column: int  # -1: none
    edges: np.ndarray  # inner bin edges in score units
    # True: bins of the driver's value at this step, so the token is drawn after the values
    # and does not shape them (see `choose_drivers`); False: its last value before the step
    current: bool = False
    gain: float = 0.0


@dataclass(frozen=True)
class Contexts:
    """How a token channel's transition context is numbered: the previous token, the age
    bucket of its run, the bin of the driver's value."""

    bins: int
    ages: list[int]  # age buckets per channel (1: age not used)

    @classmethod
    def for_channels(cls, sizes: list[int]) -> Contexts:
        """Age buckets for every channel small enough to afford them."""
        return cls(DRIVER_BINS, [len(AGE_EDGES) + 1 if size <= MAX_AGE_TOKENS else 1
                                 for size in sizes])

    def size(self, j: int, n_tokens: int) -> int:
        return n_tokens * self.ages[j] * self.bins

    def code(self, j: int, prev: np.ndarray, age: np.ndarray, bins: np.ndarray) -> np.ndarray:
        bucket = np.searchsorted(AGE_EDGES, age, side="right") if self.ages[j] > 1 else 0
        return (prev * self.ages[j] + bucket) * self.bins + bins


def run_ages(tokens: np.ndarray, first: np.ndarray) -> np.ndarray:
    """(N, J): at row t, how many rows the token of row t - 1 had lasted (0 on first rows)."""
    n, n_chan = tokens.shape
    out = np.zeros((n, n_chan), dtype=np.int64)
    rows = np.arange(n)
    for j in range(n_chan):
        start = first | np.r_[True, tokens[1:, j] != tokens[:-1, j]]
        length = rows - np.maximum.accumulate(np.where(start, rows, 0)) + 1
        out[1:, j] = length[:-1]
    out[first] = 0
    return out


def driver_bin(driver: Driver, last: np.ndarray) -> np.ndarray:
    if driver.column < 0:
        return np.zeros(len(last), dtype=np.int64)
    return np.searchsorted(driver.edges, last[:, driver.column]).astype(np.int64)


def context_codes(
    layout: Contexts, drivers: list[Driver], tokens: np.ndarray, prev: np.ndarray,
    first: np.ndarray, last: np.ndarray, now: np.ndarray,
) -> np.ndarray:
    """(N, J) transition context of every row and channel (the previous token without
    drivers)."""
    if not drivers:
        return prev
    ages = run_ages(tokens, first)
    return np.column_stack([
        layout.code(j, prev[:, j], ages[:, j], driver_bin(driver, now if driver.current else last))
        for j, driver in enumerate(drivers)
    ]).astype(np.int64)


def _conditional_entropy(code: np.ndarray, context: np.ndarray) -> float:
    joint = np.unique(np.stack([context, code]), axis=1, return_counts=True)[1]
    ctx = np.unique(context, return_counts=True)[1]
    n = len(code)
    return float(-(joint / n * np.log(joint)).sum() + (ctx / n * np.log(ctx)).sum())


def choose_driver(
    code: np.ndarray, prev: np.ndarray, scores: np.ndarray, first: np.ndarray, current: bool,
    own: int,
) -> Driver:
    """The numeric column whose binned value (last before the step, or `current`: at the
    step) best predicts the token beyond its past. A token is never driven by the current
    value of its own column, which it decides."""
    rows = ~first
    best = Driver(-1, np.zeros(0), current, MIN_DRIVER_GAIN)
    if rows.sum() < 10 or scores.shape[1] == 0 or len(np.unique(code[rows])) < 2:
        return best
    base = _conditional_entropy(code[rows], prev[rows])
    for col in range(scores.shape[1]):
        if current and col == own:
            continue
        values = scores[rows, col]
        edges = np.unique(np.quantile(values, np.linspace(0, 1, DRIVER_BINS + 1)[1:-1]))
        bins = np.searchsorted(edges, values)
        gain = base - _conditional_entropy(code[rows], prev[rows] * DRIVER_BINS + bins)
        if gain > best.gain:
            best = Driver(col, edges, current, gain)
    return best


def choose_drivers(
    tokens: np.ndarray, prev: np.ndarray, last: np.ndarray, now: np.ndarray,
    first: np.ndarray, token_columns: list[int], current: bool,
) -> list[Driver]:
    """Per token channel, the driver of its transitions: by the last value, or with `current`
    the current one where that predicts better.

    A gust is reported when the wind is strong now, not an hour ago. A token driven by a
    current value is drawn after the step's values (so it is left out of their regressors);
    to keep that order acyclic, a column whose own token is drawn after the values cannot
    drive another token by its current value.
    """
    n_chan = tokens.shape[1]
    by_last = [choose_driver(tokens[:, j], prev[:, j], last, first, False, -1)
               for j in range(n_chan)]
    if not current:
        return by_last
    own = [*token_columns, *[-1] * (n_chan - len(token_columns))]
    by_now = [choose_driver(tokens[:, j], prev[:, j], now, first, True, own[j])
              for j in range(n_chan)]
    chosen = list(by_last)
    after_columns: set[int] = set()  # numeric columns whose token is drawn after the values
    driving_now: set[int] = set()  # columns some token reads at the current step
    for j in sorted(range(n_chan), key=lambda j: -by_now[j].gain):
        candidate = by_now[j]
        if candidate.column < 0 or candidate.gain <= by_last[j].gain:
            continue
        if candidate.column in after_columns or own[j] in driving_now:
            continue
        chosen[j] = candidate
        driving_now.add(candidate.column)
        if own[j] >= 0:
            after_columns.add(own[j])
    return chosen
