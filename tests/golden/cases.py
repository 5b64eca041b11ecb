"""The golden cases: every model on the demo data and a slice of real data, fitted and sampled
with fixed seeds. `python -m tests.golden.generate` writes their outputs; `test_golden.py`
checks that the code still produces them byte for byte."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = ROOT.parent / "shared" / "data"
GOLDEN_DIR = Path(__file__).resolve().parent
FIT_SEED, SAMPLE_SEED = 0, 1
SMALL_NEURAL = {"epochs": 2, "batch_size": 100}


def demo_table() -> pd.DataFrame:
    return _ingested(files("sdmetrics").joinpath("demos/single_table/student_placements_real.csv"))


def adult_slice() -> pd.DataFrame:
    return _ingested(SHARED_DATA / "adult.csv").head(1500).reset_index(drop=True)


def store_sales() -> pd.DataFrame:
    return _ingested(files("sdmetrics").joinpath("demos/timeseries/timeseries_real.csv"))


def weather_slice() -> pd.DataFrame:
    frame = _ingested(SHARED_DATA / "nyc_weather.csv")
    two = frame[frame["origin"].isin(["EWR", "JFK"])]
    return two.groupby("origin").head(300).reset_index(drop=True)


def _ingested(path: Any) -> pd.DataFrame:
    from pipeline.ingest import read_source

    frame, _ = read_source(str(path))
    return frame


@dataclass(frozen=True)
class Case:
    data: str  # name of a loader above
    model: str
    rows: int  # rows for tables, sequences for time series
    params: dict[str, Any] = field(default_factory=dict)
    key: str | None = None
    index: str | None = None
    # SDV's PAR moves its numbers by a few per cent with the math runtime the process loaded
    # first (the import order of torch, numpy and scipy) and the environment, and every torch
    # network's numbers move in their last digits with the processor's kernels (the same SDV
    # fit gave fnlwgt values one unit apart on two x86 processors), so for these only the
    # structure and non-numeric values are compared exactly, the numbers within a tolerance
    exact: bool = True

    @property
    def name(self) -> str:
        return f"{self.data}-{self.model}"

    def frame(self) -> pd.DataFrame:
        return globals()[self.data]()


TABLES = ("demo_table", "adult_slice")
CASES = [
    *(Case(data, "gmm", 300) for data in TABLES),
    *(Case(data, "gaussian_copula", 300) for data in TABLES),
    *(Case(data, model, 300, SMALL_NEURAL, exact=False) for data in TABLES
      for model in ("ctgan", "tvae", "sdv_ctgan", "sdv_tvae")),
    Case("store_sales", "hmm", 6, key="store_id", index="date"),
    Case("weather_slice", "hmm", 2, {"max_iter": 10}, key="origin", index="time_hour"),
    Case("store_sales", "par", 6, {"epochs": 2}, key="store_id", index="date", exact=False),
]


def run_case(case: Case) -> tuple[str, bytes]:
    """Detect the schema, split, fit and sample as the flow does; return the schema's JSON
    and the sample as Parquet bytes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipeline.models import registry
    from pipeline.schema import detect_schema, enforce_schema
    from pipeline.split import split_train_holdout

    frame = case.frame()
    schema = detect_schema(frame, case.data, sequence_key=case.key, sequence_index=case.index)
    frame = enforce_schema(frame, schema)
    train, _, _ = split_train_holdout(frame, schema, 0.2, FIT_SEED)
    model = registry.create(case.model, **case.params).fit(train, schema, seed=FIT_SEED)
    sample = model.sample(case.rows, seed=SAMPLE_SEED)
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(sample, preserve_index=False), buffer)
    return schema.model_dump_json(indent=1), buffer.getvalue()


def paths(case: Case) -> tuple[Path, Path]:
    return GOLDEN_DIR / f"{case.data}.schema.json", GOLDEN_DIR / f"{case.name}.parquet"
