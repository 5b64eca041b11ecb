"""`synth validate`: run the same suites on a synthetic file made by any tool.

The real file is split into reference and holdout exactly as a run splits it (same seed, same
fraction), unless the user gives the holdout the synthetic data never saw.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.errors import PipelineError
from pipeline.ingest import read_source
from pipeline.names import check_dataset_name
from pipeline.publish import write_text_atomic
from pipeline.schema import enforce_schema, load_or_detect_schema
from pipeline.split import Split, SplitKind, split_train_holdout


def audit(
    *,
    real: str,
    synthetic: str,
    name: str,
    holdout: str | None = None,
    target: str | None = None,
    seed: int = 0,
    output_dir: str | Path = "data",
    schema_dir: str | Path = "schemas",
    gx_dir: str | Path = "gx",
    holdout_fraction: float = 0.2,
) -> dict[str, Any]:
    from pipeline.report import render_report
    from pipeline.validation.validate import validate_synthetic

    check_dataset_name(name)  # before anything is read or written under the name
    real_frame, _ = read_source(real)
    schema, _ = load_or_detect_schema(real_frame, Path(schema_dir) / f"{name}.yaml", name)
    real_frame = enforce_schema(real_frame, schema, what=f"real file {real}")
    if holdout:
        reference = real_frame
        holdout_frame = enforce_schema(read_source(holdout)[0], schema, what=f"holdout {holdout}")
        split = Split(SplitKind.GIVEN_FILE, f"given holdout file {holdout}")
    else:
        reference, holdout_frame, split = split_train_holdout(
            real_frame, schema, holdout_fraction, seed
        )
    synthetic_frame, _ = read_source(synthetic)
    missing = [c for c in schema.modelled_columns() if c not in synthetic_frame.columns]
    if missing:
        raise PipelineError(
            f"synthetic file {synthetic} lacks columns {missing} of the real data; "
            "it must have the same columns"
        )
    # Schema conformance failures are findings of the audit, not input errors: cast what
    # can be cast and let the data suite name the offending values.
    synthetic_frame = _cast_loosely(synthetic_frame, schema)
    run_id = f"audit-{Path(str(synthetic)).stem}"
    result = validate_synthetic(
        synthetic_frame, reference, holdout_frame, schema, model="external",
        run_id=run_id, gx_dir=gx_dir, target=target, seed=seed,
        exchangeable_holdout=split.exchangeable,  # the flow's gates, from the same split
    )
    html = render_report(
        dataset=name, model=f"audit of {synthetic}", run_id=run_id, verdict=result.verdict,
        reasons=result.reasons, metric_rows=result.metric_rows(), real=reference,
        synthetic=synthetic_frame, schema=schema, split_method=str(split),
        distances=result.distances, findings=result.findings,
        column_scores=result.column_scores,
        failed_expectations=result.failed_expectations,
    )
    report = Path(output_dir) / "audits" / name / f"{run_id}.html"
    write_text_atomic(report, html)
    gated = sorted(n for n, bound in result.thresholds.items() if bound.kind == "privacy")
    return {"verdict": result.verdict, "reasons": result.reasons, "report": str(report),
            "metrics": result.metrics, "gated_privacy": gated}


def _cast_loosely(frame, schema):
    from pipeline.postprocess import cast_column

    out = frame[[c for c in schema.names() if c in frame.columns]].copy()
    for spec in schema.columns:
        if spec.name in out and spec.role.value not in ("categorical",):
            out[spec.name] = cast_column(out[spec.name], spec)
        elif spec.name in out:
            out[spec.name] = out[spec.name].astype("string")
    return out
