"""Panels of many columns (the castle-doctrine panel: 50 states x 11 years, 139 columns, a
trend column per state) through the hmm: no crash when a state's own columns are constant in
training, and each column's step equation solved on the regressors it may use."""

from __future__ import annotations

import numpy as np
import pytest
from causaldata import castle

from pipeline.models.hmm import HiddenMarkovModel
from pipeline.models.hmm.data import Data, patterns
from pipeline.models.hmm.mstep import regression
from pipeline.schema import detect_schema, enforce_schema


@pytest.fixture(scope="module")
def panel():
    frame = castle.load_pandas().data[
        ["sid", "year", "homicide", "robbery", "post", "trend_1", "trend_2", "trend_3"]]
    schema = detect_schema(frame, "castle", sequence_key="sid", sequence_index="year")
    return enforce_schema(frame, schema), schema


def test_columns_constant_in_training_are_modelled_not_coupled(panel):
    """trend_k counts the years of state k and is 0 elsewhere: with states 1 and 2 held out
    (as whole-entity splits do), trend_1 and trend_2 are 0 on every training row, were taken
    for a coupled pair that sets every row, and the sampler failed with "'trend_1' is not in
    list". Their rank correlation with the index also printed scipy's and numpy's warnings
    on the user's console."""
    import warnings

    frame, schema = panel
    train = frame[~frame["sid"].isin([1, 2])]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        model = HiddenMarkovModel().fit(train, schema, seed=0)
    out = model.sample(5, seed=1)
    assert len(out) == 55
    assert (out["trend_1"] == 0).all() and (out["trend_2"] == 0).all()


def _weighted_ridge(z, x, w):
    gram = (z.T * w) @ z
    gram[np.diag_indices(len(gram))] += 1e-6 + 1e-4 * w.sum()
    return np.linalg.solve(gram, (z.T * w) @ x)


def test_each_column_is_solved_on_its_allowed_regressors_and_observed_rows():
    """One column allowed three regressors (solved on its own rows), two allowed all but one
    (from the Gram matrices of the patterns they are observed in): each equals the weighted
    ridge least squares on its observed rows and allowed regressors, zero elsewhere."""
    rng = np.random.default_rng(0)
    n, r, d, k = 400, 12, 3, 2
    z = rng.normal(size=(n, r))
    x = z[:, :d] @ rng.normal(size=(d, d)) + rng.normal(size=(n, d))
    x[rng.random((n, d)) < 0.2] = np.nan
    observed = ~np.isnan(x)
    empty = np.zeros((n, 0))
    data = Data(x=x, observed=observed, lagged=empty, feats=empty, first=np.zeros(n, bool),
                tokens=np.zeros((n, 0), int), design=empty, prev_design=empty,
                contexts=np.zeros((n, 0), int), seq=np.zeros(n, int), pos=np.arange(n),
                static_cat=np.zeros((1, 0), int), static_num=np.zeros((1, 0)),
                patterns=patterns(observed))
    weights = rng.random((n, k))
    allowed = np.ones((d, r), dtype=bool)
    allowed[0] = False
    allowed[0, [0, 4, 7]] = True
    allowed[2, 5] = False
    coef, _ = regression(data, z, weights, 0.01, allowed)
    for s in range(k):
        for c in range(d):
            rows, use = observed[:, c], allowed[c]
            want = _weighted_ridge(z[rows][:, use], x[rows, c], weights[rows, s])
            np.testing.assert_allclose(coef[s, c, use], want, rtol=1e-9, atol=1e-12)
            assert (coef[s, c, ~use] == 0).all()


@pytest.mark.slow
@pytest.mark.filterwarnings("error::pandas.errors.PerformanceWarning")
def test_first_year_dummies_do_not_collapse_a_first_step():
    """castle marks each state's region in 2000 by dummies (r20001..r20004) that are 1 on
    first rows only: as one more regressor, a first step's own intercept was collinear with
    them, and with the dummies drawn at sampling every synthetic state's share of young black
    men in 2000 came out near 0 (interquartile range 0.009 against 1.94 real). Solved
    apart, the first year keeps its spread. The 139 columns, set one by one on the sampled
    frame, also made pandas warn on the user's console."""
    from pipeline.split import split_sequences

    frame = castle.load_pandas().data
    schema = detect_schema(frame, "castle", sequence_key="sid", sequence_index="year")
    train, _, _ = split_sequences(enforce_schema(frame, schema), schema, 0.2, seed=0)
    sample = HiddenMarkovModel().fit(train, schema, seed=0).sample(40, seed=1)
    real = train.loc[train["year"] == 2000]
    drawn = sample.loc[sample["year"] == 2000]
    for column in ("blackm_15_24", "blackm_25_44", "whitem_15_24", "poverty"):
        spread = real[column].quantile(0.75) - real[column].quantile(0.25)
        assert drawn[column].quantile(0.75) - drawn[column].quantile(0.25) > 0.25 * spread, column
