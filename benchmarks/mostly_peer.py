"""MOSTLY AI's synthetic-data engine at its defaults on one CSV: the corpus harness's peer.

Runs inside its own virtualenv (mostlyai-engine pins its own torch, pandas and transformers),
never in the project's: `benchmarks/corpus.py --with-mostly` calls it through subprocess.

    /work/mostly-venv/bin/python benchmarks/mostly_peer.py TRAIN.csv OUT.csv ROWS SEED \
        [DATETIME_COLUMN ...]

Reads TRAIN.csv with pandas' own type inference, the named columns parsed as datetimes (as a
pandas user would; left as text, the engine takes a timestamp column for a category and
replaces its rare values with `_RARE_`), runs the engine's split -> analyze -> encode ->
train -> generate steps with every setting left at its default (TabularARGN, MOSTLY_AI/Medium,
its own 80/20 training/validation split and early stopping), writes ROWS generated rows to
OUT.csv and prints one JSON line: {"fit_seconds": ..., "sample_seconds": ...}.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd


def fit_and_generate(train: pd.DataFrame, rows: int, seed: int) -> tuple[pd.DataFrame, dict]:
    from mostlyai import engine

    with tempfile.TemporaryDirectory() as workspace:
        engine.set_random_state(seed)
        started = time.perf_counter()
        engine.split(tgt_data=train, model_type="TABULAR", workspace_dir=workspace)
        engine.analyze(workspace_dir=workspace)
        engine.encode(workspace_dir=workspace)
        engine.train(workspace_dir=workspace)
        fit_seconds = time.perf_counter() - started
        started = time.perf_counter()
        engine.generate(sample_size=rows, workspace_dir=workspace)
        synthetic = pd.read_parquet(Path(workspace) / "SyntheticData")
        sample_seconds = time.perf_counter() - started
    return synthetic, {"fit_seconds": round(fit_seconds, 2),
                       "sample_seconds": round(sample_seconds, 2)}


def main() -> None:
    train_csv, out_csv, rows, seed, *datetimes = sys.argv[1:]
    train = pd.read_csv(train_csv, parse_dates=datetimes)
    synthetic, seconds = fit_and_generate(train, int(rows), int(seed))
    synthetic.to_csv(out_csv, index=False)
    print(json.dumps(seconds), flush=True)


if __name__ == "__main__":
    main()
