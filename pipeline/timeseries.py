"""Time-series input checks, the sequence-aware train/holdout split, and index helpers.

A time series is one row per (entity, step): `sequence_key` names the entity (absent: one long
series) and `sequence_index` orders the steps. Every model and metric reads sequences through
`check_time_series`, so a bad index is refused once, with the rows named.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from pipeline.errors import PipelineError
from pipeline.schema import DatasetSchema, Role


def check_time_series(df: pd.DataFrame, schema: DatasetSchema) -> pd.DataFrame:
    """Refuse data that cannot be read as sequences; return it sorted by (entity, index).

    The index is parsed (datetime or number) in the returned copy; rows keep their labels so
    that errors further on can still name the caller's rows.
    """
    key, index = schema.sequence_key, schema.sequence_index
    if index is None:
        raise PipelineError(
            f"schema {schema.name!r} has no sequence_index; it is not a time series"
        )
    for field, column in (("sequence_key", key), ("sequence_index", index)):
        if column is not None and column not in df.columns:
            raise PipelineError(
                f"{field} {column!r} of schema {schema.name!r} is not a column of the data; "
                f"columns are {list(df.columns)}. Fix the schema's {field} or the data."
            )
    out = df.copy()
    out[index] = _parsed_index(df[index], schema)
    if key is not None:
        _refuse_rows(df[key].isna(), df, key, "has missing entity keys")
    pairs = [key, index] if key else [index]
    duplicated = out.duplicated(pairs, keep=False)
    if duplicated.any():
        shown = out.loc[duplicated, pairs].drop_duplicates().head(3).to_dict("records")
        rows = ", ".join(str(r) for r in out.index[duplicated][:6])
        raise PipelineError(
            f"time series {schema.name!r} has {int(duplicated.sum())} rows sharing an "
            f"({'entity, ' if key else ''}index) pair, e.g. {shown} in rows {rows}; each step of "
            "a sequence must appear once. Drop or aggregate the duplicates"
            + ("." if key else ", or set sequence_key if the data holds several entities.")
        )
    return out.sort_values(pairs, kind="stable")


def _parsed_index(values: pd.Series, schema: DatasetSchema) -> pd.Series:
    name = schema.sequence_index
    _refuse_rows(values.isna(), values.to_frame(), name, "has missing values")
    role = schema.column(name).role
    if role == Role.datetime:
        if pd.api.types.is_datetime64_any_dtype(values):
            return values
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                parsed = pd.to_datetime(values, errors="coerce", format="mixed")
        except (TypeError, ValueError) as exc:  # e.g. zoned and naive timestamps mixed
            raise PipelineError(
                f"sequence_index {name!r} cannot be sorted: {exc}. Give every value in one "
                "format (all with or all without a time zone)."
            ) from None
        if not pd.api.types.is_datetime64_any_dtype(parsed):  # pandas keeps mixed zones as objects
            zoned = parsed.map(lambda v: getattr(v, "tzinfo", None) is not None)
            odd = zoned != zoned.mode().iloc[0]
            _refuse_rows(odd, values.to_frame(), name, "mixes values with and without a time zone")
        _refuse_rows(parsed.isna(), values.to_frame(), name, "has values that are not dates")
        return parsed
    if role == Role.numerical:
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            return values
        parsed = pd.to_numeric(values, errors="coerce")
        _refuse_rows(parsed.isna(), values.to_frame(), name, "has values that are not numbers")
        return parsed
    raise PipelineError(
        f"sequence_index {name!r} has role {role.value}; a sequence index must be a date/time "
        "or a number. Edit the schema or choose another index column."
    )


def _refuse_rows(bad: pd.Series, df: pd.DataFrame, column: str, problem: str) -> None:
    if not bool(bad.any()):
        return
    rows = df.index[bad.to_numpy()]
    values = df.loc[rows[:3], column].tolist()
    more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
    raise PipelineError(
        f"sequence column {column!r} {problem}: row(s) "
        f"{', '.join(str(r) for r in rows[:5])}{more} (values {values}). The steps of a "
        "sequence must be ordered: fix or drop those rows."
    )


# --- helpers shared by the time-series models and metrics -----------------------------------
def sequence_positions(ordered: pd.DataFrame, schema: DatasetSchema) -> pd.Series:
    """0-based step number within each sequence of a frame sorted by `check_time_series`."""
    if schema.sequence_key is None:
        return pd.Series(np.arange(len(ordered)), index=ordered.index)
    return ordered.groupby(schema.sequence_key, sort=False).cumcount()


def sequence_ids(ordered: pd.DataFrame, schema: DatasetSchema) -> np.ndarray:
    """0-based sequence number per row, in order of appearance (one series: all 0)."""
    if schema.sequence_key is None:
        return np.zeros(len(ordered), dtype=np.int64)
    return pd.factorize(ordered[schema.sequence_key])[0].astype(np.int64)


def index_steps(ordered: pd.DataFrame, schema: DatasetSchema) -> np.ndarray:
    """Index differences between consecutive steps of each sequence, as float units.

    Datetime steps are in seconds; the first step of each sequence is left out.
    """
    values = ordered[schema.sequence_index]
    if pd.api.types.is_datetime64_any_dtype(values):
        numbers = index_as_seconds(values)
    else:
        numbers = values.to_numpy(dtype=float)
    ids = sequence_ids(ordered, schema)
    same = ids[1:] == ids[:-1]
    return np.diff(numbers)[same]


def index_as_seconds(values: pd.Series) -> np.ndarray:
    """Seconds since the epoch (naive values as UTC), exact for any datetime unit."""
    as_ns = pd.to_datetime(values)
    if as_ns.dt.tz is not None:
        as_ns = as_ns.dt.tz_convert("UTC").dt.tz_localize(None)
    return (as_ns - pd.Timestamp("1970-01-01")).dt.total_seconds().to_numpy()


def modal_step(steps: np.ndarray) -> float | None:
    """The most common positive step (the cadence: 3600 s for hourly data)."""
    positive = steps[steps > 0]
    if len(positive) == 0:
        return None
    values, counts = np.unique(np.round(positive, 6), return_counts=True)
    return float(values[np.argmax(counts)])


def cadence_share(ordered: pd.DataFrame, schema: DatasetSchema) -> float:
    """Share of steps taken at the modal interval (1.0: no gaps)."""
    steps = index_steps(ordered, schema)
    mode = modal_step(steps)
    if mode is None:
        return float("nan")
    return float(np.mean(np.isclose(steps, mode)))


def infer_sequence_fields(df: pd.DataFrame) -> tuple[str | None, str]:
    """Guess (sequence_key, sequence_index) when a time-series model is asked for without them.

    The index is the datetime column with the most distinct values; the key is the
    lowest-cardinality text or integer column that makes (key, index) unique. No key if the
    index alone is unique (one long series).
    """
    datetimes = [c for c in df.columns if pd.api.types.is_datetime64_any_dtype(df[c])]
    if not datetimes:
        raise PipelineError(
            "a time-series model needs a time index, and no column parses as dates; give "
            "--sequence-index COLUMN (and --sequence-key COLUMN for several entities)"
        )
    index = max(datetimes, key=lambda c: df[c].nunique())
    if not df[index].duplicated().any():
        return None, index
    candidates = [
        c for c in df.columns
        if c != index and not pd.api.types.is_float_dtype(df[c])
        and 1 < df[c].nunique() <= max(2, len(df) // 2)
    ]
    for key in sorted(candidates, key=lambda c: df[c].nunique()):
        if not df.duplicated([key, index]).any():
            return key, index
    raise PipelineError(
        f"{index!r} repeats, and no column tells the sequences apart; give --sequence-key"
    )
