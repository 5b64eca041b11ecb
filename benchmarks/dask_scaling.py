"""Wall time of whole flow runs on a real `distributed.LocalCluster` (worker processes, one
thread each) with 1 and 2 workers, against the same job on local threads and on the local
process pool that a run without a cluster uses.

Two jobs on Adult: `--rows` gmm rows in 1M-row shards (sampled and written by the workers),
and a several-model job (gmm + gaussian_copula, the fits run on the workers). A first run
fits the models; later runs reuse them, so the repeats time sampling, validation and
writing. Each configuration runs `--repeats` times, interleaved; medians are reported, and
every run's Parquet is checked to hold the same rows as the local run's.

Usage: .venv/bin/python -m benchmarks.dask_scaling [--rows N] [--repeats N]
Writes benchmarks/results/dask.json and dask.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.settings import RESULTS

ROOT = Path(__file__).resolve().parents[1]
ADULT = ROOT.parent / "shared" / "data" / "adult.csv"
OUT = "dask"
JOBS = {"10M gmm rows": {"models": ["gmm"]},
        "gmm + gaussian_copula": {"models": ["gmm", "gaussian_copula"], "rows": 200_000}}
SETUPS = ("local threads", "local processes", "dask 1 worker", "dask 2 workers")


def run_once(job_values: dict, setup: str) -> float:
    from distributed import LocalCluster

    from flows.synthesize import synthesize
    from pipeline.config import JobConfig
    from pipeline.sharding import available_cores

    workers = {"dask 1 worker": 1, "dask 2 workers": 2}.get(setup)
    started = time.perf_counter()
    if workers is None:
        synthesize(JobConfig.parse({**job_values, "processes": available_cores() if setup ==
                                    "local processes" else 1}))
    else:
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster:
            synthesize(JobConfig.parse({**job_values, "dask_address":
                                        cluster.scheduler_address}))
    return time.perf_counter() - started


def same_rows(output: Path) -> bool:
    """Every run of a job published the same rows, part by part."""
    import pandas as pd

    runs = sorted(output.glob("published/*/model=gmm/run=*"))
    first = [pd.read_parquet(p) for p in sorted(runs[0].glob("part-*.parquet"))]
    return all(all(a.equals(pd.read_parquet(b)) for a, b in
                   zip(first, sorted(run.glob("part-*.parquet")))) for run in runs[1:])


def measure(rows: int, repeats: int) -> dict:
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, extra in JOBS.items():
            output = Path(tmp) / label.replace(" ", "_")
            values = {"name": "adult_dask", "source": str(ADULT), "rows": rows,
                      "shard_rows": 1_000_000, "keep_runs": 100, "output_dir": str(output),
                      "schema_dir": str(output / "schemas"), "gx_dir": str(output / "gx"),
                      "validation_rows": 20_000, **extra}
            first_fit = run_once(values, "local threads")
            seconds = {s: [] for s in SETUPS}
            for _ in range(repeats):
                for setup in SETUPS:
                    seconds[setup].append(round(run_once(values, setup), 2))
            results[label] = {
                "rows": values["rows"], "models": values["models"],
                "first_run_with_fits_seconds": round(first_fit, 2), "seconds": seconds,
                "median_seconds": {s: statistics.median(v) for s, v in seconds.items()},
                "same_rows_in_every_run": same_rows(output),
            }
    return results


def write(results: dict, rows: int, repeats: int) -> None:
    record = {"machine": platform.node(), "cpus": os.cpu_count(),
              "date": time.strftime("%Y-%m-%d"), "rows": rows, "repeats": repeats,
              "jobs": results}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{OUT}.json").write_text(json.dumps(record, indent=2))
    lines = [f"# Flow runs on a Dask LocalCluster ({record['date']}, {record['cpus']} cores)",
             "", "Whole `synthesize` runs on Adult (models reused after the first run); "
             f"median of {repeats} interleaved runs; worker processes with one thread each; "
             "local processes: `processes:` set to the usable cores (a pool of local "
             "processes samples and writes the shards after the first).",
             "", "| job | " + " | ".join(SETUPS) + " | 2 workers / 1 | same rows |",
             "|---|" + "---|" * (len(SETUPS) + 2)]
    for label, r in results.items():
        m = r["median_seconds"]
        ratio = m["dask 2 workers"] / m["dask 1 worker"]
        lines.append(f"| {label} | " + " | ".join(f"{m[s]:.1f} s" for s in SETUPS)
                     + f" | {ratio:.2f} | {'yes' if r['same_rows_in_every_run'] else 'NO'} |")
    (RESULTS / f"{OUT}.md").write_text("\n".join(lines) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("PREFECT_HOME", str(ROOT / ".prefect"))
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        results = measure(args.rows, args.repeats)
    write(results, args.rows, args.repeats)
    print((RESULTS / f"{OUT}.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
