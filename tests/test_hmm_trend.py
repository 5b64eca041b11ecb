"""The HMM's trend feature: series that grow over their span (US macro data, 1959-2009)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ks_2samp

from benchmarks.series_corpus import _macrodata
from pipeline.models.hmm import HiddenMarkovModel
from pipeline.schema import detect_schema

GROWING = ["realgdp", "realcons", "cpi", "pop"]


@pytest.fixture(scope="module")
def macro():
    frame = _macrodata()
    return frame, detect_schema(frame, "macrodata", sequence_index="date")


def _shapes(model: HiddenMarkovModel, frame) -> float:
    """Mean KS complement of the growing columns over three one-series draws."""
    return float(np.mean([1 - ks_2samp(model.sample(1, seed=s)[c], frame[c]).statistic
                          for s in range(3) for c in GROWING]))


@pytest.mark.slow  # over 10 s here; the default run keeps under 15 minutes
def test_growing_series_keep_their_spread_with_a_trend(macro):
    """Without a trend the chain reverts to a middle level and one draw covers a fraction of
    the real range (KS complement ~0.63 for real GDP); the trend regressor runs each growing
    column through its range."""
    frame, schema = macro
    trended = HiddenMarkovModel().fit(frame, schema, seed=0)
    low, high = trended.fitted_.index.trend_span
    assert high > low
    flat = HiddenMarkovModel(trend=False).fit(frame, schema, seed=0)
    assert flat.fitted_.index.trend_span is None and flat.card()["trend_columns"] == []
    # the growing columns read the trend; the interest and inflation rates do not
    assert set(GROWING) <= set(trended.card()["trend_columns"])
    assert not {"infl", "realint", "tbilrate"} & set(trended.card()["trend_columns"])
    assert trended.fitted_.index.n_features == flat.fitted_.index.n_features + 1
    with_trend, without = _shapes(trended, frame), _shapes(flat, frame)
    assert with_trend > 0.85
    assert with_trend > without + 0.15
