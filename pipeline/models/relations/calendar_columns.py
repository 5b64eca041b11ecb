"""A column that is a calendar part of a date column on the same row (the year, the month's
number or name, the weekday beside the date: mosaicData's weather, nycflights' year, month
and day beside the hour's time stamp). A model that learns them side by side writes a date of
one year beside another year (Column Pair Trends of date and year 0.56). The parts stay
modelled, with what they tell about the other columns (births by weekday); once the output
is written, each date moves to the parts drawn beside it, coarse ones first (to the drawn
year, then month, day, the nearest drawn weekday, hour), and the parts are then read off
the moved date, so a part the others contradict yields to them and every row agrees.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from pipeline.schema.calendar import PARTS, calendar_parts, same_values

MIN_VALUES = 2  # a constant column equals the hour of every date without a time
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class CalendarColumn:
    column: str
    date: str
    part: str  # a key of schema.calendar.calendar_parts

    @property
    def columns(self) -> tuple[str, str]:
        return self.column, self.date

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The column as its date's part where the date is known (a condition on it moved
        the date there first, `move_dates`)."""
        stamps = pd.to_datetime(frame[self.date], errors="coerce")  # SDV's come as text
        known = stamps.notna().to_numpy()
        values = frame[self.column].to_numpy(dtype=object, copy=True)
        values[known] = calendar_parts(stamps[known])[self.part].to_numpy(dtype=object)
        frame[self.column] = pd.Series(values, index=frame.index).astype(frame[self.column].dtype)
        return frame


def move_dates(frame: pd.DataFrame, rules: list[CalendarColumn]) -> None:
    """Each rules' date moved (in place) to the parts drawn beside it, then the parts read
    off it; a date's parts are one group, moved together."""
    for date in dict.fromkeys(rule.date for rule in rules):
        group = [rule for rule in rules if rule.date == date]
        stamps = pd.to_datetime(frame[date], errors="coerce")
        wanted = {rule.part: frame[rule.column] for rule in group}
        moved = _moved_to_parts(stamps, wanted)
        if pd.api.types.is_datetime64_any_dtype(frame[date]):
            frame[date] = moved.astype(frame[date].dtype)
        else:  # a model that returns dates as text
            frame[date] = moved
        for rule in group:
            rule.apply(frame)


def _moved_to_parts(stamps: pd.Series, wanted: dict[str, pd.Series]) -> pd.Series:
    """The dates moved to the wanted parts where drawn: year, month (or quarter), day of
    year, day, weekday (the nearest, at most three days away), hour, minute."""
    year = _number(wanted.get("year"))
    month = _month(wanted)
    day_of_year = _number(wanted.get("day_of_year"))
    moved = _on_day(stamps, year=year)
    moved = _on_day(moved, month=month)
    if "quarter" in wanted and month is None:
        quarter = _number(wanted["quarter"])
        within = (moved.dt.month - 1) % 3
        moved = _on_day(moved, month=(quarter - 1) * 3 + within + 1)
    if day_of_year is not None:
        shift = day_of_year - moved.dt.dayofyear
        moved = moved + pd.to_timedelta(shift.fillna(0), unit="D")
    moved = _on_day(moved, day=_number(wanted.get("day")))
    weekday = _weekday(wanted)
    if weekday is not None:
        shift = (weekday - moved.dt.dayofweek + 3) % 7 - 3
        moved = moved + pd.to_timedelta(shift.fillna(0), unit="D")
    for part, unit in (("hour", "h"), ("minute", "min")):
        target = _number(wanted.get(part))
        if target is not None:
            now = getattr(moved.dt, part)
            moved = moved + pd.to_timedelta((target - now).fillna(0), unit=unit)
    return moved


def _on_day(stamps: pd.Series, year: pd.Series | None = None, month: pd.Series | None = None,
            day: pd.Series | None = None) -> pd.Series:
    """The dates with the given year, month or day where known (the day clipped to the
    month's length), at the same time of day."""
    if year is None and month is None and day is None:
        return stamps
    y = stamps.dt.year.astype(float) if year is None else year.fillna(stamps.dt.year)
    m = stamps.dt.month.astype(float) if month is None else month.fillna(stamps.dt.month)
    d = stamps.dt.day.astype(float) if day is None else day.fillna(stamps.dt.day)
    known = stamps.notna() & y.between(1678, 2261) & m.between(1, 12)
    first = pd.to_datetime(pd.DataFrame({"year": y.where(known, 2000), "month": m.where(known, 1),
                                         "day": 1}).astype(int))
    length = first.dt.days_in_month
    day_of = d.where(known, 1).clip(1, length).astype(int)
    moved = first + pd.to_timedelta(day_of - 1, unit="D") + (stamps - stamps.dt.normalize())
    return moved.where(known, stamps)


def _number(values: pd.Series | None) -> pd.Series | None:
    if values is None:
        return None
    return pd.to_numeric(values, errors="coerce").astype(float)


def _month(wanted: dict[str, pd.Series]) -> pd.Series | None:
    if "month" in wanted:
        return _number(wanted["month"])
    for part, width in (("month_name", None), ("month_abbr", 3)):
        if part in wanted:
            names = {(m[:width] if width else m): i for i, m in enumerate(MONTHS, start=1)}
            return wanted[part].astype("string").map(names).astype(float)
    return None


def _weekday(wanted: dict[str, pd.Series]) -> pd.Series | None:
    if "day_of_week" in wanted:
        return _number(wanted["day_of_week"])
    for part, width in (("day_name", None), ("day_abbr", 3)):
        if part in wanted:
            names = {(d[:width] if width else d): i for i, d in enumerate(WEEKDAYS)}
            return wanted[part].astype("string").map(names).astype(float)
    return None


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

