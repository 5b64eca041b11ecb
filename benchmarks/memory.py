"""Peak memory of the steps that grow with the data, each measured in a fresh process.

- ingest: `read_source` of a CSV of about `--csv-mb` MB (Adult's rows repeated), against the
  size of the file and of the frame it gives;
- hmm: a panel of `--short` entities of 10 steps and one of `--long` steps (two numeric
  columns and a category), fitted and sampled by the HMM at three states; the arrays of one
  pass padded to the longest entity are given beside it, as the figure grouping avoids;
- privacy: `privacy_metrics` on a table of `--rows` training rows and 50 columns (40 numeric,
  10 categorical of 50 categories), holdout a quarter of it, synthetic 10,000 rows; and the
  issue's 400,000 x 50 table with 500-category columns, which the distance space's limit
  refuses before allocating it.

Peak RSS is the child process's `ru_maxrss`: everything the step held at once, the
interpreter and libraries included (their share is the `baseline` row: imports only).

Usage: .venv/bin/python -m benchmarks.memory [--csv-mb N] [--short N] [--long N] [--rows N]
Writes benchmarks/results/memory.json and memory.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.settings import RESULTS

ROOT = Path(__file__).resolve().parents[1]
ADULT = ROOT.parent / "shared" / "data" / "adult.csv"
OUT = "memory"

CHILDREN = {
    "baseline": """
import pandas, numpy, pipeline.ingest, pipeline.models.hmm, pipeline.validation.privacy
result = {}
""",
    "ingest": """
from pipeline.ingest import read_source
frame, _ = read_source(ARGS["csv"])
result = {"rows": len(frame), "columns": frame.shape[1],
          "frame_bytes": int(frame.memory_usage(deep=True).sum())}
""",
    "hmm": """
import numpy as np, pandas as pd
from pipeline.models.hmm import HiddenMarkovModel
from pipeline.schema import detect_schema
rng = np.random.default_rng(0)
short, long = ARGS["short"], ARGS["long"]
lengths = np.r_[np.full(short, 10), long]
key = np.repeat(np.arange(len(lengths)), lengths)
step = np.concatenate([np.arange(n) for n in lengths])
level = rng.normal(size=len(lengths))[key]
frame = pd.DataFrame({"entity": key, "t": step,
                      "x": level + np.sin(step / 5) + rng.normal(0, 0.3, len(key)),
                      "y": rng.gamma(2, 1, len(key)),
                      "kind": rng.choice(["a", "b", "c"], len(key))})
schema = detect_schema(frame, "panel", sequence_key="entity", sequence_index="t")
model = HiddenMarkovModel(n_states=3).fit(frame, schema, seed=0)
out = model.sample(len(lengths), seed=1)
padded = len(lengths) * lengths.max() * 3 * 8 * 4  # emis, alpha, beta, posteriors
result = {"rows": len(frame), "entities": len(lengths), "sampled_rows": len(out),
          "one_padded_pass_bytes": int(padded)}
""",
    "privacy": """
import numpy as np, pandas as pd
from pipeline.errors import PipelineError
from pipeline.schema import detect_schema, enforce_schema
from pipeline.validation.privacy import privacy_metrics
def table(n, n_cat, n_categories, seed):
    rng = np.random.default_rng(seed)
    cols = {f"x{i}": rng.normal(size=n) for i in range(50 - n_cat)}
    cols |= {f"c{i}": rng.integers(0, n_categories, n).astype(str) for i in range(n_cat)}
    return pd.DataFrame(cols)
n, n_cat, n_categories = ARGS["rows"], ARGS["n_cat"], ARGS["n_categories"]
train = table(n, n_cat, n_categories, 0)
schema = detect_schema(train.head(20000), "wide")
train = enforce_schema(train, schema)
holdout = enforce_schema(table(n // 4, n_cat, n_categories, 1), schema)
synthetic = enforce_schema(table(10000, n_cat, n_categories, 2), schema)
try:
    privacy_metrics(train, synthetic, holdout, schema)
    result = {"outcome": "computed"}
except PipelineError as exc:
    result = {"outcome": "refused", "message": str(exc)}
result |= {"rows": n, "categorical_columns": n_cat, "categories": n_categories}
""",
}


def run_child(name: str, args: dict) -> dict:
    code = (f"import json, resource, time\nARGS = {args!r}\nstarted = time.perf_counter()\n"
            + CHILDREN[name]
            + "\nresult['seconds'] = round(time.perf_counter() - started, 1)"
            "\nresult['peak_rss_bytes'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss"
            " * 1024\nprint('RESULT ' + json.dumps(result))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=3600)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
    if done.returncode or not lines:
        return {"error": (done.stderr or done.stdout)[-2000:]}
    return json.loads(lines[-1][len("RESULT "):])


def write_csv(target: Path, megabytes: int) -> int:
    """Adult's data rows repeated after its header until the file reaches the size."""
    header, *rows = ADULT.read_bytes().splitlines(keepends=True)
    block = b"".join(rows)
    with target.open("wb") as out:
        out.write(header)
        while out.tell() < megabytes * 2**20:
            out.write(block)
    return target.stat().st_size


def gib(n: float) -> str:
    return f"{n / 2**30:.2f}"


def report(data: dict) -> str:
    r = data["results"]
    base = r["baseline"].get("peak_rss_bytes", 0)
    lines = [
        "# Peak memory of the steps that grow with the data", "",
        f"Generated by `python -m benchmarks.memory` ({data['updated']}; {data['machine']}). "
        "Each step runs in a fresh process; peak RSS is its `ru_maxrss`, interpreter and "
        f"libraries included (imports alone: {gib(base)} GiB). Seconds include building "
        "each case's table and detecting its schema in the child; on 2 shared cores.", "",
        "| step | input | seconds | peak RSS GiB | against |", "|---|---|---|---|---|",
    ]
    ing = r["ingest"]
    if "error" not in ing:
        lines.append(
            f"| ingest (`read_source`) | CSV of {gib(data['csv_bytes'])} GiB, "
            f"{ing['rows']:,} rows x {ing['columns']} | {ing['seconds']} | "
            f"{gib(ing['peak_rss_bytes'])} | {ing['peak_rss_bytes'] / data['csv_bytes']:.1f}x "
            f"the file, {ing['peak_rss_bytes'] / ing['frame_bytes']:.1f}x the frame "
            f"({gib(ing['frame_bytes'])} GiB) |")
    hmm = r["hmm"]
    if "error" not in hmm:
        lines.append(
            f"| hmm fit + sample | {hmm['entities'] - 1:,} entities x 10 steps + 1 x "
            f"{data['long']:,} ({hmm['rows']:,} rows) | {hmm['seconds']} | "
            f"{gib(hmm['peak_rss_bytes'])} | one pass padded to the longest would hold "
            f"{gib(hmm['one_padded_pass_bytes'])} GiB in its four arrays |")
    for key in ("privacy", "privacy_wide"):
        p = r[key]
        if "error" in p:
            continue
        what = (f"{p['rows']:,} train rows x 50 columns, {p['categorical_columns']} of "
                f"{p['categories']} categories")
        outcome = ("computed" if p["outcome"] == "computed"
                   else f"refused: {p['message'].split(':')[0]}")
        lines.append(f"| privacy metrics | {what} | {p['seconds']} | "
                     f"{gib(p['peak_rss_bytes'])} | {outcome} |")
    errors = [f"- {k}: {v['error'][-300:]}" for k, v in r.items() if "error" in v]
    return "\n".join(lines + ([""] + ["Errors:"] + errors if errors else []) + [""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv-mb", type=int, default=1024)
    parser.add_argument("--short", type=int, default=10_000)
    parser.add_argument("--long", type=int, default=50_000)
    parser.add_argument("--rows", type=int, default=400_000)
    args = parser.parse_args()
    results = {"baseline": run_child("baseline", {})}
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "big.csv"
        csv_bytes = write_csv(csv, args.csv_mb)
        results["ingest"] = run_child("ingest", {"csv": str(csv)})
    print("ingest", results["ingest"], flush=True)
    results["hmm"] = run_child("hmm", {"short": args.short, "long": args.long})
    print("hmm", results["hmm"], flush=True)
    results["privacy"] = run_child("privacy", {"rows": args.rows, "n_cat": 10,
                                               "n_categories": 50})
    print("privacy", results["privacy"], flush=True)
    results["privacy_wide"] = run_child("privacy", {"rows": 400_000, "n_cat": 50,
                                                    "n_categories": 500})
    data = {"updated": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": f"{platform.machine()}, {platform.python_version()}",
            "csv_bytes": csv_bytes, "long": args.long, "results": results,
            "self_peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
    (RESULTS / f"{OUT}.json").write_text(json.dumps(data, indent=2))
    (RESULTS / f"{OUT}.md").write_text(report(data))
    print(report(data))


if __name__ == "__main__":
    main()
