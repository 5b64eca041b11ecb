"""Great Expectations suites, checkpoints and Data Docs for one run.

Two suites per dataset live as JSON in the project's file context (`gx/expectations/`), where
users can edit them: `<dataset>.data` (schema conformance of the synthetic table, built from
the real data) and `<dataset>.metrics` (one expectation per metric, validated on a one-row
metrics table, because row-level comparisons of two pandas frames are not expressible as
expectations). Only built-in expectation classes are used: GE 1.24 drops custom classes when
a suite is reloaded by a process that did not import them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.file_lock import locked
from pipeline.schema import DatasetSchema, Role
from pipeline.validation.thresholds import Threshold

log = logging.getLogger(__name__)

DATASOURCE = "synth"
# The lock file in the project folder that runs take in turn (see `project`).
PROJECT_LOCK = ".synth.lock"
# A synthetic column may have this many points more missing values than the real one.
NULL_FRACTION_SLACK = 0.10


@dataclass
class SuiteOutcome:
    """What a checkpoint run found, reduced to what the verdict and report need."""

    suite: str
    success: bool
    failed: list[dict[str, Any]] = field(default_factory=list)
    evaluated: int = 0


@contextmanager
def project(gx_dir: str | Path) -> Iterator:
    """The project's file data context, for this process alone during the block. Every run
    shares its config, suites and Data Docs, and GX rewrites the config file in place: a run
    beside another read it half-written and failed."""
    with locked(Path(gx_dir) / PROJECT_LOCK):
        yield get_context(gx_dir)


def get_context(gx_dir: str | Path):
    """The project's file data context (created on first use), with noise switched off."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    root = Path(gx_dir)
    root.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="file", project_root_dir=str(root.parent.resolve()))
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def data_suite_expectations(schema: DatasetSchema, real: pd.DataFrame) -> list:
    """Schema conformance, built from the real training data."""
    import great_expectations.expectations as gxe

    out: list = [gxe.ExpectTableColumnsToMatchOrderedList(column_list=schema.names())]
    for spec in schema.columns:
        meta = {"kind": "schema", "role": spec.role.value}
        if spec.role == Role.numerical and spec.minimum is not None:
            out.append(
                gxe.ExpectColumnValuesToBeBetween(
                    column=spec.name, min_value=spec.minimum, max_value=spec.maximum, meta=meta
                )
            )
        if spec.role == Role.categorical:
            out.append(
                gxe.ExpectColumnValuesToBeInSet(
                    column=spec.name, value_set=list(spec.categories or []), meta=meta
                )
            )
        if spec.role == Role.boolean:
            out.append(
                gxe.ExpectColumnValuesToBeInSet(
                    column=spec.name, value_set=[True, False], meta=meta
                )
            )
        # a key, and another name of the entity, repeat at every step of a sequence
        if spec.role == Role.id and spec.name != schema.sequence_key and not spec.static:
            out.append(gxe.ExpectColumnValuesToBeUnique(column=spec.name, meta=meta))
        null_fraction = float(real[spec.name].isna().mean()) if spec.name in real else 0.0
        if not spec.nullable:
            out.append(gxe.ExpectColumnValuesToNotBeNull(column=spec.name, meta=meta))
        else:
            # A missing rate off by more than the slack is a fidelity problem (warn), not a
            # breach of the schema (which allows missing values here): small samples, and
            # the matching rows of a sample on demand, miss it by chance.
            mostly = max(0.0, 1.0 - null_fraction - NULL_FRACTION_SLACK)
            out.append(gxe.ExpectColumnValuesToNotBeNull(
                column=spec.name, mostly=round(mostly, 4),
                meta={**meta, "kind": "fidelity", "real_null_fraction": round(null_fraction, 4)}))
    return out


def metrics_suite_expectations(thresholds: dict[str, Threshold], metrics: pd.DataFrame) -> list:
    import great_expectations.expectations as gxe

    out = []
    for metric, bound in thresholds.items():
        if metric not in metrics.columns:
            continue  # e.g. ml_utility_gap without a target column
        out.append(
            gxe.ExpectColumnValuesToBeBetween(
                column=metric,
                min_value=bound.min_value,
                max_value=bound.max_value,
                meta={"kind": bound.kind, "why": bound.why},
            )
        )
    return out


def data_suite_name(dataset: str, request: str | None) -> str:
    """The dataset's data suite, or one per distinct sample on demand."""
    if request is None:
        return f"{dataset}.data"
    import hashlib

    return f"{dataset}.data.request-{hashlib.sha256(request.encode()).hexdigest()[:10]}"


def ensure_suite(context, name: str, expectations: list, replace: bool = False,
                 schema: DatasetSchema | None = None):
    """Create the suite on first sight; afterwards keep the user's edited copy, unless it
    was made for another `schema`: a role changed in the schema file (or by a newer
    detection) would otherwise fail good output against the old column's expectations."""
    import great_expectations as gx

    made_for = schema_fingerprint(schema) if schema is not None else None
    try:
        existing = context.suites.get(name)
    except Exception:  # GE raises its own not-found types across versions
        existing = None
    if existing is not None and not replace:
        if made_for is None or (existing.meta or {}).get("schema") == made_for:
            return existing
        log.warning("suite %s was made for another schema of %s; made it again from the "
                    "current schema (edits to the old suite are not carried over)",
                    name, schema.name)
    suite = gx.ExpectationSuite(name=name, expectations=expectations,
                                meta={"schema": made_for} if made_for else None)
    return context.suites.add_or_update(suite)


def schema_fingerprint(schema: DatasetSchema) -> str:
    import hashlib

    return hashlib.sha256(schema.model_dump_json().encode()).hexdigest()[:16]


# Tries of a checkpoint whose suite another run of the same job saved meanwhile.
FRESHNESS_ATTEMPTS = 3


def run_checkpoint(
    context, suite, asset_name: str, frame: pd.DataFrame, run_id: str
) -> SuiteOutcome:
    from great_expectations.core.run_identifier import RunIdentifier

    source = context.data_sources.add_or_update_pandas(DATASOURCE)
    try:
        asset = source.get_asset(asset_name)
    except LookupError:
        asset = source.add_dataframe_asset(asset_name)
    try:
        batch = asset.get_batch_definition("whole")
    except KeyError:
        batch = asset.add_batch_definition_whole_dataframe("whole")
    name = f"{suite.name}:{asset_name}"
    for attempt in range(FRESHNESS_ATTEMPTS):
        try:
            checkpoint = _checkpoint(context, suite, name, batch, refresh=attempt > 0)
            result = checkpoint.run(
                batch_parameters={"dataframe": frame}, run_id=RunIdentifier(run_name=run_id)
            )
            break
        except Exception as exc:  # GX's ResourceFreshnessAggregateError, by its message
            if "has changed since it has last been saved" not in str(exc) or (
                    attempt + 1 == FRESHNESS_ATTEMPTS):
                raise
            # another run of the job saved the suite meanwhile: save ours again and rerun
            suite = context.suites.add_or_update(suite)
    return _outcome(suite.name, result)


def _checkpoint(context, suite, name: str, batch, refresh: bool):
    """The stored checkpoint of this suite and asset, made on first use. Stored once and
    reused: GX's add_or_update compares every expectation with every stored one, several
    times per run, which on a 300-column table costs more than validating it."""
    import great_expectations as gx
    from great_expectations.checkpoint import UpdateDataDocsAction

    checkpoint = None if refresh else _stored(context.checkpoints, name)
    if checkpoint is not None:
        return checkpoint
    definition = gx.ValidationDefinition(name=name, data=batch, suite=suite)
    definition = (context.validation_definitions.add_or_update(definition) if refresh
                  else _stored(context.validation_definitions, name)
                  or context.validation_definitions.add(definition))
    checkpoint = gx.Checkpoint(name=name, validation_definitions=[definition],
                               actions=[UpdateDataDocsAction(name="data_docs")],
                               result_format="SUMMARY")
    return (context.checkpoints.add_or_update(checkpoint) if refresh
            else context.checkpoints.add(checkpoint))


def _stored(collection, name: str):
    """The stored GX object of that name, or None."""
    try:
        return collection.get(name)
    except Exception:  # GE raises its own not-found types across versions
        return None


def _outcome(suite_name: str, result) -> SuiteOutcome:
    outcome = SuiteOutcome(suite=suite_name, success=bool(result.success))
    for validation in result.run_results.values():
        for item in validation.results:
            outcome.evaluated += 1
            if item.success:
                continue
            config = item.expectation_config
            kwargs = {k: v for k, v in config.kwargs.items() if k not in ("batch_id",)}
            observed = item.result.get("observed_value")
            if observed is None and "partial_unexpected_list" in item.result:
                observed = item.result["partial_unexpected_list"][:5]
            outcome.failed.append(
                {
                    "expectation": config.type,
                    "column": kwargs.get("column"),
                    "kind": (config.meta or {}).get("kind", "schema"),
                    "kwargs": kwargs,
                    "observed": observed,
                    "unexpected_percent": item.result.get("unexpected_percent"),
                    "real_null_fraction": (config.meta or {}).get("real_null_fraction"),
                }
            )
    return outcome


def docs_index(context) -> str | None:
    """The local Data Docs' index, with its pages pointed at the offline copies of their
    styles and scripts (GX links them to CDNs at every build)."""
    from urllib.parse import unquote, urlparse

    from pipeline.validation.offline_docs import localise

    sites = context.get_docs_sites_urls()
    url = sites[0]["site_url"] if sites else None
    if url and url.startswith("file://"):
        localise(Path(unquote(urlparse(url).path)).parent)
    return url
