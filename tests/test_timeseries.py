"""Time-series input checks, the sequence split, schema detection, metrics, and PAR."""

from __future__ import annotations

import warnings
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp

from pipeline.errors import PipelineError
from pipeline.postprocess import complete_to_schema
from pipeline.schema import DatasetSchema, Role, detect_schema, enforce_schema
from pipeline.split import split_sequences
from pipeline.timeseries import cadence_share, check_time_series
from pipeline.validation.sequence_metrics import (
    ks_complement,
    mean_autocorrelation,
    sequence_metrics,
    tv_complement,
)

ROOT = Path(__file__).resolve().parents[1]
WEATHER = ROOT.parent / "shared" / "data" / "nyc_weather.csv"
STORES = Path(str(files("sdmetrics").joinpath("demos/timeseries/timeseries_real.csv")))


@pytest.fixture(scope="module")
def weather() -> pd.DataFrame:
    df = pd.read_csv(WEATHER)
    df["time_hour"] = pd.to_datetime(df["time_hour"])
    return df


@pytest.fixture(scope="module")
def stores() -> pd.DataFrame:
    df = pd.read_csv(STORES)
    df["date"] = pd.to_datetime(df["date"])
    return df


@pytest.fixture(scope="module")
def weather_slice(weather) -> pd.DataFrame:
    """2 airports x 500 hours."""
    two = weather[weather["origin"].isin(["EWR", "JFK"])]
    return two.groupby("origin").head(500).reset_index(drop=True)


def weather_schema(df: pd.DataFrame) -> DatasetSchema:
    return detect_schema(df, "nyc_weather", sequence_key="origin", sequence_index="time_hour")


# --- schema detection -----------------------------------------------------------------------
def test_weather_schema_key_is_an_id_and_local_calendar_columns_are_derived(weather_slice):
    schema = weather_schema(weather_slice)
    assert schema.column("origin").role == Role.id
    # year/month/day/hour are New York wall-clock time while time_hour is UTC
    index = schema.column("time_hour")
    assert index.timezone == "America/New_York"
    assert "%H" in index.datetime_format
    for part in ("year", "month", "day", "hour"):
        assert schema.column(part).derived_from_index == part
    assert "hour" not in schema.modelled_columns()


def test_naive_utc_index_as_ingest_stores_it_is_read_in_the_same_zone(weather_slice):
    naive = weather_slice.assign(time_hour=weather_slice["time_hour"].dt.tz_localize(None))
    schema = weather_schema(naive)
    assert schema.column("time_hour").timezone == "America/New_York"
    assert schema.column("hour").derived_from_index == "hour"


def test_store_schema_marks_static_and_derived_columns(stores):
    schema = detect_schema(stores, "stores", sequence_key="store_id", sequence_index="date")
    assert schema.column("store_id").role == Role.id and schema.column("store_id").integer
    assert schema.column("region").static
    assert schema.column("day_of_week").derived_from_index == "day_of_week"
    assert schema.column("date").timezone is None


# --- input checks ---------------------------------------------------------------------------
def test_unsortable_index_is_refused_naming_rows(weather_slice):
    schema = weather_schema(weather_slice)
    bad = weather_slice.copy()
    bad["time_hour"] = bad["time_hour"].astype(object)
    bad.loc[3, "time_hour"] = "not a date"
    with pytest.raises(PipelineError, match=r"time_hour.*not dates.*row\(s\) 3"):
        check_time_series(bad, schema)


def test_mixed_zoned_and_naive_index_is_refused(weather_slice):
    schema = weather_schema(weather_slice)
    bad = weather_slice.head(10).copy()
    bad["time_hour"] = bad["time_hour"].astype(str).astype(object)
    bad.loc[2, "time_hour"] = "2013-01-01 09:00:00"  # no zone among zoned values
    with pytest.raises(PipelineError, match="time_hour"):
        check_time_series(bad, schema)


def test_duplicate_entity_index_pairs_are_refused(weather_slice):
    schema = weather_schema(weather_slice)
    doubled = pd.concat([weather_slice, weather_slice.iloc[[5]]], ignore_index=True)
    with pytest.raises(PipelineError, match=r"sharing an \(entity, index\) pair.*EWR"):
        check_time_series(doubled, schema)


def test_sequence_key_missing_from_the_data_is_refused(weather_slice):
    schema = weather_schema(weather_slice)
    with pytest.raises(PipelineError, match="sequence_key 'origin'.*not a column"):
        check_time_series(weather_slice.drop(columns="origin"), schema)
    with pytest.raises(PipelineError, match="sequence_key 'airport' is not a column"):
        detect_schema(weather_slice, "w", sequence_key="airport", sequence_index="time_hour")


def test_check_sorts_by_entity_then_index(weather_slice):
    schema = weather_schema(weather_slice)
    shuffled = weather_slice.sample(frac=1.0, random_state=1)
    ordered = check_time_series(shuffled, schema)
    for _, group in ordered.groupby("origin"):
        assert group["time_hour"].is_monotonic_increasing


# --- split ----------------------------------------------------------------------------------
def test_split_by_entity_keeps_whole_stores_apart(stores):
    schema = detect_schema(stores, "stores", sequence_key="store_id", sequence_index="date")
    train, holdout, method = split_sequences(stores, schema, holdout_fraction=0.2, seed=3)
    assert "20 of 100 entities" in str(method)
    assert not set(train["store_id"]) & set(holdout["store_id"])
    assert len(train) + len(holdout) == len(stores)
    again = split_sequences(stores, schema, holdout_fraction=0.2, seed=3)[1]
    assert holdout.equals(again)


def test_split_by_time_holds_out_each_sequence_tail(weather_slice):
    schema = weather_schema(weather_slice)
    train, holdout, method = split_sequences(weather_slice, schema, holdout_fraction=0.2)
    assert method.kind.value == "sequence_tails"
    for origin in ("EWR", "JFK"):
        tr, ho = train[train.origin == origin], holdout[holdout.origin == origin]
        assert len(ho) == 100 and len(tr) == 400
        assert tr["time_hour"].max() < ho["time_hour"].min()


# --- metrics on cases with known answers ------------------------------------------------------
def _ar1_frame(phi: float, n: int, seed: int, key: str = "a") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = np.zeros(n)
    for t in range(1, n):
        x[t] = phi * x[t - 1] + rng.standard_normal()
    index = pd.date_range("2020-01-01", periods=n, freq="h")
    return pd.DataFrame({"entity": key, "time": index, "value": x})


def _schema_of(df: pd.DataFrame) -> DatasetSchema:
    return detect_schema(df, "toy", sequence_key="entity", sequence_index="time")


def test_autocorrelation_of_ar1_series_is_recovered():
    df = pd.concat([_ar1_frame(0.8, 4000, 1, "a"), _ar1_frame(0.8, 4000, 2, "b")])
    schema = _schema_of(df)
    ordered = check_time_series(df, schema)
    assert mean_autocorrelation(ordered, schema, "value", 1) == pytest.approx(0.8, abs=0.03)
    assert mean_autocorrelation(ordered, schema, "value", 2) == pytest.approx(0.64, abs=0.04)


def test_metrics_compare_a_smooth_and_a_white_noise_series():
    real = _ar1_frame(0.9, 3000, 1)
    noise = real.assign(value=np.random.default_rng(5).permutation(real["value"].to_numpy()))
    metrics = sequence_metrics(real, noise, _schema_of(real))
    # a permutation keeps the marginal exactly and destroys the autocorrelation
    assert metrics["seq_shape_value"] == pytest.approx(1.0)
    assert metrics["seq_lag1_value_real"] == pytest.approx(0.9, abs=0.03)
    assert abs(metrics["seq_lag1_value_synthetic"]) < 0.05
    assert metrics["seq_lag1_value_abs_diff"] == pytest.approx(0.9, abs=0.06)
    assert "seq_lag24_value_real" in metrics  # hourly data: the seasonal lag is a day


def test_seasonal_lag_of_a_daily_cycle_and_cadence_with_gaps():
    hours = pd.date_range("2020-01-01", periods=24 * 60, freq="h")
    cycle = np.sin(2 * np.pi * np.arange(len(hours)) / 24)
    real = pd.DataFrame({"entity": "a", "time": hours, "value": cycle})
    schema = _schema_of(real)
    gappy = real.drop(index=range(10, len(real), 10)).reset_index(drop=True)  # 1 step in 9 is 2h
    metrics = sequence_metrics(real, gappy, schema)
    assert metrics["seq_lag24_value_real"] == pytest.approx(1.0, abs=1e-6)
    assert metrics["seq_cadence_real"] == 1.0
    assert metrics["seq_cadence_synthetic"] == pytest.approx(
        cadence_share(check_time_series(gappy, schema), schema)
    )
    assert metrics["seq_cadence_synthetic"] == pytest.approx(1 - 1 / 9, abs=0.01)
    assert metrics["seq_cadence_same_step"] == 1.0


def test_distribution_similarities_known_values():
    a = pd.Series(np.arange(100.0))
    assert ks_complement(a, a) == 1.0
    assert ks_complement(a, a + 1000) == 0.0
    assert ks_complement(a, a + 50) == pytest.approx(0.5)
    rng = np.random.default_rng(0)
    for n, m in ((1, 1), (3, 7), (500, 40)):  # scipy's statistic, ties included
        x, y = rng.integers(0, 5, n).astype(float), rng.normal(2, 2, m).round()
        assert ks_complement(pd.Series(x), pd.Series(y)) == pytest.approx(
            1 - ks_2samp(x, y).statistic)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one value a side once warned on a user's console
        assert ks_complement(pd.Series([1.0]), pd.Series([2.0])) == 0.0
    assert tv_complement(pd.Series(list("aabb")), pd.Series(list("abbb"))) == pytest.approx(0.75)


def test_length_similarity_sees_shorter_sequences(stores):
    schema = detect_schema(stores, "stores", sequence_key="store_id", sequence_index="date")
    shorter = stores[stores["date"] < "2020-06-05"]
    metrics = sequence_metrics(stores, shorter, schema)
    assert metrics["seq_length_similarity"] == 0.0
    assert sequence_metrics(stores, stores, schema)["seq_length_similarity"] == 1.0


# --- postprocessing of model output ---------------------------------------------------------
def test_complete_to_schema_gives_new_keys_and_unclipped_calendar_parts(weather_slice):
    schema = weather_schema(weather_slice)
    raw = weather_slice[schema.modelled_columns()].copy()
    raw["origin"] = np.repeat([7, 9], 500)
    raw["time_hour"] = raw["time_hour"] + pd.Timedelta(days=365)  # runs into 2014
    out = complete_to_schema(raw, schema, np.random.default_rng(0))
    assert out["origin"].nunique() == 2
    assert not set(out["origin"]) & {"EWR", "JFK"}
    assert set(out["year"]) == {2014}  # not clipped to the training range
    local = out["time_hour"].dt.tz_convert("America/New_York")
    assert (out["hour"].astype(int) == local.dt.hour).all()
    enforce_schema(out.drop(columns=["year"]), schema.model_copy(update={
        "columns": [c for c in schema.columns if c.name != "year"]
    }))


# --- PAR (SDV) ------------------------------------------------------------------------------
def test_par_is_reproducible_and_regenerates_keys(stores):
    from pipeline.models.par import PARModel

    schema = detect_schema(stores, "stores", sequence_key="store_id", sequence_index="date")
    model = PARModel(epochs=2).fit(stores, schema, seed=0)
    first, again = model.sample(5, seed=1), model.sample(5, seed=1)
    pd.testing.assert_frame_equal(first, again)
    assert not first.equals(model.sample(5, seed=2))
    assert first["store_id"].nunique() == 5
    assert not set(first["store_id"]) & set(stores["store_id"])
    assert (first.groupby("store_id")["region"].nunique() == 1).all()  # static stays static
    assert (first["day_of_week"] == first["date"].dt.dayofweek).all()
    assert len(model.loss_history) == 2


def test_par_refuses_unknown_parameters():
    from pipeline.models.par import PARModel

    with pytest.raises(PipelineError, match="par: unknown parameter 'n_epochs'"):
        PARModel(n_epochs=3)


# --- integration with the flow: inferred fields and which privacy bounds gate ------------------
def test_sequence_fields_are_inferred_for_time_series_models(
    nyc_weather_path, demo_timeseries_path
):
    from pipeline.ingest import read_source
    from pipeline.timeseries import infer_sequence_fields

    weather, _ = read_source(nyc_weather_path)
    assert infer_sequence_fields(weather) == ("origin", "time_hour")
    sales, _ = read_source(demo_timeseries_path)
    assert infer_sequence_fields(sales) == ("store_id", "date")
    single = weather[weather["origin"] == "JFK"]
    assert infer_sequence_fields(single) == (None, "time_hour")
    with pytest.raises(PipelineError, match="no column parses as dates"):
        infer_sequence_fields(weather.drop(columns=["time_hour"]))


def test_privacy_gates_follow_the_kind_of_holdout():
    from pipeline.validation.thresholds import resolve_thresholds

    tabular = resolve_thresholds({})
    entities = resolve_thresholds({}, time_series=True)
    tails = resolve_thresholds({}, time_series=True, exchangeable_holdout=False)
    privacy = {name for name, t in tabular.items() if t.kind == "privacy"}
    row_level = {"dcr_share_p_value", "near_copy_p_value", "dcr_close_p_value",
                 "singling_out_p_value", "mia_p_value"}
    assert row_level <= privacy
    # whole trajectories instead: the entity gate
    assert ({n for n, t in entities.items() if t.kind == "privacy"}
            == privacy - row_level | {"entity_dcr_share_p_value"})
    assert {n for n, t in tails.items() if t.kind == "privacy"} == {"exact_copy_p_value"}
    # the family-wise level is split over the tests actually gated
    assert tails["exact_copy_p_value"].min_value == pytest.approx(
        len(privacy) * tabular["exact_copy_p_value"].min_value)


def test_calendar_names_are_parts_of_the_index_written_as_the_source_wrote_them(weather_slice):
    frame = weather_slice.copy()
    local = frame["time_hour"].dt.tz_convert("America/New_York")
    frame["weekday"] = local.dt.day_name().str[:3]  # Mon, Tue, ...
    frame["month_name"] = local.dt.month_name()  # January, ...
    frame["quarter"] = local.dt.quarter
    schema = detect_schema(frame, "nyc_weather", sequence_key="origin", sequence_index="time_hour")
    assert schema.column("weekday").derived_from_index == "day_abbr"
    assert schema.column("month_name").derived_from_index == "month_name"
    assert schema.column("quarter").derived_from_index == "quarter"
    raw = frame[schema.modelled_columns()].copy()
    raw["origin"] = np.repeat([7, 9], 500)
    raw["time_hour"] = raw["time_hour"] + pd.Timedelta(days=100)
    out = complete_to_schema(raw, schema, np.random.default_rng(0))
    shifted = out["time_hour"].dt.tz_convert("America/New_York")
    # the index runs into months the training rows never reached: those are named too
    assert out[["weekday", "month_name", "quarter"]].notna().all().all()
    assert (out["weekday"] == shifted.dt.day_name().str[:3]).all()
    assert (out["month_name"] == shifted.dt.month_name()).all()
    assert (out["quarter"] == shifted.dt.quarter).all()


def test_calendar_parts_under_any_name_are_parts_of_the_index(weather_slice):
    # mosaicData's BirthsCDC: `day_of_month` (no name the schema knew) was modelled, and
    # the published series held one day of the month for weeks on end
    frame = weather_slice.copy()
    local = frame["time_hour"].dt.tz_convert("America/New_York")
    frame["mday"], frame["wd"] = local.dt.day, local.dt.day_name().str[:2]
    frame["reading"] = np.arange(len(frame)) % 3  # takes a part's values, not its rows'
    schema = detect_schema(frame, "nyc_weather", sequence_key="origin", sequence_index="time_hour")
    assert schema.column("mday").derived_from_index == "day"
    assert schema.column("wd").calendar_map[0] == "Mo"  # two letters: a function of the part
    assert schema.column("reading").derived_from_index is None
    raw = frame[schema.modelled_columns()].copy()
    raw["origin"] = np.repeat([7, 9], 500)
    raw["time_hour"] = raw["time_hour"] + pd.Timedelta(days=100)
    out = complete_to_schema(raw, schema, np.random.default_rng(0))
    shifted = out["time_hour"].dt.tz_convert("America/New_York")
    assert (out["mday"] == shifted.dt.day).all()
    assert (out["wd"] == shifted.dt.day_name().str[:2]).all()


def test_par_refuses_a_single_series_naming_the_model_that_fits_one(weather_slice):
    from pipeline.models.par import PARModel

    one = weather_slice[weather_slice["origin"] == "JFK"].drop(columns="origin")
    schema = detect_schema(one, "jfk", sequence_index="time_hour")
    with pytest.raises(PipelineError, match="needs a sequence_key; for one long series use"):
        PARModel(epochs=1).fit(one, schema, seed=0)


def test_par_output_keeps_each_step_of_a_sequence_once(stores):
    from pipeline.models.par import _one_row_per_step

    schema = detect_schema(stores, "stores", sequence_key="store_id", sequence_index="date")
    repeated = pd.concat([stores.head(5), stores.head(2)], ignore_index=True)
    out = _one_row_per_step(repeated, schema)
    assert len(out) == 5 and not out.duplicated(["store_id", "date"]).any()
