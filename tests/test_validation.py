"""The validation gate as a whole: metrics -> GE suites -> verdict, report, and audits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline import cli
from pipeline.schema import Role, detect_schema, enforce_schema
from pipeline.split import split_train_holdout
from pipeline.validation.validate import validate_synthetic

N_ROWS = 4000


@pytest.fixture(scope="module")
def adult_split(adult_frame):
    frame = adult_frame.sample(N_ROWS, random_state=0).reset_index(drop=True)
    schema = detect_schema(frame, "adult_small")
    frame = enforce_schema(frame, schema)
    train, holdout, _ = split_train_holdout(frame, schema, 0.2, seed=0)
    return train, holdout, schema


def independent_columns(train: pd.DataFrame, seed: int) -> pd.DataFrame:
    """An honest (if poor) synthesizer: every column resampled on its own."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({c: train[c].to_numpy()[rng.integers(0, len(train), len(train))]
                         for c in train.columns}).astype(train.dtypes.to_dict())


def with_copied_rows(synthetic: pd.DataFrame, train: pd.DataFrame, share: float) -> pd.DataFrame:
    leaked = synthetic.copy()
    n = int(len(leaked) * share)
    leaked.iloc[:n] = train.sample(n, random_state=1).to_numpy()
    return leaked.astype(train.dtypes.to_dict())


def _validate(synthetic, adult_split, tmp_path, **kwargs):
    train, holdout, schema = adult_split
    return validate_synthetic(synthetic, train, holdout, schema, model="test", run_id="r",
                              gx_dir=tmp_path / "gx", **kwargs)


def test_a_ten_percent_copy_leak_fails_and_honest_output_does_not(adult_split, tmp_path):
    train = adult_split[0]
    honest = independent_columns(train, seed=5)
    leaked = with_copied_rows(honest, train, 0.10)
    honest_result = _validate(honest, adult_split, tmp_path)
    leak_result = _validate(leaked, adult_split, tmp_path)
    assert honest_result.verdict in ("pass", "warn"), honest_result.reasons
    assert not [r for r in honest_result.reasons if r.startswith("privacy")]
    assert leak_result.verdict == "fail"
    failed = {f["column"] for f in leak_result.failed_expectations if f["kind"] == "privacy"}
    assert {"exact_copy_p_value", "near_copy_p_value"} <= failed
    # the report says it in words, naming the share copied and the worst-inferred column
    words = " ".join(leak_result.findings)
    assert "exact copies of a training record (10." in words and "Guessing" in words
    assert (tmp_path / "gx/expectations/adult_small/metrics.json").exists()


def test_near_copies_that_exact_matching_misses_still_fail(adult_split, tmp_path):
    train = adult_split[0]
    near = with_copied_rows(independent_columns(train, seed=5), train, 0.10)
    n = int(len(near) * 0.10)
    near.loc[: n - 1, "fnlwgt"] = near.loc[: n - 1, "fnlwgt"] + 7  # nudge one value
    result = _validate(near, adult_split, tmp_path)
    assert result.metrics["exact_copy_rate"] < 0.01
    assert result.verdict == "fail"
    failed = {f["column"] for f in result.failed_expectations if f["kind"] == "privacy"}
    assert {"near_copy_p_value", "dcr_close_p_value"} <= failed


def test_thresholds_can_be_overridden_per_job(adult_split, tmp_path):
    train = adult_split[0]
    honest = independent_columns(train, seed=6)
    strict = _validate(honest, adult_split, tmp_path,
                       threshold_overrides={"column_shapes": {"min_value": 0.9999}})
    assert strict.verdict == "warn"
    assert any("column_shapes" in r for r in strict.reasons)
    from pipeline.errors import PipelineError

    with pytest.raises(PipelineError, match="unknown metric 'colum_shapes'"):
        _validate(honest, adult_split, tmp_path,
                  threshold_overrides={"colum_shapes": {"min_value": 0.9}})


def test_schema_conformance_failure_fails_the_model(adult_split, tmp_path):
    train = adult_split[0]
    broken = independent_columns(train, seed=7)
    broken["age"] = broken["age"] + 500  # beyond the real maximum
    result = _validate(broken, adult_split, tmp_path)
    assert result.verdict == "fail"
    assert any(r.startswith("schema:") and "'age'" in r for r in result.reasons)


def test_audit_of_an_external_file(adult_path, in_project, capsys):
    frame = pd.read_csv(adult_path, skipinitialspace=True).sample(3000, random_state=3)
    frame.to_csv(in_project / "real.csv", index=False)
    copied = frame.sample(2400, random_state=4)  # "synthetic" data that is real rows
    copied.to_csv(in_project / "copied.csv", index=False)
    code = cli.main(["validate", "--real", "real.csv", "--synthetic", "copied.csv",
                     "--name", "adult_audit"])
    out = capsys.readouterr().out
    assert code == cli.EXIT_VALIDATION_FAILED
    assert "verdict: FAIL" in out and "exact_copy_p_value" in out
    report = in_project / "data/audits/adult_audit/audit-copied.html"
    assert report.exists()


def test_an_audit_of_a_series_applies_the_flows_gates(nyc_weather_path, in_project):
    """Three airports: the holdout is each series' last months, a later season, so as in the
    flow only exact copies are gated (distances to a later season measure the season)."""
    from pipeline.audit import audit

    weather = pd.read_csv(nyc_weather_path)
    weather = weather[weather["origin"] != "LGA"].groupby("origin").head(400)
    weather.to_csv(in_project / "real.csv", index=False)
    weather.sample(frac=1.0, random_state=0).to_csv(in_project / "synthetic.csv", index=False)
    (in_project / "schemas").mkdir()
    from pipeline.ingest import read_source
    from pipeline.schema import detect_schema

    frame, _ = read_source(in_project / "real.csv")
    detect_schema(frame, "weather_audit", sequence_key="origin",
                  sequence_index="time_hour").save(in_project / "schemas/weather_audit.yaml")
    result = audit(real="real.csv", synthetic="synthetic.csv", name="weather_audit")
    assert result["gated_privacy"] == ["exact_copy_p_value"]
    assert result["verdict"] == "fail"  # the real rows themselves: exact copies


def test_a_wide_tables_heatmap_shows_the_columns_that_differ_most():
    from pipeline.report import MAX_HEATMAP_COLUMNS, _correlation_heatmap

    rng = np.random.default_rng(0)
    real = pd.DataFrame(rng.normal(size=(300, 40)), columns=[f"x{i}" for i in range(40)])
    synthetic = real.sample(frac=1, random_state=1).reset_index(drop=True)
    synthetic["x7"] = real["x3"] * 0.9 + rng.normal(0, 0.1, 300)  # x7 now follows x3
    schema = detect_schema(real, "wide")
    html = _correlation_heatmap(real, synthetic, schema)
    assert f"The {MAX_HEATMAP_COLUMNS} of 40 numeric columns" in html and "<img" in html


def test_a_suite_another_run_saved_meanwhile_is_saved_again_and_validated(adult_split, tmp_path):
    # two runs of one job share gx/: the other one replaces the suite between this run's
    # save and its checkpoint, which GX refuses as stale unless the suite is saved again
    from pipeline.validation import suites

    train, _, schema = adult_split
    ours = suites.get_context(tmp_path / "gx")
    theirs = suites.get_context(tmp_path / "gx")
    suite = suites.ensure_suite(ours, "adult.data", suites.data_suite_expectations(schema, train))
    theirs.suites.delete("adult.data")  # the other run starts over: a suite of a new id
    suites.ensure_suite(theirs, "adult.data", suites.data_suite_expectations(schema, train))
    outcome = suites.run_checkpoint(ours, suite, "adult.gmm.synthetic", train.head(500), "r1")
    assert outcome.success and outcome.evaluated > 10


def test_a_suite_follows_a_changed_schema_and_keeps_edits_otherwise(adult_split, tmp_path):
    # a column's role changed in the schema file: the old suite's expectations for it would
    # fail good output, so the suite is made again; with the same schema, the user's copy stays
    from pipeline.validation import suites

    train, _, schema = adult_split
    context = suites.get_context(tmp_path / "gx")
    first = suites.ensure_suite(context, "adult.data",
                                suites.data_suite_expectations(schema, train), schema=schema)
    first.expectations.pop()
    first.save()  # the user's edit
    kept = suites.ensure_suite(context, "adult.data",
                               suites.data_suite_expectations(schema, train), schema=schema)
    assert len(kept.expectations) == len(first.expectations)
    changed = schema.model_copy(deep=True)
    spec = changed.column("age")
    spec.role, spec.integer = Role.categorical, False
    spec.categories = sorted(int(v) for v in train["age"].unique())
    remade = suites.ensure_suite(context, "adult.data",
                                 suites.data_suite_expectations(changed, train), schema=changed)
    assert remade.meta["schema"] == suites.schema_fingerprint(changed)
    outcome = suites.run_checkpoint(context, remade, "adult.gmm.synthetic",
                                    enforce_schema(train.head(500), changed), "r2")
    assert outcome.success


def test_a_column_known_only_in_the_holdout_is_no_crash_for_the_classifiers():
    """stevedata's sea levels: a NOAA series begins in the held-out tail's years, so every
    training and synthetic row misses it; scikit-learn's binning raised "window shape
    cannot be larger than input array shape" out of the detection classifier (a traceback
    from `synth run --model hmm`). Here seattle's precipitation, missing before 2015."""
    import vega_datasets

    from pipeline.validation.classifiers import detection_auc, ml_utility

    frame = vega_datasets.local_data.seattle_weather()
    schema = detect_schema(frame, "weather")
    train, holdout = frame[frame["date"] < "2015-01-01"].copy(), frame[frame["date"] >= "2015"]
    train["precipitation"] = np.nan
    synthetic = train.sample(frac=1.0, random_state=0).reset_index(drop=True)
    synthetic["temp_max"] += np.random.default_rng(0).normal(0, 1, len(synthetic))
    assert 0.0 <= detection_auc(train, synthetic, schema, seed=0)["auc"] <= 1.0
    for target in ("temp_max", "weather"):  # a regression and a classification
        assert np.isfinite(ml_utility(train, synthetic, holdout, schema, target)["synthetic"])
