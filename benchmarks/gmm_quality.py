"""Quality and fit time of the `gmm` model on Adult, scored with SDMetrics' QualityReport.

Run: .venv/bin/python benchmarks/gmm_quality.py [--seed 0] [--param name=value ...]

Setup (the one the issue fixes): strip strings and read '?' as missing, detect the schema,
80/20 seeded split, fit on the training split, sample as many rows, compare with the training
split. Timings on a shared machine are inflated by whatever else runs there.
"""

from __future__ import annotations

import argparse
import ast
import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.models.gmm import GaussianMixtureModel
from pipeline.schema import DatasetSchema, Role, detect_schema, enforce_schema

ADULT = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "adult.csv"


def load_adult(path: Path = ADULT) -> pd.DataFrame:
    return pd.read_csv(path, skipinitialspace=True, na_values=["?"])


def split(df: pd.DataFrame, seed: int, train_share: float = 0.8) -> tuple[pd.DataFrame, ...]:
    order = np.random.default_rng(seed).permutation(len(df))
    cut = int(len(df) * train_share)
    return df.iloc[order[:cut]].reset_index(drop=True), df.iloc[order[cut:]].reset_index(drop=True)


def sdmetrics_frame(df: pd.DataFrame, schema: DatasetSchema) -> tuple[pd.DataFrame, dict]:
    """Plain dtypes and SDMetrics metadata: numeric columns numerical, the rest categorical."""
    out, columns = pd.DataFrame(index=df.index), {}
    for spec in schema.columns:
        if spec.role == Role.numerical:
            out[spec.name] = pd.to_numeric(df[spec.name]).astype("float64")
            columns[spec.name] = {"sdtype": "numerical"}
        else:
            out[spec.name] = df[spec.name].astype(object).where(df[spec.name].notna(), np.nan)
            columns[spec.name] = {"sdtype": "categorical"}
    return out, {"columns": columns}


def quality(real: pd.DataFrame, synthetic: pd.DataFrame, schema: DatasetSchema) -> dict[str, float]:
    from sdmetrics.reports.single_table import QualityReport

    real_frame, metadata = sdmetrics_frame(real, schema)
    synthetic_frame, _ = sdmetrics_frame(synthetic, schema)
    report = QualityReport()
    report.generate(real_frame, synthetic_frame, metadata, verbose=False)
    scores = report.get_properties().set_index("Property")["Score"]
    return {
        "column_shapes": round(float(scores["Column Shapes"]), 4),
        "column_pair_trends": round(float(scores["Column Pair Trends"]), 4),
        "overall": round(float(report.get_score()), 4),
    }


def run(seed: int = 0, with_holdout: bool = False, **params) -> dict[str, object]:
    data = load_adult()
    schema = detect_schema(data, "adult")
    train, holdout = split(enforce_schema(data, schema), seed)
    model = GaussianMixtureModel(**params)
    started, cpu_started = time.perf_counter(), time.process_time()
    model.fit(train, schema, seed=seed)
    fit_seconds, fit_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    started = time.perf_counter()
    synthetic = model.sample(len(train), seed=seed + 1)
    sample_seconds = time.perf_counter() - started
    result = {
        "fit_seconds": round(fit_seconds, 1),
        "fit_cpu_seconds": round(fit_cpu, 1),
        "sample_seconds": round(sample_seconds, 1),
        "n_components": model.n_components_,
        "em_iterations": len(model.loss_history),
        "selection": [
            {k: round(v, 4) for k, v in s.items()} for s in model.selection_
        ],
        **quality(train, synthetic, schema),
    }
    if with_holdout:
        # the synthetic sample against rows the model never saw, and the real yardstick
        result["synthetic_vs_holdout"] = quality(holdout, synthetic, schema)
        result["train_vs_holdout"] = quality(train, holdout, schema)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--param", action="append", default=[], help="name=value, repeatable")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--holdout", action="store_true", help="also score against the holdout")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    params = {}
    for item in args.param:
        key, _, value = item.partition("=")
        params[key] = ast.literal_eval(value)
    print(json.dumps(run(args.seed, args.holdout, **params), indent=2))


if __name__ == "__main__":
    main()
