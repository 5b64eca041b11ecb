"""Our CTGAN and TVAE against SDV's, side by side in one run (`make bench-neural`).

Tables: Adult (the whole 80 % split) and two corpus tables (`benchmarks.corpus`, capped at
5,000 rows), each ingested, detected and split as the corpus does. Every fit runs in a fresh
process with the same thread count (`--threads`, default 1, set for torch, BLAS and OpenMP).

1. Time per epoch at identical settings: `ctgan` against `sdv_ctgan` and `tvae` against
   `sdv_tvae` (our registry's names for SDV's synthesizers under the same wrapper), same
   training rows, epochs, batch size 500 and seed, early stopping off. Seconds per epoch are
   the median gap between consecutive per-epoch log lines (the first epoch left out), so the
   preprocessing of either side is not in them; whole fit seconds are kept beside them.
   `--repeats` runs per contender, interleaved; medians reported.
2. Quality per minute: our default fit (early stopping, no parameters but the threads) against
   SDV's at the papers' 300 epochs, once per table: Column Shapes, Column Pair Trends,
   detection AUC, ML utility and the privacy figures of a run's validation
   (`benchmarks.corpus.score`), fit seconds.

Writes benchmarks/results/neural.{json,md} and the README's section between the
`neural:start` and `neural:end` markers; `--only-quality` / `--only-timing` / `--only-floor`
rerun a part and merge it into the JSON, and `--models` refits only those models in the
quality part (the others' rows are kept).

Run: .venv/bin/python -m benchmarks.neural [--threads 1] [--repeats 3] [--tables ...]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
TABLES = {"shared.adult": 50_000, "ggplot2.diamonds": 5_000, "Ecdat.Computers": 5_000}
PAIRS = (("ctgan", "sdv_ctgan"), ("tvae", "sdv_tvae"))
TIMING_EPOCHS = {"ctgan": 6, "tvae": 10}
PAPER_EPOCHS = 300
README_START, README_END = "<!-- neural:start -->", "<!-- neural:end -->"
BATCH = 500
KEPT = ("column_shapes", "column_pair_trends", "detection_auc", "ml_utility_real",
        "ml_utility_synthetic", "ml_utility_gap", "dcr_share", "exact_copy_rate",
        "singleton_value_share", "verdict", "reasons")


# --- one fit, in its own process ------------------------------------------------------------
def child(job: dict[str, Any]) -> dict[str, Any]:
    from importlib import import_module

    from benchmarks.contenders import MODEL_IMPORTS
    from benchmarks.corpus import TABLES as CORPUS
    from benchmarks.corpus import prepare, score
    from benchmarks.sdv_models_quality import EpochClock  # the time of every epoch's log line
    from pipeline.models import registry

    table = next(t for t in CORPUS if t.name == job["table"])
    split, _ = prepare(table, TABLES[job["table"]])
    for module in MODEL_IMPORTS.get(job["model"], ()):
        import_module(module)
    clock = EpochClock()
    logging.getLogger().addHandler(clock)
    logging.getLogger().setLevel(logging.INFO)
    model = registry.create(job["model"], **job["params"])
    started = time.perf_counter()
    model.fit(split.train, split.schema, seed=0)
    fit_seconds = time.perf_counter() - started
    gaps = [b - a for a, b in zip(clock.times[1:], clock.times[2:])]
    out = {**job, "train_rows": len(split.train), "fit_seconds": round(fit_seconds, 2),
           "epochs_run": len(model.loss_history),
           "seconds_per_epoch": round(statistics.median(gaps), 4) if gaps else None}
    training = model.card().get("training")
    if training:
        out["chosen_epoch"], out["stopped_by"] = training["chosen_epoch"], training["stopped_by"]
    if job["score"]:
        started = time.perf_counter()
        synthetic = model.sample(len(split.train), seed=0)
        out["sample_seconds"] = round(time.perf_counter() - started, 2)
        scored = score(split, synthetic)
        out.update({k: scored.get(k) for k in KEPT})
    return out


def run_child(job: dict[str, Any], threads: int) -> dict[str, Any]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "OPENBLAS_NUM_THREADS": str(threads)}
    done = subprocess.run([sys.executable, "-m", "benchmarks.neural", "--child", json.dumps(job)],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    lines = done.stdout.strip().splitlines()
    if done.returncode or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return {**job, "error": tail[0][:300]}
    return json.loads(lines[-1])


# --- the two parts --------------------------------------------------------------------------
def timing(tables: list[str], threads: int, repeats: int) -> list[dict[str, Any]]:
    rows = []
    for table in tables:
        for ours, theirs in PAIRS:
            params = {"epochs": TIMING_EPOCHS[ours], "batch_size": BATCH, "threads": threads,
                      "cuda": False}
            runs: dict[str, list[dict]] = {ours: [], theirs: []}
            for _ in range(repeats):  # interleaved, so drift on the machine hits both
                for name, extra in ((ours, {"early_stopping": False}), (theirs, {})):
                    result = run_child({"table": table, "model": name,
                                        "params": {**params, **extra}, "score": False}, threads)
                    runs[name].append(result)
                    print(f"  timing {table} {name}: {_brief(result)}", flush=True)
            rows.append({"table": table, "ours": ours, "theirs": theirs, "params": params,
                         "runs": runs, **_ratios(runs[ours], runs[theirs])})
    return rows


def _ratios(ours: list[dict], theirs: list[dict]) -> dict[str, Any]:
    def median(runs: list[dict], key: str) -> float | None:
        values = [r[key] for r in runs if r.get(key) is not None]
        return statistics.median(values) if values else None

    out = {}
    for key in ("seconds_per_epoch", "fit_seconds"):
        a, b = median(ours, key), median(theirs, key)
        out[f"ours_{key}"], out[f"theirs_{key}"] = a, b
        out[f"{key}_ratio"] = round(a / b, 3) if a and b else None
    return out


def quality(tables: list[str], threads: int, models: list[str] | None,
            previous: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every (table, model) fit, or only `models`' (the others' rows kept from `previous`)."""
    kept = {(r["table"], r["model"]): r for r in previous}
    rows = []
    for table in tables:
        for ours, theirs in PAIRS:
            for name, params in ((ours, {"threads": threads, "cuda": False}),
                                 (theirs, {"epochs": PAPER_EPOCHS, "threads": threads,
                                           "cuda": False})):
                if models and name not in models and (table, name) in kept:
                    rows.append(kept[(table, name)])
                    continue
                result = run_child({"table": table, "model": name, "params": params,
                                    "score": True}, threads)
                rows.append(result)
                print(f"  quality {table} {name}: {_brief(result)}", flush=True)
    return rows


def _brief(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"ERROR {result['error']}"
    text = f"fit {result['fit_seconds']} s, {result['epochs_run']} epochs"
    if result.get("seconds_per_epoch"):
        text += f", {result['seconds_per_epoch']} s/epoch"
    if result.get("column_shapes") is not None:
        text += (f", shapes {result['column_shapes']:.3f} pairs "
                 f"{result['column_pair_trends']:.3f} auc {result['detection_auc']:.3f}")
    return text


# --- the physical limit ---------------------------------------------------------------------
def floor(tables: list[str], threads: int) -> list[dict[str, Any]]:
    """Seconds per epoch if every matrix product ran at the rate this machine reaches on one
    product of the networks' own shapes: the multiply-adds of a step (forward, and backward at
    twice that; the critic's gradient penalty at six critic passes) over that rate."""
    import numpy as np
    import torch

    from benchmarks.corpus import TABLES as CORPUS
    from benchmarks.corpus import prepare
    from pipeline.models import registry
    from pipeline.models.neural.conditions import ConditionSampler
    from pipeline.models.neural.encoding import build_encoding

    torch.set_num_threads(threads)
    rows = []
    for table in tables:
        split, _ = prepare(next(t for t in CORPUS if t.name == table), TABLES[table])
        frame = split.train[split.schema.modelled_columns()]
        encoding = build_encoding(frame, split.schema, [], np.random.default_rng(0), 10)
        cond = ConditionSampler.build(encoding, encoding.encode(frame, np.random.default_rng(0))[1],
                                      True).width
        steps = max(1, len(frame) // BATCH)
        ctgan, tvae = registry.create("ctgan").settings, registry.create("tvae").settings
        rate = _gemm_rate(BATCH, encoding.width + cond + ctgan.embedding_dim, 256)
        flops = {"ctgan": _ctgan_flops(ctgan, encoding.width, cond),
                 "tvae": _tvae_flops(tvae, encoding.width)}
        for name, per_step in flops.items():
            rows.append({"table": table, "model": name, "gflop_per_step": round(per_step / 1e9, 3),
                         "gemm_gflops": round(rate / 1e9, 1),
                         "floor_seconds_per_epoch": round(per_step * steps / rate, 4)})
    return rows


def _dense(batch: int, widths: list[int]) -> float:
    return sum(2.0 * batch * a * b for a, b in zip(widths, widths[1:]))


def _ctgan_flops(s: Any, width: int, cond: int) -> float:
    inputs, generator = s.embedding_dim + cond, 0.0
    for dim in s.generator_dim:  # residual blocks: each one's input is all earlier outputs
        generator += 2.0 * BATCH * inputs * dim
        inputs += dim
    generator += 2.0 * BATCH * inputs * width
    critic = _dense(BATCH // s.pac, [(width + cond) * s.pac, *s.discriminator_dim, 1])
    # one generator pass and its backward; critic on fake and real with backward, the penalty,
    # and the generator step's critic pass with backward
    return 3 * generator + (2 * 3 + 6 + 3) * critic


def _tvae_flops(s: Any, width: int) -> float:
    encoder = _dense(BATCH, [width, *s.compress_dims]) + 2 * _dense(
        BATCH, [s.compress_dims[-1], s.embedding_dim])
    decoder = _dense(BATCH, [s.embedding_dim, *s.decompress_dims, width])
    return 3 * (encoder + decoder)


def _gemm_rate(rows: int, inner: int, outer: int, repeats: int = 200) -> float:
    """Multiply-add rate (FLOP/s) of one (rows x inner) @ (inner x outer) product."""
    import torch

    a, b = torch.randn(rows, inner), torch.randn(inner, outer)
    for _ in range(20):
        a @ b
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2.0 * rows * inner * outer * repeats / (time.perf_counter() - started)


# --- report ---------------------------------------------------------------------------------
def _f(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def markdown(results: dict[str, Any]) -> str:
    lines = [f"# Our CTGAN and TVAE against SDV's ({results['date']}, {results['machine']})", "",
             f"Threads: {results['threads']} for every fit (torch, BLAS, OpenMP), CPU only; each "
             "fit in a fresh process. Library versions: "
             + ", ".join(f"{k} {v}" for k, v in results["versions"].items()) + ".", ""]
    lines += ["## Time per epoch at identical settings", "",
              f"Batch size {BATCH}, seed 0, early stopping off; medians of "
              f"{results['repeats']} interleaved runs. Seconds per epoch exclude the first epoch "
              "and all preprocessing; fit seconds include them.", "",
              "| table | model | epochs | ours s/epoch | SDV s/epoch | ratio (target ≤ 0.2) | "
              "ours fit s | SDV fit s | fit ratio |", "|---|---|---|---|---|---|---|---|---|"]
    for row in results.get("timing", []):
        lines.append(
            f"| {row['table']} | {row['ours']} | {row['params']['epochs']} | "
            f"{_f(row['ours_seconds_per_epoch'])} | {_f(row['theirs_seconds_per_epoch'])} | "
            f"**{_f(row['seconds_per_epoch_ratio'])}** | {_f(row['ours_fit_seconds'], 1)} | "
            f"{_f(row['theirs_fit_seconds'], 1)} | {_f(row['fit_seconds_ratio'])} |")
    floor_rows = {(r["table"], r["model"]): r for r in results.get("floor", [])}
    if floor_rows:
        lines += ["", "Against the physical limit: the multiply-adds of one step (forward, "
                  "backward at twice that, the critic's gradient penalty at six critic passes) "
                  "at the rate one matrix product of the networks' shapes reaches here.", "",
                  "| table | model | GFLOP per step | GEMM GFLOP/s | floor s/epoch | ours / "
                  "floor | SDV / floor |", "|---|---|---|---|---|---|---|"]
        for row in results.get("timing", []):
            f = floor_rows.get((row["table"], row["ours"]))
            if not f:
                continue
            lines.append(
                f"| {row['table']} | {row['ours']} | {f['gflop_per_step']} | "
                f"{f['gemm_gflops']} | {_f(f['floor_seconds_per_epoch'], 4)} | "
                f"{_f(_div(row['ours_seconds_per_epoch'], f['floor_seconds_per_epoch']), 2)} | "
                f"{_f(_div(row['theirs_seconds_per_epoch'], f['floor_seconds_per_epoch']), 2)} |")
    lines += ["", "## Quality per minute: our default fit against SDV at 300 epochs", "",
              "Scored against the training rows as a run's validation scores them (detection "
              "AUC: 0.5 is best; ML utility: the synthetic-trained score on the real holdout).",
              "", "| table | model | epochs run (kept) | fit s | Column Shapes | Column Pair "
              "Trends | detection AUC | ML utility | DCR share | verdict |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for row in results.get("quality", []):
        if "error" in row:
            lines.append(f"| {row['table']} | {row['model']} | error: {row['error']} |||||||| ")
            continue
        kept = f" ({row['chosen_epoch']})" if row.get("chosen_epoch") else ""
        lines.append(
            f"| {row['table']} | {row['model']} | {row['epochs_run']}{kept} | "
            f"{_f(row['fit_seconds'], 1)} | {_f(row['column_shapes'])} | "
            f"{_f(row['column_pair_trends'])} | {_f(row['detection_auc'])} | "
            f"{_f(row['ml_utility_synthetic'])} | {_f(row['dcr_share'])} | {row['verdict']} |")
    lines += ["", "## Against the targets", ""] + [f"- {t}" for t in targets(results)]
    return "\n".join(lines) + "\n"


def _div(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def targets(results: dict[str, Any]) -> list[str]:
    out = []
    for row in results.get("timing", []):
        ratio = row["seconds_per_epoch_ratio"]
        if ratio is not None:
            out.append(f"{row['table']} {row['ours']}: time per epoch {ratio:.3f} of SDV's "
                       f"({'met' if ratio <= 0.2 else 'missed'}: ≤ 0.2)")
    by_key = {(r["table"], r["model"]): r for r in results.get("quality", []) if "error" not in r}
    for table in dict.fromkeys(r["table"] for r in results.get("quality", [])):
        for ours, theirs in PAIRS:
            a, b = by_key.get((table, ours)), by_key.get((table, theirs))
            if not a or not b:
                continue
            misses = [label for label, worse in (
                ("shapes", a["column_shapes"] < b["column_shapes"]),
                ("pairs", a["column_pair_trends"] < b["column_pair_trends"]),
                ("detection AUC", a["detection_auc"] > b["detection_auc"]),
                ("ML utility", (a["ml_utility_synthetic"] or 0) < (b["ml_utility_synthetic"] or 0)),
            ) if worse]
            share = a["fit_seconds"] / b["fit_seconds"]
            out.append(
                f"{table} {ours}: default fit {a['fit_seconds']:.0f} s = {share:.3f} of SDV's "
                f"300-epoch {b['fit_seconds']:.0f} s ({'met' if share <= 0.1 else 'missed'}: "
                f"≤ 0.1); quality at least SDV-300's on "
                + ("every metric" if not misses else f"all but {', '.join(misses)}"))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--child")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tables", nargs="+", default=list(TABLES))
    parser.add_argument("--only-timing", action="store_true")
    parser.add_argument("--only-quality", action="store_true")
    parser.add_argument("--only-floor", action="store_true")
    parser.add_argument("--models", nargs="+", help="refit only these in the quality part")
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(json.loads(args.child)), default=str))
        return
    from benchmarks.report import embed_in_readme
    from pipeline.models.reproducibility import library_versions

    path = RESULTS / "neural.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    results.update({
        "date": datetime.now(UTC).strftime("%Y-%m-%d"), "threads": args.threads,
        "repeats": args.repeats, "versions": library_versions(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                   f"{platform.python_version()}"})
    results["floor"] = floor(args.tables, args.threads)
    if not (args.only_quality or args.only_floor):
        results["timing"] = timing(args.tables, args.threads, args.repeats)
    if not (args.only_timing or args.only_floor):
        results["quality"] = quality(args.tables, args.threads, args.models,
                                     results.get("quality", []))
    RESULTS.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1, default=str))
    (RESULTS / "neural.md").write_text(markdown(results))
    if set(args.tables) == set(TABLES):  # a partial run never replaces the README's table
        section = markdown(results).split("\n", 1)[1].replace("\n## ", "\n### ")
        embed_in_readme(section, start=README_START, end=README_END)
    print(markdown(results))


if __name__ == "__main__":
    main()
