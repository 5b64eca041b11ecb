"""Publish: atomic writes, lineage readable back, one glob for pandas, DuckDB and polars."""

from __future__ import annotations

import json

import duckdb
import pandas as pd
import polars as pl
import pytest

from pipeline import publish as pub
from pipeline.errors import PipelineError


@pytest.fixture
def table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": pd.array([30, None, 41], dtype="Int64"),
            "job": pd.array(["a", "b", None], dtype="string"),
            "when": pd.to_datetime(["2020-01-01", "2021-05-06", None]),
            "ok": pd.array([True, False, None], dtype="boolean"),
        }
    )


def _publication(tmp_path, model="gmm", run_id="r1") -> pub.Publication:
    lineage = {
        "run_id": run_id,
        "model": model,
        "seed": 3,
        "verdict": "pass",
        "source_fingerprint": "sha256:abc",
        "library_versions": {"pandas": pd.__version__},
    }
    return pub.Publication(tmp_path, "people", model, run_id, lineage)


def _publish(table, tmp_path, model="gmm", run_id="r1", quarantine=False, report_html=None):
    """As the flow does: two staged parts, then one finalise."""
    publication = _publication(tmp_path, model, run_id)
    publication.write_part(0, table.iloc[:2])
    publication.write_part(1, table.iloc[2:])
    return publication.finalise(quarantine=quarantine, report_html=report_html)


def test_lineage_round_trips_through_pyarrow_and_duckdb(table, tmp_path):
    manifest = _publish(table, tmp_path, report_html="<html></html>")
    part = tmp_path / "published/people/model=gmm/run=r1/part-00000.parquet"
    assert manifest["path"] == str(part.parent)
    lineage = pub.read_lineage(part)
    assert lineage["seed"] == 3 and lineage["source_fingerprint"] == "sha256:abc"
    row = duckdb.sql(
        f"select decode(value) from parquet_kv_metadata('{part}') "
        "where decode(key) = 'synth.lineage'"
    ).fetchall()[0]
    assert json.loads(row[0])["run_id"] == "r1"
    on_disk = json.loads((part.parent / pub.MANIFEST).read_text())
    assert on_disk["rows"] == 3
    assert on_disk["files"] == ["part-00000.parquet", "part-00001.parquet"]
    assert (part.parent / pub.REPORT).exists()


def test_one_path_or_glob_reads_every_run(table, tmp_path):
    _publish(table, tmp_path, model="gmm", run_id="r1", report_html="<p>")
    _publish(table, tmp_path, model="ctgan", run_id="r2", report_html="<p>")
    root = tmp_path / "published/people"
    via_pandas = pd.read_parquet(root)  # side files start with "_" and are skipped
    assert len(via_pandas) == 6 and set(via_pandas["model"]) == {"gmm", "ctgan"}
    assert not (root.parent.parent / ".staging" / "people" / "model=gmm" / "run=r1").exists()
    via_duckdb = duckdb.sql(f"select count(*), count(distinct run) from '{root}/**/*.parquet'")
    assert via_duckdb.fetchall()[0] == (6, 2)
    via_polars = pl.read_parquet(f"{root}/**/*.parquet", hive_partitioning=True)
    assert via_polars.height == 6 and set(via_polars["model"]) == {"gmm", "ctgan"}
    roundtrip = pd.read_parquet(root / "model=gmm/run=r1")
    pd.testing.assert_frame_equal(roundtrip, table, check_dtype=False)


def test_failure_mid_write_leaves_nothing_published(table, tmp_path, monkeypatch):
    """Interrupt the writer after some bytes are on disk: no file, no run folder appears."""
    import pyarrow.parquet as pq

    real_write = pq.ParquetWriter.write_table

    def write_then_fail(self, *args, **kwargs):
        real_write(self, *args, **kwargs)
        raise OSError("disk full")

    monkeypatch.setattr(pq.ParquetWriter, "write_table", write_then_fail)
    with pytest.raises(OSError, match="disk full"):
        _publish(table, tmp_path)
    dataset = tmp_path / "published/people"
    leftovers = [p for p in dataset.rglob("*")] if dataset.exists() else []
    assert not [p for p in leftovers if p.suffix == ".parquet" or p.name.startswith("run=")]
    assert not [p for p in leftovers if p.is_file()]


def test_quarantine_is_kept_apart(table, tmp_path):
    manifest = _publish(table, tmp_path, quarantine=True)
    assert "/quarantine/people/" in manifest["path"]
    assert not (tmp_path / "published").exists()


def test_another_run_in_the_same_place_is_refused(table, tmp_path):
    _publish(table, tmp_path)
    other = _publication(tmp_path)
    other.write_part(0, table)
    with pytest.raises(PipelineError, match="already holds a run"):
        other.finalise(quarantine=False)


def test_a_failed_finalise_keeps_the_parts_and_its_retry_publishes_them(
        table, tmp_path, monkeypatch):
    publication = _publication(tmp_path)
    publication.write_part(0, table)
    real_write = pub.write_text_atomic

    def full_disk(path, text):
        raise OSError("disk full")

    monkeypatch.setattr(pub, "write_text_atomic", full_disk)
    with pytest.raises(OSError, match="disk full"):
        publication.finalise(quarantine=False, report_html="<p>")
    assert (publication.staging / "part-00000.parquet").exists()  # nothing lost
    monkeypatch.setattr(pub, "write_text_atomic", real_write)
    manifest = publication.finalise(quarantine=False, report_html="<p>")
    assert manifest["rows"] == 3 and not publication.staging.exists()


def test_finalising_twice_returns_the_same_manifest(table, tmp_path):
    """A retry after a rename whose reply was lost must not fail a published run."""
    publication = _publication(tmp_path)
    publication.write_part(0, table)
    first = publication.finalise(quarantine=False)
    again = publication.finalise(quarantine=False)
    assert again["path"] == first["path"] and again["files"] == first["files"]


def test_discard_removes_what_was_staged(table, tmp_path):
    publication = _publication(tmp_path)
    publication.write_part(0, table)
    publication.discard()
    assert not publication.staging.exists()
    with pytest.raises(PipelineError, match="nothing to publish"):
        publication.finalise(quarantine=False)


def test_latest_pointer_names_the_run_and_is_replaced_whole(table, tmp_path):
    first = _publish(table, tmp_path, run_id="r1")
    pub.point_latest(tmp_path, "people", first, {"column_shapes": 0.9})
    second = _publish(table, tmp_path, run_id="r2")
    path = pub.point_latest(tmp_path, "people", second, {"column_shapes": 0.95})
    pointer = json.loads(path.read_text())
    assert pointer["run_id"] == "r2" and pointer["path"] == second["path"]
    assert pd.read_parquet(pointer["path"]).shape == table.shape
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []


def test_abandoned_staging_is_swept_and_a_live_one_is_kept(table, tmp_path):
    import os
    import time

    dead, live = _publication(tmp_path, run_id="dead"), _publication(tmp_path, run_id="live")
    dead.write_part(0, table)
    live.write_part(0, table)
    old = time.time() - pub.ABANDONED_AFTER_SECONDS - 60
    for path in [*dead.staging.rglob("*"), dead.staging]:
        os.utime(path, (old, old))
    assert pub.sweep_abandoned(tmp_path, "people") == [dead.staging]
    assert not dead.staging.exists() and (live.staging / "part-00000.parquet").exists()
