"""Seconds per validation metric on the full Adult data (26k train, 6.5k holdout, 26k synthetic).

Two synthetic sets stand in for model output, so the script needs no model fit:
- "independent": every column resampled on its own from the training data (honest: it cannot
  copy a record except by chance, and keeps no relationships between columns);
- "leak10": the independent set with 10 % of its rows replaced by copied training rows.

Usage: .venv/bin/python benchmarks/validation_timing.py [--seed 0]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.ingest import read_source
from pipeline.schema import detect_schema, enforce_schema
from pipeline.split import split_train_holdout
from pipeline.validation import fidelity, privacy

ADULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "adult.csv"


def independent_columns(train: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    return pd.DataFrame({
        c: train[c].iloc[rng.integers(len(train), size=n)].reset_index(drop=True)
        for c in train.columns
    })


def with_copies(synthetic: pd.DataFrame, train: pd.DataFrame, share: float, rng) -> pd.DataFrame:
    out = synthetic.copy()
    rows = rng.choice(len(out), size=int(share * len(out)), replace=False)
    copied = train.iloc[rng.choice(len(train), size=len(rows), replace=False)]
    out.iloc[rows] = copied.to_numpy()
    return out.astype(train.dtypes.to_dict())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    frame, _ = read_source(ADULT)
    schema = detect_schema(frame, "adult")
    train, holdout, _ = split_train_holdout(enforce_schema(frame, schema), schema, seed=args.seed)
    honest = independent_columns(train, len(train), rng)
    sets = {"independent": honest, "leak10": with_copies(honest, train, 0.10, rng)}
    print(f"train {len(train)}, holdout {len(holdout)}, synthetic {len(honest)} rows")

    for name, synthetic in sets.items():
        start = time.perf_counter()
        values, seconds = fidelity.fidelity_metrics(
            train, synthetic, holdout, schema, target="income", seed=args.seed)
        private, private_seconds, _ = privacy.privacy_metrics(
            train, synthetic, holdout, schema, seed=args.seed)
        total = time.perf_counter() - start
        values.update(private)
        seconds.update(private_seconds)
        print(f"\n== {name}: {total:.1f} s in total")
        for metric, sec in seconds.items():
            print(f"  {metric:<24} {sec:6.2f} s")
        for metric, value in values.items():
            print(f"  {metric:<34} {value:.4f}")


if __name__ == "__main__":
    main()
