"""Samples on demand: conditions and rebalancing checked before fit, sampled exactly, and
validated against the real rows that match (real gmm fits on the sdmetrics demo table)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.config import JobConfig
from pipeline.errors import PipelineError
from pipeline.ingest import read_source
from pipeline.models.registry import create
from pipeline.on_demand import MIN_MATCHING_ROWS, SampleRequest, _counts
from pipeline.schema import detect_schema, enforce_schema


@pytest.fixture(scope="module")
def students(demo_table_path):
    frame, _ = read_source(demo_table_path)
    schema = detect_schema(frame, "students")
    return enforce_schema(frame, schema), schema


@pytest.fixture(scope="module")
def fitted(students):
    frame, schema = students
    return create("gmm").fit(frame, schema, seed=0)


def _request(students, conditions=None, rebalance=None):
    frame, schema = students
    return SampleRequest.from_job(conditions, rebalance).checked(schema, frame)


def test_a_condition_gives_exactly_n_rows_that_all_meet_it(students, fitted):
    request = _request(students, {"gender": "M", "placed": "yes"})
    assert request.conditions == {"gender": "M", "placed": True}  # in the schema's types
    rows = request.sample(fitted, 333, seed=4)
    assert len(rows) == 333
    assert (rows["gender"] == "M").all() and rows["placed"].astype(bool).all()
    assert rows["student_id"].is_unique
    pd.testing.assert_frame_equal(rows, request.sample(fitted, 333, seed=4))  # seeded
    frame, _ = students
    real = request.reference(frame, seed=0)
    assert len(real) == ((frame["gender"] == "M") & frame["placed"]).sum() == 100


def test_a_rebalance_gives_the_requested_shares_exactly(students, fitted):
    request = _request(students, rebalance={"degree_type": {"Sci&Tech": 2, "Comm&Mgmt": 2,
                                                            "Others": 1}})
    assert request.shares == {"Sci&Tech": 0.4, "Comm&Mgmt": 0.4, "Others": 0.2}
    rows = request.sample(fitted, 1000, seed=1)
    counts = rows["degree_type"].value_counts().to_dict()
    assert len(rows) == 1000 and counts == {"Sci&Tech": 400, "Comm&Mgmt": 400, "Others": 200}
    assert rows["student_id"].is_unique
    assert rows["degree_type"].iloc[:20].nunique() > 1  # shuffled, not in blocks
    frame, _ = students
    real = request.reference(frame, seed=0)  # the real rows in the same shares, no repeats
    shares = real["degree_type"].value_counts(normalize=True)
    assert len(real) == 55 and real.index.is_unique  # all 11 "Others", 22 + 22 of the rest
    assert shares["Others"] == pytest.approx(0.2)
    with pytest.raises(PipelineError, match="matches only 44 real rows"):  # 11 / 0.25
        _request(students, rebalance={"degree_type": {"Sci&Tech": 2, "Comm&Mgmt": 1,
                                                      "Others": 1}})


def test_equal_shares_when_only_the_column_is_named(students, fitted):
    job = JobConfig.parse({"name": "s", "source": "x.csv", "rebalance": "placed"})
    frame, schema = students
    request = job.request().checked(schema, frame)
    assert request.shares == {True: 0.5, False: 0.5}
    assert request.sample(fitted, 10, seed=0)["placed"].astype(bool).sum() == 5
    assert "rebalance placed" in request.label()


@pytest.mark.parametrize("conditions, rebalance, says", [
    ({"gender": "X"}, None, "condition gender='X' is impossible: 'gender' takes the values F, M"),
    ({"shoe": "9"}, None, "condition on unknown column 'shoe'"),
    ({"salary": "30000"}, None, "'salary' is numerical (filter the published rows"),
    ({"work_experience": "maybe"}, None, "'work_experience' is yes/no"),
    ({"gender": "F", "high_spec": "Arts", "degree_type": "Others"}, None,
     "matches only 3 real rows"),
    (None, {"salary": None}, "rebalance 'salary': give a categorical or yes/no column"),
    (None, {"gender": {"F": -1, "M": 1}}, "the share of 'F' must be a number >= 0"),
    (None, {"gender": {"F": 0, "M": 0}}, "the shares add up to 0"),
    ({"gender": "F"}, {"gender": None}, "both a condition and the rebalanced column"),
])
def test_an_impossible_request_is_refused_with_what_is_wrong(students, conditions, rebalance,
                                                             says):
    with pytest.raises(PipelineError) as caught:
        _request(students, conditions, rebalance)
    assert says in str(caught.value)


def test_too_few_matching_rows_names_the_count_and_the_minimum(students):
    frame, schema = students
    rare = frame.copy()
    rare["gender"] = np.where(np.arange(len(rare)) < 7, "F", "M")
    with pytest.raises(PipelineError, match=f"gender=F matches only 7 real rows; at least "
                                            f"{MIN_MATCHING_ROWS}"):
        SampleRequest({"gender": "F"}).checked(schema, rare)


def test_the_job_refuses_two_rebalanced_columns():
    with pytest.raises(PipelineError, match="rebalance one column at a time"):
        JobConfig.parse({"name": "s", "source": "x.csv",
                         "rebalance": {"a": None, "b": None}})


def test_counts_always_add_up_to_n():
    rng = np.random.default_rng(0)
    for _ in range(200):
        shares = rng.dirichlet(np.ones(rng.integers(1, 8)))
        n = int(rng.integers(0, 5000))
        counts = _counts(dict(enumerate(shares)), n)
        assert sum(counts.values()) == n
        assert all(abs(c - s * n) < 1 for c, s in zip(counts.values(), shares))


def test_a_model_that_cannot_condition_is_refused_before_fit(students):
    frame, schema = students
    with pytest.raises(PipelineError, match=r"model\(s\) \['par'\] cannot sample on demand"):
        SampleRequest({"gender": "F"}).checked(schema, frame, ["gmm", "par"])


def test_a_series_is_conditioned_on_static_columns_only(demo_timeseries_path):
    frame, _ = read_source(demo_timeseries_path)
    schema = detect_schema(frame, "stores", sequence_key="store_id", sequence_index="date")
    frame = enforce_schema(frame, schema)
    assert schema.column("region").static and not schema.column("total_sales").static
    with pytest.raises(PipelineError, match=r"\['total_sales'\] vary within a sequence"):
        SampleRequest({"total_sales": "700"}).checked(schema, frame)
    region = frame["region"].value_counts().index[0]
    request = SampleRequest({"region": region}).checked(schema, frame, ["hmm"])
    fitted = create("hmm").fit(frame, schema, seed=0)
    rows = request.sample(fitted, 20, seed=0)
    assert rows["store_id"].nunique() == 20 and (rows["region"] == region).all()
