"""Promises every model keeps through the shared post-processing: PII faked, ids regenerated,
dependencies enforced, output cast to the schema."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.models import registry
from pipeline.schema import Role, detect_schema, enforce_schema


@pytest.fixture(scope="module")
def people(adult_frame):
    frame = adult_frame.sample(1500, random_state=2).reset_index(drop=True)
    frame.insert(0, "customer_id", [f"C{i:06d}" for i in range(len(frame))])
    frame["email"] = [f"real.person{i}@example.org" for i in range(len(frame))]
    first = ["Ada", "Bruno", "Chloé", "Dmitri", "Eve", "Farid", "Grace", "Hugo", "Ines", "José"]
    last = [f"{a}{b}son" for a in ("Al", "Br", "Cl", "Dr", "Ev", "Fr", "Gl", "Hol", "Ing", "Jo",
                                   "Kr", "Lo", "Mar", "Nor", "Os")
            for b in ("an", "er", "ic", "ol", "und", "ay", "ist", "ow", "el", "am")]
    frame["full_name"] = [f"{first[i % 10]} {last[i // 10]}" for i in range(len(frame))]
    schema = detect_schema(frame, "people")
    return enforce_schema(frame, schema), schema


def test_pii_is_faked_never_copied_and_ids_are_new(people):
    frame, schema = people
    assert schema.column("email").role == Role.pii
    assert schema.column("full_name").pii_kind == "name"
    assert schema.column("customer_id").role == Role.id
    synthetic = registry.create("gmm", n_components=4).fit(frame, schema, seed=0).sample(
        2000, seed=1)
    assert not set(synthetic["email"]) & set(frame["email"])
    assert not set(synthetic["full_name"]) & set(frame["full_name"])
    assert synthetic["email"].str.contains("@").all()
    assert synthetic["customer_id"].is_unique
    assert not set(synthetic["customer_id"]) & set(frame["customer_id"])


def test_dependencies_hold_in_every_models_output(people):
    frame, schema = people
    mapping = next(d.mapping for d in schema.dependencies if d.source == "education")
    for model in ("gmm", "gaussian_copula"):
        synthetic = registry.create(model).fit(frame, schema, seed=0).sample(500, seed=0)
        expected = synthetic["education"].astype("string").map(mapping)
        observed = synthetic["education-num"].astype("Int64")
        both = synthetic["education"].notna()
        assert (observed[both] == pd.to_numeric(expected[both])).all(), model
        assert list(synthetic.columns) == schema.names()


def test_cast_drops_unknown_categories_and_rounds_integers_from_any_input():
    from pipeline.postprocess import cast_column
    from pipeline.schema import ColumnSpec

    spec = ColumnSpec(name="colour", role=Role.categorical, categories=["red", "blue"])
    as_objects = pd.Series(["red", "green", None, "blue"], dtype=object)
    as_category = as_objects.astype("category")
    for values in (as_objects, as_category):
        out = cast_column(values, spec)
        assert list(out.cat.categories) == ["red", "blue"]  # the schema's labels, as codes
        assert out.isna().tolist() == [False, True, True, False]
        assert out[0] == "red" and out[3] == "blue"
    counts = ColumnSpec(name="n", role=Role.numerical, integer=True, minimum=0, maximum=10)
    out = cast_column(pd.Series([1.6, -3.0, None, 12.2]), counts)
    assert str(out.dtype) == "Int64"
    assert out.tolist()[:2] == [2, 0] and out.isna().tolist() == [False, False, True, False]
    assert out[3] == 10
