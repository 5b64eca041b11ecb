"""A column that is a calendar part of a date column on the same row (the year, the month's
number or name, the weekday beside the date: mosaicData's weather, nycflights' year, month
and day beside the hour's time stamp). A model that learns them side by side writes a date of
one year beside another year (Column Pair Trends of date and year 0.56). The column is still
modelled, so a condition on it is honoured; once the output is written, every other row
takes its date's part.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from pipeline.schema.calendar import calendar_parts, same_values

# Parts tried in this order: a number that is both a month and a quarter (all in Q1) is
# rarer than one that is the month.
PARTS = ("year", "month", "month_name", "month_abbr", "quarter", "day", "day_of_year",
         "day_of_week", "day_name", "day_abbr", "hour", "minute")
MIN_VALUES = 2  # a constant column equals the hour of every date without a time


@dataclass(frozen=True)
class CalendarColumn:
    column: str
    date: str
    part: str  # a key of schema.calendar.calendar_parts

    @property
    def columns(self) -> tuple[str, str]:
        return self.column, self.date

    def apply(self, frame: pd.DataFrame, keep: bool = False) -> pd.DataFrame:
        """The column as its date's part where the date is known; `keep` leaves the
        model's own values (a condition asked for them)."""
        if keep:
            return frame
        stamps = pd.to_datetime(frame[self.date], errors="coerce")  # SDV's come as text
        known = stamps.notna().to_numpy()
        values = frame[self.column].to_numpy(dtype=object, copy=True)
        values[known] = calendar_parts(stamps[known])[self.part].to_numpy(dtype=object)
        frame[self.column] = pd.Series(values, index=frame.index).astype(frame[self.column].dtype)
        return frame


def find_calendar_columns(frame: pd.DataFrame, columns: list[str],
                          dated: list[str]) -> list[list[str]]:
    """[column, date] for each of `columns` that is a calendar part of a `dated` column."""
    found = []
    parts = {date: calendar_parts(frame[date]) for date in dated}
    for column in columns:
        for date in dated:
            if column != date and _part_of(frame[column], frame[date], parts[date]):
                found.append([column, date])
                break
    return found


def fit_calendar_column(train: pd.DataFrame, columns: list[str]) -> CalendarColumn | None:
    column, date = columns
    if not pd.api.types.is_datetime64_any_dtype(train[date]):
        return None
    part = _part_of(train[column], train[date], calendar_parts(train[date]))
    return CalendarColumn(column, date, part) if part else None


def _part_of(values: pd.Series, stamps: pd.Series, parts: dict[str, pd.Series]) -> str | None:
    """The calendar part the values are on every row with a date, known wherever it is."""
    dated = stamps.notna().to_numpy()
    if not dated.any() or values[dated].isna().any() or values.nunique() < MIN_VALUES:
        return None
    return next((p for p in PARTS if same_values(values, parts[p])), None)

