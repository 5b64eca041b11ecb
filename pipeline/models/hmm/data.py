"""The training table as the arrays EM reads: scores, tokens, transition contexts, lagged
inputs, seasonal features and static values, built with the step design they fix."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.models.codes import category_codes
from pipeline.models.hmm.codec import Codec, numbers
from pipeline.models.hmm.design import (
    Design,
    carry_forward,
    fresh_columns,
    lagged_inputs,
    make_design,
    token_design,
)
from pipeline.models.hmm.drivers import choose_drivers, context_codes
from pipeline.models.hmm.index import IndexModel
from pipeline.schema import DatasetSchema
from pipeline.timeseries import index_as_seconds, sequence_positions


@dataclass(frozen=True)
class Data:
    x: np.ndarray  # (N, d) continuous scores, NaN where missing or on a point mass
    observed: np.ndarray  # (N, d) x is not NaN: the Gaussian sees this value
    lagged: np.ndarray  # (N, Design.n_lagged) lagged values, fresh inputs, slow average
    feats: np.ndarray  # (N, m) seasonal features, shared covariates' scores, time effects
    first: np.ndarray  # (N,) first row of its sequence
    tokens: np.ndarray  # (N, J) token of each channel
    design: np.ndarray  # (N, q) the tokens one-hot (code 0 left out), regressors of the values
    prev_design: np.ndarray  # (N, q') the previous row's tokens the same way (zeros on first rows)
    contexts: np.ndarray  # (N, J) `Contexts.code`: previous token, its run's age, driver bin
    seq: np.ndarray  # (N,) sequence number
    pos: np.ndarray  # (N,) step within the sequence
    static_cat: np.ndarray  # (S, Js) codes
    static_num: np.ndarray  # (S, ds) scores, NaN where missing
    patterns: list[tuple[np.ndarray, np.ndarray, np.ndarray]]  # rows, observed dims, others
    first_shift: bool = False  # `Design.first_shift`
    step_only: int = 0  # the last feats enter step equations only (time effects: steps)

    @property
    def n_rows(self) -> int:
        return len(self.seq)

    @property
    def n_seq(self) -> int:
        return len(self.static_cat)


def regressors(data: Data) -> tuple[np.ndarray, np.ndarray]:
    """The step regressors (see `design`), and a first step's: [tokens, 1, feats], with
    [tokens, 1, first row, feats] where a first step has its own intercept (`first_shift`)."""
    ones = np.ones((data.n_rows, 1))
    marginal = np.hstack([data.design, ones, data.feats])
    levels = data.feats[:, : data.feats.shape[1] - data.step_only]
    shift = [data.first[:, None].astype(float)] if data.first_shift else []
    return (np.hstack([data.lagged, data.prev_design, marginal]),
            np.hstack([data.design, ones, *shift, levels]))


def patterns(observed: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Rows grouped by which dimensions they observe: (rows, observed dims, the others)."""
    if observed.shape[1] == 0:
        return []
    unique, inverse = np.unique(observed, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    return [
        (np.flatnonzero(inverse == p), np.flatnonzero(mask), np.flatnonzero(~mask))
        for p, mask in enumerate(unique)
    ]


def build_data(
    ordered: pd.DataFrame, schema: DatasetSchema, seq: np.ndarray, heads: pd.DataFrame,
    hidden: dict[str, np.ndarray], codec: Codec, index: IndexModel, lags: list[int],
    memory: float, current_drivers: bool, inputs: np.ndarray, step_only: int = 0,
) -> tuple[Data, Design]:
    """The arrays, and the design they were built with. `hidden`: rows of a column set by a
    rule, unobserved for the chain (their token stays the data's: a calm hour's direction is
    not missing). `inputs`: each row's shared covariates' scores and time effects, inputs
    like the seasons, the last `step_only` of them (time effects) of the steps only."""
    first = np.r_[True, seq[1:] != seq[:-1]]
    raw = [numbers(ordered[col.name], col.is_datetime) for col in codec.numeric]
    full, x = _scores(codec, raw, hidden, len(ordered))
    tokens = _tokens(codec, ordered, raw)
    prev_tokens = np.vstack([np.zeros((1, tokens.shape[1]), dtype=np.int64), tokens[:-1]])
    prev_tokens[first] = 0
    last, now = carry_forward(full, first, 1), carry_forward(full, first, 0)
    drivers = choose_drivers(
        tokens, prev_tokens, last, now, first, codec.token_columns, current_drivers
    )
    fresh = fresh_columns(full, lags)
    design = make_design(
        tokens, codec.channel_sizes, len(codec.token_columns), drivers, lags, fresh,
        float(memory) if lags else 0.0, len(heads),
    )
    observed = ~np.isnan(x)
    data = Data(
        x=x, observed=observed, lagged=lagged_inputs(full, now, first, design),
        feats=np.hstack([index.features(index_numbers(ordered, schema, index)), inputs]),
        first=first,
        tokens=tokens, seq=seq,
        contexts=context_codes(design.contexts, drivers, tokens, prev_tokens, first, last, now),
        design=token_design(tokens, design.current_tokens),
        prev_design=token_design(prev_tokens, design.previous_tokens),
        pos=sequence_positions(ordered, schema).to_numpy(),
        static_cat=_static_codes(codec, heads), static_num=_static_scores(codec, heads),
        patterns=patterns(observed), first_shift=design.first_shift, step_only=step_only,
    )
    return data, design


def _scores(
    codec: Codec, raw: list[np.ndarray], hidden: dict[str, np.ndarray], n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Scores of all values (lagged inputs, drivers) and of the continuous ones (targets),
    NaN where missing or hidden."""
    if not raw:
        return np.zeros((n, 0)), np.zeros((n, 0))
    full = np.column_stack([col.continuous.forward(v) for col, v in zip(codec.numeric, raw)])
    x = np.column_stack(
        [np.where(np.isin(v, col.spikes), np.nan, col.continuous.forward(v))
         for col, v in zip(codec.numeric, raw)]
    )
    unseen = np.isnan(np.column_stack(raw))
    for j, col in enumerate(codec.numeric):
        unseen[:, j] |= hidden.get(col.name, False)
    full[unseen] = np.nan
    x[unseen] = np.nan
    return full, x


def continuous_scores(ordered: pd.DataFrame, codec: Codec,
                      hidden: dict[str, np.ndarray]) -> np.ndarray:
    """(N, d) each numeric column's continuous scores (NaN where missing, hidden or on a
    point mass)."""
    raw = [numbers(ordered[col.name], col.is_datetime) for col in codec.numeric]
    return _scores(codec, raw, hidden, len(ordered))[1]


def _tokens(codec: Codec, ordered: pd.DataFrame, raw: list[np.ndarray]) -> np.ndarray:
    tokens = [codec.numeric[j].tokens(raw[j]) for j in codec.token_columns]
    tokens += [
        category_codes(ordered[col], lab) for col, lab in zip(codec.categorical, codec.labels)
    ]
    return np.column_stack(tokens) if tokens else np.zeros((len(ordered), 0), dtype=np.int64)


def index_numbers(ordered: pd.DataFrame, schema: DatasetSchema, index: IndexModel) -> np.ndarray:
    """The index column as the numbers the index model reads (seconds for datetimes)."""
    values = ordered[schema.sequence_index]
    return index_as_seconds(values) if index.is_datetime else values.to_numpy(dtype=float)


def _static_codes(codec: Codec, heads: pd.DataFrame) -> np.ndarray:
    codes = [
        category_codes(heads[col], lab)
        for col, lab in zip(codec.static_cat, codec.static_cat_labels)
    ]
    if not codes:
        return np.zeros((len(heads), 0), dtype=np.int64)
    return np.column_stack(codes).astype(np.int64)


def _static_scores(codec: Codec, heads: pd.DataFrame) -> np.ndarray:
    if not codec.static_num:
        return np.zeros((len(heads), 0))
    scores = np.column_stack([
        t.forward(numbers(heads[col], is_dt))
        for col, t, is_dt in zip(codec.static_num, codec.static_transforms,
                                 codec.static_is_datetime)
    ])
    scores[heads[codec.static_num].isna().to_numpy()] = np.nan
    return scores
