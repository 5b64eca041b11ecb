"""Faults a deployment meets: a healthy run's output, a full disk, a run killed mid-write,
two runs of one job at once. Each is a real process and a real filesystem error."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipeline import catalog, cli

ROOT = Path(__file__).resolve().parents[1]
SYNTH = [sys.executable, "-m", "pipeline.cli"]


def user_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a user who runs synth without make: no analytics switches, no
    Prefect server configured, a Prefect home of their own."""
    env = {k: v for k, v in os.environ.items()
           if k not in cli.ENV_DEFAULTS and not k.startswith("PREFECT_")}
    return {**env, "PREFECT_HOME": str(home / ".prefect"),
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180", **extra}


def test_a_healthy_run_prints_no_error_and_no_traceback(tmp_path):
    result = subprocess.run([*SYNTH, "demo"], cwd=tmp_path, env=user_env(tmp_path),
                            capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "gmm  ->  PASS" in result.stdout
    assert "ERROR" not in output and "Traceback" not in output, output


def test_a_prefect_home_that_is_not_a_folder_is_refused_before_any_server_starts(tmp_path):
    (tmp_path / "home").write_text("not a folder")
    env = user_env(tmp_path)
    env["PREFECT_HOME"] = str(tmp_path / "home")
    result = subprocess.run([*SYNTH, "demo"], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == cli.EXIT_USER_ERROR
    assert result.stderr.strip().splitlines() == [
        f"error: PREFECT_HOME {tmp_path / 'home'} is not a writable folder, and Prefect's "
        "temporary server keeps its database there: point PREFECT_HOME at a folder you can "
        "write, or set PREFECT_API_URL to a running Prefect server"]


# --- a full disk ------------------------------------------------------------------------------
# The kernel refuses writes past RLIMIT_FSIZE with EFBIG, as a full disk refuses them with
# ENOSPC; the child sets its own limit so nothing else in the test process is affected.
FULL_DISK_CHILD = """
import resource, sys
from pathlib import Path
import numpy as np, pandas as pd
from pipeline.errors import PipelineError
from pipeline.publish import Publication

resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, resource.RLIM_INFINITY))
frame = pd.DataFrame(np.random.default_rng(0).normal(size=(100_000, 4)), columns=list("abcd"))
publication = Publication(Path(sys.argv[1]), "wide", "gmm", "r1", {"run_id": "r1"})
publication.write_part(0, frame.head(1000))  # fits
try:
    publication.write_part(1, frame)
except PipelineError as exc:
    print("REFUSED", exc)
print("STAGED", sorted(p.name for p in publication.staging.iterdir()))
resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
publication.write_part(1, frame)  # room again: the same write succeeds
print("PUBLISHED", publication.finalise(quarantine=False)["rows"])
"""


def test_a_full_disk_is_a_clear_error_that_leaves_no_partial_file(tmp_path):
    result = subprocess.run([sys.executable, "-c", FULL_DISK_CHILD, str(tmp_path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(" ", 1) for line in result.stdout.strip().splitlines())
    assert "File too large" in lines["REFUSED"] and "free space" in lines["REFUSED"]
    assert lines["STAGED"] == "['part-00000.parquet']"  # no half-written part, no temp file
    assert lines["PUBLISHED"] == "101000"


# --- a run killed mid-write, two runs at once ----------------------------------------------------
def _big_job(tmp_path: Path, adult_path: Path, name: str, rows: int) -> Path:
    job = {"name": name, "source": str(adult_path), "models": ["gmm"], "rows": rows,
           "shard_rows": 50_000, "output_dir": str(tmp_path / "data"),
           "schema_dir": str(tmp_path / "schemas"), "gx_dir": str(tmp_path / "gx")}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(job))
    return path


def _published_parts(tmp_path: Path, name: str) -> list[Path]:
    return sorted((tmp_path / "data" / "published" / name).rglob("*.parquet"))


@pytest.mark.slow
def test_a_run_killed_mid_write_publishes_nothing_and_the_rerun_publishes(tmp_path, adult_path):
    job = _big_job(tmp_path, adult_path, "adult_kill", rows=2_000_000)
    staging = tmp_path / "data" / ".staging" / "adult_kill"
    run = subprocess.Popen([*SYNTH, "run", str(job)], cwd=tmp_path, env=user_env(tmp_path),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           start_new_session=True)
    deadline = time.monotonic() + 500
    while not list(staging.rglob("part-*.parquet")):
        assert run.poll() is None, run.stdout.read().decode()
        assert time.monotonic() < deadline, "no part was staged in time"
        time.sleep(0.2)
    os.killpg(run.pid, signal.SIGKILL)  # the run and its temporary Prefect server
    run.wait()
    assert not _published_parts(tmp_path, "adult_kill")
    assert not (tmp_path / "data" / "published" / "adult_kill" / "_latest.json").exists()
    # the dead run's staging goes once it has been idle long enough to be taken for abandoned
    old = time.time() - 7 * 3600
    for path in staging.rglob("*"):
        os.utime(path, (old, old))
    for folder in staging.glob("model=*/run=*"):
        os.utime(folder, (old, old))
    job.write_text(job.read_text().replace("rows: 2000000", "rows: 60000"))
    rerun = subprocess.run([*SYNTH, "run", str(job)], cwd=tmp_path, env=user_env(tmp_path),
                           capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "removed abandoned staging" in rerun.stderr
    assert len(pd.read_parquet(tmp_path / "data" / "published" / "adult_kill" / "current")) == (
        60_000)
    assert len(list((tmp_path / "data" / "published" / "adult_kill").glob("model=*/run=*"))) == 1
    assert not list(staging.rglob("*.parquet"))


@pytest.mark.slow
def test_two_runs_of_one_job_at_once_both_publish_their_own_run(tmp_path, adult_path):
    job = _big_job(tmp_path, adult_path, "adult_twice", rows=120_000)
    # a cron run and a trigger: the same job, each run with its own Prefect process
    runs = [subprocess.Popen([*SYNTH, "run", str(job)], cwd=tmp_path,
                             env=user_env(tmp_path / f"user{i}"), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
            for i in range(2)]
    outputs = [run.communicate(timeout=900)[0] for run in runs]
    for run, output in zip(runs, outputs):
        assert run.returncode == 0, output
        assert "Traceback" not in output
    manifests = sorted((tmp_path / "data" / "published" / "adult_twice").rglob("_manifest.json"))
    assert len(manifests) == 2
    for manifest in manifests:
        on_disk = json.loads(manifest.read_text())
        assert on_disk["rows"] == 120_000 and len(on_disk["files"]) == 3
    every_run = (tmp_path / "data" / "published" / "adult_twice").glob("model=*/run=*/*.parquet")
    assert sum(len(pd.read_parquet(p)) for p in every_run) == 240_000
    runs = catalog.runs(tmp_path / "data", "adult_twice")  # both recorded, one of them current
    assert len(runs) == 2 and sum(r["current"] for r in runs) == 1


# GX rewrites its project config in place each time a run opens it or adds an asset; in the
# probe of 43 unseen tables, two runs of different jobs at once failed one of them (a half-
# written config). Both processes open the project and add assets, in step, for a few seconds.
_GX_HAMMER = """
import sys, time
import great_expectations
from pipeline.validation import suites
gx_dir, name, start = sys.argv[1], sys.argv[2], float(sys.argv[3])
time.sleep(max(0.0, start - time.time()))
added, end = 0, time.time() + 4
while time.time() < end:
    with suites.project(gx_dir) as context:
        context.data_sources.add_or_update_pandas("synth").add_dataframe_asset(f"{name}.{added}")
    added += 1
print("added", added)
"""


def test_two_runs_of_different_jobs_share_the_great_expectations_project(tmp_path):
    start = time.time() + 15  # after both have imported GX
    runs = [subprocess.Popen([sys.executable, "-c", _GX_HAMMER, str(tmp_path / "gx"), name,
                              str(start)], cwd=ROOT, env=user_env(tmp_path),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for name in ("adult", "weather")]
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    for run, output in zip(runs, outputs):
        assert run.returncode == 0 and "added" in output, output
