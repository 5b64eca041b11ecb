"""Fixed combinations: columns of few values that only occur together in some combinations
are modelled as one category, so no synthetic row holds a combination no real row has. Real
slices: Ecdat's Car (a stated-choice survey: six alternatives' body types drawn from 18
designs) and plyr's baseball (each team plays in one league)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks.public_data import r_dataset
from pipeline.errors import PipelineError
from pipeline.models.gmm import GaussianMixtureModel
from pipeline.models.relations.fixed_combinations import find_fixed_combinations
from pipeline.schema import DatasetSchema, detect_schema, enforce_schema

FAST = {"n_components": 8, "max_iter": 30}
TYPES = [f"type{i}" for i in range(1, 7)]


def _combinations(frame: pd.DataFrame, columns: list[str]) -> set[tuple]:
    return set(frame[columns].astype(str).itertuples(index=False, name=None))


def _fitted(frame: pd.DataFrame, schema: DatasetSchema, **params) -> GaussianMixtureModel:
    return GaussianMixtureModel(**FAST, **params).fit(enforce_schema(frame, schema), schema,
                                                      seed=0)


@pytest.fixture(scope="module")
def car() -> tuple[pd.DataFrame, DatasetSchema]:
    frame = r_dataset("Ecdat", "Car")
    return frame, detect_schema(frame, "car")


@pytest.fixture(scope="module")
def baseball() -> tuple[pd.DataFrame, DatasetSchema]:
    frame = r_dataset("plyr", "baseball").drop(columns=["id"]).sample(4000, random_state=0)
    return frame.reset_index(drop=True), detect_schema(frame, "baseball")


def test_a_survey_design_is_kept_as_its_combinations(car):
    """Drawn column by column, the gmm gave 320 combinations of the body types for the 18
    real ones (69 % of rows on none of them; detection AUC 0.997)."""
    frame, schema = car
    groups = [r.columns for r in schema.relations if r.kind == "fixed_combinations"]
    (types,) = [g for g in groups if "type2" in g]
    assert {"type1", "type2", "type4", "type6"} <= set(types)  # type3, type5 copy type1
    out = _fitted(frame, schema).sample(3000, seed=1)
    real = _combinations(frame, TYPES)
    assert len(real) == 18
    assert _combinations(out, TYPES) <= real
    shares = out[TYPES].astype(str).value_counts(normalize=True)
    real_shares = frame[TYPES].astype(str).value_counts(normalize=True)
    assert (shares - real_shares).abs().max() < 0.05  # and as often as real


def test_switched_off_the_columns_are_drawn_apart(car):
    frame, schema = car
    off = [r.model_copy(update={"enabled": False}) if r.kind == "fixed_combinations" else r
           for r in schema.relations]
    out = _fitted(frame, schema.model_copy(update={"relations": off})).sample(3000, seed=1)
    assert not _combinations(out, TYPES) <= _combinations(frame, TYPES)  # the step holds it


def test_conditions_on_part_of_a_combination(baseball):
    frame, schema = baseball
    assert ["team", "lg"] in [r.columns for r in schema.relations]
    model = _fitted(frame, schema)
    real = _combinations(frame.dropna(subset=["lg"]), ["team", "lg"])
    one_team = model.sample(300, seed=2, conditions={"team": "BOS"})
    assert (one_team["team"] == "BOS").all() and (one_team["lg"] == "AL").all()
    league = model.sample(2000, seed=3, conditions={"lg": "NL"})
    assert (league["lg"] == "NL").all()
    assert _combinations(league, ["team", "lg"]) <= real
    assert league["team"].nunique() > 10  # every NL team, by frequency, not one
    assert league.index.equals(pd.RangeIndex(2000))
    with pytest.raises(PipelineError, match="match no combination"):
        model.sample(10, seed=1, conditions={"team": "BOS", "lg": "NL"})


def test_a_condition_on_a_copy_of_a_grouped_column(car):
    """type3 repeats type1 (a dependency), and type1 is in the design's group: a condition
    on type3 picks the combinations with that type1."""
    frame, schema = car
    assert "type3" in schema.dependency_targets()
    out = _fitted(frame, schema).sample(200, seed=4, conditions={"type3": "van"})
    assert (out["type3"] == "van").all() and (out["type1"] == "van").all()
    assert _combinations(out, TYPES) <= _combinations(frame, TYPES)


def test_a_combination_one_training_row_holds_is_not_published(baseball):
    frame, schema = baseball
    counts = frame.groupby(["team", "lg"]).size()
    rare = counts[counts == 1].index
    assert len(rare) >= 1  # a team's one season in the slice
    for protect_rare, published in ((1, True), (2, False)):
        out = _fitted(frame, schema, protect_rare=protect_rare).sample(20_000, seed=5)
        pairs = pd.MultiIndex.from_frame(out[["team", "lg"]].dropna())
        assert bool(pairs.isin(rare).any()) == published, protect_rare


def test_columns_that_merely_correlate_are_not_grouped():
    # Adult's categorical columns depend on each other (relationship and sex), but every
    # combination chance allows is there: no structure to fix (education-num is a copy of
    # education, a dependency the schema keeps on its own)
    frame = pd.read_csv("../shared/data/adult.csv", nrows=5000, skipinitialspace=True)
    schema = detect_schema(frame, "adult")
    assert "education-num" in schema.dependency_targets()
    assert [r for r in schema.relations if r.kind == "fixed_combinations"] == []


def test_independent_columns_with_absent_combinations_by_chance_are_not_grouped():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.integers(0, 30, 400), "b": rng.integers(0, 30, 400)})
    assert find_fixed_combinations(frame, ["a", "b"]) == []  # 900 cells, 400 rows


@pytest.mark.parametrize("package, name, grouped", [
    ("HistData", "OldMaps", [["col", "year"]]),  # map codes: detection AUC 0.89 -> 0.58
    ("Ecdat", "Tuna", []),  # five prices, 278 combinations: the gmm's components fell 128 -> 2
    ("plm", "Cigar", []),  # year and price index rise with the prices: kept as numbers
])
def test_numbers_alone_are_a_category_only_when_few_and_without_a_shared_trend(
        package, name, grouped):
    schema = detect_schema(r_dataset(package, name), name)
    assert [r.columns for r in schema.relations if r.kind == "fixed_combinations"] == grouped


def test_a_saved_model_keeps_its_combinations(baseball, tmp_path):
    from pipeline.models.base import Synthesizer

    frame, schema = baseball
    model = _fitted(frame, schema)
    model.save(tmp_path)
    loaded = Synthesizer.load(tmp_path)
    assert loaded.relations.combinations == model.relations.combinations
    pd.testing.assert_frame_equal(loaded.sample(500, seed=7), model.sample(500, seed=7))


@pytest.mark.parametrize("model, params", [
    ("gaussian_copula", {}), ("ctgan", {"epochs": 2}), ("tvae", {"epochs": 2}),
])
def test_every_tabular_model_keeps_the_combinations(baseball, model, params):
    from pipeline.models import registry

    frame, schema = baseball
    train = enforce_schema(frame.iloc[:1500], schema)
    out = registry.create(model, **params).fit(train, schema, seed=0).sample(400, seed=1)
    real = _combinations(frame, ["team", "lg"])
    assert _combinations(out.dropna(subset=["team", "lg"]), ["team", "lg"]) <= real
