"""Sampling: a pure function of a `FittedHMM` and a random generator.

Each sequence's first state draws its static values; then the chain runs all sequences
together, one step at a time: tokens (those driven by a current value after the values), the
values' scores from the state's regression on the step's inputs, derived and coupled columns,
and the inputs of the next step built exactly as in fitting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import logsumexp

from pipeline.errors import PipelineError
from pipeline.models.hmm.calibration import calibrated
from pipeline.models.hmm.chunks import in_sequence_order, length_groups
from pipeline.models.hmm.codec import from_numbers
from pipeline.models.hmm.design import token_design
from pipeline.models.hmm.drivers import driver_bin
from pipeline.models.hmm.fitted import FittedHMM
from pipeline.models.hmm.relations import restore
from pipeline.models.hmm.shared import path_frame

# Scores are kept inside this range while sampling, whatever a state's regression does.
Z_LIMIT = 6.0


def simulate(
    fitted: FittedHMM, n: int, rng: np.random.Generator,
    conditions: dict[str, Any] | None = None, length: int | None = None,
) -> pd.DataFrame:
    """n sequences of the modelled columns; `conditions` fix static categorical values,
    `length` every sequence's length (unset: the real lengths)."""
    conditions = conditions or {}
    check_conditions(fitted, conditions, n)
    lengths, index_numbers = fitted.index.sample(n, rng, length)
    path = draw_shared_path(fitted, rng)
    first_state, statics = draw_statics(fitted, n, rng, conditions)
    frame = pd.DataFrame(draw_steps(fitted, first_state, lengths, index_numbers, rng, path))
    frame = restore(frame, fitted.relations)
    seq = np.repeat(np.arange(n), lengths)
    # the other columns gathered and joined at once: one by one, a wide panel's frame
    # fragments and pandas warns on the user's console
    more: dict[str, Any] = {name: values[seq] for name, values in statics.items()}
    flat = np.concatenate(index_numbers) if n else np.zeros(0)
    if path is not None:
        more.update(fitted.shared.values(path, flat))
    more.update({name: np.full(len(seq), np.nan) for name in fitted.codec.all_missing})
    if fitted.sequence_key:
        more[fitted.sequence_key] = (
            np.asarray(_key_order(fitted.key_labels, n, rng), dtype=object)[seq]
            if fitted.key_labels is not None else seq
        )
    more[fitted.sequence_index] = fitted.index.to_index(flat).array
    frame = frame.drop(columns=[c for c in more if c in frame.columns])
    return pd.concat([frame, pd.DataFrame(more, index=frame.index)], axis=1)


def draw_shared_path(fitted: FittedHMM, rng: np.random.Generator) -> pd.DataFrame | None:
    """One path of the shared covariates over the real span, which every entity reads."""
    shared = fitted.shared
    if shared is None:
        return None
    model = shared.path_model
    path = simulate(model, 1, rng, {}, None)
    return shared.as_levels(path_frame(path, model.sequence_index, model.index.is_datetime))


def simulated_scores(fitted: FittedHMM, n: int, rng: np.random.Generator) -> np.ndarray:
    """Each step's raw continuous scores of n simulated sequences (NaN off the continuous
    token), rows sequence by sequence within each step: what the calibration maps."""
    lengths, index_numbers = fitted.index.sample(n, rng, None)
    path = draw_shared_path(fitted, rng)
    first_state, _ = draw_statics(fitted, n, rng, {})
    scores: list[np.ndarray] = []
    draw_steps(fitted, first_state, lengths, index_numbers, rng, path, record=scores)
    return np.concatenate(scores)


def check_conditions(fitted: FittedHMM, conditions: dict[str, Any], n: int) -> None:
    static = set(fitted.codec.static_cat)
    varying = sorted(set(conditions) - static)
    if varying:
        raise PipelineError(
            f"the hmm model conditions only on static (per-entity) categorical columns "
            f"{sorted(static)}; {varying} vary within a sequence. Filter the sampled "
            "sequences instead."
        )
    if fitted.key_labels is not None and n > len(fitted.key_labels):
        raise PipelineError(
            f"the schema declares {len(fitted.key_labels)} public values for sequence_key "
            f"{fitted.sequence_key!r}, so at most that many sequences can be sampled "
            f"(asked {n}); make the key role 'id' to sample more"
        )


def _key_order(labels: list[Any], n: int, rng: np.random.Generator) -> list[Any]:
    return [labels[i] for i in rng.permutation(len(labels))[:n]]


def draw(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw per row of a (n, c) probability matrix."""
    u = rng.random(len(probs))
    return np.minimum((probs.cumsum(1) < u[:, None]).sum(1), probs.shape[1] - 1)


def draw_statics(
    fitted: FittedHMM, n: int, rng: np.random.Generator, conditions: dict[str, Any]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The first step's state of each sequence, and its static values drawn given it."""
    p, c = fitted.chain, fitted.codec
    log_start = np.log(p.start)[None, :].repeat(n, 0)
    fixed: dict[int, int] = {}
    for j, (col, labels) in enumerate(zip(c.static_cat, c.static_cat_labels)):
        if col in conditions:
            fixed[j] = [str(v) for v in labels].index(str(conditions[col]))
            log_start += np.log(p.static_cat[j][:, fixed[j]])[None, :]
    state = draw(np.exp(log_start - logsumexp(log_start, axis=1, keepdims=True)), rng)
    out: dict[str, np.ndarray] = {}
    for j, (col, labels) in enumerate(zip(c.static_cat, c.static_cat_labels)):
        codes = np.full(n, fixed[j]) if j in fixed else draw(p.static_cat[j][state], rng)
        out[col] = np.array(list(labels) + [None], dtype=object)[codes]
    for j, (col, tr) in enumerate(zip(c.static_num, c.static_transforms)):
        z = p.static_mean[state, j] + np.sqrt(p.static_var[state, j]) * rng.standard_normal(n)
        values = tr.inverse(z)
        values[rng.random(n) < c.static_missing[j]] = np.nan
        out[col] = from_numbers(values, c.static_is_datetime[j])
    return state, out


@dataclass
class _Walk:
    """The sampler's running arrays, all sequences side by side."""

    feats: np.ndarray  # (t_max, n, m) seasonal features
    values: np.ndarray  # (t_max, n, d) output values (calibrated scores)
    carried: np.ndarray  # (t_max, n, d) last observed score at or before each step
    tokens: np.ndarray  # (t_max, n, J)
    ages: np.ndarray  # (n, J) steps the current token has lasted
    fresh: np.ndarray  # (n, f) the next step's fresh inputs
    average: list[np.ndarray]  # [slow average up to the step before] with `memory`
    couplings: list[tuple[int, int, float]]  # (column, partner, partner's value)
    chol: tuple[np.ndarray, np.ndarray]  # per state: step and first-step Cholesky factors
    step_only: int  # the last feats, time effects, enter the steps only

    @classmethod
    def start(
        cls, fitted: FittedHMM, lengths: np.ndarray, index_numbers: list[np.ndarray],
        path: pd.DataFrame | None,
    ) -> _Walk:
        c, index, shared, effects = fitted.codec, fitted.index, fitted.shared, fitted.time_effects
        n, d, n_chan = len(lengths), len(c.numeric), len(fitted.chain.token_first)
        t_max = int(lengths.max()) if n else 0
        width = (shared.width if shared else 0) + (effects.width if effects else 0)
        feats = np.zeros((t_max, n, index.n_features + width))
        for i, numbers in enumerate(index_numbers):
            parts = [index.features(numbers)]
            if path is not None:
                parts.append(shared.scores(path, numbers))
            if effects is not None:
                parts.append(effects.at(numbers))
            feats[: len(numbers), i] = np.hstack(parts)
        names = [col.name for col in c.numeric]
        return cls(
            feats=feats, values=np.full((t_max, n, d), np.nan), carried=np.zeros((t_max, n, d)),
            tokens=np.zeros((t_max, n, n_chan), dtype=np.int64),
            ages=np.ones((n, n_chan), dtype=np.int64),
            fresh=np.zeros((n, len(fitted.design.fresh))), average=[],
            couplings=[(names.index(cv.column), names.index(cv.partner), cv.partner_value)
                       for cv in fitted.relations.couplings],
            chol=fitted.chain.cholesky(), step_only=effects.width if effects else 0,
        )


def draw_steps(
    fitted: FittedHMM,
    first_state: np.ndarray,
    lengths: np.ndarray,
    index_numbers: list[np.ndarray],
    rng: np.random.Generator,
    path: pd.DataFrame | None = None,
    record: list[np.ndarray] | None = None,
) -> dict[str, Any]:
    """Run the chain for all sequences together, one step at a time; sequences of very
    different lengths in groups of similar length (`chunks`), rows put back in order.

    `record` collects each step's raw continuous scores (NaN off the continuous token)
    for the calibration; the output values are calibrated, the chain's own inputs not.
    """
    groups = length_groups(lengths)
    if len(groups) == 1:
        return _draw_group(fitted, first_state, lengths, index_numbers, rng, path, record)
    parts = [_draw_group(fitted, first_state[g], lengths[g], [index_numbers[i] for i in g],
                         rng, path, record) for g in groups]
    joined = {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
    return in_sequence_order(joined, np.concatenate(groups), lengths)


def _draw_group(
    fitted: FittedHMM, first_state: np.ndarray, lengths: np.ndarray,
    index_numbers: list[np.ndarray], rng: np.random.Generator, path: pd.DataFrame | None,
    record: list[np.ndarray] | None,
) -> dict[str, Any]:
    c = fitted.codec
    walk = _Walk.start(fitted, lengths, index_numbers, path)
    current_drivers = any(driver.current for driver in fitted.design.drivers)
    state = first_state
    for t in range(len(walk.feats)):
        if t:
            state = draw(fitted.chain.trans[state], rng)
        _draw_tokens(fitted, walk, t, state, rng, after=False)
        x = _draw_scores(fitted, walk, t, state, rng)
        continuous = c.continuous_values(x)
        if t and current_drivers:
            now = c.scores(c.with_tokens(continuous.copy(), walk.tokens[t]), walk.carried[t - 1])
            _draw_tokens(fitted, walk, t, state, rng, after=True, now=now)
        if t:
            walk.ages = np.where(walk.tokens[t] == walk.tokens[t - 1], walk.ages + 1, 1)
        values = _step_values(fitted, walk, t, x, continuous, rng)
        if record is not None:
            live = t < lengths
            record.append(np.where(c.continuous_token(walk.tokens[t]), x, np.nan)[live])
        _carry(fitted, walk, t, values)
    return _rows(fitted, walk, lengths)


def _draw_tokens(
    fitted: FittedHMM, walk: _Walk, t: int, state: np.ndarray, rng: np.random.Generator,
    after: bool, now: np.ndarray | None = None,
) -> None:
    """Step t's tokens of the channels drawn before the values (`after=False`: all of
    them on a first step, which has no past) or after them, from their current drivers."""
    p, layout = fitted.chain, fitted.design.contexts
    for j, driver in enumerate(fitted.design.drivers):
        if (driver.current and t > 0) != after:
            continue
        if t == 0:
            probs = p.token_first[j][state]
        else:
            # on the data's scale, since the chain's own marginal drifts (see `calibration`)
            last = now if after else walk.carried[t - 1]
            bins = driver_bin(driver, calibrated(fitted.calibration, last, driver.column))
            context = layout.code(j, walk.tokens[t - 1, :, j], walk.ages[:, j], bins)
            table = p.token_trans[j]
            probs = table[np.minimum(state, len(table) - 1), context]
        walk.tokens[t, :, j] = draw(probs, rng)


def _draw_scores(
    fitted: FittedHMM, walk: _Walk, t: int, state: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """(n, d) step t's continuous scores from the state's regression on the step's inputs
    (a first step's on [tokens, 1, feats])."""
    p, design = fitted.chain, fitted.design
    n, d = walk.values.shape[1:]
    ones = np.ones((n, 1))
    current = token_design(walk.tokens[t], design.current_tokens)
    if t:
        carried = walk.carried
        lagged = [carried[t - lag] if t >= lag else np.zeros((n, d)) for lag in design.lags]
        before = token_design(walk.tokens[t - 1], design.previous_tokens)
        z = np.hstack([*lagged, walk.fresh, *walk.average, before, current, ones, walk.feats[t]])
        mean, chol = np.einsum("nr,ndr->nd", z, p.ar[state]), walk.chol[0][state]
    else:
        levels = walk.feats[t][:, : walk.feats.shape[2] - walk.step_only]  # no time effects
        z = np.hstack([current, ones, *([ones] if design.first_shift else []), levels])
        mean, chol = np.einsum("nr,ndr->nd", z, p.first[state]), walk.chol[1][state]
    shocks = rng.standard_normal((n, d))
    if t and np.isfinite(p.step_dof):  # a t innovation: a Gaussian over a shared precision
        shocks /= np.sqrt(rng.chisquare(p.step_dof, n) / p.step_dof)[:, None]
    x = mean + np.einsum("nij,nj->ni", chol, shocks)
    return np.clip(x, -Z_LIMIT, Z_LIMIT)


def _step_values(
    fitted: FittedHMM, walk: _Walk, t: int, x: np.ndarray, continuous: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Step t's values as the chain reads them (uncalibrated, coupled values unobserved);
    the output values (calibrated) go into `walk.values`."""
    c, tokens = fitted.codec, walk.tokens[t]
    values = c.with_tokens(continuous, tokens)
    walk.values[t] = c.values(calibrated(fitted.calibration, x), tokens) if len(c.numeric) \
        else values
    for fit in fitted.relations.derived:
        noise = rng.standard_normal(len(values))
        values[:, fit.target] = fit.predict(values, noise)
        walk.values[t][:, fit.target] = fit.predict(walk.values[t], noise)
    for j, partner, value in walk.couplings:  # unobserved there, as in fitting
        values[values[:, partner] == value, j] = np.nan
    return values


def _carry(fitted: FittedHMM, walk: _Walk, t: int, values: np.ndarray) -> None:
    """The next step's inputs from step t's values: carried scores, fresh inputs, average."""
    design, carried = fitted.design, walk.carried
    before = carried[t - 1] if t else np.zeros(values.shape)
    carried[t] = fitted.codec.scores(values, before)
    sparse = design.fresh
    walk.fresh = np.where(np.isnan(values[:, sparse]), 0.0, carried[t][:, sparse])
    if design.memory:
        memory = design.memory
        walk.average = [
            memory * walk.average[0] + (1 - memory) * carried[t] if t else carried[t]
        ]


def _rows(fitted: FittedHMM, walk: _Walk, lengths: np.ndarray) -> dict[str, Any]:
    """The walk's steps as output columns, rows sequence by sequence."""
    c = fitted.codec
    t_max = len(walk.feats)
    keep = (np.arange(t_max)[:, None] < lengths[None, :]).T
    rows_values = walk.values.transpose(1, 0, 2)[keep]
    rows_tok = walk.tokens.transpose(1, 0, 2)[keep]
    out: dict[str, Any] = {}
    for j, col in enumerate(c.numeric):
        out[col.name] = from_numbers(rows_values[:, j], col.is_datetime)
    offset = len(c.token_columns)
    for j, (col, labels) in enumerate(zip(c.categorical, c.labels)):
        out[col] = np.array(list(labels) + [None], dtype=object)[rows_tok[:, offset + j]]
    return out
