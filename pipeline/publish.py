"""Publish a synthetic table as Parquet that pandas, DuckDB and polars read with one path or glob.

Layout (hive-style, so readers get `model` and `run` as columns):

    <output>/published/<dataset>/model=<model>/run=<run_id>/part-00000.parquet
                                                            _manifest.json
                                                            _report.html
    <output>/published/<dataset>/_latest.json                     the run readers should take
    <output>/published/<dataset>/current -> model=<m>/run=<id>    the same run, as a link
    <output>/quarantine/<dataset>/...   same layout, for models that failed validation
    <output>/.staging/<dataset>/...     parts of a run not yet finalised

Side files start with "_" because Parquet dataset readers (pyarrow, Spark) skip such files; a
plain `manifest.json` there breaks `pandas.read_parquet(<dataset dir>)`.
Each file is written under a temporary name in its final folder, then renamed: readers never
see a partial file, and a failure mid-write leaves nothing at the published path.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.errors import PipelineError

LINEAGE_KEY = b"synth.lineage"
MANIFEST = "_manifest.json"
REPORT = "_report.html"
LATEST = "_latest.json"
CURRENT = "current"  # a link to the latest passing run of the best model
# A staged run untouched this long belongs to a process that died.
ABANDONED_AFTER_SECONDS = 6 * 3600
# Write errors that a retry cannot cure: the user must free space or write elsewhere.
NO_ROOM = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


@contextmanager
def _written_then_renamed(tmp: Path, path: Path):
    """Around writing `tmp` and renaming it to `path`: on any failure `tmp` goes. A full
    disk is the user's to cure, so it becomes one clear error; anything else is re-raised."""
    try:
        yield
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno in NO_ROOM:
            raise PipelineError(
                f"could not write {path}: {exc.strerror or exc} (no room on that "
                "filesystem); free space there or point output_dir at another disk, then run "
                "again. Nothing was published from this write."
            ) from exc
        raise


def write_parquet_atomic(
    df: pd.DataFrame, path: Path, lineage: dict[str, Any], row_group_rows: int = 100_000
) -> Path:
    """Write zstd Parquet with lineage in the key-value metadata; rename into place at the end."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with _written_then_renamed(tmp, path):
        table = pa.Table.from_pandas(df, preserve_index=False)
        metadata = dict(table.schema.metadata or {})
        metadata[LINEAGE_KEY] = json.dumps(lineage, default=str).encode()
        table = table.replace_schema_metadata(metadata)
        with pq.ParquetWriter(tmp, table.schema, compression="zstd") as writer:
            for start in range(0, max(len(df), 1), row_group_rows):
                writer.write_table(table.slice(start, row_group_rows))
        _fsync(tmp)
        os.replace(tmp, path)
    return path


def write_text_atomic(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with _written_then_renamed(tmp, path):
        tmp.write_text(text)
        os.replace(tmp, path)
    return path


@dataclass(frozen=True)
class Publication:
    """One model's run on its way out: parts staged -> finalised into published/ or
    quarantine/ in one rename -> the dataset's latest pointer.

    Frozen and plain, so it travels to Dask workers that write parts. Staged parts survive
    a failed finalise, so the flow's retry completes the run instead of losing every shard;
    finalising a run that is already in place returns its manifest (a retry after a rename
    whose reply was lost).
    """

    output_dir: Path
    dataset: str
    model: str
    run_id: str
    lineage: dict[str, Any] = field(default_factory=dict)

    @property
    def staging(self) -> Path:
        return self._folder(".staging")

    def final_directory(self, quarantine: bool) -> Path:
        return self._folder("quarantine" if quarantine else "published")

    def _folder(self, area: str) -> Path:
        return (Path(self.output_dir) / area / self.dataset / f"model={self.model}"
                / f"run={self.run_id}")

    def write_part(self, index: int, frame: pd.DataFrame) -> Path:
        return write_parquet_atomic(frame, self.staging / f"part-{index:05d}.parquet",
                                    self.lineage)

    def finalise(self, quarantine: bool, report_html: str | None = None) -> dict[str, Any]:
        """Add manifest and report to the staged parts, then move the run folder into place
        in one rename, so a glob over the dataset never sees a run with parts missing."""
        final_dir = self.final_directory(quarantine)
        if final_dir.exists():
            return self._already_final(final_dir)
        parts = sorted(p.name for p in self.staging.glob("part-*.parquet"))
        if not parts:
            raise PipelineError(f"nothing to publish: no parts in {self.staging}")
        manifest = self._manifest(parts, "quarantine" if quarantine else "published")
        if report_html is not None:
            write_text_atomic(self.staging / REPORT, report_html)
            manifest["report"] = REPORT
        write_text_atomic(self.staging / MANIFEST, json.dumps(manifest, indent=2, default=str))
        final_dir.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.staging, final_dir)
        return {**manifest, "path": str(final_dir)}

    def discard(self) -> None:
        """Remove what was staged (a run abandoned after its retries)."""
        shutil.rmtree(self.staging, ignore_errors=True)

    def _manifest(self, parts: list[str], area: str) -> dict[str, Any]:
        import pyarrow.parquet as pq

        rows = sum(pq.ParquetFile(self.staging / p).metadata.num_rows for p in parts)
        columns = pq.read_schema(self.staging / parts[0]).to_string(show_schema_metadata=False)
        return {**self.lineage, "area": area, "rows": rows, "files": parts,
                "arrow_schema": columns.splitlines(),
                "written_at": datetime.now(UTC).isoformat(timespec="seconds")}

    def _already_final(self, final_dir: Path) -> dict[str, Any]:
        """A finalise that already happened leaves nothing staged; staged parts next to a
        finished run are a second run under the same id."""
        manifest_path = final_dir / MANIFEST
        if self.staging.exists() or not manifest_path.exists():
            raise PipelineError(f"{final_dir} already holds a run; run ids must be unique "
                                "per dataset and model")
        return {**json.loads(manifest_path.read_text()), "path": str(final_dir)}


def sweep_abandoned(output_dir: str | Path, dataset: str,
                    idle_seconds: float = ABANDONED_AFTER_SECONDS) -> list[Path]:
    """Remove staged runs of `dataset` in which nothing has changed for `idle_seconds`
    (their process died). A live run touches its folder with every part, so a concurrent
    run's staging is never taken for abandoned."""
    root = Path(output_dir) / ".staging" / dataset
    now, removed = time.time(), []
    for run in root.glob("model=*/run=*"):
        newest = max((p.stat().st_mtime for p in run.rglob("*")), default=run.stat().st_mtime)
        if now - max(newest, run.stat().st_mtime) > idle_seconds:
            shutil.rmtree(run, ignore_errors=True)
            removed.append(run)
    return removed


def point_latest(output_dir: str | Path, dataset: str, manifest: dict[str, Any],
                 metrics: dict[str, Any]) -> Path:
    """The dataset's `_latest.json`: the run and model readers should take, replaced
    atomically so a reader sees the old pointer or the new one."""
    pointer = {"run_id": manifest["run_id"], "model": manifest["model"],
               "path": manifest["path"], "verdict": manifest.get("verdict"),
               "metrics": metrics}
    path = Path(output_dir) / "published" / dataset / LATEST
    return write_text_atomic(path, json.dumps(pointer, indent=2, default=str))


def read_lineage(path: str | Path) -> dict[str, Any]:
    import pyarrow.parquet as pq

    metadata = pq.read_schema(path).metadata or {}
    if LINEAGE_KEY not in metadata:
        raise PipelineError(f"{path} carries no lineage; was it written by synth?")
    return json.loads(metadata[LINEAGE_KEY])


def _fsync(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def point_current(output_dir: str | Path, dataset: str, run_path: str | Path) -> Path:
    """`published/<dataset>/current`: a link to the run analysts should read, replaced in
    one rename, so a reader follows the old link or the new one, never a missing one."""
    folder = Path(output_dir) / "published" / dataset
    link = folder / CURRENT
    if link.exists() and not link.is_symlink():
        raise PipelineError(f"{link} is not a link made by synth; move it away, then run again")
    tmp = folder / f".{CURRENT}.tmp-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    os.symlink(os.path.relpath(Path(run_path).resolve(), folder.resolve()), tmp)
    os.replace(tmp, link)
    return link
