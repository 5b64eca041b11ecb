"""Hidden Markov model for multi-entity time series, fitted by our own Baum-Welch (numpy only).

The model: every sequence walks one shared chain of K hidden states. At each step
- every numeric column that can be missing or has point masses (precipitation's zeros,
  visibility's 10 miles) and every categorical/boolean column emits a token (continuous /
  missing / one per point mass; or the category, missing being one more) from a chain
  P(token_t | token_{t-1}, how long it has lasted, bin of a driver's value): the driver is the
  numeric column whose value best predicts the token (wind speed for gust reports, humidity
  for rain), read at the same step when that predicts better (the token is then drawn after
  the step's values and is not one of their regressors) or else at the step before. The
  chain is shared by all states (`state_tokens=True`: one per state; measured worse, see
  `_token_tables`). Missing values come at their rate, in runs, where the values say;
- given state k, the numeric columns' continuous values, as rank-Gaussian scores, follow a
  vector autoregression with seasonal forcing, x_t = sum_l A_kl x_{t-l} + B_k tokens_t + b_k +
  C_k f(t) + D_k a_{t-1} + e_t, e_t ~ N(0, S_k) (full covariance), with lags 1, 2 and a season
  (24 hourly, 7 daily), f(t) Fourier terms of the daily / weekly / yearly cycles the data
  covers, and a_{t-1} each column's slow average of its past (a_t = 0.9 a_{t-1} + 0.1 x_t, in
  its own equation only, for columns without point masses, `memory`): a noisy reading of a
  slow signal (wind direction: a weather system's wind, turned this way and that each hour)
  is predicted by such an average, which lags alone do not give (wind direction lag-24
  autocorrelation 0.09 without it, 0.17 with, 0.19 real). A column missing on most steps
  (gusts) also enters as its fresh value of the step before (`FRESH_MISSING_SHARE`), its
  carried value being mostly hours old. Lag 2 gives smooth signals their momentum (hourly
  pressure: lag-1 0.997 yet lag-24 0.57, which no AR(1) does), the seasonal lag the
  day-to-day persistence, the current tokens the values that go with them (a reported gust
  comes with strong wind), a column's own previous token frees its autoregression from the
  point mass's score. A first step has no past: it uses the
  state's regression on [tokens, 1, f(t)] fitted on all steps;
- a dimension whose token is not continuous is unobserved: the likelihood marginalises it
  (a sub-covariance per observation pattern) and the M-step fits each column's regression on
  the rows where it is continuous, so the Gaussian is the value given that it is reported
  (gusts are reported when it is gusty), which is what the sampler draws;
- static (per-entity) columns are emitted once, by the first step's state, so they are drawn
  jointly with their sequence (California stores sell more); their distributions are smoothed
  by pseudo-counts so a rare entity's values are not replayed.

Column relations the chain would break are kept by construction: a column that never exceeds
another and approaches it (dew point under temperature) is modelled as the gap between them
(`ordered_pairs`), a column that is a smooth function of others in the same row (humidity
of temperature and dew point) is recomputed from them at every sampled step (`derived`), so
the lagged inputs of the next step are consistent too, and a value a column takes exactly
where another column takes one (wind direction 0 where the wind speed is 0) is set by that
rule (`coupled_values`): on those rows the column is unobserved for the chain (its token stays
continuous, its last reading carries over) and its model never sees the value. Sampled values
of a column with few real values are snapped onto them (`_value_grids`).

Scores: targets use a rank-Gaussian map of the values off the point masses, lagged inputs and
drivers a map of all values; a lagged input is the last observed value (carried through
missing steps; 0, the median, before the first), built the same way when sampling, so the
sampler draws from exactly the fitted model. `autoregressive=False, seasonal=False` gives a
plain HMM (values independent given the state and tokens). K is chosen by BIC over a grid
unless `n_states` is given, then, of the K up to BIC's choice, the one whose simulation keeps
the data's lag-1 autocorrelations best (`check_persistence`, see `_select`). The index is not
modelled by the chain: sequence lengths, start values and steps between rows are drawn from
their real distributions, so hourly stays hourly with gaps at the real rate.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy.special import logsumexp, ndtr, ndtri

from pipeline.errors import PipelineError
from pipeline.models.base import Synthesizer
from pipeline.models.codes import category_codes
from pipeline.models.relations.coupled_values import CoupledValue, find_coupled_values
from pipeline.models.relations.derived import DerivedColumn, find_derived
from pipeline.models.relations.ordered_pairs import OrderedPair, find_ordered_pairs
from pipeline.schema import DatasetSchema, Role, index_in_zone
from pipeline.timeseries import (
    check_time_series,
    index_as_seconds,
    modal_step,
    sequence_ids,
    sequence_positions,
)
from pipeline.validation.sequence_metrics import mean_autocorrelation

log = logging.getLogger(__name__)

STATE_GRID = (1, 2, 4, 6, 8, 12, 16, 24, 32)
LOG_2PI = float(np.log(2 * np.pi))
# Quantile knots kept per numeric column: a summary (small data has few distinct quantiles).
MAX_KNOTS = 1001
# A value holding at least this share of a column's observed values is a point mass (token).
SPIKE_SHARE = 0.10
MAX_SPIKES = 5
# A token's transition also depends on which of this many quantile bins the value of one
# numeric column (its driver, chosen by information gain) falls in: a gust is reported in
# strong wind, rain comes in humid hours. Without it tokens would ignore the values. Ten, not
# four: gusts come with the wind's top decile 80 % of the time, its next 47 %, which quartile
# bins blur (0.62 vs 0.80 in the top decile).
DRIVER_BINS = 10
# ... and on how long the previous token has lasted (run age 1 | 2-3 | 4-7 | 8+): a dip in
# visibility that has lasted one hour ends with probability 0.35, one that has lasted eight
# hours with 0.09; a first-order chain gave every run the same 0.2 and runs too short.
AGE_EDGES = np.array([2, 4, 8])
MAX_AGE_TOKENS = 8  # channels with more token values keep one age bucket (table size)
# A varying numeric column with at most this many distinct real values is snapped onto them
# (`_value_grids`).
MAX_GRID_VALUES = 1000
# A column missing on at least this share of steps also enters the next step as a fresh input:
# its value when it was observed at the step before, else 0. Its carried value is then mostly
# hours old: gusts are reported on 20 % of hours, and the wind follows a gust reported the hour
# before with coefficient 0.39 (0.23 when fitted on the carried value alone).
FRESH_MISSING_SHARE = 0.5
MIN_DRIVER_GAIN = 0.005  # nats of token entropy a driver must explain to be used
# Token channels with more values than this are not used as regressors of the numeric values.
MAX_DESIGN_TOKENS = 20
MIN_DESIGN_ROWS, MIN_DESIGN_SHARE = 30, 0.005
# Scores are kept inside this range while sampling, whatever a state's regression does.
Z_LIMIT = 6.0
# Marginal calibration: rows simulated once after fitting, and the score levels compared.
CALIBRATION_ROWS = 60_000
CALIBRATION_SCORES = np.linspace(-4.0, 4.0, 161)  # N(0, 1) scores the quantiles map onto
CALIBRATION_LEVELS = ndtr(CALIBRATION_SCORES)
CALIBRATION_PASSES = 2
# Rows simulated from each candidate K to compare its lag-1 autocorrelations with the data's.
PERSISTENCE_ROWS = 20_000
# An explosive state's autoregression is scaled to this spectral radius (stationary samples).
MAX_AR_RADIUS = 0.999
# Seasonal cycles (seconds) and the Fourier harmonics kept for each.
DAY, WEEK, YEAR = 86_400.0, 7 * 86_400.0, 365.2425 * 86_400.0
CYCLES = ((DAY, 3), (WEEK, 3), (YEAR, 2))


# --- encoding ----------------------------------------------------------------------------------
@dataclass
class _RankGaussian:
    """Monotone map of a numeric column to N(0, 1) scores through its quantile knots.

    Knots are spaced evenly in score, not in probability, so the tails keep their shape (an
    outlier stays as rare as in the data). Ties map to the middle of their probability range.
    """

    knots: np.ndarray  # values at `levels`
    levels: np.ndarray
    unique: np.ndarray  # distinct knot values, increasing
    mid_levels: np.ndarray  # mid probability of each distinct value

    @classmethod
    def fit(cls, values: np.ndarray) -> _RankGaussian:
        n = max(len(values), 2)
        edge = float(ndtri(1 - 0.5 / n))
        levels = np.r_[0.0, ndtr(np.linspace(-edge, edge, min(MAX_KNOTS, n))), 1.0]
        knots = np.quantile(values, levels)
        unique, first = np.unique(knots, return_index=True)
        last = np.append(first[1:] - 1, len(knots) - 1)
        mid = (levels[first] + levels[last]) / 2
        return cls(knots=knots, levels=levels, unique=unique, mid_levels=mid)

    def forward(self, values: np.ndarray) -> np.ndarray:
        eps = self.levels[1] / 2
        u = np.interp(values, self.unique, self.mid_levels)
        return ndtri(np.clip(u, eps, 1 - eps))

    def inverse(self, z: np.ndarray) -> np.ndarray:
        return np.interp(ndtr(z), self.levels, self.knots)


@dataclass
class _NumericColumn:
    """A varying numeric (or datetime) column: its score map and its tokens.

    Token 0 is a continuous value; then `missing` if the column can be missing; then one token
    per point mass. Columns with neither have no token channel.
    """

    name: str
    # values off the point masses: the Gaussian's targets, and also the scale of the lagged
    # inputs and token drivers (a point mass maps to an edge, and its token's intercept
    # absorbs it). A second scale over all values made the step regress on a compressed
    # copy of its own past: visibility's lag-1 autocorrelation fell from 0.886 to 0.76.
    continuous: _RankGaussian
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


@dataclass
class _Codec:
    numeric: list[_NumericColumn]
    categorical: list[str]
    labels: list[list[Any]]  # per categorical column; code len(labels) means missing
    static_cat: list[str]
    static_cat_labels: list[list[Any]]
    static_num: list[str]
    static_transforms: list[_RankGaussian]
    static_missing: np.ndarray  # real missing rate of each numeric static column
    all_missing: list[str] = field(default_factory=list)  # never observed: output stays NA

    @property
    def smooth(self) -> np.ndarray:
        """(d,) bool: numeric columns without point masses."""
        return np.array([len(col.spikes) == 0 for col in self.numeric], dtype=bool)

    @property
    def token_columns(self) -> list[int]:
        return [j for j, col in enumerate(self.numeric) if col.tokenised]

    @property
    def channel_sizes(self) -> list[int]:
        sizes = [self.numeric[j].n_tokens for j in self.token_columns]
        return sizes + [len(lab) + 1 for lab in self.labels]


def _numbers(values: pd.Series, is_datetime: bool) -> np.ndarray:
    if is_datetime:
        out = np.full(len(values), np.nan)
        present = values.notna().to_numpy()
        out[present] = index_as_seconds(values[present])
        return out
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _labels(role: Role, categories: list[Any] | None, values: pd.Series) -> list[Any]:
    if role == Role.boolean:
        return [False, True]
    return list(categories) if categories else sorted(values.dropna().unique().tolist(), key=str)


def _spikes(observed: np.ndarray) -> np.ndarray:
    values, counts = np.unique(observed, return_counts=True)
    heavy = np.argsort(-counts)[:MAX_SPIKES]
    heavy = heavy[counts[heavy] >= SPIKE_SHARE * len(observed)]
    return np.sort(values[heavy])


def _build_codec(
    frame: pd.DataFrame, schema: DatasetSchema, heads: pd.DataFrame, hidden: dict[str, np.ndarray]
) -> _Codec:
    """`hidden`: rows of a column whose value a rule sets (`coupled_values`), not modelled."""
    skip = {schema.sequence_key, schema.sequence_index}
    numeric, categorical, labels, all_missing = [], [], [], []
    static_cat, static_cat_labels, static_num, static_tr, static_miss = [], [], [], [], []
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
            nums = _numbers(heads[name], is_dt)
            if np.isnan(nums).all():
                all_missing.append(name)
                continue
            static_num.append(name)
            static_tr.append(_RankGaussian.fit(nums[~np.isnan(nums)]))
            static_miss.append(float(np.isnan(nums).mean()))
        elif discrete:
            categorical.append(name)
            labels.append(_labels(spec.role, spec.categories, frame[name]))
        else:
            nums = _numbers(frame[name], is_dt)
            modelled = np.where(hidden[name], np.nan, nums) if name in hidden else nums
            observed = modelled[~np.isnan(modelled)]
            if len(observed) == 0:
                all_missing.append(name)
                continue
            spikes = _spikes(observed)
            rest = observed[~np.isin(observed, spikes)]
            numeric.append(
                _NumericColumn(
                    name, _RankGaussian.fit(rest if len(rest) else observed), is_dt,
                    has_missing=bool(np.isnan(nums).any()), spikes=spikes,
                )
            )
    return _Codec(
        numeric, categorical, labels, static_cat, static_cat_labels, static_num, static_tr,
        np.array(static_miss), all_missing,
    )


# --- the index: lengths, starts, steps and seasonal features -----------------------------------
@dataclass
class _IndexModel:
    """Empirical distributions of what the chain does not model: where and how sequences run."""

    is_datetime: bool
    tz: Any  # the real index's tz (None: naive)
    zone: str | None  # zone in which calendar cycles are read (schema timezone)
    lengths: np.ndarray
    length_probs: np.ndarray
    starts: np.ndarray
    start_probs: np.ndarray
    steps: np.ndarray
    step_probs: np.ndarray
    cycles: list[tuple[float, int]]
    season_lag: int | None  # steps per day (sub-daily data) or per week (daily data)

    @classmethod
    def fit(
        cls, ordered: pd.DataFrame, schema: DatasetSchema, seq: np.ndarray, use_seasonal: bool
    ) -> _IndexModel:
        values = ordered[schema.sequence_index]
        is_dt = pd.api.types.is_datetime64_any_dtype(values)
        numbers = index_as_seconds(values) if is_dt else values.to_numpy(dtype=float)
        first = np.r_[True, seq[1:] != seq[:-1]]
        per_sequence = np.bincount(seq)
        lengths, length_counts = np.unique(per_sequence, return_counts=True)
        starts, start_counts = np.unique(numbers[first], return_counts=True)
        steps_all = np.diff(numbers)[~first[1:]]
        steps, step_counts = np.unique(steps_all, return_counts=True)
        if len(steps) == 0:  # every sequence has one step: later steps use one day / one unit
            steps, step_counts = np.array([DAY if is_dt else 1.0]), np.array([1])
        cadence = modal_step(steps_all) if len(steps_all) else None
        cycles, season_lag = [], None
        if is_dt and cadence:
            longest = float(per_sequence.max()) * cadence
            if use_seasonal:
                # a cycle is learnt when it spans several steps and the data covers half of it
                cycles = [(p, h) for p, h in CYCLES if p >= 3 * cadence and longest >= p / 2]
            for period in (DAY, WEEK):
                ratio = period / cadence
                if ratio >= 3 and ratio == int(ratio):
                    season_lag = int(ratio)
                    break
            if season_lag and np.median(per_sequence) < 3 * season_lag:
                season_lag = None  # too few steps to learn from a season ago
        return cls(
            is_datetime=is_dt, tz=values.dt.tz if is_dt else None,
            zone=schema.column(schema.sequence_index).timezone,
            lengths=lengths, length_probs=length_counts / length_counts.sum(),
            starts=starts, start_probs=start_counts / start_counts.sum(),
            steps=steps, step_probs=step_counts / step_counts.sum(), cycles=cycles,
            season_lag=season_lag,
        )

    @property
    def n_features(self) -> int:
        return 2 * sum(h for _, h in self.cycles)

    def features(self, numbers: np.ndarray) -> np.ndarray:
        """Fourier terms of local wall-clock time (the diurnal cycle follows local hours)."""
        out = np.empty((len(numbers), self.n_features))
        if not self.cycles:
            return out
        stamps = self.to_index(numbers)
        if self.zone:
            stamps = index_in_zone(stamps, self.zone).dt.tz_localize(None)
        local = index_as_seconds(stamps)
        col = 0
        for period, harmonics in self.cycles:
            phase = 2 * np.pi * (local % period) / period
            for h in range(1, harmonics + 1):
                out[:, col], out[:, col + 1] = np.sin(h * phase), np.cos(h * phase)
                col += 2
        return out

    def to_index(self, numbers: np.ndarray) -> pd.Series:
        if not self.is_datetime:
            return pd.Series(numbers)
        stamps = pd.Series(pd.to_datetime(np.round(numbers * 1e9).astype("int64"), unit="ns"))
        if self.tz is not None:
            stamps = stamps.dt.tz_localize("UTC").dt.tz_convert(self.tz)
        return stamps

    def sample(
        self, n: int, rng: np.random.Generator, length: int | None
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Lengths and index values (as numbers) of n new sequences."""
        if length is not None:
            lengths = np.full(n, length, dtype=np.int64)
        else:
            lengths = rng.choice(self.lengths, size=n, p=self.length_probs)
        starts = rng.choice(self.starts, size=n, p=self.start_probs)
        steps = rng.choice(self.steps, size=int(lengths.sum()), p=self.step_probs)
        out, used = [], 0
        for start, m in zip(starts, lengths):
            out.append(start + np.r_[0.0, np.cumsum(steps[used : used + m - 1])])
            used += m
        return lengths, out


# --- the data as arrays -------------------------------------------------------------------------
@dataclass
class _Data:
    x: np.ndarray  # (N, d) continuous scores, NaN where missing or on a point mass
    observed: np.ndarray  # (N, d) x is not NaN: the Gaussian sees this value
    lagged: np.ndarray  # (N, n_lags * d + f [+ d]) last observed value at or before t - lag;
    # then the value at t - 1 of each of the f sparse columns where observed, else 0 (`_fresh`);
    # then, with `memory`, the slow average of each column up to t - 1 (`_moving_average`)
    feats: np.ndarray  # (N, m) seasonal features
    first: np.ndarray  # (N,) first row of its sequence
    tokens: np.ndarray  # (N, J) token of each channel
    design: np.ndarray  # (N, q) the tokens one-hot (code 0 left out), regressors of the values
    prev_design: np.ndarray  # (N, q) the same for the previous row (zeros on first rows)
    contexts: np.ndarray  # (N, J) `_Contexts.code`: previous token, its run's age, driver bin
    seq: np.ndarray  # (N,) sequence number
    pos: np.ndarray  # (N,) step within the sequence
    static_cat: np.ndarray  # (S, Js) codes
    static_num: np.ndarray  # (S, ds) scores, NaN where missing
    patterns: list[tuple[np.ndarray, np.ndarray, np.ndarray]]  # rows, observed dims, others

    @property
    def n_rows(self) -> int:
        return len(self.seq)

    @property
    def n_seq(self) -> int:
        return len(self.static_cat)


def _carry_forward(x: np.ndarray, first: np.ndarray, lag: int) -> np.ndarray:
    """Per row t, the last observed value at or before row t - lag in the same sequence."""
    n, d = x.shape
    out = np.zeros((n, d))
    if n == 0 or d == 0:
        return out
    rows = np.arange(n)
    starts = np.maximum.accumulate(np.where(first, rows, 0))
    target = rows - lag
    in_seq = target >= starts
    for j in range(d):
        last = np.maximum.accumulate(np.where(~np.isnan(x[:, j]), rows, -1))
        source = np.where(in_seq, last[np.maximum(target, 0)], -1)
        valid = in_seq & (source >= starts)
        out[valid, j] = x[source[valid], j]
    return out


def _moving_average(x: np.ndarray, first: np.ndarray, decay: float) -> np.ndarray:
    """Per row, the exponentially weighted average of x up to and including it within its
    sequence (weight `decay` per step back; the first row's value to start)."""
    from scipy.signal import lfilter

    out = np.zeros_like(x)
    starts = np.flatnonzero(first)
    for start, stop in zip(starts, np.r_[starts[1:], len(x)]):
        seg = x[start:stop]
        out[start:stop] = lfilter([1 - decay], [1, -decay], seg, axis=0, zi=decay * seg[:1])[0]
    return out


def _patterns(observed: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    if observed.shape[1] == 0:
        return []
    unique, inverse = np.unique(observed, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    return [
        (np.flatnonzero(inverse == p), np.flatnonzero(mask), np.flatnonzero(~mask))
        for p, mask in enumerate(unique)
    ]


# --- parameters and the EM steps ----------------------------------------------------------------
@dataclass
class _Params:
    start: np.ndarray  # (K,)
    trans: np.ndarray  # (K, K)
    ar: np.ndarray  # (K, d, r) regression of a step on [lagged, 1, feats]
    ar_cov: np.ndarray  # (K, d, d)
    first: np.ndarray  # (K, d, 1 + m) regression of a first step on [1, feats]
    first_cov: np.ndarray  # (K, d, d)
    token_first: list[np.ndarray]  # per channel (K, T): tokens of a state, any step
    # per channel (K, C, T), or (1, C, T) when shared by all states: P_k(token | context)
    token_trans: list[np.ndarray]
    static_cat: list[np.ndarray]  # per static column (K, n_labels + 1)
    static_mean: np.ndarray  # (K, ds)
    static_var: np.ndarray  # (K, ds)

    @property
    def n_states(self) -> int:
        return len(self.start)


def _regressors(data: _Data) -> tuple[np.ndarray, np.ndarray]:
    marginal = np.hstack([data.design, np.ones((data.n_rows, 1)), data.feats])
    return np.hstack([data.lagged, data.prev_design, marginal]), marginal


@dataclass
class _Driver:
    column: int  # -1: none
    edges: np.ndarray  # inner bin edges in score units
    # True: bins of the driver's value at this step, so the token is drawn after the values
    # and does not shape them (see `_choose_drivers`); False: its last value before the step
    current: bool = False
    gain: float = 0.0


@dataclass
class _Contexts:
    """How a token channel's transition context is numbered: the previous token, the age
    bucket of its run, the bin of the driver's value."""

    bins: int
    ages: list[int]  # age buckets per channel (1: age not used)

    def size(self, j: int, n_tokens: int) -> int:
        return n_tokens * self.ages[j] * self.bins

    def code(self, j: int, prev: np.ndarray, age: np.ndarray, bins: np.ndarray) -> np.ndarray:
        bucket = np.searchsorted(AGE_EDGES, age, side="right") if self.ages[j] > 1 else 0
        return (prev * self.ages[j] + bucket) * self.bins + bins


def _run_ages(tokens: np.ndarray, first: np.ndarray) -> np.ndarray:
    """(N, J): at row t, how many rows the token of row t - 1 had lasted (0 on first rows)."""
    n, n_chan = tokens.shape
    out = np.zeros((n, n_chan), dtype=np.int64)
    rows = np.arange(n)
    for j in range(n_chan):
        start = first | np.r_[True, tokens[1:, j] != tokens[:-1, j]]
        length = rows - np.maximum.accumulate(np.where(start, rows, 0)) + 1
        out[1:, j] = length[:-1]
    out[first] = 0
    return out


def _driver_bin(driver: _Driver, last: np.ndarray) -> np.ndarray:
    if driver.column < 0:
        return np.zeros(len(last), dtype=np.int64)
    return np.searchsorted(driver.edges, last[:, driver.column]).astype(np.int64)


def _conditional_entropy(code: np.ndarray, context: np.ndarray) -> float:
    joint = np.unique(np.stack([context, code]), axis=1, return_counts=True)[1]
    ctx = np.unique(context, return_counts=True)[1]
    n = len(code)
    return float(-(joint / n * np.log(joint)).sum() + (ctx / n * np.log(ctx)).sum())


def _choose_driver(
    code: np.ndarray, prev: np.ndarray, scores: np.ndarray, first: np.ndarray, current: bool,
    own: int,
) -> _Driver:
    """The numeric column whose binned value (last before the step, or `current`: at the
    step) best predicts the token beyond its past. A token is never driven by the current
    value of its own column, which it decides."""
    rows = ~first
    best = _Driver(-1, np.zeros(0), current, MIN_DRIVER_GAIN)
    if rows.sum() < 10 or scores.shape[1] == 0 or len(np.unique(code[rows])) < 2:
        return best
    base = _conditional_entropy(code[rows], prev[rows])
    for col in range(scores.shape[1]):
        if current and col == own:
            continue
        values = scores[rows, col]
        edges = np.unique(np.quantile(values, np.linspace(0, 1, DRIVER_BINS + 1)[1:-1]))
        bins = np.searchsorted(edges, values)
        gain = base - _conditional_entropy(code[rows], prev[rows] * DRIVER_BINS + bins)
        if gain > best.gain:
            best = _Driver(col, edges, current, gain)
    return best


def _choose_drivers(
    tokens: np.ndarray, prev: np.ndarray, last: np.ndarray, now: np.ndarray,
    first: np.ndarray, token_columns: list[int],
) -> list[_Driver]:
    """Per token channel, the driver of its transitions: by the last value or the current one.

    A gust is reported when the wind is strong now, not an hour ago: driven by the last wind
    speed, gusts came at the wind's top decile 68 % of the time against 86 % real. A token
    driven by a current value is drawn after the step's values (so it is left out of their
    regressors); to keep that order acyclic, a column whose own token is drawn after the
    values cannot drive another token by its current value.
    """
    n_chan = tokens.shape[1]
    own = [*token_columns, *[-1] * (n_chan - len(token_columns))]
    by_last = [_choose_driver(tokens[:, j], prev[:, j], last, first, False, -1)
               for j in range(n_chan)]
    by_now = [_choose_driver(tokens[:, j], prev[:, j], now, first, True, own[j])
              for j in range(n_chan)]
    chosen = list(by_last)
    after_columns: set[int] = set()  # numeric columns whose token is drawn after the values
    driving_now: set[int] = set()  # columns some token reads at the current step
    for j in sorted(range(n_chan), key=lambda j: -by_now[j].gain):
        candidate = by_now[j]
        if candidate.column < 0 or candidate.gain <= by_last[j].gain:
            continue
        if candidate.column in after_columns or own[j] in driving_now:
            continue
        chosen[j] = candidate
        driving_now.add(candidate.column)
        if own[j] >= 0:
            after_columns.add(own[j])
    return chosen


def _design_columns(tokens: np.ndarray, sizes: list[int]) -> list[tuple[int, int]]:
    """(channel, token) pairs used as regressors: tokens other than 0 seen often enough.

    A token seen on a handful of rows (temperature missing once) would get a coefficient fitted
    to those rows alone and throw the sampled values off whenever it is drawn.
    """
    n = len(tokens)
    minimum = max(MIN_DESIGN_ROWS, MIN_DESIGN_SHARE * n)
    columns = []
    for j, size in enumerate(sizes):
        if size - 1 > MAX_DESIGN_TOKENS:
            continue
        counts = np.bincount(tokens[:, j], minlength=size)
        columns += [(j, c) for c in range(1, size) if counts[c] >= minimum]
    return columns


def _token_design(tokens: np.ndarray, columns: list[tuple[int, int]]) -> np.ndarray:
    """One-hot tokens as regressors: the values given the tokens.

    Without the current step's tokens a reported gust would not come with the strong wind it
    is reported in, and rain would not come with high humidity. The previous step's tokens
    free the autoregression from the point masses' scores (fog after clear air is not the
    continuation of a visibility trend).
    """
    out = np.zeros((len(tokens), len(columns)))
    for i, (j, c) in enumerate(columns):
        out[:, i] = tokens[:, j] == c
    return out


def _gaussian(data: _Data, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """Log-density of the observed dimensions of every row under every state (the others are
    marginalised out: a sub-covariance per observation pattern)."""
    n, k, _ = mean.shape
    ll = np.zeros((n, k))
    for rows, obs, _ in data.patterns:
        if len(obs) == 0:
            continue
        chol = np.linalg.cholesky(cov[:, obs][:, :, obs])
        resid = data.x[np.ix_(rows, obs)][:, None, :] - mean[rows][:, :, obs]
        white = np.einsum("kij,nkj->nki", np.linalg.inv(chol), resid)
        logdet = 2 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(1)
        ll[rows] = -0.5 * ((white**2).sum(2) + logdet + len(obs) * LOG_2PI)
    return ll


def _log_emissions(
    data: _Data, p: _Params, z_step: np.ndarray, z_first: np.ndarray
) -> np.ndarray:
    logb = np.zeros((data.n_rows, p.n_states))
    if data.x.shape[1]:
        first = data.first
        ll_step = _gaussian(data, np.einsum("nr,kdr->nkd", z_step, p.ar), p.ar_cov)
        ll_first = _gaussian(data, np.einsum("nr,kdr->nkd", z_first, p.first), p.first_cov)
        logb += np.where(first[:, None], ll_first, ll_step)
    for j, (marginal, trans) in enumerate(zip(p.token_first, p.token_trans)):
        code, context = data.tokens[:, j], data.contexts[:, j]
        logb += np.log(np.where(data.first[:, None], marginal.T[code], trans[:, context, code].T))
    first_rows = np.flatnonzero(data.first)
    for j, table in enumerate(p.static_cat):
        logb[first_rows] += np.log(table.T[data.static_cat[:, j]])
    for j in range(data.static_num.shape[1]):
        value = data.static_num[:, j]
        known = ~np.isnan(value)
        var = p.static_var[:, j]
        ll = -0.5 * ((value[known, None] - p.static_mean[:, j]) ** 2 / var + np.log(var) + LOG_2PI)
        logb[first_rows[known]] += ll
    return logb


def _forward_backward(
    logb: np.ndarray, data: _Data, p: _Params
) -> tuple[np.ndarray, np.ndarray, float]:
    """Scaled forward-backward over all sequences at once (padded to the longest).

    Padded steps have emission 1, so they leave the scaled messages unchanged; their
    transitions are masked out of the expected counts.
    """
    n_seq, k = data.n_seq, p.n_states
    t_max = int(data.pos.max()) + 1
    row_max = logb.max(1)
    emis = np.ones((t_max, n_seq, k))
    emis[data.pos, data.seq] = np.exp(logb - row_max[:, None])
    valid = np.zeros((t_max, n_seq), dtype=bool)
    valid[data.pos, data.seq] = True
    alpha = np.empty((t_max, n_seq, k))
    scale = np.empty((t_max, n_seq))
    a = p.start[None, :] * emis[0]
    scale[0] = a.sum(1)
    alpha[0] = a / scale[0][:, None]
    trans = p.trans
    for t in range(1, t_max):
        a = (alpha[t - 1] @ trans) * emis[t]
        s = a.sum(1)
        scale[t] = s
        alpha[t] = a / s[:, None]
    beta = np.empty_like(alpha)
    beta[-1] = 1.0
    trans_t = trans.T
    for t in range(t_max - 2, -1, -1):
        beta[t] = ((emis[t + 1] * beta[t + 1]) @ trans_t) / scale[t + 1][:, None]
    post = alpha * beta
    post /= post.sum(2, keepdims=True)
    weighted = emis[1:] * beta[1:] / scale[1:, :, None] * valid[1:, :, None]
    xi = np.einsum("tsi,tsj->ij", alpha[:-1], weighted) * trans
    loglik = float(np.log(scale[valid]).sum() + row_max.sum())
    return post[data.pos, data.seq], xi, loglik


def _regression(
    data: _Data, z: np.ndarray, weights: np.ndarray, min_variance: float,
    allowed: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per state and column, weighted least squares of the column on z over the rows where
    the column is a continuous value; covariance from the pairwise-observed residuals.
    `allowed` (d, r) keeps a regressor out of the equations where it is False.

    Not EM's imputation of unobserved values: a gust is reported only when it is gusty and
    the spike of precipitation is no low rainfall, so the Gaussian describes the value given
    that it is continuous, which is what the sampler draws after a continuous token.
    """
    k, r, d = weights.shape[1], z.shape[1], data.x.shape[1]
    values = np.where(data.observed, data.x, 0.0)
    mask = data.observed.astype(float)
    coef = np.zeros((k, d, r))
    cov = np.zeros((k, d, d))
    for s in range(k):
        w = weights[:, s]
        gram = np.zeros((d, r, r))
        cross = np.zeros((d, r))
        for rows, obs, _ in data.patterns:
            zw = z[rows].T * w[rows]
            gram[obs] += zw @ z[rows]
            cross[obs] += (zw @ values[np.ix_(rows, obs)]).T
        total = (mask * w[:, None]).sum(0)
        gram += np.eye(r)[None] * (1e-6 + 1e-4 * total)[:, None, None]
        if allowed is not None:
            barred = np.zeros((d, r, r))
            barred[:, np.arange(r), np.arange(r)] = ~allowed * 1e6 * (1.0 + total[:, None])
            gram += barred
        coef[s] = np.linalg.solve(gram, cross[:, :, None])[:, :, 0]
        if allowed is not None:
            coef[s][~allowed] = 0.0
        resid = (values - z @ coef[s].T) * mask
        scatter = (resid.T * w) @ resid + np.eye(d) * 1e-2
        pairs = (mask.T * w) @ mask + 1e-2
        cov[s] = _nearest_proper(scatter / pairs, min_variance)
    return coef, cov


def _nearest_proper(cov: np.ndarray, min_variance: float) -> np.ndarray:
    """Pairwise covariances need not form a proper matrix: clip the eigenvalues."""
    cov = (cov + cov.T) / 2
    values, vectors = np.linalg.eigh(cov)
    fixed = (vectors * np.maximum(values, min_variance * 0.1)) @ vectors.T
    fixed[np.diag_indices(len(cov))] = np.maximum(np.diag(fixed), min_variance)
    return fixed


def _token_tables(
    data: _Data, post: np.ndarray, sizes: list[int], n_contexts: list[int], alpha: float,
    per_state: bool,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per channel: a state's token frequencies, and its token transitions given the context.

    Both are smoothed toward the pooled frequencies, so a transition a state never showed is
    as likely as it is overall, never impossible. Unless `per_state`, every state uses the
    pooled tables: on nyc_weather rain then persists as in the data (P(rain | rain) 0.65 vs
    0.70 real; 0.59 with per-state chains, whose state switches cut episodes short).
    """
    k = post.shape[1]
    step = post * (~data.first)[:, None]
    firsts, transitions = [], []
    for j, size in enumerate(sizes):
        code, context = data.tokens[:, j], data.contexts[:, j]
        counts = np.zeros((size, k))
        np.add.at(counts, code, post)
        counts = counts.T
        overall = counts.sum(0) / max(counts.sum(), 1e-12)
        table = counts + alpha * np.maximum(overall, 1e-6)
        if not per_state:
            table = np.broadcast_to(counts.sum(0) + 1e-6, counts.shape)
        firsts.append(table / table.sum(1, keepdims=True))
        n_context = n_contexts[j]
        pairs = np.zeros((n_context * size, k))
        np.add.at(pairs, context * size + code, step)
        pairs = pairs.T.reshape(k, n_context, size)
        pooled = pairs.sum(0) + np.maximum(overall, 1e-6)[None, :]
        pooled /= pooled.sum(1, keepdims=True)
        # shared by all states: one copy, not K (a channel with many values has a big table)
        table = pairs + alpha * pooled[None] if per_state else pooled[None]
        transitions.append(table / table.sum(2, keepdims=True))
    return firsts, transitions


def _static_tables(
    weights: np.ndarray, codes: np.ndarray, sizes: list[int], alpha: float
) -> list[np.ndarray]:
    tables = []
    for j, size in enumerate(sizes):
        counts = np.zeros((size, weights.shape[1]))
        np.add.at(counts, codes[:, j], weights)
        counts = counts.T
        overall = counts.sum(0) / max(counts.sum(), 1e-12)
        table = counts + alpha * np.maximum(overall, 1e-6)
        tables.append(table / table.sum(1, keepdims=True))
    return tables


def _static_moments(
    weights: np.ndarray, values: np.ndarray, alpha: float
) -> tuple[np.ndarray, np.ndarray]:
    k, ds = weights.shape[1], values.shape[1]
    mean, var = np.zeros((k, ds)), np.ones((k, ds))
    for j in range(ds):
        known = ~np.isnan(values[:, j])
        w, v = weights[known], values[known, j]
        total = w.sum(0) + alpha  # alpha pseudo-entities at N(0, 1): smooths rare values
        mean[:, j] = (w.T @ v) / total
        var[:, j] = (w.T @ v**2 + alpha) / total - mean[:, j] ** 2
    return mean, np.maximum(var, 0.05)


def _m_step(
    data: _Data,
    post: np.ndarray,
    xi: np.ndarray,
    z_step: np.ndarray,
    z_first: np.ndarray,
    settings: dict[str, Any],
) -> _Params:
    k, d = post.shape[1], data.x.shape[1]
    alpha = settings["smoothing"]
    first_post = post[data.first]
    start = first_post.sum(0) + 1e-3
    trans = xi + 1e-6
    if d:
        step_w = post * (~data.first)[:, None]
        ar, ar_cov = _regression(
            data, z_step, step_w, settings["min_variance"], settings["_step_allowed"]
        )
        first, first_cov = _regression(data, z_first, post, settings["min_variance"])
    else:
        ar, ar_cov = np.zeros((k, 0, z_step.shape[1])), np.zeros((k, 0, 0))
        first, first_cov = np.zeros((k, 0, z_first.shape[1])), np.zeros((k, 0, 0))
    token_first, token_trans = _token_tables(
        data, post, settings["_channel_sizes"], settings["_context_sizes"], alpha,
        settings["state_tokens"],
    )
    static_cat = _static_tables(first_post, data.static_cat, settings["_static_sizes"], alpha)
    static_mean, static_var = _static_moments(first_post, data.static_num, alpha)
    return _Params(
        start / start.sum(), trans / trans.sum(1, keepdims=True), ar, ar_cov, first, first_cov,
        token_first, token_trans, static_cat, static_mean, static_var,
    )


def _n_free(p: _Params, data: _Data, per_state_tokens: bool) -> int:
    k, d = p.n_states, p.ar.shape[1]
    count = (k - 1) + k * (k - 1)
    count += k * (p.ar.shape[1] * p.ar.shape[2] + p.first.shape[1] * p.first.shape[2])
    count += k * d * (d + 1)  # two covariances
    copies = k if per_state_tokens else 1
    count += sum(copies * (t.shape[1] - 1) for t in p.token_first)
    count += sum(t.shape[0] * (t.shape[1] - 1) for t in p.static_cat)
    for j, table in enumerate(p.token_trans):  # contexts that occur, not all possible ones
        used = len(np.unique(data.contexts[~data.first, j]))
        count += copies * used * (table.shape[2] - 1)
    return count + 2 * p.static_mean.size


def _spectral_radius(
    coef: np.ndarray, lags: list[int], d: int, average: np.ndarray | None = None,
    decay: float = 0.0,
) -> float:
    """Largest |eigenvalue| of the step's linear dynamics: the lags' companion matrix, grown
    by the slow average a_t = decay a_{t-1} + (1 - decay) x_t when it is a regressor
    (`average`: its (d, d) coefficients)."""
    order = max(lags)
    size = order * d + (d if average is not None else 0)
    companion = np.zeros((size, size))
    for i, lag in enumerate(lags):
        companion[:d, (lag - 1) * d : lag * d] = coef[:, i * d : (i + 1) * d]
    companion[d : order * d, : (order - 1) * d] = np.eye((order - 1) * d)
    if average is not None:
        companion[:d, order * d :] = average
        # the average after the step: decay times itself plus (1 - decay) times the new x
        companion[order * d :, :] = (1 - decay) * companion[:d, :]
        companion[order * d :, order * d :] += decay * np.eye(d)
    return float(np.abs(np.linalg.eigvals(companion)).max())


def _scaled_radius(
    block: np.ndarray, average: np.ndarray | None, lags: list[int], decay: float, scale: float
) -> float:
    scaled_average = None if average is None else average * scale
    return _spectral_radius(block * scale, lags, len(block), scaled_average, decay)


def _stabilise(
    ar: np.ndarray, lags: list[int], smooth: np.ndarray, fresh: list[int], decay: float
) -> None:
    """Scale down the autoregression of any explosive state until it is stationary.

    A short-lived state can fit an explosive regression (it never runs long in the data), but
    the sampler may stay in it for longer; all lags are scaled by one factor (found by
    bisection), which keeps the shape of the dynamics. Only the columns without point masses
    (`smooth`) are checked: a column on a point mass most of the time is reset by its tokens,
    and its point masses sit at the edge of its score scale, outside any stationary range.
    A fresh input (`_Data.lagged`) counts with lag 1, as on a step after an observed value;
    the slow average (`decay` > 0) as the state it is.
    """
    d = ar.shape[1]
    cols = np.flatnonzero(smooth)
    if not lags or len(cols) == 0:
        return
    n_lags = len(lags) * d
    n_lagged = n_lags + len(fresh) + (d if decay else 0)
    lagged_cols = np.concatenate([i * d + cols for i in range(len(lags))])
    for s in range(ar.shape[0]):
        coef = ar[s].copy()
        coef[:, fresh] += coef[:, n_lags : n_lags + len(fresh)]  # lag 1 is the first block
        block = coef[np.ix_(cols, lagged_cols)]
        average = coef[np.ix_(cols, n_lagged - d + cols)] if decay else None
        radius = partial(_scaled_radius, block, average, lags, decay)
        if radius(1.0) <= MAX_AR_RADIUS:
            continue
        low, high = 0.0, 1.0
        for _ in range(12):
            mid = (low + high) / 2
            if radius(mid) <= MAX_AR_RADIUS:
                low = mid
            else:
                high = mid
        ar[s][:, :n_lagged] *= low
        log.debug("hmm: state %d autoregression scaled by %.3f to stay stationary", s, low)


def _initial_params(
    data: _Data, k: int, seed: int, z_step: np.ndarray, z_first: np.ndarray,
    settings: dict[str, Any],
) -> _Params:
    """States from k-means on the scores and tokens, then one M-step."""
    from sklearn.cluster import KMeans

    parts = [np.where(data.observed, data.x, 0.0)]
    parts += [np.eye(n)[data.tokens[:, j]] for j, n in enumerate(settings["_channel_sizes"])]
    features = np.hstack(parts)
    if k == 1 or features.shape[1] == 0:
        labels = np.zeros(data.n_rows, dtype=np.int64)
    else:
        labels = KMeans(n_clusters=k, n_init=2, random_state=seed).fit(features).labels_
    post = np.full((data.n_rows, k), 0.1 / k)
    post[np.arange(data.n_rows), labels] += 0.9
    same = data.seq[1:] == data.seq[:-1]
    xi = np.ones((k, k))
    np.add.at(xi, (labels[:-1][same], labels[1:][same]), 1.0)
    return _m_step(data, post, xi, z_step, z_first, settings)


def _run_em(
    data: _Data, params: _Params, settings: dict[str, Any], max_iter: int, label: str,
    level: int = logging.INFO,
) -> tuple[_Params, float, list[float]]:
    z_step, z_first = _regressors(data)
    history: list[float] = []
    loglik = -np.inf
    for it in range(1, max_iter + 1):
        logb = _log_emissions(data, params, z_step, z_first)
        post, xi, new_loglik = _forward_backward(logb, data, params)
        history.append(new_loglik / data.n_rows)
        log.log(level, "%s iteration %d: log-likelihood per step %.4f", label, it, history[-1])
        params = _m_step(data, post, xi, z_step, z_first, settings)
        converged = abs(new_loglik - loglik) / data.n_rows < settings["tol"]
        loglik = new_loglik
        if converged:
            break
    return params, loglik, history


# --- sampling -----------------------------------------------------------------------------------
def _snap(values: np.ndarray, grid: np.ndarray, low: np.ndarray | None = None,
          high: np.ndarray | None = None) -> np.ndarray:
    """Each value onto the nearest grid value inside [low, high] (per row; NaN: no bound).
    Where no grid value fits, the value is clipped into the bounds.

    Not just the two grid neighbours: the bound itself may have been snapped below the value
    (a dew point of 31.4 under a temperature of 31.6 snapped to 30.92), and then the nearest
    fitting grid value lies further down."""
    out = values.copy()
    known = ~np.isnan(values)
    v = values[known]
    lo = np.full(len(v), -np.inf) if low is None else np.nan_to_num(low[known], nan=-np.inf)
    hi = np.full(len(v), np.inf) if high is None else np.nan_to_num(high[known], nan=np.inf)
    last = len(grid) - 1
    # nearest grid values: either side of the value, the highest under `hi`, the lowest over `lo`
    candidates = np.column_stack([
        grid[np.clip(np.searchsorted(grid, v, side="right") - 1, 0, last)],
        grid[np.clip(np.searchsorted(grid, v, side="left"), 0, last)],
        grid[np.clip(np.searchsorted(grid, hi, side="right") - 1, 0, last)],
        grid[np.clip(np.searchsorted(grid, lo, side="left"), 0, last)],
    ])
    fits = (candidates >= lo[:, None]) & (candidates <= hi[:, None])
    distance = np.where(fits, np.abs(candidates - v[:, None]), np.inf)
    best = distance.argmin(1)
    rows = np.arange(len(v))
    out[known] = np.where(fits[rows, best], candidates[rows, best], np.clip(v, lo, hi))
    return out


def _draw(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw per row of a (n, c) probability matrix."""
    u = rng.random(len(probs))
    return np.minimum((probs.cumsum(1) < u[:, None]).sum(1), probs.shape[1] - 1)


class HiddenMarkovModel(Synthesizer):
    """Shared-state HMM with autoregressive, seasonal, mixed-type emissions (see module doc).

    Parameters: `pipeline.models.params.HiddenMarkovParams`.
    """

    name: ClassVar[str] = "hmm"
    # 2: ordered pairs, derived columns, run ages; 3: computed columns snapped to real values;
    # 4: slow average, fresh inputs; 5: coupled values, every numeric column snapped;
    # 6: K also checked by simulated persistence
    artifact_format: ClassVar[int] = 6

    def _fit_columns(self, schema: DatasetSchema) -> list[str]:
        lead = [c for c in (schema.sequence_key, schema.sequence_index) if c]
        return lead + [c for c in schema.modelled_columns() if c not in lead]

    def card(self) -> dict[str, Any]:
        card = super().card()
        card["n_states"] = getattr(self, "n_states_", None)
        card["lags"] = getattr(self, "lags_", None)
        card["state_selection_bic"] = getattr(self, "selection_", None)
        card["state_selection_persistence_error"] = getattr(self, "persistence_error_", None)
        card["slow_average_decay"] = getattr(self, "_memory", None)
        names = [col.name for col in self._codec.numeric] if hasattr(self, "_codec") else []
        card["derived_columns"] = [
            {"column": names[f.target], "from": [names[j] for j in f.inputs],
             "r2": round(f.r2, 4), "residual_sd": round(f.residual_sd, 4)}
            for f in getattr(self, "_derived", [])
        ]
        card["ordered_pairs"] = [
            {"low": p.low, "high": p.high, "modelled_as_gap": p.gap_column}
            for p in getattr(self, "_pairs", [])
        ]
        card["fresh_inputs"] = [names[j] for j in getattr(self, "_fresh", [])]
        card["coupled_values"] = [
            {"column": c.column, "value": c.value, "where": c.partner, "is": c.partner_value}
            for c in getattr(self, "_couplings", [])
        ]
        return card

    # --- fitting ------------------------------------------------------------------------------
    def _fit(self, train: pd.DataFrame, schema: DatasetSchema, seed: int) -> None:
        from threadpoolctl import threadpool_limits

        # the matrices are small: BLAS threads only contend (10x slower on 2 busy cores)
        with threadpool_limits(1):
            self._fit_single_thread(train, schema, seed)

    def _fit_single_thread(self, train: pd.DataFrame, schema: DatasetSchema, seed: int) -> None:
        settings = self._settings()
        ordered = check_time_series(train, schema).reset_index(drop=True)
        seq = sequence_ids(ordered, schema)
        self._pairs = self._find_pairs(ordered, schema) if settings["keep_order"] else []
        original = ordered
        for pair in self._pairs:
            ordered = pair.to_gap(ordered)
        first = np.r_[True, seq[1:] != seq[:-1]]
        self._couplings = self._find_couplings(ordered, schema, first) if settings[
            "couple_values"] else []
        hidden = {c.column: c.rows(ordered) for c in self._couplings}
        heads = ordered[first]
        self._codec = _build_codec(ordered, schema, heads, hidden)
        self._index = _IndexModel.fit(ordered, schema, seq, settings["seasonal"])
        self.lags_ = self._lags(settings)
        self._key_labels = self._public_keys(schema)
        data = self._arrays(ordered, schema, seq, heads, hidden)
        self._derived = self._find_derived(ordered, data) if settings["derive"] else []
        self._grids = self._value_grids(original, hidden)
        settings["_channel_sizes"] = self._codec.channel_sizes
        settings["_context_sizes"] = [
            self._contexts.size(j, size) for j, size in enumerate(self._codec.channel_sizes)
        ]
        settings["_lags"] = self.lags_
        settings["_step_allowed"] = self._step_allowed(data)
        settings["_static_sizes"] = [len(lab) + 1 for lab in self._codec.static_cat_labels]
        names = [self._codec.numeric[j].name for j in self._codec.token_columns]
        names += self._codec.categorical
        log.info("hmm: token drivers %s", {
            name: self._codec.numeric[drv.column].name + (" (same step)" if drv.current else "")
            for name, drv in zip(names, self._drivers) if drv.column >= 0
        })
        log.info(
            "hmm: %d sequences, %d steps, %d numeric / %d token / %d static columns, lags %s, "
            "%d seasonal features", data.n_seq, data.n_rows, data.x.shape[1],
            data.tokens.shape[1], data.static_cat.shape[1] + data.static_num.shape[1],
            self.lags_, data.feats.shape[1],
        )
        self._calibration = None  # selection simulates the chain as fitted, uncalibrated
        self.persistence_error_ = None
        if settings["n_states"] is not None:
            k, params, self.selection_ = settings["n_states"], None, None
            z_step, z_first = _regressors(data)
            params = _initial_params(data, k, seed, z_step, z_first, settings)
        else:
            k, params, self.selection_ = self._select(data, settings, seed, original)
        params, _, history = _run_em(data, params, settings, settings["max_iter"], f"hmm K={k}")
        _stabilise(params.ar, self.lags_, self._codec.smooth, self._fresh, self._memory)
        self.n_states_ = k
        self.loss_history = [
            {"iteration": i + 1, "neg_log_likelihood_per_step": -v} for i, v in enumerate(history)
        ]
        self._use(params)
        if settings["calibrate"] and self._codec.numeric:
            rng = np.random.default_rng(seed)
            # twice: the token drivers read calibrated scores, which moves the chain a little
            for _ in range(CALIBRATION_PASSES):
                self._calibration = self._fit_calibration(rng)

    def _use(self, params: _Params) -> None:
        """Make `params` the chain the sampler runs."""
        self._params = params
        has_numeric = params.ar_cov.shape[1] > 0
        self._step_chol = np.linalg.cholesky(params.ar_cov) if has_numeric else params.ar_cov
        self._first_chol = np.linalg.cholesky(params.first_cov) if has_numeric else params.ar_cov

    @staticmethod
    def _varying_numeric(ordered: pd.DataFrame, schema: DatasetSchema) -> list[str]:
        """The plain numeric columns that vary within a sequence: candidates for relations."""
        return [
            c.name for c in schema.columns
            if c.name in ordered.columns and c.role == Role.numerical and not c.static
            and not c.derived_from_index and c.name != schema.sequence_index
        ]

    @classmethod
    def _find_pairs(cls, ordered: pd.DataFrame, schema: DatasetSchema) -> list[OrderedPair]:
        pairs = find_ordered_pairs(ordered, cls._varying_numeric(ordered, schema))
        for pair in pairs:
            log.info(
                "hmm: %s <= %s on every row: %s is modelled as the gap", pair.low, pair.high,
                pair.gap_column,
            )
        return pairs

    def _find_couplings(
        self, ordered: pd.DataFrame, schema: DatasetSchema, first: np.ndarray
    ) -> list[CoupledValue]:
        # a gap column holds gaps here but values in the output, where the rule is applied
        gaps = {p.gap_column for p in self._pairs}
        columns = [c for c in self._varying_numeric(ordered, schema) if c not in gaps]
        couplings = find_coupled_values(ordered, columns, first)
        for c in couplings:
            log.info(
                "hmm: %s is %g exactly where %s is %g: set by that rule, not modelled there",
                c.column, c.value, c.partner, c.partner_value,
            )
        return couplings

    def _value_grids(
        self, real: pd.DataFrame, hidden: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """The real values of each varying numeric column when they are few, leaving out the
        rows a rule sets (`hidden`, row-aligned with `real`): sampled values are snapped onto
        them.

        Why: a score mapped back through the quantile knots lands between two real values
        when it falls between their probability ranges, and a computed column (a gap's, a
        derived one) lands anywhere: the dew point, as temperature minus a gap, took values
        off the real ones, and a detection classifier told real from synthetic rows by that
        alone at 0.90 AUC; on nyc_weather 19 % of sampled temperatures, 46 % of pressures and
        8 % of wind directions were values the data never has."""
        gaps = {p.gap_column for p in self._pairs}
        names = [col.name for col in self._codec.numeric if not col.is_datetime]
        grids = {}
        # gap columns last: each is snapped inside the bound of its anchor, which must be final
        for name in sorted(names, key=lambda name: (name in gaps, name)):
            values = pd.to_numeric(real[name], errors="coerce")
            if name in hidden:  # the rule's value is not one to snap onto
                values = values[~hidden[name]]
            values = values.dropna().unique()
            if 0 < len(values) <= MAX_GRID_VALUES:
                grids[name] = np.sort(values.astype(float))
        return grids

    def _find_derived(self, ordered: pd.DataFrame, data: _Data) -> list[DerivedColumn]:
        """Varying numeric columns that are a smooth function of others in the same row.

        Candidates are the plain numeric columns (no point masses, not datetimes); the rest
        have tokens the function would not reproduce."""
        columns = self._codec.numeric
        values = np.column_stack(
            [_numbers(ordered[col.name], col.is_datetime) for col in columns]
        ) if columns else np.zeros((len(ordered), 0))
        candidates = [
            j for j, col in enumerate(columns) if not col.is_datetime and not len(col.spikes)
        ]
        before = np.vstack([np.full((1, values.shape[1]), np.nan), values[:-1]])
        before[data.first] = np.nan
        smoothness = np.array([
            pd.Series(values[:, j]).corr(pd.Series(before[:, j])) for j in range(values.shape[1])
        ])
        derived = find_derived(values, candidates, np.nan_to_num(smoothness, nan=1.0))
        for fit in derived:
            log.info(
                "hmm: %s is recomputed from %s (R^2 %.4f), not modelled on its own",
                columns[fit.target].name, [columns[j].name for j in fit.inputs], fit.r2,
            )
        return derived

    def _fit_calibration(self, rng: np.random.Generator) -> np.ndarray | None:
        """Quantiles of each numeric column's simulated continuous scores, at fixed levels.

        Why: an autoregressive chain's long-run spread and level need not equal the data's
        (a slow column such as pressure drifts), so shapes suffered while the dynamics were
        right. Sampling maps scores through these quantiles onto N(0, 1), the training
        scores' distribution: a fixed monotone map per column, learnt once here, so it keeps
        the ranks and the autocorrelation and does not depend on how much is sampled later.
        """
        mean_length = float(np.dot(self._index.lengths, self._index.length_probs))
        n = int(np.clip(np.ceil(CALIBRATION_ROWS / max(mean_length, 1.0)), 1, 256))
        lengths, index_numbers = self._index.sample(n, rng, None)
        first_state, _ = self._draw_statics(n, rng, {})
        scores: list[np.ndarray] = []
        self._draw_steps(first_state, lengths, index_numbers, rng, record=scores)
        x = np.concatenate(scores)
        quantiles = []
        for j in range(x.shape[1]):
            continuous = x[~np.isnan(x[:, j]), j]
            if len(continuous) < 100:  # too few to say anything: leave the column as drawn
                quantiles.append(CALIBRATION_SCORES)
            else:
                quantiles.append(np.quantile(continuous, CALIBRATION_LEVELS))
        return np.array(quantiles)

    def _calibrated(self, x: np.ndarray, only: int | None = None) -> np.ndarray:
        """Scores mapped onto N(0, 1); `only`: just that column (the others as they are)."""
        calibration = getattr(self, "_calibration", None)  # None in models saved before it
        if calibration is None or (only is not None and only < 0):
            return x
        if only is not None:
            out = x.copy()
            out[:, only] = np.interp(x[:, only], calibration[only], CALIBRATION_SCORES)
            return out
        return np.column_stack(
            [np.interp(x[:, j], calibration[j], CALIBRATION_SCORES) for j in range(x.shape[1])]
        )

    def _settings(self) -> dict[str, Any]:
        return self.settings.model_dump()

    def _lags(self, settings: dict[str, Any]) -> list[int]:
        if not settings["autoregressive"]:
            return []
        if settings["lags"] is not None:
            return sorted(set(int(v) for v in settings["lags"]))
        season = self._index.season_lag
        return sorted({1, 2} | ({season} if season else set()))

    def _step_allowed(self, data: _Data) -> np.ndarray:
        """Which regressors each column's step equation uses: all, except that the previous
        step's tokens of a column only enter that column's own equation (elsewhere a token
        that persists for days, like pressure missing, would act as a forcing that the
        near-unit-root dynamics amplify)."""
        d = data.x.shape[1]
        n_lagged = data.lagged.shape[1]
        allowed = np.ones((d, n_lagged + len(self._own_design) + data.design.shape[1]
                           + 1 + data.feats.shape[1]), dtype=bool)
        token_cols = self._codec.token_columns
        if self._memory:
            # a column's slow average enters its own equation only, and only for a column
            # without point masses: rain is no reading of a slow signal (with it, precip's
            # lag-1 fell to 0.40-0.43 against 0.45 real; without, 0.48-0.49)
            allowed[:, n_lagged - d : n_lagged] = np.diag(self._codec.smooth)
        for i, (j, _) in enumerate(self._own_design):
            allowed[:, n_lagged + i] = False
            allowed[token_cols[j], n_lagged + i] = True
        return allowed

    @staticmethod
    def _public_keys(schema: DatasetSchema) -> list[Any] | None:
        """Categories of a key the schema declares public; None for a regenerated id key."""
        if schema.sequence_key is None:
            return None
        spec = schema.column(schema.sequence_key)
        return list(spec.categories or []) if spec.role == Role.categorical else None

    def _arrays(
        self, ordered: pd.DataFrame, schema: DatasetSchema, seq: np.ndarray, heads: pd.DataFrame,
        hidden: dict[str, np.ndarray],
    ) -> _Data:
        """`hidden`: rows of a column set by a rule, unobserved for the chain (their token
        stays the data's: a calm hour's direction is not missing)."""
        c = self._codec
        n = len(ordered)
        raw = [_numbers(ordered[col.name], col.is_datetime) for col in c.numeric]
        full = np.column_stack(
            [col.continuous.forward(v) for col, v in zip(c.numeric, raw)]
        ) if raw else np.zeros((n, 0))
        x = np.column_stack(
            [np.where(np.isin(v, col.spikes), np.nan, col.continuous.forward(v))
             for col, v in zip(c.numeric, raw)]
        ) if raw else np.zeros((n, 0))
        if raw:
            unseen = np.isnan(np.column_stack(raw))
            for j, col in enumerate(c.numeric):
                unseen[:, j] |= hidden.get(col.name, False)
            full[unseen] = np.nan
            x[unseen] = np.nan
        tokens = [c.numeric[j].tokens(raw[j]) for j in c.token_columns]
        tokens += [category_codes(ordered[col], lab) for col, lab in zip(c.categorical, c.labels)]
        token_arr = np.column_stack(tokens) if tokens else np.zeros((n, 0), dtype=np.int64)
        observed = ~np.isnan(x)
        first = np.r_[True, seq[1:] != seq[:-1]]
        prev_tokens = np.vstack([np.zeros((1, token_arr.shape[1]), dtype=np.int64), token_arr[:-1]])
        prev_tokens[first] = 0
        last = _carry_forward(full, first, 1)
        now = _carry_forward(full, first, 0)
        self._drivers = _choose_drivers(
            token_arr, prev_tokens, last, now, first, c.token_columns
        ) if self.settings.current_drivers else [
            _choose_driver(token_arr[:, j], prev_tokens[:, j], last, first, False, -1)
            for j in range(token_arr.shape[1])
        ]
        all_design = _design_columns(token_arr, self._codec.channel_sizes)
        # a token drawn after the values cannot be one of their regressors
        self._design = [(j, k) for j, k in all_design if not self._drivers[j].current]
        n_token_numeric = len(self._codec.token_columns)
        self._own_design = [(j, k) for j, k in all_design if j < n_token_numeric]
        sizes = c.channel_sizes
        self._contexts = _Contexts(
            DRIVER_BINS, [len(AGE_EDGES) + 1 if size <= MAX_AGE_TOKENS else 1 for size in sizes]
        )
        ages = _run_ages(token_arr, first)
        contexts = np.column_stack([
            self._contexts.code(
                j, prev_tokens[:, j], ages[:, j],
                _driver_bin(driver, now if driver.current else last),
            ) for j, driver in enumerate(self._drivers)
        ]).astype(np.int64) if self._drivers else prev_tokens
        static_num = np.column_stack(
            [t.forward(_numbers(heads[col], schema.column(col).role == Role.datetime))
             for col, t in zip(c.static_num, c.static_transforms)]
        ) if c.static_num else np.zeros((len(heads), 0))
        if c.static_num:
            static_num[heads[c.static_num].isna().to_numpy()] = np.nan
        static_cat = [
            category_codes(heads[col], lab) for col, lab in zip(c.static_cat, c.static_cat_labels)
        ]
        index_numbers = (
            index_as_seconds(ordered[schema.sequence_index]) if self._index.is_datetime
            else ordered[schema.sequence_index].to_numpy(dtype=float)
        )
        lagged = [_carry_forward(full, first, lag) for lag in self.lags_]
        missing_share = np.isnan(full).mean(0) if n else np.zeros(full.shape[1])
        # counted as a lag-1 input (`_stabilise`), so only next to one
        sparse = np.flatnonzero(missing_share >= FRESH_MISSING_SHARE) if 1 in self.lags_ else []
        self._fresh = [int(j) for j in sparse]
        if self._fresh:
            fresh = np.vstack([np.zeros((1, len(self._fresh))), full[:-1, self._fresh]])
            fresh[first] = 0.0
            lagged.append(np.nan_to_num(fresh, nan=0.0))
        self._memory = float(self.settings.memory) if lagged else 0.0
        if self._memory:
            average = _moving_average(now, first, self._memory)
            lagged.append(np.vstack([np.zeros((1, full.shape[1])), average[:-1]]) * ~first[:, None])
        return _Data(
            x=x, observed=observed,
            lagged=np.hstack(lagged) if lagged else np.zeros((n, 0)),
            feats=self._index.features(index_numbers), first=first,
            tokens=token_arr, contexts=contexts, seq=seq,
            design=_token_design(token_arr, self._design),
            prev_design=_token_design(prev_tokens, self._own_design),
            pos=sequence_positions(ordered, schema).to_numpy(),
            static_cat=np.column_stack(static_cat).astype(np.int64) if static_cat
            else np.zeros((len(heads), 0), dtype=np.int64),
            static_num=static_num, patterns=_patterns(observed),
        )

    def _select(
        self, data: _Data, settings: dict[str, Any], seed: int, original: pd.DataFrame
    ) -> tuple[int, _Params, dict[int, float]]:
        """BIC over the state grid (stops once two larger K in a row do not improve it); then,
        with `check_persistence`, of the K up to BIC's choice the one whose simulated steps
        keep the data's lag-1 autocorrelations best.

        Why: BIC scores one-step prediction, not what a simulation of the chain does. On
        nyc_weather it chose 4 states, short regimes (2-7 hours) whose switches change the
        regression under a running series: the samples lost persistence (visibility's lag-1
        0.835 against 0.886 real, gusts 0.711 against 0.759, humidity 0.950 against 0.964).
        With 2 states 0.85, 0.72 and 0.96, over three fit seeds; with 1, wind direction's
        fell to 0.62 (real 0.72) and visibility's to 0.81. Rank gaps by K: 1: 0.035, 2: 0.014,
        4: 0.028."""
        z_step, z_first = _regressors(data)
        grid = [k for k in STATE_GRID if k <= settings["max_states"]]
        bic: dict[int, float] = {}
        fitted: dict[int, _Params] = {}
        best_k, worse = grid[0], 0
        for k in grid:
            params = _initial_params(data, k, seed, z_step, z_first, settings)
            params, loglik, _ = _run_em(
                data, params, settings, settings["selection_max_iter"], f"hmm select K={k}",
                logging.DEBUG,
            )
            n_free = _n_free(params, data, settings["state_tokens"])
            bic[k] = round(float(-2 * loglik + n_free * np.log(data.n_rows)), 1)
            log.info("hmm: K=%d BIC %.1f", k, bic[k])
            fitted[k] = params
            if k == grid[0] or bic[k] < bic[best_k]:
                best_k, worse = k, 0
            else:
                worse += 1
                if worse == 2:
                    break
        if settings["check_persistence"] and self.lags_ and data.x.shape[1]:
            target = self._value_lag1(original)
            errors = {
                k: self._persistence_error(fitted[k], target, seed) for k in fitted if k <= best_k
            }
            self.persistence_error_ = {k: round(e, 4) for k, e in errors.items()}
            log.info("hmm: lag-1 gap (ranks) of a simulation by K %s", self.persistence_error_)
            best_k = min(errors, key=lambda k: (errors[k], k))
        return best_k, fitted[best_k], bic

    def _persistence_error(self, params: _Params, target: np.ndarray, seed: int) -> float:
        """Mean absolute gap, over the numeric columns, between the data's lag-1
        autocorrelations (`target`, `_value_lag1`) and those of a simulation of `params`
        (stabilised, uncalibrated), both on ranks."""
        simulated = replace(params, ar=params.ar.copy())
        _stabilise(simulated.ar, self.lags_, self._codec.smooth, self._fresh, self._memory)
        self._use(simulated)
        mean_length = float(np.dot(self._index.lengths, self._index.length_probs))
        n = int(np.clip(np.ceil(PERSISTENCE_ROWS / max(mean_length, 1.0)), 2, 256))
        if self._key_labels is not None:  # public keys: no more sequences than keys
            n = min(n, len(self._key_labels))
        frame = self._sample_single_thread(n, np.random.default_rng(seed), {})
        gaps = np.abs(self._value_lag1(frame) - target)
        return float(np.nanmean(gaps)) if np.isfinite(gaps).any() else 0.0

    def _value_lag1(self, frame: pd.DataFrame) -> np.ndarray:
        """(d,) lag-1 autocorrelation of each numeric column's values as ranks, within each
        sequence and averaged over them (`mean_autocorrelation`, the reported metric). Ranks:
        one outlier (nyc_weather's 1048 mph wind, which a simulation may draw or not) swayed
        the Pearson gap of wind speed between 0.1 and 0.6 from one K to the next."""
        schema = self._fitted_schema()
        columns = [col.name for col in self._codec.numeric if not col.is_datetime]
        ranked = frame.copy()
        for c in columns:
            ranked[c] = pd.Series(_numbers(frame[c], False), index=frame.index).rank()
        return np.array([mean_autocorrelation(ranked, schema, c, 1) for c in columns])

    # --- sampling -----------------------------------------------------------------------------
    def _sample(self, n: int, rng: np.random.Generator, conditions: dict[str, Any]) -> pd.DataFrame:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):
            return self._sample_single_thread(n, rng, conditions)

    def _sample_single_thread(
        self, n: int, rng: np.random.Generator, conditions: dict[str, Any]
    ) -> pd.DataFrame:
        schema = self._fitted_schema()
        self._check_sample_conditions(conditions, n)
        lengths, index_numbers = self._index.sample(n, rng, self.params.get("length"))
        first_state, statics = self._draw_statics(n, rng, conditions)
        frame = pd.DataFrame(self._draw_steps(first_state, lengths, index_numbers, rng))
        for pair in getattr(self, "_pairs", []):  # absent in models saved before it
            frame = pair.from_gap(frame)
        for name, grid in getattr(self, "_grids", {}).items():
            bounds = {}
            for pair in self._pairs:  # a snapped gap column keeps its pair's order
                if pair.gap_column == name:
                    side = "high" if name == pair.low else "low"
                    bounds[side] = frame[pair.anchor].to_numpy(dtype=float)
            frame[name] = _snap(frame[name].to_numpy(dtype=float), grid, **bounds)
        for coupling in getattr(self, "_couplings", []):  # absent in models saved before it
            frame = coupling.apply(frame)
        seq = np.repeat(np.arange(n), lengths)
        for name, values in statics.items():
            frame[name] = values[seq]
        for name in self._codec.all_missing:
            frame[name] = np.nan
        if schema.sequence_key:
            frame[schema.sequence_key] = (
                np.asarray(self._key_order(n, rng), dtype=object)[seq]
                if self._key_labels is not None else seq
            )
        flat = np.concatenate(index_numbers) if n else np.zeros(0)
        frame[schema.sequence_index] = self._index.to_index(flat).array
        return frame

    def _check_sample_conditions(self, conditions: dict[str, Any], n: int) -> None:
        static = set(self._codec.static_cat)
        varying = sorted(set(conditions) - static)
        if varying:
            raise PipelineError(
                f"the hmm model conditions only on static (per-entity) categorical columns "
                f"{sorted(static)}; {varying} vary within a sequence. Filter the sampled "
                "sequences instead."
            )
        if self._key_labels is not None and n > len(self._key_labels):
            raise PipelineError(
                f"the schema declares {len(self._key_labels)} public values for sequence_key "
                f"{self.schema.sequence_key!r}, so at most that many sequences can be sampled "
                f"(asked {n}); make the key role 'id' to sample more"
            )

    def _key_order(self, n: int, rng: np.random.Generator) -> list[Any]:
        return [self._key_labels[i] for i in rng.permutation(len(self._key_labels))[:n]]

    def _draw_statics(
        self, n: int, rng: np.random.Generator, conditions: dict[str, Any]
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The first step's state of each sequence, and its static values drawn given it."""
        p, c = self._params, self._codec
        log_start = np.log(p.start)[None, :].repeat(n, 0)
        fixed: dict[int, int] = {}
        for j, (col, labels) in enumerate(zip(c.static_cat, c.static_cat_labels)):
            if col in conditions:
                fixed[j] = [str(v) for v in labels].index(str(conditions[col]))
                log_start += np.log(p.static_cat[j][:, fixed[j]])[None, :]
        state = _draw(np.exp(log_start - logsumexp(log_start, axis=1, keepdims=True)), rng)
        out: dict[str, np.ndarray] = {}
        for j, (col, labels) in enumerate(zip(c.static_cat, c.static_cat_labels)):
            codes = np.full(n, fixed[j]) if j in fixed else _draw(p.static_cat[j][state], rng)
            out[col] = np.array(list(labels) + [None], dtype=object)[codes]
        for j, (col, tr) in enumerate(zip(c.static_num, c.static_transforms)):
            z = p.static_mean[state, j] + np.sqrt(p.static_var[state, j]) * rng.standard_normal(n)
            values = tr.inverse(z)
            values[rng.random(n) < c.static_missing[j]] = np.nan
            out[col] = self._from_numbers(col, values)
        return state, out

    def _draw_steps(
        self,
        first_state: np.ndarray,
        lengths: np.ndarray,
        index_numbers: list[np.ndarray],
        rng: np.random.Generator,
        record: list[np.ndarray] | None = None,
    ) -> dict[str, Any]:
        """Run the chain for all sequences together, one step at a time.

        `record` collects each step's raw continuous scores (NaN off the continuous token)
        for the calibration; the output values are calibrated, the chain's own inputs not.
        """
        p, c = self._params, self._codec
        n, d, n_chan = len(lengths), len(c.numeric), len(p.token_first)
        t_max = int(lengths.max()) if n else 0
        feats = np.zeros((t_max, n, self._index.n_features))
        for i, numbers in enumerate(index_numbers):
            feats[: len(numbers), i] = self._index.features(numbers)
        values_all = np.full((t_max, n, d), np.nan)
        carried = np.zeros((t_max, n, d))  # last observed value at or before each step
        tokens = np.zeros((t_max, n, n_chan), dtype=np.int64)
        ages = np.ones((n, n_chan), dtype=np.int64)  # steps the current token has lasted
        token_cols = c.token_columns
        ones = np.ones((n, 1))
        sparse = getattr(self, "_fresh", [])  # absent in models saved before format 4
        memory = getattr(self, "_memory", 0.0)
        average: list[np.ndarray] = []  # [slow average up to the step before] with `memory`
        fresh = np.zeros((n, len(sparse)))
        names = [col.name for col in c.numeric]
        couplings = [
            (names.index(cv.column), names.index(cv.partner), cv.partner_value)
            for cv in getattr(self, "_couplings", [])
        ]
        state = first_state
        for t in range(t_max):
            if t:
                state = _draw(p.trans[state], rng)
            self._draw_tokens(t, state, tokens, ages, carried, after=False, rng=rng)
            design = _token_design(tokens[t], self._design)
            if t:
                lagged = [carried[t - lag] if t >= lag else np.zeros((n, d)) for lag in self.lags_]
                before = _token_design(tokens[t - 1], self._own_design)
                z = np.hstack([*lagged, fresh, *average, before, design, ones, feats[t]])
                mean, chol = np.einsum("nr,ndr->nd", z, p.ar[state]), self._step_chol[state]
            else:
                z = np.hstack([design, ones, feats[t]])
                mean, chol = np.einsum("nr,ndr->nd", z, p.first[state]), self._first_chol[state]
            x = mean + np.einsum("nij,nj->ni", chol, rng.standard_normal((n, d)))
            x = np.clip(x, -Z_LIMIT, Z_LIMIT)
            continuous = self._continuous_values(x)
            if t and any(driver.current for driver in self._drivers):
                now = self._scores(self._with_tokens(continuous.copy(), tokens[t]), carried[t - 1])
                self._draw_tokens(t, state, tokens, ages, carried, after=True, rng=rng, now=now)
            ages = np.where(tokens[t] == tokens[t - 1], ages + 1, 1) if t else ages
            values = self._with_tokens(continuous, tokens[t])
            values_all[t] = self._values(self._calibrated(x), tokens[t]) if d else values
            for fit in getattr(self, "_derived", []):  # absent in models saved before it
                noise = rng.standard_normal(n)
                values[:, fit.target] = fit.predict(values, noise)
                values_all[t][:, fit.target] = fit.predict(values_all[t], noise)
            for j, partner, value in couplings:  # unobserved there, as in fitting
                values[values[:, partner] == value, j] = np.nan
            if record is not None:
                live = t < lengths
                record.append(np.where(self._continuous_token(tokens[t]), x, np.nan)[live])
            carried[t] = self._scores(values, carried[t - 1] if t else np.zeros((n, d)))
            fresh = np.where(np.isnan(values[:, sparse]), 0.0, carried[t][:, sparse])
            if memory:
                average = [memory * average[0] + (1 - memory) * carried[t] if t else carried[t]]
        keep = (np.arange(t_max)[:, None] < lengths[None, :]).T  # rows sequence by sequence
        rows_values = values_all.transpose(1, 0, 2)[keep]
        rows_tok = tokens.transpose(1, 0, 2)[keep]
        out: dict[str, Any] = {}
        for j, col in enumerate(c.numeric):
            out[col.name] = self._from_numbers(col.name, rows_values[:, j])
        offset = len(token_cols)
        for j, (col, labels) in enumerate(zip(c.categorical, c.labels)):
            out[col] = np.array(list(labels) + [None], dtype=object)[rows_tok[:, offset + j]]
        return out

    def _draw_tokens(
        self, t: int, state: np.ndarray, tokens: np.ndarray, ages: np.ndarray,
        carried: np.ndarray, after: bool, rng: np.random.Generator,
        now: np.ndarray | None = None,
    ) -> None:
        """Step t's tokens of the channels drawn before the values (`after=False`: all of
        them on a first step, which has no past) or after them, from their current drivers.
        `ages`: how long each channel's previous token has lasted."""
        p = self._params
        layout = getattr(self, "_contexts", None) or _Contexts(4, [1] * len(self._drivers))
        for j, driver in enumerate(self._drivers):
            if (driver.current and t > 0) != after:
                continue
            if t == 0:
                probs = p.token_first[j][state]
            else:
                # on the data's scale: the chain's own marginal drifts (see `_fit_calibration`)
                bins = _driver_bin(driver, self._calibrated(now if after else carried[t - 1],
                                                            driver.column))
                context = layout.code(j, tokens[t - 1, :, j], ages[:, j], bins)
                table = p.token_trans[j]
                probs = table[np.minimum(state, len(table) - 1), context]
            tokens[t, :, j] = _draw(probs, rng)

    def _scores(self, values: np.ndarray, before: np.ndarray) -> np.ndarray:
        """Scores of one step's values (all of them, point masses included), the value
        before carried where missing: the lagged inputs and token drivers of later steps."""
        columns = self._codec.numeric
        if not columns:
            return before
        scores = np.column_stack(
            [col.continuous.forward(values[:, j]) for j, col in enumerate(columns)]
        )
        return np.where(np.isnan(scores), before, scores)

    def _continuous_token(self, tokens: np.ndarray) -> np.ndarray:
        """(n, d): whether each numeric column's value this step is its continuous part."""
        c = self._codec
        mask = np.ones((len(tokens), len(c.numeric)), dtype=bool)
        for i, j in enumerate(c.token_columns):
            mask[:, j] = tokens[:, i] == 0
        return mask

    def _values(self, x: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        """Column values of one step from its continuous scores and its tokens."""
        return self._with_tokens(self._continuous_values(x), tokens)

    def _continuous_values(self, x: np.ndarray) -> np.ndarray:
        c = self._codec
        return np.column_stack(
            [col.continuous.inverse(x[:, j]) for j, col in enumerate(c.numeric)]
        ) if c.numeric else x

    def _with_tokens(self, values: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        """The continuous values with point masses and missing values put where the tokens
        say (in place)."""
        c = self._codec
        for i, j in enumerate(c.token_columns):
            col, code = c.numeric[j], tokens[:, i]
            if len(col.spikes):
                spike = col.spike_code(code)
                values[:, j] = np.where(spike >= 0, col.spikes[np.maximum(spike, 0)], values[:, j])
            if col.has_missing:
                values[code == 1, j] = np.nan
        return values

    def _from_numbers(self, col: str, values: np.ndarray) -> Any:
        if self.schema.column(col).role != Role.datetime:
            return values
        stamps = pd.to_datetime(np.round(np.nan_to_num(values) * 1e9).astype("int64"), unit="ns")
        return pd.Series(stamps).where(~np.isnan(values)).to_numpy()
