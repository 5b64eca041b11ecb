"""The relations step keeps orders and sums that a tabular model alone would blur, on real
tables from vega_datasets (seattle-weather: each day's minimum under its maximum;
us-employment: sector totals that are sums of their parts)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import vega_datasets

from pipeline.models.gmm import GaussianMixtureModel
from pipeline.schema import DatasetSchema, detect_schema, enforce_schema

FAST = {"n_components": 8, "max_iter": 30}


def _fit_sample(frame: pd.DataFrame, schema: DatasetSchema, n: int) -> pd.DataFrame:
    model = GaussianMixtureModel(**FAST).fit(enforce_schema(frame, schema), schema, seed=0)
    return model.sample(n, seed=1)


def _without_relations(schema: DatasetSchema) -> DatasetSchema:
    """The same schema with every relation switched off, as a user would in its YAML."""
    off = [r.model_copy(update={"enabled": False}) for r in schema.relations]
    return schema.model_copy(update={"relations": off})


@pytest.fixture(scope="module")
def weather() -> tuple[pd.DataFrame, DatasetSchema]:
    frame = vega_datasets.local_data.seattle_weather()
    return frame, detect_schema(frame, "seattle_weather")


@pytest.fixture(scope="module")
def employment() -> tuple[pd.DataFrame, DatasetSchema]:
    frame = vega_datasets.local_data.us_employment().drop(columns=["nonfarm_change"])
    return frame, detect_schema(frame, "us_employment")


def test_order_is_found_listed_and_kept_by_gmm(weather):
    frame, schema = weather
    (relation,) = [r for r in schema.relations if r.kind == "ordered"]
    assert relation.columns == ["temp_min", "temp_max"] and relation.enabled
    kept = _fit_sample(frame, schema, 2000)
    assert (kept["temp_min"] <= kept["temp_max"]).all()
    blurred = _fit_sample(frame, _without_relations(schema), 2000)
    assert (blurred["temp_min"] > blurred["temp_max"]).mean() > 0.001  # the step is what holds it


def test_sum_column_is_recomputed_from_its_parts(employment):
    frame, schema = employment
    derived = {r.columns[0]: r.columns[1:] for r in schema.relations if r.kind == "derived"}
    parts = derived["nonfarm"]  # the total of two sectors that split it (both splits hold)
    assert (frame["nonfarm"] == frame[parts].sum(axis=1)).all()

    low, high = frame["nonfarm"].min(), frame["nonfarm"].max()

    def holds(out: pd.DataFrame) -> pd.Series:
        """Rows whose total is its parts' sum (to the published rounding)."""
        return np.abs(out["nonfarm"] - out[parts].sum(axis=1)) <= 1

    kept = _fit_sample(frame, schema, 1000)
    inside = kept["nonfarm"].between(low, high, inclusive="neither")
    assert holds(kept)[inside].all()  # only the schema's bounds can break it: they clip
    assert inside.mean() > 0.95
    blurred = _fit_sample(frame, _without_relations(schema), 1000)
    assert holds(blurred).mean() < 0.2


def test_a_total_of_three_parts_is_found_and_kept(tmp_path):
    """plm's Produc: public capital is highways + water + utilities on every row, a total of
    three parts that no cubic of one or two columns fits."""
    from benchmarks.public_data import r_dataset

    frame = r_dataset("plm", "Produc").drop(columns=["state", "year"])
    schema = detect_schema(frame, "produc")
    (total,) = [r.columns for r in schema.relations if r.kind == "derived"]
    assert total[0] == "pcap" and sorted(total[1:]) == ["hwy", "util", "water"]
    schema.save(tmp_path / "produc.yaml")  # a schema that names it reloads
    assert DatasetSchema.load(tmp_path / "produc.yaml").relations == schema.relations

    def gap(out: pd.DataFrame) -> pd.Series:
        return (out["pcap"] - out[["hwy", "water", "util"]].sum(axis=1)).abs()

    scale = frame["pcap"].std()
    assert (gap(frame) <= 0.01 * scale).all()
    inside = lambda out: out["pcap"].between(frame["pcap"].min(), frame["pcap"].max(),  # noqa: E731
                                             inclusive="neither")
    kept = _fit_sample(frame, schema, 1000)
    assert (gap(kept)[inside(kept)] <= 0.01 * scale).all() and inside(kept).mean() > 0.95
    blurred = _fit_sample(frame, _without_relations(schema), 1000)
    assert (gap(blurred) > 0.01 * scale).mean() > 0.5


def test_a_relation_switched_off_in_the_yaml_stays_off(employment, tmp_path):
    _, schema = employment
    off = _without_relations(schema)
    off.save(tmp_path / "s.yaml")
    reloaded = DatasetSchema.load(tmp_path / "s.yaml")
    assert reloaded.relations and not any(r.enabled for r in reloaded.relations)


def test_the_model_card_names_the_relations_it_used(weather):
    frame, schema = weather
    model = GaussianMixtureModel(**FAST).fit(enforce_schema(frame, schema), schema, seed=0)
    (used,) = model.card()["relations"]
    assert used["ordered"] == ["temp_min", "temp_max"]
    assert used["modelled_as_gap"] in ("temp_min", "temp_max")


@pytest.fixture(scope="module")
def placements():
    """sdmetrics' student placements: salary and the job's dates and duration are missing
    together (students not placed), salaries are in hundreds, percentages have 2 decimals."""
    from importlib.resources import files

    from pipeline.ingest import read_source

    frame, _ = read_source(
        str(files("sdmetrics").joinpath("demos/single_table/student_placements_real.csv")))
    schema = detect_schema(frame, "placements")
    return enforce_schema(frame, schema), schema


JOB = ["salary", "start_date", "end_date", "duration"]


@pytest.mark.parametrize("model, params", [
    ("gmm", {}), ("gaussian_copula", {}), ("ctgan", {"epochs": 2}), ("tvae", {"epochs": 2}),
])
def test_every_tabular_model_keeps_formats_and_missing_together(placements, model, params):
    from pipeline.models import registry

    frame, schema = placements
    relations = [r.model_dump() for r in schema.relations]
    assert {"kind": "missing_together", "columns": JOB, "enabled": True} in relations
    # a placement ends after it starts: 38 % of gmm's rows ended first before dates paired
    assert {"kind": "ordered", "columns": ["start_date", "end_date"], "enabled": True} in relations
    assert schema.column("salary").step == 100 and schema.column("high_perc").decimals == 2
    out = registry.create(model, **params).fit(frame, schema, seed=0).sample(400, seed=1)
    missing = out[JOB].isna().to_numpy()
    assert (missing == missing[:, :1]).all()  # all present or all absent, row by row
    assert 0 < missing[:, 0].mean() < 1
    assert (out["salary"].dropna() % 100 == 0).all()
    dates = out[["start_date", "end_date"]].dropna()
    assert len(dates) and (dates["start_date"] <= dates["end_date"]).all()
    cents = out["high_perc"].dropna() * 100
    assert np.allclose(cents, cents.round(), atol=1e-6)


def test_yes_no_labels_come_back_as_written_and_a_boolean_role_reads_them(tmp_path):
    from pipeline.ingest import read_source
    from pipeline.schema import Role

    path = tmp_path / "loans.csv"
    rows = [f"{i},{'YES' if i % 3 else 'NO'},{1000 + 17 * i}" for i in range(120)]
    path.write_text("n,approved,amount\n" + "\n".join(rows) + "\n")
    frame, _ = read_source(path)
    schema = detect_schema(frame, "loans")
    assert schema.column("approved").categories == ["NO", "YES"]
    out = _fit_sample(frame, schema, 200)
    assert set(out["approved"].dropna().astype(str)) <= {"YES", "NO"}
    as_boolean = schema.model_copy(update={"columns": [
        c.model_copy(update={"role": Role.boolean, "categories": None})
        if c.name == "approved" else c for c in schema.columns]})
    enforced = enforce_schema(frame, as_boolean)
    assert enforced["approved"].dtype == "boolean" and enforced["approved"].sum() == 80


def test_a_column_of_few_values_is_never_rebuilt_from_a_gap():
    """ggplot2's mpg: displacement in litres never exceeds the cylinder count. With the gap
    on the cylinders (the wider column), they came out 5 and 7 on a third of the rows; now
    the displacement is rebuilt and the cylinders keep their point masses."""
    from benchmarks.public_data import r_dataset

    frame = r_dataset("ggplot2", "mpg")
    schema = detect_schema(frame, "mpg")
    model = GaussianMixtureModel().fit(enforce_schema(frame, schema), schema, seed=0)
    pairs = {(p.low, p.high): p.gap_column for p in model.relations.pairs}
    assert pairs[("displ", "cyl")] == "displ"
    out = model.sample(2000, seed=1)
    real = frame["cyl"].value_counts(normalize=True)
    made = out["cyl"].value_counts(normalize=True).reindex(real.index, fill_value=0)
    assert (made - real).abs().sum() / 2 < 0.1  # total variation of the cylinder counts
    assert (out["displ"] <= out["cyl"]).all()
    # two few-valued columns keep their gap: correct answers never exceed the trials
    ome = r_dataset("MASS", "OME")
    schema = detect_schema(ome, "ome")
    model = GaussianMixtureModel().fit(enforce_schema(ome, schema), schema, seed=0)
    assert [(p.low, p.high, p.gap_column) for p in model.relations.pairs] == [
        ("Correct", "Trials", "Trials")]
    out = model.sample(2000, seed=1)
    assert (out["Correct"] <= out["Trials"]).all()


@pytest.mark.parametrize("model, params", [("gmm", {}), ("gaussian_copula", {}),
                                           ("tvae", {"epochs": 2})])
def test_a_length_of_stay_matches_its_dates_on_every_row(model, params):
    # a stay in days is discharge minus admission, exactly: recomputed from the two dates
    # at the days the output shows (SDV's models return times of day, floored afterwards),
    # where 6 % (gmm) to 87 % (copula) of synthetic stays disagreed with their dates
    from pipeline.models import registry

    rng = np.random.default_rng(9)
    admitted = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 365, 600), "D")
    stay = rng.gamma(2, 2.5, 600).round().astype(int)
    frame = pd.DataFrame({"admitted": admitted, "discharged": admitted + pd.to_timedelta(stay, "D"),
                          "los_days": stay, "age": rng.integers(18, 95, 600)})
    schema = detect_schema(frame, "stays")
    assert ["los_days", "admitted", "discharged"] in [r.columns for r in schema.relations]
    out = registry.create(model, **params).fit(frame, schema, seed=0).sample(1000, seed=1)
    assert ((out["discharged"] - out["admitted"]).dt.days == out["los_days"]).all()
    # a year follows a century of dates nearly as a cubic (R^2 0.99990) but not exactly:
    # it is modelled, never recomputed with noise that rounding would turn into wrong years
    born = pd.Timestamp("1900-01-01") + pd.to_timedelta(rng.integers(0, 36500, 600), "D")
    people = pd.DataFrame({"born": born, "died": born + pd.to_timedelta(stay * 3000, "D"),
                           "born_year": born.year})
    assert not [r for r in detect_schema(people, "people").relations if r.kind == "derived"]
