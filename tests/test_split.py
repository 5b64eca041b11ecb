from __future__ import annotations

import pandas as pd
import pytest

from pipeline.errors import PipelineError
from pipeline.schema import detect_schema
from pipeline.split import SplitKind, split_train_holdout


@pytest.fixture(scope="module")
def numbered(adult_frame):
    """Adult with its row number, so membership can be checked after the split."""
    frame = adult_frame.reset_index().rename(columns={"index": "row"})
    return frame, detect_schema(frame.head(200), "adult_rows")


def test_split_is_seeded_disjoint_and_complete(numbered):
    frame, schema = numbered
    train, holdout, method = split_train_holdout(frame, schema, 0.2, seed=7)
    assert len(holdout) == round(len(frame) * 0.2)
    assert len(train) + len(holdout) == len(frame)
    assert set(train["row"]).isdisjoint(holdout["row"])
    again, _, _ = split_train_holdout(frame, schema, 0.2, seed=7)
    assert again["row"].equals(train["row"])
    other, _, _ = split_train_holdout(frame, schema, 0.2, seed=8)
    assert not other["row"].equals(train["row"])
    assert "seed 7" in str(method)


def test_split_refuses_tiny_or_bad_fraction(adult_frame):
    schema = detect_schema(adult_frame.head(50), "adult")
    with pytest.raises(PipelineError, match="at least 10"):
        split_train_holdout(adult_frame.head(5), schema)
    with pytest.raises(PipelineError, match="between 0 and 1"):
        split_train_holdout(adult_frame, schema, holdout_fraction=1.5)


# --- is the holdout exchangeable with the training rows? --------------------------------------
@pytest.fixture(scope="module")
def weather(nyc_weather_path):
    """Three airports' hourly readings: too few entities to hold whole ones out."""
    df = pd.read_csv(nyc_weather_path)
    df["time_hour"] = pd.to_datetime(df["time_hour"])
    return df.groupby("origin").head(200).reset_index(drop=True)


def test_a_row_split_holdout_is_exchangeable(numbered):
    frame, schema = numbered
    *_, split = split_train_holdout(frame, schema, 0.2, seed=0)
    assert split.kind is SplitKind.RANDOM_ROWS and split.exchangeable


def test_a_sequence_tail_holdout_is_not_exchangeable(weather):
    schema = detect_schema(weather, "nyc_weather", sequence_key="origin",
                           sequence_index="time_hour")
    train, holdout, method = split_train_holdout(weather, schema, 0.2, seed=0)
    # every airport is on both sides, its holdout rows later than all of its training rows
    assert set(holdout["origin"]) == set(train["origin"]) == set(weather["origin"])
    for origin, rows in holdout.groupby("origin"):
        assert rows["time_hour"].min() > train.loc[train.origin == origin, "time_hour"].max()
    assert method.kind is SplitKind.SEQUENCE_TAILS and not method.exchangeable


def test_a_whole_entity_holdout_is_exchangeable(demo_timeseries_path):
    stores = pd.read_csv(demo_timeseries_path, parse_dates=["date"])
    schema = detect_schema(stores, "stores", sequence_key="store_id", sequence_index="date")
    train, holdout, method = split_train_holdout(stores, schema, 0.2, seed=0)
    assert not set(train["store_id"]) & set(holdout["store_id"])
    assert method.kind is SplitKind.WHOLE_SEQUENCES and method.exchangeable


def test_a_single_series_holds_out_its_tail(weather):
    one = weather[weather["origin"] == "JFK"].drop(columns="origin").reset_index(drop=True)
    schema = detect_schema(one, "jfk", sequence_index="time_hour")
    train, holdout, method = split_train_holdout(one, schema, 0.2, seed=0)
    assert len(holdout) == 40 and len(train) == 160
    assert holdout["time_hour"].min() > train["time_hour"].max()
    assert method.kind is SplitKind.SEQUENCE_TAILS and "the series" in str(method)
