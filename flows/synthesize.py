"""The `synthesize` flow: one Prefect task per pipeline step; the logic lives in `pipeline/`.

Fits run in parallel on the flow's task runner. Model artifacts are cached by content
(pipeline.artifacts), so Prefect's own input hashing is switched off (NO_CACHE): it keys on
a DataFrame's memory layout and would miss identical data.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

# Show the pipeline's own log lines (fit progress, losses, verdicts) in Prefect's logs.
os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "pipeline")

import pandas as pd  # noqa: E402
from prefect import flow, get_run_logger, task  # noqa: E402
from prefect.cache_policies import NO_CACHE  # noqa: E402

from pipeline import publish as publishing  # noqa: E402
from pipeline.config import JobConfig  # noqa: E402
from pipeline.errors import PipelineError  # noqa: E402
from pipeline.schema import DatasetSchema  # noqa: E402


class ValidationFailed(PipelineError):
    """At least one model failed validation; carries the run summary for the CLI."""

    def __init__(self, message: str, summary: dict[str, Any]):
        super().__init__(message)
        self.summary = summary


def _retry_unless_user_error(task, task_run, state) -> bool:
    """Retry transient failures (network, disk) but never a user's mistake."""
    try:
        state.result()
    except PipelineError:
        return False
    except Exception:
        return True
    return False


@task(
    retries=2,
    retry_delay_seconds=2,
    retry_condition_fn=_retry_unless_user_error,
    cache_policy=NO_CACHE,
)
def ingest(source: str):
    from pipeline.ingest import read_source

    frame, report = read_source(source)
    get_run_logger().info("ingested %s: %s", source, report.summary())
    return frame, report


@task(cache_policy=NO_CACHE)
def prepare_schema(frame: pd.DataFrame, job: JobConfig) -> tuple[DatasetSchema, pd.DataFrame]:
    from pipeline.schema import enforce_schema, load_or_detect_schema

    schema, detected = load_or_detect_schema(
        frame, job.schema_path(), job.name, job.sequence_key, job.sequence_index
    )
    get_run_logger().info(
        "%s schema %s", "detected and saved" if detected else "loaded", job.schema_path()
    )
    if schema.is_time_series:
        from pipeline.timeseries import check_time_series

        check_time_series(frame, schema)
    return schema, enforce_schema(frame, schema, what=job.source)


@task(cache_policy=NO_CACHE)
def split(frame: pd.DataFrame, schema: DatasetSchema, job: JobConfig):
    from pipeline.split import split_train_holdout

    return split_train_holdout(frame, schema, job.holdout_fraction, job.seed)


@task(cache_policy=NO_CACHE)
def fit(model: str, train: pd.DataFrame, schema: DatasetSchema, job: JobConfig, fingerprint: str):
    from pipeline.artifacts import fit_or_load

    synthesizer, directory, reused = fit_or_load(
        model,
        job.model_params.get(model, {}),
        train,
        schema,
        job.seed,
        f"{job.output_dir}/models",
        source_fingerprint=fingerprint,
    )
    get_run_logger().info("%s: %s %s", model, "reused" if reused else "fitted", directory)
    return synthesizer, str(directory), reused


@task(cache_policy=NO_CACHE)
def sample(synthesizer, n: int, seed: int) -> pd.DataFrame:
    return synthesizer.sample(n, seed=seed)


@task(cache_policy=NO_CACHE)
def validate(synthetic, train, holdout, schema, model: str, run_id: str, job: JobConfig):
    from pipeline.validation.validate import validate_synthetic

    return validate_synthetic(
        synthetic,
        train,
        holdout,
        schema,
        model=model,
        run_id=run_id,
        gx_dir=job.gx_dir,
        threshold_overrides=job.thresholds,
        target=job.target,
        seed=job.seed,
    )


@task(
    retries=2,
    retry_delay_seconds=2,
    retry_condition_fn=_retry_unless_user_error,
    cache_policy=NO_CACHE,
)
def publish(synthetic, result, report_html: str, lineage: dict, job: JobConfig, run_id: str):
    return publishing.publish(
        synthetic,
        output_dir=job.output_dir,
        dataset=job.name,
        model=result.model,
        run_id=run_id,
        lineage=lineage,
        quarantine=result.verdict == "fail",
        report_html=report_html,
    )


@flow(name="synthesize", validate_parameters=True)
def synthesize(job: JobConfig) -> dict[str, Any]:
    """Ingest -> schema -> split -> fit (parallel) -> sample -> validate -> publish."""
    from prefect.runtime import flow_run

    run_id = make_run_id(flow_run.get_id())
    frame, ingest_report = ingest(job.source)
    schema, frame = prepare_schema(frame, job)
    train, holdout, split_method = split(frame, schema, job)
    n = job.rows or default_sample_size(train, schema)
    fits = {m: fit.submit(m, train, schema, job, ingest_report.fingerprint) for m in job.models}
    results = []
    for future in fits.values():
        synthesizer, artifact_dir, reused = future.result()
        results.append(
            _sample_validate_publish(
                synthesizer,
                artifact_dir,
                reused,
                n,
                train,
                holdout,
                schema,
                split_method,
                ingest_report,
                job,
                run_id,
            )
        )
    summary = build_summary(job, run_id, ingest_report, schema, split_method, results)
    from flows.reporting import announce

    announce(summary)
    failed = [r for r in results if r["verdict"] == "fail"]
    if failed:
        raise ValidationFailed(
            "; ".join(
                f"{r['model']} failed validation: {'; '.join(r['reasons'][:3])}" for r in failed
            ),
            summary,
        )
    return summary


def _sample_validate_publish(
    synthesizer,
    artifact_dir,
    reused,
    n,
    train,
    holdout,
    schema,
    split_method,
    ingest_report,
    job,
    run_id,
) -> dict[str, Any]:
    from pipeline.models.base import library_versions
    from pipeline.report import render_report

    model = synthesizer.name
    synthetic = sample(synthesizer, n, job.seed)
    result = validate(synthetic, train, holdout, schema, model, run_id, job)
    lineage = {
        "run_id": run_id,
        "dataset": job.name,
        "model": model,
        "seed": job.seed,
        "source": job.source,
        "source_fingerprint": ingest_report.fingerprint,
        "verdict": result.verdict,
        "model_artifact": artifact_dir,
        "library_versions": library_versions(),
        "parameters": job.model_params.get(model, {}),
    }
    html = render_report(
        dataset=job.name,
        model=model,
        run_id=run_id,
        verdict=result.verdict,
        reasons=result.reasons,
        metric_rows=result.metric_rows(),
        real=train,
        synthetic=synthetic,
        schema=schema,
        split_method=split_method,
        distances=result.distances,
        loss_history=synthesizer.loss_history,
        failed_expectations=result.failed_expectations,
        lineage=lineage,
    )
    manifest = publish(synthetic, result, html, lineage, job, run_id)
    return {
        "model": model,
        "verdict": result.verdict,
        "reasons": result.reasons,
        "rows": len(synthetic),
        "path": manifest["path"],
        "manifest": f"{manifest['path']}/{publishing.MANIFEST}",
        "report": f"{manifest['path']}/{publishing.REPORT}",
        "metrics": result.metrics,
        "metric_rows": result.metric_rows(),
        "validation_seconds": result.seconds,
        "fit_seconds": synthesizer.fit_seconds,
        "reused_model": reused,
        "docs": result.docs_url,
    }


def default_sample_size(train: pd.DataFrame, schema: DatasetSchema) -> int:
    if schema.is_time_series and schema.sequence_key:
        return int(train[schema.sequence_key].nunique())
    if schema.is_time_series:
        return 1
    return len(train)


def make_run_id(flow_run_id: str | None) -> str:
    """Sortable by time, and traceable to the Prefect flow run."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{(flow_run_id or 'local')[:8]}"


def build_summary(job, run_id, ingest_report, schema, split_method, results) -> dict[str, Any]:
    return {
        "dataset": job.name,
        "run_id": run_id,
        "source": job.source,
        "ingest": ingest_report.summary(),
        "schema": str(job.schema_path()),
        "split": split_method,
        "models": results,
    }
