"""Seeded train/holdout split. The holdout never reaches a model: it is the privacy baseline."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd

from pipeline.errors import PipelineError
from pipeline.schema import DatasetSchema

MIN_ROWS = 10


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


def split_train_holdout(
    df: pd.DataFrame, schema: DatasetSchema, holdout_fraction: float = 0.2, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame, Split]:
    """Return (train, holdout, split); time series are split per entity or per sequence tail."""
    if not 0 < holdout_fraction < 1:
        raise PipelineError(f"holdout_fraction must be between 0 and 1, got {holdout_fraction}")
    if schema.is_time_series:
        from pipeline.timeseries import split_sequences

        return split_sequences(df, schema, holdout_fraction=holdout_fraction, seed=seed)
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
