"""The benchmark's data: real sets read the pipeline's way, split once with fixed seeds.

Every contender sees the same training frame; raw SDV gets it as plain numpy dtypes (what
`pd.read_csv` would give a user), ours in the schema's dtypes.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.settings import HOLDOUT_FRACTION, Budget
from pipeline.ingest import read_source
from pipeline.schema import DatasetSchema, Role, detect_schema, enforce_schema
from pipeline.split import split_train_holdout

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
ADULT = SHARED_DATA / "adult.csv"
NYC_WEATHER = SHARED_DATA / "nyc_weather.csv"


def store_sales_path() -> Path:
    return Path(str(files("sdmetrics").joinpath("demos/timeseries/timeseries_real.csv")))


@dataclass
class Dataset:
    name: str
    source: str
    schema: DatasetSchema
    train: pd.DataFrame
    holdout: pd.DataFrame
    split: str
    target: str | None = None  # ML-utility target (tabular)

    @property
    def is_time_series(self) -> bool:
        return self.schema.is_time_series

    def n_sequences(self) -> int:
        key = self.schema.sequence_key
        return int(self.train[key].nunique()) if key else 1

    def describe(self) -> dict:
        return {
            "name": self.name, "source": self.source, "train_rows": len(self.train),
            "holdout_rows": len(self.holdout), "split": self.split,
            "columns": len(self.schema.columns), "target": self.target,
            **({"train_sequences": self.n_sequences()} if self.is_time_series else {}),
        }


def _read(path: Path, name: str, key: str | None = None, index: str | None = None):
    frame, _ = read_source(path)
    schema = detect_schema(frame, name, sequence_key=key, sequence_index=index)
    return enforce_schema(frame, schema), schema


def load_adult(budget: Budget, seed: int) -> Dataset:
    """The fixed 80/20 split of all of Adult, then (quick) seeded subsamples of each side."""
    frame, schema = _read(ADULT, "adult")
    train, holdout, split = split_train_holdout(frame, schema, HOLDOUT_FRACTION, seed)
    method = str(split)
    train = subsample_rows(train, budget.train_rows, seed)
    holdout = subsample_rows(holdout, budget.holdout_rows, seed)
    if budget.train_rows:
        method += f"; then {len(train)} train / {len(holdout)} holdout rows subsampled"
    return Dataset("adult", str(ADULT), schema, train, holdout, method, target="income")


def load_nyc_weather(budget: Budget, seed: int) -> Dataset:
    frame, schema = _read(NYC_WEATHER, "nyc_weather", key="origin", index="time_hour")
    if budget.ts_steps:
        frame = first_steps(frame, schema, budget.ts_steps)
    train, holdout, split = split_train_holdout(frame, schema, HOLDOUT_FRACTION, seed)
    method = str(split)
    if budget.ts_steps:
        method = f"first {budget.ts_steps} steps per airport; " + method
    return Dataset("nyc_weather", str(NYC_WEATHER), schema, train, holdout, method)


def load_store_sales(budget: Budget, seed: int) -> Dataset:
    path = store_sales_path()
    frame, schema = _read(path, "store_sales", key="store_id", index="date")
    train, holdout, split = split_train_holdout(frame, schema, HOLDOUT_FRACTION, seed)
    return Dataset("store_sales", "sdmetrics demos/timeseries/timeseries_real.csv", schema,
                   train, holdout, str(split))


def subsample_rows(frame: pd.DataFrame, n: int | None, seed: int) -> pd.DataFrame:
    if n is None or len(frame) <= n:
        return frame
    rows = np.sort(np.random.default_rng(seed).choice(len(frame), size=n, replace=False))
    return frame.iloc[rows].reset_index(drop=True)


def first_steps(frame: pd.DataFrame, schema: DatasetSchema, steps: int) -> pd.DataFrame:
    """The first `steps` rows of every sequence, in index order."""
    ordered = frame.sort_values([schema.sequence_key, schema.sequence_index], kind="stable")
    kept = ordered.groupby(schema.sequence_key, sort=False).head(steps)
    return kept.reset_index(drop=True)


# --- frames for the contenders -------------------------------------------------------------
def plain_frame(frame: pd.DataFrame, schema: DatasetSchema) -> pd.DataFrame:
    """numpy dtypes, as `pd.read_csv` gives them: int64 (float64 with gaps), object strings."""
    out = pd.DataFrame(index=frame.index)
    for spec in schema.columns:
        col = frame[spec.name]
        if spec.role == Role.datetime or pd.api.types.is_datetime64_any_dtype(col):
            out[spec.name] = pd.to_datetime(col)
        elif pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            has_gaps = bool(col.isna().any())
            is_int = pd.api.types.is_integer_dtype(col)
            out[spec.name] = col.astype("int64" if is_int and not has_gaps else "float64")
        else:
            out[spec.name] = col.astype(object).where(col.notna(), np.nan)
    return out


def as_schema_dtypes(frame: pd.DataFrame, schema: DatasetSchema) -> pd.DataFrame:
    """Raw SDV's output in the schema's dtypes, so every contender is scored the same way.

    Only a cast (with rounding of integer columns): nothing is generated or repaired.
    """
    from pipeline.postprocess import cast_column

    out = pd.DataFrame(index=pd.RangeIndex(len(frame)))
    for spec in schema.columns:
        if spec.name in frame.columns:
            out[spec.name] = cast_column(frame[spec.name].reset_index(drop=True), spec)
    return out


def independent_columns(
    train: pd.DataFrame, schema: DatasetSchema, n: int, rng: np.random.Generator
) -> pd.DataFrame:
    """The floor: every column drawn on its own from the training rows (marginals kept,
    relationships lost). Time series keep the training key and index, so sequences keep
    their shape while every value loses its neighbours."""
    if schema.is_time_series:
        kept = [schema.sequence_key, schema.sequence_index]
        out = train.reset_index(drop=True).copy()
        for column in out.columns:
            if column not in kept:
                out[column] = train[column].iloc[rng.integers(len(train), size=len(out))].values
        return out
    return pd.DataFrame({
        c: train[c].iloc[rng.integers(len(train), size=n)].reset_index(drop=True)
        for c in train.columns
    })


# --- growing data for the scale figures ----------------------------------------------------
def grow_rows(frame: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    """`rows` rows drawn with replacement (seeded): Adult-shaped data of any size."""
    picks = np.random.default_rng(seed).integers(len(frame), size=rows)
    return frame.iloc[picks].reset_index(drop=True)


def grow_distinct_rows(frame: pd.DataFrame, schema: DatasetSchema, rows: int,
                       seed: int) -> pd.DataFrame:
    """`grow_rows`, with every repeat of a record made a record of its own: its most varied
    whole-number column moved by the repeat's number (Adult's fnlwgt by 1, 2, ...), so that
    copying a training record copies one record, as in real data of that size."""
    out = grow_rows(frame, rows, seed)
    numeric = [c.name for c in schema.columns if c.role == Role.numerical
               and pd.api.types.is_integer_dtype(frame[c.name].dtype)]
    if not numeric:
        return out
    column = max(numeric, key=lambda c: frame[c].nunique())
    picks = pd.Series(np.random.default_rng(seed).integers(len(frame), size=rows))
    repeat = picks.groupby(picks).cumcount().to_numpy()
    out[column] = (out[column] + repeat).astype(out[column].dtype)
    return out


def widen(frame: pd.DataFrame, copies: int, seed: int) -> pd.DataFrame:
    """A wide table from a real one: `copies` copies of its columns side by side (`name~i`),
    each copy's rows in their own order, so the copies are unrelated to each other."""
    rng = np.random.default_rng(seed)
    parts = [frame.reset_index(drop=True)]
    for i in range(1, copies):
        part = frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)
        parts.append(part.rename(columns=lambda c, i=i: f"{c}~{i}"))
    return pd.concat(parts, axis=1)


def grow_entities(frame: pd.DataFrame, schema: DatasetSchema, factor: int) -> pd.DataFrame:
    """`factor` copies of every sequence, each under a new entity key."""
    key = schema.sequence_key
    copies = []
    for i in range(factor):
        part = frame.copy()
        part[key] = part[key].astype("string") + f"~{i}"
        copies.append(part)
    return pd.concat(copies, ignore_index=True)
