"""What an analyst sees after scheduled runs: the current view in pandas, polars and DuckDB,
retention, drift against earlier runs in the report and in Prefect, `synth runs` and
`synth show`, and samples on demand; real flow runs through the session's Prefect server."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pytest
import yaml

from pipeline import cli

pytestmark = pytest.mark.usefixtures("prefect_server")


def _job(folder: Path, **extra) -> Path:
    source = cli.write_demo_data(folder / "data")
    path = folder / "students.yaml"
    path.write_text(yaml.safe_dump({"name": "students", "source": str(source),
                                    "models": ["gmm"], **extra}))
    return path


def _run(capsys, *argv: str) -> tuple[int, str]:
    code = cli.main(list(argv))
    return code, capsys.readouterr().out


def test_three_nightly_runs_current_view_retention_drift_and_listing(in_project, capsys):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    for seed in (1, 2):
        job = _job(in_project, seed=seed, keep_runs=2, drift_tolerance=0.02)
        assert _run(capsys, "run", str(job))[0] == 0
    # the third night's model is much coarser: its quality drops against the first two
    job = _job(in_project, seed=3, keep_runs=2, drift_tolerance=0.02,
               model_params={"gmm": {"n_components": 1}})
    code, out = _run(capsys, "run", str(job))
    assert code == 0 and "WARN" in out and "worse than the median" in out

    summary = json.loads((in_project / "data/published/students/_latest.json").read_text())
    latest = Path(summary["path"])
    expected = pd.read_parquet(latest / "part-00000.parquet")
    current = in_project / "data/published/students/current"
    pd.testing.assert_frame_equal(pd.read_parquet(current), expected)
    # polars lists a dictionary column's labels in the order it meets them
    pd.testing.assert_frame_equal(pl.read_parquet(f"{current}/*.parquet").to_pandas(),
                                  expected, check_dtype=False, check_categorical=False)
    with duckdb.connect(str(in_project / "data/catalog.duckdb"), read_only=True) as con:
        from_duckdb = con.sql("select * from students").df()
        runs = con.sql("select distinct run from students_runs").fetchall()
        drops = con.sql("select count(*) from students_metrics where metric = "
                        "'column_pair_trends'").fetchall()
    # DuckDB reads a dictionary-encoded column as plain text
    labels = {c: object for c in expected.select_dtypes("category").columns}
    pd.testing.assert_frame_equal(from_duckdb, expected.astype(labels), check_dtype=False)
    assert len(runs) == 2 == len(list((in_project / "data/published/students/model=gmm")
                                      .iterdir()))  # retention kept two runs
    assert drops == [(3,)]  # the history keeps every run's metrics

    report = (latest / "_report.html").read_text()
    assert "Against earlier runs" in report and "<tr class=bad><td>" in report.split(
        "Against earlier runs")[1]
    with get_client(sync_client=True) as client:  # the third run's (the second made one too)
        (artifact,) = client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=["students-drift"])), sort=ArtifactSort.CREATED_DESC,
            limit=1)
    rows = json.loads(artifact.data) if isinstance(artifact.data, str) else artifact.data
    assert any(r["flagged"] for r in rows) and all(len(r["history"]) == 3 for r in rows)

    code, listing = _run(capsys, "runs", "students")
    lines = listing.splitlines()[1:]
    assert code == 0 and len(lines) == 3
    assert "current" in lines[0] and summary["run_id"] in lines[0]
    assert "(removed)" in lines[2]
    code, shown = _run(capsys, "show", summary["run_id"])
    assert code == 0 and f"report    {latest.resolve() / '_report.html'}" in shown
    assert "WARN" in shown and "(current)" in shown


def test_a_sample_on_demand_is_exact_labelled_and_leaves_current_alone(in_project, capsys):
    job = _job(in_project)
    assert _run(capsys, "run", str(job))[0] == 0
    before = (in_project / "data/published/students/current").resolve()
    code, out = _run(capsys, "run", str(job), "--condition", "gender=M", "--condition",
                     "placed=yes", "--rows", "250")
    assert code == 0 and "request   gender=M; placed=True" in out
    (run,) = [p for p in (in_project / "data/published/students/model=gmm").iterdir()
              if p.resolve() != before]
    rows = pd.read_parquet(run)
    assert len(rows) == 250 and (rows["gender"] == "M").all() and rows["placed"].all()
    manifest = json.loads((run / "_manifest.json").read_text())
    assert manifest["request"]["conditions"] == {"gender": "M", "placed": True}
    assert (in_project / "data/published/students/current").resolve() == before
    with duckdb.connect(str(in_project / "data/catalog.duckdb"), read_only=True) as con:
        labels = con.sql("select request from runs order by run_id").fetchall()
    assert labels == [(None,), ("gender=M; placed=True",)]


def test_an_impossible_condition_is_refused_before_any_fit(in_project, capsys):
    job = _job(in_project)
    code = cli.main(["run", str(job), "--condition", "gender=X"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_USER_ERROR
    assert "condition gender='X' is impossible: 'gender' takes the values F, M" in err
    assert not (in_project / "data/models").exists()
    assert not (in_project / "data/published").exists()
