"""What `synth` prints: a run's summary, a dataset's runs, one run's records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.errors import PipelineError


def print_runs(output_dir: str, name: str) -> None:
    """`synth runs`: a dataset's runs, newest first."""
    from pipeline import catalog
    from pipeline.names import check_dataset_name

    check_dataset_name(name, where="dataset name")
    records = catalog.runs(output_dir, name)
    if not records:
        raise PipelineError(f"no runs of {name!r} under {output_dir}/published; "
                            f"datasets there: {', '.join(catalog.datasets(output_dir))}")
    print(f"{'run':28} {'model':14} {'verdict':8} {'rows':>9}  where")
    for r in records:
        mark = "current " if r["current"] else ("" if r["present"] else "(removed) ")
        label = f"  [{r['request']}]" if r.get("request") else ""
        print(f"{r['run_id']:28} {r['model']:14} {r['verdict']:8} {r['rows']:>9}  "
              f"{mark}{r['path']}{label}")


def print_run(output_dir: str, run_id: str) -> None:
    """`synth show`: every model's record of one run."""
    from pipeline import catalog
    from pipeline.publish import REPORT

    for r in catalog.find_run(output_dir, run_id):
        print(f"\nrun       {r['run_id']}   dataset {r['dataset']}")
        print(f"model     {r['model']}  ->  {r['verdict'].upper()}"
              + ("  (current)" if r["current"] else ""))
        if r.get("request"):
            print(f"request   {r['request']}")
        print(f"rows      {r['rows']}   written {r.get('written_at')}")
        m = r["metrics"]
        print("quality   " + ", ".join(f"{k} {_score(m[k])}" for k in (
            "column_shapes", "column_pair_trends", "detection_auc") if k in m))
        for reason in r.get("reasons") or []:
            print(f"          - {reason}")
        where = r["path"] if r["present"] else f"{r['path']} (removed by retention)"
        print(f"where     {where}")
        if r["present"]:
            print(f"report    {Path(r['path']) / REPORT}")


def _pair_trends(metrics: dict[str, Any]) -> str:
    """The gated score, and SDMetrics' own where chance associations or its binning move it."""
    ours, theirs = (metrics.get(k) for k in ("column_pair_trends_beyond_chance",
                                             "column_pair_trends"))
    if ours is None:  # a run from before the gate read the corrected score
        return _score(theirs, "no column pair to compare")
    text = _score(ours, "no column pair associated beyond chance")
    if theirs == theirs and theirs is not None and not abs(ours - theirs) < 0.005:
        text += (f" (SDMetrics' rule, counting chance associations and sampling noise, "
                 f"binning each table over its own range: {_score(theirs)})")
    return text


def print_summary(summary: dict[str, Any]) -> None:
    print(f"\ndataset   {summary['dataset']}   (run {summary['run_id']})")
    print(f"source    {summary['source']}: {summary['ingest']}")
    print(f"schema    {summary['schema']}")
    print(f"holdout   {summary['split']}")
    for r in summary["models"]:
        m = r["metrics"]
        print(
            f"\nmodel     {r['model']}  ->  {r['verdict'].upper()}"
            f"{'  (fitted model reused)' if r['reused_model'] else ''}"
        )
        print(f"rows      {r['rows']}")
        print(f"quality   column shapes {_score(m.get('column_shapes'))}, "
              f"pair trends {_pair_trends(m)}")
        for reason in r["reasons"]:
            print(f"          - {reason}")
        attempts = r.get("attempts") or []
        for i, attempt in enumerate(attempts if len(attempts) > 1 else [], 1):
            print(f"attempt {i} {attempt['verdict'].upper()} with {attempt['parameters']}"
                  + (f": {attempt['reasons'][0]}" if attempt["reasons"] else ""))
        if r.get("published_from"):
            print(f"refit     published from a refit on all {r['published_from']['rows']} rows "
                  "(validated on held-out tails), so the series cover the full time span")
        if r.get("hint"):
            print(f"hint      {r['hint']}")
        where = "parquet  " if r["verdict"] != "fail" else "QUARANTINE"
        print(f"{where} {r['path']}/part-*.parquet")
        print(f"parts     {len(r['parts'])} file(s), {r['validated_rows']} rows validated")
        print(f"manifest  {r['manifest']}")
        print(f"report    {r['report']}")
    if summary["models"] and summary["models"][0].get("docs"):
        print(f"\nData Docs {summary['models'][0]['docs']}")
    if summary.get("latest"):
        print(f"latest    {summary['latest']}")
    if summary.get("request"):
        print(f"request   {summary['request']} (a sample on demand; `current` is unchanged)")
    if summary.get("catalog"):
        print(f"catalog   {summary['catalog']}")


def _score(value: Any, missing: str = "not computed") -> str:
    """A score to 3 decimals, or a dash and why there is none (NaN: nothing to compare)."""
    if value is None or value != value:
        return f"– ({missing})"
    return f"{value:.3f}"
