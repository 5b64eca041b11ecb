"""The schema's data model: column roles and specs, dependencies, and the dataset schema saved
as YAML.

The schema is the contract between the data and every model: models read roles, bounds and
categories from it, and synthetic output is cast back to it.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from pipeline.errors import PipelineError
from pipeline.names import validated_name

CALENDAR_PARTS = (
    "year", "quarter", "month", "day", "hour", "minute", "day_of_week", "day_of_year",
    "day_name", "day_abbr", "month_name", "month_abbr",  # Monday / Mon, January / Jan
)


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
    # the digits after the point the source used (money: 2); None: any
    decimals: int | None = Field(default=None, ge=0)
    # every value a multiple of this (limits in steps of 100, quarters), but for a few rare
    # ones (`written_numbers._round_unit`); None: no step
    step: float | None = Field(default=None, gt=0)
    # categorical: the categories seen in the real data (output never invents others)
    categories: list[Any] | None = None
    # numerical: a clock reading written so (`h:mm:ss`, `hh:mm`; clock_values), held as a
    # number of its last part's units and written back in this layout on publishing
    clock: str | None = None
    # datetime
    datetime_format: str | None = None
    # id: the shape synthetic ids are written in (a regex such as 17\-\d{6}); None: syn-N
    id_pattern: str | None = None
    # pii: the Faker provider that makes a realistic replacement value
    pii_kind: str | None = None
    # pii: the layout most values share, `#` for a digit (`(###) ###-####`), or a name's
    # order ("{last}, {initial}", "{last}, {first}"); None: Faker's
    pii_shape: str | None = None
    nullable: bool = True
    # time series: a column constant within each entity
    static: bool = False
    # time series: a calendar part of the sequence index (regenerated, never modelled)
    derived_from_index: str | None = None
    # time series: with derived_from_index, the column's value for each value of that part
    # (a `jan` dummy, a season from the month, a weekend flag from the weekday)
    calendar_map: dict[int, Any] | None = None
    # time series: the same value for every entity at each step (a national price index):
    # the real path reused as it is ("public", detected: it describes the time, not an
    # entity), or one path drawn per sample and shared by all entities ("generated")
    shared: Literal["generated", "public"] | None = None
    # time series, on the index: the calendar columns it was composed from ({part: column},
    # schema.period_index) when the source has no date column; composed, never published
    composed_from: dict[str, str] | None = None
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
        if self.timezone is not None and not known_zone(self.timezone):
            raise ValueError(
                f"column {self.name!r}: timezone {self.timezone!r} is not a time zone pandas "
                "knows; use an IANA name such as 'America/New_York', or remove it"
            )
        return self

    def as_written(self, values: np.ndarray) -> np.ndarray:
        """Numbers as the schema writes them: to its decimals. A float32 column exported
        as text (3.0999999046325684 for 3.1) and the published 3.1 are then one value when
        rows or values are compared with the training data."""
        values = np.asarray(values, dtype=float)
        return values if self.decimals is None else np.round(values, self.decimals)


def plain_value(value: Any) -> Any:
    """A numpy scalar as the Python value a YAML schema can hold."""
    return value.item() if hasattr(value, "item") else value


def known_zone(zone: str) -> bool:
    """Whether pandas can convert to `zone` (the tz database lists names it refuses)."""
    try:
        pd.Timestamp(0, tz="UTC").tz_convert(zone)
    except Exception:  # pytz, zoneinfo and dateutil each raise their own type
        return False
    return True


class Dependency(BaseModel):
    """`target` is a function of `source` in the real data (Adult: education -> education-num;
    a village's take-up rate, the same on each of its rows)."""

    source: str
    target: str
    mapping: dict[str, Any]


# A total of at most this many parts (models/relations/table).
MAX_DERIVED_INPUTS = 8


class Relation(BaseModel):
    """Columns the tabular models keep in a fixed relation (models/relations/table):
    `ordered` [low, high] (low never exceeds high; two numbers or two dates), `derived`
    [column, *inputs] (the column is a function of its inputs: a cubic of one or two, of
    one also on a log or exp scale, a total of up to eight),
    `missing_together` [columns] (all present or all absent, on nearly every row), `one_of`
    [indicators] (0/1
    columns of which at most one is set on a row), `fixed_combinations` [columns] (columns of
    few values that occur together only in the training rows' combinations), `binned`
    [category, number] (each value of the category one interval of the number), `calendar`
    [column, date] (the column is a calendar part of the date: its year, month, weekday). Set
    `enabled: false` to let the model learn them freely."""

    kind: Literal["ordered", "derived", "missing_together", "one_of", "fixed_combinations",
                  "binned", "calendar"]
    columns: list[str] = Field(min_length=2)
    enabled: bool = True

    @model_validator(mode="after")
    def _shape(self) -> Relation:
        if self.kind == "ordered" and len(self.columns) != 2:
            raise ValueError(f"an ordered relation names two columns [low, high], not "
                             f"{self.columns}")
        if self.kind in ("binned", "calendar") and len(self.columns) != 2:
            shape = "[category, number]" if self.kind == "binned" else "[column, date]"
            raise ValueError(f"a {self.kind} relation names two columns {shape}, not "
                             f"{self.columns}")
        if self.kind == "derived" and len(self.columns) > 1 + MAX_DERIVED_INPUTS:
            raise ValueError(f"a derived column has at most {MAX_DERIVED_INPUTS} inputs, not "
                             f"{self.columns[1:]}")
        if len(set(self.columns)) != len(self.columns):
            raise ValueError(f"relation {self.columns} names a column twice")
        return self


# What each relation kind asks of its columns' roles, as the schema error states it.
RELATION_ROLES = {
    "ordered": "both columns numerical, or both datetime",
    "derived": "every column numerical, or a numerical length of time from datetime columns",
    "missing_together": "any columns",
    "one_of": "numerical or boolean columns (0/1 indicators)",
    "fixed_combinations": "any columns",
    "binned": "[category, number]: a categorical or boolean column, then a numerical or "
              "datetime one",
    "calendar": "[column, date]: a numerical or categorical column, then a datetime one",
}


def _roles_fit(kind: str, roles: list[Role]) -> bool:
    numbers, dates = {Role.numerical}, {Role.datetime}
    if kind == "ordered":
        return set(roles) <= numbers or set(roles) <= dates
    if kind == "derived":
        return set(roles) <= numbers or (roles[0] in numbers and set(roles[1:]) <= dates)
    if kind == "one_of":
        return set(roles) <= {Role.numerical, Role.boolean}
    if kind == "binned":
        return roles[0] in (Role.categorical, Role.boolean) and roles[1] in numbers | dates
    if kind == "calendar":
        return roles[0] in (Role.numerical, Role.categorical) and roles[1] in dates
    return True  # missing_together, fixed_combinations


class DatasetSchema(BaseModel):
    name: str
    columns: list[ColumnSpec]
    sequence_key: str | None = None
    sequence_index: str | None = None
    dependencies: list[Dependency] = Field(default_factory=list)
    relations: list[Relation] = Field(default_factory=list)

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
        roles = {c.name: c.role for c in self.columns}
        for relation in self.relations:
            if not set(relation.columns) <= set(names):
                raise ValueError(f"relation {relation.columns} names an unknown column")
            if not _roles_fit(relation.kind, [roles[c] for c in relation.columns]):
                raise ValueError(f"{relation.kind} relation {relation.columns}: "
                                 f"{RELATION_ROLES[relation.kind]}")
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

    def dependency_targets(self) -> set[str]:
        """Columns written from another column's value after sampling (see Dependency)."""
        return {d.target for d in self.dependencies}

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
        data = self.model_dump(mode="json", exclude_defaults=True)
        if self.relations:  # `enabled` is written out so that a user sees what to switch off
            data["relations"] = [r.model_dump(mode="json") for r in self.relations]
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
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
