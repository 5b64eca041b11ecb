"""Whole training records that fewer than k training rows hold are never published.

Value protection keeps rare single values out. A table of few-valued columns (binned heights,
counts, flags) can still give back a whole record that stands alone in the training data,
the exact copy a re-identification starts from, with no value of it rare: a smooth model
spreads rows into the sparse edges of such a grid, onto lone records as onto empty cells.
After value protection, tabular output rows equal to such a record (on every modelled
column, missing equal to missing, as the exact-copy test compares them) are drawn again, a
few rounds at most (`Synthesizer._redraw_rare_records`), as many as they exceed real data's
own rate: a real row the training set lacks equals one of its rare records now and then
(on a small table of few-valued columns, often), and an output without any would be told
apart by their absence.

A table laid out as a grid is compared without its cell key, as the privacy tests compare it.
Only hashes are kept, as for rare values and training ids: of the rare records, and of their
values in the two columns on which rows agree least often, so that a row whose values there
no rare record has is cleared without hashing it whole (on a table of measurements, nearly
every row).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.schema import DatasetSchema
from pipeline.validation.encoding import canonical_frame, personal_columns
from pipeline.validation.grid_keys import grid_layout
from pipeline.validation.record_matches import row_hashes
from pipeline.value_protection import in_sorted

# Columns whose values together screen rows before a whole row is hashed: one column of
# rounded numbers still matches some training value on many rows, two rarely do.
KEY_SIZE = 2
# Rounds of redrawing before a row that still equals a rare record is left as it is (only
# conditions that pin every column on one rare record come that far).
REDRAW_ROUNDS = 5


@dataclass
class RecordProtection:
    columns: list[str]  # the modelled columns a copy is compared on
    key: list[str]  # the (at most) two columns on which training rows agree least often
    key_hashes: np.ndarray  # sorted hashes of the rare records' values in `key`
    record_hashes: np.ndarray  # sorted hashes of the rare records
    chance_rate: float  # how often a real row the records lack equals a rare one

    def kept_share(self, hits: np.ndarray) -> float:
        """The share of rows equal to a rare record to keep, so that as many remain as real
        rows show by chance (all of them when no more than that came out)."""
        rate = float(hits.mean()) if len(hits) else 0.0
        return 1.0 if rate <= self.chance_rate else self.chance_rate / rate

    @classmethod
    def fit(cls, train: pd.DataFrame, schema: DatasetSchema, k: int) -> RecordProtection | None:
        """None when there is nothing to protect: k of 1 (off), time series (their records
        are steps of a trajectory, which `entity_dcr` guards), or no record rarer than k."""
        if k < 2 or schema.is_time_series or train.empty:
            return None
        columns = _compared_columns(train, schema)
        if not columns:
            return None
        hashes = row_hashes(train, schema, columns)
        _, inverse, counts = np.unique(hashes, return_inverse=True, return_counts=True)
        held = counts[inverse]
        rare = held < k
        if not rare.any():
            return None
        # left out, a training row whose record 2..k rows hold meets a record fewer than k
        # of the others hold: real data's own rate of such matches (as the exact-copy test
        # takes it), which the output may keep
        chance = float(np.mean((held >= 2) & (held <= k)))
        # the columns on which two rows agree least often clear the most rows
        key = sorted(columns, key=lambda c: _collision(train[c]))[:KEY_SIZE]
        key_values = _key_hashes(train.loc[rare], schema, key)
        return cls(columns, key, np.unique(key_values), np.unique(hashes[rare]), chance)

    def rare_rows(self, frame: pd.DataFrame, schema: DatasetSchema) -> np.ndarray:
        """Per row of `frame`, whether it equals a rare training record."""
        out = np.zeros(len(frame), dtype=bool)
        candidates = np.flatnonzero(in_sorted(_key_hashes(frame, schema, self.key),
                                            self.key_hashes))
        if len(candidates):
            whole = row_hashes(frame.iloc[candidates], schema, self.columns)
            out[candidates] = in_sorted(whole, self.record_hashes)
        return out


def _compared_columns(train: pd.DataFrame, schema: DatasetSchema) -> list[str]:
    """The columns a record is compared on, as the privacy tests compare them: in a table
    laid out as a grid (a cell per row: corps x year, a full factorial design), not the
    cell's key, which every row has of its own and every model writes; none if the key is
    all there is."""
    columns = personal_columns(schema, train)
    layout = grid_layout(train, schema, columns)
    return [c for c in columns if c not in layout]


def _key_hashes(frame: pd.DataFrame, schema: DatasetSchema, key: list[str]) -> np.ndarray:
    return pd.util.hash_pandas_object(canonical_frame(frame, schema, key),
                                      index=False).to_numpy()


def _collision(values: pd.Series) -> float:
    """The chance that two rows drawn at random hold the same value (missing included)."""
    shares = values.value_counts(normalize=True, dropna=False).to_numpy()
    return float(np.sum(shares**2))
