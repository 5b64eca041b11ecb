"""Inputs a user will give that once ended in a traceback or in wrong values.

Calendar columns no zone explains, Latin-1 and cp1252 files, a column with no values, telemetry
left on outside the Makefile, and dataset names that reach outside the project.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipeline import cli
from pipeline.config import JobConfig
from pipeline.errors import PipelineError
from pipeline.ingest import read_source
from pipeline.models.gmm import GaussianMixtureModel
from pipeline.schema import (
    DatasetSchema,
    Role,
    detect_schema,
    enforce_schema,
    load_or_detect_schema,
)

SYNTH = [sys.executable, "-m", "pipeline.cli"]


def synth(*args: str, cwd: Path, env: dict[str, str] | None = None):
    return subprocess.run(
        [*SYNTH, *args], cwd=cwd, capture_output=True, text=True, timeout=120, env=env
    )


# --- 1. calendar columns that no time zone explains ------------------------------------------
@pytest.fixture
def daily_panel_csv(tmp_path) -> Path:
    """Two shops x 21 days with year/month/day, a weekday *name*, the date and a count."""
    days = pd.date_range("2024-02-20", periods=21, freq="D")
    frame = pd.concat(
        pd.DataFrame({
            "shop": shop, "year": days.year, "month": days.month, "day": days.day,
            "weekday": days.day_name(), "date": days.strftime("%Y-%m-%d"),
            "count": range(offset, offset + len(days)),
        })
        for offset, shop in enumerate(["north", "south"])
    )
    path = tmp_path / "panel.csv"
    frame.to_csv(path, index=False)
    return path


def test_weekday_names_do_not_send_detection_through_the_tz_database(daily_panel_csv):
    # 'weekday' holds names, so no zone makes every calendar column agree; detection used to
    # try every tz database name and crash on 'Factory', which pandas refuses
    frame, _ = read_source(daily_panel_csv)
    schema = detect_schema(frame, "panel", sequence_key="shop", sequence_index="date")
    assert schema.column("date").timezone is None
    for part in ("year", "month", "day"):
        assert schema.column(part).derived_from_index == part
    # weekday names are the index's day names, regenerated from it, never modelled
    weekday = schema.column("weekday")
    assert weekday.role == Role.categorical and weekday.derived_from_index == "day_name"
    assert "weekday" not in schema.modelled_columns()


def test_unknown_timezone_in_a_schema_file_names_the_column(tmp_path):
    path = tmp_path / "panel.yaml"
    path.write_text(
        "name: panel\nsequence_index: date\ncolumns:\n"
        "- {name: date, role: datetime, timezone: Factory}\n"
    )
    with pytest.raises(PipelineError, match=r"column 'date': timezone 'Factory' is not a time"):
        DatasetSchema.load(path)


# --- 2. files that are not UTF-8 ----------------------------------------------------------------
def test_latin1_csv_keeps_accented_values_and_says_its_encoding(tmp_path):
    path = tmp_path / "people.csv"
    path.write_bytes("name,city,n\nJosé,São Paulo,1\nZoë,Köln,2\n".encode("latin-1"))
    frame, report = read_source(path)
    assert frame["name"].tolist() == ["José", "Zoë"]
    assert frame["city"].tolist() == ["São Paulo", "Köln"]
    assert report.encoding == "latin-1"
    assert "decoded as latin-1" in report.summary()


def test_cp1252_csv_keeps_euro_sign_and_curly_quotes(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_bytes("item,price,note\n“Café” crème,3€,€ off\nPâté,5€,€ on\n".encode("cp1252"))
    frame, report = read_source(path)
    assert frame["item"].tolist() == ["“Café” crème", "Pâté"]
    assert frame["note"].tolist() == ["€ off", "€ on"]
    assert frame["price"].tolist() == [3, 5]  # the euro sign decoded, then read as money
    assert report.numbers_from_text == {"price": ["currency signs"]}
    assert report.encoding == "cp1252"


def test_utf8_with_bom_is_utf8_and_the_bom_leaves_the_header(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("name,n\nJosé,1\n".encode("utf-8-sig"))
    frame, report = read_source(path)
    assert list(frame.columns) == ["name", "n"] and frame["name"].tolist() == ["José"]
    assert report.encoding == "utf-8" and "decoded as" not in report.summary()


# --- 3. a column with no values at all ------------------------------------------------------
@pytest.fixture
def students_with_empty_column(tmp_path, demo_table_path) -> Path:
    """The demo table plus a column whose every cell is blank or a missing marker."""
    frame = pd.read_csv(demo_table_path)
    frame["notes"] = ["", "NA"] * (len(frame) // 2) + [""] * (len(frame) % 2)
    path = tmp_path / "students.csv"
    frame.to_csv(path, index=False)
    return path


def test_empty_column_is_kept_all_missing_and_never_modelled(
    tmp_path, students_with_empty_column
):
    frame, report = read_source(students_with_empty_column)
    assert report.empty == ["notes"] and "no values at all in notes" in report.summary()
    schema, _ = load_or_detect_schema(frame, tmp_path / "students.yaml", "students")
    assert schema.column("notes").empty and "notes" not in schema.modelled_columns()
    # the flag survives the saved schema, which is what a second run reads
    reloaded = DatasetSchema.load(tmp_path / "students.yaml")
    assert reloaded.column("notes").empty
    real = enforce_schema(frame, reloaded)
    model = GaussianMixtureModel(n_components=4, max_iter=10).fit(real, reloaded, seed=1)
    synthetic = model.sample(40, seed=2)
    assert list(synthetic.columns) == reloaded.names()
    assert synthetic["notes"].isna().all()


def test_empty_sequence_key_is_refused_naming_it():
    frame = pd.DataFrame({"shop": [None] * 4, "t": [1, 2, 3, 4], "v": [1.0, 2.0, 3.0, 4.0]})
    with pytest.raises(PipelineError, match="sequence_key 'shop'.*has no values"):
        detect_schema(frame, "shops", sequence_key="shop", sequence_index="t")


# --- 4. telemetry off however synth is started ------------------------------------------------
def test_cli_turns_analytics_off_before_prefect_reads_its_settings(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in cli.ENV_DEFAULTS}
    probe = (
        "from pipeline.cli import main; main(['models']); "
        "from prefect.settings import get_current_settings; "
        "import os; print(get_current_settings().server.analytics_enabled, "
        "os.environ['DO_NOT_TRACK'], os.environ['GX_ANALYTICS_ENABLED'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=120, check=True,
    )
    assert result.stdout.strip().splitlines()[-1] == "False 1 False"


def test_a_value_the_user_set_wins(monkeypatch):
    for key in cli.ENV_DEFAULTS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DO_NOT_TRACK", "0")
    cli.apply_env_defaults()
    assert os.environ["DO_NOT_TRACK"] == "0"
    assert os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"


# --- 5. dataset names that would leave the project ---------------------------------------------
def files_under(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*")}


@pytest.mark.parametrize("name", ["../../x", "/abs/path", "x" * 300, "a..b"])
def test_validate_refuses_a_bad_name_before_writing_anything(tmp_path, name):
    project = tmp_path / "deep" / "project"
    project.mkdir(parents=True)
    (project / "real.csv").write_text("a,b\n" + "".join(f"{i},{i % 3}\n" for i in range(30)))
    before = files_under(tmp_path)
    result = synth(
        "validate", "--real", "real.csv", "--synthetic", "real.csv", "--name", name, cwd=project
    )
    assert result.returncode == 2, result.stderr
    assert "--name" in result.stderr and "is not allowed: use letters" in result.stderr
    assert "Traceback" not in result.stderr
    assert files_under(tmp_path) == before
    if name.startswith("/"):
        assert not Path(name).exists()


def test_a_nul_in_a_name_is_refused_by_run_and_validate(in_project, capsys):
    # argv cannot carry a NUL byte, but a YAML job file or a call of main() can
    (in_project / "real.csv").write_text("a,b\n" + "".join(f"{i},{i % 3}\n" for i in range(30)))
    (in_project / "job.yaml").write_text('name: "a\\0b"\nsource: real.csv\n')
    result = synth("run", "job.yaml", cwd=in_project)
    assert result.returncode == 2, result.stderr
    assert "name: use letters" in result.stderr and "Traceback" not in result.stderr
    args = ["validate", "--real", "real.csv", "--synthetic", "real.csv", "--name", "a\x00b"]
    assert cli.main(args) == 2
    assert "--name 'a\\x00b' is not allowed" in capsys.readouterr().err
    assert files_under(in_project) == {Path("real.csv"), Path("job.yaml")}


@pytest.mark.parametrize("name", ["../x", "a/b", "a\x00b", "x" * 65, "name\n", ".hidden", ""])
def test_every_entry_point_applies_the_same_name_rule(tmp_path, name):
    with pytest.raises(PipelineError, match="name: use letters"):
        JobConfig.parse({"name": name, "source": "real.csv"})
    frame = pd.DataFrame({"a": [1, 2, 3]})
    with pytest.raises(PipelineError, match="is not allowed: use letters"):
        detect_schema(frame, name)
    path = tmp_path / "schema.yaml"
    columns = [{"name": "a", "role": "numerical"}]
    path.write_text(yaml.safe_dump({"name": name, "columns": columns}))
    with pytest.raises(PipelineError, match="invalid at name: use letters"):
        DatasetSchema.load(path)


def test_a_good_name_still_passes_everywhere():
    assert JobConfig.parse({"name": "nyc_weather-2.v1", "source": "x.csv"}).name
    assert detect_schema(pd.DataFrame({"a": [1, 2]}), "nyc_weather-2.v1").name


def test_empty_typed_parquet_column_is_not_a_varying_series(tmp_path):
    # Parquet keeps an all-null float column's dtype; it must still reach no model or metric
    frame = pd.DataFrame({
        "shop": ["a"] * 5 + ["b"] * 5, "t": list(range(5)) * 2,
        "v": [float(i) for i in range(10)], "gap": [float("nan")] * 10,
    })
    frame.to_parquet(tmp_path / "shops.parquet")
    ingested, report = read_source(tmp_path / "shops.parquet")
    assert report.empty == ["gap"] and report.encoding is None
    schema = detect_schema(ingested, "shops", sequence_key="shop", sequence_index="t")
    gap = schema.column("gap")
    assert gap.empty and gap.role == Role.text and not gap.static
    assert "gap" not in schema.modelled_columns()
