"""Columns that are missing together: all present or all absent on a row (a co-applicant's
income, its verification and its ratio), on every row or nearly (a rate and its logarithm,
missing where the rate is 0; questionnaire items skipped together on 99.5 % of rows). A model
that learns each column's missingness on its own breaks the pattern on many rows (a small
table's gmm of two components kept a rework rate and its logarithm present together on 5 %
of rows for 26 %); after sampling, the first column's missingness is given to the others.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

MIN_MISSING_ROWS = 5  # fewer missing rows than this: a coincidence, not a pattern
MIN_MISSING_SHARE = 0.005
# Rows on which a column's missingness may differ from its group's first column's: at most
# this share of the rows either is missing on.
MAX_DISAGREEMENT = 0.01


@dataclass(frozen=True)
class MissingTogether:
    columns: tuple[str, ...]

    def holds(self, frame: pd.DataFrame) -> bool:
        masks = frame[list(self.columns)].isna().to_numpy()
        return all(_together(masks[:, 0], masks[:, j]) for j in range(1, masks.shape[1]))

    def apply(self, frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        """Missing where the first column is; where it is present and another column is
        not, the others all take the values of one random row that has them all, so the
        relations among them (a start before its end) hold on that row too."""
        absent = frame[self.columns[0]].isna().to_numpy()
        rest = list(self.columns[1:])
        gaps = frame[rest].isna().to_numpy().any(axis=1)
        need = np.flatnonzero(~absent & gaps)
        donors = np.flatnonzero(~absent & ~gaps)
        picked = rng.choice(donors, size=len(need)) if len(need) and len(donors) else None
        for column in rest:
            values = frame[column].to_numpy(dtype=object, copy=True)
            if picked is not None:
                values[need] = values[picked]
            values[absent] = None
            frame[column] = pd.Series(values, index=frame.index).astype(frame[column].dtype)
        return frame


def find_missing_together(frame: pd.DataFrame, columns: list[str]) -> list[list[str]]:
    """Groups of two or more columns with the same (or nearly the same, MAX_DISAGREEMENT),
    non-trivial missing rows, each led by its first column in the table's order."""
    floor = max(MIN_MISSING_ROWS, MIN_MISSING_SHARE * len(frame))
    groups: dict[bytes, list[str]] = {}
    masks: dict[bytes, np.ndarray] = {}
    for column in columns:
        mask = frame[column].isna().to_numpy()
        if floor <= mask.sum() < len(frame):
            key = np.packbits(mask).tobytes()
            masks.setdefault(key, mask)
            groups.setdefault(key, []).append(column)
    merged: list[tuple[np.ndarray, list[str]]] = []
    for key, group in groups.items():  # exact groups first, then near ones join a leader
        leader = next((m for m in merged if _together(m[0], masks[key])), None)
        if leader is None:
            merged.append((masks[key], list(group)))
        else:
            leader[1].extend(group)
    return [group for _, group in merged if len(group) > 1]


def _together(a: np.ndarray, b: np.ndarray) -> bool:
    """Two missing masks that agree on all rows but a few (MAX_DISAGREEMENT)."""
    differ = int(np.count_nonzero(a != b))
    either = int(np.count_nonzero(a | b))
    return differ <= MAX_DISAGREEMENT * min(len(a), either)
