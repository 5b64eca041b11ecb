"""The `synthesize` flow: one Prefect task per pipeline step; the logic lives in `pipeline/`.

Fits run in parallel on the flow's task runner. Model artifacts are cached by content
(pipeline.artifacts), so Prefect's own input hashing is switched off (NO_CACHE): it keys on
a DataFrame's memory layout and would miss identical data.
"""

from __future__ import annotations

import contextlib
import os
from datetime import UTC, datetime
from pathlib import Path
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
from pipeline.sharding import Shard, plan_shards  # noqa: E402


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
    from pipeline.schema.period_index import PERIOD, with_period

    key, index = job.sequence_key, job.sequence_index
    detecting_series = not job.schema_path().exists() and _only_time_series(job.models)
    if detecting_series and index in (None, PERIOD):
        frame = with_period(frame)  # a Year and a Month column: a date for each row
    if detecting_series and index is None:
        from pipeline.timeseries import infer_sequence_fields

        key, index = infer_sequence_fields(frame)
        get_run_logger().info("time series inferred: sequence_key=%s, sequence_index=%s "
                              "(set them in the job to choose others)", key, index)
    schema, detected = load_or_detect_schema(frame, job.schema_path(), job.name, key, index)
    get_run_logger().info(
        "%s schema %s", "detected and saved" if detected else "loaded", job.schema_path()
    )
    if schema.is_time_series:
        from pipeline.schema.period_index import with_composed
        from pipeline.timeseries import check_time_series

        frame = with_composed(frame, schema, job.source)
        check_time_series(frame, schema)
    from pipeline.validation.validate import check_settings

    check_settings(schema, job.target, job.quasi_identifiers)  # before any fit
    return schema, enforce_schema(frame, schema, what=job.source)


@task(cache_policy=NO_CACHE)
def check_request(frame: pd.DataFrame, schema: DatasetSchema, job: JobConfig):
    """The job's sample on demand, refused here (before any fit) if it cannot be met."""
    return job.request().checked(schema, frame, job.models)


@task(cache_policy=NO_CACHE)
def split(frame: pd.DataFrame, schema: DatasetSchema, job: JobConfig):
    from pipeline.split import split_train_holdout

    return split_train_holdout(frame, schema, job.holdout_fraction, job.seed)


@task(cache_policy=NO_CACHE)
def fit(model: str, train: pd.DataFrame, schema: DatasetSchema, job: JobConfig, fingerprint: str,
        params: dict[str, Any] | None = None, source: pd.DataFrame | None = None):
    """The job's model fitted (or reused); `params` replace the job's (a private retry). No
    synthetic id takes one of `source`'s (every real row, the held-out ones too)."""
    from pipeline.artifacts import fit_or_load

    synthesizer, directory, reused = fit_or_load(
        model,
        job.model_params.get(model, {}) if params is None else params,
        train,
        schema,
        job.seed,
        f"{job.output_dir}/models",
        source_fingerprint=fingerprint,
    )
    if source is not None:
        synthesizer.avoid_ids(source)
    get_run_logger().info("%s: %s %s", model, "reused" if reused else "fitted", directory)
    return synthesizer, str(directory), reused


@task(cache_policy=NO_CACHE)
def sample(synthesizer, rows: int, seed: int, request) -> pd.DataFrame:
    return request.sample(synthesizer, rows, seed)


@task(retries=2, retry_delay_seconds=2, retry_condition_fn=_retry_unless_user_error,
      cache_policy=NO_CACHE)
def write_shard(synthesizer, shard: Shard, publication: publishing.Publication, request,
                frame: pd.DataFrame | None = None, pool=None) -> str:
    """Sample one seeded shard (unless given: the first, sampled for validation with ids
    from 0) and stage it as one Parquet part, here or on the local process `pool`."""
    from pipeline.shard_pool import stage_shard

    if pool is not None and frame is None:
        return pool.write(synthesizer, shard, publication, request)
    return stage_shard(synthesizer, shard, publication, request, frame)


@task(cache_policy=NO_CACHE)
def validate(synthetic, train, holdout, schema, model: str, run_id: str, job: JobConfig,
             holdout_split, request):
    from pipeline.validation.validate import validate_synthetic

    return validate_synthetic(
        synthetic, train, holdout, schema, model=model, run_id=run_id, gx_dir=job.gx_dir,
        threshold_overrides=job.thresholds, target=job.target, seed=job.seed,
        exchangeable_holdout=holdout_split.exchangeable,
        quasi_identifiers=job.quasi_identifiers, request=request.label())


@task(retries=2, retry_delay_seconds=2, retry_condition_fn=_retry_unless_user_error,
      cache_policy=NO_CACHE)
def finish(publication: publishing.Publication, verdict: str, report_html: str):
    return publication.finalise(quarantine=verdict == "fail", report_html=report_html)


def _only_time_series(models: list[str]) -> bool:
    from pipeline.models.registry import names

    return set(models) <= set(names(time_series=True)) - set(names(time_series=False))


def task_runner_for(job: JobConfig):
    """Local threads by default; an existing Dask cluster when the job names one. Chosen
    per job (not per flow definition) so deployments and triggers can use either."""
    if job.dask_address:
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(address=job.dask_address)
    from prefect.task_runners import ThreadPoolTaskRunner

    return ThreadPoolTaskRunner(max_workers=max(2, len(job.models), job.processes))


@contextlib.contextmanager
def shard_pool_for(job: JobConfig, shards: int):
    """Local processes that sample and write the shards after the first (sampling holds the
    GIL for part of a shard) when the job asks for two or more and has that many such
    shards; None on a Dask cluster or for fewer. The pool starts with the flow, so its
    processes boot while the models fit."""
    workers = min(shards, job.processes)
    if job.dask_address or workers < 2:
        yield None
        return
    from pipeline.shard_pool import ShardPool

    with ShardPool(workers, job.models) as pool:
        yield pool


@flow(name="synthesize", validate_parameters=True)
def synthesize(job: JobConfig) -> dict[str, Any]:
    """Ingest -> schema -> split -> fit (parallel) -> sample -> validate -> publish."""
    from prefect.runtime import flow_run

    run_id = make_run_id(flow_run.get_id())
    for folder in publishing.sweep_abandoned(job.output_dir, job.name):
        get_run_logger().warning("removed abandoned staging %s (a run that died)", folder)
    frame, ingest_report = ingest(job.source)
    schema, frame = prepare_schema(frame, job)
    request = check_request(frame, schema, job)
    train, holdout, holdout_split = split(frame, schema, job)
    n = job.rows or default_sample_size(request.reference(train, job.seed), schema)
    shards = plan_shards(n, _shard_rows(n, schema, job), job.seed)
    with task_runner_for(job) as runner, shard_pool_for(job, len(shards) - 1) as pool:
        fits = {m: runner.submit(fit, {"model": m, "train": train, "schema": schema, "job": job,
                                       "fingerprint": ingest_report.fingerprint,
                                       "source": frame})
                for m in job.models}
        results = [
            _sample_validate_publish((runner, pool), *future.result(), shards, train, holdout,
                                     schema, holdout_split, ingest_report, job, run_id, frame,
                                     request)
            for future in fits.values()
        ]
    summary = build_summary(job, run_id, ingest_report, schema, holdout_split, results, request)
    from flows.reporting import announce, conclude

    conclude(summary, job)
    announce(summary)
    failed = [r for r in results if r["verdict"] == "fail"]
    if failed:
        raise ValidationFailed(
            "; ".join(f"{r['model']} failed validation: {'; '.join(r['reasons'][:3])}"
                      for r in failed), summary)
    return summary


@flow(name="synthesize-many", validate_parameters=True)
def synthesize_many(job_files: list[str]) -> list[dict[str, Any]]:
    """Run several job files, each as a `synthesize` subflow; one failure does not stop the
    others, and the parent fails at the end if any did."""
    summaries, failures = [], []
    for path in job_files:
        job = JobConfig.from_yaml(path)
        state = synthesize(job, return_state=True)
        if state.is_failed():
            failures.append(f"{path}: {state.message}")
        else:
            summaries.append(state.result())
    if failures:
        raise PipelineError("; ".join(failures))
    return summaries


def _sample_validate_publish(runners, synthesizer, artifact_dir, reused, shards, train,
                             holdout, schema, holdout_split, ingest_report, job, run_id,
                             full, request) -> dict[str, Any]:
    """Validate the first shard (against the real rows a sample on demand matches), then
    write every shard (in parallel) with the verdict in its lineage, then move the run into
    the published or quarantine area. Series validated on held-out tails are published from
    a refit on all rows (`_full_span_refit`)."""
    from pipeline.models.reproducibility import library_versions
    from pipeline.report import render_report

    model = synthesizer.name
    params = job.model_params.get(model, {})

    real_train = request.reference(train, job.seed)
    real_holdout = request.reference(holdout, job.seed + 1)

    def attempt(synthesizer, label: str):
        first = sample(synthesizer, shards[0].rows, shards[0].seed, request)
        checked = first if len(first) <= job.validation_rows else first.sample(
            job.validation_rows, random_state=job.seed)
        result = validate(checked, real_train, real_holdout, schema, model, f"{run_id}{label}",
                          job, holdout_split, request)
        return first, checked, result

    first, checked, result = attempt(synthesizer, "")
    attempts = [_attempt_record(params, result, artifact_dir, synthesizer)]
    retry = synthesizer.more_private_params() if result.verdict == "fail" else None
    if retry is not None:
        get_run_logger().warning(
            "%s failed a privacy bound (%s); refitting once with the more private %s", model,
            "; ".join(result.reasons[:2]), retry)
        synthesizer, artifact_dir, reused = fit(model, train, schema, job,
                                                ingest_report.fingerprint, params=retry,
                                                source=full)
        first, checked, result = attempt(synthesizer, "-retry")
        params = retry
        attempts.append(_attempt_record(params, result, artifact_dir, synthesizer))
    drift = _drift(result, job, model, run_id, request)
    lineage = {
        "run_id": run_id, "dataset": job.name, "model": model, "seed": job.seed,
        "source": job.source, "source_fingerprint": ingest_report.fingerprint,
        "verdict": result.verdict, "model_artifact": artifact_dir,
        "library_versions": library_versions(), "parameters": params,
        "shards": len(shards), "attempts": attempts,
        "split": {"kind": holdout_split.kind.value, "description": str(holdout_split)},
    }
    training = synthesizer.card().get("training")
    if training:  # a network's kept epoch, why it stopped and its fidelity curve
        lineage["training"] = training
    if request:
        lineage["request"] = request.describe()
    publisher, refit = _full_span_refit(synthesizer, result.verdict, full, schema, holdout_split,
                                        job, ingest_report.fingerprint)
    if refit:
        lineage["published_from"] = refit
    html = render_report(
        dataset=job.name, model=model, run_id=run_id, verdict=result.verdict,
        reasons=result.reasons, metric_rows=result.metric_rows(), real=real_train,
        synthetic=checked, schema=schema, split_method=str(holdout_split),
        distances=result.distances, findings=result.findings,
        loss_history=synthesizer.loss_history, training=training,
        failed_expectations=result.failed_expectations, lineage=lineage, drift=drift,
        column_scores=result.column_scores)
    publication = publishing.Publication(Path(job.output_dir), job.name, model, run_id, lineage)
    manifest = _write_and_finalise(runners, publisher, shards,
                                   first if publisher is synthesizer else None, publication,
                                   result.verdict, html, request)
    return {
        "model": model, "verdict": result.verdict, "reasons": result.reasons,
        "rows": manifest["rows"], "path": manifest["path"], "parts": manifest["files"],
        "manifest": f"{manifest['path']}/{publishing.MANIFEST}",
        "report": f"{manifest['path']}/{publishing.REPORT}",
        "metrics": result.metrics, "metric_rows": result.metric_rows(),
        "validation_seconds": result.seconds, "validated_rows": len(checked),
        "fit_seconds": synthesizer.fit_seconds, "reused_model": reused,
        "docs": result.docs_url, "published_from": refit, "attempts": attempts,
        "written_at": manifest["written_at"], "drift": drift.table(),
        "drift_series": drift.series, "hint": _series_hint(result.verdict, full, schema, job),
    }


def _series_hint(verdict: str, full, schema, job: JobConfig) -> str | None:
    """For a table that failed and reads as series, the options that model it as such."""
    if verdict != "fail" or schema.is_time_series:
        return None
    from pipeline.series_reading import series_hint

    return series_hint(full, str(job.schema_path()))


def _drift(result, job: JobConfig, model: str, run_id: str, request):
    """This run against the dataset's previous runs of the model; a drop beyond the job's
    tolerance makes a pass a warning. A sample on demand is not compared (other rows)."""
    from pipeline import catalog, drift

    if request:
        return drift.Drift()
    found = drift.compare(catalog.read_history(job.output_dir, job.name), model, run_id,
                          result.metrics, job.drift_tolerance)
    if found.drops and result.verdict == "pass":
        get_run_logger().warning("%s: quality dropped against earlier runs: %s", model,
                                 "; ".join(found.drops))
        result.verdict = "warn"
    result.reasons = [*result.reasons, *found.drops]  # the attempt record keeps its own
    return found


# The metrics an attempt is summed up by in the manifest and the report (all of them are in
# each attempt's report table).
ATTEMPT_METRICS = ("column_shapes", "column_pair_trends", "detection_auc", "dcr_share",
                   "exact_copy_rate")


def _attempt_record(params, result, artifact_dir, synthesizer) -> dict[str, Any]:
    return {
        "parameters": params, "verdict": result.verdict, "reasons": result.reasons,
        "model_artifact": artifact_dir, "fit_seconds": synthesizer.fit_seconds,
        "metrics": {k: result.metrics[k] for k in ATTEMPT_METRICS if k in result.metrics},
    }


def _full_span_refit(synthesizer, verdict, full, schema, holdout_split, job, fingerprint):
    """(model to publish from, what it was fitted on or None). A series validated on held-out
    tails is refitted on all rows once it passes: the published series then covers the
    source's whole span instead of stopping where the training part ended."""
    if verdict == "fail" or holdout_split.exchangeable:
        return synthesizer, None
    model = synthesizer.name
    refitted, directory, reused = fit(model, full, schema, job, fingerprint, source=full)
    get_run_logger().info(
        "%s: published from a refit on all %d rows (validated on held-out tails)", model,
        len(full))
    return refitted, {
        "rows": len(full), "model_artifact": directory, "reused_model": reused,
        "fit_seconds": refitted.fit_seconds,
        "why": "validated on held-out sequence tails, then refitted on all rows so the "
               "published series cover the full time span",
    }


def _write_and_finalise(runners, synthesizer, shards, first, publication, verdict, html,
                        request):
    """Stage every shard (in parallel), then finalise; once retries are spent, nothing
    staged is left behind. The first shard, sampled already, is written as it is; the rest
    are sampled on the local process pool when there is one (`shard_pool_for`)."""
    runner, pool = runners
    writes = [runner.submit(write_shard, {
        "synthesizer": synthesizer, "shard": shard, "publication": publication,
        "request": request, "frame": first if shard.index == 0 else None, "pool": pool})
        for shard in shards]
    try:
        for future in writes:
            future.result()
        return finish(publication, verdict, html)
    except BaseException:
        publication.discard()
        raise


def _shard_rows(n: int, schema: DatasetSchema, job: JobConfig) -> int:
    # sequences are not sharded: keys are regenerated per sample and would repeat across shards
    return n if schema.is_time_series else job.shard_rows


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


def build_summary(job, run_id, ingest_report, schema, holdout_split, results,
                  request) -> dict[str, Any]:
    return {
        "dataset": job.name, "run_id": run_id, "source": job.source,
        "request": request.label(),
        "ingest": ingest_report.summary(), "schema": str(job.schema_path()),
        "split": str(holdout_split), "split_kind": holdout_split.kind.value, "models": results,
    }
