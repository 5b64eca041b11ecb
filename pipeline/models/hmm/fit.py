"""The fit, from the training table to a `FittedHMM`: relations, codec, index, arrays, state
count, EM, stabilisation and calibration, in that order."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from pipeline.models.hmm.calibration import (
    CALIBRATION_PASSES,
    CALIBRATION_SCORES,
    MIN_SCORES,
    calibration_sequences,
    fit_calibration,
)
from pipeline.models.hmm.chain import ChainParams
from pipeline.models.hmm.codec import Codec, build_codec, numbers
from pipeline.models.hmm.data import Data, build_data, continuous_scores, index_numbers
from pipeline.models.hmm.design import Design, choose_lags, step_allowed
from pipeline.models.hmm.em import initial_params, run_em
from pipeline.models.hmm.fitted import FittedHMM
from pipeline.models.hmm.index import IndexModel
from pipeline.models.hmm.mstep import EMOptions
from pipeline.models.hmm.relations import (
    Relations,
    derived_columns,
    find_couplings,
    find_pairs,
    fit_totals,
    value_grids,
)
from pipeline.models.hmm.selection import (
    PersistenceCheck,
    StateSelection,
    Targets,
    plain_numeric,
    select_states,
)
from pipeline.models.hmm.shared import fit_shared, real_scores
from pipeline.models.hmm.simulate import simulated_scores
from pipeline.models.hmm.stability import stabilised
from pipeline.models.hmm.tails import with_tails
from pipeline.models.hmm.time_effects import TimeEffects, fit_time_effects
from pipeline.models.params import HiddenMarkovParams
from pipeline.models.rank_gaussian import RankGaussian
from pipeline.schema import DatasetSchema, Role
from pipeline.timeseries import check_time_series, sequence_ids

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FitResult:
    fitted: FittedHMM
    selection: StateSelection
    history: list[float]  # log-likelihood per step of each iteration of the final EM


# The slow average's decay, and the one tried beside it when the settings leave it unset
# and the index has a calendar cycle: a slow average keeps a column's past day in mind, and
# can put a year's cycle out of phase. The other is taken when its simulation's calendar
# profile gap (mean rank shares) is at most PROFILE_SHARE of the slow average's and at least
# PROFILE_GAIN below it, with a lag-1 gap at most LAG1_SLACK larger: a clear gain, not one
# seed's noise on a profile that was close already.
MEMORY, MEMORY_ALTERNATIVE = 0.9, 0.0
PROFILE_SHARE, PROFILE_GAIN, LAG1_SLACK = 0.5, 0.05, 0.02


@dataclass(frozen=True)
class _Candidate:
    """One slow-average decay's data, design and state count, before the final EM."""

    data: Data
    design: Design
    options: EMOptions
    fitted_for: Callable[[ChainParams], FittedHMM]
    check: PersistenceCheck | None
    selection: StateSelection
    params: ChainParams


def fit_hmm(
    train: pd.DataFrame, schema: DatasetSchema, settings: HiddenMarkovParams, seed: int
) -> FitResult:
    ordered = check_time_series(train, schema).reset_index(drop=True)
    shared = fit_shared(
        ordered, schema, lambda path, path_schema: fit_hmm(path, path_schema, settings, seed).fitted
    )
    shared_scores = real_scores(shared, ordered)
    ordered = ordered.drop(columns=shared.columns if shared else [])
    seq = sequence_ids(ordered, schema)
    pairs, clipped = find_pairs(ordered, schema) if settings.keep_order else ([], [])
    original = ordered
    for pair in pairs:
        ordered = pair.to_gap(ordered)
    first = np.r_[True, seq[1:] != seq[:-1]]
    couplings = find_couplings(ordered, schema, first, pairs) if settings.couple_values else []
    hidden = {c.column: c.rows(ordered) for c in couplings}
    heads = ordered[first]
    codec = build_codec(ordered, schema, heads, hidden, first if settings.step_powers else None)
    trending = _trending(ordered, schema, codec) if settings.trend else np.zeros(0, dtype=bool)
    index = IndexModel.fit(ordered, schema, seq, settings.seasonal,
                           tuple(col.name for col, on in zip(codec.numeric, trending) if on))
    lags = choose_lags(settings.autoregressive, settings.lags, index.season_lag)
    derived = derived_columns(ordered, codec, first) if settings.derive else []
    totals = fit_totals(original, derived, codec, pairs)
    summed = {total.column for total in totals}  # set from its parts: snapping would break it
    relations = Relations(
        pairs=pairs, couplings=couplings, clipped=clipped, derived=derived, totals=totals,
        grids=value_grids(original, [c for c in plain_numeric(codec) if c not in summed],
                          pairs, hidden),
    )
    targets = _targets(settings, schema, original, codec, index, lags)
    effects, effect_inputs = (
        fit_time_effects(continuous_scores(ordered, codec, hidden), first,
                         index_numbers(ordered, schema, index))
        if settings.time_effects and schema.sequence_key else (None, np.zeros((len(ordered), 0))))
    inputs = np.hstack([shared_scores, effect_inputs])

    def candidate(memory: float) -> _Candidate:
        data, design = build_data(
            ordered, schema, seq, heads, hidden, codec, index, lags, memory,
            settings.current_drivers, inputs, effects.width if effects else 0,
        )
        options = _em_options(settings, codec, design, data, index, trending, effects)
        skeleton = partial(FittedHMM, schema.sequence_key, schema.sequence_index,
                           public_keys(schema), codec, index, design, relations)

        def fitted_for(chain: ChainParams) -> FittedHMM:
            """A chain as the sampler runs it: stabilised, uncalibrated."""
            return skeleton(chain=stabilised(chain, design, codec.spike_free), shared=shared,
                            time_effects=effects)

        check = None if targets is None else PersistenceCheck(
            schema, targets, fitted_for, seed, settings.length)
        selection, params = _initial_chain(data, options, settings, seed, check)
        return _Candidate(data, design, options, fitted_for, check, selection, params)

    chosen = _best_candidate(candidate, settings, targets)
    data = chosen.data
    _log_summary(codec, chosen.design, data)
    k = chosen.selection.n_states
    params, _, history = run_em(data, chosen.params, chosen.options, settings.max_iter,
                                f"hmm K={k}")
    if settings.heavy_tails:
        params = _tails_if_persistent(data, params, chosen.check)
    fitted = chosen.fitted_for(params)
    if settings.calibrate and codec.numeric:
        fitted = _calibrate(fitted, data.x, np.random.default_rng(seed))
        if effects is not None and not _calibration_holds(fitted, np.random.default_rng(seed)):
            log.info("hmm: with time effects the marginal calibration does not settle; "
                     "fitted without them")
            return fit_hmm(train, schema, settings.model_copy(update={"time_effects": False}),
                           seed)
    return FitResult(fitted, chosen.selection, history)


def _best_candidate(
    candidate: Callable[[float], _Candidate], settings: HiddenMarkovParams,
    targets: Targets | None,
) -> _Candidate:
    """The given decay's candidate; unset, MEMORY's, or MEMORY_ALTERNATIVE's when the index
    has a calendar cycle and that one's simulation keeps the calendar profile clearly better
    (the state counts each chosen by simulation, as the fit will use them)."""
    if settings.memory is not None:
        return candidate(settings.memory)
    usual = candidate(MEMORY)
    if targets is None or targets.profile is None or usual.check is None \
            or settings.n_states is not None:
        return usual
    kept = usual.check.gaps(usual.params)
    if kept.profile < PROFILE_GAIN:  # close already: no clear gain to look for
        return usual
    other = candidate(MEMORY_ALTERNATIVE)
    tried = other.check.gaps(other.params)
    log.info("hmm: calendar profile / lag-1 gap (ranks) by slow-average decay: %s %.4f / %.4f,"
             " %s %.4f / %.4f", MEMORY, kept.profile, kept.lag1, MEMORY_ALTERNATIVE,
             tried.profile, tried.lag1)
    better = tried.profile <= min(PROFILE_SHARE * kept.profile, kept.profile - PROFILE_GAIN) \
        and tried.lag1 <= kept.lag1 + LAG1_SLACK
    return other if better else usual


def public_keys(schema: DatasetSchema) -> list[Any] | None:
    """Categories of a key the schema declares public; None for a regenerated id key."""
    if schema.sequence_key is None:
        return None
    spec = schema.column(schema.sequence_key)
    return list(spec.categories or []) if spec.role == Role.categorical else None


def _em_options(
    settings: HiddenMarkovParams, codec: Codec, design: Design, data: Data,
    index: IndexModel, trending: np.ndarray, effects: TimeEffects | None,
) -> EMOptions:
    sizes = codec.channel_sizes
    n_features = data.feats.shape[1]
    allowed = step_allowed(design, codec.spike_free, codec.token_columns, n_features,
                           int((~data.first).sum()))
    if index.trend_span is not None:  # the trend feature enters trending columns' steps only
        allowed[:, allowed.shape[1] - n_features + index.n_features - 1] = trending
    if effects is not None:  # a column's time effect enters its own step only (the last inputs)
        own = allowed[:, allowed.shape[1] - effects.width:]
        own[:] = False
        own[effects.columns, np.arange(effects.width)] = True
    return EMOptions(
        smoothing=settings.smoothing, min_variance=settings.min_variance, tol=settings.tol,
        state_tokens=settings.state_tokens, channel_sizes=sizes,
        context_sizes=[design.contexts.size(j, size) for j, size in enumerate(sizes)],
        static_sizes=codec.static_sizes,
        step_allowed=allowed,
    )


# A column trends when its values and the index have a rank correlation at least this
# strong, over all entities: it then follows a common path over the index's span.
TREND_MIN_CORRELATION = 0.5


def _trending(ordered: pd.DataFrame, schema: DatasetSchema, codec: Codec) -> np.ndarray:
    """(d,) which numeric columns follow the index (prices, population, output over the
    years); a column that only wanders, as weather does over a season, rarely correlates
    that strongly with it, and gets no trend to fit its noise."""
    index = ordered[schema.sequence_index].reset_index(drop=True).rank()
    columns = [pd.Series(numbers(ordered[col.name], col.is_datetime)) for col in codec.numeric]
    # a constant column follows nothing (and its correlation would warn on the user's console)
    rho = np.array([values.corr(index, method="spearman", min_periods=3)
                    if values.nunique() > 1 else 0.0 for values in columns])
    return np.abs(np.nan_to_num(rho)) >= TREND_MIN_CORRELATION


def _targets(
    settings: HiddenMarkovParams, schema: DatasetSchema, original: pd.DataFrame, codec: Codec,
    index: IndexModel, lags: list[int],
) -> Targets | None:
    """What the simulation checks compare, when asked and meaningful (autoregressive values
    to simulate)."""
    if not (settings.check_persistence and lags and codec.numeric):
        return None
    return Targets.of(original, schema, plain_numeric(codec), index)


def _tails_if_persistent(
    data: Data, params: ChainParams, check: PersistenceCheck | None
) -> ChainParams:
    """Student-t innovations (`tails`) when they fit the residuals better and, with a
    persistence check, their simulation keeps the lag-1 autocorrelations at least as well:
    a jump that a trending series integrates can cost more persistence than the smaller
    typical noise gains."""
    tailed = with_tails(data, params)
    if tailed is params or check is None:
        return tailed
    gaussian, heavy = check.error(params), check.error(tailed)
    log.info("hmm: lag-1 gap (ranks) of a simulation: Gaussian %.4f, t(%.1f) %.4f",
             gaussian, tailed.step_dof, heavy)
    return tailed if heavy <= gaussian else params


def _initial_chain(
    data: Data, options: EMOptions, settings: HiddenMarkovParams, seed: int,
    check: PersistenceCheck | None,
) -> tuple[StateSelection, ChainParams]:
    """The state count and the chain the final EM starts from."""
    if settings.n_states is not None:
        k = settings.n_states
        return StateSelection(k, None, None), initial_params(data, k, seed, options)
    return select_states(
        data, options, settings.max_states, settings.selection_max_iter, seed, check
    )


def _calibrate(fitted: FittedHMM, training: np.ndarray, rng: np.random.Generator) -> FittedHMM:
    """The fitted model with its marginal calibration, learnt from its own simulations and
    the `training` scores (continuous values, NaN elsewhere)."""
    n = calibration_sequences(fitted.index.mean_length)
    ranked = [isinstance(col.continuous, RankGaussian) for col in fitted.codec.numeric]
    for _ in range(CALIBRATION_PASSES):
        scores = simulated_scores(fitted, n, rng)
        fitted = replace(fitted, calibration=fit_calibration(scores, training, ranked))
    return fitted


# A calibration holds when a simulation under it leaves each column's median raw score at
# most this far (in scores) from the median it was learnt from.
CALIBRATION_DRIFT = 0.35


def _calibration_holds(fitted: FittedHMM, rng: np.random.Generator) -> bool:
    """Whether the chain, run under its calibration, still draws the scores the map was
    learnt from. Token drivers read calibrated scores, so the map moves the chain it maps;
    with time effects that loop can swing between passes instead of settling (a panel of 16
    countries over 51 years: every other pass put their budgets' medians far apart), and the
    published marginals are then off by the swing."""
    scores = simulated_scores(fitted, calibration_sequences(fitted.index.mean_length), rng)
    source = fitted.calibration.source
    for j, col in enumerate(scores.T):
        drawn = col[np.isfinite(col)]
        mapped = not np.array_equal(source[j], CALIBRATION_SCORES)  # else left as drawn
        if mapped and len(drawn) >= MIN_SCORES and abs(
                np.median(drawn) - source[j][len(CALIBRATION_SCORES) // 2]) > CALIBRATION_DRIFT:
            return False
    return True


def _log_summary(codec: Codec, design: Design, data: Data) -> None:
    if codec.step_powers:
        log.info("hmm: steps modelled on a power of the values (0: log) %s", codec.step_powers)
    names = [codec.numeric[j].name for j in codec.token_columns] + codec.categorical
    log.info("hmm: token drivers %s", {
        name: codec.numeric[drv.column].name + (" (same step)" if drv.current else "")
        for name, drv in zip(names, design.drivers) if drv.column >= 0
    })
    log.info(
        "hmm: %d sequences, %d steps, %d numeric / %d token / %d static columns, lags %s, "
        "%d seasonal features", data.n_seq, data.n_rows, data.x.shape[1],
        data.tokens.shape[1], data.static_cat.shape[1] + data.static_num.shape[1],
        design.lags, data.feats.shape[1],
    )
