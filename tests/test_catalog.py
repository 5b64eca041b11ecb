"""What analysts read: the current link, the run history, retention and the DuckDB catalog,
built from real Parquet publications (no Prefect here; the flow-level runs are in
test_analyst_runs.py)."""

from __future__ import annotations

import json
import threading
import time

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pytest

from pipeline import catalog, drift
from pipeline.publish import MANIFEST, Publication, point_current
from pipeline.retention import DAY_SECONDS, apply_retention


def _publish(root, run_id: str, rows: int, model: str = "gmm", verdict: str = "pass",
             shapes: float = 0.95, request: str | None = None):
    """One finished run as the flow leaves it: parts, manifest, a history line."""
    frame = pd.DataFrame({"x": np.arange(rows), "grade": ["A", "B"] * (rows // 2)})
    publication = Publication(root, "people", model, run_id, {"run_id": run_id,
                                                               "model": model})
    publication.write_part(0, frame)
    manifest = publication.finalise(quarantine=verdict == "fail")
    result = {"model": model, "verdict": verdict, "rows": rows, "path": manifest["path"],
              "reasons": [], "written_at": manifest["written_at"],
              "metrics": {"column_shapes": shapes, "detection_auc": 0.6,
                          "not_a_number": float("nan")}}
    catalog.append_history(root, catalog.run_record("people", run_id, result, request))
    return manifest["path"]


def test_the_current_view_reads_the_same_rows_in_pandas_polars_and_duckdb(tmp_path):
    _publish(tmp_path, "20260101T000000Z-a", 10)
    latest = _publish(tmp_path, "20260102T000000Z-b", 14)
    _publish(tmp_path, "20260103T000000Z-c", 8, verdict="fail")  # quarantined: not current
    point_current(tmp_path, "people", latest)
    path = catalog.rebuild(tmp_path)
    current = tmp_path / "published/people/current"

    expected = pd.read_parquet(f"{latest}/part-00000.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(current), expected)
    assert pl.read_parquet(f"{current}/*.parquet").to_pandas().equals(expected)
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.sql("select * from people").df().equals(expected)
        every = con.sql("select model, run, verdict, count(*) n from people_runs "
                        "group by all order by run").fetchall()
        assert every == [("gmm", "20260101T000000Z-a", "pass", 10),
                         ("gmm", "20260102T000000Z-b", "pass", 14)]
        runs = con.sql("select run_id, area, current from runs order by run_id").fetchall()
        assert runs[1] == ("20260102T000000Z-b", "published", True)
        assert runs[2][1] == "quarantine"
        metrics = con.sql("select run_id, value from people_metrics "
                          "where metric = 'column_shapes'").fetchall()
        assert len(metrics) == 3  # the NaN metric was left out, not written as null text


def test_the_current_link_is_replaced_whole_while_readers_follow_it(tmp_path):
    first = _publish(tmp_path, "20260101T000000Z-a", 10)
    second = _publish(tmp_path, "20260102T000000Z-b", 14)
    point_current(tmp_path, "people", first)
    link = tmp_path / "published/people/current"
    seen, stop = set(), threading.Event()

    def read():
        while not stop.is_set():
            seen.add(len(pd.read_parquet(link)))

    reader = threading.Thread(target=read)
    reader.start()
    for i in range(40):
        point_current(tmp_path, "people", second if i % 2 else first)
    stop.set()
    reader.join()
    assert seen <= {10, 14} and seen  # never a missing or half-made link
    assert link.is_symlink() and not link.readlink().is_absolute()  # moves with the folder


def test_a_folder_where_the_link_goes_is_refused_not_replaced(tmp_path):
    run = _publish(tmp_path, "20260101T000000Z-a", 10)
    (tmp_path / "published/people/current").mkdir()
    with pytest.raises(Exception, match="is not a link made by synth"):
        point_current(tmp_path, "people", run)


def test_retention_keeps_the_last_runs_per_model_and_the_current_one(tmp_path):
    paths = [_publish(tmp_path, f"2026010{i}T000000Z-r", 10) for i in range(1, 6)]
    other = _publish(tmp_path, "20260101T000000Z-r", 10, model="ctgan")
    point_current(tmp_path, "people", paths[0])  # the oldest: kept whatever its age
    removed = apply_retention(tmp_path, "people", keep_runs=2, quarantine_days=14)
    left = sorted(p.name for p in (tmp_path / "published/people/model=gmm").iterdir())
    assert left == ["run=20260101T000000Z-r", "run=20260104T000000Z-r",
                    "run=20260105T000000Z-r"]
    assert {str(p) for p in removed} == {paths[1], paths[2]}
    assert (tmp_path / "published/people/model=ctgan").exists() and other  # its own count
    assert not any((tmp_path / ".trash").iterdir())  # moved out, then deleted
    listed = {r["run_id"]: r["present"] for r in catalog.runs(tmp_path, "people")
              if r["model"] == "gmm"}
    assert listed["20260102T000000Z-r"] is False and listed["20260105T000000Z-r"] is True


def test_a_quarantined_run_is_kept_its_days_then_removed(tmp_path):
    run = _publish(tmp_path, "20260101T000000Z-q", 10, verdict="fail")
    written = json.loads((tmp_path / "quarantine/people/model=gmm/run=20260101T000000Z-q"
                          / MANIFEST).read_text())["written_at"]
    assert written
    assert apply_retention(tmp_path, "people", 7, quarantine_days=2,
                           now=time.time() + 1 * DAY_SECONDS) == []
    removed = apply_retention(tmp_path, "people", 7, quarantine_days=2,
                              now=time.time() + 3 * DAY_SECONDS)
    assert [str(p) for p in removed] == [run]


def test_two_writers_and_a_reader_of_the_catalog_at_once(tmp_path):
    latest = _publish(tmp_path, "20260101T000000Z-a", 10)
    point_current(tmp_path, "people", latest)
    catalog.rebuild(tmp_path)
    errors = []

    def write():
        try:
            for _ in range(5):
                catalog.rebuild(tmp_path)
        except Exception as exc:  # noqa: BLE001 - the test reports any failure
            errors.append(exc)

    writers = [threading.Thread(target=write) for _ in range(2)]
    for w in writers:
        w.start()
    for _ in range(10):
        with duckdb.connect(str(tmp_path / catalog.CATALOG), read_only=True) as con:
            assert con.execute("select count(*) from people").fetchone() == (10,)
    for w in writers:
        w.join()
    assert not errors
    assert not list(tmp_path.glob(".catalog.duckdb.tmp-*"))


def test_history_survives_a_line_cut_short_by_a_crash(tmp_path):
    _publish(tmp_path, "20260101T000000Z-a", 10)
    with open(catalog.history_path(tmp_path, "people"), "a") as handle:
        handle.write('{"dataset": "people", "run_')
    _publish(tmp_path, "20260102T000000Z-b", 10)
    assert [r["run_id"] for r in catalog.read_history(tmp_path, "people")] == [
        "20260101T000000Z-a", "20260102T000000Z-b"]


def test_drift_flags_a_drop_beyond_the_tolerance_in_the_metric_s_own_direction():
    def record(run, shapes, auc, area="published", request=None):
        return {"model": "gmm", "run_id": run, "area": area, "request": request,
                "metrics": {"column_shapes": shapes, "detection_auc": auc}}

    history = [record("r1", 0.95, 0.60), record("r2", 0.96, 0.62), record("r3", 0.94, 0.61),
               record("r4", 0.10, 0.99, area="quarantine"),  # failed runs are not the bar
               record("r5", 0.50, 0.99, request="sex=Female")]  # nor samples on demand
    found = drift.compare(history, "gmm", "r6", {"column_shapes": 0.88, "detection_auc": 0.64},
                          tolerance=0.05)
    rows = {r["metric"]: r for r in found.rows}
    assert rows["column_shapes"]["previous"] == 0.95 and rows["column_shapes"]["runs"] == 3
    assert rows["column_shapes"]["flagged"] and not rows["detection_auc"]["flagged"]
    assert found.series["column_shapes"][-1] == ("r6", 0.88)
    assert len(found.drops) == 1 and "column_shapes 0.880" in found.drops[0]
    worse_auc = drift.compare(history, "gmm", "r6", {"detection_auc": 0.70}, tolerance=0.05)
    assert worse_auc.rows[0]["flagged"]  # a higher AUC is worse
    assert not drift.compare(history, "gmm", "r6", {"column_shapes": 0.5}, None).drops
    assert drift.compare([], "gmm", "r1", {"column_shapes": 0.5}, 0.05).rows == []


def test_runs_from_before_the_history_are_read_from_their_manifests(tmp_path):
    old = Publication(tmp_path, "people", "gmm", "20250101T000000Z-old", {
        "run_id": "20250101T000000Z-old", "model": "gmm", "verdict": "warn",
        "attempts": [{"verdict": "warn", "reasons": ["fidelity: x"],
                      "metrics": {"column_shapes": 0.8}}]})
    old.write_part(0, pd.DataFrame({"x": range(5)}))
    old.finalise(quarantine=False)
    _publish(tmp_path, "20260101T000000Z-new", 10)
    listed = catalog.runs(tmp_path, "people")
    assert [(r["run_id"], r["verdict"], r["rows"]) for r in listed] == [
        ("20260101T000000Z-new", "pass", 10), ("20250101T000000Z-old", "warn", 5)]
    assert listed[1]["metrics"] == {"column_shapes": 0.8} and listed[1]["present"]
    with duckdb.connect(str(catalog.rebuild(tmp_path)), read_only=True) as con:
        assert con.execute("select count(*) from runs").fetchone() == (2,)


def test_a_model_no_kept_run_names_is_removed_once_idle(tmp_path):
    import os

    models = tmp_path / "models" / "people"
    for name in ("gmm-named", "gmm-retried", "gmm-unnamed-old", "gmm-unnamed-recent"):
        (models / name).mkdir(parents=True)
        (models / name / "card.json").write_text("{}")
    publication = Publication(tmp_path, "people", "gmm", "20260101T000000Z-a", {
        "run_id": "20260101T000000Z-a", "model": "gmm",
        "model_artifact": str(models / "gmm-named"),
        "attempts": [{"model_artifact": "elsewhere/gmm-retried"}]})
    publication.write_part(0, pd.DataFrame({"x": range(3)}))
    publication.finalise(quarantine=False)
    week_ago = time.time() - 7 * DAY_SECONDS
    for name in ("gmm-named", "gmm-retried", "gmm-unnamed-old"):
        for path in (models / name / "card.json", models / name):
            os.utime(path, (week_ago, week_ago))
    removed = apply_retention(tmp_path, "people", keep_runs=7, quarantine_days=14)
    assert [p.name for p in removed] == ["gmm-unnamed-old"]
    assert sorted(p.name for p in models.iterdir()) == [
        "gmm-named", "gmm-retried", "gmm-unnamed-recent"]
