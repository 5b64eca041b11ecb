"""Memorised entities: is each synthetic sequence nearer to a training entity's whole
trajectory than unseen (held-out) entities' trajectories are?

Row distances cannot tell a replayed trajectory from a good model: every row of a replay can
sit between real rows. Here each sequence is one record, its trajectory: the numeric columns,
robust-scaled by the training data, compared step by step over the steps both sequences have
(by position, the first MAX_STEPS). With whole entities held out, a synthetic sequence
that copies nobody is as likely to have its nearest trajectory among the training entities
as among the held-out ones, in proportion to their numbers; an excess is evidence of replay.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.schema import DatasetSchema, Role
from pipeline.timeseries import check_time_series
from pipeline.validation.evidence import share_p_value

MAX_STEPS = 200  # steps compared per trajectory (the cost grows with entities x steps)
MAX_SYNTHETIC = 500  # synthetic sequences checked
# Excess share over chance allowed before it counts as evidence (as for row DCR: a model that
# generalises sits slightly nearer the entities it learnt from).
MARGIN = 0.02


def entity_dcr(train: pd.DataFrame, synthetic: pd.DataFrame, holdout: pd.DataFrame,
               schema: DatasetSchema, seed: int = 0) -> dict:
    """Share of synthetic sequences whose nearest trajectory is a training entity's, its
    chance value, the p-value of its excess, and each sequence's nearest-train over
    nearest-holdout distance ratio (median)."""
    columns = _trajectory_columns(schema, train, synthetic)
    if not columns or schema.sequence_key is None:
        return _empty()
    centre = train[columns].median()
    scale = (train[columns].quantile(0.75) - train[columns].quantile(0.25)).replace(0, 1.0)
    real, held, syn = (_trajectories(f, schema, columns, centre, scale)
                       for f in (train, holdout, synthetic))
    if len(real) == 0 or len(held) == 0 or len(syn) == 0:
        return _empty()
    rng = np.random.default_rng(seed)
    if len(syn) > MAX_SYNTHETIC:
        syn = syn[rng.choice(len(syn), MAX_SYNTHETIC, replace=False)]
    to_train = np.array([_nearest(s, real) for s in syn])
    to_holdout = np.array([_nearest(s, held) for s in syn])
    nearer = (to_train < to_holdout).sum() + 0.5 * (to_train == to_holdout).sum()
    chance = len(real) / (len(real) + len(held))
    share = float(nearer / len(syn))
    excess = (share - chance) / (1 - chance)
    allowed = chance + MARGIN * (1 - chance)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = float(np.nanmedian(to_train / to_holdout))
    return {
        "share": share, "chance": chance, "excess": float(excess),
        "p_value": share_p_value(int(round(nearer)), len(syn), allowed),
        "median_ratio": ratio, "n_synthetic": len(syn), "n_train": len(real),
        "n_holdout": len(held),
    }


def _empty() -> dict:
    return {"share": float("nan"), "chance": float("nan"), "excess": float("nan"),
            "p_value": 1.0, "median_ratio": float("nan"), "n_synthetic": 0, "n_train": 0,
            "n_holdout": 0}


def _trajectory_columns(schema: DatasetSchema, *frames: pd.DataFrame) -> list[str]:
    return [c.name for c in schema.columns
            if c.role == Role.numerical and not c.derived_from_index and not c.shared
            and c.name not in (schema.sequence_key, schema.sequence_index) and not c.empty
            and all(c.name in f.columns for f in frames)]


def _trajectories(frame: pd.DataFrame, schema: DatasetSchema, columns: list[str],
                  centre: pd.Series, scale: pd.Series) -> np.ndarray:
    """(entities, MAX_STEPS or fewer, d) scaled values, NaN after a sequence ends or where
    missing."""
    if frame.empty:
        return np.zeros((0, 0, len(columns)))
    ordered = check_time_series(frame, schema)
    values = ((ordered[columns].apply(pd.to_numeric, errors="coerce") - centre) / scale)
    groups = values.groupby(ordered[schema.sequence_key].to_numpy(), sort=False)
    length = min(MAX_STEPS, int(groups.size().max()))
    out = np.full((groups.ngroups, length, len(columns)), np.nan)
    for i, (_, rows) in enumerate(groups):
        block = rows.to_numpy(dtype=float)[:length]
        out[i, : len(block)] = block
    return out


def _nearest(sequence: np.ndarray, reference: np.ndarray) -> float:
    """Distance from one trajectory to the nearest of `reference`: the mean over the steps
    both have of the Euclidean distance (missing values left out of each step)."""
    steps = min(sequence.shape[0], reference.shape[1])
    diff = reference[:, :steps] - sequence[None, :steps]
    per_step = np.sqrt(np.nansum(diff**2, axis=2))
    both = ~np.isnan(diff).all(axis=2)
    counted = both.sum(1)
    mean = np.where(counted > 0, (per_step * both).sum(1) / np.maximum(counted, 1), np.inf)
    return float(mean.min())
