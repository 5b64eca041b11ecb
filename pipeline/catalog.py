"""What has been published, for analysts: every run's record, and a DuckDB catalog over them.

Each finished model run, published or quarantined, appends one line to `history/<dataset>.jsonl`
(kept when retention removes the run's files, so drift is measured over more than the
retained runs).
`catalog.duckdb` is rebuilt from the histories after every publish, into a temporary file
renamed into place, so a reader always opens a whole catalog:

    <dataset>           the current data (published/<dataset>/current)
    <dataset>_runs      every retained published run, with model, run and verdict columns
    <dataset>_metrics   every run's metrics, one row per (model, run, metric)
    runs, run_metrics   the same for all datasets
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pipeline.errors import PipelineError
from pipeline.file_lock import locked
from pipeline.publish import CURRENT, MANIFEST

HISTORY = "history"
AREAS = ("published", "quarantine")
CATALOG = "catalog.duckdb"
RUN_COLUMNS = ("dataset", "model", "run_id", "area", "verdict", "rows", "path", "written_at",
               "request")


def history_path(output_dir: str | Path, dataset: str) -> Path:
    return Path(output_dir) / HISTORY / f"{dataset}.jsonl"


def append_history(output_dir: str | Path, record: dict[str, Any]) -> None:
    """One finished model run (published or quarantined), as one JSON line."""
    path = history_path(output_dir, record["dataset"])
    line = json.dumps(record, default=str, allow_nan=False) + "\n"
    with locked(path.with_name(f".{path.stem}.lock")), open(path, "a+") as handle:
        if handle.tell() > 0:  # a line a crash cut short must not swallow this one
            handle.seek(handle.tell() - 1)
            if handle.read(1) != "\n":
                line = "\n" + line
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())


def read_history(output_dir: str | Path, dataset: str) -> list[dict[str, Any]]:
    """The dataset's run records, oldest first; a line cut short by a crash is skipped."""
    path = history_path(output_dir, dataset)
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return sorted(records, key=lambda r: (r.get("run_id", ""), r.get("model", "")))


def datasets(output_dir: str | Path) -> list[str]:
    """Datasets with a run history or a finished run under `output_dir`."""
    root = Path(output_dir)
    found = {p.stem for p in (root / HISTORY).glob("*.jsonl")}
    found |= {p.parents[2].name for area in AREAS
              for p in (root / area).glob(f"*/model=*/run=*/{MANIFEST}")}
    return sorted(found)


def run_record(dataset: str, run_id: str, result: dict[str, Any],
               request: str | None) -> dict[str, Any]:
    """The history line of one model's result in a run summary."""
    metrics = {k: float(v) for k, v in result["metrics"].items()
               if isinstance(v, int | float) and v == v and abs(v) != float("inf")}
    return {
        "dataset": dataset, "model": result["model"], "run_id": run_id,
        "area": "quarantine" if result["verdict"] == "fail" else "published",
        "verdict": result["verdict"], "rows": result["rows"],
        "path": str(Path(result["path"]).resolve()),  # readable from any folder
        "written_at": result.get("written_at"), "request": request,
        "reasons": result["reasons"][:5], "metrics": metrics,
    }


def runs(output_dir: str | Path, dataset: str) -> list[dict[str, Any]]:
    """The dataset's runs, newest first, each marked with whether its files are still there
    (retention removes old ones) and whether it is the current one. Runs finished before
    the history was kept are read from their manifests."""
    current = current_target(output_dir, dataset)
    history = read_history(output_dir, dataset)
    known = {(r["run_id"], r["model"]) for r in history}
    records = sorted(history + [r for r in _from_manifests(output_dir, dataset)
                                if (r["run_id"], r["model"]) not in known],
                     key=lambda r: (r.get("run_id") or "", r.get("model") or ""))
    out = []
    for record in reversed(records):
        path = Path(record["path"])
        out.append({**record, "present": path.exists(),
                    "current": current is not None and path.resolve() == current})
    return out


def _from_manifests(output_dir: str | Path, dataset: str) -> list[dict[str, Any]]:
    """Run records rebuilt from the manifests on disk (the metrics of the last attempt)."""
    out = []
    for area in AREAS:
        for path in (Path(output_dir) / area / dataset).glob(f"model=*/run=*/{MANIFEST}"):
            try:
                manifest = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            attempts = manifest.get("attempts") or [{}]
            out.append({
                "dataset": dataset, "model": manifest.get("model"),
                "run_id": manifest.get("run_id"), "area": area,
                "verdict": manifest.get("verdict"), "rows": manifest.get("rows"),
                "path": str(path.parent.resolve()), "written_at": manifest.get("written_at"),
                "request": (manifest.get("request") or {}).get("label"),
                "reasons": attempts[-1].get("reasons", [])[:5],
                "metrics": attempts[-1].get("metrics", {})})
    return out


def find_run(output_dir: str | Path, run_id: str) -> list[dict[str, Any]]:
    """Every model's record of run `run_id` (or of the runs starting with it), any dataset."""
    found = [r for d in datasets(output_dir) for r in runs(output_dir, d)
             if r["run_id"] == run_id or r["run_id"].startswith(run_id)]
    if not found:
        raise PipelineError(f"no run {run_id!r} under {Path(output_dir) / 'published'}; "
                            "`synth runs NAME` lists a dataset's runs")
    return found


def current_target(output_dir: str | Path, dataset: str) -> Path | None:
    link = Path(output_dir) / "published" / dataset / CURRENT
    return link.resolve() if link.is_symlink() and link.exists() else None


def rebuild(output_dir: str | Path) -> Path:
    """Write `catalog.duckdb` for every dataset under `output_dir`, atomically."""
    import duckdb
    import pandas as pd

    root = Path(output_dir).resolve()
    target = root / CATALOG
    with locked(root / ".catalog.lock"):
        tmp = root / f".{CATALOG}.tmp-{os.getpid()}"
        tmp.unlink(missing_ok=True)
        records = [r for d in datasets(root) for r in runs(root, d)]
        try:
            with duckdb.connect(str(tmp)) as con:
                run_frame = pd.DataFrame([{k: r.get(k) for k in RUN_COLUMNS}
                                          | {"present": r["present"], "current": r["current"]}
                                          for r in records],
                                         columns=[*RUN_COLUMNS, "present", "current"])
                metric_frame = pd.DataFrame(
                    [{"dataset": r["dataset"], "model": r["model"], "run_id": r["run_id"],
                      "verdict": r["verdict"], "metric": k, "value": v}
                     for r in records for k, v in r["metrics"].items()],
                    columns=["dataset", "model", "run_id", "verdict", "metric", "value"])
                con.register("run_frame", run_frame)
                con.register("metric_frame", metric_frame)
                con.execute("create table runs as select * from run_frame")
                con.execute("create table run_metrics as select * from metric_frame")
                for dataset in datasets(root):
                    _dataset_views(con, root, dataset)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
            Path(f"{tmp}.wal").unlink(missing_ok=True)
    return target


def _dataset_views(con, root: Path, dataset: str) -> None:
    folder = root / "published" / dataset
    name, literal = _identifier(dataset), _literal(dataset)
    con.execute(f"create view {_identifier(dataset + '_metrics')} as select * from "
                f"run_metrics where dataset = {literal}")
    if current_target(root, dataset) is not None:
        con.execute(f"create view {name} as select * from read_parquet("
                    f"{_literal(str(folder / CURRENT / '*.parquet'))})")
    if any(folder.glob("model=*/run=*/*.parquet")):
        every = _literal(str(folder / "model=*" / "run=*" / "*.parquet"))
        con.execute(
            f"create view {_identifier(dataset + '_runs')} as select p.*, r.verdict from "
            f"read_parquet({every}, hive_partitioning = true, union_by_name = true, "
            "hive_types = {'model': VARCHAR, 'run': VARCHAR}) p "
            f"left join runs r on r.dataset = {literal} and r.model = p.model "
            "and r.run_id = p.run")


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
