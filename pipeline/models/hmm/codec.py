"""How the HMM reads columns: rank-Gaussian scores for numeric values, tokens for point
masses and missing values, integer codes for categories, and the way back to values."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pipeline.models.hmm.step_scale import PowerScale, choose_scale
from pipeline.models.rank_gaussian import RankGaussian
from pipeline.schema import DatasetSchema, Role
from pipeline.timeseries import index_as_seconds

# Quantile knots kept per numeric column, spaced evenly in score so the tails keep their shape.
MAX_KNOTS = 1001
# A value holding at least this share of a column's observed values is a point mass (token).
SPIKE_SHARE = 0.10
MAX_SPIKES = 5


@dataclass(frozen=True)
class NumericColumn:
    """A varying numeric (or datetime) column: its score map and its tokens.

    Token 0 is a continuous value; then `missing` if the column can be missing; then one token
    per point mass. Columns with neither have no token channel.
    """

    name: str
    # Values off the point masses set the one scale of targets, lagged inputs and drivers,
    # since a second scale over all values would make a step regress on a compressed copy
    # of its own past: rank scores, or a power of the values (`step_scale`).
    continuous: RankGaussian | PowerScale
    is_datetime: bool
    has_missing: bool
    spikes: np.ndarray

    @property
    def n_tokens(self) -> int:
        return 1 + int(self.has_missing) + len(self.spikes)

    @property
    def tokenised(self) -> bool:
        return self.n_tokens > 1

    def tokens(self, values: np.ndarray) -> np.ndarray:
        codes = np.zeros(len(values), dtype=np.int64)
        offset = 1
        if self.has_missing:
            codes[np.isnan(values)] = 1
            offset = 2
        for i, spike in enumerate(self.spikes):
            codes[values == spike] = offset + i
        return codes

    def spike_code(self, code: np.ndarray) -> np.ndarray:
        """Index into `spikes` of each token (-1 for continuous or missing)."""
        return code - (2 if self.has_missing else 1)


@dataclass(frozen=True)
class Codec:
    numeric: list[NumericColumn]
    categorical: list[str]
    labels: list[list[Any]]  # per categorical column; code len(labels) means missing
    static_cat: list[str]
    static_cat_labels: list[list[Any]]
    static_num: list[str]
    static_transforms: list[RankGaussian]
    static_missing: np.ndarray  # real missing rate of each numeric static column
    static_is_datetime: list[bool]
    all_missing: list[str] = field(default_factory=list)  # never observed: output stays NA

    @property
    def spike_free(self) -> np.ndarray:
        """(d,) bool: numeric columns without point masses."""
        return np.array([len(col.spikes) == 0 for col in self.numeric], dtype=bool)

    @property
    def step_powers(self) -> dict[str, float]:
        """The columns whose steps are modelled on a power of their values (`step_scale`)."""
        return {col.name: col.continuous.power for col in self.numeric
                if isinstance(col.continuous, PowerScale)}

    @property
    def token_columns(self) -> list[int]:
        return [j for j, col in enumerate(self.numeric) if col.tokenised]

    @property
    def channel_sizes(self) -> list[int]:
        sizes = [self.numeric[j].n_tokens for j in self.token_columns]
        return sizes + [len(lab) + 1 for lab in self.labels]

    @property
    def static_sizes(self) -> list[int]:
        return [len(lab) + 1 for lab in self.static_cat_labels]

    def scores(self, values: np.ndarray, before: np.ndarray) -> np.ndarray:
        """Scores of one step's values (all of them, point masses included), the value
        before carried where missing: the lagged inputs and token drivers of later steps."""
        if not self.numeric:
            return before
        scores = np.column_stack(
            [col.continuous.forward(values[:, j]) for j, col in enumerate(self.numeric)]
        )
        return np.where(np.isnan(scores), before, scores)

    def continuous_token(self, tokens: np.ndarray) -> np.ndarray:
        """(n, d): whether each numeric column's value this step is its continuous part."""
        mask = np.ones((len(tokens), len(self.numeric)), dtype=bool)
        for i, j in enumerate(self.token_columns):
            mask[:, j] = tokens[:, i] == 0
        return mask

    def values(self, x: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        """Column values of one step from its continuous scores and its tokens."""
        return self.with_tokens(self.continuous_values(x), tokens)

    def continuous_values(self, x: np.ndarray) -> np.ndarray:
        return np.column_stack(
            [col.continuous.inverse(x[:, j]) for j, col in enumerate(self.numeric)]
        ) if self.numeric else x

    def with_tokens(self, values: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        """The continuous values with point masses and missing values put where the tokens
        say (in place)."""
        for i, j in enumerate(self.token_columns):
            col, code = self.numeric[j], tokens[:, i]
            if len(col.spikes):
                spike = col.spike_code(code)
                values[:, j] = np.where(spike >= 0, col.spikes[np.maximum(spike, 0)], values[:, j])
            if col.has_missing:
                values[code == 1, j] = np.nan
        return values


def numbers(values: pd.Series, is_datetime: bool) -> np.ndarray:
    """A column as floats: seconds for datetimes, NaN where missing or not a number."""
    if is_datetime:
        out = np.full(len(values), np.nan)
        present = values.notna().to_numpy()
        out[present] = index_as_seconds(values[present])
        return out
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def from_numbers(values: np.ndarray, is_datetime: bool) -> Any:
    """The inverse of `numbers`: datetimes back from seconds, NaN as NaT."""
    if not is_datetime:
        return values
    stamps = pd.to_datetime(np.round(np.nan_to_num(values) * 1e9).astype("int64"), unit="ns")
    return pd.Series(stamps).where(~np.isnan(values)).to_numpy()


def _labels(role: Role, categories: list[Any] | None, values: pd.Series) -> list[Any]:
    if role == Role.boolean:
        return [False, True]
    return list(categories) if categories else sorted(values.dropna().unique().tolist(), key=str)


def spikes(observed: np.ndarray) -> np.ndarray:
    """The point masses of a column's observed values, increasing."""
    values, counts = np.unique(observed, return_counts=True)
    heavy = np.argsort(-counts)[:MAX_SPIKES]
    heavy = heavy[counts[heavy] >= SPIKE_SHARE * len(observed)]
    return np.sort(values[heavy])


def build_codec(
    frame: pd.DataFrame, schema: DatasetSchema, heads: pd.DataFrame, hidden: dict[str, np.ndarray],
    first: np.ndarray | None,
) -> Codec:
    """`hidden`: rows of a column whose value a rule sets (`coupled_values`), not modelled;
    `first`: each row starts a sequence (rows in sequence order), None for rank scores only
    (no `step_scale` choice)."""
    skip = {schema.sequence_key, schema.sequence_index}
    numeric, categorical, labels, all_missing = [], [], [], []
    static_cat, static_cat_labels, static_num, static_tr, static_miss = [], [], [], [], []
    static_dt = []
    for name in frame.columns:
        if name in skip:
            continue
        spec = schema.column(name)
        discrete = spec.role in (Role.categorical, Role.boolean)
        is_dt = spec.role == Role.datetime
        if spec.static:
            if discrete:
                static_cat.append(name)
                static_cat_labels.append(_labels(spec.role, spec.categories, heads[name]))
                continue
            nums = numbers(heads[name], is_dt)
            if np.isnan(nums).all():
                all_missing.append(name)
                continue
            static_num.append(name)
            static_tr.append(_score_map(nums[~np.isnan(nums)]))
            static_miss.append(float(np.isnan(nums).mean()))
            static_dt.append(is_dt)
        elif discrete:
            categorical.append(name)
            labels.append(_labels(spec.role, spec.categories, frame[name]))
        else:
            column = _numeric_column(
                name, numbers(frame[name], is_dt), is_dt, hidden.get(name), first)
            if column is None:
                all_missing.append(name)
            else:
                numeric.append(column)
    return Codec(
        numeric=numeric, categorical=categorical, labels=labels, static_cat=static_cat,
        static_cat_labels=static_cat_labels, static_num=static_num,
        static_transforms=static_tr, static_missing=np.array(static_miss),
        static_is_datetime=static_dt, all_missing=all_missing,
    )


def _numeric_column(
    name: str, nums: np.ndarray, is_dt: bool, hidden: np.ndarray | None,
    first: np.ndarray | None,
) -> NumericColumn | None:
    """The codec of one varying numeric column; None when it is never observed."""
    modelled = np.where(hidden, np.nan, nums) if hidden is not None else nums
    observed = modelled[~np.isnan(modelled)]
    if len(observed) == 0:
        return None
    point_masses = spikes(observed)
    rest = observed[~np.isin(observed, point_masses)]
    scale = _score_map(rest if len(rest) else observed)
    if first is not None and not is_dt and len(rest):  # a time steps with the cadence
        scale = choose_scale(np.where(np.isin(modelled, point_masses), np.nan, modelled),
                             rest, first, scale)
    return NumericColumn(
        name, scale, is_dt, has_missing=bool(np.isnan(nums).any()), spikes=point_masses,
    )


def _score_map(values: np.ndarray) -> RankGaussian:
    return RankGaussian.fit(values, MAX_KNOTS, spacing="score")
