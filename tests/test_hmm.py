"""The HMM time-series synthesizer on small slices of real data (nyc_weather, store sales)."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.errors import PipelineError
from pipeline.models import registry
from pipeline.models.base import Synthesizer
from pipeline.models.hmm import HiddenMarkovModel
from pipeline.models.hmm.data import build_data
from pipeline.models.hmm.design import moving_average
from pipeline.models.hmm.drivers import Contexts, run_ages
from pipeline.models.hmm.relations import value_grids
from pipeline.models.hmm.selection import value_lag1
from pipeline.models.hmm.simulate import simulate
from pipeline.models.hmm.stability import MAX_AR_RADIUS, spectral_radius, stabilise
from pipeline.models.relations.derived import fit_cubic
from pipeline.models.relations.ordered_pairs import OrderedPair
from pipeline.models.relations.value_grids import snap
from pipeline.schema import Role, detect_schema, enforce_schema
from pipeline.timeseries import check_time_series, index_steps, sequence_ids
from pipeline.validation.sequence_metrics import mean_autocorrelation

ROOT = Path(__file__).resolve().parents[1]
WEATHER = ROOT.parent / "shared" / "data" / "nyc_weather.csv"
STORES = files("sdmetrics").joinpath("demos/timeseries/timeseries_real.csv")
FAST = {"n_states": 3, "max_iter": 8}


@pytest.fixture(scope="module")
def weather() -> pd.DataFrame:
    """2 airports x 500 hours of nyc_weather."""
    df = pd.read_csv(WEATHER)
    df["time_hour"] = pd.to_datetime(df["time_hour"])
    two = df[df["origin"].isin(["EWR", "JFK"])]
    return two.groupby("origin").head(500).reset_index(drop=True)


@pytest.fixture(scope="module")
def schema(weather):
    return detect_schema(weather, "nyc_weather", sequence_key="origin", sequence_index="time_hour")


@pytest.fixture(scope="module")
def fitted(weather, schema) -> HiddenMarkovModel:
    return HiddenMarkovModel(**FAST).fit(weather, schema, seed=0)


@pytest.fixture(scope="module")
def sample(fitted) -> pd.DataFrame:
    return fitted.sample(4, seed=1)


def test_registered_under_hmm_for_time_series_only():
    assert isinstance(registry.create("hmm"), HiddenMarkovModel)
    assert "hmm" in registry.names(time_series=True)
    assert "hmm" not in registry.names(time_series=False)


def test_same_seed_same_output_other_seed_other_output(fitted, sample):
    pd.testing.assert_frame_equal(sample, fitted.sample(4, seed=1))
    assert not sample.equals(fitted.sample(4, seed=2))


def test_same_data_and_seed_fit_the_same_model(weather, schema, sample):
    again = HiddenMarkovModel(**FAST).fit(weather, schema, seed=0)
    pd.testing.assert_frame_equal(sample, again.sample(4, seed=1))


def test_save_and_load_give_the_same_samples(fitted, sample, tmp_path):
    fitted.save(tmp_path / "hmm")
    loaded = Synthesizer.load(tmp_path / "hmm")
    pd.testing.assert_frame_equal(sample, loaded.sample(4, seed=1))
    assert loaded.card()["n_states"] == 3


def test_output_follows_the_schema(sample, schema, weather):
    enforce_schema(sample, schema, what="synthetic data")  # dtypes, categories, nullability
    assert list(sample.columns) == schema.names()
    # keys are new, one per sequence, never the real airports
    assert sample["origin"].nunique() == 4
    assert not set(sample["origin"]) & set(weather["origin"])
    ordered = check_time_series(sample, schema)  # no duplicate (entity, index) pairs
    for _, seq in ordered.groupby("origin"):
        assert seq["time_hour"].is_monotonic_increasing
        assert len(seq) == 500  # the real length distribution: both airports have 500 steps
    # hourly stays hourly, with gaps at about the real rate
    steps = index_steps(ordered, schema)
    assert np.median(steps) == 3600
    real_gaps = np.mean(index_steps(check_time_series(weather, schema), schema) != 3600)
    assert np.mean(steps != 3600) == pytest.approx(real_gaps, abs=0.03)
    assert ordered["time_hour"].min() >= weather["time_hour"].min()


def test_calendar_columns_agree_with_the_synthetic_index(sample):
    local = sample["time_hour"].dt.tz_convert("America/New_York")
    for part in ("year", "month", "day", "hour"):
        assert (sample[part].astype(int) == getattr(local.dt, part)).all()


def test_missing_values_at_the_real_rate(fitted, weather):
    many = fitted.sample(20, seed=3)
    for column in ("wind_gust", "pressure", "wind_dir"):
        real = weather[column].isna().mean()
        assert many[column].isna().mean() == pytest.approx(real, abs=0.12), column
    for column in ("precip", "visib", "temp"):  # complete in the slice: complete in the output
        if weather[column].notna().all():
            assert many[column].notna().all(), column
    # point masses stay exact: precipitation is mostly exactly zero
    assert (many["precip"] == 0).mean() == pytest.approx((weather["precip"] == 0).mean(), abs=0.1)


def test_autoregressive_emissions_keep_hourly_temperature_smooth(fitted, schema, weather):
    many = check_time_series(fitted.sample(10, seed=4), schema)
    real = mean_autocorrelation(check_time_series(weather, schema), schema, "temp", 1)
    synthetic = mean_autocorrelation(many, schema, "temp", 1)
    assert synthetic == pytest.approx(real, abs=0.05)


def test_plain_hmm_loses_the_smoothness(weather, schema):
    plain = HiddenMarkovModel(n_states=3, max_iter=8, autoregressive=False, seasonal=False)
    plain.fit(weather, schema, seed=0)
    many = check_time_series(plain.sample(10, seed=4), schema)
    assert mean_autocorrelation(many, schema, "temp", 1) < 0.98
    assert plain.card()["lags"] == []


def test_loss_history_and_card(fitted):
    assert len(fitted.loss_history) >= 2
    assert all(np.isfinite(h["neg_log_likelihood_per_step"]) for h in fitted.loss_history)
    assert fitted.card()["lags"] == [1, 2, 24]


@pytest.mark.slow  # over 15 s here; the default run keeps under 15 minutes
def test_state_count_chosen_by_bic_then_by_simulated_persistence(weather, schema):
    by_bic = HiddenMarkovModel(
        max_states=4, max_iter=3, selection_max_iter=3, check_persistence=False
    ).fit(weather, schema, seed=0)
    bic = by_bic.selection_.bic
    assert set(bic) == {1, 2, 4} and by_bic.card()["state_selection_bic"] == bic
    bic_choice = min(bic, key=bic.get)
    assert by_bic.n_states_ == bic_choice
    assert by_bic.card()["state_selection_persistence_error"] is None
    model = HiddenMarkovModel(max_states=4, max_iter=3, selection_max_iter=3)
    model.fit(weather, schema, seed=0)
    assert model.selection_.bic == bic
    errors = model.card()["state_selection_persistence_error"]
    # every K up to BIC's choice simulated, the one keeping lag-1 autocorrelations best kept
    assert set(errors) == {k for k in bic if k <= bic_choice}
    assert all(0 <= e < 1 for e in errors.values())
    assert model.n_states_ == min(errors, key=errors.get)


def test_persistence_criterion_stays_inside_each_sequence_and_skips_missing_steps():
    """The K check's lag-1 (`value_lag1`): ranks, per sequence, missing steps skipped."""
    rng = np.random.default_rng(0)
    x = np.zeros(4000)
    for t in range(1, len(x)):
        x[t] = 0.8 * x[t - 1] + rng.standard_normal()
    # the second sequence is shifted far away: a pair across the boundary would show
    shifted = np.where(np.arange(len(x)) >= 2000, x + 100, x)
    holes = shifted.copy()
    holes[::7] = np.nan
    frame = pd.DataFrame({
        "s": np.repeat(["a", "b"], 2000), "t": np.tile(np.arange(2000), 2),
        "shifted": shifted, "holes": holes, "flat": np.ones(len(x)),
    })
    schema = detect_schema(frame, "ar1", sequence_key="s", sequence_index="t")
    lag1 = value_lag1(frame, schema, ["shifted", "holes", "flat"])
    assert lag1[0] == pytest.approx(0.8, abs=0.03) and lag1[1] == pytest.approx(0.8, abs=0.03)
    assert np.isnan(lag1[2])  # no spread, no correlation


def test_single_series_without_a_sequence_key(weather):
    one = weather[weather["origin"] == "EWR"].drop(columns="origin").reset_index(drop=True)
    schema = detect_schema(one, "ewr", sequence_index="time_hour")
    model = HiddenMarkovModel(**FAST, length=48).fit(one, schema, seed=0)
    out = model.sample(1, seed=0)
    assert len(out) == 48 and out["time_hour"].is_monotonic_increasing
    enforce_schema(out, schema, what="synthetic data")


def test_public_key_categories_are_an_opt_in(weather, schema):
    public = schema.model_copy(deep=True)
    key = public.column("origin")
    key.role, key.categories = Role.categorical, ["EWR", "JFK", "LGA"]
    model = HiddenMarkovModel(n_states=2, max_iter=3).fit(weather, public, seed=0)
    out = model.sample(3, seed=0)
    assert sorted(out["origin"].unique()) == ["EWR", "JFK", "LGA"]
    with pytest.raises(PipelineError, match="at most that many sequences"):
        model.sample(4, seed=0)


def test_static_columns_are_constant_per_entity_and_conditionable():
    stores = pd.read_csv(STORES)
    stores["date"] = pd.to_datetime(stores["date"])
    # a varying categorical column: busy days
    stores["busy"] = np.where(stores["nb_customers"] > 150, "yes", "no")
    schema = detect_schema(stores, "stores", sequence_key="store_id", sequence_index="date")
    model = HiddenMarkovModel(n_states=3, max_iter=10).fit(stores, schema, seed=0)
    out = model.sample(30, seed=0)
    assert (out.groupby("store_id")["region"].nunique() == 1).all()
    assert (out["day_of_week"] == out["date"].dt.dayofweek).all()
    assert set(out["busy"]) == {"yes", "no"}
    # California stores sell more: the static value is drawn with its sequence, not apart
    mean_sales = out.groupby("region")["total_sales"].mean()
    assert mean_sales["California"] > mean_sales["New York"]
    conditioned = model.sample(5, seed=0, conditions={"region": "New York"})
    assert (conditioned["region"] == "New York").all()
    with pytest.raises(PipelineError, match="conditions only on static"):
        model.sample(5, seed=0, conditions={"busy": "yes"})


def test_bad_parameters_are_refused():
    with pytest.raises(PipelineError, match="n_states=0"):
        HiddenMarkovModel(n_states=0)
    with pytest.raises(PipelineError, match="hmm: unknown parameter 'states'"):
        HiddenMarkovModel(states=3)


def test_integer_sequence_index():
    stores = pd.read_csv(STORES)
    stores["day"] = (pd.to_datetime(stores.pop("date")) - pd.Timestamp("2020-06-01")).dt.days
    schema = detect_schema(stores, "stores", sequence_key="store_id", sequence_index="day")
    out = HiddenMarkovModel(n_states=2, max_iter=5).fit(stores, schema, seed=0).sample(3, seed=0)
    enforce_schema(out, schema, what="synthetic data")
    for _, days in out.groupby("store_id")["day"]:
        assert days.tolist() == list(range(7))  # every store starts on day 0, one day a step


def _mean_shape(synthetic: pd.DataFrame, real: pd.DataFrame, columns: list[str]) -> float:
    from scipy.stats import ks_2samp

    return float(np.mean([
        1 - ks_2samp(real[c].dropna(), synthetic[c].dropna()).statistic for c in columns
    ]))


def test_calibration_pulls_each_columns_marginal_back_to_the_data(fitted, weather, schema):
    uncalibrated = HiddenMarkovModel(**FAST, calibrate=False).fit(weather, schema, seed=0)
    columns = ["temp", "dewp", "humid", "pressure", "wind_speed"]
    calibrated_shape = _mean_shape(fitted.sample(40, seed=5), weather, columns)
    raw_shape = _mean_shape(uncalibrated.sample(40, seed=5), weather, columns)
    assert calibrated_shape > raw_shape + 0.01
    # the chain itself is untouched: smoothness survives the monotone map
    many = check_time_series(fitted.sample(10, seed=4), schema)
    real = mean_autocorrelation(check_time_series(weather, schema), schema, "temp", 1)
    assert mean_autocorrelation(many, schema, "temp", 1) == pytest.approx(real, abs=0.05)


def test_dew_point_stays_below_temperature_and_humidity_follows_them(fitted, weather, schema):
    """Without the ordered pair the chain puts dew point above temperature; with it, never;
    humidity (or the gap) is recomputed from the others, so the three stay consistent."""
    unordered = HiddenMarkovModel(**FAST, keep_order=False, derive=False)
    unordered.fit(weather, schema, seed=0)
    loose = unordered.sample(10, seed=6)
    assert (loose["dewp"] > loose["temp"]).mean() > 0.005
    many = fitted.sample(10, seed=6)
    assert (many["dewp"] <= many["temp"] + 1e-9).all()
    card = fitted.card()
    assert {"low": "dewp", "high": "temp", "modelled_as_gap": "dewp"} in card["ordered_pairs"]
    assert len(card["derived_columns"]) == 1
    assert sorted([card["derived_columns"][0]["column"], *card["derived_columns"][0]["from"]]) \
        == ["dewp", "humid", "temp"]
    # humidity as the real data relates it to temperature and dew point (R^2 of a cubic)
    def r2_on(frame: pd.DataFrame) -> float:
        values = frame[["humid", "temp", "dewp"]].to_numpy(dtype=float)
        real = fit_cubic(weather[["humid", "temp", "dewp"]].to_numpy(dtype=float), 0, [1, 2])
        predicted = real.predict(values, np.zeros(len(values)))
        known = ~np.isnan(predicted) & ~np.isnan(values[:, 0])
        return float(np.corrcoef(predicted[known], values[known, 0])[0, 1] ** 2)

    assert r2_on(many) > 0.95
    assert r2_on(many) > r2_on(loose) + 0.05


@pytest.mark.slow  # over 10 s here; the default run keeps under 15 minutes
def test_gusts_follow_the_wind_of_the_same_hour(fitted, weather, schema):
    """The gust token is driven by the current wind speed (drawn after the values) and the
    gust is the wind speed plus an excess; without either the relation weakens."""
    def top_wind_gust_share(frame: pd.DataFrame) -> float:
        top = frame["wind_speed"] > frame["wind_speed"].quantile(0.8)
        return float(frame.loc[top, "wind_gust"].notna().mean())

    real = top_wind_gust_share(weather)
    lagged_only = HiddenMarkovModel(**FAST, current_drivers=False).fit(weather, schema, seed=0)
    many, old = fitted.sample(10, seed=6), lagged_only.sample(10, seed=6)
    assert abs(top_wind_gust_share(many) - real) < abs(top_wind_gust_share(old) - real) - 0.1
    gust_pair = {"low": "wind_speed", "high": "wind_gust", "modelled_as_gap": "wind_gust"}
    assert gust_pair in fitted.card()["ordered_pairs"]
    assert (many["wind_gust"].dropna() >= many.loc[many["wind_gust"].notna(), "wind_speed"]).all()
    unordered = HiddenMarkovModel(**FAST, keep_order=False).fit(weather, schema, seed=0)
    real_corr = weather["wind_gust"].corr(weather["wind_speed"])
    loose_corr = unordered.sample(10, seed=6)[["wind_gust", "wind_speed"]].corr().iloc[0, 1]
    assert abs(many["wind_gust"].corr(many["wind_speed"]) - real_corr) < abs(loose_corr - real_corr)


def test_run_ages_count_how_long_the_previous_token_lasted():
    tokens = np.array([[0], [0], [0], [1], [1], [0], [0], [0]])
    first = np.array([True, False, False, False, False, True, False, False])
    assert run_ages(tokens, first)[:, 0].tolist() == [0, 1, 2, 3, 1, 0, 1, 2]
    layout = Contexts(bins=10, ages=[4, 1])
    age = np.array([1, 2, 3, 4, 7, 8, 30])
    codes = layout.code(0, np.ones(7, dtype=np.int64), age, np.zeros(7, dtype=np.int64))
    assert codes.tolist() == [40, 50, 50, 60, 60, 70, 70]  # (1 * 4 + bucket) * 10
    assert layout.size(0, 3) == 120 and layout.size(1, 3) == 30


def test_numeric_columns_take_real_values_and_keep_their_order(fitted, weather, schema):
    """Dew point is computed (temperature minus a gap), temperature mapped back through
    quantile knots: both are snapped onto the real values (whole degrees Celsius in
    Fahrenheit), since off-grid values gave rows away. Humidity has too many values. Values
    are compared as published: with the decimals the source writes (its float noise gone).
    Value protection mirrors a one-off extreme inside its bound on purpose (the lowest
    pressure, 1005.5, to 1006.5), where no real value need be: those few are let through."""
    many = fitted.sample(10, seed=7)
    for column in ["temp", "dewp", "wind_dir", "wind_speed", "wind_gust", "pressure", "visib"]:
        decimals = schema.column(column).decimals

        def published(values: pd.Series, decimals=decimals) -> pd.Series:
            return values.dropna() if decimals is None else values.dropna().round(decimals)

        values = published(many[column])
        off = values[~values.isin(set(published(weather[column])))]
        bound = fitted.protection.numeric.get(column)
        assert len(off) <= 0.001 * len(values), (column, off.tolist())
        assert off.empty or off.between(bound.low, bound.high).all(), column
    assert (many["dewp"] <= many["temp"] + 1e-9).all()
    assert (many["wind_speed"] <= many["wind_gust"].fillna(np.inf)).all()


@pytest.mark.slow  # over 10 s here; the default run keeps under 15 minutes
def test_calm_has_no_direction_in_the_samples(fitted, weather, schema):
    """Wind direction is 0 exactly where the wind speed is 0: set by that rule, not drawn
    (drawn, thousands of calm hours had a direction and windy ones direction 0)."""
    assert fitted.card()["coupled_values"] == [
        {"column": "wind_dir", "value": 0.0, "where": "wind_speed", "is": 0.0}
    ]
    many = fitted.sample(10, seed=7)
    direction = many["wind_dir"].notna()
    calm = many["wind_speed"] == 0
    assert calm[direction].sum() > 20
    assert ((many["wind_dir"] == 0) == calm)[direction].all()
    drawn = HiddenMarkovModel(**FAST, couple_values=False).fit(weather, schema, seed=0)
    assert drawn.card()["coupled_values"] == []
    other = drawn.sample(10, seed=7)
    assert ((other["wind_dir"] == 0) != (other["wind_speed"] == 0)).sum() > 20


def test_snap_prefers_the_nearest_grid_value_inside_the_bounds():
    grid = np.array([0.0, 1.0, 2.0, 3.0])
    values = np.array([0.4, 0.6, 2.6, np.nan, 7.0, -3.0])
    assert np.allclose(snap(values, grid), [0, 1, 3, np.nan, 3, 0], equal_nan=True)
    # an upper bound per row (the pair's anchor): 0.6 may not round up past 0.7
    high = np.array([0.5, 0.7, 2.5, 1.0, np.nan, -2.0])  # last: no grid value fits, kept
    assert np.allclose(snap(values, grid, high=high), [0, 0, 2, np.nan, 3, -3], equal_nan=True)
    # the bound below both neighbours (the anchor was snapped down): the highest value under
    # it; no grid value fits: clipped into the bounds
    high = np.array([0.5, 0.7, 1.5, 1.0, np.nan, -2.0])
    low = np.array([np.nan, np.nan, np.nan, np.nan, 3.5, np.nan])
    assert np.allclose(
        snap(values, grid, low=low, high=high), [0, 0, 1, np.nan, 7, -3], equal_nan=True
    )


def test_a_gap_column_is_snapped_after_its_anchor():
    """The anchor (here `b`) is snapped too, so the gap column `a` must be snapped
    afterwards, inside the anchor's final value, or the pair's order could break."""
    pairs = [OrderedPair(low="a", high="b", gap_column="a")]
    train = pd.DataFrame({"a": [0.0, 1.0, 2.0] * 4, "b": [1.0, 2.0, 3.0] * 4})
    assert list(value_grids(train, ["a", "b"], pairs, {})) == ["b", "a"]


def test_values_that_barely_repeat_are_no_grid_to_snap_onto():
    """A short series whose values each occur once (openintro's 51 yearly birth counts;
    here statsmodels' first 51 quarters of US GDP and consumption) was snapped onto its own
    values: every synthetic value a training value, most rows' pairs real ones."""
    from statsmodels.datasets import macrodata

    real = macrodata.load_pandas().data[["year", "quarter", "realgdp", "realcons"]].head(51)
    real = real.assign(t=np.arange(51))[["t", "realgdp", "realcons"]]
    assert value_grids(real, ["realgdp", "realcons"], [], {}) == {}
    shared = pd.DataFrame({"n": np.repeat(np.arange(10.0), 6)})  # counts that repeat do
    assert list(value_grids(shared, ["n"], [], {})) == ["n"]

    schema = detect_schema(real, "gdp", sequence_index="t")
    out = HiddenMarkovModel().fit(enforce_schema(real, schema), schema, seed=0).sample(1, seed=0)
    assert out["realgdp"].isin(real["realgdp"]).mean() < 0.2
    assert len(out.merge(real, on=["realgdp", "realcons"])) == 0


def test_moving_average_restarts_with_each_sequence():
    x = np.array([[0.0], [2.0], [2.0], [5.0], [1.0]])
    first = np.array([True, False, False, True, False])
    # 0, then 0.5 * 0 + 0.5 * 2 = 1, then 1.5; the second sequence starts from its own value
    assert moving_average(x, first, 0.5)[:, 0].tolist() == [0.0, 1.0, 1.5, 5.0, 3.0]


def test_spectral_radius_counts_the_slow_average_as_state():
    """x_t = a x_{t-1} + c m_{t-1}, m_t = decay m_{t-1} + (1 - decay) x_t: the radius is that
    of the 2 x 2 system, which a = 0.5 alone (0.5) would badly understate."""
    a, c, decay = 0.5, 0.6, 0.9
    system = np.array([[a, c], [(1 - decay) * a, decay + (1 - decay) * c]])
    expected = np.abs(np.linalg.eigvals(system)).max()
    radius = spectral_radius(np.array([[a]]), [1], 1, np.array([[c]]), decay)
    assert radius == pytest.approx(expected) and radius > 0.99
    # stabilising scales the lag and the average together until the system is stationary
    ar = np.array([[[a, c, 0.0]]])  # one state: lag 1, slow average, intercept
    stabilise(ar, [1], np.array([True]), [], decay)
    scaled = spectral_radius(ar[0, :, :1], [1], 1, ar[0, :, 1:2], decay)
    assert scaled <= MAX_AR_RADIUS and ar[0, 0, 2] == 0.0


def _lag(frame: pd.DataFrame, schema, column: str, lag: int) -> float:
    return mean_autocorrelation(check_time_series(frame, schema), schema, column, lag)


@pytest.mark.slow  # over 10 s here; the default run keeps under 15 minutes
def test_slow_average_keeps_wind_direction_persistent_over_hours(fitted, weather, schema):
    """Wind direction is a noisy reading of a slow signal: without the slow average its
    autocorrelation 12 and 24 hours on dies out (0.06 and -0.07 vs 0.17 and 0.10 real)."""
    # the calm rule left out of both: on 1,000 rows its zeros blur the comparison
    without, with_it = (
        HiddenMarkovModel(**FAST, memory=memory, couple_values=False).fit(weather, schema, seed=0)
        for memory in (0.0, 0.9)
    )
    assert without.card()["slow_average_decay"] == 0.0
    assert fitted.card()["slow_average_decay"] == 0.9
    many, old = with_it.sample(10, seed=4), without.sample(10, seed=4)
    for lag in (12, 24):
        real = _lag(weather, schema, "wind_dir", lag)
        gain = abs(_lag(old, schema, "wind_dir", lag) - real) - abs(
            _lag(many, schema, "wind_dir", lag) - real
        )
        assert gain > 0.03, lag


def test_a_mostly_missing_column_enters_as_its_fresh_value(fitted, weather, schema):
    """Gusts, reported on 20 % of hours, also enter the next step as the value reported the
    hour before, 0 where none was: their carried value is mostly hours old."""
    assert fitted.card()["fresh_inputs"] == ["wind_gust"]
    model = fitted.fitted_
    ordered = check_time_series(weather, schema).reset_index(drop=True)
    for pair in model.relations.pairs:
        ordered = pair.to_gap(ordered)
    seq = sequence_ids(ordered, schema)
    data, design = build_data(
        ordered, schema, seq, ordered.groupby("origin").head(1), {}, model.codec, model.index,
        model.design.lags, model.design.memory, fitted.settings.current_drivers,
        np.zeros((len(ordered), 0)),
    )
    d, gust = data.x.shape[1], [c.name for c in model.codec.numeric].index("wind_gust")
    assert design.fresh == model.design.fresh == [gust]
    carried, fresh = data.lagged[:, gust], data.lagged[:, len(design.lags) * d]
    reported_before = np.r_[False, ordered["wind_gust"].notna().to_numpy()[:-1]] & ~data.first
    assert reported_before.sum() > 50
    assert np.array_equal(fresh[reported_before], carried[reported_before])
    assert (fresh[~reported_before] == 0).all()
    assert (carried[~reported_before & ~data.first] != 0).mean() > 0.5  # stale values
    no_lag_one = HiddenMarkovModel(**FAST, lags=[2, 24]).fit(weather, schema, seed=0)
    assert no_lag_one.card()["fresh_inputs"] == []  # counted as lag 1: only next to it


def test_sampling_is_a_pure_function_of_the_fitted_parameters(fitted):
    """`simulate` reads the frozen `FittedHMM` and a generator only: the same generator state
    gives the same sequences, and the fitted parameters cannot be changed under it."""
    first = simulate(fitted.fitted_, 3, np.random.default_rng(5))
    again = simulate(fitted.fitted_, 3, np.random.default_rng(5))
    pd.testing.assert_frame_equal(first, again)
    assert len(first) == 1500 and first["origin"].nunique() == 3
    with pytest.raises(FrozenInstanceError):
        fitted.fitted_.calibration = None


def test_a_more_private_retry_has_fewer_broader_states(fitted):
    retry = fitted.more_private_params()
    assert retry["n_states"] == 1 and retry["min_variance"] == pytest.approx(1e-2)
    assert retry["protect_rare"] == 5 and retry["time_effects"] is False
    assert retry["max_iter"] == FAST["max_iter"]  # the job's other settings kept
    HiddenMarkovModel(**retry)


# --- sequences of very different lengths -------------------------------------------------------
def test_grouped_forward_backward_equals_one_padded_pass():
    from types import SimpleNamespace

    from pipeline.models.hmm.chunks import length_groups
    from pipeline.models.hmm.em import _forward_backward, forward_backward

    rng = np.random.default_rng(0)
    lengths = np.array([400] + [5] * 60 + [2] * 40)
    assert len(length_groups(lengths)) == 3
    seq = np.repeat(np.arange(len(lengths)), lengths)
    pos = np.concatenate([np.arange(n) for n in lengths])
    k = 3
    trans = rng.dirichlet(np.ones(k) * 3, size=k)
    chain = SimpleNamespace(start=rng.dirichlet(np.ones(k)), trans=trans, n_states=k)
    logb = rng.normal(size=(len(seq), k)) * 2
    data = SimpleNamespace(seq=seq, pos=pos, n_seq=len(lengths))
    grouped = forward_backward(logb, data, chain)
    single = _forward_backward(logb, pos, seq, len(lengths), chain)
    for a, b in zip(grouped[:2], single[:2]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    assert grouped[2] == pytest.approx(single[2], rel=1e-12)


@pytest.mark.slow  # 9 s: `make test-all`, keeping the default run's time with today's tests
def test_one_long_entity_among_many_short_ones_fits_and_samples_in_order(nyc_weather_path):
    weather = pd.read_csv(nyc_weather_path, parse_dates=["time_hour"])
    weather = weather[["origin", "time_hour", "temp", "humid"]].dropna()
    long = weather[weather["origin"] == "JFK"].head(3000).assign(site="JFK")
    short = weather[weather["origin"] != "JFK"].groupby("origin").head(24 * 60).copy()
    short["site"] = short["origin"] + "-" + short["time_hour"].dt.strftime("%m%d")
    frame = pd.concat([long, short]).drop(columns="origin").reset_index(drop=True)
    schema = detect_schema(frame, "sites", sequence_key="site", sequence_index="time_hour")
    model = HiddenMarkovModel(n_states=2, max_iter=5).fit(frame, schema, seed=0)
    out = model.sample(121, seed=1)
    sizes = out.groupby("site", sort=False).size()
    assert len(sizes) == 121 and sizes.max() > 20 * sizes.median()
    # each sequence's rows together and in time order, as a single padded pass gives them
    sites = out["site"].to_numpy()
    assert (sites[1:] != sites[:-1]).sum() + 1 == 121
    assert out.groupby("site")["time_hour"].apply(lambda t: t.is_monotonic_increasing).all()
