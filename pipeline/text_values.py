"""Typed values written as text: dates in the layouts people write, and numbers written with a
currency sign, thousands separators or a percent sign.

Ingest asks here once per text column, after plain numbers and booleans. A column reads as
dates only when one layout reads every value and every value has that layout's shape (so a
genotype `1/2`, a tyre size `195/60` or an age band `20-24` stays a label); a layout without a
day (`1/86`, `2020-01`, `2020Q1`) also needs enough distinct values to be a calendar. A column
reads as numbers only when every value is one once its sign and separators are dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

ISO8601 = "ISO 8601"
QUARTERS = "year and quarter"
WEEKS = "year and ISO week"  # tsibble's yearweek, `1991 W06`: the week's Monday
# Layouts tried in order. Day first comes before month first: where both read every value
# (no day above 12), the day-first reading is kept and the report says the order was ambiguous.
DAY_LAYOUTS = (
    "%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S%z", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M",
    ISO8601,
    "%d/%m/%Y", "%m/%d/%Y", "%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %I:%M %p",
    "%d/%m/%y", "%m/%d/%y", "%Y/%m/%d", "%Y/%m/%d %H:%M:%S",
    "%d.%m.%Y", "%d.%m.%y", "%d.%m.%Y %H:%M", "%d.%m.%Y %H:%M:%S",
    "%d-%m-%Y", "%m-%d-%Y", "%d-%b-%Y", "%d-%b-%y", "%d %b %Y", "%d %B %Y",
    "%b %d, %Y", "%B %d, %Y", "%b %d %Y",
)
MONTH_LAYOUTS = (
    "%Y-%m", "%Y/%m", "%m/%Y", "%m/%y", "%b %Y", "%B %Y", "%b-%Y", "%b-%y",
    "%YM%m", "%Ym%m", "%Y %b", "%Y %B",  # statistics offices: 2020M01, 1959m1, 2020 JAN
    "%Y-%b", "%Y-%B", "%Y, %B", "%Y, %b", "%B, %Y", "%b, %Y",  # openintro's `1990, July`
    QUARTERS, WEEKS,
)
# A layout without a day reads a column only with this many distinct values: a handful of
# `1/2`-like codes is a label, a calendar of months has many.
MIN_PERIODS = 6
# Month/year written like a fraction (`7/10`) reads as months only across two years or more:
# scores out of 10 would all fall in one year.
FRACTION_LIKE = ("%m/%y", "%m/%Y")
SAMPLE = 200  # values checked against a layout's shape before the whole column is parsed
# A column still reads as dates when no more than this share of its values cannot be read
# (`unknown`, `2022-02-30`): those become missing, and the run names them. Numbers get no such
# slack: a `rotary` among cylinder counts or a family `136A` among numbers is a real value.
MAX_UNREADABLE_DATES = 0.05

_SHAPES = {
    "%Y": r"\d{4}", "%y": r"\d{2}", "%m": r"\d{1,2}", "%d": r"\d{1,2}", "%H": r"\d{1,2}",
    "%I": r"\d{1,2}", "%M": r"\d{2}", "%S": r"\d{2}", "%p": r"[AaPp][Mm]",
    "%b": r"[A-Za-z]{3}", "%B": r"[A-Za-z]{3,9}", "%z": r"(?:[+-]\d{2}:?\d{2}|Z)",
}
_ISO_SHAPE = r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
_QUARTER = re.compile(r"^(?:(\d{4})\s*-?\s*Q([1-4])|Q([1-4])\s*-?\s*(\d{4}))$", re.IGNORECASE)
_WEEK = re.compile(r"^(\d{4})\s*-?\s*W(\d{1,2})$", re.IGNORECASE)
_DAY_FIRST = {"%d/%m": "%m/%d", "%d.%m": "%m.%d", "%d-%m": "%m-%d"}


@dataclass(frozen=True)
class DateReading:
    layout: str
    values: pd.Series  # datetime64, NaT where the text was missing or unreadable
    ambiguous: bool  # the month-first reading fits every value too
    century_moved: bool  # two-digit years that would lie in the future were put 100 years back
    unreadable: pd.Series  # the present values no date could be read from


def shape(layout: str) -> str:
    """A regular expression every value written in `layout` matches."""
    if layout == ISO8601:
        return _ISO_SHAPE
    if layout in (QUARTERS, WEEKS):
        return (_QUARTER if layout == QUARTERS else _WEEK).pattern[1:-1]
    parts = re.split(r"(%[A-Za-z])", layout)
    return "".join(_SHAPES.get(p, re.escape(p)) for p in parts)


def read_dates(values: pd.Series) -> DateReading | None:
    """The column's dates in the first layout that reads every present value (but for a few,
    see MAX_UNREADABLE_DATES), else None. Runs of spaces read as one (`1990,  July`)."""
    known = values.dropna().astype(str)
    sample = known.head(SAMPLE)
    if known.empty or not _few((~sample.str.contains(r"\d")).sum(), len(sample)):
        return None
    if known.str.contains(r"\s\s|^\s|\s$").any():
        values = values.where(values.isna(), values.astype(str).str.strip().str.replace(
            r"\s+", " ", regex=True))
        known = values.dropna().astype(str)
        sample = known.head(SAMPLE)
    distinct = known.nunique()
    for layout in DAY_LAYOUTS + MONTH_LAYOUTS:
        if layout in MONTH_LAYOUTS and distinct < MIN_PERIODS:
            continue
        pattern = shape(layout)
        if not _few((~sample.str.fullmatch(pattern)).sum(), len(sample)):
            continue
        shaped = known.str.fullmatch(pattern)
        if not _few((~shaped).sum(), len(known)):
            continue
        parsed = _parse(values.where(shaped.reindex(values.index, fill_value=False)),
                        known[shaped], layout)
        if parsed is None or not _few(len(known) - parsed.notna().sum(), len(known)):
            continue
        if layout in FRACTION_LIKE and parsed.dt.year.nunique() < 2:
            continue
        moved = "%y" in layout and bool((parsed > pd.Timestamp.now()).any())
        if moved:  # `63` is 1963, not 2063: a written date is not in the future
            parsed = parsed.where(parsed <= pd.Timestamp.now(), parsed - pd.DateOffset(years=100))
        unreadable = known[parsed.loc[known.index].isna()]
        return DateReading(layout, parsed, _ambiguous(values, known, layout), moved, unreadable)
    return None


def _few(unreadable: int, known: int) -> bool:
    return unreadable <= MAX_UNREADABLE_DATES * known


def _parse(values: pd.Series, known: pd.Series, layout: str) -> pd.Series | None:
    """`values` in `layout`; `known`: their present values as text."""
    if layout == QUARTERS:
        return _quarters(values)
    if layout == WEEKS:
        return values.map(_week_start, na_action="ignore").astype("datetime64[ns]")
    zoned = "%z" in layout or "Z" in layout or layout == ISO8601
    try:
        parsed = pd.to_datetime(values, format="ISO8601" if layout == ISO8601 else layout,
                                errors="coerce", utc=zoned)
    except (ValueError, TypeError, OverflowError):
        return None
    if layout == ISO8601 and not known.str.contains(r"(?:Z|[+-]\d{2}:?\d{2})$").any():
        parsed = parsed.dt.tz_localize(None)  # naive text stays naive
    return parsed


def _week_start(text: object) -> pd.Timestamp:
    match = _WEEK.match(str(text))
    try:
        return pd.Timestamp.fromisocalendar(int(match.group(1)), int(match.group(2)), 1)
    except (AttributeError, ValueError):  # no match, or a week 54
        return pd.NaT


def _quarters(values: pd.Series) -> pd.Series:
    def start(text: object) -> pd.Timestamp:
        if text is None or (isinstance(text, float) and pd.isna(text)):
            return pd.NaT
        match = _QUARTER.match(str(text))
        if match is None:
            return pd.NaT
        year = int(match.group(1) or match.group(4))
        quarter = int(match.group(2) or match.group(3))
        return pd.Timestamp(year=year, month=3 * quarter - 2, day=1)

    return pd.to_datetime(values.map(start))


def _ambiguous(values: pd.Series, known: pd.Series, layout: str) -> bool:
    for day_first, month_first in _DAY_FIRST.items():
        if day_first in layout:
            other = layout.replace(day_first, month_first)
            parsed = _parse(values, known, other)
            return bool(parsed is not None and _few(len(known) - parsed.notna().sum(), len(known)))
    return False


# --- numbers with signs and separators ------------------------------------------------------
# A sign or an ISO code, before the number (`$12`, `USD 12`) or after it (`12 €`, `12 EUR`).
CURRENCY = r"[$€£¥₹]|USD|EUR|GBP|CHF|JPY|CAD|AUD|CNY|INR|SEK|NOK|DKK"
MINUS = "-\u2212"  # the hyphen and the minus sign typesetting writes


def _number_pattern(thousands: str, decimal: str) -> re.Pattern:
    t, d = re.escape(thousands), re.escape(decimal)
    return re.compile(
        rf"^(?P<open>\()?(?P<sign>[{MINUS}+])?\s*(?P<currency>{CURRENCY})?\s*"
        rf"(?P<sign2>[{MINUS}+])?"
        rf"(?P<digits>\d{{1,3}}(?:{t}\d{{3}})+(?:{d}\d*)?|\d+(?:{d}\d*)?|{d}\d+)\s*"
        rf"(?P<percent>%)?\s*(?P<currency2>{CURRENCY})?(?P<close>\))?$"
    )


# `1,234.50`; where a file's fields are separated by semicolons, `1.234,50`
_POINT, _COMMA = _number_pattern(",", "."), _number_pattern(".", ",")


@dataclass(frozen=True)
class NumberReading:
    values: pd.Series  # float64, NaN where the text was missing
    written_with: list[str]  # what was dropped: currency signs, thousands separators, percent


def read_numbers(values: pd.Series, decimal_comma: bool = False) -> NumberReading | None:
    """Numbers written as `$1,234.50`, `12.5%` or `(1,200)` (a negative amount), else None;
    with `decimal_comma` (a file separated by semicolons) also as `1.234,50`.

    The number is kept as written: `12.5%` reads 12.5, in the column's own unit.
    """
    known = values.dropna().astype(str)
    if known.empty:
        return None
    for comma in (True, False) if decimal_comma else (False,):
        reading = _read_with(values, known, comma)
        if reading is not None:
            return reading
    return None


def _read_with(values: pd.Series, known: pd.Series, decimal_comma: bool) -> NumberReading | None:
    pattern = _COMMA if decimal_comma else _POINT
    if not known.head(SAMPLE).str.fullmatch(pattern.pattern[1:-1]).all():
        return None
    parts = known.str.extract(pattern)
    if parts["digits"].isna().any() or (parts["open"].notna() != parts["close"].notna()).any():
        return None
    negative = (parts["open"].notna() | parts["sign"].isin(list(MINUS))
                | parts["sign2"].isin(list(MINUS)))
    thousands, decimal = (".", ",") if decimal_comma else (",", ".")
    digits = parts["digits"].str.replace(thousands, "", regex=False)
    number = pd.to_numeric(digits.str.replace(decimal, ".", regex=False), errors="coerce")
    if number.isna().any():
        return None
    number = number.where(~negative, -number)
    out = pd.Series(float("nan"), index=values.index, dtype="float64")
    out.loc[known.index] = number.to_numpy()
    written = [name for name, used in (
        ("currency signs", (parts["currency"].notna() | parts["currency2"].notna()).any()),
        ("thousands separators", parts["digits"].str.contains(thousands, regex=False).any()),
        ("decimal commas", decimal_comma and parts["digits"].str.contains(",", regex=False).any()),
        ("percent signs", parts["percent"].notna().any()),
        ("negatives in brackets", parts["open"].notna().any()),
        ("minus signs", (parts["sign"].eq(MINUS[1]) | parts["sign2"].eq(MINUS[1])).any()),
    ) if used]
    return NumberReading(out, written)
