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


def test_tables_without_a_calendar_or_with_a_date_are_left_as_they_are(approval):
    assert PERIOD not in with_period(approval.drop(columns="month"))
    dated = approval.assign(date=pd.to_datetime("2001-01-01"))
    assert PERIOD not in with_period(dated)
    not_years = approval.assign(year=approval["year"] - 1990)  # 11, 12: no four-digit year
    assert period_parts(not_years) is None
