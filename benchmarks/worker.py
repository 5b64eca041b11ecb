"""Run one benchmark task in a fresh Python process and report the process's peak memory.

A fresh process per contender (and per repetition) makes peak RSS mean something: it is the
high-water mark of that process alone (imports, data, model, sample), not of everything the
harness did before. The parent pickles the task's input, the child pickles its result.

    python -m benchmarks.worker TASK INPUT.pkl OUTPUT.pkl
"""

from __future__ import annotations

import os
import pickle
import resource
import subprocess
import sys
import time
import traceback
import uuid
from importlib import import_module
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

TASKS = {
    "fit_sample": "benchmarks.contenders:fit_and_sample",
    "profile": "benchmarks.profiling:profile_fit",
    "scale_sample": "benchmarks.scale:sample_to_parquet",
    "scale_sample_processes": "benchmarks.scale:sample_in_processes",
    "fit_only": "benchmarks.scale:fit_only",
    "validate": "benchmarks.scale:validate",
}
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB.

    Linux: VmHWM, the high-water mark of the current address space. Not ru_maxrss: Linux
    carries that across fork and exec, so a fresh worker would report the harness's own RSS
    at the moment it started the worker.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)  # kB
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def run_isolated(
    task: str, payload: dict[str, Any], workdir: Path, timeout: int, threads: int = 1
) -> dict[str, Any]:
    """Run `task` in a child process; always returns a dict with `status` ('ok', 'skipped' or
    'failed', the latter two with a `reason`)."""
    workdir.mkdir(parents=True, exist_ok=True)
    stem = workdir / f"{task}-{uuid.uuid4().hex[:8]}"
    in_path, out_path = stem.with_suffix(".in.pkl"), stem.with_suffix(".out.pkl")
    with in_path.open("wb") as fh:
        pickle.dump(payload, fh, protocol=pickle.HIGHEST_PROTOCOL)
    # every contender gets the same thread count: torch and BLAS read these at start-up
    env = {**os.environ, **{name: str(threads) for name in THREAD_VARIABLES}}
    env.setdefault("MPLBACKEND", "Agg")
    command = [sys.executable, "-m", "benchmarks.worker", task, str(in_path), str(out_path)]
    started = time.perf_counter()
    try:
        done = subprocess.run(
            command, cwd=ROOT, env=env, timeout=timeout, capture_output=True, text=True
        )
    except subprocess.TimeoutExpired:
        _remove(in_path, out_path)
        return {"status": "failed", "reason": f"ran past the {timeout} s limit for one process"}
    seconds = round(time.perf_counter() - started, 2)
    if out_path.exists():
        with out_path.open("rb") as fh:
            result = pickle.load(fh)  # noqa: S301 - written by our own child process
    else:
        tail = (done.stderr or done.stdout or "").strip().splitlines()[-3:]
        result = {"status": "failed",
                  "reason": f"worker exited {done.returncode}: {' | '.join(tail)}"}
    _remove(in_path, out_path)
    result["process_seconds"] = seconds
    return result


def _remove(*paths: Path) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def _resolve(task: str):
    module, _, name = TASKS[task].partition(":")
    return getattr(import_module(module), name)


def main(argv: list[str]) -> int:
    task, in_path, out_path = argv
    with open(in_path, "rb") as fh:
        payload = pickle.load(fh)  # noqa: S301 - written by the parent harness
    try:
        result = _resolve(task)(payload)
        result.setdefault("status", "ok")
    except ImportError as exc:  # a contender whose module has not landed yet
        result = {"status": "skipped", "reason": f"{type(exc).__name__}: {exc}"}
    except Exception as exc:  # noqa: BLE001 - reported, the run goes on with the others
        last = traceback.format_exc().strip().splitlines()[-4:]
        result = {"status": "failed", "reason": f"{type(exc).__name__}: {exc}",
                  "traceback": last}
    # helper processes a library may start (joblib's loky workers) are not in this figure
    result["peak_rss_mb"] = peak_rss_mb()
    tmp = out_path + ".tmp"
    with open(tmp, "wb") as fh:
        pickle.dump(result, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, out_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
