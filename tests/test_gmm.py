"""The project's own Gaussian mixture model on real data: Adult and the student placements demo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.errors import PipelineError
from pipeline.models.gmm import GaussianMixtureModel
from pipeline.schema import DatasetSchema, Role, detect_schema, enforce_schema
from tests.conftest import output_dtypes

ADULT_ROWS = 4000
# Few iterations and a fixed component count keep each fit well under a second.
QUICK = {"n_components": 16, "max_iter": 15}


@pytest.fixture(scope="module")
def adult(adult_path) -> tuple[pd.DataFrame, DatasetSchema]:
    # read plainly rather than through pipeline.ingest, so this model's tests stand alone
    full = pd.read_csv(adult_path, skipinitialspace=True, na_values=["?"])
    sample = full.sample(n=ADULT_ROWS, random_state=7).reset_index(drop=True)
    schema = detect_schema(sample, "adult")
    return enforce_schema(sample, schema), schema


@pytest.fixture(scope="module")
def students(demo_table_path) -> tuple[pd.DataFrame, DatasetSchema]:
    data = pd.read_csv(demo_table_path, parse_dates=["start_date", "end_date"])
    schema = detect_schema(data, "students")
    return enforce_schema(data, schema), schema


@pytest.fixture(scope="module")
def adult_model(adult) -> GaussianMixtureModel:
    data, schema = adult
    return GaussianMixtureModel(**QUICK).fit(data, schema, seed=3)


@pytest.fixture(scope="module")
def student_model(students) -> GaussianMixtureModel:
    data, schema = students
    return GaussianMixtureModel().fit(data, schema, seed=3)


# --- reproducibility and persistence --------------------------------------------------------
def test_same_seed_gives_identical_output_and_another_seed_differs(adult, adult_model):
    data, schema = adult
    again = GaussianMixtureModel(**QUICK).fit(data, schema, seed=3)
    assert again.loss_history == adult_model.loss_history
    pd.testing.assert_frame_equal(again.sample(300, seed=5), adult_model.sample(300, seed=5))
    other = adult_model.sample(300, seed=6)
    assert not other.equals(adult_model.sample(300, seed=5))


def test_saved_model_samples_identically_after_loading(tmp_path, student_model):
    student_model.save(tmp_path / "gmm")
    loaded = GaussianMixtureModel.load(tmp_path / "gmm")
    pd.testing.assert_frame_equal(loaded.sample(400, seed=11), student_model.sample(400, seed=11))
    conditions = {"gender": "F"}
    pd.testing.assert_frame_equal(
        loaded.sample(50, seed=2, conditions=conditions),
        student_model.sample(50, seed=2, conditions=conditions),
    )


# --- EM itself ---------------------------------------------------------------------------------
def test_em_never_decreases_the_likelihood_and_records_it(adult):
    data, schema = adult
    # With (almost) no smoothing or covariance floor EM maximises the plain likelihood, which
    # must not go down; this checks the missing-data E/M-steps as a whole.
    model = GaussianMixtureModel(
        n_components=6, max_iter=12, tol=0.0, smoothing=1e-9, reg_covar=1e-9
    ).fit(data, schema, seed=1)
    lls = [h["log_likelihood"] for h in model.loss_history]
    assert [h["iteration"] for h in model.loss_history] == list(range(1, 13))
    assert np.all(np.diff(lls) > -1e-7), lls
    assert lls[-1] > lls[0]


def test_a_large_table_is_fitted_on_a_subsample_then_refined_on_every_row(adult_frame,
                                                                          monkeypatch):
    """Past SUBSAMPLE_ROWS the selection and EM run on a subsample, then FULL_PASSES
    iterations over all rows; the fit on all rows loses almost nothing to a full one (a
    quarter of Adult here, as 100,000 rows are of the 417,000-row scale case)."""
    from pipeline.models.gmm import selection

    schema = detect_schema(adult_frame, "adult")
    data = enforce_schema(adult_frame, schema)
    full = GaussianMixtureModel(max_components=16).fit(data, schema, seed=2)
    monkeypatch.setattr(selection, "SUBSAMPLE_ROWS", len(data) // 4)
    sub = GaussianMixtureModel(max_components=16).fit(data, schema, seed=2)
    again = GaussianMixtureModel(max_components=16).fit(data, schema, seed=2)
    steps = [h["iteration"] for h in sub.loss_history]
    assert steps == list(range(1, len(steps) + 1)) and len(steps) > selection.FULL_PASSES
    on_all = sub.loss_history[-1]["log_likelihood"]
    assert on_all > full.loss_history[-1]["log_likelihood"] - 0.02  # nats per row
    pd.testing.assert_frame_equal(sub.sample(500, seed=1), again.sample(500, seed=1))
    assert not sub.sample(500, seed=1).equals(full.sample(500, seed=1))


def test_selection_picks_several_components_on_clustered_data():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [40.0, 5.0], [10.0, 60.0]])
    group = rng.integers(0, 3, size=900)
    points = centres[group] + rng.normal(scale=2.0, size=(900, 2))
    # a category that tracks the cluster most of the time
    label = np.where(rng.random(900) < 0.9, np.array(["a", "b", "c"])[group], "a")
    data = pd.DataFrame({"x": points[:, 0], "y": points[:, 1], "label": label})
    schema = detect_schema(data, "blobs")
    model = GaussianMixtureModel().fit(enforce_schema(data, schema), schema, seed=0)
    assert model.n_components_ >= 3
    scores = {s["n_components"]: s["validation_log_likelihood"] for s in model.selection_}
    assert scores[model.n_components_] > scores[1]


def test_selection_on_student_placements_separates_placed_from_unplaced(student_model, students):
    data, _ = students
    assert student_model.n_components_ > 1
    sample = student_model.sample(3000, seed=1)
    # unplaced students have no salary: the mixture keeps that link, not just the rates
    unplaced_with_salary = (~sample["placed"] & sample["salary"].notna()).mean()
    assert unplaced_with_salary < 0.02
    assert abs(sample["salary"].isna().mean() - data["salary"].isna().mean()) < 0.05


# --- what the output promises -------------------------------------------------------------------
@pytest.mark.parametrize("dataset", ["adult", "students"])
def test_output_follows_the_schema(dataset, request):
    data, schema = request.getfixturevalue(dataset)
    model = request.getfixturevalue(f"{'adult' if dataset == 'adult' else 'student'}_model")
    out = model.sample(2000, seed=4)
    assert list(out.columns) == schema.names()
    assert len(out) == 2000
    modelled = schema.modelled_columns()
    assert out[modelled].dtypes.to_dict() == output_dtypes(data, schema, modelled)
    for spec in schema.columns:
        values = out[spec.name].dropna()
        if spec.role == Role.categorical:
            assert set(values.astype(str)) <= set(data[spec.name].dropna().astype(str))
        elif spec.role == Role.numerical:
            assert values.min() >= spec.minimum and values.max() <= spec.maximum
            if spec.integer:
                assert (values.astype(float) % 1 == 0).all()
        elif spec.role == Role.datetime:
            assert data[spec.name].min() <= values.min() <= values.max() <= data[spec.name].max()
    for dep in schema.dependencies:
        mapped = out[dep.source].astype(str).map(dep.mapping)
        assert (out[dep.target].astype(str) == mapped.astype(str)).all()


def test_missing_values_reappear_at_the_real_rate(adult, adult_model):
    data, _ = adult
    out = adult_model.sample(ADULT_ROWS, seed=8)
    for column in ("workclass", "occupation", "native-country"):
        real = data[column].isna().mean()
        assert real > 0.005
        assert abs(out[column].isna().mean() - real) < 0.02, column
    assert out["age"].notna().all() and out["sex"].notna().all()


def test_point_masses_keep_their_share(adult, adult_model):
    data, _ = adult
    out = adult_model.sample(ADULT_ROWS, seed=9)
    for column, value in (("capital-gain", 0), ("capital-loss", 0), ("hours-per-week", 40)):
        real = (data[column] == value).mean()
        assert abs((out[column] == value).mean() - real) < 0.03, column
    # the rest of capital-gain is continuous and positive, not a smear around zero
    positive = out["capital-gain"][out["capital-gain"] > 0]
    assert positive.min() >= data["capital-gain"][data["capital-gain"] > 0].min()


def test_zero_rows(adult_model):
    out = adult_model.sample(0, seed=1)
    assert len(out) == 0 and list(out.columns) == adult_model.schema.names()


# --- conditional sampling -----------------------------------------------------------------------
def test_conditional_sampling_is_exact_and_keeps_dependence(adult_model):
    conditions = {"sex": "Female", "income": ">50K"}
    out = adult_model.sample(500, seed=2, conditions=conditions)
    assert len(out) == 500
    assert (out["sex"] == "Female").all() and (out["income"] == ">50K").all()
    # conditioning reweights the components instead of overwriting the column: women are
    # (almost) never husbands in the real data, and must not become husbands here
    assert (out["relationship"] == "Husband").mean() < 0.05


def test_condition_on_a_dependency_target_restricts_its_source(student_model):
    out = student_model.sample(300, seed=3, conditions={"work_experience": True})
    assert out["work_experience"].all()
    assert (out["experience_years"] >= 1).all()


def test_condition_with_zero_probability_is_refused(adult):
    data, schema = adult
    # the schema lists Federal-gov, but the model never sees it
    train = data[data["workclass"] != "Federal-gov"]
    model = GaussianMixtureModel(**QUICK).fit(train, schema, seed=0)
    with pytest.raises(PipelineError, match="zero probability"):
        model.sample(10, seed=0, conditions={"workclass": "Federal-gov"})
    assert (model.sample(500, seed=0)["workclass"] != "Federal-gov").all()


def test_condition_outside_the_schema_is_refused(adult_model):
    with pytest.raises(PipelineError, match="impossible"):
        adult_model.sample(10, seed=0, conditions={"sex": "Robot"})


# --- parameters ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "params, message",
    [({"n_components": 0}, "n_components"),
     ({"components": 3}, "gmm: unknown parameter 'components'; allowed are n_components")],
)
def test_bad_parameters_are_refused(params, message, students):
    data, schema = students
    with pytest.raises(PipelineError, match=message):
        GaussianMixtureModel(**params).fit(data, schema, seed=0)


# --- quality on the full data (not timed) -------------------------------------------------------
@pytest.mark.slow
def test_quality_targets_on_full_adult(adult_path):
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from gmm_quality import load_adult, run

    assert load_adult().shape == (32561, 15)
    result = run(seed=0)
    assert result["column_shapes"] >= 0.97, result
    assert result["column_pair_trends"] >= 0.92, result


def test_categorical_draws_follow_each_components_probabilities():
    from pipeline.models.gmm.sampling import by_component, draw_categorical

    probs = np.array([[0.2, 0.0, 0.8, 0.0], [0.0, 3.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]])
    rng = np.random.default_rng(0)
    components = rng.integers(0, 3, 120_000)
    codes = draw_categorical(probs, components, by_component(components, 3), rng)
    for k in range(3):
        share = np.bincount(codes[components == k], minlength=4) / (components == k).sum()
        expected = probs[k] / probs[k].sum()
        assert np.abs(share - expected).max() < 0.01
        assert (share[expected == 0] == 0).all()  # a zero-probability code is never drawn


def test_a_column_whose_values_barely_repeat_is_not_sampled_as_training_values(adult):
    # 300 rows: fnlwgt's values nearly all distinct; a step CDF over them would publish each
    # synthetic cell as some training row's value (what a one-column table then leaks whole)
    frame, schema = adult
    small = frame[["fnlwgt", "age"]].head(300).reset_index(drop=True)
    small_schema = detect_schema(small, "small")
    sample = GaussianMixtureModel().fit(small, small_schema, seed=0).sample(1000, seed=1)
    train = np.sort(small["fnlwgt"].to_numpy(dtype=float))
    values = sample["fnlwgt"].to_numpy(dtype=float)
    at = np.clip(np.searchsorted(train, values), 1, len(train) - 1)
    nearest = np.minimum(np.abs(values - train[at - 1]), np.abs(values - train[at]))
    assert np.mean(nearest <= 1) < 0.05  # within one unit of a training value
    # while a quasi-discrete column (age: most values held by several rows) keeps its values
    # (bar the few rare ones value protection moves)
    assert sample["age"].isin(small["age"]).mean() > 0.95


def test_a_step_cdf_keeps_shared_values_and_spreads_values_held_once_over_their_gaps():
    from scipy.special import ndtri

    from pipeline.models.rank_gaussian import RankGaussian

    values = np.array([1.0, 1.0, 2.0, 2.0, 3.0, 5.0, 8.0, 8.0])  # 3 and 5 held once
    cdf = RankGaussian.fit(values, 3, exact_max=100, spread_below=2)
    out = cdf.inverse(ndtri((np.arange(80_000) + 0.5) / 80_000))
    shared = np.isin(out, [1.0, 2.0, 8.0])
    for value in (1.0, 2.0, 8.0):  # each keeps its quarter of the rows exactly
        assert np.mean(out == value) == pytest.approx(0.25, abs=1e-3)
    spread = out[~shared]
    assert spread.min() >= 2.5 and spread.max() <= 6.5  # halfway to each neighbour
    assert not np.isin(spread, [3.0, 5.0]).any() and len(np.unique(spread)) > 1000
    assert np.mean(spread < 4.0) == pytest.approx(0.5, abs=1e-3)  # 3's share, then 5's
    # without spreading (protect_rare 1), every value is a training value
    exact = RankGaussian.fit(values, 3, exact_max=100, spread_below=1)
    assert np.isin(exact.inverse(np.linspace(-3, 3, 101)), values).all()


def test_a_date_value_past_what_pandas_can_hold_comes_out_missing_not_as_an_error():
    from pipeline.models.gmm.encoding import NumericCodec

    in_range, too_far = 1.6e9, -9.3e9  # 2020, and before the year 1677
    codec = NumericCodec("day", np.array([in_range, too_far]), None, None, True, None)
    out = codec.decode(np.array([0, 1, 2]), np.zeros((3, 0)))
    assert out.iloc[0] == pd.Timestamp(in_range, unit="s") and out.iloc[1:].isna().all()


def test_seconds_become_the_timestamps_pandas_makes_and_missing_ones_nat():
    """pandas' own float conversion rounds an uninitialised buffer where a value is NaN
    under np.errstate(over="raise"), which failed a run now and then; ours converts the
    known values only, to the same nanoseconds."""
    from pipeline.models.gmm.encoding import DATETIME_SECONDS, seconds_to_stamps

    rng = np.random.default_rng(0)
    values = rng.uniform(-3e9, 4e9, 100_000)
    values[::7] = np.nan
    values[:4] = [1e20, -1e20, -1.5, 0.9999999999]
    with np.errstate(all="raise"):
        ours = seconds_to_stamps(values, None)
    inside = (values > DATETIME_SECONDS[0]) & (values < DATETIME_SECONDS[1])
    # the oracle is pandas' path on the known values only: with a NaN among them it has the
    # flaw above (pandas raises inside its own errstate), and failed this test now and then
    expected = pd.Series(pd.NaT, index=range(len(values)), dtype="datetime64[ns]")
    expected[inside] = pd.to_datetime(pd.Series(values[inside]), unit="s").to_numpy()
    pd.testing.assert_series_equal(ours, expected)
    assert ours[~inside].isna().all() and ours[inside].notna().all()
    zoned = seconds_to_stamps(np.array([1.6e9, np.nan]), "Europe/Berlin")
    assert str(zoned.dt.tz) == "Europe/Berlin" and zoned.iloc[0].hour == 14


def test_many_missingness_patterns_are_folded_into_the_commonest(adult):
    """Adult's zero-inflated columns side by side seven times (each copy's rows in their own
    order) give a pattern of observed dimensions for almost every row: EM keeps at most
    MAX_PATTERNS, a row of a rarer one keeping the values of a kept pattern it contains."""
    from pipeline.models.gmm.em import MAX_PATTERNS, make_batch, with_common_patterns

    data, _ = adult
    rng = np.random.default_rng(0)
    sparse = data[["capital-gain", "capital-loss", "age"]].to_numpy(dtype=float)
    copies = [sparse[rng.permutation(len(sparse))] for _ in range(7)]
    z = np.hstack(copies)
    z[z == 0] = np.nan  # the point mass at 0 is a token, not a Gaussian value
    before = len(np.unique(~np.isnan(z), axis=0))
    folded = with_common_patterns(z)
    after = np.unique(~np.isnan(folded), axis=0)
    assert before > 2 * MAX_PATTERNS and len(after) <= MAX_PATTERNS
    kept = ~np.isnan(folded)
    assert not (kept & np.isnan(z)).any()  # values are only hidden, never made up
    np.testing.assert_array_equal(folded[kept], z[kept])
    assert kept.sum() > 0.9 * (~np.isnan(z)).sum()
    batch = make_batch(np.zeros((len(z), 0), dtype=np.int64), z, np.zeros(1, dtype=np.int64))
    assert len(batch.patterns) <= MAX_PATTERNS
    few = z[:, :3]  # at most 8 patterns: returned as it is
    assert with_common_patterns(few) is few
