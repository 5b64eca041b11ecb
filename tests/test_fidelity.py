"""Fidelity metrics: known answers, and SDMetrics' QualityReport as the oracle."""

from __future__ import annotations

import json
from importlib.resources import files

import numpy as np
import pandas as pd
import pytest

from pipeline.errors import PipelineError
from pipeline.schema import detect_schema, enforce_schema
from pipeline.validation import fidelity

DEMO = files("sdmetrics").joinpath("demos/single_table")


@pytest.fixture(scope="module")
def placements():
    """The sdmetrics demo table (mixed types, dates, missing values) and its shipped synthetic
    counterpart, both cast to the schema detected on the real one."""
    dates = ["start_date", "end_date"]
    real = pd.read_csv(DEMO.joinpath("student_placements_real.csv"), parse_dates=dates)
    synthetic = pd.read_csv(DEMO.joinpath("student_placements_synthetic.csv"), parse_dates=dates)
    schema = detect_schema(real, "student_placements")
    return schema, enforce_schema(real, schema), enforce_schema(synthetic[real.columns], schema)


@pytest.fixture(scope="module")
def adult(adult_frame):
    schema = detect_schema(adult_frame, "adult")
    return schema, enforce_schema(adult_frame, schema)


def shuffled_columns(df: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Each column permuted on its own: marginals kept exactly, relationships destroyed."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        c: df[c].iloc[rng.permutation(len(df))].reset_index(drop=True) for c in df.columns
    })


def sdmetrics_quality(real, synthetic, schema):
    from sdmetrics.reports.single_table import QualityReport

    columns = schema.modelled_columns()
    metadata = {"columns": {c: {"sdtype": schema.column(c).role.value} for c in columns}}
    report = QualityReport()
    report.generate(real[columns], synthetic[columns], metadata, verbose=False)
    return report


def pair_key(a: str, b: str) -> frozenset:
    return frozenset((a, b))


def assert_matches_sdmetrics(real, synthetic, schema):
    shapes = fidelity.column_shapes(real, synthetic, schema)
    trends = fidelity.column_pair_trends(real, synthetic, schema)
    report = sdmetrics_quality(real, synthetic, schema)
    properties = report.get_properties().set_index("Property")["Score"]
    assert shapes["score"] == pytest.approx(properties["Column Shapes"], abs=0.01)
    assert trends["score"] == pytest.approx(properties["Column Pair Trends"], abs=0.01)

    expected_columns = report.get_details("Column Shapes").set_index("Column")["Score"]
    for column, score in expected_columns.items():
        assert shapes["columns"][column]["score"] == pytest.approx(score, abs=0.01), column

    # Every pair SDMetrics scores (it leaves pairs below its real-data thresholds as NaN).
    expected_pairs = report.get_details("Column Pair Trends")
    ours = {pair_key(p["column_1"], p["column_2"]): p for p in trends["pairs"]}
    assert len(ours) == len(expected_pairs)
    for row in expected_pairs.to_dict("records"):
        pair = (row["Column 1"], row["Column 2"])
        mine = ours[pair_key(*pair)]
        assert mine["metric"] == row["Metric"], pair
        assert mine["meets_threshold"] == (row["Meets Threshold?"] is True), pair
        if mine["meets_threshold"]:
            assert mine["score"] == pytest.approx(row["Score"], abs=0.01), pair
    return shapes, trends


# --- known answers ---------------------------------------------------------------------------
def test_identical_frames_score_one(placements):
    schema, real, _ = placements
    shapes = fidelity.column_shapes(real, real.copy(), schema)
    trends = fidelity.column_pair_trends(real, real.copy(), schema)
    assert shapes["score"] == pytest.approx(1.0)
    assert trends["score"] == pytest.approx(1.0)
    assert trends["score_all_pairs"] == pytest.approx(1.0)
    # ids are never compared
    assert "student_id" not in shapes["columns"]


def test_disjoint_values_score_zero():
    data = pd.DataFrame({
        "colour": ["red", "blue"] * 10 + ["green"] * 20,
        "size": list(range(20)) + list(range(100, 120)),
    })
    schema = detect_schema(data, "disjoint")
    data = enforce_schema(data, schema)
    real, synthetic = data.iloc[:20], data.iloc[20:]
    shapes = fidelity.column_shapes(real, synthetic, schema)
    assert shapes["columns"]["colour"] == {"metric": "TVComplement", "score": 0.0}
    assert shapes["columns"]["size"] == {"metric": "KSComplement", "score": 0.0}
    assert shapes["score"] == 0.0


def test_ks_and_tv_values_by_hand():
    real = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "c": ["a", "a", "b", None]})
    synthetic = pd.DataFrame({"x": [3.0, 4.0, 5.0, 6.0], "c": ["a", "b", "b", "b"]})
    schema = detect_schema(pd.concat([real, synthetic]), "hand")
    real, synthetic = enforce_schema(real, schema), enforce_schema(synthetic, schema)
    shapes = fidelity.column_shapes(real, synthetic, schema)
    # KS: the CDFs differ by at most 0.5 (at x = 2); TV on non-missing values: |2/3 - 1/4| = 5/12
    assert shapes["columns"]["x"]["score"] == pytest.approx(0.5)
    assert shapes["columns"]["c"]["score"] == pytest.approx(1 - 5 / 12)


def test_time_series_shapes_score_a_column_as_column_shapes_does(placements):
    """One KS / TV implementation: the time-series metrics give each column the score that
    Column Shapes gives it (datetimes as seconds there, as nanoseconds here)."""
    from pipeline.validation import sequence_metrics

    schema, real, synthetic = placements
    for name, row in fidelity.column_shapes(real, synthetic, schema)["columns"].items():
        same = (sequence_metrics.ks_complement if row["metric"] == "KSComplement"
                else sequence_metrics.tv_complement)
        assert same(real[name], synthetic[name]) == pytest.approx(row["score"], abs=1e-12), name


def test_correlation_similarity_of_reversed_relationship():
    x = np.linspace(0, 1, 50)
    real = pd.DataFrame({"a": x, "b": 2 * x})
    synthetic = pd.DataFrame({"a": x, "b": -2 * x})
    schema = detect_schema(real, "lines")
    trends = fidelity.column_pair_trends(real, synthetic, schema)
    (pair,) = trends["pairs"]
    assert pair["real_correlation"] == pytest.approx(1.0)
    assert pair["synthetic_correlation"] == pytest.approx(-1.0)
    assert trends["score"] == pytest.approx(0.0)


# --- SDMetrics as the oracle -----------------------------------------------------------------
def test_matches_sdmetrics_on_student_placements(placements):
    schema, real, synthetic = placements
    shapes, trends = assert_matches_sdmetrics(real, synthetic, schema)
    assert 0.5 < shapes["score"] < 1.0 and 0.3 < trends["score"] < 1.0
    # the shipped metadata types the columns as our schema does
    metadata = json.loads(DEMO.joinpath("metadata.json").read_text())
    shipped = metadata["tables"]["student_placements"]["columns"]
    assert all(shipped[c]["sdtype"] == schema.column(c).role.value for c in shapes["columns"])


def test_pairs_associated_only_by_chance_do_not_count_towards_the_gated_score(placements,
                                                                                adult):
    # 215 placements: gender against a mark binned in 10 has Cramér's V 0.33, chance for a
    # table that small (0.25 corrected); being placed against the salary is real (0.98)
    schema, real, synthetic = placements
    trends = fidelity.column_pair_trends(real, synthetic, schema)
    pairs = {pair_key(p["column_1"], p["column_2"]): p for p in trends["pairs"]}
    assert pairs[pair_key("gender", "second_perc")]["meets_threshold"]
    assert not pairs[pair_key("gender", "second_perc")]["beyond_chance"]
    assert pairs[pair_key("salary", "placed")]["beyond_chance"]
    counted = [p.get("score_beyond_noise", p["score"]) for p in trends["pairs"]
               if p["meets_threshold"] and p.get("beyond_chance", True)]
    assert trends["score_beyond_chance"] == pytest.approx(np.mean(counted))
    # 300 codes drawn independently of Adult's columns: SDMetrics' rule counts their pairs
    schema, frame = adult
    rng = np.random.default_rng(0)
    real = frame.sample(3000, random_state=1).reset_index(drop=True)
    real["code"] = rng.integers(0, 300, len(real)).astype(str)
    schema = detect_schema(real, "coded")
    shuffled = shuffled_columns(real, seed=2)
    trends = fidelity.column_pair_trends(real, shuffled, schema)
    coded = [p for p in trends["pairs"] if "code" in (p["column_1"], p["column_2"])]
    assert sum(p["meets_threshold"] for p in coded) >= 5
    assert not any(p["beyond_chance"] for p in coded)


def test_the_gated_score_bins_both_frames_on_the_real_bins():
    # vega's US airports: four in Asia and the Pacific put the longitude's range at -176..+146.
    # A synthetic table that keeps every relation but lacks those far rows moves every bin of
    # SDMetrics' own-range rule; on the real bins the pair scores as kept, and shuffling the
    # columns still scores it as lost.
    import vega_datasets

    real = vega_datasets.local_data.airports()[["state", "latitude", "longitude"]]
    schema = detect_schema(real, "airports")
    real = enforce_schema(real, schema)
    mainland = real[real["longitude"] < -60].sample(len(real), replace=True, random_state=0)
    kept = fidelity.column_pair_trends(real, mainland.reset_index(drop=True), schema)
    pair = next(p for p in kept["pairs"] if {p["column_1"], p["column_2"]}
                == {"state", "longitude"})
    assert pair["score"] < 0.3 and pair["score_real_bins"] > 0.85
    assert kept["score"] < 0.6 < 0.85 < kept["score_beyond_chance"]
    lost = fidelity.column_pair_trends(real, shuffled_columns(real, seed=1), schema)
    assert lost["score_beyond_chance"] < 0.7


def test_the_gated_score_counts_only_distance_beyond_sampling_noise():
    # vega's barley, 120 rows: yield (10 bins) x site (6) is a 60-cell table. Two honest
    # resamples of 96 rows of it differ by a total variation near 0.3 (pair score ~0.7), which
    # alone failed the 0.8 bar; the gated score takes the noise expected for those sizes off.
    import vega_datasets

    real = vega_datasets.local_data.barley()[["yield", "site"]]
    schema = detect_schema(real, "barley")
    real = enforce_schema(real, schema)
    rng = np.random.default_rng(0)
    honest = []
    for seed in range(5):
        a, b = (real.sample(96, replace=True, random_state=seed + k).reset_index(drop=True)
                for k in (0, 100))
        pair = fidelity.column_pair_trends(a, b, schema)["pairs"][0]
        honest.append((pair["score_real_bins"], pair["score_beyond_noise"]))
    raw, gated = np.mean(honest, axis=0)
    assert raw < 0.8 < 0.9 < gated
    # the expected noise matches multinomial draws of those sizes
    counts = np.array([30, 20, 10, 5, 5, 2, 1, 1, 0, 6], dtype=float)
    drawn = [0.5 * np.abs(rng.multinomial(80, counts / 80) / 80
                          - rng.multinomial(200, counts / 80) / 200).sum() for _ in range(4000)]
    assert fidelity.chance_total_variation(counts, 200) == pytest.approx(np.mean(drawn), rel=0.05)
    assert fidelity.chance_total_variation(counts * 1000, 200_000) < 0.01


def test_matches_sdmetrics_on_adult_shuffled_columns(adult):
    schema, frame = adult
    real = frame.sample(4000, random_state=3).reset_index(drop=True)
    synthetic = shuffled_columns(real, seed=4)
    shapes, trends = assert_matches_sdmetrics(real, synthetic, schema)
    # permuting columns keeps every marginal, so shapes are exact; relationships are lost
    assert shapes["score"] == pytest.approx(1.0)
    assert trends["score"] < 0.85 < fidelity.column_pair_trends(real, real, schema)["score"]


# --- detection and ML utility ------------------------------------------------------------------
def test_detection_auc_separates_shuffled_from_real(adult):
    schema, frame = adult
    sample = frame.sample(6000, random_state=5).reset_index(drop=True)
    real, other_real = sample.iloc[:3000], sample.iloc[3000:]
    same = fidelity.detection_auc(real, other_real, schema, seed=0)
    shuffled = fidelity.detection_auc(real, shuffled_columns(other_real, seed=6), schema, seed=0)
    assert abs(same["auc"] - 0.5) < 0.05
    assert shuffled["auc"] > 0.8
    assert shuffled["score"] < same["score"]
    assert same["n_real"] == same["n_synthetic"] == 3000


def test_ml_utility_on_adult(adult):
    schema, frame = adult
    sample = frame.sample(8000, random_state=7).reset_index(drop=True)
    train, holdout = sample.iloc[:6000], sample.iloc[6000:]
    faithful = fidelity.ml_utility(train, train, holdout, schema, target="income")
    assert faithful["metric"] == "f1_minority_class"
    assert faithful["positive_class"] == ">50K"
    # the CTGAN paper's real-data F1 on >50K is 0.669 (average of four classifiers)
    assert 0.55 < faithful["real"] < 0.8
    assert faithful["gap"] == pytest.approx(0.0)
    broken = fidelity.ml_utility(train, shuffled_columns(train, seed=8), holdout, schema, "income")
    assert broken["synthetic"] < 0.3 and broken["gap"] > 0.3


def test_ml_utility_regression_target(adult):
    schema, frame = adult
    sample = frame.sample(4000, random_state=9).reset_index(drop=True)
    result = fidelity.ml_utility(sample.iloc[:3000], sample.iloc[:3000], sample.iloc[3000:],
                                 schema, target="education-num")
    # education-num is a function of education, so a model recovers it almost exactly
    assert result["metric"] == "r2" and result["real"] > 0.95


def test_ml_utility_refuses_bad_targets(placements):
    schema, real, synthetic = placements
    with pytest.raises(PipelineError, match="not a column"):
        fidelity.ml_utility(real, synthetic, real, schema, target="income")
    with pytest.raises(PipelineError, match="role 'id'"):
        fidelity.ml_utility(real, synthetic, real, schema, target="student_id")


def test_missing_column_is_refused(placements):
    schema, real, synthetic = placements
    with pytest.raises(PipelineError, match="lacks the modelled columns"):
        fidelity.column_shapes(real, synthetic.drop(columns=["salary"]), schema)


def test_fidelity_metrics_flat_table(placements):
    schema, real, synthetic = placements
    details: dict = {}
    values, seconds = fidelity.fidelity_metrics(
        real, synthetic, real, schema, target="placed", seed=0, details=details)
    assert {"column_shapes", "column_pair_trends", "quality_score", "detection_auc",
            "ml_utility_gap"} <= set(values)
    assert all(isinstance(v, float) for v in values.values())
    assert set(seconds) == {"column_shapes", "column_pair_trends", "detection", "ml_utility"}
    assert values["quality_score"] == pytest.approx(
        (values["column_shapes"] + values["column_pair_trends"]) / 2)
    assert details["column_shapes"]["columns"]["placed"]["metric"] == "TVComplement"


def test_detection_auc_keeps_each_entity_in_one_fold():
    """Two halves of a real panel (Produc: 48 states x 17 years) are the same kind of data, so
    a classifier must not tell them apart. Folds that split a state's rows let it recognise
    each state from its other rows, and the halves look distinct however alike they are."""
    from benchmarks.public_data import r_dataset

    frame = r_dataset("plm", "Produc")
    schema = detect_schema(frame, "produc", sequence_key="state", sequence_index="year")
    frame = enforce_schema(frame, schema)
    states = frame["state"].unique()
    half, other = frame[frame["state"].isin(states[::2])], frame[frame["state"].isin(states[1::2])]
    grouped = fidelity.detection_auc(half, other, schema, seed=0)
    assert grouped["folds_keep_whole"] == "entities"
    assert grouped["auc"] < 0.7
    as_rows = schema.model_copy(update={"sequence_key": None, "sequence_index": None})
    assert fidelity.detection_auc(half, other, as_rows, seed=0)["auc"] > 0.85  # the leak


def test_detection_auc_on_one_sequence_keeps_stretches_of_time_together(nyc_weather_path):
    """JFK's and LGA's hours over the same weeks, each as one sequence: a fold must hold out
    the same stretch of time on both sides. Holding out one side's stretch while training on
    the other's teaches the classifier time, not the stations, and inverts it (AUC near 0)."""
    from pipeline.ingest import read_source

    frame, _ = read_source(nyc_weather_path)
    station = {o: frame[frame["origin"] == o].drop(columns="origin").iloc[:2000]
               for o in ("JFK", "LGA")}
    schema = detect_schema(station["JFK"], "jfk", sequence_index="time_hour")
    jfk, lga = (enforce_schema(station[o], schema) for o in ("JFK", "LGA"))
    result = fidelity.detection_auc(jfk, lga, schema, seed=0)
    assert result["folds_keep_whole"] == "stretches of the index"
    assert 0.4 < result["auc"] < 0.9
    as_rows = schema.model_copy(update={"sequence_index": None})
    assert result["auc"] < fidelity.detection_auc(jfk, lga, as_rows, seed=0)["auc"]  # the leak


@pytest.mark.slow
def test_a_table_of_thousands_of_pairs_is_scored_on_a_seeded_sample_of_them():
    # 210 columns: 21,945 pairs, above MAX_COMPARED_PAIRS; the sample is the same each time
    rng = np.random.default_rng(0)
    base = rng.normal(size=(300, 1))
    real = pd.DataFrame(base + 0.1 * rng.normal(size=(300, 210)),
                        columns=[f"c{i}" for i in range(210)])
    shuffled = real.apply(lambda c: rng.permutation(c.to_numpy()))
    schema = detect_schema(real, "wide_pairs")
    kept = fidelity.column_pair_trends(real, real.sample(frac=1, random_state=1), schema)
    lost = fidelity.column_pair_trends(real, shuffled, schema)
    assert kept["n_pairs"] == fidelity.MAX_COMPARED_PAIRS < kept["n_pairs_in_table"] == 21_945
    assert kept["score"] > 0.99 and lost["score"] < 0.6  # the sample still tells them apart
    again = fidelity.column_pair_trends(real, shuffled, schema)
    assert again["score"] == lost["score"]


def test_a_date_column_drawn_as_one_date_is_scored_not_a_crash(placements):
    """A synthetic date column holding a single date (survival's udca: one encephalopathy
    date drawn for every patient): its nanoseconds (~1e18) leave numpy no room to widen the
    one-value range into bins, which raised from Column Pair Trends."""
    schema, real, synthetic = placements
    synthetic = synthetic.assign(end_date=real["end_date"].dropna().iloc[0])
    trends = fidelity.column_pair_trends(real, synthetic, schema)
    end_date = [p["score"] for p in trends["pairs"] if "end_date" in (p["column_1"],
                                                                       p["column_2"])]
    # correlations with a constant are undefined (NaN, as SDMetrics has them); the
    # contingency scores of its pairs with categories are not
    assert np.isfinite(trends["score"]) and np.isfinite(end_date).sum() >= 3
    assert_matches_sdmetrics(real, real.assign(gender=synthetic["gender"]), schema)
