"""Indicators of one choice: 0/1 columns of which at most one is 1 on any row (the region
dummies reg661..reg669 of Card's schooling data, one per row; flags of exclusive states with
an implicit "none"). A model that draws each indicator on its own sets none or several on a
row (on Card, 44 % of rows), which tells a synthetic row at a glance. The model sees the
choice as one categorical column, under the first indicator's name (0 for none, i for the
i-th indicator); after sampling it is spread back onto the indicators.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# Rows on which the group's indicators would meet, summed over its pairs, were they
# independent: never meeting then is no coincidence. A group that covers every row (exactly
# one indicator set on each) needs no such evidence.
MIN_EXPECTED_MEETINGS = 5.0
# A column joins a group only where it would meet the group on at least this many rows by
# chance: two rare flags that never meet on 500 rows say nothing.
MIN_EXPECTED_JOIN = 1.0


@dataclass(frozen=True)
class OneOf:
    columns: tuple[str, ...]
    flags: tuple[bool, ...]  # which indicators are booleans (True/False), not 0/1 numbers

    @property
    def holder(self) -> str:
        return self.columns[0]

    def holds(self, frame: pd.DataFrame) -> bool:
        values = _indicators(frame, list(self.columns))
        return values is not None and bool((values.sum(axis=1) <= 1).all())

    def to_choice(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The indicators as one column: 0 where none is set, else the set one's position."""
        values = frame[list(self.columns)].to_numpy(dtype=float)
        choice = values @ np.arange(1, len(self.columns) + 1)
        out = frame.drop(columns=list(self.columns[1:]))
        out[self.holder] = choice.astype(np.int64)
        return out

    def choice_of(self, asked: dict[str, object]) -> int:
        """The choice that conditions on indicators ask for: the one set, or refused."""
        chosen = [c for c, value in asked.items() if bool(value)]
        if len(chosen) != 1:
            from pipeline.errors import PipelineError

            raise PipelineError(
                f"{sorted(asked)} are indicators of one choice ({', '.join(self.columns)}: at "
                "most one set on a row); condition on the one that is set, with True or 1")
        return self.columns.index(chosen[0]) + 1

    def from_choice(self, frame: pd.DataFrame) -> pd.DataFrame:
        choice = pd.to_numeric(frame[self.holder], errors="coerce").fillna(0).to_numpy()
        out = frame.copy()
        for position, (column, flag) in enumerate(zip(self.columns, self.flags), start=1):
            set_here = np.round(choice) == position
            out[column] = set_here if flag else set_here.astype(np.int64)
        return out


def fit_one_of(train: pd.DataFrame, columns: list[str]) -> OneOf | None:
    """The group refitted on the training rows, if its indicators still never meet there."""
    flags = tuple(pd.api.types.is_bool_dtype(train[c]) for c in columns)
    group = OneOf(tuple(columns), flags)
    return group if group.holds(train) else None


def find_one_of(frame: pd.DataFrame, columns: list[str]) -> list[list[str]]:
    """Groups of two or more 0/1 columns that never meet on a row, each grown greedily from
    the most frequent indicator, kept where meeting by chance would have been expected."""
    binary = [c for c in columns if _indicators(frame, [c]) is not None]
    values = _indicators(frame, binary)
    if values is None or len(binary) < 2:
        return []
    share = values.mean(axis=0)
    keep = (share > 0) & (share < 1)
    values, share = values[:, keep], share[keep]
    names = [c for c, k in zip(binary, keep) if k]
    meetings = values.T @ values
    n, used, groups = len(values), set(), []
    for first in np.argsort(-share, kind="stable"):
        if first in used:
            continue
        group = [int(first)]
        for other in np.argsort(-share, kind="stable"):
            other = int(other)
            if (other in used or other in group or meetings[other, group].any()
                    or n * share[other] * share[group].sum() < MIN_EXPECTED_JOIN):
                continue
            group.append(other)
        if len(group) > 1 and _beyond_chance(values[:, group], share[group], n):
            used |= set(group)
            groups.append(sorted(group))
    return [[names[j] for j in group] for group in sorted(groups)]


def _beyond_chance(values: np.ndarray, share: np.ndarray, n: int) -> bool:
    if (values.sum(axis=1) == 1).all():
        return True
    pairs = (share.sum() ** 2 - (share ** 2).sum()) / 2
    return n * pairs >= MIN_EXPECTED_MEETINGS


def _indicators(frame: pd.DataFrame, columns: list[str]) -> np.ndarray | None:
    """The columns as a 0/1 matrix, or None where one holds anything else (or is missing)."""
    if not columns:
        return None
    block = frame[columns]
    if block.isna().any().any():
        return None
    try:
        values = block.to_numpy(dtype=float)
    except (TypeError, ValueError):
        return None
    return values if np.isin(values, (0.0, 1.0)).all() else None
