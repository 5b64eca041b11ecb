"""Whether a table reads as time series: a column that orders its rows (a date, or one named
like an index: year, time, period) with no missing value, unique on every row (one series)
or within the entities of a key column. A table run on such data compares each synthetic row
with rows of the same paths, so a faithful model fails the privacy gate (a monthly series:
every synthetic month lies next to a real one); when it does, the run names the series
options that model whole sequences instead."""

from __future__ import annotations

import re

import pandas as pd

from pipeline.schema.period_index import PERIOD, period_parts, with_period

INDEX_NAME = re.compile(r"^(year|yr|time|date|period|t|month|quarter|week|day|wave|obs)$", re.I)
KEY_NAME = re.compile(r"(id|state|country|firm|name|subject|code|unit|region|city|county|"
                      r"person|company|nr)$", re.I)
MIN_STEPS = 3  # rows each entity must hold
MAX_ENTITIES = 3000
MIN_SERIES_ROWS = 20


def read_as_series(frame: pd.DataFrame, dates: bool = True) -> tuple[str | None, str] | None:
    """(key or None, index) when the table reads as series, else None; `dates`: a date
    column is an index whatever its name, and so is the date a year and a month column
    name (PERIOD, schema.period_index), before any other."""
    if dates:
        frame = with_period(frame)
    for index in sorted(frame.columns, key=lambda column: column != PERIOD):
        named = bool(INDEX_NAME.match(str(index)))
        dated = dates and pd.api.types.is_datetime64_any_dtype(frame[index])
        if not (named or dated) or frame[index].isna().any():
            continue
        if frame[index].is_unique and len(frame) >= MIN_SERIES_ROWS:
            return None, index
        keys = sorted((not KEY_NAME.search(str(key)), frame[key].nunique(), key)
                      for key in frame.columns if _keys_series(frame, key, index))
        if keys:
            return keys[0][2], index
    return None


def series_hint(frame: pd.DataFrame, schema_file: str | None = None) -> str | None:
    """What a user whose table failed the privacy gate might run instead, when it reads as
    series; else None. `schema_file`: the table's saved schema, which a series run must not
    reuse."""
    found = read_as_series(frame)
    if found is None:
        return None
    key, index = found
    named = (f"the date its columns {list(period_parts(frame).values())} name" if index == PERIOD
             else repr(index))
    shape = (f"{named} orders the rows of each {key!r}" if key
             else f"{named} is unique on every row")
    options = (f" --sequence-index {index} --sequence-key {key}" if key
               else "" if index == PERIOD else f" --sequence-index {index}")
    return (f"the table reads as time series ({shape}): a table model's rows sit beside real "
            f"points of the same paths; a series model keeps whole sequences apart: "
            f"--model hmm{options}"
            + (f" (after deleting {schema_file}, detected for a table)" if schema_file else ""))


def _keys_series(frame: pd.DataFrame, key: str, index: str) -> bool:
    values = frame[key]
    if key == index or values.isna().any() or pd.api.types.is_float_dtype(values):
        return False
    return (2 <= values.nunique() <= MAX_ENTITIES and not frame.duplicated([key, index]).any()
            and values.value_counts().min() >= MIN_STEPS)
