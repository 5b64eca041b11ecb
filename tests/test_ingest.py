"""Ingest: real Adult quirks, formats, URLs, and the bad inputs a user will try."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.errors import PipelineError
from pipeline.ingest import read_source


def test_adult_leading_spaces_and_question_marks(adult_path):
    frame, report = read_source(adult_path)
    assert frame.shape == (32561, 15)
    # values start with a space in the file; none may survive ingest
    assert frame["workclass"].dropna().str.startswith(" ").sum() == 0
    assert "State-gov" in set(frame["workclass"])
    # '?' marks missing in workclass, occupation and native-country
    assert set(report.missing_markers) == {"workclass", "occupation", "native-country"}
    assert frame["workclass"].isna().sum() == report.missing_markers["workclass"] > 1000
    assert "?" not in set(frame["occupation"].dropna())
    assert str(frame["age"].dtype) == "Int64"
    assert report.trimmed["sex"] == 32561
    assert report.fingerprint.startswith("sha256:")


def test_dates_booleans_and_missing_markers_are_parsed(tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_text(
        "when,flag,score,label,answer\n"
        "2020-01-02,true,1.5,a,YES\n"
        "2020-02-03,false,NA,b,NO\n"
        "2020-03-04,True,null, c ,YES\n"
        ",FALSE,2,?,NO\n"
    )
    frame, report = read_source(path)
    assert pd.api.types.is_datetime64_any_dtype(frame["when"])
    assert frame["when"].isna().sum() == 1
    assert str(frame["flag"].dtype) == "boolean"
    assert frame["flag"].tolist() == [True, False, True, False]
    assert frame["score"].isna().sum() == 2
    assert frame["label"].tolist()[:3] == ["a", "b", "c"]
    assert pd.isna(frame["label"].iloc[3])
    assert report.dates == {"when": "%Y-%m-%d"}
    assert report.booleans == ["flag"]
    assert frame["answer"].tolist() == ["YES", "NO", "YES", "NO"]  # labels stay as written


def test_zoned_timestamps_become_naive_utc(nyc_weather_path):
    frame, report = read_source(nyc_weather_path)
    assert report.timezone_to_utc == ["time_hour"]
    assert frame["time_hour"].iloc[0] == pd.Timestamp("2013-01-01 06:00:00")


def test_zoned_timestamps_as_pandas_writes_them_are_dates(nyc_weather_path, tmp_path):
    # a user's frame with zoned timestamps, saved with to_csv: "2013-01-01 06:00:00+00:00"
    frame = pd.read_csv(nyc_weather_path, nrows=50)
    frame["time_hour"] = pd.to_datetime(frame["time_hour"])
    frame.to_csv(tmp_path / "zoned.csv", index=False)
    again, report = read_source(tmp_path / "zoned.csv")
    assert report.timezone_to_utc == ["time_hour"]
    assert again["time_hour"].iloc[0] == pd.Timestamp("2013-01-01 06:00:00")


def test_parquet_and_file_url_give_the_same_frame(tmp_path, demo_table_path):
    csv_frame, _ = read_source(demo_table_path)
    parquet = tmp_path / "demo.parquet"
    pd.read_csv(demo_table_path).to_parquet(parquet)
    parquet_frame, _ = read_source(f"file://{parquet}")
    pd.testing.assert_frame_equal(
        csv_frame.drop(columns=["start_date", "end_date"]),
        parquet_frame.drop(columns=["start_date", "end_date"]),
        check_dtype=False,
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"a,b,c\n", "no data rows"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "neither CSV nor Parquet"),
        (b"PAR1 this is not really parquet", "not a readable Parquet"),
        (b"a,,c\n1,2,3\n", "have no name"),
        (b"a,a\n1,2\n", "duplicate column names"),
        (
            b"This is a paragraph of prose rather than a table.\nIt goes on.\n",
            "does not look tabular",
        ),
    ],
)
def test_bad_files_are_refused_with_a_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(PipelineError, match=message):
        read_source(path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(PipelineError, match="does not exist"):
        read_source(tmp_path / "nope.csv")
    with pytest.raises(PipelineError, match="directory"):
        read_source(tmp_path)


def test_unknown_url_scheme_says_what_to_install():
    with pytest.raises(PipelineError, match="cannot"):
        read_source("nosuchproto://bucket/file.csv")
