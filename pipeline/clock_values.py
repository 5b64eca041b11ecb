"""Clock readings written as text: race times (`2:09:37`), call lengths, a game clock (`9:47`),
times of day (`14:35`).

Such a column is a number in the units of its last part (seconds, or minutes for `h:mm`):
the schema keeps its layout, models and metrics see the number, and the published file has
it written back in the layout. Read as codes they came out as impossible times (`93:71:28`);
read as text, as strings of digits and colons (`02:551`).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

# a first part of any size, then one or two parts of two digits below 60
CLOCK = re.compile(r"^(\d{1,3}):([0-5]\d)(?::([0-5]\d))?$")
MIN_CLOCK_VALUES = 10  # a handful of `1:2`-like values are labels, not readings


def clock_layout(strings: pd.Series) -> str | None:
    """`h:mm:ss`, `hh:mm:ss`, `h:mm` or `hh:mm` (`h:mm` also stands for minutes and
    seconds; `hh`: the first part zero-padded to two digits) when every value is a clock
    reading in one number of parts, else None."""
    if len(strings) < MIN_CLOCK_VALUES or not strings.str.fullmatch(CLOCK.pattern[1:-1]).all():
        return None
    parts = strings.str.count(":")
    if parts.nunique() != 1:
        return None
    first = strings.str.split(":").str[0]
    padded = bool(first.str.len().eq(2).all() and first.str.startswith("0").any())
    return ("hh" if padded else "h") + (":mm:ss" if parts.iloc[0] == 2 else ":mm")


def read_clock(values: pd.Series) -> pd.Series:
    """Each reading as a whole number of its last part's units (NaN where none)."""
    parts = values.astype("string").str.extract(CLOCK)
    numbers = parts.apply(pd.to_numeric, errors="coerce")
    three = numbers[2].notna()
    out = numbers[0] * 60 + numbers[1]
    return out.where(~three, out * 60 + numbers[2]).astype("Int64")


def write_clock(numbers: pd.Series, layout: str) -> pd.Series:
    """Whole numbers of units back in the column's layout (missing stays missing)."""
    present = numbers.notna()
    units = np.rint(pd.to_numeric(numbers, errors="coerce").fillna(0).to_numpy(float))
    units = np.maximum(units, 0).astype(np.int64)
    if layout.endswith(":mm:ss"):
        first, rest = np.divmod(units, 3600)
        middle, last = np.divmod(rest, 60)
        tail = [f":{m:02d}:{s:02d}" for m, s in zip(middle, last)]
    else:
        first, last = np.divmod(units, 60)
        tail = [f":{s:02d}" for s in last]
    width = 2 if layout.startswith("hh") else 1
    text = [f"{f:0{width}d}{t}" for f, t in zip(first, tail)]
    return pd.Series(text, index=numbers.index, dtype="string").where(present)


def written_as_source(frame: pd.DataFrame, schema) -> pd.DataFrame:
    """The frame as the source writes it: clock columns back in their layouts, without the
    index composed from its calendar columns (schema.period_index)."""
    composed = [c.name for c in schema.columns if c.composed_from and c.name in frame.columns]
    clocks = [c for c in schema.columns if c.clock and c.name in frame.columns]
    if clocks:
        frame = frame.assign(**{c.name: write_clock(frame[c.name], c.clock) for c in clocks})
    return frame.drop(columns=composed) if composed else frame
