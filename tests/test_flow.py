"""The synthesize flow end to end through a real Prefect server, driven by the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipeline import cli
from pipeline.publish import read_lineage

pytestmark = pytest.mark.usefixtures("prefect_server")


def _paths(output: str, label: str) -> list[Path]:
    """Paths the CLI printed after `label` (globs expanded)."""
    found = []
    for line in output.splitlines():
        if line.startswith(label):
            text = line.split(maxsplit=1)[1]
            found += sorted(Path().glob(text)) if "*" in text else [Path(text)]
    return found


def test_demo_runs_end_to_end_and_rerun_reuses_the_model(in_project, capsys):
    assert cli.main(["demo", "--model", "gaussian_copula"]) == 0
    out = capsys.readouterr().out
    assert "dataset   student_placements" in out
    (parquet,) = _paths(out, "parquet")
    (manifest,) = _paths(out, "manifest")
    (report,) = _paths(out, "report")
    for path in (parquet, manifest, report):
        assert path.exists(), path
    synthetic = pd.read_parquet(parquet)
    assert len(synthetic) == 172  # as many rows as the 80 % training split
    assert synthetic["student_id"].is_unique
    lineage = read_lineage(parquet)
    on_disk = json.loads(manifest.read_text())
    assert lineage["run_id"] == on_disk["run_id"] and lineage["verdict"] in ("pass", "warn")
    assert lineage["split"]["kind"] == "random_rows"
    assert (in_project / "schemas/student_placements.yaml").exists()
    assert (in_project / "gx/expectations").is_dir()
    assert "<html" in report.read_text()[:200]
    latest = json.loads((in_project / "data/published/student_placements/_latest.json")
                        .read_text())
    assert latest["run_id"] == on_disk["run_id"] and Path(latest["path"]) == parquet.parent
    assert not list((in_project / "data/.staging").rglob("*.parquet"))

    assert cli.main(["demo", "--model", "gaussian_copula"]) == 0
    again = capsys.readouterr().out
    assert "(fitted model reused)" in again
    (parquet_again,) = _paths(again, "parquet")
    # same model, same seed: the second run's rows are the first run's rows
    pd.testing.assert_frame_equal(pd.read_parquet(parquet_again), synthetic)


def test_prefect_records_artifacts(in_project, capsys):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    assert cli.main(["demo", "--model", "gaussian_copula"]) == 0
    capsys.readouterr()

    with get_client(sync_client=True) as client:
        found = {a.key for a in client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(like_="student-placements")))}
    assert {"student-placements-summary", "student-placements-metrics"} <= found
    assert "student-placements-gaussian-copula-report" in found


def test_data_breaking_the_saved_schema_is_refused(in_project, capsys):
    assert cli.main(["demo", "--model", "gaussian_copula"]) == 0
    capsys.readouterr()
    bad = pd.read_csv(in_project / "data/demo/student_placements.csv")
    bad.loc[[3, 9], "gender"] = "X"
    bad.to_csv(in_project / "bad.csv", index=False)
    code = cli.main(["run", "--source", "bad.csv", "--name", "student_placements"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_USER_ERROR
    assert "column 'gender' has a category the schema does not list in row(s) 3, 9" in err
    # (no-traceback output is checked in a real process in test_cli.py: here pytest's
    # per-test stream capture makes Prefect's log handlers print logging errors)


def test_clock_readings_are_modelled_as_numbers_and_published_as_written(in_project, capsys):
    """Race times written h:mm:ss (fpp3's Boston marathon winners) were codes, published as
    impossible times; they are numbers of seconds, written back in the source's layout."""
    import numpy as np

    source = pd.read_csv(cli.write_demo_data(Path("data")))
    rng = np.random.default_rng(0)
    seconds = (7200 + 40 * source["degree_perc"] + rng.normal(0, 300, len(source))).round()
    source["race_time"] = [f"{int(s) // 3600:02d}:{int(s) % 3600 // 60:02d}:{int(s) % 60:02d}"
                           for s in seconds]
    source.to_csv("races.csv", index=False)
    assert cli.main(["run", "--source", "races.csv", "--name", "races"]) == 0
    out = capsys.readouterr().out
    schema = yaml.safe_load(Path("schemas/races.yaml").read_text())
    (spec,) = [c for c in schema["columns"] if c["name"] == "race_time"]
    assert (spec["role"], spec["clock"]) == ("numerical", "hh:mm:ss")
    (parquet,) = _paths(out, "parquet")
    published = pd.read_parquet(parquet)["race_time"]
    assert published.str.fullmatch(r"\d\d:[0-5]\d:[0-5]\d").all()
    assert published.min() >= source["race_time"].min()
    assert published.max() <= source["race_time"].max()
    assert published.nunique() > 50  # drawn, not a few real values repeated


def test_an_unknown_target_or_quasi_identifier_is_refused_before_any_fit(in_project, capsys):
    source = cli.write_demo_data(Path("data"))
    code = cli.main(["run", "--source", str(source), "--name", "students", "--target", "nosuch"])
    assert code == cli.EXIT_USER_ERROR
    assert "ml_utility target 'nosuch' is not a column" in capsys.readouterr().err
    job = in_project / "job.yaml"
    job.write_text(f"name: students\nsource: {source}\nquasi_identifiers: [gender, shoe]\n")
    assert cli.main(["run", str(job)]) == cli.EXIT_USER_ERROR
    assert "quasi_identifiers ['shoe'] are not modelled columns" in capsys.readouterr().err
    assert not (in_project / "data" / "models").exists()  # nothing was fitted


def test_privacy_failure_is_quarantined_and_fails_the_run(in_project, capsys):
    source = cli.write_demo_data(Path("data"))
    job = {"name": "strict", "source": str(source), "models": ["gaussian_copula"],
           # an impossible privacy bound: every model must fail it
           "thresholds": {"mia_p_value": {"min_value": 1.01}}}
    Path("strict.yaml").write_text(yaml.safe_dump(job))
    code = cli.main(["run", "strict.yaml"])
    captured = capsys.readouterr()
    assert code == cli.EXIT_VALIDATION_FAILED
    assert "QUARANTINE" in captured.out and "mia_p_value" in captured.err
    assert list((in_project / "data/quarantine/strict").rglob("part-00000.parquet"))
    assert not (in_project / "data/published/strict").exists()


def test_a_series_run_as_a_table_that_fails_is_told_the_series_options(in_project, capsys):
    # vega's seattle weather, one row a day: a faithful table model's rows sit beside real
    # days (river's airline passengers and plotnine's economics failed so); here the bound
    # is impossible, to fail for sure
    import vega_datasets

    vega_datasets.local_data.seattle_weather().to_csv("weather.csv", index=False)
    job = {"name": "weather", "source": "weather.csv", "models": ["gmm"],
           "thresholds": {"mia_p_value": {"min_value": 1.01}}}
    Path("weather.yaml").write_text(yaml.safe_dump(job))
    assert cli.main(["run", "weather.yaml"]) == cli.EXIT_VALIDATION_FAILED
    out = capsys.readouterr().out
    assert "hint      the table reads as time series ('date' is unique on every row)" in out
    assert "--model hmm --sequence-index date" in out


def test_time_series_demo_runs_end_to_end(in_project, capsys):
    assert cli.main(["demo", "--timeseries"]) == 0
    out = capsys.readouterr().out
    assert "dataset   store_sales" in out and "whole sequences" in out
    (parquet,) = _paths(out, "parquet")
    synthetic = pd.read_parquet(parquet)
    real = pd.read_csv(in_project / "data/demo/store_sales.csv", parse_dates=["date"])
    assert synthetic["store_id"].nunique() == 80  # one sequence per training store
    assert not set(synthetic["store_id"]) & set(real["store_id"])  # keys regenerated
    assert (synthetic["day_of_week"] == synthetic["date"].dt.dayofweek).all()
    assert synthetic.groupby("store_id")["date"].apply(lambda d: d.is_monotonic_increasing).all()


def test_a_series_validated_on_its_tails_is_published_over_its_whole_span(in_project, capsys):
    """statsmodels' macrodata as it ships: a year and a quarter column, no date. The series'
    index is composed from them; the output has the source's columns only."""
    from statsmodels.datasets import macrodata

    macro = macrodata.load_pandas().data[["year", "quarter", "realgdp", "cpi", "unemp"]]
    macro.to_csv("macro.csv", index=False)
    code = cli.main(["run", "--source", "macro.csv", "--name", "macro", "--model", "hmm"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "sequence tails" in out and "published from a refit on all 203 rows" in out
    (parquet,) = _paths(out, "parquet")
    synthetic = pd.read_parquet(parquet)
    assert list(synthetic.columns) == list(macro.columns)
    # the training part stops at 80 % of the span; the published series reach its end
    assert tuple(synthetic.iloc[-1][["year", "quarter"]]) == (2009, 3)
    # quarters stepped on the calendar, one after another
    steps = (synthetic["year"] * 4 + synthetic["quarter"]).diff().dropna()
    assert (steps == 1).all()
    lineage = read_lineage(parquet)
    assert lineage["published_from"]["rows"] == 203
    assert lineage["split"]["kind"] == "sequence_tails"  # the enum, not parsed from prose


def test_a_model_failing_privacy_gets_one_more_private_attempt(in_project, capsys):
    source = cli.write_demo_data(Path("data"))
    # 120 components on 172 rows: nearly a component per record, a memorising fit
    job = {"name": "memorising", "source": str(source), "models": ["gmm"],
           "model_params": {"gmm": {"n_components": 120, "smoothing": 0.01}}}
    Path("memorising.yaml").write_text(yaml.safe_dump(job))
    code = cli.main(["run", "memorising.yaml"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "attempt 1 FAIL with {'n_components': 120" in out
    # published: privacy passes; tighter protection may cost fidelity (a warning)
    assert re.search(r"attempt 2 (PASS|WARN) with \{'n_components': 30, 'smoothing': 2.0, "
                     r"'protect_rare': 5\}", out)
    (parquet,) = _paths(out, "parquet")
    lineage = read_lineage(parquet)
    first, second = lineage["attempts"]
    assert first["verdict"] == "fail" and second["verdict"] in ("pass", "warn")
    assert lineage["parameters"] == second["parameters"]
    assert first["model_artifact"] != second["model_artifact"]
    report = (parquet.parent / "_report.html").read_text()
    assert "Attempts: the first fit failed a privacy bound" in report


@pytest.mark.slow  # a whole flow run; the report's part is in test_neural_models
def test_a_network_run_records_its_kept_epoch_and_fidelity_curve(in_project, capsys):
    code = cli.main(["demo", "--model", "tvae"])
    out = capsys.readouterr().out
    assert code in (0, 3), out  # published, or quarantined by the privacy gate
    (manifest,) = [p for p in (in_project / "data").rglob("_manifest.json")
                   if "model=tvae" in str(p)]
    training = json.loads(manifest.read_text())["training"]
    assert 1 <= training["chosen_epoch"] <= training["epochs_run"]
    assert training["stopped_by"] in ("early stopping", "epochs")
    assert training["fidelity_curve"] and all(0 < c["fidelity"] <= 1
                                              for c in training["fidelity_curve"])
    report = manifest.parent / "_report.html"
    assert f"Kept the weights of epoch {training['chosen_epoch']}" in report.read_text()
