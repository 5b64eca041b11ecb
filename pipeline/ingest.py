"""Read a CSV or Parquet source (local path or fsspec URL) and normalise it.

Everything is read as text first so that every change (trimmed strings, missing markers, parsed
numbers, dates and booleans) is decided here, once, and reported back to the run.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from pipeline.delimiters import delimiter, header_names, spaced_columns
from pipeline.errors import PipelineError
from pipeline.text_values import read_dates, read_numbers

MISSING_MARKERS = frozenset(
    {"", "?", "NA", "N/A", "n/a", "na", "NaN", "nan", "null", "NULL", "Null", "None", "none", "-",
     "--", ".", "N.A.", "n.a.", "#N/A", "#NA", "#N/A N/A",  # Stata's and Excel's missing
     "#DIV/0!", "#VALUE!", "#REF!", "#NUM!", "#NAME?", "#NULL!"}  # Excel's formula errors
)
# Only true/false become booleans: YES/NO, Y/N stay the labels the source wrote (categorical),
# so output is written the same way; a schema role `boolean` maps them (schema.enforce).
TRUE_WORDS = frozenset({"true"})
FALSE_WORDS = frozenset({"false"})
PARQUET_MAGIC = b"PAR1"
# Latin-1 and Windows' cp1252 differ only in these bytes: control characters in Latin-1 (never
# in real text), the euro sign and curly quotes in cp1252.
CP1252_ONLY_BYTES = re.compile(rb"[\x80-\x9f]")
# Digits written to one width with leading zeros (zip codes, FIPS, account numbers) are codes:
# read as numbers, `02134` would be published as 2134. Two digits stay numbers (months, hours).
MIN_CODE_WIDTH = 3
# Digits too many for a float to hold exactly (order numbers of 19 digits) are codes too.
MAX_NUMBER_DIGITS = 15
# What an unnamed first column of row labels becomes (R calls them row names).
ROW_LABELS = "row_name"
ROW_NUMBERS_DROPPED = "dropped"


class IngestReport(BaseModel):
    """What ingest changed, so a run can say it."""

    source: str
    fingerprint: str
    rows: int
    columns: int
    trimmed: dict[str, int] = Field(default_factory=dict)
    missing_markers: dict[str, int] = Field(default_factory=dict)
    numeric: list[str] = Field(default_factory=list)
    dates: dict[str, str] = Field(default_factory=dict)  # column -> the layout read
    # dates whose day and month could be either way round: read day first
    dates_day_first_guessed: list[str] = Field(default_factory=list)
    # two-digit years that would lie in the future, put a century back (`63` -> 1963)
    dates_century_moved: list[str] = Field(default_factory=list)
    # numbers written with signs or separators -> what was dropped to read them
    numbers_from_text: dict[str, list[str]] = Field(default_factory=dict)
    booleans: list[str] = Field(default_factory=list)
    timezone_to_utc: list[str] = Field(default_factory=list)
    # the text encoding a CSV was decoded with (None for Parquet)
    encoding: str | None = None
    delimiter: str | None = None  # the CSV's field separator (None for Parquet)
    # columns in which every value is missing: kept all missing, never modelled
    empty: list[str] = Field(default_factory=list)
    # a few values no date could be read from -> how many and some examples
    unreadable: dict[str, int] = Field(default_factory=dict)
    unreadable_examples: dict[str, list[str]] = Field(default_factory=dict)
    # numbers written as infinity (a division by zero upstream) -> how many became missing
    infinite: dict[str, int] = Field(default_factory=dict)
    # digits kept as the text the source wrote: one width with leading zeros, or too long
    digit_codes: list[str] = Field(default_factory=list)
    # a first column without a header holding unique row labels (R's write.csv, pandas'
    # to_csv): "dropped" when they were row numbers, else the name it was given
    row_labels: str | None = None

    def summary(self) -> str:
        parts = [f"{self.rows} rows x {self.columns} columns"]
        if self.encoding not in (None, "utf-8"):
            parts.append(f"decoded as {self.encoding} (not valid UTF-8)")
        if self.trimmed:
            parts.append(f"trimmed spaces in {len(self.trimmed)} column(s)")
        if self.missing_markers:
            total = sum(self.missing_markers.values())
            parts.append(
                f"{total} missing marker(s) -> NA in {len(self.missing_markers)} column(s)"
            )
        if self.dates:
            parts.append(f"dates parsed: {', '.join(self.dates)}")
        if self.dates_day_first_guessed:
            parts.append("day before month assumed (no day above 12) in "
                         f"{', '.join(self.dates_day_first_guessed)}")
        if self.dates_century_moved:
            parts.append("two-digit years read as the last century where they would lie in "
                         f"the future in {', '.join(self.dates_century_moved)}")
        if self.numbers_from_text:
            parts.append("numbers read from text: " + ", ".join(
                f"{col} ({', '.join(how)})" for col, how in self.numbers_from_text.items()))
        if self.booleans:
            parts.append(f"booleans parsed: {', '.join(self.booleans)}")
        if self.timezone_to_utc:
            parts.append(f"zoned times as UTC: {', '.join(self.timezone_to_utc)}")
        if self.unreadable:
            parts.append("unreadable values -> NA: " + ", ".join(
                f"{col} ({count}: {', '.join(map(repr, self.unreadable_examples[col]))})"
                for col, count in self.unreadable.items()))
        if self.infinite:
            parts.append(f"{sum(self.infinite.values())} infinite value(s) -> NA in "
                         + ", ".join(self.infinite))
        if self.digit_codes:
            parts.append("kept as codes (digits with leading zeros or too many digits for a "
                         "number): " + ", ".join(self.digit_codes))
        if self.row_labels == ROW_NUMBERS_DROPPED:
            parts.append("row numbers in an unnamed first column dropped")
        elif self.row_labels:
            parts.append(f"row labels in an unnamed first column named {self.row_labels!r}")
        if self.empty:
            parts.append(
                f"no values at all in {', '.join(self.empty)} (kept all missing, not modelled)"
            )
        return "; ".join(parts)


def read_source(source: str | Path) -> tuple[pd.DataFrame, IngestReport]:
    """Read and normalise `source`; raise PipelineError with what to do when it is unusable."""
    source = str(source)
    raw = _read_bytes(source)
    fingerprint = "sha256:" + hashlib.sha256(raw).hexdigest()
    if not raw.strip():
        raise PipelineError(f"{source} is empty; give a CSV with a header row and data rows")
    frame, encoding, delimiter = _parse(raw, source)
    if frame.shape[1] == 0:
        raise PipelineError(f"{source} has no columns; is it a CSV with a header row?")
    if frame.empty:
        raise PipelineError(
            f"{source} has a header ({', '.join(map(str, frame.columns[:8]))}) but no data rows"
        )
    frame, row_labels = _take_row_labels(frame)
    frame.columns = _clean_column_names(frame.columns, source)
    report = IngestReport(
        source=source,
        fingerprint=fingerprint,
        rows=len(frame),
        columns=frame.shape[1],
        encoding=encoding,
        delimiter=delimiter,
        row_labels=row_labels,
    )
    return normalise(frame, report), report


def _read_bytes(source: str) -> bytes:
    import fsspec

    try:
        with fsspec.open(source, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        raise PipelineError(f"source {source} does not exist; check the path or URL") from None
    except IsADirectoryError:
        raise PipelineError(
            f"source {source} is a directory; give one CSV or Parquet file"
        ) from None
    except ImportError as exc:
        raise PipelineError(
            f"cannot open {source}: {exc}. Install the filesystem package it names "
            "(for s3:// URLs: pip install s3fs)"
        ) from None
    except PermissionError:
        raise PipelineError(f"no permission to read {source}") from None
    except ValueError as exc:
        raise PipelineError(f"cannot read {source}: {exc}") from None
    # Other OSErrors (connection resets, timeouts) may pass: the flow's task retries them.


# How pandas is told to decode each encoding (a UTF-8 byte-order mark is dropped).
PANDAS_CODEC = {"utf-8": "utf-8-sig", "cp1252": "cp1252", "latin-1": "latin-1"}
SNIFF_BYTES = 1 << 16  # the delimiter is sniffed from the file's first lines
DECODE_BLOCK = 1 << 24


def _parse(raw: bytes, source: str) -> tuple[pd.DataFrame, str | None, str | None]:
    """The frame, the text encoding it was decoded with and its delimiter (None, None for
    Parquet)."""
    if raw[:4] == PARQUET_MAGIC:
        return _parse_parquet(raw, source), None, None
    if b"\x00" in raw[:4096]:
        raise PipelineError(
            f"{source} is neither CSV nor Parquet (it looks binary); give a .csv or .parquet file"
        )
    encoding = _encoding(raw)
    head = raw[:SNIFF_BYTES].decode(PANDAS_CODEC[encoding], errors="ignore")
    try:
        # parsed from the bytes: a decoded copy of a large file would double its footprint
        sep = delimiter(head)
        frame = pd.read_csv(
            io.BytesIO(raw), dtype=str, keep_default_na=False, sep=sep,
            encoding=PANDAS_CODEC[encoding],
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise PipelineError(f"{source} is not a readable CSV: {exc}") from None
    header = header_names(head, sep)
    if header is not None and len(header) == frame.shape[1]:
        # the names as written: pandas renames a repeated `a` to `a.1`, which a real name
        # (R's `x.1`, a percentile `P99.5`) may also be
        frame.columns = header
    if frame.shape[1] == 1 and len(frame) and spaced_columns(head, len(raw) > SNIFF_BYTES):
        # R's write.table and many exports separate by spaces, strings quoted
        frame, sep = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False,
                                 sep=r"\s+", encoding=PANDAS_CODEC[encoding]), " "
    if frame.shape[1] == 1 and len(frame) and _looks_unstructured(frame):
        raise PipelineError(
            f"{source} does not look tabular (one column, no delimiter found); "
            "give a CSV with a header row, or a Parquet file"
        )
    return frame, encoding, sep


def _encoding(raw: bytes) -> str:
    """UTF-8 if the bytes are valid UTF-8, else cp1252 or Latin-1."""
    if _decodes(raw, "utf-8"):
        return "utf-8"
    if CP1252_ONLY_BYTES.search(raw) and _decodes(raw, "cp1252"):
        return "cp1252"  # five bytes cp1252 leaves undefined; Latin-1 keeps them as they are
    return "latin-1"


def _decodes(raw: bytes, codec: str) -> bool:
    """Whether `raw` decodes, checked block by block so no decoded copy is ever whole."""
    decoder = codecs.getincrementaldecoder(codec)()
    try:
        for start in range(0, len(raw), DECODE_BLOCK):
            decoder.decode(raw[start:start + DECODE_BLOCK])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _parse_parquet(raw: bytes, source: str) -> pd.DataFrame:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(io.BytesIO(raw))
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise PipelineError(f"{source} is not a readable Parquet file: {exc}") from None
    frame = table.to_pandas()
    # Parquet is typed already; turn strings into text so normalisation treats both formats alike.
    for col in frame.columns:
        if frame[col].dtype == object:
            frame[col] = frame[col].map(_as_text)
    return frame


def _as_text(value: object) -> str | None:
    """A Parquet cell as text: lists and structs as JSON (not numpy's `['a' 'b']`)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (list, tuple, dict, np.ndarray)):
        return json.dumps(value.tolist() if isinstance(value, np.ndarray) else value,
                          default=str)
    return str(value)


def _looks_unstructured(frame: pd.DataFrame) -> bool:
    header = str(frame.columns[0])
    return len(header) > 60 or " " in header.strip()


def _take_row_labels(frame: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    """R's write.csv and pandas' to_csv write the row labels as a first column with an empty
    header. Unique labels there are that, not a column someone forgot to name: row numbers
    (increasing integers, which would model nothing but their order) are dropped, other
    labels (mtcars' car models) kept as ROW_LABELS. Anything else is left to the no-name error."""
    first = str(frame.columns[0]).strip()
    if frame.shape[1] < 2 or (first and not first.startswith("Unnamed:")):
        return frame, None
    labels = frame.iloc[:, 0]
    if labels.isna().any() or not labels.is_unique:
        return frame, None
    numbers = pd.to_numeric(labels, errors="coerce")
    if numbers.notna().all() and (numbers % 1 == 0).all() and numbers.is_monotonic_increasing:
        return frame.iloc[:, 1:], ROW_NUMBERS_DROPPED
    if ROW_LABELS in frame.columns:
        return frame, None
    return frame.rename(columns={frame.columns[0]: ROW_LABELS}), ROW_LABELS


def _clean_column_names(columns: pd.Index, source: str) -> list[str]:
    names = [str(c).strip() for c in columns]
    blank = [i for i, n in enumerate(names) if not n or n.startswith("Unnamed:")]
    if blank:
        raise PipelineError(
            f"{source}: column(s) at position {blank} have no name; give every column a header"
        )
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise PipelineError(f"{source}: duplicate column names {dupes}; make them unique")
    return names


def normalise(frame: pd.DataFrame, report: IngestReport) -> pd.DataFrame:
    """Trim strings, turn missing markers into NA, then parse numbers, dates and booleans."""
    out = {}
    for col in frame.columns:
        series = frame[col]
        if series.dtype == object:
            series = _normalise_text(series, col, report)
        if pd.api.types.is_float_dtype(series.dtype):
            series = _finite(series, col, report)
        if isinstance(series.dtype, pd.DatetimeTZDtype):  # Parquet keeps the zone
            series = _naive_utc(series, col, report)
        if series.isna().all():
            report.empty.append(col)
        out[col] = series
    return pd.DataFrame(out, index=pd.RangeIndex(len(frame)))


def _finite(series: pd.Series, col: str, report: IngestReport) -> pd.Series:
    """Infinities as missing: no model can draw one, and no metric can compare them."""
    infinite = np.isinf(series.to_numpy(dtype="float64", na_value=np.nan))
    if not infinite.any():
        return series
    report.infinite[col] = int(infinite.sum())
    return series.mask(infinite)


def _normalise_text(series: pd.Series, col: str, report: IngestReport) -> pd.Series:
    present = series.notna()
    text = series.where(present, None)
    stripped = text.map(lambda v: v.strip() if isinstance(v, str) else v)
    n_trimmed = int((stripped != text)[present].sum())
    if n_trimmed:
        report.trimmed[col] = n_trimmed
    is_marker = stripped.isin(MISSING_MARKERS)
    n_markers = int(is_marker.sum())
    if n_markers:
        report.missing_markers[col] = n_markers
    values = stripped.mask(is_marker | ~present, None)
    return _parse_typed(values, col, report)


def _parse_typed(values: pd.Series, col: str, report: IngestReport) -> pd.Series:
    known = values.dropna()
    if known.empty:
        return values.astype(object)
    if _digit_code(known):
        report.digit_codes.append(col)
        return values.astype(object)
    numbers = pd.to_numeric(known, errors="coerce")
    if numbers.notna().all():
        report.numeric.append(col)
        return _typed_numbers(pd.to_numeric(values, errors="coerce"))
    lowered = known.str.lower()
    if lowered.isin(TRUE_WORDS | FALSE_WORDS).all() and lowered.nunique() == 2:
        report.booleans.append(col)
        return values.map(lambda v: None if v is None else v.lower() in TRUE_WORDS).astype(
            "boolean"
        )
    dates = _read_dates(values, col, report)
    if dates is not None:
        return dates
    numbers = read_numbers(values, decimal_comma=report.delimiter == ";")
    if numbers is not None:
        report.numbers_from_text[col] = numbers.written_with
        return _typed_numbers(numbers.values)
    return values.astype(object)


def _digit_code(known: pd.Series) -> bool:
    """Digits only, either all of one width (at least MIN_CODE_WIDTH) with some leading
    zero, or some longer than MAX_NUMBER_DIGITS."""
    widths = known.str.len()
    padded = widths.min() == widths.max() >= MIN_CODE_WIDTH and known.str.startswith("0").any()
    long = widths.max() > MAX_NUMBER_DIGITS
    return bool((padded or long) and known.str.fullmatch(r"[0-9]+").all())


def _note_unreadable(unreadable: pd.Series, col: str, report: IngestReport) -> None:
    if len(unreadable):
        report.unreadable[col] = len(unreadable)
        report.unreadable_examples[col] = unreadable.drop_duplicates().head(3).tolist()


def _typed_numbers(parsed: pd.Series) -> pd.Series:
    """Whole numbers as nullable integers (as the source wrote them), others as floats."""
    known = parsed.dropna()
    if np.all(np.mod(known, 1) == 0) and (known.empty or np.abs(known).max() < 2**53):
        return parsed.astype("Int64")
    return parsed.astype("float64")


def _read_dates(values: pd.Series, col: str, report: IngestReport) -> pd.Series | None:
    reading = read_dates(values)
    if reading is None:
        return None
    report.dates[col] = reading.layout
    _note_unreadable(reading.unreadable, col, report)
    if reading.ambiguous:
        report.dates_day_first_guessed.append(col)
    if reading.century_moved:
        report.dates_century_moved.append(col)
    parsed = reading.values
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = _naive_utc(parsed, col, report)
    return parsed


def _naive_utc(stamps: pd.Series, col: str, report: IngestReport) -> pd.Series:
    """Zoned timestamps as naive UTC, and the run says so: Parquet readers disagree on
    zoned timestamps, and every later step compares them with naive ones."""
    report.timezone_to_utc.append(col)
    return stamps.dt.tz_convert("UTC").dt.tz_localize(None)
