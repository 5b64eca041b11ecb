"""What a finished run tells Prefect (artifacts, a published event) and which run is latest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline import catalog
from pipeline.publish import point_current, point_latest
from pipeline.retention import apply_retention

KEY_METRICS = ("column_shapes", "column_pair_trends", "detection_auc", "exact_copy_rate",
               "exact_copy_p_value", "near_copy_p_value", "dcr_share_p_value", "mia_p_value")


def announce(summary: dict[str, Any]) -> None:
    from prefect.artifacts import (
        create_link_artifact,
        create_markdown_artifact,
        create_table_artifact,
    )

    key = _artifact_key(summary["dataset"])
    create_markdown_artifact(
        markdown=summary_markdown(summary),
        key=f"{key}-summary",
        description="synthesis run summary",
    )
    create_table_artifact(
        table=metric_table(summary), key=f"{key}-metrics", description="metrics per model"
    )
    drift = drift_table(summary)
    if drift:
        create_table_artifact(table=drift, key=f"{key}-drift",
                              description="this run against the previous runs (oldest first)")
    for result in summary["models"]:
        create_link_artifact(
            link=Path(result["report"]).resolve().as_uri(),
            link_text=f"{result['model']} report ({result['verdict']})",
            key=f"{key}-{_artifact_key(result['model'])}-report",
        )
    for result in summary["models"]:
        if result["verdict"] != "fail":
            _emit_published(summary, result, is_latest=result["path"] == summary.get("latest"))


def best_passing(results: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Highest fidelity (mean of Column Shapes and Pair Trends) among models that passed
    privacy; `warn` (fidelity below target) ranks after every `pass`."""
    candidates = [r for r in results if r["verdict"] != "fail"]
    if not candidates:
        return None

    def score(result: dict[str, Any]) -> tuple[int, float]:
        metrics = result["metrics"]
        fidelity = (metrics.get("column_shapes", 0.0) + metrics.get("column_pair_trends", 0.0)) / 2
        return (1 if result["verdict"] == "pass" else 0, fidelity)

    return max(candidates, key=score)


def conclude(summary: dict[str, Any], job) -> None:
    """After every model of a run is in place: record each in the dataset's history, point
    `_latest.json` and `current` at the best passing one (not for a sample on demand, which
    is a different population), apply retention, rebuild the catalog."""
    for result in summary["models"]:
        catalog.append_history(job.output_dir, catalog.run_record(
            summary["dataset"], summary["run_id"], result, summary.get("request")))
    if not summary.get("request"):
        mark_latest(summary, job.output_dir)
    removed = apply_retention(job.output_dir, job.name, job.keep_runs, job.quarantine_days)
    summary["removed_by_retention"] = [str(p) for p in removed]
    summary["catalog"] = str(catalog.rebuild(job.output_dir))


def mark_latest(summary: dict[str, Any], output_dir: str) -> dict[str, Any] | None:
    """Point the dataset's `_latest.json` and `current` at the best passing model of this
    run."""
    best = best_passing(summary["models"])
    if best is None:
        return None
    manifest = {"run_id": summary["run_id"], "model": best["model"], "path": best["path"],
                "verdict": best["verdict"]}
    point_latest(output_dir, summary["dataset"], manifest,
                 {k: best["metrics"].get(k) for k in KEY_METRICS})
    point_current(output_dir, summary["dataset"], best["path"])
    summary["latest"] = best["path"]
    return best


def summary_markdown(summary: dict[str, Any]) -> str:
    lines = [
        f"# {summary['dataset']} — run `{summary['run_id']}`",
        "",
        f"- source: `{summary['source']}` ({summary['ingest']})",
        f"- holdout: {summary['split']}",
        "",
        "| model | verdict | rows | column shapes | pair trends | output |",
        "|---|---|---|---|---|---|",
    ]
    for r in summary["models"]:
        m = r["metrics"]
        lines.append(
            f"| {r['model']} | **{r['verdict']}** | {r['rows']} | "
            f"{m.get('column_shapes', float('nan')):.3f} | "
            f"{m.get('column_pair_trends', float('nan')):.3f} | `{r['path']}` |"
        )
        lines += [f"  - {reason}" for reason in r["reasons"][:5]]
    return "\n".join(lines)


def metric_table(summary: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for r in summary["models"]:
        for row in r["metric_rows"]:
            rows.append(
                {
                    "model": r["model"],
                    "verdict": r["verdict"],
                    "metric": row["metric"],
                    "value": round(float(row["value"]), 4),
                    "status": row["status"],
                }
            )
    return rows


def drift_table(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per model and watched metric: this run, the previous median, and the values
    run by run as a sparkline."""
    rows = []
    for r in summary["models"]:
        for row in r.get("drift") or []:
            values = [v for _, v in r["drift_series"].get(row["metric"], [])]
            rows.append({"model": r["model"], **row, "history": sparkline(values)})
    return rows


def sparkline(values: list[float]) -> str:
    bars = "▁▂▃▄▅▆▇█"
    if not values:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    return "".join(bars[round((v - low) / span * (len(bars) - 1))] for v in values)


def _emit_published(summary: dict[str, Any], result: dict[str, Any], is_latest: bool) -> None:
    from prefect.events import emit_event

    emit_event(
        event="synth.dataset.published",
        resource={
            "prefect.resource.id": f"synth.dataset.{summary['dataset']}",
            "synth.model": result["model"],
        },
        payload={
            "run_id": summary["run_id"],
            "path": result["path"],
            "verdict": result["verdict"],
            "latest": is_latest,
        },
    )


def _artifact_key(text: str) -> str:
    # Prefect artifact keys allow lowercase letters, digits and dashes only.
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")
