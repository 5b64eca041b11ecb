"""The number of states: BIC over a grid, then, of the counts up to BIC's choice, the one whose
simulation keeps the data's lag-1 autocorrelations best.

BIC scores one-step prediction, not what a simulation of the chain does: it can prefer many
short regimes whose switches change the regression under a running series, and samples then
lose persistence. Simulating each candidate and comparing lag-1 autocorrelations catches that.
A simulation also shows the calendar profile, each column's mean level by phase of the
longest cycle the index covers (month of the year): `fit` compares it to choose the slow
average, which can put a year's summer in its spring.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.models.hmm.chain import ChainParams
from pipeline.models.hmm.codec import Codec, numbers
from pipeline.models.hmm.data import Data, index_numbers
from pipeline.models.hmm.em import initial_params, n_free, run_em
from pipeline.models.hmm.fitted import FittedHMM
from pipeline.models.hmm.index import IndexModel
from pipeline.models.hmm.mstep import EMOptions
from pipeline.models.hmm.simulate import simulate
from pipeline.schema import DatasetSchema
from pipeline.validation.sequence_metrics import mean_autocorrelation

log = logging.getLogger(__name__)

STATE_GRID = (1, 2, 4, 6, 8, 12, 16, 24, 32)
MIN_ROWS_PER_STATE = 2  # fewer rows than this per state and a state is seen nowhere
# Rows simulated from each candidate K to compare its dynamics with the data's.
PERSISTENCE_ROWS = 20_000
PROFILE_BUCKETS = 12  # phases of the longest cycle a calendar profile compares


@dataclass(frozen=True)
class Targets:
    """What a simulation must keep, measured on the data (values as ranks, so one outlier a
    simulation may draw or not does not sway them): per numeric column the lag-1
    autocorrelation within sequences and the mean rank share by phase of the index's longest
    cycle (None without cycles)."""

    lag1: np.ndarray  # (d,)
    profile: np.ndarray | None  # (d, PROFILE_BUCKETS)

    @classmethod
    def of(cls, frame: pd.DataFrame, schema: DatasetSchema, columns: list[str],
           index: IndexModel) -> Targets:
        ranked = _ranked(frame, columns)
        phases = index.phase_buckets(index_numbers(frame, schema, index), PROFILE_BUCKETS)
        return cls(
            lag1=_autocorrelations(ranked, schema, columns, 1),
            profile=None if phases is None else _profile(ranked, columns, phases),
        )

    def gaps(self, drawn: Targets) -> Gaps:
        """Mean absolute gaps between these targets and a simulation's."""
        profile = None if self.profile is None or drawn.profile is None \
            else _mean_gap(self.profile, drawn.profile)
        return Gaps(_mean_gap(self.lag1, drawn.lag1), profile)


@dataclass(frozen=True)
class Gaps:
    lag1: float
    profile: float | None


@dataclass(frozen=True)
class StateSelection:
    n_states: int
    bic: dict[int, float] | None  # per K tried; None: K was given
    persistence_error: dict[int, float] | None  # per K simulated; None: not checked


@dataclass(frozen=True)
class PersistenceCheck:
    """How a candidate chain is simulated and compared with the data."""

    schema: DatasetSchema
    targets: Targets  # measured on the training data
    fitted_for: Callable[[ChainParams], FittedHMM]  # the chain as a sampler (stabilised)
    seed: int
    length: int | None  # sampled sequences' length (unset: the real lengths)

    def error(self, params: ChainParams) -> float:
        """The lag-1 gap of a simulation of `params` (what K and the tails are chosen by)."""
        return self.gaps(params).lag1

    def gaps(self, params: ChainParams) -> Gaps:
        fitted = self.fitted_for(params)
        frame = simulation(fitted, self.seed, self.length)
        drawn = Targets.of(frame, self.schema, plain_numeric(fitted.codec), fitted.index)
        return self.targets.gaps(drawn)


def select_states(
    data: Data, options: EMOptions, max_states: int, max_iter: int, seed: int,
    check: PersistenceCheck | None,
) -> tuple[StateSelection, ChainParams]:
    """BIC over the state grid (stops once two larger K in a row do not improve it); then,
    with a `check`, of the K up to BIC's choice the one whose simulation keeps the data's
    lag-1 autocorrelations best. Returns the choice and its chain, fitted `max_iter` steps."""
    best_k, bic, fitted = _bic_by_states(data, options, max_states, max_iter, seed)
    errors = None
    if check is not None:
        raw = {k: check.error(fitted[k]) for k in fitted if k <= best_k}
        errors = {k: round(e, 4) for k, e in raw.items()}
        log.info("hmm: lag-1 gap (ranks) of a simulation by K %s", errors)
        best_k = min(raw, key=lambda k: (raw[k], k))
    return StateSelection(best_k, bic, errors), fitted[best_k]


def _bic_by_states(
    data: Data, options: EMOptions, max_states: int, max_iter: int, seed: int
) -> tuple[int, dict[int, float], dict[int, ChainParams]]:
    """BIC's choice of K, the BIC of each K tried and its chain."""
    # a state needs rows to be seen in: a short path (a covariate of three years) has few
    grid = [k for k in STATE_GRID
            if k <= max_states and (k == 1 or k * MIN_ROWS_PER_STATE <= data.n_rows)]
    bic: dict[int, float] = {}
    fitted: dict[int, ChainParams] = {}
    best_k, worse = grid[0], 0
    for k in grid:
        params = initial_params(data, k, seed, options)
        params, loglik, _ = run_em(
            data, params, options, max_iter, f"hmm select K={k}", logging.DEBUG
        )
        n_params = n_free(params, data, options.state_tokens)
        bic[k] = round(float(-2 * loglik + n_params * np.log(data.n_rows)), 1)
        log.info("hmm: K=%d BIC %.1f", k, bic[k])
        fitted[k] = params
        if k == grid[0] or bic[k] < bic[best_k]:
            best_k, worse = k, 0
        else:
            worse += 1
            if worse == 2:
                break
    return best_k, bic, fitted


def simulation(fitted: FittedHMM, seed: int, length: int | None) -> pd.DataFrame:
    """About PERSISTENCE_ROWS rows simulated from `fitted` (at least 2, at most 256
    sequences; no more than a public key has values)."""
    n = int(np.clip(np.ceil(PERSISTENCE_ROWS / max(fitted.index.mean_length, 1.0)), 2, 256))
    if fitted.key_labels is not None:
        n = min(n, len(fitted.key_labels))
    return simulate(fitted, n, np.random.default_rng(seed), {}, length)


def plain_numeric(codec: Codec) -> list[str]:
    """The numeric columns the targets compare (times step with the index)."""
    return [col.name for col in codec.numeric if not col.is_datetime]


def value_lag1(frame: pd.DataFrame, schema: DatasetSchema, columns: list[str]) -> np.ndarray:
    """Lag-1 autocorrelation of each column's values as ranks, within each sequence and
    averaged over them (`mean_autocorrelation`, the reported metric)."""
    return _autocorrelations(_ranked(frame, columns), schema, columns, 1)


def _ranked(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The columns as ranks (missing stays missing; whole ranks, so a constant column stays
    exactly constant)."""
    ranked = frame.copy()
    for c in columns:
        ranked[c] = pd.Series(numbers(frame[c], False), index=frame.index).rank()
    return ranked


def _autocorrelations(ranked: pd.DataFrame, schema: DatasetSchema, columns: list[str],
                      lag: int) -> np.ndarray:
    return np.array([mean_autocorrelation(ranked, schema, c, lag) for c in columns])


def _profile(ranked: pd.DataFrame, columns: list[str], phases: np.ndarray) -> np.ndarray:
    """(d, buckets) mean rank share of each column by phase bucket (NaN where none)."""
    out = np.full((len(columns), PROFILE_BUCKETS), np.nan)
    for j, c in enumerate(columns):
        values = ranked[c].to_numpy(dtype=float)
        seen = ~np.isnan(values)
        values = values / max(seen.sum(), 1)
        sums = np.bincount(phases[seen], values[seen], minlength=PROFILE_BUCKETS)
        counts = np.bincount(phases[seen], minlength=PROFILE_BUCKETS)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[j] = sums / counts
    return out


def _mean_gap(real: np.ndarray, drawn: np.ndarray) -> float:
    gaps = np.abs(real - drawn)
    return float(np.nanmean(gaps)) if np.isfinite(gaps).any() else 0.0
