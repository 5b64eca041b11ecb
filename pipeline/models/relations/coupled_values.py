"""Coupled values: a column that takes one value exactly on the rows where another column takes
one value (wind direction is 0 exactly where the wind speed is 0: calm has no direction).

Such a value is not a reading of the column but a state of its partner. Modelled as a reading
it is a jump (a wind from 200 degrees, calm, 200 again reads 200, 0, 200), and a model that
draws the two columns apart breaks the rule (direction 0 with wind, calm with a direction,
which real data never has). So the follower's value
on those rows is left out of its model (unobserved: its last reading carries over, as the wind
keeps its direction through a calm hour), and put back wherever the partner takes its value.

Which column follows: the one that jumps onto the coupled value. Wind speed dies down to 0
(the hour before calm is light wind), the direction does not come from anywhere near 0; the
follower is the column whose value before the coupled rows is the farther from the coupled
value, in rank.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

MIN_COUPLED_ROWS = 20  # fewer rows than this on a value: an accident, not a state
MAX_VALUES_TRIED = 20  # a column's most frequent values (a state such as calm is common)


@dataclass(frozen=True)
class CoupledValue:
    """`column == value` on exactly the rows where `partner == partner_value` (where
    `column` is observed)."""

    column: str
    value: float
    partner: str
    partner_value: float

    def rows(self, frame: pd.DataFrame) -> np.ndarray:
        """Rows on which the rule sets the column: its partner is on its value."""
        partner = pd.to_numeric(frame[self.partner], errors="coerce").to_numpy(dtype=float)
        return partner == self.partner_value

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The column set to its value where the partner is on its partner value (a missing
        value stays missing, as in the data). The partner must be final."""
        values = pd.to_numeric(frame[self.column], errors="coerce").to_numpy(dtype=float)
        out = frame.copy()
        out[self.column] = np.where(self.rows(frame) & ~np.isnan(values), self.value, values)
        return out


def find_coupled_values(
    frame: pd.DataFrame, columns: list[str], first: np.ndarray
) -> list[CoupledValue]:
    """Couplings between the numeric `columns` of rows ordered by sequence (`first`: each
    sequence's first row). A column follows at most one partner and a follower leads none."""
    values = {c: pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=float) for c in columns}
    # a constant column is its own rule: coupled to it, every row would be set and none left
    # to model (a state's own trend, zero wherever that state is held out of training)
    values = {c: x for c, x in values.items() if len(np.unique(x[~np.isnan(x)])) > 1}
    found: dict[frozenset[str], CoupledValue] = {}
    for column in values:
        for coupling in _couplings_of(values, column):
            pair = frozenset((coupling.column, coupling.partner))
            if pair not in found:
                found[pair] = _follower(values, coupling, first)
    couplings: list[CoupledValue] = []
    for coupling in found.values():
        followers = {c.column for c in couplings}
        if coupling.column not in followers | {c.partner for c in couplings} and (
            coupling.partner not in followers
        ):
            couplings.append(coupling)
    return couplings


def _couplings_of(values: dict[str, np.ndarray], column: str) -> list[CoupledValue]:
    x = values[column]
    observed = ~np.isnan(x)
    distinct, counts = np.unique(x[observed], return_counts=True)
    frequent = np.argsort(-counts, kind="stable")[:MAX_VALUES_TRIED]
    out = []
    for value in distinct[frequent[counts[frequent] >= MIN_COUPLED_ROWS]]:
        on_value = x == value
        rows = np.flatnonzero(on_value)
        for name, partner in values.items():
            if name == column:
                continue
            # a look at the first rows settles most candidates before the full check
            head = partner[rows[:64]]
            if np.isnan(head).any() or (head != head[0]).any():
                continue
            on_rows = partner[rows]
            if np.isnan(on_rows).any() or (on_rows != on_rows[0]).any():
                continue
            partner_on = partner == on_rows[0]
            if np.array_equal(partner_on[observed], on_value[observed]):
                out.append(CoupledValue(column, float(value), name, float(on_rows[0])))
    return out


def _follower(
    values: dict[str, np.ndarray], coupling: CoupledValue, first: np.ndarray
) -> CoupledValue:
    """The coupling oriented so that the column which jumps onto its value follows."""
    reverse = CoupledValue(
        coupling.partner, coupling.partner_value, coupling.column, coupling.value
    )
    jump = _jump(values[coupling.column], coupling.value, first)
    reverse_jump = _jump(values[coupling.partner], coupling.partner_value, first)
    return coupling if jump >= reverse_jump else reverse


def _jump(values: np.ndarray, value: float, first: np.ndarray) -> float:
    """Mean distance, in rank (0-1), from the value before a run on `value` to `value`."""
    ranks = pd.Series(values).rank(pct=True).to_numpy()
    on = values == value
    before_ok = ~first & ~np.isnan(np.r_[np.nan, values[:-1]])
    enters = on & before_ok & ~np.r_[False, on[:-1]]
    if not enters.any():
        return 0.0
    target = float(np.nanmean(ranks[on]))
    return float(np.mean(np.abs(np.r_[np.nan, ranks[:-1]][enters] - target)))
