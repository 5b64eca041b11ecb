"""Privacy metrics: known distances, copies found, and a 10 % leak told from honest data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.errors import PipelineError
from pipeline.schema import detect_schema, enforce_schema
from pipeline.validation import attacks, evidence, privacy, record_matches


@pytest.fixture(scope="module")
def adult(adult_frame):
    schema = detect_schema(adult_frame, "adult")
    return schema, enforce_schema(adult_frame, schema)


@pytest.fixture(scope="module")
def placements(demo_table_path):
    real = pd.read_csv(demo_table_path, parse_dates=["start_date", "end_date"])
    schema = detect_schema(real, "student_placements")
    real = enforce_schema(real, schema)
    return schema, real.iloc[:150].reset_index(drop=True), real.iloc[150:].reset_index(drop=True)


def independent_columns(train: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """Honest stand-in for a synthesizer: every column drawn on its own from the training data,
    so a training record comes out only by chance."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        c: train[c].iloc[rng.integers(len(train), size=n)].reset_index(drop=True)
        for c in train.columns
    })


def with_copied_rows(synthetic: pd.DataFrame, train: pd.DataFrame, share: float, seed: int):
    rng = np.random.default_rng(seed)
    out = synthetic.copy()
    rows = rng.choice(len(out), size=int(round(share * len(out))), replace=False)
    source = rng.choice(len(train), size=len(rows), replace=False)
    for column in out.columns:
        values = out[column].copy()
        values.iloc[rows] = train[column].iloc[source].to_numpy()
        out[column] = values
    return out


# --- known answers ---------------------------------------------------------------------------
def test_mixed_distance_by_hand():
    frame = pd.DataFrame({"x": [0.0, 10.0, 5.0, 5.0, None], "c": ["a", "b", "a", "b", "b"]})
    schema = detect_schema(frame, "hand")
    frame = enforce_schema(frame, schema)
    train, holdout, synthetic = frame.iloc[:2], frame.iloc[[2]], frame.iloc[[3, 4]]
    result = privacy.dcr(train, synthetic, holdout, schema, seed=0)
    to_train = result["distances"]["synthetic_to_train"]
    # (5, b): to (10, b) the scaled gap is 0.5; to (0, a) sqrt(0.5^2 + 1); to holdout (5, a) 1.
    # (missing, b): the missing/present mismatch costs 1, the value sits at the median 5 -> 0.5
    np.testing.assert_allclose(to_train, [0.5, np.sqrt(1.25)])
    np.testing.assert_allclose(result["distances"]["synthetic_to_holdout"], [1.0, np.sqrt(2.0)])
    assert result["expected_share"] == pytest.approx(2 / 3)


def test_neighbour_search_matches_brute_force_in_float64(adult):
    """The float32 search with its float64 recheck finds the exact nearest two records and
    the exact tie count, on Adult's distance space with duplicated records, records nudged
    by less than float32 can tell apart, and copies."""
    from pipeline.validation.encoding import nearest_with_ties
    from pipeline.validation.neighbours import embed

    schema, frame = adult
    nudged = frame.iloc[:300].assign(age=frame["age"].iloc[:300] + 1e-4)
    train = pd.concat([frame.iloc[:3000], frame.iloc[:300], nudged], ignore_index=True)
    synthetic = with_copied_rows(independent_columns(train, 600, seed=3), train, 0.1, seed=4)
    space = embed(train, synthetic, frame.iloc[3000:3100], schema)
    idx, ties = nearest_with_ties(space.synthetic, space.train, k=2)
    d2 = ((space.synthetic[:, None, :] - space.train[None, :, :]) ** 2).sum(-1)
    best = np.sort(d2, axis=1)[:, :2]
    np.testing.assert_array_equal(d2[np.arange(len(d2))[:, None], idx], best)
    np.testing.assert_array_equal(ties, (d2 <= best[:, :1] + 1e-9).sum(1))
    assert (ties > 1).sum() >= 30  # the copies of duplicated records tie


def test_copied_training_set_is_caught(placements):
    schema, train, holdout = placements
    synthetic = train.sample(frac=1.0, random_state=0).reset_index(drop=True)
    copies = privacy.exact_copy_rate(train, synthetic, holdout, schema)
    # the demo table has missing values (salary, end_date): missing must equal missing
    assert train.isna().any(axis=1).mean() > 0.2
    assert copies["rate"] == 1.0 and copies["holdout_rate"] == 0.0
    near = privacy.dcr(train, synthetic, holdout, schema, seed=0)
    assert near["zero_rate"] == 1.0
    assert np.all(near["distances"]["synthetic_to_train"] == 0.0)
    assert near["share"] == 1.0 and near["p_value"] < 1e-10
    ratios = privacy.nndr(train, synthetic, holdout, schema, seed=0)
    assert ratios["synthetic_p50"] == 0.0 and ratios["holdout_p50"] > 0.1
    mia = privacy.membership_inference_auc(train, synthetic, holdout, schema, seed=0)
    assert mia["auc"] == 1.0 and mia["member_zero_rate"] == 1.0


def test_rows_differing_in_one_value_are_not_copies(placements):
    schema, train, holdout = placements
    synthetic = train.copy()
    synthetic["mba_perc"] = synthetic["mba_perc"] + 0.01
    assert privacy.exact_copy_rate(train, synthetic, holdout, schema)["rate"] == 0.0
    near = privacy.dcr(train, synthetic, holdout, schema, seed=0)
    assert near["zero_rate"] == 0.0 and near["synthetic_p50"] > 0


def test_unequal_sizes_set_the_expected_share(placements):
    schema, train, holdout = placements
    synthetic = independent_columns(train, 100, seed=1)
    near = privacy.dcr(train, synthetic, holdout, schema, seed=0, max_synthetic=40)
    assert near["expected_share"] == pytest.approx(150 / 215)
    assert near["n_checked"] == 40 and len(near["distances"]["synthetic_to_train"]) == 40


def test_risk_interval_by_hand():
    centre, half = attacks.wilson(0, 10)
    # Wilson at 95 %: upper bound of 0/10 is z^2 / (n + z^2) = 0.2775
    assert centre + half == pytest.approx(1.959964**2 / (10 + 1.959964**2), rel=1e-5)
    same = attacks.risk(30, 30, 100)
    assert same["risk"] == pytest.approx(0.0) and same["risk_ci_low"] < 0 < same["risk_ci_high"]


def test_a_tie_goes_to_train_by_the_tied_records_not_the_pooled_sizes():
    """A query equal to 2 training and 1 holdout record is a training row's neighbour with
    odds 2/3, whatever the sizes of train and holdout (pooled odds here would be 100/110)."""
    train = pd.DataFrame({"c": ["a"] * 2 + ["b"] * 98})
    holdout = pd.DataFrame({"c": ["a"] + ["z"] * 9})
    schema = detect_schema(pd.concat([train, holdout]), "ties")
    synthetic = pd.DataFrame({"c": ["a"] * 3000})
    near = privacy.dcr(train, synthetic, holdout, schema, seed=0)
    assert near["n_ties"] == 3000
    assert near["share"] == pytest.approx(2 / 3, abs=0.03)


def test_near_copies_by_hand():
    """Five fields allow one difference; numbers match within about 2 %, categories exactly."""
    train = pd.DataFrame({"x": [100.0, 500.0, 900.0], "y": [1.0, 2.0, 3.0],
                          "a": ["p", "q", "r"], "b": ["s", "t", "u"], "c": ["v", "w", "v"]})
    schema = detect_schema(train, "near_hand")
    synthetic = pd.DataFrame({
        "x": [101.0, 500.0, 700.0, 900.0], "y": [1.0, 2.0, 2.5, 3.0],
        "a": ["p", "zz", "q", "zz"], "b": ["s", "t", "t", "zz"], "c": ["v", "w", "w", "v"]})
    holdout = synthetic.iloc[:0]
    found = record_matches.near_copies(train, synthetic, holdout, schema,
                                       ["x", "y", "a", "b", "c"], seed=0)
    assert found["allowed_differences"] == 1
    # row 0: equal but a 1 % nudge; row 1: one category off; row 2: two fields off
    # (x is 40 % away, a differs); row 3: two categories off
    assert found["n_near"] == [1, 2]
    assert found["n_checked"] == 4


def test_codes_one_apart_share_a_pigeonhole_probe_across_bucket_edges():
    """Numbers match when their codes differ by 1, even where the codes fall into different
    buckets (3 and 4: buckets 1 and 2); categories only when equal."""
    from pipeline.validation.pigeonhole import PigeonholeKeys

    reference = np.array([[0, 4], [0, 7], [3, 4], [0, 10]])
    keys = PigeonholeKeys(reference, [(np.array([0]), np.array([1]))])
    rows, cols = keys.candidates(np.array([[0, 3], [0, 8], [3, 5], [6, 4]]))
    assert sorted(zip(rows.tolist(), cols.tolist())) == [(0, 0), (1, 1), (2, 2)]


def test_keyed_near_copy_search_finds_what_the_full_scan_finds(adult, monkeypatch):
    """On Adult with 5 % copied rows, the pigeonhole keys find exactly the near copies the
    comparison of every pair finds (planned keys: the search really uses them)."""
    from pipeline.validation import pigeonhole

    schema, frame = adult
    train, holdout = frame.iloc[:6000], frame.iloc[6000:7000]
    synthetic = with_copied_rows(independent_columns(train, 2000, seed=5), train, 0.05, seed=6)
    synthetic["age"] = synthetic["age"] + np.where(np.arange(2000) % 2 == 0, 0.0, 0.3)
    columns = list(train.columns)
    planned = []
    real_plan = pigeonhole.PigeonholeKeys.plan.__func__
    monkeypatch.setattr(pigeonhole.PigeonholeKeys, "plan", classmethod(
        lambda cls, *a: planned.append(real_plan(cls, *a)) or planned[-1]))
    keyed = record_matches.near_copies(train, synthetic, holdout, schema, columns, seed=0)
    assert planned and planned[0] is not None
    monkeypatch.setattr(pigeonhole.PigeonholeKeys, "plan", classmethod(lambda cls, *a: None))
    scanned = record_matches.near_copies(train, synthetic, holdout, schema, columns, seed=0)
    assert keyed == scanned
    assert keyed["n_near"][-1] >= 80


def test_singling_out_counts_unique_quasi_identifier_combinations(placements):
    schema, train, holdout = placements
    rare = privacy.singling_out_rate(train, train, holdout, schema)
    assert "gender" in rare["quasi_identifiers"] and "mba_perc" not in rare["quasi_identifiers"]
    # train against itself: exactly its unique combinations are singled out
    assert rare["rate"] == pytest.approx(rare["unique_training_share"])


def test_quasi_identifiers_can_be_chosen_and_are_checked(placements):
    schema, train, holdout = placements
    chosen = privacy.singling_out_rate(train, train, holdout, schema, ["gender", "degree_type"])
    assert chosen["quasi_identifiers"] == ["gender", "degree_type"]
    with pytest.raises(PipelineError, match="not modelled columns"):
        privacy.singling_out_rate(train, train, holdout, schema, ["shoe_size"])


def test_evidence_tests_by_hand():
    # 30 copies in 1,000 rows against 1 in 1,000 holdout rows is a leak; 2 against 1 is not
    assert evidence.count_excess_p_value(30, 1000, 1, 1000) < 1e-6
    assert evidence.count_excess_p_value(2, 1000, 1, 1000) > 0.3
    assert evidence.share_p_value(500, 1000, 0.5) > 0.4
    assert evidence.auc_p_value(0.5, 1000, 1000, 0.55) > 0.99
    assert evidence.auc_p_value(0.7, 1000, 1000, 0.55) < 1e-20
    # three members and three others ranked apart happens by chance 1 time in 20: no proof
    # (pingouin's cronbach_wide_missing, 12 rows, was quarantined on p = 0)
    assert 0.01 < evidence.auc_p_value(1.0, 3, 3, 0.55) < 0.1
    # an attack no better than its control shows no risk; a far better one does
    assert evidence.risk_p_value(300, 300, 1000, 0.05) > 0.9
    assert evidence.risk_p_value(600, 300, 1000, 0.05) < 1e-6
    assert evidence.corrected_minimum([0.01, 0.5, 0.9]) == pytest.approx(0.03)


def test_missing_modelled_column_is_refused(placements):
    schema, train, holdout = placements
    with pytest.raises(PipelineError, match="lacks the modelled columns"):
        privacy.exact_copy_rate(train, train.drop(columns=["placed"]), holdout, schema)


def test_a_distance_space_too_large_for_memory_is_refused_before_it_is_built(placements):
    from pipeline.validation import neighbours

    schema, train, holdout = placements
    synthetic = independent_columns(train, 150, 0)
    space = neighbours.embed(train, synthetic, holdout, schema)
    needed = sum(len(x) for x in (space.train, space.synthetic, space.holdout)) * (
        space.encoder.width * neighbours.SPACE_BYTES_PER_CELL)
    with pytest.raises(PipelineError, match="distance space would need .* widest columns"):
        neighbours.embed(train, synthetic, holdout, schema, max_bytes=needed - 1)
    assert neighbours.embed(train, synthetic, holdout, schema, max_bytes=needed).encoder


# --- the leak test ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def leak_results(adult):
    """Adult subsample: 4,000 train, 4,000 holdout; an honest synthetic set of 4,000 rows and
    the same set with 10 % of its rows replaced by copied training rows."""
    schema, frame = adult
    sample = frame.sample(8000, random_state=11).reset_index(drop=True)
    train, holdout = sample.iloc[:4000].reset_index(drop=True), sample.iloc[4000:]
    honest = independent_columns(train, 4000, seed=12)
    leaky = with_copied_rows(honest, train, 0.10, seed=13)
    results = {}
    for name, synthetic in (("honest", honest), ("leak", leaky)):
        values, seconds, distances = privacy.privacy_metrics(
            train, synthetic, holdout.reset_index(drop=True), schema, seed=0)
        results[name] = values
    results["seconds"], results["distances"] = seconds, distances
    return results


def test_ten_percent_leak_is_flagged(leak_results):
    honest, leak = leak_results["honest"], leak_results["leak"]
    # exact copies: the leak's own share, against real data's chance duplicates
    assert leak["exact_copy_rate"] == pytest.approx(0.10, abs=0.005)
    assert honest["exact_copy_rate"] < 0.005 and leak["exact_copy_rate_holdout"] < 0.005
    assert leak["dcr_zero_rate"] >= 0.10 > 0.005 > honest["dcr_zero_rate"]
    # DCR share: equal train/holdout sizes -> 0.5 expected; a 10 % leak adds about 0.05.
    # Adult's 4,000 synthetic rows crowd onto common profiles, worth fewer independent
    # trials (`effective_count`), so the share alone is evidence here, not proof: the
    # record-level tests below are the ones that fail the copies
    assert honest["dcr_share_expected"] == 0.5
    assert honest["dcr_share_effective_rows"] < 4000
    assert abs(honest["dcr_share_excess"]) < 0.05 and honest["dcr_share_p_value"] > 0.01
    assert leak["dcr_share_excess"] > 0.05 and leak["dcr_share_p_value"] < 0.01
    # every record-level test sees the copies; none sees anything in the honest set
    for test in ("exact_copy", "near_copy"):
        assert leak[f"{test}_p_value"] < 1e-6 and honest[f"{test}_p_value"] > 0.01
    # NNDR: copied rows sit on one training record
    assert leak["nndr_synthetic_p5"] == 0.0 < honest["nndr_synthetic_p5"]
    # membership inference: 10 % of the members are found at distance 0
    assert honest["mia_auc"] < 0.53 < leak["mia_auc"]
    assert honest["mia_tpr_at_1pct_fpr"] < 0.03 < 0.08 < leak["mia_tpr_at_1pct_fpr"]
    # anonymeter-style attacks: copied targets are inferred and linked
    assert honest["attribute_inference_risk"] < 0.04 < leak["attribute_inference_risk"]
    assert honest["linkability_risk"] < 0.01 < leak["linkability_risk"]


def test_privacy_metrics_table_shape(leak_results):
    values, seconds = leak_results["honest"], leak_results["seconds"]
    assert all(isinstance(v, float) and np.isfinite(v) for v in values.values())
    assert {"exact_copy", "near_copy", "singling_out", "dcr", "nndr", "mia",
            "attribute_inference", "linkability"} <= set(seconds)
    assert all(0 <= values[name] <= 1 for name in values if name.endswith("_p_value"))
    distances = leak_results["distances"]
    assert set(distances) == {"synthetic_to_train", "synthetic_to_holdout", "holdout_to_train"}


@pytest.mark.slow
def test_gaussian_copula_output_looks_private(adult):
    """A real synthesizer's output (SDV GaussianCopula) passes where the leak fails."""
    from pipeline.models import registry

    schema, frame = adult
    sample = frame.sample(8000, random_state=21).reset_index(drop=True)
    train, holdout = sample.iloc[:4000], sample.iloc[4000:].reset_index(drop=True)
    synthetic = registry.create("gaussian_copula").fit(train, schema, seed=0).sample(4000, seed=1)
    values, _, _ = privacy.privacy_metrics(train, synthetic, holdout, schema, seed=0)
    assert values["exact_copy_excess"] < 0.005 and values["near_copy_p_value"] > 0.01
    assert values["dcr_share_excess"] < 0.05
    assert values["mia_auc"] < 0.53


def test_a_table_of_one_modelled_column_is_judged_without_error():
    """One column leaves linkability no two halves and attribute inference nothing to know."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"id": np.arange(600), "label": rng.choice(list("abcdefgh"), 600)})
    schema = detect_schema(frame, "one_column")
    frame = enforce_schema(frame, schema)
    assert schema.modelled_columns() == ["label"]
    train, holdout = frame.iloc[:400], frame.iloc[400:].reset_index(drop=True)
    values, _, _ = privacy.privacy_metrics(train, independent_columns(train, 300, 1), holdout,
                                           schema, seed=0)
    assert values["linkability_risk"] == 0.0
    assert all(0 <= values[n] <= 1 for n in values if n.endswith("_p_value"))
