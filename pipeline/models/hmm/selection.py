"""The number of states: BIC over a grid, then, of the counts up to BIC's choice, the one whose
simulation keeps the data's lag-1 autocorrelations best.

BIC scores one-step prediction, not what a simulation of the chain does: it can prefer many
short regimes whose switches change the regression under a running series, and samples then
lose persistence. Simulating each candidate and comparing lag-1 autocorrelations catches that.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.models.hmm.chain import ChainParams
from pipeline.models.hmm.codec import numbers
from pipeline.models.hmm.data import Data
from pipeline.models.hmm.em import initial_params, n_free, run_em
from pipeline.models.hmm.fitted import FittedHMM
from pipeline.models.hmm.mstep import EMOptions
from pipeline.models.hmm.simulate import simulate
from pipeline.schema import DatasetSchema
from pipeline.validation.sequence_metrics import mean_autocorrelation

log = logging.getLogger(__name__)

STATE_GRID = (1, 2, 4, 6, 8, 12, 16, 24, 32)
# Rows simulated from each candidate K to compare its lag-1 autocorrelations with the data's.
PERSISTENCE_ROWS = 20_000


@dataclass(frozen=True)
class StateSelection:
    n_states: int
    bic: dict[int, float] | None  # per K tried; None: K was given
    persistence_error: dict[int, float] | None  # per K simulated; None: not checked


@dataclass(frozen=True)
class PersistenceCheck:
    """How a candidate chain is simulated and compared with the data."""

    schema: DatasetSchema
    target: np.ndarray  # (d,) the data's lag-1 autocorrelations (`value_lag1`)
    fitted_for: Callable[[ChainParams], FittedHMM]  # the chain as a sampler (stabilised)
    seed: int
    length: int | None  # sampled sequences' length (unset: the real lengths)

    def error(self, params: ChainParams) -> float:
        return persistence_error(
            self.fitted_for(params), self.target, self.schema, self.seed, self.length
        )


def select_states(
    data: Data, options: EMOptions, max_states: int, max_iter: int, seed: int,
    check: PersistenceCheck | None,
) -> tuple[StateSelection, ChainParams]:
    """BIC over the state grid (stops once two larger K in a row do not improve it); then,
    with a `check`, of the K up to BIC's choice the one whose simulated steps keep the data's
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
    grid = [k for k in STATE_GRID if k <= max_states]
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


def persistence_error(
    fitted: FittedHMM, target: np.ndarray, schema: DatasetSchema, seed: int,
    length: int | None,
) -> float:
    """Mean absolute gap, over the numeric columns, between the data's lag-1
    autocorrelations (`target`) and those of a simulation of `fitted`, both on ranks."""
    n = int(np.clip(np.ceil(PERSISTENCE_ROWS / max(fitted.index.mean_length, 1.0)), 2, 256))
    if fitted.key_labels is not None:  # public keys: no more sequences than keys
        n = min(n, len(fitted.key_labels))
    frame = simulate(fitted, n, np.random.default_rng(seed), {}, length)
    columns = [col.name for col in fitted.codec.numeric if not col.is_datetime]
    gaps = np.abs(value_lag1(frame, schema, columns) - target)
    return float(np.nanmean(gaps)) if np.isfinite(gaps).any() else 0.0


def value_lag1(frame: pd.DataFrame, schema: DatasetSchema, columns: list[str]) -> np.ndarray:
    """Lag-1 autocorrelation of each column's values as ranks, within each sequence and
    averaged over them (`mean_autocorrelation`, the reported metric). Ranks, since one
    outlier a simulation may draw or not would sway a Pearson gap."""
    ranked = frame.copy()
    for c in columns:
        ranked[c] = pd.Series(numbers(frame[c], False), index=frame.index).rank()
    return np.array([mean_autocorrelation(ranked, schema, c, 1) for c in columns])
