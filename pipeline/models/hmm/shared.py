"""Covariates every entity shares (a national price index beside state prices): modelled once,
as their own series, and drawn as one path per sample that every synthetic entity reads at
its steps. Their scores enter each entity's step equation as inputs, beside the seasonal
terms, so entity values still follow them.

An entity model that drew them itself would give every entity its own path: the common path
(and its persistence) would be lost, and entities would disagree at the same step. A shared
column as persistent as an index that only drifts (a price level) is modelled by its steps
and summed back from its real start, since a stationary chain over a few dozen steps cannot
keep its persistence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipeline.models.hmm.codec import MAX_KNOTS, numbers
from pipeline.models.rank_gaussian import RankGaussian
from pipeline.schema import DatasetSchema, Role
from pipeline.timeseries import index_as_seconds


@dataclass(frozen=True)
class SharedCovariates:
    columns: list[str]  # every shared column
    numeric: list[str]  # the numeric ones: their scores are inputs of the entity model
    maps: list[RankGaussian]  # score map of each numeric one, from the real path
    public: list[str]  # columns whose real path is reused as it is
    real_grid: np.ndarray  # the real path's steps, as index numbers
    real_values: list[list[Any]]  # each public column's real path
    path_model: Any  # the FittedHMM of the shared columns as one series
    integrated: list[str]  # columns modelled by their steps ...
    starts: list[float]  # ... and summed back from these real first values

    @property
    def width(self) -> int:
        return len(self.numeric)

    def scores(self, path: pd.DataFrame, at: np.ndarray) -> np.ndarray:
        """(n, width) scores of the numeric shared columns at index numbers `at` (0 where
        missing: the entity model reads an unknown covariate as its average)."""
        rows = nearest(path["_at"].to_numpy(), at)
        out = np.column_stack([
            m.forward(numbers(path[name], False)[rows]) for name, m in zip(self.numeric, self.maps)
        ]) if self.numeric else np.zeros((len(at), 0))
        return np.nan_to_num(out, nan=0.0)

    def values(self, path: pd.DataFrame, at: np.ndarray) -> dict[str, np.ndarray]:
        rows = nearest(path["_at"].to_numpy(), at)
        return {name: path[name].to_numpy()[rows] for name in self.columns}

    def as_levels(self, path: pd.DataFrame) -> pd.DataFrame:
        """The drawn path with integrated columns summed back to levels and the public
        columns' real values put back."""
        for name, start in zip(self.integrated, self.starts):
            steps = np.nan_to_num(numbers(path[name], False)[1:])
            path[name] = start + np.r_[0.0, np.cumsum(steps)]
        if not self.public:
            return path
        rows = nearest(self.real_grid, path["_at"].to_numpy())
        for name, real in zip(self.public, self.real_values):
            path[name] = np.asarray(real, dtype=object)[rows]
        return path


def shared_columns(frame: pd.DataFrame, schema: DatasetSchema) -> list[str]:
    return [c.name for c in schema.columns if c.shared and c.name in frame.columns]


def fit_shared(
    ordered: pd.DataFrame, schema: DatasetSchema, fit: Callable[[pd.DataFrame, DatasetSchema], Any]
) -> SharedCovariates | None:
    """The shared columns' model, fitted by `fit` (the HMM's own fit) on their real path."""
    names = shared_columns(ordered, schema)
    if not names:
        return None
    index = schema.sequence_index
    path = ordered.groupby(index, sort=True)[names].first().reset_index()
    at = _index_numbers(path[index], schema)
    numeric = [n for n in names if schema.column(n).role == Role.numerical]
    public = [n for n in names if schema.column(n).shared == "public"]
    integrated = [n for n in numeric if n not in public and _drifts(path[n])]
    starts = [float(path[n].dropna().iloc[0]) for n in integrated]
    modelled = path.copy()
    for name in integrated:  # the first step's own value is never read back
        modelled[name] = path[name].ffill().diff().bfill()
    return SharedCovariates(
        columns=names, numeric=numeric,
        maps=[RankGaussian.fit(_present(numbers(path[n], False)), MAX_KNOTS, spacing="score")
              for n in numeric],
        public=public, real_grid=at,
        real_values=[path[n].astype(object).where(path[n].notna(), None).tolist()
                     for n in public],
        path_model=fit(modelled, path_schema(schema, names, integrated)),
        integrated=integrated, starts=starts,
    )


def path_schema(
    schema: DatasetSchema, names: list[str], integrated: list[str]
) -> DatasetSchema:
    """The schema of the shared columns as one series over the index (integrated ones as
    steps: unbounded)."""
    keep = {schema.sequence_index, *names}
    unbounded = {"minimum": None, "maximum": None, "step": None}
    columns = [c.model_copy(update={"shared": None, "static": False,
                                    **(unbounded if c.name in integrated else {})})
               for c in schema.columns if c.name in keep]
    return schema.model_copy(update={
        "columns": columns, "sequence_key": None, "dependencies": [], "relations": [],
    })


def real_scores(shared: SharedCovariates | None, ordered: pd.DataFrame) -> np.ndarray:
    """(N, width) the training rows' own shared scores: the entity model's inputs."""
    if shared is None or not shared.numeric:
        return np.zeros((len(ordered), 0))
    out = np.column_stack([m.forward(numbers(ordered[n], False))
                           for n, m in zip(shared.numeric, shared.maps)])
    return np.nan_to_num(out, nan=0.0)


def path_frame(path: pd.DataFrame, index: str, is_datetime: bool) -> pd.DataFrame:
    """A simulated path with its steps as index numbers in `_at`, sorted."""
    values = path[index]
    at = index_as_seconds(values) if is_datetime else values.to_numpy(dtype=float)
    return path.assign(_at=at).sort_values("_at", kind="stable").reset_index(drop=True)


def _index_numbers(values: pd.Series, schema: DatasetSchema) -> np.ndarray:
    if schema.column(schema.sequence_index).role == Role.datetime:
        return index_as_seconds(pd.to_datetime(values))
    return values.to_numpy(dtype=float)


# A shared column is modelled by its steps when its path is at least this persistent.
DRIFT_LAG1 = 0.95
MIN_DRIFT_STEPS = 8


def _drifts(values: pd.Series) -> bool:
    present = pd.to_numeric(values, errors="coerce").dropna()
    if len(present) < MIN_DRIFT_STEPS or present.nunique() < 3:
        return False
    return bool(present.autocorr(1) >= DRIFT_LAG1)


def _present(values: np.ndarray) -> np.ndarray:
    present = values[~np.isnan(values)]
    return present if len(present) else np.zeros(1)


def nearest(grid: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Row of `grid` (sorted) nearest to each of `at`."""
    right = np.clip(np.searchsorted(grid, at), 0, len(grid) - 1)
    left = np.clip(right - 1, 0, len(grid) - 1)
    return np.where(np.abs(grid[left] - at) <= np.abs(grid[right] - at), left, right)
