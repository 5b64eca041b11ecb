"""The benchmark harness: our models against raw SDV, a floor and a ceiling, in one run.

    python -m benchmarks.run --quick     # a few minutes: subsamples, 1 repetition
    python -m benchmarks.run --full      # under an hour on 2 cores: `make bench`

Every contender is fitted and sampled in a fresh process (fit seconds, sample rows/s, peak
RSS), then scored here with the project's validation metrics. Results: benchmarks/results/
<date>-<machine>[-quick].json / .md / .png, and latest.md for the README.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import data as bdata
from benchmarks.contenders import (
    Contender,
    tabular_contenders,
    timeseries_contenders,
    unavailable,
)
from benchmarks.report import render, write_outputs
from benchmarks.scale import growth_exponent
from benchmarks.scoring import (
    headline_timeseries,
    score_ceiling,
    score_tabular,
    score_timeseries,
)
from benchmarks.settings import BUDGETS, RESULTS, SAMPLE_SEED, SECTIONS, SEED, Budget
from benchmarks.worker import run_isolated
from pipeline.validation.privacy import MAX_DISTANCE_ROWS

OVERHEAD_TARGET = 1.05
# Scale: copied-record shares that every validation size must fail; the wide table's copies
# of Adult's columns, and the rows its gmm samples to Parquet.
LEAK_SHARES = (0.01, 0.10)
WIDE_COPIES = 7
WIDE_SAMPLE_ROWS = 1_000_000
log = logging.getLogger("benchmarks")


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- contenders --------------------------------------------------------------------------------
def run_contenders(
    contenders: list[Contender], dataset: bdata.Dataset, budget: Budget, work: Path, seed: int
) -> list[dict[str, Any]]:
    """Fit and sample each contender `repetitions` times, each time in a fresh process.

    Repetition-major order (every contender once, then every contender again) so that a slow
    spell on a shared machine lands on ours and raw SDV alike instead of skewing one ratio.
    """
    rows = {c.name: _row_head(c) for c in contenders}
    runs: dict[str, list[dict]] = {c.name: [] for c in contenders}
    live = []
    for contender in contenders:
        reason = unavailable(contender)
        if reason:
            say(f"{dataset.name}: {contender.name} skipped ({reason})")
            rows[contender.name].update(status="skipped", reason=reason)
        else:
            live.append(contender)
    for rep in range(budget.repetitions):
        for contender in list(live):
            result = _run_once(contender, dataset, budget, work, seed, keep_output=rep == 0)
            if result["status"] != "ok":
                say(f"{dataset.name}: {contender.name} {result['status']}: {result['reason']}")
                rows[contender.name].update(status=result["status"], reason=result["reason"])
                live.remove(contender)
                continue
            say(f"{dataset.name}: {contender.name} run {rep + 1}/{budget.repetitions}: fit "
                f"{result['fit_seconds']:.1f} s, sample {result['sample_seconds']:.1f} s, peak "
                f"{result['peak_rss_mb']:.0f} MB")
            runs[contender.name].append(result)
    for contender in live:
        rows[contender.name].update(_summary(runs[contender.name]))
    return [rows[c.name] for c in contenders]


def _row_head(contender: Contender) -> dict[str, Any]:
    return {"name": contender.name, "kind": contender.family, "model": contender.model,
            "parameters": contender.params, "pair": contender.pair}


def _run_once(contender: Contender, dataset: bdata.Dataset, budget: Budget, work: Path,
              seed: int, keep_output: bool) -> dict[str, Any]:
    train = (bdata.plain_frame(dataset.train, dataset.schema)
             if contender.family == "sdv" else dataset.train)
    n = dataset.n_sequences() if dataset.is_time_series else len(dataset.train)
    payload = {"contender": contender.to_dict(), "train": train, "schema": dataset.schema,
               "seed": seed, "sample_seed": SAMPLE_SEED, "n": n, "keep_output": keep_output}
    return run_isolated("fit_sample", payload, work, budget.worker_timeout, budget.threads)


def _summary(runs: list[dict]) -> dict[str, Any]:
    """Medians of the timings; the output scored is the first repetition's."""
    fit = [r["fit_seconds"] for r in runs]
    sample = [r["sample_seconds"] for r in runs]
    rows = runs[0]["rows"]
    return {
        "status": "ok",
        "repetitions": len(runs),
        "fit_seconds": statistics.median(fit),
        "fit_seconds_runs": fit,
        "sample_seconds": statistics.median(sample),
        "sample_seconds_runs": sample,
        "sample_rows": rows,
        "sample_rows_per_second": rows / max(statistics.median(sample), 1e-9),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "rss_before_fit_mb": runs[0]["rss_before_fit_mb"],
        "warmup_seconds": runs[0]["warmup_seconds"],
        "info": runs[0]["info"],
        "_synthetic": runs[0]["synthetic"],
    }


def _score(row: dict, dataset: bdata.Dataset, budget: Budget, seed: int) -> None:
    synthetic = row.pop("_synthetic", None)
    if row["status"] != "ok" or synthetic is None:
        return
    try:
        if dataset.is_time_series:
            values, seconds = score_timeseries(dataset, synthetic)
            values = {**headline_timeseries(values), "all": values} if values else values
        else:
            values, seconds = score_tabular(dataset, synthetic, budget, seed)
    except Exception as exc:  # noqa: BLE001 - one bad output must not sink the whole run
        row.update(status="failed", reason=f"scoring failed: {type(exc).__name__}: {exc}")
        return
    row["metrics"], row["metric_seconds"] = values, seconds


# --- sections --------------------------------------------------------------------------------
def run_tabular(dataset: bdata.Dataset, budget: Budget, work: Path, seed: int) -> dict:
    rows = run_contenders(tabular_contenders(budget), dataset, budget, work, seed)
    for row in rows:
        _score(row, dataset, budget, seed)
    values, seconds = score_ceiling(dataset, budget, seed)
    rows.append({"name": "holdout", "kind": "ceiling", "model": "real holdout rows",
                 "status": "ok", "metrics": values, "metric_seconds": seconds})
    say(f"{dataset.name}: scored {len(rows)} rows")
    return {"dataset": dataset.describe(), "contenders": rows}


def run_timeseries(dataset: bdata.Dataset, budget: Budget, work: Path, seed: int) -> dict:
    rows = run_contenders(timeseries_contenders(budget), dataset, budget, work, seed)
    for row in rows:
        _score(row, dataset, budget, seed)
    ceiling = {"name": "holdout", "kind": "ceiling", "model": "real holdout rows",
               "status": "ok", "_synthetic": dataset.holdout}
    _score(ceiling, dataset, budget, seed)
    rows.append(ceiling)
    return {"dataset": dataset.describe(), "contenders": rows}


SAME_SETTINGS_NOTE = (
    "Identical settings: same training frame, epochs, batch size and seed; every process gets "
    "the same thread count, and raw SDV runs ctgan's joblib transform in-process as our "
    "wrapper does (with its default loky workers a 3,000-row raw CTGAN fit took 18 s instead "
    "of ~5 s on 2 busy cores: worker start-up, not modelling)."
)


def ratios(tabular: dict | None, series: list[dict]) -> dict:
    out: dict[str, Any] = {"pipeline_overhead": [], "notes": [SAME_SETTINGS_NOTE]}
    rows = {r["name"]: r for r in (tabular or {}).get("contenders", []) if r["status"] == "ok"}
    for ours, raw in (("ctgan", "sdv_ctgan"), ("tvae", "sdv_tvae"),
                      ("gaussian_copula", "sdv_gaussian_copula")):
        if ours in rows and raw in rows:
            out["pipeline_overhead"].append(_overhead(rows[ours], rows[raw], "adult"))
    for block in series:
        ts = {r["name"]: r for r in block["contenders"] if r["status"] == "ok"}
        if "par" in ts and "sdv_par" in ts:
            out["pipeline_overhead"].append(
                _overhead(ts["par"], ts["sdv_par"], block["dataset"]["name"]))
        if "hmm" in ts and "sdv_par" in ts:
            out["notes"].append(
                f"{block['dataset']['name']}: `hmm` fit time / raw `sdv_par` fit time = "
                f"{_ratio(ts['hmm']['fit_seconds'], ts['sdv_par']['fit_seconds']):.3g}"
            )
    if "gmm" in rows and "sdv_gaussian_copula" in rows:
        gmm, gc = rows["gmm"], rows["sdv_gaussian_copula"]
        out["gmm_vs_sdv_gaussian_copula"] = {
            "fit_ratio": _ratio(gmm["fit_seconds"], gc["fit_seconds"]),
            "sample_rate_ratio": _ratio(gmm["sample_rows_per_second"],
                                        gc["sample_rows_per_second"]),
            **{f"{m}_ratio": _ratio(gmm["metrics"].get(m), gc["metrics"].get(m))
               for m in ("column_shapes", "column_pair_trends", "quality_score", "ml_utility")},
            "detection_auc": [gmm["metrics"].get("detection_auc"),
                              gc["metrics"].get("detection_auc")],
        }
    return out


def _overhead(ours: dict, raw: dict, dataset: str) -> dict:
    fit = _ratio(ours["fit_seconds"], raw["fit_seconds"])
    both = _ratio(ours["fit_seconds"] + ours["sample_seconds"],
                  raw["fit_seconds"] + raw["sample_seconds"])
    return {"dataset": dataset, "ours": ours["name"], "raw": raw["name"], "fit_ratio": fit,
            "fit_sample_ratio": both, "target": OVERHEAD_TARGET,
            "within_target": None if fit is None else fit <= OVERHEAD_TARGET}


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not b:
        return None
    return a / b


def run_profiles(dataset: bdata.Dataset, budget: Budget, work: Path, seed: int) -> list[dict]:
    out = []
    for contender in tabular_contenders(budget.with_(contenders=None)):
        if contender.model not in ("ctgan", "tvae") or contender.family != "ours":
            continue
        payload = {"contender": contender.to_dict(), "train": dataset.train,
                   "schema": dataset.schema, "seed": seed}
        result = run_isolated("profile", payload, work, budget.worker_timeout, budget.threads)
        result.setdefault("model", contender.model)
        result.setdefault("parameters", contender.params)
        say(f"profile {contender.model}: {result['status']}")
        out.append(result)
    return out


def run_scale_sampling(dataset: bdata.Dataset, budget: Budget, work: Path, seed: int) -> dict:
    fitted, result = _fit_then_sample(dataset, budget.scale_rows, budget.scale_chunk, "scale",
                                      budget, work, seed)
    if result is None:
        return fitted
    result["fit"] = {k: fitted.get(k) for k in ("fit_seconds", "rows", "n_components")}
    if result["status"] == "ok":
        say(f"GMM to Parquet: {result['rows']:,} rows at {result['rows_per_second']:,.0f} rows/s,"
            f" peak {result['peak_rss_mb']:.0f} MB")
        result["processes"] = _sample_in_processes(budget, work, seed)
    return result


def _sample_in_processes(budget: Budget, work: Path, seed: int) -> dict:
    """The same rows as a run writes them on one local process per core (ShardPool), in
    shards of the size a run uses; the model is the one the sequential run loaded."""
    from pipeline.sharding import DEFAULT_SHARD_ROWS, available_cores

    workers = max(2, available_cores())
    pooled = run_isolated("scale_sample_processes", {
        "model_dir": str(work / "gmm-scale"), "rows": budget.scale_rows, "seed": seed,
        "shard_rows": min(DEFAULT_SHARD_ROWS, budget.scale_chunk * 2), "workers": workers,
        "out_path": str(work / "scale-processes.parquet")},
        work, budget.worker_timeout, budget.threads)
    if pooled["status"] == "ok":
        say(f"GMM to Parquet on {workers} processes: {pooled['rows_per_second']:,.0f} rows/s, "
            f"peak {pooled['peak_rss_all_processes_mb']:.0f} MB in all")
    return pooled


def _fit_then_sample(dataset: bdata.Dataset, rows: int, chunk: int, name: str, budget: Budget,
                     work: Path, seed: int) -> tuple[dict, dict | None]:
    """A gmm fitted and saved in one process, then `rows` rows sampled to Parquet in chunks
    in another: (fit result, sampling result or None when the fit failed)."""
    model_dir = work / f"gmm-{name}"
    fitted = run_isolated("fit_only", {"model": "gmm", "train": dataset.train,
                                       "schema": dataset.schema, "seed": seed,
                                       "save_dir": str(model_dir)},
                          work, budget.worker_timeout, budget.threads)
    if fitted["status"] != "ok":
        return fitted, None
    sampled = run_isolated("scale_sample", {"model_dir": str(model_dir), "rows": rows,
                                            "chunk": chunk, "seed": seed,
                                            "out_path": str(work / f"{name}.parquet")},
                           work, budget.worker_timeout, budget.threads)
    return fitted, sampled


def run_gmm_growth(dataset: bdata.Dataset, budget: Budget, work: Path, seed: int) -> dict:
    base = budget.gmm_growth_rows or len(dataset.train)
    points = []
    for factor in budget.growth_factors:
        train = bdata.grow_rows(dataset.train, base * factor, seed)
        result = run_isolated("fit_only", {"model": "gmm", "train": train,
                                           "schema": dataset.schema, "seed": seed},
                              work, budget.worker_timeout, budget.threads)
        points.append({"factor": factor, **_point(result)})
        say(f"GMM growth x{factor}: {result.get('fit_seconds')} s")
    points.append(_wide_fit_and_sample(_wide(dataset, seed), budget, work, seed))
    return _growth(points, "rows", "Rows are drawn with replacement from the training split; "
                   "the component count is chosen per size, as a user's fit would. The wide "
                   f"case also samples {WIDE_SAMPLE_ROWS:,} rows to Parquet.")


def _wide_fit_and_sample(wide: bdata.Dataset, budget: Budget, work: Path, seed: int) -> dict:
    fitted, sampled = _fit_then_sample(wide, WIDE_SAMPLE_ROWS, WIDE_SAMPLE_ROWS // 4, "wide",
                                       budget, work, seed)
    point = {"factor": f"wide ({len(wide.train.columns)} columns)", **_point(fitted)}
    if sampled is not None:
        point["sample_rows_per_second"] = sampled.get("rows_per_second")
        point["sample_peak_rss_mb"] = sampled.get("peak_rss_mb")
    say(f"GMM wide: fit {point.get('fit_seconds')} s, "
        f"{point.get('sample_rows_per_second')} rows/s to Parquet")
    return point


def run_hmm_growth(budget: Budget, work: Path, seed: int) -> dict:
    if unavailable(Contender("hmm", "ours", "hmm")):
        return {"points": [], "exponent": None, "note": "hmm model not in this checkout"}
    base = bdata.load_nyc_weather(budget.with_(ts_steps=budget.hmm_growth_steps), seed)
    points = []
    for factor in budget.growth_factors:
        train = bdata.grow_entities(base.train, base.schema, factor)
        result = run_isolated("fit_only", {"model": "hmm", "params": budget.hmm_growth_params,
                                           "train": train, "schema": base.schema, "seed": seed},
                              work, budget.worker_timeout, budget.threads)
        points.append({"factor": factor, **_point(result)})
        say(f"HMM growth x{factor}: {result.get('fit_seconds')} s")
    return _growth(points, "rows", f"First {budget.hmm_growth_steps} steps of each airport, "
                   f"copied under new entity keys; parameters {budget.hmm_growth_params}.")


def run_validation_growth(dataset: bdata.Dataset, budget: Budget, work: Path, seed: int) -> dict:

    base = budget.validation_growth_rows or len(dataset.train)
    points = []
    for factor in budget.growth_factors:
        n = base * factor
        train = bdata.grow_distinct_rows(dataset.train, dataset.schema, n, seed)
        holdout = bdata.grow_distinct_rows(dataset.holdout, dataset.schema, max(n // 4, 10),
                                           seed + 1)
        points.append({"factor": factor, **_validated(train, holdout, dataset, budget, work,
                                                      seed)})
        say(f"validation growth x{factor}: {points[-1].get('seconds')} s")
    wide = _wide(dataset, seed)
    points.append({"factor": f"wide ({len(wide.train.columns)} columns)",
                   **_validated(wide.train, wide.holdout, wide, budget, work, seed)})
    say(f"validation, wide: {points[-1].get('seconds')} s")
    return _growth(points, "train_rows",
                   "Train, holdout (1/4 the size) and synthetic rows grow together (records "
                   "drawn again are made distinct by their fnlwgt, so a copy copies one "
                   "record); the copy tests read every row, the distance tests at most "
                   f"{MAX_DISTANCE_ROWS:,} rows of each frame (detection 10,000 per side, DCR "
                   "10,000 synthetic rows). Leaks: the same synthetic rows with 1 % and 10 % "
                   "replaced by copied training records, and the gate's verdict on each.")


def _validated(train, holdout, dataset: bdata.Dataset, budget: Budget, work: Path,
               seed: int) -> dict:
    import numpy as np

    synthetic = bdata.independent_columns(train, dataset.schema, len(train),
                                          np.random.default_rng(seed + 2))
    payload = {"train": train, "holdout": holdout, "synthetic": synthetic,
               "schema": dataset.schema, "target": dataset.target, "seed": seed,
               "leaks": LEAK_SHARES}
    return _point(run_isolated("validate", payload, work, budget.worker_timeout,
                               budget.threads))


def _wide(dataset: bdata.Dataset, seed: int) -> bdata.Dataset:
    """Adult's columns seven times side by side (105 columns), each copy in its own row
    order: the wide case of the scale curves."""
    from pipeline.schema import detect_schema

    train = bdata.widen(dataset.train, WIDE_COPIES, seed)
    holdout = bdata.widen(dataset.holdout, WIDE_COPIES, seed + 1)
    schema = detect_schema(train, "adult_wide")
    return bdata.Dataset("adult_wide", dataset.source, schema, train, holdout,
                         f"{WIDE_COPIES} copies of Adult's columns", target=dataset.target)


def _point(result: dict) -> dict:
    keep = {k: v for k, v in result.items() if k != "status"}
    return {"status": result["status"], **keep}


def _growth(points: list[dict], size_key: str, note: str) -> dict:
    # the exponent is over the growth factors; the wide case is a point beside them
    ok = [p for p in points if p["status"] == "ok" and isinstance(p["factor"], int)]
    seconds_key = "fit_seconds" if ok and "fit_seconds" in ok[0] else "seconds"
    exponent = growth_exponent([p[size_key] for p in ok], [p[seconds_key] for p in ok])
    return {"points": points, "exponent": exponent, "note": note}


# --- the run ---------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    import psutil

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    memory = psutil.virtual_memory().total / 2**30
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cores": cores, "logical_cpus": os.cpu_count(), "memory_gb": round(memory, 1),
            "cpu_model": model, "platform": platform.platform(),
            "label": f"{platform.machine()}-{cores}cpu-{round(memory):d}gb"}


def versions() -> dict[str, str]:
    from importlib import metadata

    from pipeline.models.reproducibility import library_versions

    out = library_versions()
    for lib in ("sdmetrics", "scikit-learn", "matplotlib", "psutil"):
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            continue
    return out


def run_benchmark(
    budget: Budget, out_dir: Path = RESULTS, seed: int = SEED, contended: str | None = None
) -> tuple[dict[str, Any], dict[str, Path]]:
    started = time.perf_counter()
    load_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    info = machine()
    results: dict[str, Any] = {
        "meta": {"date": dt.date.today().isoformat(),
                 "started": dt.datetime.now().isoformat(timespec="seconds"),
                 "machine": info, "versions": versions(), "seed": seed,
                 "sample_seed": SAMPLE_SEED, "contended": contended},
        "budget": budget.to_dict(),
    }
    sections = budget.sections
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = Path(tmp)
        adult = None
        if {"tabular", "profile", "scale_sampling", "fit_growth", "validation_growth"} & set(
                sections):
            adult = bdata.load_adult(budget, seed)
        if "tabular" in sections:
            results["tabular"] = run_tabular(adult, budget, work, seed)
        if "timeseries" in sections:
            results["timeseries"] = [
                run_timeseries(loader(budget, seed), budget, work, seed)
                for loader in (bdata.load_nyc_weather, bdata.load_store_sales)
            ]
        if "tabular" in sections or "timeseries" in sections:
            results["ratios"] = ratios(results.get("tabular"), results.get("timeseries", []))
        if "profile" in sections:
            results["profiles"] = run_profiles(adult, budget, work, seed)
        scale: dict[str, Any] = {}
        if "scale_sampling" in sections:
            scale["sampling"] = run_scale_sampling(adult, budget, work, seed)
        if "fit_growth" in sections:
            scale["gmm_fit_growth"] = run_gmm_growth(adult, budget, work, seed)
            scale["hmm_fit_growth"] = run_hmm_growth(budget, work, seed)
        if "validation_growth" in sections:
            scale["validation_growth"] = run_validation_growth(adult, budget, work, seed)
        if scale:
            results["scale"] = scale
    if load_start is not None:
        results["meta"]["load_average"] = {"start": load_start, "end": os.getloadavg()[0]}
    results["seconds"] = round(time.perf_counter() - started, 1)
    stem = f"{results['meta']['date']}-{info['label']}"
    if budget.mode != "full":
        stem += f"-{budget.mode}"
    paths = write_outputs(_clean(results), out_dir, stem)
    return results, paths


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become null, numpy scalars plain numbers."""
    import math

    import numpy as np

    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items() if not str(k).startswith("_")}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--quick", action="store_true", help="minutes: subsamples, 1 repetition")
    mode.add_argument("--full", action="store_true", help="the published figures (< 1 h)")
    mode.add_argument("--render", type=Path, metavar="JSON",
                      help="only rewrite the Markdown (and latest.md) from a results JSON")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these sections")
    parser.add_argument("--contenders", nargs="+", help="only these contenders (by name)")
    parser.add_argument("--repetitions", type=int, help="override the budget's repetitions")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--contended", help="a note that other work shared the machine")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.render:
        paths = render(args.render)
        print(paths["markdown"].read_text())
        return 0
    budget = BUDGETS["full" if args.full else "quick"]
    changes: dict[str, Any] = {}
    if args.only:
        changes["sections"] = tuple(args.only)
    if args.contenders:
        changes["contenders"] = tuple(args.contenders)
    if args.repetitions:
        changes["repetitions"] = args.repetitions
    budget = budget.with_(**changes)
    _, paths = run_benchmark(budget, args.out, args.seed, args.contended)
    print(paths["markdown"].read_text())
    for kind, path in paths.items():
        print(f"{kind}: {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
