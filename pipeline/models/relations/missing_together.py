"""Columns that are missing together: always all present or all absent on a row (a
co-applicant's income, its verification and its ratio). A model that learns each column's
missingness on its own breaks the pattern on some rows; after sampling, the first column's
missingness is given to the others.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

MIN_MISSING_ROWS = 5  # fewer missing rows than this: a coincidence, not a pattern
MIN_MISSING_SHARE = 0.005


@dataclass(frozen=True)
class MissingTogether:
    columns: tuple[str, ...]

    def holds(self, frame: pd.DataFrame) -> bool:
        masks = frame[list(self.columns)].isna().to_numpy()
        return bool((masks == masks[:, :1]).all())

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
    """Groups of two or more columns with the same, non-trivial missing rows."""
    floor = max(MIN_MISSING_ROWS, MIN_MISSING_SHARE * len(frame))
    groups: dict[bytes, list[str]] = {}
    for column in columns:
        mask = frame[column].isna().to_numpy()
        if floor <= mask.sum() < len(frame):
            groups.setdefault(np.packbits(mask).tobytes(), []).append(column)
    return [group for group in groups.values() if len(group) > 1]
