"""Seconds for the whole validation gate of a full Adult run: every fidelity and privacy
metric, both Great Expectations suites with Data Docs, and the HTML report.

Usage: .venv/bin/python -m benchmarks.gate_timing [--target income]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from pipeline.ingest import read_source
from pipeline.models import registry
from pipeline.report import render_report
from pipeline.schema import detect_schema, enforce_schema
from pipeline.split import split_train_holdout
from pipeline.validation.validate import validate_synthetic

ADULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "adult.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", default="income")
    args = parser.parse_args()
    frame, _ = read_source(ADULT)
    schema = detect_schema(frame, "adult")
    frame = enforce_schema(frame, schema)
    train, holdout, method = split_train_holdout(frame, schema, 0.2, 0)
    model = registry.create("gmm").fit(train, schema, seed=0)
    synthetic = model.sample(len(train), seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        result = validate_synthetic(synthetic, train, holdout, schema, model="gmm", run_id="t",
                                    gx_dir=Path(tmp) / "gx", target=args.target)
        gate = time.perf_counter() - started
        started = time.perf_counter()
        render_report(dataset="adult", model="gmm", run_id="t", verdict=result.verdict,
                      reasons=result.reasons, metric_rows=result.metric_rows(), real=train,
                      synthetic=synthetic, schema=schema, split_method=str(method),
                      distances=result.distances, loss_history=model.loss_history)
        report = time.perf_counter() - started
    print(json.dumps({"rows": {"train": len(train), "holdout": len(holdout),
                               "synthetic": len(synthetic)},
                      "verdict": result.verdict, "reasons": result.reasons,
                      "seconds": {**result.seconds, "report": round(report, 2),
                                  "total_gate_and_report": round(gate + report, 2)}},
                     indent=2))


if __name__ == "__main__":
    main()
