"""Schema: detection on real data, YAML round trip, enforcement with named rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import vega_datasets
import yaml

from pipeline.errors import PipelineError
from pipeline.ingest import read_source
from pipeline.schema import (
    ColumnSpec,
    DatasetSchema,
    Role,
    detect_schema,
    enforce_schema,
    load_or_detect_schema,
)


def test_adult_roles_and_education_dependency(adult_frame):
    schema = detect_schema(adult_frame, "adult")
    roles = {c.name: c.role for c in schema.columns}
    assert roles["age"] == Role.numerical and schema.column("age").integer
    assert roles["workclass"] == Role.categorical
    assert "Private" in schema.column("workclass").categories
    assert schema.column("capital-gain").minimum == 0
    deps = {(d.source, d.target) for d in schema.dependencies}
    assert ("education", "education-num") in deps
    dep = next(d for d in schema.dependencies if d.source == "education")
    assert dep.mapping["Bachelors"] == 13


def test_a_dependency_needs_every_row_and_no_missing_value(adult_frame):
    """One row breaking education -> education-num, or one missing education, and the pair
    is no dependency; the reverse direction of a one-to-one pair is not listed twice."""
    frame = adult_frame.head(3000).copy()
    found = {(d.source, d.target) for d in detect_schema(frame, "a").dependencies}
    assert ("education", "education-num") in found and ("education-num", "education") not in found
    broken = frame.copy()
    broken.loc[broken.index[0], "education-num"] = (
        broken["education-num"].iloc[0] % 16 + 1)  # another grade for this education
    assert ("education", "education-num") not in {
        (d.source, d.target) for d in detect_schema(broken, "a").dependencies}
    missing = frame.copy()
    missing.loc[missing.index[5], "education"] = None
    assert not {("education", "education-num"), ("education-num", "education")} & {
        (d.source, d.target) for d in detect_schema(missing, "a").dependencies}


def test_a_column_of_unique_values_determines_nothing():
    """statsmodels' committee table: 20 committees, bills counted once each. A count unique to
    its row "determined" all five other columns, and the mapping, a lookup of whole rows,
    made every synthetic row a training record (the privacy gate quarantined the run)."""
    import statsmodels.api as sm

    committee = sm.datasets.committee.load_pandas().data
    assert committee["BILLS104"].is_unique
    assert detect_schema(committee, "committee").dependencies == []
    # repeated values still count: Adult's education has 16 over thousands of rows (above)


def test_decimals_are_the_digits_the_source_writes():
    """Cigar's disposable income has 7 decimals (1558.3045298) and Car's prices up to 8: a
    looser tolerance read 3 and 6, so every synthetic value missed the real ones by a last
    digit. A float32 column keeps float32's tolerance (0.1 stored as float32 is 1 decimal)."""
    from benchmarks.public_data import cigar, r_dataset

    assert detect_schema(cigar(), "cigar").column("ndi").decimals == 7
    assert detect_schema(r_dataset("Ecdat", "Car"), "car").column("price1").decimals == 8
    tenths = pd.DataFrame({"x": np.array([0.1, 0.2, 0.7, 1.3], dtype="float32")})
    assert detect_schema(tenths, "t").column("x").decimals == 1
    money = pd.DataFrame({"x": [0.1 + 0.2, 19.99, 1234567.89]})  # float64 noise is no digit
    assert detect_schema(money, "m").column("x").decimals == 2


def test_id_names_with_dots_spaces_and_camel_case(adult_frame):
    """subject.id, PassengerId and "record ID" name identifiers as customer_id does; a
    column whose name merely ends in the letters (valid, squid) stays a number."""
    frame = adult_frame.head(500).copy()
    unique = np.arange(1000, 1500)
    for name in ("subject.id", "PassengerId", "record ID", "valid", "squid"):
        frame[name] = unique
    roles = {c.name: c.role for c in detect_schema(frame, "ids").columns}
    assert [roles[n] for n in ("subject.id", "PassengerId", "record ID")] == [Role.id] * 3
    assert roles["valid"] == roles["squid"] == Role.numerical


def test_an_id_named_column_of_many_recurring_entities_is_an_id():
    """MASS.OME has 1,097 hearing tests of 77 children: `ID` names the child, so it is an
    id (regenerated, never modelled) although each child has many rows, and its real
    values are not repeated in the output. Five children's ids stay a number: a few
    entities (stores, sites) are what analysts group by."""
    from benchmarks.public_data import r_dataset

    tests = r_dataset("MASS", "OME")
    assert detect_schema(tests, "ome").column("ID").role == Role.id
    few = tests[tests["ID"] <= 5]
    assert detect_schema(few, "few").column("ID").role == Role.numerical


def test_demo_table_id_dates_booleans(demo_table_path):
    frame, _ = read_source(demo_table_path)
    schema = detect_schema(frame, "students")
    assert schema.column("student_id").role == Role.id
    assert schema.column("start_date").role == Role.datetime
    assert schema.column("start_date").datetime_format == "%Y-%m-%d"
    assert schema.column("placed").role == Role.boolean
    assert schema.column("salary").nullable


def test_pii_text_and_high_cardinality(tmp_path):
    n = 800
    frame = pd.DataFrame(
        {
            "email": [f"user{i}@example.org" for i in range(n)],
            "full_name": [f"{['Ada', 'Ben', 'Chloé'][i % 3]} Smith-{chr(65 + i % 26)}"
                          f"{chr(97 + i // 26 % 26)}" for i in range(n)],
            "comment": [f"free text {i} " * 3 for i in range(n)],
            "city": [f"city-{i % 600}" for i in range(n)],  # 600 distinct: too many categories
            "group": ["a", "b"] * (n // 2),
        }
    )
    schema = detect_schema(frame, "people")
    assert schema.column("email").role == Role.pii
    assert schema.column("email").pii_kind == "email"
    assert schema.column("full_name").role == Role.pii
    assert schema.column("comment").role == Role.text
    assert schema.column("city").role == Role.text
    assert schema.column("group").role == Role.categorical
    assert schema.modelled_columns() == ["group"]


def test_a_personal_header_needs_personal_values():
    # vega's cars: a column `Name` of car models came out as people's names from Faker
    import vega_datasets

    cars = vega_datasets.local_data.cars()[["Name", "Miles_per_Gallon"]]
    cars["mobile"] = np.where(cars["Miles_per_Gallon"] > 25, "yes", "no")
    cars["email_sent"] = "2021-03-0" + (cars.index % 9 + 1).astype(str)
    cars["owner_name"] = [["Mary O'Neil", "José Álvarez", "Smith, J."][i % 3] for i in cars.index]
    schema = detect_schema(cars, "cars")
    assert schema.column("Name").role == Role.text
    assert schema.column("mobile").role == Role.categorical
    assert schema.column("email_sent").role != Role.pii  # dates, parsed as such on ingest
    assert schema.column("owner_name").pii_kind == "name"


def test_first_and_last_names_are_replaced_by_first_and_last_names():
    """vega's la-riots: `first_name` came out as Faker's whole names ("Michael Miles" for
    Alex), and `last_name` (Doe #80, Garcia Rivera) was read as free text."""
    from vega_datasets import local_data

    from pipeline.models.gmm import GaussianMixtureModel

    frame = local_data.la_riots()[["first_name", "last_name", "age", "gender"]]
    schema = detect_schema(frame, "la_riots")
    assert schema.column("first_name").pii_kind == "first_name"
    assert schema.column("last_name").pii_kind == "last_name"
    out = GaussianMixtureModel(n_components=2).fit(frame, schema, seed=0).sample(300, seed=1)
    from faker.providers.person.en_US import Provider

    assert out["first_name"].isin(list(Provider.first_names)).all()
    assert out["last_name"].isin(list(Provider.last_names)).all()


@pytest.mark.parametrize(("written", "layout", "shape"), [
    (lambda first, last: f"{last}, {first}", "{last}, {first}", r"[A-Z][\w' -]+, [A-Z]\w+"),
    (lambda first, last: f"{last}, {first[0]}", "{last}, {initial}", r"[A-Z][\w' -]+, [A-Z]"),
])
def test_names_written_surname_first_come_out_so(written, layout, shape):
    # openintro's mlb_players_18 writes "Allard, K": it came out as "Jennifer Hale"; here
    # pscl's Efron-Morris batters (Roberto Clemente) written so
    from benchmarks.public_data import r_dataset
    from pipeline.postprocess import fake_values

    players = r_dataset("pscl", "EfronMorris")
    parts = players["name"].str.split(" ", n=1)
    players["name"] = [written(first, last) for first, last in parts]
    spec = detect_schema(players, "efron_morris").column("name")
    assert spec.pii_kind == "name" and spec.pii_shape == layout
    out = fake_values(spec, 300, np.random.default_rng(0))
    assert out.str.fullmatch(shape).all()


def test_no_fake_personal_value_is_a_training_value():
    # Faker's common names meet real ones by chance: the LA riots' 63 victims, written
    # "Robinson, F" as EfronMorris's batters, and every fit drawing its names a thousand times
    from pipeline.models.gmm import GaussianMixtureModel

    riots = vega_datasets.local_data.la_riots()
    riots["name"] = riots["last_name"] + ", " + riots["first_name"].str[0]
    schema = detect_schema(riots, "riots")
    assert schema.column("name").pii_shape == "{last}, {initial}"
    out = GaussianMixtureModel(n_components=2).fit(riots, schema, seed=0).sample(3000, seed=1)
    for column in ("first_name", "last_name", "name", "address"):
        assert schema.column(column).role == Role.pii
        assert out[column].notna().all() and not out[column].isin(riots[column]).any(), column


def test_animal_names_are_not_peoples_names():
    # ggplot2's msleep: "Cheetah", "Owl monkey", "Greater short-tailed shrew" came out as
    # Faker's people ("Jacqueline Collier"); a person's later words are capitalised
    from benchmarks.public_data import r_dataset

    sleep = r_dataset("ggplot2", "msleep")
    sleep["owner_name"] = [["Ludwig van Beethoven", "Mary O'Neil", "Chen"][i % 3]
                           for i in sleep.index]
    schema = detect_schema(sleep, "msleep")
    assert schema.column("name").role == Role.text
    assert schema.column("owner_name").pii_kind == "name"


@pytest.mark.parametrize(("package", "table", "column", "people"), [
    ("Ecdat", "USstateAbbreviations", "Name", False),  # Alabama: tidyr's us_rent_income
    ("HSAUR", "Forbes2000", "name", False),  # Citigroup, General Electric
    ("ggplot2", "presidential", "name", True),  # Eisenhower, Kennedy
    ("pscl", "EfronMorris", "name", True),  # Roberto Clemente
])
def test_a_name_column_is_peoples_when_common_names_are_among_its_values(
        package, table, column, people):
    # tidyr's us_rent_income wrote its states (NAME: Alabama) as Faker's people
    from benchmarks.public_data import r_dataset

    spec = detect_schema(r_dataset(package, table), table).column(column)
    assert (spec.pii_kind == "name") == people, spec.role


def test_yaml_round_trip_and_reuse(tmp_path, adult_frame):
    path = tmp_path / "adult.yaml"
    schema, detected = load_or_detect_schema(adult_frame, path, "adult")
    assert detected and path.exists()
    again, detected_again = load_or_detect_schema(adult_frame, path, "adult")
    assert not detected_again
    assert again == schema
    assert DatasetSchema.load(path).model_dump() == schema.model_dump()


@pytest.mark.parametrize("package, table, kinds", [
    ("Ecdat", "MedExp", {"binned"}),  # child from age
    ("HistData", "Prostitutes", {"calendar"}),  # Year and month beside the date
    ("psych", "affect", {"missing_together", "ordered"}),
    ("HistData", "GaltonFamilies", {"derived"}),
    ("COUNT", "affairs", {"one_of"}),
])
def test_every_detected_relation_loads_back(tmp_path, package, table, kinds):
    # mosaicData's BirthsCDC: the schema written with its weekday-beside-date relation was
    # refused on the next run ("every column must be numerical"), so no job ran twice
    from benchmarks.public_data import r_dataset

    frame = r_dataset(package, table)
    if "date" in frame:
        frame["date"] = pd.to_datetime(frame["date"])
    path = tmp_path / "t.yaml"
    schema, _ = load_or_detect_schema(frame, path, "t")
    assert kinds <= {r.kind for r in schema.relations}
    assert DatasetSchema.load(path).model_dump() == schema.model_dump()


def test_a_relation_on_columns_of_the_wrong_role_names_what_it_needs(tmp_path):
    schema = DatasetSchema(name="t", columns=[
        ColumnSpec(name="day", role=Role.numerical), ColumnSpec(name="when", role=Role.datetime),
        ColumnSpec(name="band", role=Role.categorical, categories=["a", "b"])])
    data = schema.model_dump(mode="json")
    data["relations"] = [{"kind": "calendar", "columns": ["when", "day"]}]
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(PipelineError, match=r"calendar relation \['when', 'day'\]: "
                                            r"\[column, date\]: a numerical or categorical"):
        DatasetSchema.load(path)
    data["relations"] = [{"kind": "binned", "columns": ["band", "when"]},
                         {"kind": "calendar", "columns": ["band", "when"]}]
    path.write_text(yaml.safe_dump(data))
    assert [r.kind for r in DatasetSchema.load(path).relations] == ["binned", "calendar"]


def test_a_series_run_on_a_tables_schema_says_what_to_do(tmp_path):
    # BirthsCDC: the quarantine hint's `--model hmm --sequence-index date` met the table's
    # saved schema, and the error read "sequence_index 'date' differs from None"
    frame = pd.DataFrame({"date": pd.date_range("2020-01-01", periods=80),
                          "births": np.arange(80) % 7})
    path = tmp_path / "births.yaml"
    load_or_detect_schema(frame, path, "births")
    with pytest.raises(PipelineError, match=r"births.yaml was detected for a table, with no "
                                            r"sequence_index; .* delete it"):
        load_or_detect_schema(frame, path, "births", sequence_index="date")
    path.unlink()
    schema, detected = load_or_detect_schema(frame, path, "births", sequence_index="date")
    assert detected and schema.sequence_index == "date"


def test_user_edit_is_honoured(tmp_path, adult_frame):
    path = tmp_path / "adult.yaml"
    load_or_detect_schema(adult_frame, path, "adult")
    text = path.read_text().replace(
        "name: fnlwgt\n  role: numerical", "name: fnlwgt\n  role: id", 1
    )
    path.write_text(text)
    edited, _ = load_or_detect_schema(adult_frame, path, "adult")
    assert edited.column("fnlwgt").role == Role.id
    assert "fnlwgt" not in edited.modelled_columns()


def test_enforcement_names_column_and_rows(adult_frame):
    schema = detect_schema(adult_frame, "adult")
    bad = adult_frame.copy()
    bad["workclass"] = bad["workclass"].astype(object)
    bad.loc[[5, 17], "workclass"] = "Astronaut"
    with pytest.raises(PipelineError, match=r"column 'workclass' has a category .* row\(s\) 5, 17"):
        enforce_schema(bad, schema)
    bad = adult_frame.copy().astype({"age": object})
    bad.loc[3, "age"] = "old"
    with pytest.raises(PipelineError, match=r"'age' is not a number in row\(s\) 3"):
        enforce_schema(bad, schema)
    with pytest.raises(PipelineError, match=r"missing columns \['income'\]"):
        enforce_schema(adult_frame.drop(columns=["income"]), schema)


def test_a_sequence_key_without_an_index_is_explained(nyc_weather_path):
    # a key alone once reached sampling as a key the tabular model never drew (IndexError)
    frame, _ = read_source(nyc_weather_path)
    with pytest.raises(PipelineError, match="'origin' of 'w' was given without a sequence_index"):
        detect_schema(frame, "w", sequence_key="origin")


def test_invalid_schema_file_is_explained(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("name: x\ncolumns:\n- name: a\n  role: categorical\n")
    with pytest.raises(PipelineError, match="needs 'categories'"):
        DatasetSchema.load(path)
    path.write_text("name: x\ncolumns: [\n")
    with pytest.raises(PipelineError, match="not valid YAML"):
        DatasetSchema.load(path)


def test_real_values_read_as_the_output_writes_them(nyc_weather_path):
    """nyc_weather's wind speeds are written `6.904679999999999` (mph from knots): the schema
    reads 5 decimals, and enforcing it drops the float noise, so a synthetic value written
    with those decimals is the same double as the real one (a classifier cannot split them
    on the last bit, and a copied value compares equal to its source)."""
    from pipeline.postprocess import cast_column

    frame, _ = read_source(nyc_weather_path)
    assert (frame["wind_speed"] == 6.904679999999999).any()
    schema = detect_schema(frame, "nyc_weather", sequence_key="origin",
                           sequence_index="time_hour")
    enforced = enforce_schema(frame, schema)
    assert not (enforced["wind_speed"] == 6.904679999999999).any()
    assert (enforced["wind_speed"] == 6.90468).any()
    for spec in schema.columns:
        if spec.role == Role.numerical and not spec.integer:
            written = cast_column(enforced[spec.name], spec)
            same = (written == enforced[spec.name]) | enforced[spec.name].isna()
            assert same.all(), spec.name


def test_a_number_shared_by_every_row_of_a_group_is_the_groups_attribute():
    """Cai et al.'s insurance survey: each of 166 addresses (8.5 households on average) has
    one pre-treatment take-up rate. Modelled as a number beside a 166-level category, the
    rate drifted within its address (that pair scored 0.12, detection AUC 0.86); it is now
    the address's attribute, read from the rows. Galton's families (4.6 children each) keep
    their parents' heights modelled: published exactly they single a family out."""
    from causaldata import social_insure

    from benchmarks.public_data import r_dataset
    from pipeline.models.gmm import GaussianMixtureModel

    survey = social_insure.load_pandas().data
    schema = detect_schema(survey, "social_insure")
    found = {(d.source, d.target): d.mapping for d in schema.dependencies}
    rates = found[("address", "pre_takeup_rate")]
    assert len(rates) == survey["address"].nunique()
    train = enforce_schema(survey, schema)
    out = GaussianMixtureModel(n_components=8, max_iter=30).fit(train, schema, seed=0).sample(
        2000, seed=1)
    assert (out["pre_takeup_rate"] == out["address"].astype(str).map(rates)).all()

    families = r_dataset("HistData", "GaltonFamilies")
    targets = {d.target for d in detect_schema(families, "galton").dependencies}
    assert not targets & {"father", "mother", "midparentHeight"}
