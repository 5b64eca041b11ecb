"""What a step's regression reads: lagged values, fresh inputs, each column's slow average,
the tokens of this step and the one before, and which of them enter which equation.

A step's regressors are, in this order: the last observed value at or before t - lag for
each lag, the fresh value at t - 1 of each sparse column, the slow average up to t - 1 (with
`memory`), the previous step's tokens, this step's tokens, 1 and the seasonal features.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.models.hmm.drivers import Contexts, Driver

# A column missing on at least this share of steps also enters the next step as its fresh
# value (observed at the step before, else 0), since its carried value is mostly hours old.
FRESH_MISSING_SHARE = 0.5
# Token channels with more values than this are not used as regressors of the numeric values.
MAX_DESIGN_TOKENS = 20
MIN_DESIGN_ROWS, MIN_DESIGN_SHARE = 30, 0.005
# Fewer steps than this per regressor of the full step equation: the regression all but
# interpolates the data, so past values enter their own column's equation only
# (`own_past_only`).
MIN_STEPS_PER_REGRESSOR = 2


@dataclass(frozen=True)
class Design:
    """The layout of a step's inputs, fixed by the fit and read the same way by the sampler."""

    lags: list[int]
    fresh: list[int]  # sparse numeric columns that also enter as their fresh value
    memory: float  # decay of the slow average (0: none)
    drivers: list[Driver]  # per token channel
    current_tokens: list[tuple[int, int]]  # (channel, token) regressors of this step
    previous_tokens: list[tuple[int, int]]  # the same of the step before, own equation only
    contexts: Contexts
    # a first step's regression has its own intercept beside the shared one (`first_shift`)
    first_shift: bool = False

    def n_lagged(self, d: int) -> int:
        """Width of the lagged block: lags, fresh inputs, slow average."""
        return len(self.lags) * d + len(self.fresh) + (d if self.memory else 0)


def choose_lags(autoregressive: bool, lags: list[int] | None, season_lag: int | None) -> list[int]:
    """The given lags, else 1, 2 and the index's seasonal lag; none for a plain HMM."""
    if not autoregressive:
        return []
    if lags is not None:
        return sorted(set(int(v) for v in lags))
    return sorted({1, 2} | ({season_lag} if season_lag else set()))


def fresh_columns(full: np.ndarray, lags: list[int]) -> list[int]:
    """The columns missing often enough to enter as fresh inputs; counted as a lag-1 input
    (`stabilise`), so only next to one."""
    missing_share = np.isnan(full).mean(0) if len(full) else np.zeros(full.shape[1])
    sparse = np.flatnonzero(missing_share >= FRESH_MISSING_SHARE) if 1 in lags else []
    return [int(j) for j in sparse]


def carry_forward(x: np.ndarray, first: np.ndarray, lag: int) -> np.ndarray:
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


def moving_average(x: np.ndarray, first: np.ndarray, decay: float) -> np.ndarray:
    """Per row, the exponentially weighted average of x up to and including it within its
    sequence (weight `decay` per step back; the first row's value to start)."""
    from scipy.signal import lfilter

    out = np.zeros_like(x)
    starts = np.flatnonzero(first)
    for start, stop in zip(starts, np.r_[starts[1:], len(x)]):
        seg = x[start:stop]
        out[start:stop] = lfilter([1 - decay], [1, -decay], seg, axis=0, zi=decay * seg[:1])[0]
    return out


def lagged_inputs(
    full: np.ndarray, now: np.ndarray, first: np.ndarray, design: Design
) -> np.ndarray:
    """(N, n_lagged) the lagged block of every row (see the module doc)."""
    lagged = [carry_forward(full, first, lag) for lag in design.lags]
    if design.fresh:
        fresh = np.vstack([np.zeros((1, len(design.fresh))), full[:-1, design.fresh]])
        fresh[first] = 0.0
        lagged.append(np.nan_to_num(fresh, nan=0.0))
    if design.memory:
        average = moving_average(now, first, design.memory)
        lagged.append(np.vstack([np.zeros((1, full.shape[1])), average[:-1]]) * ~first[:, None])
    return np.hstack(lagged) if lagged else np.zeros((len(full), 0))


def design_columns(tokens: np.ndarray, sizes: list[int]) -> list[tuple[int, int]]:
    """(channel, token) pairs used as regressors: tokens other than 0 seen often enough.

    A token seen on a handful of rows would get a coefficient fitted to those rows alone and
    throw the sampled values off whenever it is drawn.
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


def token_design(tokens: np.ndarray, columns: list[tuple[int, int]]) -> np.ndarray:
    """One-hot tokens as regressors: the values given the tokens.

    This step's tokens make the values go with them (a reported gust with strong wind); the
    previous step's free the autoregression from the point masses' scores (fog after clear
    air is not the continuation of a visibility trend).
    """
    out = np.zeros((len(tokens), len(columns)))
    for i, (j, c) in enumerate(columns):
        out[:, i] = tokens[:, j] == c
    return out


def make_design(
    tokens: np.ndarray, sizes: list[int], n_token_numeric: int, drivers: list[Driver],
    lags: list[int], fresh: list[int], memory: float, n_sequences: int,
) -> Design:
    all_design = design_columns(tokens, sizes)
    return Design(
        lags=lags, fresh=fresh, memory=memory, drivers=drivers,
        # a token drawn after the values cannot be one of their regressors
        current_tokens=[(j, k) for j, k in all_design if not drivers[j].current],
        previous_tokens=[(j, k) for j, k in all_design if j < n_token_numeric],
        contexts=Contexts.for_channels(sizes),
        first_shift=needs_first_shift(n_sequences),
    )


# A first step gets its own intercept when at least this many sequences start.
MIN_STARTS = 10


def needs_first_shift(n_sequences: int) -> bool:
    """Whether a first step's regression, fitted on every step (a sequence may start
    anywhere in the index's span), gets an intercept of the first steps' own: a panel's
    prices start at their lowest, below what every year's fit gives their first year. Its
    slopes and spread stay those of every step, so a start is no narrower than a step; a
    few sequences' starts would only be copied."""
    return n_sequences >= MIN_STARTS


def step_allowed(
    design: Design, spike_free: np.ndarray, token_columns: list[int], n_features: int,
    n_steps: int,
) -> np.ndarray:
    """(d, r) which regressors each column's step equation uses: all, except that the
    previous step's tokens of a column only enter that column's own equation, since
    elsewhere a token that persists for days acts as a forcing the near-unit-root dynamics
    amplify; and, with fewer than MIN_STEPS_PER_REGRESSOR `n_steps` per regressor, a column's
    past values enter its own equation only (`own_past_only`)."""
    d = len(spike_free)
    n_lagged = design.n_lagged(d)
    width = n_lagged + len(design.previous_tokens) + len(design.current_tokens) + 1 + n_features
    allowed = np.ones((d, width), dtype=bool)
    if n_steps < MIN_STEPS_PER_REGRESSOR * width:
        own_past_only(allowed, design, d)
    if design.memory:
        # a column's slow average enters its own equation only, and only for a column
        # without point masses: rain is no reading of a slow signal
        allowed[:, n_lagged - d : n_lagged] = np.diag(spike_free)
    for i, (j, _) in enumerate(design.previous_tokens):
        allowed[:, n_lagged + i] = False
        allowed[token_columns[j], n_lagged + i] = True
    return allowed


def own_past_only(allowed: np.ndarray, design: Design, d: int) -> None:
    """Each column's lags and fresh input in its own equation only (in place): a short wide
    series (ten years of 23 monthly employment counts) cannot estimate every column's
    regression on every other's past; the near-saturated fit simulated noise, and the
    columns' co-movement is kept by the innovations' covariance instead."""
    for i in range(len(design.lags)):
        allowed[:, i * d : (i + 1) * d] = np.eye(d, dtype=bool)
    start = len(design.lags) * d
    for i, j in enumerate(design.fresh):
        allowed[:, start + i] = False
        allowed[j, start + i] = True
