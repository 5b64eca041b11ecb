"""Columns to discrete codes and continuous dimensions, and codes back to columns.

Every modelled column becomes one discrete variable: a categorical or boolean column its label
codes; a numeric or datetime column a token saying whether the value is missing, on one of the
column's point masses ("spikes"), or continuous. The continuous values of each numeric column
become one dimension of rank-Gaussian scores; a row off the continuous part leaves it NaN.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from pipeline.errors import PipelineError
from pipeline.models.codes import category_codes
from pipeline.models.params import GaussianMixtureParams
from pipeline.models.rank_gaussian import RankGaussian, rank_scores
from pipeline.models.relations.value_grids import mostly_repeated
from pipeline.schema import DatasetSchema, Role

# Distinct continuous values kept exactly (step CDF); a column with more keeps this many + 1
# quantile knots.
MAX_KNOTS = 1000


# Seconds since 1970 that pandas can hold as nanosecond timestamps, a second inside each end.
DATETIME_SECONDS = (pd.Timestamp.min.value / 1e9 + 1, pd.Timestamp.max.value / 1e9 - 1)

@dataclass(frozen=True)
class CategoricalCodec:
    """A categorical or boolean column; codes index `labels`, the last code means missing."""

    column: str
    labels: list[Any]

    @property
    def n_codes(self) -> int:
        return len(self.labels) + 1

    def encode(self, values: pd.Series) -> np.ndarray:
        return category_codes(values, self.labels, self.column)

    def decode(self, codes: np.ndarray) -> pd.Series:
        # a categorical (the missing code becomes -1): postprocessing then checks each
        # label once instead of each row
        missing = codes == len(self.labels)
        return pd.Series(pd.Categorical.from_codes(np.where(missing, -1, codes), self.labels))


@dataclass(frozen=True)
class NumericCodec:
    """A numeric or datetime column: point masses (`spikes`) as codes, the rest continuous.

    Codes: 0..S-1 the spikes, S "continuous" (when there is a continuous part), last missing.
    The continuous part maps to a standard normal through `cdf`, its empirical CDF.
    """

    column: str
    spikes: np.ndarray
    cdf: RankGaussian | None
    dim: int | None  # the continuous dimension, None without a continuous part
    is_datetime: bool
    tz: Any

    @property
    def n_codes(self) -> int:
        return len(self.spikes) + (self.dim is not None) + 1

    def decode(self, codes: np.ndarray, z: np.ndarray) -> pd.Series:
        values = np.full(len(codes), np.nan)
        on_spike = codes < len(self.spikes)
        values[on_spike] = self.spikes[codes[on_spike]]
        if self.dim is not None:
            continuous = codes == len(self.spikes)
            values[continuous] = self.cdf.inverse(z[continuous, self.dim])
        return seconds_to_stamps(values, self.tz) if self.is_datetime else pd.Series(values)


Codec = CategoricalCodec | NumericCodec


@dataclass(frozen=True)
class Encoding:
    codecs: list[Codec]
    placeholders: list[str]  # dependency targets: not modelled, postprocess rewrites them
    columns: list[str]  # the modelled columns, in the order the model returns them
    offsets: np.ndarray  # where each discrete variable starts in the one-hot layout
    prior: np.ndarray  # marginal frequency of every code (one-hot layout)
    n_dims: int


def encode(
    train: pd.DataFrame, schema: DatasetSchema, settings: GaussianMixtureParams,
    rng: np.random.Generator,
) -> tuple[Encoding, np.ndarray, np.ndarray]:
    """Codecs for the modelled columns, the (n, V) code matrix and the (n, D) continuous part."""
    placeholders = placeholder_columns(schema, list(train.columns))
    # a dependency source is kept fully discrete so conditions on its target map to codes
    sources = {d.source for d in schema.dependencies}
    codecs, codes, dims = [], [], []
    for name in train.columns:
        if name in placeholders:
            continue
        spec = schema.column(name)
        if spec.role in (Role.numerical, Role.datetime):
            is_datetime = spec.role == Role.datetime
            values, tz = numeric_values(train[name], is_datetime)
            codec, column_codes, z = build_numeric(
                name, values, settings, rng, len(dims), is_datetime, tz, name in sources
            )
            if codec.dim is not None:
                dims.append(z)
        elif spec.role == Role.categorical:
            codec = CategoricalCodec(name, list(spec.categories or []))
            column_codes = codec.encode(train[name])
        elif spec.role == Role.boolean:
            codec = CategoricalCodec(name, [False, True])
            column_codes = codec.encode(train[name])
        else:
            raise PipelineError(
                f"the gmm model cannot model column {name!r} with role {spec.role.value!r}"
            )
        codecs.append(codec)
        codes.append(column_codes)
    n = len(train)
    code_matrix = np.stack(codes, axis=1) if codes else np.zeros((n, 0), dtype=np.int64)
    z_matrix = np.stack(dims, axis=1) if dims else np.zeros((n, 0))
    offsets = np.concatenate([[0], np.cumsum([c.n_codes for c in codecs])]).astype(np.int64)
    prior = np.asarray(one_hot(code_matrix, offsets).mean(axis=0)).ravel()
    encoding = Encoding(codecs, placeholders, list(train.columns), offsets, prior, len(dims))
    return encoding, code_matrix, z_matrix


def numeric_values(values: pd.Series, is_datetime: bool) -> tuple[np.ndarray, Any]:
    """Float values (epoch seconds for datetimes), NaN where missing, and the time zone."""
    if not is_datetime:
        return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan), None
    stamps = pd.to_datetime(values, errors="coerce")
    tz = stamps.dt.tz
    if tz is not None:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    seconds = (stamps - pd.Timestamp(0)) / pd.Timedelta(seconds=1)
    return seconds.to_numpy(dtype=float, na_value=np.nan), tz


def seconds_to_stamps(values: np.ndarray, tz: Any) -> pd.Series:
    """Epoch seconds back to timestamps in `tz`; a value pandas cannot hold as a timestamp
    becomes missing, never an overflow error.

    The nanoseconds are computed here, as `pd.to_datetime(unit="s")` computes them, but only
    for known values: pandas 2.3 rounds a buffer it leaves uninitialised where a value is NaN,
    under `np.errstate(over="raise")`, so a missing date failed a run now and then with
    "FloatingPointError: overflow encountered in multiply"."""
    known = (values > DATETIME_SECONDS[0]) & (values < DATETIME_SECONDS[1])
    nanoseconds = np.full(len(values), np.iinfo(np.int64).min, dtype=np.int64)  # NaT
    whole = values[known].astype(np.int64)  # toward zero, as pandas casts
    fraction = np.round(values[known] - whole, 9)
    nanoseconds[known] = whole * 1_000_000_000 + (fraction * 1_000_000_000).astype(np.int64)
    stamps = pd.Series(nanoseconds.view("datetime64[ns]"))
    return stamps.dt.tz_localize("UTC").dt.tz_convert(tz) if tz else stamps


def build_numeric(
    name: str, values: np.ndarray, settings: GaussianMixtureParams, rng: np.random.Generator,
    dim: int, is_datetime: bool, tz: Any, all_discrete: bool,
) -> tuple[NumericCodec, np.ndarray, np.ndarray]:
    """Codec plus the rows' codes and rank-Gaussian values (NaN off the continuous part)."""
    present = values[~np.isnan(values)]
    distinct, counts = np.unique(present, return_counts=True)
    if all_discrete or len(distinct) <= settings.discrete_max:
        spikes = distinct
    else:
        spikes = distinct[counts >= settings.spike_share * len(values)]
    rest_mask = ~np.isnan(values) & ~np.isin(values, spikes)
    rest = values[rest_mask]
    codes = np.full(len(values), len(spikes), dtype=np.int64)
    on_spike = np.isin(values, spikes)
    codes[on_spike] = np.searchsorted(spikes, values[on_spike])
    z = np.full(len(values), np.nan)
    cdf = None
    if len(rest):
        # a quasi-discrete continuous part keeps its shared values exactly and spreads the
        # rare ones over their gaps; values that barely repeat (a step CDF would publish
        # training values only, where fresh rows bring new ones) get quantile knots instead
        exact = MAX_KNOTS if mostly_repeated(counts[~np.isin(distinct, spikes)]) else None
        cdf = RankGaussian.fit(rest, _n_knots(len(rest)), exact_max=exact,
                               spread_below=settings.protect_rare)
        z[rest_mask] = rank_scores(rest, rng)
    codec = NumericCodec(name, spikes, cdf, None if cdf is None else dim, is_datetime, tz)
    codes[np.isnan(values)] = codec.n_codes - 1
    return codec, codes, z


# Training rows per quantile knot, at least: a knot per row would put the output's fine
# structure where the training values sit (as many values in a tiny gap as in a wide one).
ROWS_PER_KNOT = 4


def _n_knots(n_rows: int) -> int:
    return int(np.clip(n_rows // ROWS_PER_KNOT + 1, 2, MAX_KNOTS + 1))


def placeholder_columns(schema: DatasetSchema, columns: list[str]) -> list[str]:
    """Dependency targets the postprocess rewrites from their source: modelling them adds
    parameters and nothing else. A target that is itself a source stays modelled (chains)."""
    sources = {d.source for d in schema.dependencies}
    return [
        d.target
        for d in schema.dependencies
        if d.source in columns and d.target in columns and d.target not in sources
    ]


def one_hot(codes: np.ndarray, offsets: np.ndarray) -> sparse.csr_matrix:
    n, v = codes.shape
    columns = (codes + offsets[:-1]).ravel()
    rows = np.repeat(np.arange(n), v)
    return sparse.csr_matrix((np.ones(n * v), (rows, columns)), shape=(n, int(offsets[-1])))
