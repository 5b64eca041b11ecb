"""Clock readings written as text (race times, a game clock, times of day): numbers in the
model, the source's layout in the published file."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.clock_values import clock_layout, read_clock, write_clock, written_as_source
from pipeline.errors import PipelineError
from pipeline.schema import Role, detect_schema, enforce_schema

# fpp3's Boston marathon winners, and openintro's Kobe Bryant game clock, as written
MARATHON = ["02:55:10", "02:42:00", "02:54:38", "02:39:44", "02:29:23", "03:01:12",
            "02:29:19", "02:26:43", "02:21:18", "02:18:51", "01:27:00", "02:21:52"]
GAME_CLOCK = ["9:47", "9:07", "8:11", "7:41", "7:03", "6:01", "4:07", "0:52", "0:00", "11:22"]


@pytest.mark.parametrize(("values", "layout", "first"), [
    (MARATHON, "hh:mm:ss", 2 * 3600 + 55 * 60 + 10),
    (GAME_CLOCK, "h:mm", 9 * 60 + 47),
    ([v.lstrip("0") for v in MARATHON], "h:mm:ss", 2 * 3600 + 55 * 60 + 10),
])
def test_clock_readings_round_trip_in_their_layout(values, layout, first):
    strings = pd.Series(values)
    assert clock_layout(strings) == layout
    numbers = read_clock(strings)
    assert numbers.iloc[0] == first
    assert write_clock(numbers, layout).tolist() == values


@pytest.mark.parametrize("values", [
    ["1:2", "3:4", "5:6"] * 4,  # ratios, scores
    ["2:30", "2:30:10"] * 6,  # two layouts in one column
    ["9:47", "9:77"] * 6,  # no clock has 77 seconds
    ["9:47", "8:11", "7:41"],  # too few to tell
    ["10:30 AM", "11:15 PM"] * 6,  # a time of day with its half: left as written
])
def test_what_is_not_one_clock_layout_is_left_alone(values):
    assert clock_layout(pd.Series(values)) is None


def test_a_clock_column_is_a_number_with_its_layout_not_a_code():
    frame = pd.DataFrame({"winner": [f"runner {i}" for i in range(12)], "time": MARATHON,
                          "year": range(2000, 2012)})
    schema = detect_schema(frame, "marathon")
    spec = schema.column("time")
    assert (spec.role, spec.clock, spec.integer) == (Role.numerical, "hh:mm:ss", True)
    assert spec.minimum == 3600 + 27 * 60 and spec.maximum == 3 * 3600 + 72
    enforced = enforce_schema(frame, schema)
    assert enforced["time"].dtype == "Int64"
    assert written_as_source(enforced, schema)["time"].tolist() == MARATHON
    # a missing reading stays missing, written or not
    gap = enforced.assign(time=enforced["time"].astype("Float64").where(enforced.index != 3))
    assert written_as_source(gap, schema)["time"].isna().tolist() == [i == 3 for i in range(12)]


def test_a_value_that_is_no_clock_reading_is_refused_by_name():
    frame = pd.DataFrame({"time": MARATHON, "n": range(12)})
    schema = detect_schema(frame, "marathon")
    bad = frame.assign(time=frame["time"].where(frame.index != 5, "DNF"))
    with pytest.raises(PipelineError, match=r"column 'time' is not a clock reading written "
                                            r"hh:mm:ss in row\(s\) 5"):
        enforce_schema(bad, schema)
