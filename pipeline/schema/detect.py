"""Schema detection: each column's role, bounds, categories and personal-data kind, read from
the (already ingested) data, and the dependencies between columns.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.clock_values import clock_layout, read_clock
from pipeline.errors import PipelineError
from pipeline.names import check_dataset_name
from pipeline.schema.calendar import mark_time_series
from pipeline.schema.model import (
    ColumnSpec,
    DatasetSchema,
    Dependency,
    Relation,
    Role,
    plain_value,
)
from pipeline.schema.period_index import PERIOD, composed_parts
from pipeline.schema.personal_data import personal_kind, personal_layout
from pipeline.schema.written_numbers import written_decimals, written_step
from pipeline.timestamps import timestamp_layout

# Above this many distinct values a string column is not modelled as a category: one-hot
# encoding it would explode memory in CTGAN/TVAE and it carries little population signal.
MAX_CATEGORIES = 500
MIN_CODE_ROWS = 20
MIN_CODE_UNIQUE = 0.95  # a code names one row (an incident, an order): nearly all distinct
MIN_ENTITY_CODES = 10  # entities a sequence key needs before its codes have a shape
# An id-named column with this many distinct values names people or things, even when each
# has several rows (a patient's visits): an id, never a category whose real values the
# output would repeat. Fewer (a store_id of 10 stores) stay categories.
MIN_ENTITY_IDS = 50
# Names that mark an identifier column (never modelled, regenerated unique on output).
# `_`, `.`, `-` or a space before the word (customer_id, subject.id), or camelCase
# (PassengerId, orderID); not a word that merely ends so (valid, monkey, grid).
ID_NAME = re.compile(r"(^|[_.\s-])(id|key|uuid|guid)$"
                     r"|(?-i:[a-z0-9](Id|ID|Key|KEY|Uuid|UUID|Guid|GUID))$", re.IGNORECASE)
# Integer columns with at most this many values may take part in a dependency.
MAX_DEPENDENCY_VALUES = 50
# A column determines another only when its values repeat, on average on at least this many
# rows each: a column of (nearly) unique values "determines" every other column vacuously,
# and its mapping would be a lookup of whole training records.
MIN_ROWS_PER_DETERMINANT_VALUE = 2


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
    _check_sequence_fields(df, name, sequence_key=sequence_key, sequence_index=sequence_index)
    columns = [
        _detect_column(df[col], is_index=col == sequence_index, is_key=col == sequence_key)
        for col in df.columns
    ]
    # what follows reads clock readings as the numbers they are modelled as
    clocks = {c.name: read_clock(df[c.name]) for c in columns if c.clock}
    df = df.assign(**clocks) if clocks else df
    if sequence_index is not None:
        mark_time_series(df, columns, sequence_key, sequence_index)
    if sequence_index == PERIOD:
        next(c for c in columns if c.name == PERIOD).composed_from = composed_parts(df)
    schema = DatasetSchema(
        name=name, columns=columns, sequence_key=sequence_key, sequence_index=sequence_index
    )
    schema.dependencies = detect_dependencies(df, schema)
    if not schema.is_time_series:  # a series model finds its own, per step
        schema.relations = detect_relations(df, schema)
    return schema


def detect_relations(df: pd.DataFrame, schema: DatasetSchema) -> list[Relation]:
    """Orders and derived columns among the numerical columns, orders among the dates, and
    columns missing together (models/relations/table)."""
    from pipeline.models.relations.detection import detect

    # a dependency's target is written from its source after sampling: a relation on it is
    # the source's, and one that rebuilt a column from it would read a column not yet there;
    # a source keeps the values its mapping knows, which a rebuilt column would leave
    # (mother's schooling rebuilt from one's own less a gap: 13 years, which maps to nothing),
    # so it is in no order (a derived one is exact, and snapped onto its mapping after)
    free = [c for c in schema.columns if c.name not in schema.dependency_targets() and not c.empty]
    numeric = [c.name for c in free if c.role == Role.numerical]
    dated = [c.name for c in free if c.role == Role.datetime]
    modelled = [c for c in schema.modelled_columns() if c not in schema.dependency_targets()]
    found = detect(df, numeric, modelled, dated, {d.source for d in schema.dependencies})
    return [Relation(kind=kind, columns=columns) for kind, columns in found]


def _check_sequence_fields(df: pd.DataFrame, name: str, **fields: str | None) -> None:
    if fields.get("sequence_key") is not None and fields.get("sequence_index") is None:
        raise PipelineError(
            f"sequence_key {fields['sequence_key']!r} of {name!r} was given without a "
            "sequence_index: a time series needs the column that orders each entity's rows "
            "(--sequence-index COLUMN, or sequence_index in the job file); a plain table "
            "needs neither")
    for field, value in fields.items():
        if value is not None and value not in df.columns:
            raise PipelineError(
                f"{field} {value!r} is not a column of {name!r}; columns are {list(df.columns)}"
            )
        if value is not None and df[value].isna().all():
            raise PipelineError(
                f"{field} {value!r} of {name!r} has no values (every cell is missing); "
                "give a column that has them"
            )


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
        return ColumnSpec(name=name, role=Role.id, integer=integer, nullable=False,
                          id_pattern=None if integer else _entity_code_pattern(values))
    if pd.api.types.is_bool_dtype(series) or _is_boolean_object(values):
        return ColumnSpec(name=name, role=Role.boolean, nullable=nullable)
    if pd.api.types.is_datetime64_any_dtype(series):
        return ColumnSpec(name=name, role=Role.datetime, nullable=nullable,
                          datetime_format=timestamp_layout(values))
    if pd.api.types.is_numeric_dtype(series):
        return _numeric_column(series, values, nullable, is_index)
    return _string_column(name, values, nullable)


def _numeric_column(
    series: pd.Series, values: pd.Series, nullable: bool, is_index: bool
) -> ColumnSpec:
    name = str(series.name)
    integer = bool(pd.api.types.is_integer_dtype(series) or _all_whole(values))
    if not is_index and integer and _names_ids(name, values):
        from pipeline.ids import integer_id_pattern

        return ColumnSpec(name=name, role=Role.id, integer=True, nullable=nullable,
                          id_pattern=integer_id_pattern(values))
    decimals = None if integer else written_decimals(values, series.dtype)
    return ColumnSpec(name=name, role=Role.numerical, integer=integer, nullable=nullable,
                      minimum=plain_value(values.min()), maximum=plain_value(values.max()),
                      decimals=decimals,
                      step=None if is_index else written_step(values, 0 if integer else decimals))


def _code_pattern(strings: pd.Series) -> str | None:
    """The shape of an id-like code column (`17-000007`), or None."""
    from pipeline.ids import code_pattern

    if len(strings) < MIN_CODE_ROWS or strings.nunique() < MIN_CODE_UNIQUE * len(strings):
        return None
    return code_pattern(strings)


def _entity_code_pattern(keys: pd.Series) -> str | None:
    """The shape of a sequence key's entity codes (`S001`), read from its distinct values."""
    from pipeline.ids import code_pattern

    distinct = pd.Series(keys.astype(str).unique())
    return code_pattern(distinct) if len(distinct) >= MIN_ENTITY_CODES else None


def _string_column(name: str, values: pd.Series, nullable: bool) -> ColumnSpec:
    strings = values.astype(str)
    clock = clock_layout(strings)
    if clock:  # a race time or a time of day: a number, not a code
        numbers = read_clock(values).rename(name)
        return _numeric_column(numbers, numbers.dropna(), nullable, False).model_copy(
            update={"clock": clock, "role": Role.numerical})
    names_ids = _names_ids(name, strings)
    pii_kind = None if names_ids else personal_kind(name, strings)
    # an e-mail or a phone number is personal data, whatever shape its values share; an id
    # of entities that recur (a penguin's two eggs) still has their codes' shape
    pattern = None if pii_kind else _code_pattern(strings) or (
        _entity_code_pattern(strings) if names_ids else None)
    if pattern or names_ids:
        # nullable as the data is: an id missing on some rows must not refuse the data
        return ColumnSpec(name=name, role=Role.id, nullable=nullable, id_pattern=pattern)
    if pii_kind:
        return ColumnSpec(name=name, role=Role.pii, pii_kind=pii_kind, nullable=nullable,
                          pii_shape=personal_layout(pii_kind, strings))
    n_unique = strings.nunique()
    if n_unique > MAX_CATEGORIES or (len(strings) > 20 and n_unique > 0.5 * len(strings)):
        # Mostly-unique or huge-cardinality strings: modelling them as categories would
        # one-hot-encode thousands of columns and memorise values; treat as free text.
        return ColumnSpec(name=name, role=Role.text, nullable=nullable)
    categories = sorted(values.unique().tolist(), key=str)
    return ColumnSpec(name=name, role=Role.categorical, categories=categories, nullable=nullable)


def _names_ids(name: str, values: pd.Series) -> bool:
    """An id by its name: unique, or naming many entities that recur (see MIN_ENTITY_IDS)."""
    return bool(ID_NAME.search(name)) and (values.is_unique
                                           or values.nunique() >= MIN_ENTITY_IDS)


def _empty_column(series: pd.Series) -> ColumnSpec:
    """A column with no values: nothing to learn, so it is carried through all missing.

    Role text whatever its dtype, because every model and metric already leaves text alone.
    """
    return ColumnSpec(name=str(series.name), role=Role.text, nullable=True, empty=True)


def _is_boolean_object(values: pd.Series) -> bool:
    return values.dtype == object and len(values) > 0 and values.map(type).eq(bool).all()


def _all_whole(values: pd.Series) -> bool:
    return len(values) > 0 and bool(np.all(np.mod(values.to_numpy(dtype=float), 1) == 0))


def detect_dependencies(df: pd.DataFrame, schema: DatasetSchema) -> list[Dependency]:
    """Find discrete columns whose value is fully determined by another column's value.

    Only pairs where the determinant has at least two values, repeated on
    MIN_ROWS_PER_DETERMINANT_VALUE rows each on average, and every value of it maps to exactly
    one value of the target are kept, and only one direction of a one-to-one pair.
    A column with a missing value neither determines nor is determined. Each column is
    coded once, so a pair costs one pass over its codes (a wide table has many pairs).
    """
    discrete = _discrete_columns(df, schema)
    codes = {c: _ValueCodes(df[c]) for c in discrete}
    found: list[Dependency] = []
    taken: set[str] = set()
    for source in discrete:
        n_values = codes[source].n_values
        if n_values < 2 or n_values * MIN_ROWS_PER_DETERMINANT_VALUE > len(df):
            continue
        for target in discrete:
            if target == source or target in taken or source in taken:
                continue
            if codes[source].determines(codes[target]):
                found.append(_dependency(df, source, target))
                taken.add(target)
    return found + _group_attributes(df, schema, codes, taken)


# A category determines a number of many values (a village's take-up rate) only when each
# category holds at least this many rows on average: a group's attribute shared by its rows.
# In smaller groups (Galton's families of four or five) the attributes published exactly
# single out the group's records, and the privacy gate rightly refuses the output.
MIN_ROWS_PER_GROUP = 5


def _group_attributes(df: pd.DataFrame, schema: DatasetSchema, codes: dict[str, _ValueCodes],
                      taken: set[str]) -> list[Dependency]:
    """Numbers that are attributes of a categorical column's groups (the same value on every
    row of a group), as dependencies: modelled apart, the number drifted within its group."""
    sources = [c.name for c in schema.columns if c.role == Role.categorical
               and c.name in codes and c.name not in taken
               and codes[c.name].n_values * MIN_ROWS_PER_GROUP <= len(df)]
    if not sources:
        return []
    targets = [c.name for c in schema.columns if c.role == Role.numerical
               and c.name not in codes and not c.derived_from_index
               and c.name not in (schema.sequence_key, schema.sequence_index)]
    found: list[Dependency] = []
    for target in targets:
        values = _ValueCodes(df[target])
        source = next((s for s in sources if codes[s].determines(values)), None)
        if source is not None:
            found.append(_dependency(df, source, target))
    return found


class _ValueCodes:
    """A column as integer codes, with its rows sorted by code: what `determines` reads."""

    def __init__(self, column: pd.Series):
        self.codes = pd.factorize(column, use_na_sentinel=True)[0]
        self.has_missing = bool((self.codes < 0).any())
        self.n_values = int(self.codes.max()) + 1 if len(self.codes) else 0
        self.order = np.argsort(self.codes, kind="stable")
        sorted_codes = self.codes[self.order]
        self.same_as_before = sorted_codes[1:] == sorted_codes[:-1]

    def determines(self, target: _ValueCodes) -> bool:
        """Each value of this column goes with one value of `target` in every row (neither
        column missing anywhere, `target` not constant)."""
        if self.has_missing or target.has_missing or target.n_values < 2:
            return False
        follows = target.codes[self.order]
        return not np.any((follows[1:] != follows[:-1]) & self.same_as_before)


def _discrete_columns(df: pd.DataFrame, schema: DatasetSchema) -> list[str]:
    """Columns of few values that may determine one another (not the sequence key or index,
    nor calendar parts: those are recomputed from the index, whatever a slice suggests)."""
    return [
        c.name
        for c in schema.columns
        if (c.role in (Role.categorical, Role.boolean)
            or (c.role == Role.numerical and c.integer
                and df[c.name].nunique() <= MAX_DEPENDENCY_VALUES))
        and c.name not in (schema.sequence_key, schema.sequence_index)
        and not c.derived_from_index
    ]


def _dependency(df: pd.DataFrame, source: str, target: str) -> Dependency:
    """`source` -> `target`, read from the rows (`_ValueCodes.determines` holds)."""
    pairs = df[[source, target]].drop_duplicates()
    mapping = {str(k): plain_value(v) for k, v in zip(pairs[source], pairs[target])}
    return Dependency(source=source, target=target, mapping=mapping)


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
                was = (f"{path} was detected for a table, with no {field}" if saved is None
                       else f"{field} {value!r} differs from {saved!r} in {path}")
                raise PipelineError(
                    f"{was}; edit the schema file or delete it to detect a new one (or run "
                    "under another --name)"
                )
        return schema, False
    schema = detect_schema(df, name, sequence_key=sequence_key, sequence_index=sequence_index)
    schema.save(path)
    return schema, True
