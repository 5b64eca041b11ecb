"""A table that reads as time series, named when its table run fails the privacy gate, on
real tables: pscl's prussian (army corps by year), R's lynx (one yearly series), vega's
seattle weather (one row a day) and MASS's shuttle (no series)."""

from __future__ import annotations

import vega_datasets

from benchmarks.public_data import r_dataset
from pipeline.series_reading import read_as_series, series_hint


def test_a_key_and_an_index_are_read_from_the_table():
    assert read_as_series(r_dataset("pscl", "prussian")) == ("corp", "year")
    assert read_as_series(r_dataset("datasets", "lynx")) == (None, "time")
    assert read_as_series(r_dataset("MASS", "shuttle")) is None
    assert series_hint(r_dataset("MASS", "shuttle")) is None


def test_a_date_column_is_an_index_whatever_its_name():
    weather = vega_datasets.local_data.seattle_weather().rename(columns={"date": "observed"})
    assert read_as_series(weather) == (None, "observed")
    assert read_as_series(weather, dates=False) is None


def test_the_hint_names_the_options_that_model_the_series():
    hint = series_hint(r_dataset("pscl", "prussian"))
    assert "'year' orders the rows of each 'corp'" in hint
    assert hint.endswith("--model hmm --sequence-index year --sequence-key corp")
    # the table's saved schema has no index: the series run asks for it to go first
    hint = series_hint(r_dataset("pscl", "prussian"), "schemas/prussian.yaml")
    assert hint.endswith("--sequence-key corp (after deleting schemas/prussian.yaml, "
                         "detected for a table)")


def test_a_year_and_a_month_column_read_as_one_series_of_their_dates():
    """Zelig's approval (year, month, ...): the hint had named the month a key of entities
    running over the years; a series job composes their dates by itself."""
    from pipeline.schema.period_index import PERIOD

    approval = r_dataset("Zelig", "approval")
    assert read_as_series(approval) == (None, PERIOD)
    hint = series_hint(approval)
    assert "the date its columns ['year', 'month'] name is unique on every row" in hint
    assert hint.endswith("keeps whole sequences apart: --model hmm")
