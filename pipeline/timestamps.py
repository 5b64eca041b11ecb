"""The resolution a source writes its timestamps in (a day, an hour, a minute, a second), as
a layout the schema keeps, and timestamps rounded to it, so output is written as the source
writes it and a length of time computed from two dates matches the dates the output shows."""

from __future__ import annotations

import pandas as pd

# Each layout a schema may give, with the unit its values sit on; any other: unrounded.
DATETIME_UNITS = {"%Y-%m-%d": "D", "%Y-%m-%d %H:00": "h", "%Y-%m-%d %H:%M": "min",
                  "%Y-%m-%d %H:%M:%S": "s"}
FINER_THAN_SECONDS = "%Y-%m-%d %H:%M:%S.%f"


def timestamp_layout(values: pd.Series) -> str:
    """The coarsest layout every value fits; finer than seconds: to the microsecond."""
    present = values.dropna()
    if getattr(present.dt, "tz", None) is not None:
        present = present.dt.tz_convert("UTC").dt.tz_localize(None)  # no DST gaps to round
    for layout, unit in DATETIME_UNITS.items():
        if len(present) and (present.dt.floor(unit) == present).all():
            return layout
    return FINER_THAN_SECONDS


def at_resolution(stamps: pd.Series, layout: str | None) -> pd.Series:
    """Timestamps on the unit `layout` writes them in; a date never rounds to the next."""
    unit = DATETIME_UNITS.get(layout or "")
    if unit is None or getattr(stamps.dt, "tz", None) is not None:
        return stamps
    return stamps.dt.floor(unit) if unit == "D" else stamps.dt.round(unit)
