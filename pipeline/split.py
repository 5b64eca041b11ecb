"""Seeded train/holdout split. The holdout never reaches a model: it is the privacy baseline."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd

from pipeline.errors import PipelineError
from pipeline.schema import DatasetSchema
from pipeline.timeseries import check_time_series, sequence_positions

MIN_ROWS = 10
# A series with this many entities holds whole entities out. With fewer, holding out whole
# ones would leave too few to learn from (nyc_weather has 3 airports), so the last part of
# every sequence is held out instead.
MIN_ENTITIES_FOR_ENTITY_SPLIT = 10


class SplitKind(StrEnum):
    """How the holdout was chosen; it decides which privacy gates a run can apply."""

    RANDOM_ROWS = "random_rows"
    WHOLE_SEQUENCES = "whole_sequences"
    SEQUENCE_TAILS = "sequence_tails"
    GIVEN_FILE = "given_file"


@dataclass(frozen=True)
class Split:
    """The holdout's kind, carried through flow, audit and manifest, and its description."""

    kind: SplitKind
    description: str

    @property
    def exchangeable(self) -> bool:
        """False for a sequence-tail holdout: a later period, not a sample of the same rows."""
        return self.kind is not SplitKind.SEQUENCE_TAILS

    def __str__(self) -> str:
        return self.description


def _check_fraction(holdout_fraction: float) -> None:
    if not 0 < holdout_fraction < 1:
        raise PipelineError(f"holdout_fraction must be between 0 and 1, got {holdout_fraction}")


def split_train_holdout(
    df: pd.DataFrame, schema: DatasetSchema, holdout_fraction: float = 0.2, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame, Split]:
    """Return (train, holdout, split); time series are split per entity or per sequence tail."""
    if schema.is_time_series:
        return split_sequences(df, schema, holdout_fraction=holdout_fraction, seed=seed)
    _check_fraction(holdout_fraction)
    if len(df) < MIN_ROWS:
        raise PipelineError(
            f"dataset {schema.name!r} has {len(df)} rows; at least {MIN_ROWS} are needed to "
            "split off a holdout and fit a model"
        )
    order = np.random.default_rng(seed).permutation(len(df))
    n_holdout = max(1, int(round(len(df) * holdout_fraction)))
    holdout = df.iloc[np.sort(order[:n_holdout])].reset_index(drop=True)
    train = df.iloc[np.sort(order[n_holdout:])].reset_index(drop=True)
    return train, holdout, Split(
        SplitKind.RANDOM_ROWS,
        f"random rows ({1 - holdout_fraction:.0%} train / {holdout_fraction:.0%} holdout, "
        f"seed {seed})",
    )


def split_sequences(
    df: pd.DataFrame, schema: DatasetSchema, holdout_fraction: float = 0.2, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame, Split]:
    """(train, holdout, split): whole entities apart when there are enough, else the tails.

    Rows of one step never land on both sides, and neither do whole entities when the split
    is by entity, so a model cannot have seen a holdout sequence.
    """
    _check_fraction(holdout_fraction)
    ordered = check_time_series(df, schema).reset_index(drop=True)
    key = schema.sequence_key
    entities = pd.unique(ordered[key]) if key else np.array([0])
    if key and len(entities) >= MIN_ENTITIES_FOR_ENTITY_SPLIT:
        n_out = max(1, int(round(len(entities) * holdout_fraction)))
        chosen = np.random.default_rng(seed).permutation(len(entities))[:n_out]
        held = ordered[key].isin(entities[chosen])
        split = Split(SplitKind.WHOLE_SEQUENCES, f"whole sequences: {n_out} of "
                      f"{len(entities)} entities held out (seed {seed})")
    else:
        position = sequence_positions(ordered, schema)
        groups = ordered[key] if key else np.zeros(len(ordered), dtype=np.int64)
        length = position.groupby(groups).transform("size")
        n_tail = np.floor(length * holdout_fraction).clip(lower=1).where(length > 1, 0)
        held = position >= length - n_tail
        what = f"each of {len(entities)} sequences" if key else "the series"
        split = Split(SplitKind.SEQUENCE_TAILS,
                      f"sequence tails: last {holdout_fraction:.0%} of {what} held out")
    train = ordered[~held.to_numpy()].reset_index(drop=True)
    holdout = ordered[held.to_numpy()].reset_index(drop=True)
    return train, holdout, split
