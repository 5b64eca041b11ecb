"""Heavy-tailed step innovations of the HMM (`pipeline.models.hmm.tails`)."""

from __future__ import annotations

from importlib.resources import files

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kurtosis

from pipeline.models.hmm import HiddenMarkovModel
from pipeline.schema import detect_schema

STORES = files("sdmetrics").joinpath("demos/timeseries/timeseries_real.csv")


def _panel(shocks: np.ndarray) -> pd.DataFrame:
    """An AR(1) per entity (coefficient 0.9) driven by the given (entities, steps) shocks."""
    n, t = shocks.shape
    x = np.zeros((n, t))
    for step in range(1, t):
        x[:, step] = 0.9 * x[:, step - 1] + shocks[:, step]
    return pd.DataFrame({
        "entity": np.repeat([f"e{i}" for i in range(n)], t),
        "step": np.tile(np.arange(t), n),
        "value": x.ravel(),
    })


def _fit(frame: pd.DataFrame, **params) -> HiddenMarkovModel:
    schema = detect_schema(frame, "panel", sequence_key="entity", sequence_index="step")
    return HiddenMarkovModel(n_states=1, max_iter=10, **params).fit(frame, schema, seed=0)


def _step_kurtosis(frame: pd.DataFrame) -> float:
    steps = frame.sort_values(["entity", "step"]).groupby("entity")["value"].diff().dropna()
    return float(kurtosis(steps))


@pytest.fixture(scope="module")
def heavy_panel() -> pd.DataFrame:
    return _panel(np.random.default_rng(1).standard_t(3, size=(40, 60)))


def test_t_innovations_are_fitted_where_the_steps_jump(heavy_panel):
    model = _fit(heavy_panel, check_persistence=False)
    assert model.fitted_.chain.step_dof <= 7
    assert model.card()["step_innovations"].startswith("student_t(dof=")
    gaussian = _fit(heavy_panel, check_persistence=False, heavy_tails=False)
    assert gaussian.fitted_.chain.step_dof == np.inf
    assert gaussian.card()["step_innovations"] == "gaussian"
    # the sampled steps jump as the real ones do; Gaussian innovations smooth the jumps away
    real = _step_kurtosis(heavy_panel)
    tailed = _step_kurtosis(model.sample(40, seed=0))
    smooth = _step_kurtosis(gaussian.sample(40, seed=0))
    assert abs(tailed - real) < abs(smooth - real)
    assert tailed > smooth + 1


def test_gaussian_steps_keep_gaussian_innovations():
    panel = _panel(np.random.default_rng(1).standard_normal((40, 60)))
    assert _fit(panel, check_persistence=False).fitted_.chain.step_dof == np.inf


def test_t_innovations_are_reproducible_and_survive_save_and_load(heavy_panel, tmp_path):
    model = _fit(heavy_panel, check_persistence=False)
    first = model.sample(10, seed=3)
    pd.testing.assert_frame_equal(first, _fit(heavy_panel, check_persistence=False)
                                  .sample(10, seed=3))
    model.save(tmp_path / "model")
    loaded = HiddenMarkovModel.load(tmp_path / "model")
    assert loaded.fitted_.chain.step_dof == model.fitted_.chain.step_dof
    pd.testing.assert_frame_equal(first, loaded.sample(10, seed=3))


def test_store_sales_keep_their_shapes_with_t_innovations():
    """sdmetrics' store sales: the default model picks t innovations (its simulation keeps the
    lag-1 autocorrelations better), and its samples' marginals are closer to the real ones."""
    from scipy.stats import ks_2samp

    stores = pd.read_csv(STORES)
    stores["date"] = pd.to_datetime(stores["date"])
    schema = detect_schema(stores, "stores", sequence_key="store_id", sequence_index="date")
    tailed = HiddenMarkovModel().fit(stores, schema, seed=0)
    gaussian = HiddenMarkovModel(heavy_tails=False).fit(stores, schema, seed=0)
    assert np.isfinite(tailed.fitted_.chain.step_dof)
    assert gaussian.fitted_.chain.step_dof == np.inf

    def ks(model: HiddenMarkovModel) -> float:
        out = model.sample(300, seed=0)
        return float(np.mean([ks_2samp(out[c], stores[c]).statistic
                              for c in ("total_sales", "nb_customers")]))

    assert ks(tailed) < ks(gaussian)
