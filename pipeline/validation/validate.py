"""Validate one synthetic table: metrics in Python, then both GE suites, then one verdict.

Verdict: `fail` when the data suite fails (schema conformance) or any privacy expectation
fails; `warn` when only fidelity expectations fail; `pass` otherwise.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.schema import DatasetSchema
from pipeline.validation.suites import SuiteOutcome
from pipeline.validation.thresholds import Threshold, resolve_thresholds

log = logging.getLogger(__name__)


@dataclass
class ValidationResult:
    model: str
    verdict: str
    reasons: list[str]
    metrics: dict[str, float]
    seconds: dict[str, float]
    thresholds: dict[str, Threshold]
    outcomes: list[SuiteOutcome] = field(default_factory=list)
    distances: dict[str, np.ndarray] = field(default_factory=dict)
    docs_url: str | None = None
    findings: list[str] = field(default_factory=list)  # privacy results in sentences
    column_scores: dict[str, float] = field(default_factory=dict)  # Column Shapes per column

    @property
    def failed_expectations(self) -> list[dict[str, Any]]:
        return [f for outcome in self.outcomes for f in outcome.failed]

    def metric_rows(self) -> list[dict[str, Any]]:
        """Metrics with their bounds and status, for the report and Prefect's table artifact."""
        failed = {f["column"] for f in self.failed_expectations if f["kind"] != "schema"}
        rows = []
        for name, value in self.metrics.items():
            bound = self.thresholds.get(name)
            rows.append(
                {
                    "metric": name,
                    "value": value,
                    "kind": bound.kind if bound else "info",
                    "min_value": bound.min_value if bound else None,
                    "max_value": bound.max_value if bound else None,
                    "status": ("failed" if name in failed else "ok") if bound else "",
                    "why": bound.why if bound else "",
                }
            )
        return rows


def check_settings(schema: DatasetSchema, target: str | None,
                   quasi_identifiers: list[str] | None) -> None:
    """The ML-utility target and the quasi-identifiers a job names, checked against the
    schema before anything is fitted, with the error validation would give hours later."""
    from pipeline.validation.classifiers import target_spec
    from pipeline.validation.encoding import personal_columns
    from pipeline.validation.privacy import check_quasi_identifiers

    if target is not None:
        target_spec(schema, target)
    if quasi_identifiers:
        check_quasi_identifiers(quasi_identifiers, personal_columns(schema), schema)


def compute_metrics(
    train: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame,
    schema: DatasetSchema,
    *,
    target: str | None = None,
    seed: int = 0,
    details: dict | None = None,
    quasi_identifiers: list[str] | None = None,
) -> tuple[dict[str, float], dict[str, float], dict[str, np.ndarray]]:
    """All fidelity and privacy metrics as a flat table, their timings, and DCR distances;
    each metric's full result (per-column shapes, each privacy test) lands in `details`
    when a dict is passed."""
    from pipeline.validation import fidelity, privacy

    metrics, seconds = fidelity.fidelity_metrics(
        train, synthetic, holdout, schema, target=target, seed=seed, details=details
    )
    private, private_seconds, distances = privacy.privacy_metrics(
        train, synthetic, holdout, schema, seed=seed, details=details,
        quasi_identifiers=quasi_identifiers,
    )
    metrics.update(private)
    seconds.update(private_seconds)
    from pipeline.value_protection import singleton_value_share

    metrics["singleton_value_share"] = singleton_value_share(train, synthetic, schema)
    if schema.is_time_series:
        from pipeline.validation.sequence_metrics import sequence_metrics

        started = time.perf_counter()
        metrics.update(sequence_metrics(train, synthetic, schema))
        seconds["sequence_metrics"] = time.perf_counter() - started
        if schema.sequence_key:
            from pipeline.validation.entity_distances import entity_dcr

            started = time.perf_counter()
            entities = entity_dcr(train, synthetic, holdout, schema, seed)
            seconds["entity_dcr"] = time.perf_counter() - started
            if details is not None:
                details["entity_dcr"] = entities
            metrics.update({"entity_dcr_share": entities["share"],
                            "entity_dcr_share_p_value": entities["p_value"],
                            "entity_dcr_median_ratio": entities["median_ratio"]})
    return metrics, seconds, distances


def validate_synthetic(
    synthetic: pd.DataFrame,
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    schema: DatasetSchema,
    *,
    model: str,
    run_id: str,
    gx_dir: str | Path,
    threshold_overrides: dict[str, dict[str, float | None]] | None = None,
    target: str | None = None,
    seed: int = 0,
    exchangeable_holdout: bool = True,
    quasi_identifiers: list[str] | None = None,
    request: str | None = None,
) -> ValidationResult:
    """`request` labels a sample on demand: its data suite is built from the matching real
    rows `train` holds (their missing rates, not the whole table's) under a name of its own,
    and rebuilt each time; the dataset's own suite, which a user may have edited, is kept."""
    from pipeline.validation import suites

    thresholds = resolve_thresholds(threshold_overrides or {}, schema.is_time_series,
                                    exchangeable_holdout)
    from pipeline.validation.privacy import findings

    details: dict = {}
    metrics, seconds, distances = compute_metrics(
        train, synthetic, holdout, schema, target=target, seed=seed, details=details,
        quasi_identifiers=quasi_identifiers,
    )
    metrics_table = pd.DataFrame([{k: float(v) for k, v in metrics.items()}])

    started = time.perf_counter()
    with suites.project(gx_dir) as context:
        data_suite = suites.ensure_suite(
            context, suites.data_suite_name(schema.name, request),
            suites.data_suite_expectations(schema, train), replace=request is not None,
            schema=schema)
        # The metrics suite is rebuilt from the resolved thresholds on every run, so a job file's
        # overrides always apply; edit defaults in the job file rather than the JSON.
        metrics_suite = suites.ensure_suite(
            context,
            f"{schema.name}.metrics",
            suites.metrics_suite_expectations(thresholds, metrics_table),
            replace=True,
        )
        outcomes = [
            suites.run_checkpoint(
                context, data_suite, f"{schema.name}.{model}.synthetic", synthetic, run_id
            ),
            suites.run_checkpoint(
                context, metrics_suite, f"{schema.name}.{model}.metrics", metrics_table, run_id
            ),
        ]
        docs_url = suites.docs_index(context)
    seconds["great_expectations"] = time.perf_counter() - started
    verdict, reasons = decide_verdict(outcomes)
    log.info("%s: verdict %s %s", model, verdict, "; ".join(reasons))
    return ValidationResult(
        model=model,
        verdict=verdict,
        reasons=reasons,
        metrics=metrics,
        seconds={k: round(v, 3) for k, v in seconds.items()},
        thresholds=thresholds,
        outcomes=outcomes,
        distances=distances,
        docs_url=docs_url,
        findings=findings(details),
        column_scores={c: d["score"] for c, d in
                       details.get("column_shapes", {}).get("columns", {}).items()},
    )


def decide_verdict(outcomes: list[SuiteOutcome]) -> tuple[str, list[str]]:
    failed = [f for outcome in outcomes for f in outcome.failed]
    reasons = [_describe(f) for f in failed]
    if any(f["kind"] in ("schema", "privacy") for f in failed):
        return "fail", reasons
    if failed:
        return "warn", reasons
    return "pass", reasons


def _describe(failure: dict[str, Any]) -> str:
    kwargs = failure["kwargs"]
    bounds = [
        f"{k.replace('_value', '')} {kwargs[k]}"
        for k in ("min_value", "max_value")
        if kwargs.get(k) is not None
    ]
    observed = failure.get("observed")
    if failure.get("real_null_fraction") is not None:
        missing = 100 - float(kwargs.get("mostly", 1.0)) * 100
        return (f"fidelity: {failure['column']} is missing in "
                f"{failure.get('unexpected_percent') or 0:.1f}% of synthetic rows against "
                f"{failure['real_null_fraction'] * 100:.1f}% of real ones (at most "
                f"{missing:.1f}% allowed)")
    if failure["kind"] in ("privacy", "fidelity"):
        value = observed[0] if isinstance(observed, list) and observed else observed
        return (
            f"{failure['kind']}: {failure['column']} = {_num(value)} (expected {', '.join(bounds)})"
        )
    pct = failure.get("unexpected_percent")
    where = f" column {failure['column']!r}" if failure.get("column") else ""
    extra = f", {pct:.1f}% of rows" if isinstance(pct, (int, float)) else ""
    return f"schema: {failure['expectation']}{where} failed{extra} (e.g. {observed})"


def _num(value: Any) -> str:
    try:
        return f"{float(value):.4g}"
    except (TypeError, ValueError):
        return str(value)
