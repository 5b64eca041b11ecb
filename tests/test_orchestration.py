"""Prefect orchestration: served deployments and triggers, Dask workers, retries, subflows.

All against one real Prefect server (the session's test harness); served flows and Dask
workers run in other processes that reach it through PREFECT_API_URL, as a user's would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import fsspec
import pandas as pd
import pytest
import yaml
from fsspec.implementations.local import LocalFileSystem

from pipeline import cli
from pipeline.config import JobConfig

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("prefect_server")


@pytest.fixture
def api_env(monkeypatch):
    """Make the harness's server reachable from child processes (served runs, Dask workers)."""
    from prefect.settings import PREFECT_API_URL

    monkeypatch.setenv("PREFECT_API_URL", PREFECT_API_URL.value())
    return dict(os.environ)


def _demo_job(tmp: Path, **extra) -> dict:
    source = cli.write_demo_data(tmp / "data")
    return {"name": "students", "source": str(source), "models": ["gmm"],
            "output_dir": str(tmp / "data"), "schema_dir": str(tmp / "schemas"),
            "gx_dir": str(tmp / "gx"), **extra}


@pytest.mark.slow  # a served deployment and its worker: a minute and a half here
def test_served_deployment_runs_when_triggered_with_parameters(in_project, api_env):
    from flows.deployments import _deployment_job, trigger

    job_file = in_project / "students.yaml"
    job_file.write_text(yaml.safe_dump(_demo_job(in_project, schedule="0 3 * * *")))
    env = {**api_env, "PREFECT_RUNNER_POLL_FREQUENCY": "2"}
    server = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "serve", str(job_file)],
                              cwd=in_project, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                _deployment_job("synthesize/students")
                break
            except Exception:
                assert server.poll() is None, server.stdout.read()
                assert time.monotonic() < deadline, "deployment never appeared"
                time.sleep(2)
        with pytest.raises(Exception, match=r"unknown model\(s\) \['nope'\]"):
            trigger("students", {"models": "nope"})  # refused before anything is scheduled
        flow_run = trigger("students", {"rows": 40, "seed": 3}, timeout=420)
        assert flow_run.state.is_completed(), flow_run.state
        parts = list((in_project / "data/published/students").rglob("part-*.parquet"))
        assert len(parts) == 1 and len(pd.read_parquet(parts[0])) == 40
        # samples on demand reach a served deployment as trigger parameters
        flow_run = trigger("students", {"rows": 120, "conditions": {"gender": "F"}},
                           timeout=420)
        assert flow_run.state.is_completed(), flow_run.state
        asked = [p for p in (in_project / "data/published/students").rglob("part-*.parquet")
                 if p not in parts]
        (part,) = asked
        rows = pd.read_parquet(part)
        assert len(rows) == 120 and (rows["gender"] == "F").all()
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.slow  # a distributed.LocalCluster, as #20 asks of `make test-all`
def test_fits_and_shards_run_on_a_dask_cluster(in_project, api_env):
    from distributed import LocalCluster

    from flows.synthesize import synthesize

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        # gaussian_copula: GMM output validated at 1,000 rows against this 172-row training
        # set fails the DCR gate (a real signal, see README); this test is about Dask
        job = JobConfig.parse(_demo_job(in_project, rows=2500, shard_rows=1000,
                                        models=["gaussian_copula"],
                                        dask_address=cluster.scheduler_address))
        summary = synthesize(job)
    (result,) = summary["models"]
    assert result["parts"] == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    frame = pd.read_parquet(result["path"])
    assert len(frame) == 2500
    assert frame["student_id"].is_unique  # ids stay unique across shards
    # seeded shards: the second and third shard are not copies of the first
    first, second = (pd.read_parquet(Path(result["path"]) / p) for p in result["parts"][:2])
    assert not first.drop(columns="student_id").reset_index(drop=True).equals(
        second.drop(columns="student_id").iloc[:1000].reset_index(drop=True))
    # the same seed gives the same rows, part by part, on local threads as on two workers
    local = synthesize(job.model_copy(update={"dask_address": None}))  # the model reused
    here = local["models"][0]
    assert here["parts"] == result["parts"]
    same = [pd.read_parquet(Path(here["path"]) / part).equals(
        pd.read_parquet(Path(result["path"]) / part)) for part in result["parts"]]
    assert all(same), same


@pytest.mark.slow  # a process pool booting beside a flow: CI's bound; make test-all
def test_shards_on_local_processes_are_the_rows_threads_write(in_project, api_env):
    """Without a Dask cluster, shards after the first are sampled and written by a local
    process pool (sampling holds the GIL); the same seed gives the same parts as threads."""
    from flows.synthesize import synthesize

    job = JobConfig.parse(_demo_job(in_project, rows=3500, shard_rows=1000, processes=2))
    pooled = synthesize(job)["models"][0]
    threads = synthesize(job.model_copy(update={"processes": 1}))["models"][0]
    assert pooled["parts"] == threads["parts"] == [f"part-{i:05d}.parquet" for i in range(4)]
    for part in pooled["parts"]:
        assert pd.read_parquet(Path(pooled["path"]) / part).equals(
            pd.read_parquet(Path(threads["path"]) / part)), part
    frame = pd.read_parquet(pooled["path"])
    assert len(frame) == 3500 and frame["student_id"].is_unique


class FlakyFileSystem(LocalFileSystem):
    """A store that drops the first connection, as object stores do now and then."""

    protocol = "flaky"
    opened = 0

    def _open(self, path, *args, **kwargs):
        FlakyFileSystem.opened += 1
        if FlakyFileSystem.opened == 1:
            raise ConnectionResetError("connection reset by peer")
        return super()._open(path.replace("flaky://", ""), *args, **kwargs)


@pytest.mark.slow  # keeps the default run inside CI's bound; make test-all
def test_a_transient_read_error_is_retried(in_project):
    from flows.synthesize import synthesize

    fsspec.register_implementation("flaky", FlakyFileSystem, clobber=True)
    FlakyFileSystem.opened = 0
    job = _demo_job(in_project)
    job["source"] = "flaky://" + str(Path(job["source"]).resolve())
    summary = synthesize(JobConfig.parse(job))
    assert FlakyFileSystem.opened == 2  # failed once, succeeded on the retry
    assert summary["models"][0]["verdict"] in ("pass", "warn")


@pytest.mark.slow  # keeps the default run inside CI's bound; make test-all
def test_synthesize_many_runs_each_job_as_a_subflow(in_project):
    from flows.synthesize import synthesize_many

    first = _demo_job(in_project, name="students_a")
    second = _demo_job(in_project, name="students_b", models=["gaussian_copula"])
    paths = []
    for job in (first, second):
        path = in_project / f"{job['name']}.yaml"
        path.write_text(yaml.safe_dump(job))
        paths.append(str(path))
    summaries = synthesize_many(paths)
    assert [s["dataset"] for s in summaries] == ["students_a", "students_b"]
    assert [s["models"][0]["model"] for s in summaries] == ["gmm", "gaussian_copula"]


def test_prefect_yaml_is_generated_from_the_job_files(monkeypatch):
    """`prefect deploy` and `synth serve` run the same jobs: the file is their output."""
    from flows.deployments import prefect_yaml

    monkeypatch.chdir(ROOT)
    assert (ROOT / "prefect.yaml").read_text() == prefect_yaml(), (
        "prefect.yaml is stale: run `synth deployments --write`")


def test_a_bad_threshold_is_refused_before_anything_runs():
    from pipeline.config import JobConfig
    from pipeline.errors import PipelineError

    with pytest.raises(PipelineError, match="unknown metric 'column_shape'"):
        JobConfig.parse({"name": "x", "source": "missing.csv",
                         "thresholds": {"column_shape": {"min_value": 0.9}}})
    with pytest.raises(PipelineError, match="unknown bound"):
        JobConfig.parse({"name": "x", "source": "missing.csv",
                         "thresholds": {"column_shapes": {"minimum": 0.9}}})
