"""The tabular relations step (ordered pairs, derived columns) on a corpus of real public tables.

For every table that installed packages ship offline (vega_datasets.local_data, the
statsmodels datasets, sklearn's bundled loaders, the sdmetrics demos, ../shared/data):
- ingest it as a user's file would be (in-memory frames go through a temporary CSV and
  `read_source`), subsample to at most MAX_ROWS rows (adult: 10,000);
- detect the schema (timed) and record the relations it lists;
- enforce the schema, split 80/20 (seed 0), fit the default `GaussianMixtureModel` on the
  training rows with the relations enabled and with all of them switched off (same seed) and
  sample as many rows as the training split;
- measure per relation how often it holds on the synthetic rows (ordered: low <= high where
  both are known; derived: the column within 1 % of its range of a cubic refitted on the
  real table, and that fit's residual sd as a share of the range), Column Shapes and Column
  Pair Trends against the holdout, the gmm's component count and the fit seconds, on and off;
- on tables with relations, repeat the on/off fits at `--repeats` more model seeds (same
  split), so that an on - off difference can be told from seed noise.

A table that errors is kept with the error's last line (an error in detection or fitting is
a finding). Writes benchmarks/results/relations_corpus.json and .md.

Run: OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.relations_corpus [--only NAME ...]
     [--repeats 2]
(about 3 minutes on 2 shared cores)
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.ingest import read_source
from pipeline.models.gmm import GaussianMixtureModel
from pipeline.models.relations.derived import fit_cubic
from pipeline.schema import DatasetSchema, Role, detect_schema, enforce_schema
from pipeline.split import split_train_holdout
from pipeline.validation.fidelity import column_pair_trends, column_shapes

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / ".." / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results"
MAX_ROWS = 20_000
ADULT_ROWS = 10_000
SEED = 0
DERIVED_TOLERANCE = 0.01  # share of the real column's range
WORSE = 0.005  # a score drop worth flagging
# Tables whose default gmm fit takes minutes on 2 shared cores: the component count is fixed.
OUT = "relations_corpus"  # results file stem
CAPPED: dict[str, dict[str, Any]] = {}

VEGA = [
    "airports", "anscombe", "barley", "burtin", "cars", "crimea", "driving",
    "iowa-electricity", "iris", "la-riots", "ohlc", "seattle-temps", "seattle-weather",
    "sf-temps", "stocks", "us-employment", "wheat",
]
STATSMODELS = [
    "anes96", "cancer", "ccard", "china_smoking", "co2", "committee", "copper", "cpunish",
    "danish_data", "elec_equip", "elnino", "engel", "fair", "fertility", "grunfeld", "heart",
    "interest_inflation", "longley", "macrodata", "modechoice", "nile", "randhie", "scotland",
    "spector", "stackloss", "star98", "statecrime", "strikes", "sunspots",
]
SKLEARN = ["diabetes", "wine", "breast_cancer", "iris", "linnerud", "digits"]


# --- the corpus -----------------------------------------------------------------------------
def _vega(name: str) -> pd.DataFrame:
    from vega_datasets import local_data

    return getattr(local_data, name.replace("-", "_"))()


def _statsmodels(name: str) -> pd.DataFrame:
    import importlib

    frame = importlib.import_module(f"statsmodels.datasets.{name}").load_pandas().data
    if not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index()  # a date or label index is a column of the table
    return frame


def _sklearn(name: str) -> pd.DataFrame:
    import sklearn.datasets

    bunch = getattr(sklearn.datasets, f"load_{name}")(as_frame=True)
    frame = bunch.frame
    if name == "linnerud":  # the frame holds the exercises; the targets are the body data
        frame = pd.concat([bunch.data, bunch.target], axis=1)
    return frame


def _frames() -> Iterator[tuple[str, Callable[[], pd.DataFrame]]]:
    for name in VEGA:
        yield f"vega.{name}", lambda name=name: _vega(name)
    for name in STATSMODELS:
        yield f"statsmodels.{name}", lambda name=name: _statsmodels(name)
    for name in SKLEARN:
        yield f"sklearn.{name}", lambda name=name: _sklearn(name)
    try:
        import palmerpenguins

        yield "palmerpenguins", palmerpenguins.load_penguins
    except ImportError:
        pass


def _csv_files() -> Iterator[tuple[str, Path, int]]:
    demos = Path(str(files("sdmetrics").joinpath("demos")))
    yield "sdmetrics.student_placements", demos / "single_table/student_placements_real.csv", 0
    for table in ("users", "sessions", "transactions"):
        yield f"sdmetrics.{table}", demos / f"multi_table/{table}_real.csv", 0
    yield "sdmetrics.timeseries_as_table", demos / "timeseries/timeseries_real.csv", 0
    yield "shared.adult", SHARED / "adult.csv", ADULT_ROWS
    yield "shared.nyc_weather_as_table", SHARED / "nyc_weather.csv", 0


def _subsample(frame: pd.DataFrame, rows: int) -> pd.DataFrame:
    if len(frame) <= rows:
        return frame
    keep = np.sort(np.random.default_rng(SEED).choice(len(frame), rows, replace=False))
    return frame.iloc[keep].reset_index(drop=True)


def corpus(only: list[str] | None) -> Iterator[tuple[str, Callable[[], pd.DataFrame]]]:
    """(name, loader): every loader returns the ingested (and subsampled) table."""

    def from_frame(make: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "table.csv"
            make().to_csv(path, index=False)
            return _subsample(read_source(path)[0], MAX_ROWS)

    def from_csv(path: Path, rows: int) -> pd.DataFrame:
        return _subsample(read_source(path)[0], rows or MAX_ROWS)

    for name, make in _frames():
        if not only or name in only:
            yield name, lambda make=make: from_frame(make)
    for name, path, rows in _csv_files():
        if not only or name in only:
            yield name, lambda path=path, rows=rows: from_csv(path, rows)


# --- measurements --------------------------------------------------------------------------
def _values(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    return np.column_stack([
        pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        for c in columns
    ])


def _holds(relation: dict, real: pd.DataFrame, synthetic: pd.DataFrame) -> dict[str, float]:
    """Share of rows where the relation holds (NaN: no row to judge)."""
    columns = relation["columns"]
    if relation["kind"] == "ordered":
        out = {}
        for side, frame in (("real", real), ("synthetic", synthetic)):
            v = _values(frame, columns)
            both = ~np.isnan(v).any(1)
            out[side] = float((v[both, 0] <= v[both, 1]).mean()) if both.any() else np.nan
        return out
    if relation["kind"] == "missing_together":
        return {side: _missing_together_share(frame, columns)
                for side, frame in (("real", real), ("synthetic", synthetic))}
    column, *inputs = columns
    real_values = _values(real, [*inputs, column])
    fit = fit_cubic(real_values, len(inputs), list(range(len(inputs))))
    if fit is None:
        return {"real": np.nan, "synthetic": np.nan}
    tolerance = DERIVED_TOLERANCE * (fit.high - fit.low)
    out = {}
    for side, frame in (("real", real), ("synthetic", synthetic)):
        v = real_values if side == "real" else _values(frame, [*inputs, column])
        known = ~np.isnan(v).any(1)
        predicted = fit.predict(v, np.zeros(len(v)))
        residual = v[known, -1] - predicted[known]
        out[side] = float((np.abs(residual) <= tolerance).mean()) if known.any() else np.nan
        out[f"{side}_residual_sd"] = float(residual.std()) if known.any() else np.nan
    # an exact identity has a residual of rounding size: compare both with the range instead
    out["residual_sd_share"] = out["synthetic_residual_sd"] / (fit.high - fit.low)
    out["real_residual_sd_share"] = out["real_residual_sd"] / (fit.high - fit.low)
    return out


def _missing_together_share(frame: pd.DataFrame, columns: list[str]) -> float:
    """Share of rows on which the columns are all present or all missing."""
    missing = frame[columns].isna().to_numpy()
    return float((missing == missing[:, :1]).all(axis=1).mean())


def _fit_and_score(
    train: pd.DataFrame, holdout: pd.DataFrame, real: pd.DataFrame, schema: DatasetSchema,
    params: dict[str, Any], seed: int = SEED,
) -> dict[str, Any]:
    model = GaussianMixtureModel(**params)
    started = time.perf_counter()
    model.fit(train, schema, seed=seed)
    fit_seconds = time.perf_counter() - started
    synthetic = model.sample(len(train), seed=seed)
    shapes = column_shapes(holdout, synthetic, schema)
    trends = column_pair_trends(holdout, synthetic, schema)
    used = model.relations.describe()
    holds = [_holds(r.model_dump(), real, synthetic) for r in schema.relations]
    if schema.relations and not any(r.enabled for r in schema.relations):
        used = []
    return {
        "fit_seconds": round(fit_seconds, 2),
        "n_components": model.n_components_,
        "column_shapes": shapes["score"],
        "column_shapes_columns": {k: v["score"] for k, v in shapes["columns"].items()},
        "column_pair_trends": trends["score"],
        "column_pair_trends_all_pairs": trends["score_all_pairs"],
        "pairs_scored": trends["n_pairs_scored"],
        "pair_scores": {f"{p['column_1']}|{p['column_2']}": p["score"]
                        for p in trends["pairs"] if p["meets_threshold"]},
        "relations_used": used,
        "holds": holds,
    }


def _last_line(exc: BaseException) -> str:
    lines = traceback.format_exception_only(type(exc), exc)
    return lines[-1].strip()[:300]


def run_table(name: str, load: Callable[[], pd.DataFrame], repeats: int = 0) -> dict[str, Any]:
    """Everything for one table; `repeats` more model seeds (same split) give the on - off
    differences a spread, on tables with relations."""
    row: dict[str, Any] = {"table": name}
    stage = "load"
    try:
        frame = load()
        row["shape"] = list(frame.shape)
        stage = "detect"
        started = time.perf_counter()
        schema = detect_schema(frame, name.replace("/", "_"))
        row["detect_seconds"] = round(time.perf_counter() - started, 3)
        row["relations"] = [r.model_dump() for r in schema.relations]
        row["n_ordered"] = sum(r.kind == "ordered" for r in schema.relations)
        row["n_derived"] = sum(r.kind == "derived" for r in schema.relations)
        row["n_missing_together"] = sum(r.kind == "missing_together" for r in schema.relations)
        row["n_numerical"] = len(schema.names(Role.numerical))
        stage = "split"
        real = enforce_schema(frame, schema)
        train, holdout, _ = split_train_holdout(real, schema, 0.2, SEED)
        off = schema.model_copy(update={"relations": [
            r.model_copy(update={"enabled": False}) for r in schema.relations]})
        params = CAPPED.get(name, {})
        if params:
            row["note"] = f"gmm parameters {params} (the default fit is too slow here)"
        stage = "fit (on)"
        row["on"] = _fit_and_score(train, holdout, real, schema, params)
        stage = "fit (off)"
        # no relations: switching them off changes nothing, the same fit stands for both
        row["off"] = (_fit_and_score(train, holdout, real, off, params) if schema.relations
                      else row["on"])
        row["repeats"] = []
        for seed in range(SEED + 1, SEED + 1 + repeats if schema.relations else 0):
            stage = f"fit (seed {seed})"
            on_, off_ = (_fit_and_score(train, holdout, real, s, params, seed)
                         for s in (schema, off))
            row["repeats"].append({"seed": seed, **{
                f"{metric}_{side}": result[metric] for side, result in (("on", on_), ("off", off_))
                for metric in ("column_shapes", "column_pair_trends", "n_components")}})
    except Exception as exc:  # noqa: BLE001 - a failing table is a result, not a stop
        row["error"] = f"{stage}: {_last_line(exc)}"
    return row


# --- report --------------------------------------------------------------------------------
def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _hold_summary(row: dict, side: str) -> str:
    rates = [h["synthetic"] for h in row[side]["holds"] if np.isfinite(h["synthetic"])]
    if not rates:
        return "–"
    return f"{min(rates):.3f}" if len(rates) == 1 else f"{min(rates):.3f}/{np.mean(rates):.3f}"


def _deltas(row: dict, metric: str) -> list[float]:
    """on - off at seed 0 and at every repeat seed (NaN-free)."""
    values = [row["on"][metric] - row["off"][metric]] + [
        r[f"{metric}_on"] - r[f"{metric}_off"] for r in row.get("repeats", [])]
    return [v for v in values if v is not None and np.isfinite(v)]


def _mean_delta(row: dict, metric: str) -> str:
    values = _deltas(row, metric)
    if len(values) < 2:
        return "–"
    return f"{np.mean(values):+.4f}±{np.std(values):.4f}"


def _used(row: dict) -> list[list[str]]:
    return [d["ordered"] if "ordered" in d else d["missing_together"]
            if "missing_together" in d else [d["derived"], *d["from"]]
            for d in row["on"]["relations_used"]]


def markdown(rows: list[dict], seconds: float) -> str:
    seeds = 1 + max((len(r.get("repeats", [])) for r in rows), default=0)
    lines = [
        "# Relations step on a corpus of real tables (gmm, default parameters)",
        "",
        f"{len(rows)} tables, {sum('error' in r for r in rows)} errors, total "
        f"{seconds:.0f} s. Scores against the 20 % holdout; synthetic rows = train rows; model "
        "seed 0 (split seed 0). hold = share of synthetic rows where a relation holds (min/mean "
        "over the table's relations; derived: within 1 % of the column's range of a cubic "
        "refitted on the real table). Δ = on − off; mean±sd Δ over model seeds "
        f"0..{seeds - 1} (tables with relations). k = gmm components chosen, on/off.",
        "",
        "| table | rows × cols | ord | der | detect s | hold on | hold off | shapes on | "
        "shapes off | Δ | pairs on | pairs off | Δ | mean Δ shapes | mean Δ pairs | k | "
        "fit s on | fit s off |",
        "|" + "---|" * 18,
    ]
    for row in rows:
        if "off" not in row:
            shape = "×".join(map(str, row.get("shape", []))) or "–"
            lines.append(f"| {row['table']} | {shape} | " + " | ".join(
                [str(row.get("n_ordered", "–")), str(row.get("n_derived", "–")),
                 _fmt(row.get("detect_seconds"))]) + f" | error: {row['error']} |"
                 + " |" * 13)
            continue
        on, off = row["on"], row["off"]
        lines.append("| " + " | ".join([
            row["table"], f"{row['shape'][0]}×{row['shape'][1]}", str(row["n_ordered"]),
            str(row["n_derived"]), _fmt(row["detect_seconds"], 2),
            _hold_summary(row, "on"), _hold_summary(row, "off"),
            _fmt(on["column_shapes"]), _fmt(off["column_shapes"]),
            _fmt(on["column_shapes"] - off["column_shapes"], 4),
            _fmt(on["column_pair_trends"]), _fmt(off["column_pair_trends"]),
            _fmt(on["column_pair_trends"] - off["column_pair_trends"], 4),
            _mean_delta(row, "column_shapes"), _mean_delta(row, "column_pair_trends"),
            f"{on['n_components']}/{off['n_components']}",
            _fmt(on["fit_seconds"], 2), _fmt(off["fit_seconds"], 2),
        ]) + " |")
    lines += ["", "## Relations found", "",
              "resid sd = residual sd of the real-table cubic, as a share of the column's range.",
              "",
              "| table | kind | columns | used in fit | real hold | hold on | hold off | "
              "resid sd real/on/off |",
              "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        for i, relation in enumerate(row.get("relations", [])):
            head = f"| {row['table']} | {relation['kind']} | {', '.join(relation['columns'])}"
            if "off" not in row:
                lines.append(head + " | – | – | – | – | – |")
                continue
            on, off = row["on"]["holds"][i], row["off"]["holds"][i]
            resid = ("/".join(_fmt(v, 4) for v in (
                on.get("real_residual_sd_share"), on.get("residual_sd_share"),
                off.get("residual_sd_share"))) if relation["kind"] == "derived" else "–")
            used = "yes" if relation["columns"] in _used(row) else "no"
            lines.append(head + " | " + " | ".join([
                used, _fmt(on["real"]), _fmt(on["synthetic"]), _fmt(off["synthetic"]), resid,
            ]) + " |")
    def is_worse(row: dict) -> bool:
        return any((d := _deltas(row, metric)) and (d[0] < -WORSE or np.mean(d) < -WORSE)
                   for metric in ("column_shapes", "column_pair_trends"))

    worse = [r for r in rows if "off" in r and r.get("relations") and is_worse(r)]
    lines += ["", f"## Worse by more than {WORSE} with the relations on (seed 0 or mean)", ""]
    lines += [f"- {r['table']}: shapes Δ seed 0 {_fmt(_deltas(r, 'column_shapes')[0], 4)}, "
              f"mean {_mean_delta(r, 'column_shapes')}; pairs Δ seed 0 "
              f"{_fmt((_deltas(r, 'column_pair_trends') or [np.nan])[0], 4)}, mean "
              f"{_mean_delta(r, 'column_pair_trends')}" for r in worse] or ["- none"]
    notes = [f"- {r['table']}: {r['note']}" for r in rows if "note" in r]
    if notes:
        lines += ["", "## Notes", "", *notes]
    return "\n".join(lines) + "\n"


def _jsonable(value: Any, digits: int | None = None) -> Any:
    """Plain JSON types; floats rounded to `digits` when given, NaN and inf as null."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v, digits) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v, digits) for v in value]
    if isinstance(value, float | np.floating):
        if not np.isfinite(value):
            return None
        return round(float(value), digits) if digits is not None else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="table names (e.g. vega.cars)")
    parser.add_argument("--repeats", type=int, default=2,
                        help="extra model seeds on tables with relations (default 2)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore")
    started = time.perf_counter()
    rows = []
    for name, load in corpus(args.only):
        table_started = time.perf_counter()
        row = run_table(name, load, args.repeats)
        row["seconds"] = round(time.perf_counter() - table_started, 2)
        rows.append(row)
        summary = row.get("error") or (
            f"{row['n_ordered']} ordered, {row['n_derived']} derived; shapes "
            f"{row['on']['column_shapes']:.3f}/{row['off']['column_shapes']:.3f}, pairs "
            f"{_fmt(row['on']['column_pair_trends'])}/{_fmt(row['off']['column_pair_trends'])}")
        print(f"{name:36s} {row['seconds']:6.1f} s  {summary}", flush=True)
    seconds = time.perf_counter() - started
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{OUT}.json").write_text(json.dumps(
        {"seconds": round(seconds, 1), "max_rows": MAX_ROWS, "seed": SEED,
         "tables": _jsonable(rows)}, indent=1))
    (RESULTS / f"{OUT}.md").write_text(markdown(rows, seconds))
    print(f"total {seconds:.0f} s -> {RESULTS / OUT}.json/.md")


if __name__ == "__main__":
    main()
