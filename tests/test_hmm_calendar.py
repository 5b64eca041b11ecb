"""The HMM keeps a series' calendar profile: the slow average is left out where it puts a
year's cycle out of phase (`pipeline.models.hmm.fit`, `selection.Targets`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import vega_datasets

from pipeline.models.hmm import HiddenMarkovModel
from pipeline.schema import detect_schema


@pytest.fixture(scope="module")
def seattle():
    """One year of hourly temperatures at one station."""
    frame = vega_datasets.local_data.seattle_temps()
    return frame, detect_schema(frame, "seattle", sequence_index="date")


def _month_gap(real: pd.DataFrame, synthetic: pd.DataFrame) -> float:
    """Mean absolute gap between the monthly mean temperatures (degrees F)."""
    def by_month(frame):
        return frame.groupby(pd.to_datetime(frame["date"]).dt.month)["temp"].mean()

    return float((by_month(real) - by_month(synthetic)).abs().mean())


@pytest.mark.slow  # a minute of fits on this machine: `make test-all`
def test_a_single_years_seasons_stay_in_their_months(seattle):
    # with the slow average the chain's summer came a month and a half early (monthly means
    # 4.4 F off on a 25 F seasonal swing); its calendar profile decides it is left out
    frame, schema = seattle
    model = HiddenMarkovModel().fit(frame, schema, seed=0)
    assert model.card()["slow_average_decay"] == 0.0
    assert _month_gap(frame, model.sample(1, seed=1)) < 1.5
    slow = HiddenMarkovModel(memory=0.9).fit(frame, schema, seed=0)
    assert slow.card()["slow_average_decay"] == 0.9
    assert _month_gap(frame, slow.sample(1, seed=1)) > 2.5


@pytest.mark.slow  # over 10 s here; the default run keeps under 15 minutes
def test_a_short_wide_series_keeps_each_columns_persistence():
    # ten years of 23 monthly US employment counts: 119 steps for a step equation of about a
    # hundred regressors. Fitted on every column's past, the near-saturated regression
    # simulated noise (lag-1 autocorrelations 0.5 below the real 0.99); each column on its
    # own past keeps them, the co-movement carried by the innovations' covariance.
    frame = vega_datasets.local_data.us_employment()
    frame["month"] = pd.to_datetime(frame["month"])  # as ingest reads the CSV's dates
    schema = detect_schema(frame, "employment", sequence_index="month")
    model = HiddenMarkovModel().fit(frame, schema, seed=0)
    fitted = model.fitted_
    d, lags = len(fitted.codec.numeric), fitted.design.lags
    for block in range(len(lags)):
        lagged = fitted.chain.ar[:, :, block * d:(block + 1) * d]
        assert (lagged * (1 - np.eye(d))[None] == 0).all()  # no other column's past
    sample = model.sample(1, seed=1)
    columns = [c for c in frame.columns if c != "month"]
    gaps = [abs(frame[c].autocorr() - sample[c].astype(float).autocorr()) for c in columns]
    assert np.mean(gaps) < 0.25
