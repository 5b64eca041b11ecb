"""A time index composed from calendar columns: a table of `Year, Month, value` (or a
quarter, or a month, a day and an hour) is one monthly series, though no column holds a date.

For a series job without a date column, the date each row's year and month (or quarter)
name is added as `PERIOD`, the series' index; the year and month columns then are calendar
parts of it (schema.calendar), regenerated from each synthetic row's date. `PERIOD` is
composed again wherever a frame lacks it (schema enforcement) and never written out: the
output has the source's columns.
"""

from __future__ import annotations

import pandas as pd

from pipeline.errors import PipelineError
from pipeline.schema.calendar import NAMED_PARTS

PERIOD = "_period"
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
# Column names read as each part: those schema.calendar reads as the same part.
PART_NAMES = {name: parts[0] for name, parts in NAMED_PARTS.items()
              if parts[0] in ("year", "month", "quarter", "day", "hour")}
YEARS = (1000, 2999)  # a year column's values: four-digit years


def period_parts(frame: pd.DataFrame) -> dict[str, str] | None:
    """{part: column} naming a year and a month (with its day and hour, if any) or a
    quarter that together name a date on every row, or None."""
    named: dict[str, str] = {}
    for column in frame.columns:
        part = PART_NAMES.get(str(column).strip().lower().replace(" ", "_").replace("-", "_"))
        if part and part not in named:
            named[part] = column
    if "year" not in named or not {"month", "quarter"} & named.keys():
        return None
    if "month" not in named:
        return _composing(frame, {"year": named["year"], "quarter": named["quarter"]})
    # the finest parts that name a date on every row: a `day` that is no day of the month
    # (mosaicData's Utilities: billing days up to 36) leaves the year and the month
    for finest in (("day", "hour"), ("day",), ()):
        parts = {"year": named["year"], "month": named["month"]}
        if all(part in named for part in finest):
            parts.update({part: named[part] for part in finest})
            if _composing(frame, parts):
                return parts
    return None


def _composing(frame: pd.DataFrame, parts: dict[str, str]) -> dict[str, str] | None:
    composed = compose_period(frame, parts)
    return parts if composed is not None and composed.notna().all() else None


def compose_period(frame: pd.DataFrame, parts: dict[str, str]) -> pd.Series | None:
    """Each row's date (the first day of its month or quarter); NaT where the parts do not
    name one; None when the year column does not hold years."""
    year = pd.to_numeric(frame[parts["year"]], errors="coerce")
    if not (year.dropna() % 1 == 0).all() or not year.dropna().between(*YEARS).all():
        return None
    if "quarter" in parts:
        month = (_number(frame[parts["quarter"]], 4) - 1) * 3 + 1
    else:
        month = _month(frame[parts["month"]])
    day = _number(frame[parts["day"]], 31) if "day" in parts else 1
    hour = _number(frame[parts["hour"]], 23, least=0) if "hour" in parts else 0
    # as floats: nullable integers with a missing value fail to_datetime, coerce or not
    dates = pd.DataFrame({"year": year, "month": month, "day": day, "hour": hour},
                         index=frame.index).astype("float64")
    return pd.to_datetime(dates, errors="coerce")


def composed_parts(frame: pd.DataFrame) -> dict[str, str] | None:
    """The parts PERIOD was composed from (with_period), or None for a column of that name
    the source holds itself."""
    parts = period_parts(frame.drop(columns=PERIOD))
    if parts is None or not compose_period(frame, parts).equals(frame[PERIOD]):
        return None
    return parts


def with_composed(frame: pd.DataFrame, schema, what: str = "data") -> pd.DataFrame:
    """The frame with its schema's composed index added where it lacks it (a saved schema's
    source, a file to audit); refused, naming the columns and rows, where its calendar
    columns name no date."""
    index = schema.column(schema.sequence_index) if schema.sequence_index else None
    if index is None or not index.composed_from or index.name in frame.columns:
        return frame
    parts = index.composed_from
    if any(column not in frame.columns for column in parts.values()):
        return frame  # enforcing the schema names the missing columns
    composed = compose_period(frame, parts)
    if composed is None or composed.isna().any():
        rows = frame.index[composed.isna()] if composed is not None else frame.index
        raise PipelineError(
            f"{what}: the calendar columns {list(parts.values())} name no date on "
            f"{len(rows)} row(s) (first: {list(rows[:5])}); schema {schema.name!r} composes "
            "the series' time index from them: fix those rows")
    return frame.assign(**{index.name: composed})


def with_period(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with PERIOD added, when it has no date column and its calendar columns
    name a date on every row; else the frame as it is."""
    if PERIOD in frame.columns or any(
            pd.api.types.is_datetime64_any_dtype(frame[c]) for c in frame.columns):
        return frame
    parts = period_parts(frame)
    return frame if parts is None else frame.assign(**{PERIOD: compose_period(frame, parts)})


def _number(values: pd.Series, most: int, least: int = 1) -> pd.Series:
    """Whole numbers least..most, read from numbers or from text holding one (`Q3`, `3rd`)."""
    if not pd.api.types.is_numeric_dtype(values):
        values = values.astype("string").str.extract(r"(\d+)", expand=False)
    numbers = pd.to_numeric(values, errors="coerce")
    return numbers.where(numbers.between(least, most) & (numbers % 1 == 0))


def _month(values: pd.Series) -> pd.Series:
    """Month numbers from numbers or names (`Jan`, `January`, `jan.`)."""
    if pd.api.types.is_numeric_dtype(values):
        return _number(values, 12)
    names = values.astype("string").str.strip().str[:3].str.lower()
    by_name = names.map({name: i + 1 for i, name in enumerate(MONTHS)})
    return by_name.where(by_name.notna(), _number(values, 12)).astype("Float64")
