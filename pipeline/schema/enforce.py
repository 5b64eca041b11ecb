"""Schema enforcement: data checked against a saved schema, refused with the column and rows
at fault, and cast to the schema's dtypes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pipeline.clock_values import read_clock
from pipeline.errors import PipelineError
from pipeline.schema.model import ColumnSpec, DatasetSchema, Role
from pipeline.schema.period_index import with_composed


def enforce_schema(df: pd.DataFrame, schema: DatasetSchema, what: str = "data") -> pd.DataFrame:
    """Check the data against a saved schema; refuse it naming the column and offending rows.

    Returns the frame with columns in schema order and dtypes cast to the schema's.
    """
    df = with_composed(df, schema, what)
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

    def refuse_if(bad: pd.Series, problem: str) -> None:
        _refuse_if(what, dataset, spec.name, present & bad, problem)

    if spec.role == Role.numerical:
        if spec.clock and not pd.api.types.is_numeric_dtype(col):
            clock = read_clock(col)
            refuse_if(clock.isna(), f"is not a clock reading written {spec.clock}")
            col = clock
        return _numerical(col, spec.integer, spec.decimals, refuse_if)
    if spec.role == Role.categorical:
        allowed = {str(c) for c in spec.categories or []}
        refuse_if(~col.astype(str).isin(allowed), "has a category the schema does not list")
        return _cast_categories(col, spec.categories or [])
    if spec.role == Role.boolean:
        mapped = col.map(_as_boolean)
        refuse_if(mapped.isna(), "is not a boolean")
        return mapped.astype("boolean")
    if spec.role == Role.datetime:
        parsed = pd.to_datetime(col, errors="coerce", format="mixed")
        refuse_if(parsed.isna(), "is not a date/time")
        return parsed
    if spec.role == Role.id and spec.integer:
        numeric = pd.to_numeric(col, errors="coerce")
        refuse_if(numeric.isna(), "is not a whole number")
        return numeric.astype("Int64")
    return col.astype("string")


BOOLEAN_WORDS = {"true": True, "yes": True, "y": True, "t": True,
                 "false": False, "no": False, "n": False, "f": False}


def _as_boolean(value: Any) -> bool | None:
    """A boolean, or a yes/no word a user declared boolean in the schema."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    return BOOLEAN_WORDS.get(value.strip().lower()) if isinstance(value, str) else None


def _numerical(col: pd.Series, integer: bool, decimals: int | None, refuse_if) -> pd.Series:
    numeric = pd.to_numeric(col, errors="coerce")
    refuse_if(numeric.isna(), "is not a number")
    if not integer:
        # The schema's decimals were read within float noise (6.904679999999999 is 6.90468):
        # rounding drops only the noise, so real and synthetic values are the same doubles
        # and a copied value compares equal to its source.
        numeric = numeric.astype("float64")
        return numeric if decimals is None else numeric.round(decimals)
    refuse_if(numeric % 1 != 0, "is not a whole number")
    return numeric.astype("Int64")


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
