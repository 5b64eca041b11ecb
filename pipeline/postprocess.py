"""Turn a model's raw output into the schema's table; the same for every model.

Why here and not in each model: ids, PII, dependencies and dtypes are promises of the
product, not of a model, so no model can forget them.
"""

from __future__ import annotations

import string
from typing import Any

import numpy as np
import pandas as pd

from pipeline.schema import ColumnSpec, DatasetSchema, Role, calendar_parts
from pipeline.schema.personal_data import SHAPED_PII
from pipeline.schema.written_numbers import on_grid
from pipeline.timestamps import at_resolution


def complete_to_schema(
    raw: pd.DataFrame, schema: DatasetSchema, rng: np.random.Generator,
    vocabularies: dict | None = None, missing_shares: dict[str, float] | None = None,
    avoid: dict[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    n = len(raw)
    columns: dict[str, Any] = {}  # one frame at the end: wide tables, no fragmentation
    for spec in schema.columns:
        if spec.derived_from_index:
            continue  # filled below, from the synthetic index
        if spec.empty:
            columns[spec.name] = cast_column(pd.Series(np.full(n, None, dtype=object)), spec)
        elif spec.role == Role.pii:
            columns[spec.name] = fake_values(spec, n, rng, (vocabularies or {}).get(spec.name),
                                             (avoid or {}).get(spec.name))
        elif spec.role == Role.text and spec.name in (vocabularies or {}):
            columns[spec.name] = vocabularies[spec.name].draw(n, rng)
        elif spec.role == Role.text:
            columns[spec.name] = fake_values(spec, n, rng)
        elif spec.role == Role.id:
            columns[spec.name] = pd.array([pd.NA] * n, dtype="Int64" if spec.integer else "string")
        elif spec.name in raw.columns:
            columns[spec.name] = cast_column(raw[spec.name].reset_index(drop=True), spec)
        else:
            raise ValueError(f"model output lacks modelled column {spec.name!r}")
    for name, share in (missing_shares or {}).items():  # text and PII: as often as real
        if name in columns:
            columns[name] = _blanked(columns[name], share, rng)
    out = pd.DataFrame(columns, index=pd.RangeIndex(n))
    apply_dependencies(out, schema)
    if schema.sequence_index:
        complete_sequences(out, raw, schema, rng)
        fill_calendar_parts(out, schema)
    return out[schema.names()]


def _blanked(values: pd.Series, share: float, rng: np.random.Generator) -> pd.Series:
    """`values` missing on a random `share` of rows."""
    return values.mask(rng.random(len(values)) < share)


def cast_column(values: pd.Series, spec: ColumnSpec) -> pd.Series:
    """Cast to the schema's dtype, clip to bounds, and drop categories never seen in training."""
    if spec.role == Role.numerical:
        numeric = values if values.dtype == np.float64 else pd.to_numeric(
            values, errors="coerce").astype("float64")
        if spec.minimum is not None or spec.maximum is not None:
            numeric = numeric.clip(lower=spec.minimum, upper=spec.maximum)
        numeric = pd.Series(on_grid(numeric.to_numpy(dtype="float64", na_value=np.nan),
                                    spec.step, spec.decimals), index=numeric.index)
        return rounded_int64(numeric) if spec.integer else numeric
    if spec.role == Role.categorical:
        return _as_categories(values, spec)
    if spec.role == Role.boolean:
        if isinstance(values.dtype, pd.CategoricalDtype):
            values = values.astype(object)
        return values.map(lambda v: None if pd.isna(v) else bool(v)).astype("boolean")
    if spec.role == Role.datetime:
        return at_resolution(pd.to_datetime(values, errors="coerce"), spec.datetime_format)
    return values.astype("string")


def _shaped_digits(shape: str, n: int, rng: np.random.Generator) -> pd.Series:
    """Random digits in the places of the layout's `#`s, every other character as written."""
    layout = np.array(list(shape), dtype="<U1")
    chars, slots = np.tile(layout, (n, 1)), layout == "#"
    chars[:, slots] = rng.integers(0, 10, size=(n, int(slots.sum()))).astype("<U1")
    return pd.Series(["".join(row) for row in chars], dtype="string")


def rounded_int64(numeric: pd.Series) -> pd.Series:
    """Nullable integers straight from a float array: astype("Int64") checks every value
    in Python-level code and was the slowest step of writing millions of rows."""
    values = numeric.to_numpy(dtype="float64", na_value=np.nan)
    missing = np.isnan(values)
    whole = np.where(missing, 0.0, np.round(values)).astype("int64")
    return pd.Series(pd.arrays.IntegerArray(whole, missing), index=numeric.index)


def category_dtype(spec: ColumnSpec) -> pd.CategoricalDtype | None:
    """A categorical column's dtype in synthetic output: codes into the schema's labels
    (pandas Categorical), so no label is written out once per row and Parquet stores the
    column dictionary-encoded; None where the categories are numbers (they keep their type)."""
    categories = spec.categories or []
    if not categories or all(isinstance(c, (int, float)) and not isinstance(c, bool)
                             for c in categories):
        return None
    return pd.CategoricalDtype(list(dict.fromkeys(str(c) for c in categories)))


def _as_categories(values: pd.Series, spec: ColumnSpec) -> pd.Series:
    """The schema's categories, a value it does not list missing."""
    dtype = category_dtype(spec)
    if dtype is None:
        from pipeline.schema import _cast_categories

        return _cast_categories(_known_categories(values, spec), spec.categories or [])
    if isinstance(values.dtype, pd.CategoricalDtype):
        labels = values.cat.categories.astype(str)
        if labels.is_unique:  # decide once per category, not once per row
            return values.cat.rename_categories(labels).cat.set_categories(dtype.categories)
    return values.astype("string").astype(dtype)


def _known_categories(values: pd.Series, spec: ColumnSpec) -> pd.Series:
    """Missing where a value is not one of the schema's categories (compared as text)."""
    allowed = {str(c) for c in spec.categories or []}
    if isinstance(values.dtype, pd.CategoricalDtype):
        # decide once per category, not once per row (models that emit categoricals)
        known = values.cat.categories.astype(str).isin(allowed)
        return values.cat.remove_categories(values.cat.categories[~known])
    return values.where(values.astype("string").isin(allowed) & values.notna())


def apply_dependencies(df: pd.DataFrame, schema: DatasetSchema) -> None:
    """Rewrite each dependent column from its determinant, so pairs stay consistent. A
    numeric determinant off the mapping's values (a relation rebuilt it) first moves to the
    nearest of them: its target would otherwise be missing where the real one never is."""
    for dep in schema.dependencies:
        spec = schema.column(dep.target)
        if schema.column(dep.source).role == Role.numerical:
            _onto_mapped_values(df, dep.source, dep.mapping)
        mapped = df[dep.source].astype("string").map(dep.mapping)
        df[dep.target] = cast_column(mapped.where(df[dep.source].notna()), spec)


def _onto_mapped_values(df: pd.DataFrame, column: str, mapping: dict[str, Any]) -> None:
    keys = pd.to_numeric(pd.Series(list(mapping)), errors="coerce").dropna().to_numpy(float)
    values = pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    off = ~np.isnan(values) & ~df[column].astype("string").isin(list(mapping)).to_numpy()
    if off.any() and len(keys):
        keys = np.sort(keys)
        at = np.clip(np.searchsorted(keys, values[off]), 1, len(keys) - 1)
        left, right = keys[at - 1], keys[np.minimum(at, len(keys) - 1)]
        nearest = np.where(np.abs(values[off] - left) <= np.abs(right - values[off]), left, right)
        moved = values.copy()
        moved[off] = nearest if len(keys) > 1 else keys[0]
        df[column] = pd.Series(moved, index=df.index).astype(df[column].dtype)


def fill_calendar_parts(df: pd.DataFrame, schema: DatasetSchema) -> None:
    """Calendar columns from the synthetic index, in the zone the real ones were read in."""
    from pipeline.schema import index_in_zone

    index = df[schema.sequence_index]
    if not pd.api.types.is_datetime64_any_dtype(index):
        return
    parts = calendar_parts(index_in_zone(index, schema.column(schema.sequence_index).timezone))
    for spec in schema.columns:
        if spec.derived_from_index:
            part = parts[spec.derived_from_index]
            if spec.calendar_map is not None:  # a function of the part (a `jan` dummy)
                part = part.map(spec.calendar_map)
            df[spec.name] = cast_column(part, _unbounded(spec, part))


def _unbounded(spec: ColumnSpec, part: pd.Series) -> ColumnSpec:
    """A derived part is not bounded by the training range (a sequence may run into the
    next year or into months the training rows never reached): no min/max, and the
    categories the synthetic index reaches after the schema's."""
    update: dict[str, Any] = {"minimum": None, "maximum": None}
    if spec.categories:
        new = sorted(set(part.dropna().unique()) - set(spec.categories), key=str)
        update["categories"] = [*spec.categories, *new]
    return spec.model_copy(update=update)


def complete_sequences(
    out: pd.DataFrame, raw: pd.DataFrame, schema: DatasetSchema, rng: np.random.Generator
) -> None:
    """Time series: the model's index unclipped, a new key per sequence, other ids per row.

    The model marks its sequences with any labels in the key column; an `id` key becomes new
    values (never the real entities'), a categorical key (public labels) is kept as cast.
    """
    index_spec = schema.column(schema.sequence_index)
    index = raw[schema.sequence_index].reset_index(drop=True)
    if index_spec.role == Role.datetime:
        out[schema.sequence_index] = pd.to_datetime(index)  # never floored to the format
    elif index_spec.role == Role.numerical:
        unbounded = index_spec.model_copy(update={"minimum": None, "maximum": None})
        out[schema.sequence_index] = cast_column(index, unbounded)
    for spec in schema.columns:
        if spec.role != Role.id:
            continue
        if spec.name == schema.sequence_key:
            codes = pd.factorize(raw[spec.name].reset_index(drop=True))[0]
        else:
            codes = np.arange(len(out))
        if spec.integer:
            out[spec.name] = pd.array(codes + 1, dtype="Int64")
        else:
            prefix = "".join(rng.choice(list("abcdefghjkmnpqrstuvwxyz"), size=4))
            out[spec.name] = pd.array([f"syn-{prefix}-{i:08d}" for i in codes], dtype="string")


def fill_ids(df: pd.DataFrame, schema: DatasetSchema, start: int = 0,
             avoid: dict[str, np.ndarray] | None = None) -> None:
    """Unique ids over the whole sample (rows start.. of it); a patterned id takes the
    source's shape and skips the training ids hashed in `avoid`."""
    from pipeline.ids import integer_ids, pattern_ids

    positions = np.arange(start, start + len(df))
    for spec in schema.columns:
        if spec.role != Role.id:
            continue
        if spec.name == schema.sequence_key:
            # a key names whole sequences: one id per sequence, in the entities' shape
            if spec.id_pattern and not spec.integer and len(df):
                codes = pd.factorize(df[spec.name])[0]
                ids = pattern_ids(spec.id_pattern, start + np.arange(codes.max() + 1),
                                  (avoid or {}).get(spec.name))
                df[spec.name] = pd.array(np.asarray(ids, dtype=object)[codes], dtype="string")
            continue
        if spec.static and schema.sequence_key in df.columns:
            _fill_entity_ids(df, spec, schema.sequence_key, start, avoid)
            continue
        if spec.integer:
            ids = (integer_ids(spec.id_pattern, positions, (avoid or {}).get(spec.name))
                   if spec.id_pattern else positions + 1)
            df[spec.name] = pd.array(ids, dtype="Int64")
        elif spec.id_pattern:
            ids = pattern_ids(spec.id_pattern, positions, (avoid or {}).get(spec.name))
            df[spec.name] = pd.array(ids, dtype="string")
        else:
            df[spec.name] = pd.array([f"syn-{i:09d}" for i in positions], dtype="string")


def _fill_entity_ids(df: pd.DataFrame, spec: ColumnSpec, key: str, start: int,
                     avoid: dict[str, np.ndarray] | None) -> None:
    """Another name of the entity (schema.calendar): one new id per sequence."""
    from pipeline.ids import pattern_ids

    codes = pd.factorize(df[key])[0]
    numbers = start + np.arange(codes.max() + 1 if len(df) else 0)
    if spec.integer or not spec.id_pattern:
        ids = numbers + 1 if spec.integer else np.array([f"syn-{i:09d}" for i in numbers])
    else:
        ids = np.asarray(pattern_ids(spec.id_pattern, numbers, (avoid or {}).get(spec.name)),
                         dtype=object)
    values = ids[codes] if len(df) else ids
    df[spec.name] = pd.array(values, dtype="Int64" if spec.integer else "string")


def _in_layout(layout: str, faker: Any) -> str:
    """One value in a layout such as "{last}, {initial}" or "{street}, {city}": each field
    Faker's provider of that name, `initial` a first name's first letter."""
    fields = {name for _, name, _, _ in string.Formatter().parse(layout) if name}
    parts = {name: (faker.first_name()[0] if name == "initial"
                    else getattr(faker, _PROVIDERS.get(name, name))()) for name in fields}
    return layout.format(**parts)


_PROVIDERS = {"last": "last_name", "first": "first_name", "street": "street_address"}


def fake_values(spec: ColumnSpec, n: int, rng: np.random.Generator,
                domains: Any = None, avoid: np.ndarray | None = None) -> pd.Series:
    """Realistic replacement values from Faker, seeded from the run's generator; digits
    drawn into the layout the source writes them in; e-mails at the `domains` many training
    addresses share (text_columns.EmailDomains). A value whose hash is in `avoid` (a training
    value: a real person's name) is drawn again, up to REDRAW_ROUNDS times."""
    values = _fake(spec, n, rng, domains)
    if avoid is None or not len(avoid):
        return values
    from pipeline.ids import hash_ids

    for _ in range(REDRAW_ROUNDS):
        real = np.isin(hash_ids(values.fillna("")), avoid)
        if not real.any():
            break
        values[real] = _fake(spec, int(real.sum()), rng, domains).to_numpy()
    return values


REDRAW_ROUNDS = 10


def _fake(spec: ColumnSpec, n: int, rng: np.random.Generator, domains: Any) -> pd.Series:
    if spec.pii_shape and spec.pii_kind in SHAPED_PII:
        return _shaped_digits(spec.pii_shape, n, rng)
    from faker import Faker

    faker = Faker()
    faker.seed_instance(int(rng.integers(0, 2**31 - 1)))
    if spec.pii_shape:  # a name's layout (surname first) or an address's (one line)
        return pd.Series([_in_layout(spec.pii_shape, faker) for _ in range(n)], dtype="string")
    if domains is not None:
        return domains.draw([faker.user_name() for _ in range(n)],
                            [faker.free_email_domain() for _ in range(n)], rng)
    kind = spec.pii_kind or ("sentence" if spec.role == Role.text else "pystr")
    make = getattr(faker, kind, None)
    if make is None:
        make = faker.pystr
    return pd.Series([make() for _ in range(n)], dtype="string")
