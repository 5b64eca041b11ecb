"""CTGAN / TVAE on Adult through the project's interface: fit speed and SDMetrics quality.

Fits each model on an 80/20 training split of ../shared/data/adult.csv, samples as many rows
as the split has, and scores the sample against the split with the SDMetrics QualityReport
(Column Shapes, Column Pair Trends). Seconds per epoch come from the per-epoch log lines.
Also checks that SDV's own CTGAN preprocessing does not print its >1000-columns alert.

    .venv/bin/python benchmarks/sdv_models_quality.py --ctgan-epochs 30 --tvae-epochs 150

Timings depend on the machine and on what else runs on it; report them with that context.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import platform
import time
from pathlib import Path

import pandas as pd

from pipeline.models.rare_categories import encoded_widths
from pipeline.models.registry import create
from pipeline.models.sdv_tabular import sdv_metadata, to_sdv_frame
from pipeline.schema import DatasetSchema, Role, detect_schema

ADULT = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "adult.csv"


def load_split(path: Path, seed: int) -> tuple[pd.DataFrame, DatasetSchema]:
    df = pd.read_csv(path, skipinitialspace=True, na_values=["?"])
    train = df.sample(frac=0.8, random_state=seed).reset_index(drop=True)
    return train, detect_schema(train, "adult")


def sdv_ctgan_alert(train: pd.DataFrame, schema: DatasetSchema) -> dict:
    """Run SDV's default CTGAN preprocessing and capture its PerformanceAlert, if any."""
    from sdv.single_table import CTGANSynthesizer

    columns = schema.modelled_columns()
    synth = CTGANSynthesizer(sdv_metadata(schema, columns))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        synth.preprocess({schema.name: to_sdv_frame(train[columns], schema)})
    estimate = synth._estimate_num_columns(to_sdv_frame(train[columns], schema))
    return {
        "sdv_estimated_columns": int(sum(estimate.values())),
        "our_estimated_columns": sum(encoded_widths(train[columns], schema).values()),
        "performance_alert_printed": "PerformanceAlert" in printed.getvalue(),
    }


class EpochClock(logging.Handler):
    """Keeps the time of each per-epoch log line."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.times: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        if " epoch " in record.getMessage():
            self.times.append(record.created)


def quality(real: pd.DataFrame, synthetic: pd.DataFrame, schema: DatasetSchema) -> dict:
    from sdmetrics.reports import QualityReport

    columns = schema.modelled_columns()
    sdtypes = {
        Role.numerical: "numerical", Role.datetime: "datetime", Role.boolean: "boolean",
    }
    table = {
        "columns": {
            c: {"sdtype": sdtypes.get(schema.column(c).role, "categorical")} for c in columns
        }
    }
    report = QualityReport()
    report.generate(
        {schema.name: to_sdv_frame(real[columns], schema)},
        {schema.name: to_sdv_frame(synthetic[columns], schema)},
        {"tables": {schema.name: table}},
        verbose=False,
    )
    scores = report.get_properties().set_index("Property")["Score"]
    return {
        "column_shapes": round(float(scores["Column Shapes"]), 4),
        "column_pair_trends": round(float(scores["Column Pair Trends"]), 4),
        "overall": round(float(report.get_score()), 4),
    }


def run_model(
    name: str, params: dict, train: pd.DataFrame, schema: DatasetSchema, seed: int
) -> dict:
    clock = EpochClock()
    logging.getLogger("pipeline.models.sdv_tabular").addHandler(clock)
    try:
        model = create(name, **params).fit(train, schema, seed=seed)
    finally:
        logging.getLogger("pipeline.models.sdv_tabular").removeHandler(clock)
    started = time.perf_counter()
    synthetic = model.sample(len(train), seed=seed + 1)
    sample_seconds = time.perf_counter() - started
    epochs = len(model.loss_history)
    per_epoch = (
        (clock.times[-1] - clock.times[0]) / (len(clock.times) - 1)
        if len(clock.times) > 1 else None
    )
    return {
        "model": name,
        "parameters": params,
        "epochs": epochs,
        "fit_seconds": model.fit_seconds,
        "seconds_per_epoch": round(per_epoch, 2) if per_epoch else None,
        "preprocess_and_other_seconds": (
            round(model.fit_seconds - per_epoch * epochs, 1) if per_epoch else None
        ),
        "sample_seconds": round(sample_seconds, 1),
        "last_loss": model.loss_history[-1] if model.loss_history else None,
        **quality(train, synthetic, schema),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ADULT)
    parser.add_argument("--models", nargs="+", default=["sdv_ctgan", "sdv_tvae"])
    parser.add_argument("--ctgan-epochs", type=int, default=30)
    parser.add_argument("--tvae-epochs", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("SingleTableSynthesizer", "sdv", "rdt", "copulas"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    train, schema = load_split(args.data, args.seed)
    results = {
        "machine": f"{platform.processor() or platform.machine()}, {_cpus()} CPUs",
        "train_rows": len(train),
        "sdv_default_ctgan": sdv_ctgan_alert(train, schema),
        "models": [],
    }
    for name in args.models:
        params: dict = {}
        if name in ("sdv_ctgan", "sdv_tvae"):
            epochs = args.ctgan_epochs if name == "sdv_ctgan" else args.tvae_epochs
            params = {"epochs": epochs, "batch_size": args.batch_size, "threads": args.threads}
        results["models"].append(run_model(name, params, train, schema, args.seed))
        print(json.dumps(results["models"][-1]), flush=True)
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text)


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


if __name__ == "__main__":
    main()
