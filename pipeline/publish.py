"""Publish a synthetic table as Parquet that pandas, DuckDB and polars read with one path or glob.

Layout (hive-style, so readers get `model` and `run` as columns):

    <output>/published/<dataset>/model=<model>/run=<run_id>/part-00000.parquet
                                                            _manifest.json
                                                            _report.html
    <output>/quarantine/<dataset>/...   same layout, for models that failed validation

Side files start with "_" because Parquet dataset readers (pyarrow, Spark) skip such files; a
plain `manifest.json` there breaks `pandas.read_parquet(<dataset dir>)`.
Each file is written under a temporary name in its final folder, then renamed: readers never
see a partial file, and a failure mid-write leaves nothing at the published path.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.errors import PipelineError

LINEAGE_KEY = b"synth.lineage"
MANIFEST = "_manifest.json"
REPORT = "_report.html"
PART_ROWS = 1_000_000


def run_directory(output_dir: str | Path, area: str, dataset: str, model: str, run_id: str) -> Path:
    return Path(output_dir) / area / dataset / f"model={model}" / f"run={run_id}"


def write_parquet_atomic(
    df: pd.DataFrame, path: Path, lineage: dict[str, Any], row_group_rows: int = 100_000
) -> Path:
    """Write zstd Parquet with lineage in the key-value metadata; rename into place at the end."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        table = pa.Table.from_pandas(df, preserve_index=False)
        metadata = dict(table.schema.metadata or {})
        metadata[LINEAGE_KEY] = json.dumps(lineage, default=str).encode()
        table = table.replace_schema_metadata(metadata)
        with pq.ParquetWriter(tmp, table.schema, compression="zstd") as writer:
            for start in range(0, max(len(df), 1), row_group_rows):
                writer.write_table(table.slice(start, row_group_rows))
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def staging_directory(output_dir: str | Path, dataset: str, model: str, run_id: str) -> Path:
    """Where a run's parts are written before its verdict decides where they go."""
    return Path(output_dir) / ".staging" / dataset / f"model={model}" / f"run={run_id}"


def part_path(staging: Path, index: int) -> Path:
    return staging / f"part-{index:05d}.parquet"


def finish_publish(
    staging: Path,
    *,
    output_dir: str | Path,
    dataset: str,
    model: str,
    run_id: str,
    lineage: dict[str, Any],
    quarantine: bool,
    report_html: str | None = None,
) -> dict[str, Any]:
    """Add manifest and report to the staged parts, then move the run folder into place in
    one rename, so a glob over the dataset never sees a run with parts missing."""
    import pyarrow.parquet as pq

    area = "quarantine" if quarantine else "published"
    final_dir = run_directory(output_dir, area, dataset, model, run_id)
    if final_dir.exists():
        raise PipelineError(f"{final_dir} already exists; run ids must be unique per dataset")
    try:
        parts = sorted(p.name for p in staging.glob("part-*.parquet"))
        if not parts:
            raise PipelineError(f"nothing to publish: no parts in {staging}")
        rows = sum(pq.ParquetFile(staging / p).metadata.num_rows for p in parts)
        columns = pq.read_schema(staging / parts[0]).to_string(show_schema_metadata=False)
        manifest = {
            **lineage,
            "area": area,
            "rows": rows,
            "files": parts,
            "arrow_schema": columns.splitlines(),
            "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        if report_html is not None:
            write_text_atomic(staging / REPORT, report_html)
            manifest["report"] = REPORT
        write_text_atomic(staging / MANIFEST, json.dumps(manifest, indent=2, default=str))
        final_dir.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging, final_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    manifest["path"] = str(final_dir)
    return manifest


def publish(
    df: pd.DataFrame,
    *,
    output_dir: str | Path,
    dataset: str,
    model: str,
    run_id: str,
    lineage: dict[str, Any],
    quarantine: bool = False,
    report_html: str | None = None,
) -> dict[str, Any]:
    """Write one model's synthetic table in parts with its manifest (and report)."""
    staging = staging_directory(output_dir, dataset, model, run_id)
    try:
        for i, start in enumerate(range(0, max(len(df), 1), PART_ROWS)):
            write_parquet_atomic(df.iloc[start : start + PART_ROWS], part_path(staging, i), lineage)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return finish_publish(staging, output_dir=output_dir, dataset=dataset, model=model,
                          run_id=run_id, lineage=lineage, quarantine=quarantine,
                          report_html=report_html)


def read_lineage(path: str | Path) -> dict[str, Any]:
    import pyarrow.parquet as pq

    metadata = pq.read_schema(path).metadata or {}
    if LINEAGE_KEY not in metadata:
        raise PipelineError(f"{path} carries no lineage; was it written by synth?")
    return json.loads(metadata[LINEAGE_KEY])


def _fsync(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())
