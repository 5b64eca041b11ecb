"""Deployments of the `synthesize` flow: one per job file, served from one process.

`synth serve` is for users without a work pool (flow.serve); `prefect.yaml` declares the
same deployments for a process work pool (`prefect deploy --all`). Either way a deployment
is named `synthesize/<job name>` and takes the whole job as its `job` parameter.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pipeline.config import JobConfig
from pipeline.errors import PipelineError

JOBS_DIR = Path("flows/jobs")


def job_files(paths: list[str] | None = None) -> list[Path]:
    files = [Path(p) for p in paths] if paths else sorted(JOBS_DIR.glob("*.yaml"))
    if not files:
        raise PipelineError(f"no job files given and none in {JOBS_DIR}/")
    return files


def build_deployments(paths: list[str] | None = None) -> list:
    from flows.synthesize import synthesize

    deployments = []
    for path in job_files(paths):
        job = JobConfig.from_yaml(path)
        deployments.append(synthesize.to_deployment(
            name=job.name, parameters={"job": job.model_dump(mode="json")},
            cron=job.schedule, description=f"synthesize from {path}",
            tags=["synth", job.name]))
    return deployments


PREFECT_YAML_HEAD = """\
# Generated from flows/jobs/ by `synth deployments --write`; edit the job files, not this.
# Deployments for a Prefect work pool (process type). `synth serve` serves the same
# deployments from one process without a pool; see README "Schedules and triggers".
#   prefect work-pool create synth-pool --type process
#   prefect deploy --all
#   prefect worker start --pool synth-pool
"""
WORK_POOL = "synth-pool"


def prefect_yaml(paths: list[str] | None = None) -> str:
    """prefect.yaml for the job files: the same deployments `synth serve` serves."""
    from prefect import __version__

    deployments = []
    for path in job_files(paths):
        job = JobConfig.from_yaml(path)
        given = job.model_dump(mode="json", exclude_unset=True, exclude={"schedule"})
        entry = {"name": job.name, "entrypoint": "flows/synthesize.py:synthesize",
                 "work_pool": {"name": WORK_POOL}, "description": f"synthesize from {path}",
                 "tags": ["synth", job.name]}
        if job.schedule:
            entry["schedules"] = [{"cron": job.schedule, "timezone": "UTC"}]
        entry["parameters"] = {"job": given}
        deployments.append(entry)
    body = {"name": "synth-pipeline", "prefect-version": __version__,
            "pull": [{"prefect.deployments.steps.set_working_directory":
                      {"directory": "{{ $PWD }}"}}],
            "deployments": deployments}
    return PREFECT_YAML_HEAD + yaml.safe_dump(body, sort_keys=False)


def serve_jobs(paths: list[str] | None = None) -> None:
    """Serve every job as a deployment from this process until interrupted."""
    from prefect import serve

    serve(*build_deployments(paths))


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """`key=value` pairs; values are read as YAML scalars (rows=100 -> 100)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise PipelineError(f"--param {pair!r}: write it as key=value, e.g. rows=1000")
        out[key.strip()] = yaml.safe_load(value) if value else None
    return out


def trigger(name: str, params: dict[str, Any], wait: bool = True, timeout: float = 3600):
    """Run deployment `synthesize/<name>` with its job updated by `params`, validated here
    first so a bad value is refused with the allowed ones before anything is scheduled."""
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound

    from flows.synthesize import synthesize

    full_name = f"{synthesize.name}/{name}"
    try:
        job = _deployment_job(full_name)
    except ObjectNotFound:
        raise PipelineError(
            f"no deployment {full_name!r} on the Prefect API; start `synth serve` (or "
            "`prefect deploy --all` with a worker) first, and check PREFECT_API_URL") from None
    job.update(params)
    checked = JobConfig.parse(job, where=f"parameters for {full_name}")
    return run_deployment(full_name, parameters={"job": checked.model_dump(mode="json")},
                          timeout=timeout if wait else 0)


def _deployment_job(full_name: str) -> dict[str, Any]:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(full_name)
    return dict(deployment.parameters.get("job", {}))
