"""The leak benchmark: which privacy test catches which leak, and how often honest output is
wrongly failed.

For each table: an honest synthetic table (the gmm's output, as many rows as train) is
doctored by replacing a share of its rows with leaked training records:
- exact copies at 0.1 %, 1 % and 10 %;
- near copies at 1 % and 5 %: training rows with every number moved by 1 % and one or two
  categorical fields changed to another value;
- rare-record copies at 1 %: the training records unique on their quasi-identifiers with the
  most extreme numbers (outliers), the ones a re-identification starts from.
Honest outputs (gmm at several fit and sample seeds, and with --full ctgan and tvae on the
table) measure the false-alarm rate. Every privacy metric's p-value is recorded with whether
it fails at the gate's corrected level.

Usage: .venv/bin/python -m benchmarks.leaks [--full] [--report-only]   (a full run writes
benchmarks/results/leaks.json and the README's leak table; a quick one leaks-quick.json)
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.settings import RESULTS
from pipeline.ingest import read_source
from pipeline.schema import DatasetSchema, Role, detect_schema, enforce_schema
from pipeline.split import split_train_holdout
from pipeline.validation import privacy
from pipeline.validation.encoding import CONTINUOUS, compared_columns
from pipeline.validation.record_matches import default_quasi_identifiers, row_hashes
from pipeline.validation.thresholds import resolve_thresholds

ROOT = Path(__file__).resolve().parents[1]
ADULT = ROOT.parent / "shared" / "data" / "adult.csv"
README = ROOT / "README.md"
LEAKS = (("exact", 0.001), ("exact", 0.01), ("exact", 0.10), ("near", 0.01), ("near", 0.05),
         ("rare", 0.01))
JITTER = 0.01


@dataclass
class Table:
    name: str
    schema: DatasetSchema
    train: pd.DataFrame
    holdout: pd.DataFrame


# --- tables ----------------------------------------------------------------------------------
def _prepared(name: str, frame: pd.DataFrame) -> Table:
    schema = detect_schema(frame, name)
    frame = enforce_schema(frame, schema)
    train, holdout, _ = split_train_holdout(frame, schema, 0.2, 0)
    return Table(name, schema, train.reset_index(drop=True), holdout.reset_index(drop=True))


def load_tables(names: list[str]) -> list[Table]:
    """Adult, the demo table, and two statsmodels tables (survey answers, insurance claims)."""
    readers = {
        "adult": lambda: read_source(ADULT)[0],
        "student_placements": lambda: read_source(Path(str(files("sdmetrics").joinpath(
            "demos/single_table/student_placements_real.csv"))))[0],
        "fair": lambda: _statsmodels("fair"),
        "randhie": lambda: _statsmodels("randhie"),
    }
    return [_prepared(name, readers[name]()) for name in names]


def _statsmodels(name: str) -> pd.DataFrame:
    import statsmodels.api as sm

    return getattr(sm.datasets, name).load_pandas().data


# --- leaks -----------------------------------------------------------------------------------
def replace_rows(base: pd.DataFrame, leaked: pd.DataFrame, rng) -> pd.DataFrame:
    """`base` with len(leaked) random rows replaced by the leaked ones."""
    out = base.copy()
    rows = rng.choice(len(out), size=len(leaked), replace=False)
    for column in out.columns:
        values = out[column].copy()
        values.iloc[rows] = leaked[column].to_numpy()
        out[column] = values
    return out


def exact_copies(train: pd.DataFrame, n: int, rng) -> pd.DataFrame:
    return train.iloc[rng.choice(len(train), size=n, replace=False)].reset_index(drop=True)


def near_copies(train: pd.DataFrame, schema: DatasetSchema, n: int, rng) -> pd.DataFrame:
    """Training rows with each number moved by JITTER (either way) and one or two categorical
    fields (alternately) set to another value of their column."""
    out = exact_copies(train, n, rng).copy()
    columns = compared_columns(schema, train)
    for column in columns:
        if schema.column(column).role == Role.numerical:
            moved = out[column].astype("float64") * (1 + JITTER * rng.choice([-1, 1], n))
            integer = pd.api.types.is_integer_dtype(out[column].dtype)
            out[column] = (moved.round() if integer else moved).astype(out[column].dtype)
    discrete = [c for c in columns if schema.column(c).role not in CONTINUOUS]
    for i in range(n):
        for column in rng.choice(discrete, size=min(len(discrete), 1 + i % 2), replace=False):
            others = train[column].dropna().unique()
            others = others[others != out.at[i, column]]
            if len(others):
                out.at[i, column] = others[rng.integers(len(others))]
    return out


def rare_copies(train: pd.DataFrame, schema: DatasetSchema, n: int) -> pd.DataFrame:
    """The n training records most worth re-identifying: unique on their quasi-identifiers
    first, then the most extreme in any number (rank distance from the median)."""
    columns = compared_columns(schema, train)
    qis = default_quasi_identifiers(train, schema, columns)
    keys = pd.Series(row_hashes(train, schema, qis)) if qis else pd.Series(np.arange(len(train)))
    unique = keys.map(keys.value_counts()).to_numpy() == 1
    numeric = [c for c in columns if schema.column(c).role == Role.numerical]
    extreme = (train[numeric].rank(pct=True).sub(0.5).abs().max(axis=1).fillna(0).to_numpy()
               if numeric else np.zeros(len(train)))
    order = np.lexsort((-extreme, ~unique))
    return train.iloc[order[:n]].reset_index(drop=True)


def leaked(table: Table, base: pd.DataFrame, kind: str, share: float, seed: int):
    rng = np.random.default_rng(seed)
    n = max(1, int(round(share * len(base))))
    rows = {"exact": lambda: exact_copies(table.train, n, rng),
            "near": lambda: near_copies(table.train, table.schema, n, rng),
            "rare": lambda: rare_copies(table.train, table.schema, n)}[kind]()
    return replace_rows(base, rows, rng)


# --- scoring ---------------------------------------------------------------------------------
def gate(table: Table, synthetic: pd.DataFrame, seed: int = 0) -> dict:
    """Every gated privacy metric's p-value, which of them fail, and the verdict."""
    values, seconds, _ = privacy.privacy_metrics(table.train, synthetic, table.holdout,
                                                 table.schema, seed=seed)
    bounds = {n: b for n, b in resolve_thresholds({}).items() if b.kind == "privacy"}
    failed = [n for n, b in bounds.items() if values[n] < b.min_value]
    return {"p_values": {n: values[n] for n in bounds}, "failed": failed,
            "fails": bool(failed), "level": next(iter(bounds.values())).min_value,
            "exact_copy_rate": values["exact_copy_rate"],
            "exact_copy_rate_holdout": values["exact_copy_rate_holdout"],
            "near_copy_rate": values["near_copy_rate"],
            "near_copy_rate_holdout": values["near_copy_rate_holdout"],
            "dcr_share_excess": values["dcr_share_excess"],
            "singling_out_rate": values["singling_out_rate"],
            "seconds": round(sum(seconds.values()), 2)}


def honest_outputs(table: Table, models: list[str], seeds: int):
    """(label, synthetic frame) of honest models at several fit and sample seeds."""
    from pipeline.models import registry

    params = {"ctgan": {"epochs": 30}, "tvae": {"epochs": 30}}
    for model in models:
        for fit_seed in range(seeds if model == "gmm" else 1):
            fitted = registry.create(model, **params.get(model, {})).fit(
                table.train, table.schema, seed=fit_seed)
            for sample_seed in range(2 if model == "gmm" else seeds):
                yield (f"{model} fit {fit_seed} sample {sample_seed}",
                       fitted.sample(len(table.train), seed=100 + sample_seed))


def run(tables: list[Table], models: list[str], seeds: int) -> dict:
    out = {}
    for table in tables:
        started = time.perf_counter()
        honest = list(honest_outputs(table, models, seeds))
        rows = {label: gate(table, frame) for label, frame in honest}
        base = honest[0][1]
        for kind, share in LEAKS:
            rows[f"{kind} {share:.1%}"] = gate(table, leaked(table, base, kind, share, 1))
        out[table.name] = {"train_rows": len(table.train), "holdout_rows": len(table.holdout),
                           "columns": len(table.schema.modelled_columns()),
                           "seconds": round(time.perf_counter() - started, 1), "runs": rows}
        print(f"{table.name}: {sum(r['fails'] for r in rows.values())} of {len(rows)} fail "
              f"({out[table.name]['seconds']} s)", flush=True)
    return out


# --- report ----------------------------------------------------------------------------------
SHORT = {"exact_copy_p_value": "exact", "near_copy_p_value": "near",
         "singling_out_p_value": "single", "dcr_close_p_value": "close",
         "dcr_share_p_value": "share", "mia_p_value": "mia",
         "attribute_inference_p_value": "infer", "attribute_inference_worst_column_p_value":
         "infer-col", "linkability_p_value": "link"}


def markdown(results: dict, meta: dict) -> str:
    lines = [
        f"Leak benchmark, {meta['date']} ({meta['mode']}): each privacy test's p-value against "
        "what the holdout shows; a test fails below its corrected level "
        f"(family-wise {meta['alpha']} over the gated tests). Cells list the tests that fail.",
        "",
        "The first row of a table gives real data's own rates (holdout rows that duplicate or "
        "nearly copy a training record), against which a leak must show; then honest outputs "
        "per model (several fit and sample seeds), then the leaks injected into the first "
        "honest gmm output.",
        "",
        "| table (train rows) | output | verdict | failing tests |",
        "|---|---|---|---|",
    ]
    for name, table in results.items():
        runs = table["runs"]
        honest = {label: r for label, r in runs.items() if " fit " in label}
        first = next(iter(honest.values()))
        lines.append(f"| {name} ({table['train_rows']:,}) | real rows: "
                     f"{first['exact_copy_rate_holdout']:.2%} copy a training record, "
                     f"{first['near_copy_rate_holdout']:.2%} nearly copy one | | |")
        for model in dict.fromkeys(label.split()[0] for label in honest):
            mine = [r for label, r in honest.items() if label.split()[0] == model]
            passed = sum(not r["fails"] for r in mine)
            lines.append(f"| {name} | honest {model}: {len(mine)} outputs | {passed} of "
                         f"{len(mine)} pass | {_failing(mine)} |")
        for label, r in runs.items():
            if label not in honest:
                lines.append(f"| {name} | {label} | {'FAIL' if r['fails'] else 'pass'} | "
                             f"{', '.join(SHORT[f] for f in r['failed']) or '–'} |")
    return "\n".join(lines) + "\n"


def _failing(runs: list[dict]) -> str:
    counts: dict[str, int] = {}
    for r in runs:
        for f in r["failed"]:
            counts[SHORT[f]] = counts.get(SHORT[f], 0) + 1
    return ", ".join(f"{k} ({v})" for k, v in counts.items()) or "–"


def update_readme(table: str) -> None:
    text = README.read_text()
    start, end = "<!-- leaks:start -->", "<!-- leaks:end -->"
    if start not in text:
        return
    head, rest = text.split(start, 1)
    README.write_text(head + start + "\n" + table + end + rest.split(end, 1)[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full", action="store_true",
                        help="more seeds, ctgan and tvae beside the gmm")
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite the table and README from the saved leaks.json")
    args = parser.parse_args()
    if args.report_only:
        saved = json.loads((RESULTS / "leaks.json").read_text())
        return _publish(saved["tables"], saved["meta"])
    from pipeline.validation.evidence import PRIVACY_ALPHA

    names = ["adult", "student_placements", "fair", "randhie"]
    models = ["gmm", "ctgan", "tvae"] if args.full else ["gmm"]
    seeds = 5 if args.full else 3
    meta = {"date": time.strftime("%Y-%m-%d"), "mode": "full" if args.full else "quick",
            "machine": platform.machine(), "alpha": PRIVACY_ALPHA, "models": models,
            "seeds": seeds}
    _publish(run(load_tables(names), models, seeds), meta)


def _publish(results: dict, meta: dict) -> None:
    """Results as JSON and a markdown table; only a full run replaces the README's table."""
    RESULTS.mkdir(exist_ok=True)
    stem = "leaks" if meta["mode"] == "full" else "leaks-quick"
    (RESULTS / f"{stem}.json").write_text(json.dumps({"meta": meta, "tables": results},
                                                     indent=1))
    table = markdown(results, meta)
    (RESULTS / f"{stem}.md").write_text(table)
    if meta["mode"] == "full":
        update_readme(table)
    print(table)


if __name__ == "__main__":
    main()
