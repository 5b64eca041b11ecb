"""The README's bad-input table, case by case: each input fed to `synth run` as a user would,
through the real CLI and flow, ends in one clear error line or a correct run, never a
traceback. The README lists exactly these cases (checked below)."""

from __future__ import annotations

import gzip
import os
import re
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline import cli

ROOT = Path(__file__).resolve().parents[1]
SYNTH = [sys.executable, "-m", "pipeline.cli"]

REFUSED, PUBLISHED, QUARANTINED = cli.EXIT_USER_ERROR, 0, cli.EXIT_VALIDATION_FAILED
OUTCOME = {REFUSED: "refused", PUBLISHED: "published", QUARANTINED: "quarantined"}


@dataclass(frozen=True)
class BadInput:
    case: str  # as the README's table names it
    file: str
    write: Callable[[Path], None]
    exit_code: int
    says: str = ""  # what the error line or the run's output must contain
    slow: bool = False


@pytest.fixture
def api_env():
    """Each case's process reaches the session's Prefect server, as a deployment's would."""
    from prefect.settings import PREFECT_API_URL

    return {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}


def _text(content: str | bytes, encoding: str = "utf-8") -> Callable[[Path], None]:
    data = content if isinstance(content, bytes) else content.encode(encoding)
    return lambda path: path.write_bytes(data)


def _frame(build: Callable[[np.random.Generator], pd.DataFrame],
           **to_csv) -> Callable[[Path], None]:
    return lambda path: build(np.random.default_rng(0)).to_csv(path, index=False, **to_csv)


def _people(rng: np.random.Generator, n: int = 300) -> pd.DataFrame:
    return pd.DataFrame({"city": rng.choice(["José", "São Paulo", "Zürich", "Ångström"], n),
                         "age": rng.integers(18, 90, n), "income": rng.gamma(2, 20_000, n)})


def _delimited(sep: str) -> Callable[[Path], None]:
    return _frame(_people, sep=sep)


CASES = [
    BadInput("empty file", "empty.csv", _text(""), REFUSED, "is empty"),
    BadInput("header only", "header.csv", _text("a,b,c\n"), REFUSED, "no data rows"),
    BadInput("one data row", "one_row.csv", _text("a,b,c\n1,2,x\n"), REFUSED,
             "at least 10 are needed"),
    BadInput("duplicate column names", "dup.csv", _text("a,a\n1,2\n3,4\n"), REFUSED,
             "duplicate column names"),
    BadInput("a column without a name", "unnamed.csv", _text("a,,c\n1,2,3\n"), REFUSED,
             "have no name"),
    BadInput("binary file named .csv", "binary.csv", _text(bytes(range(256)) * 20), REFUSED,
             "neither CSV nor Parquet"),
    BadInput("gzip file named .csv.gz", "table.csv.gz",
             _text(gzip.compress(b"a,b\n1,2\n3,4\n")), REFUSED, "neither CSV nor Parquet"),
    BadInput("a spreadsheet renamed .csv", "sheet.csv", _text(b"PK\x03\x04" + bytes(200)),
             REFUSED, "neither CSV nor Parquet"),
    BadInput("damaged Parquet", "broken.parquet", _text(b"PAR1 not really parquet"), REFUSED,
             "not a readable Parquet"),
    BadInput("ragged rows", "ragged.csv",
             _text("a,b,c\n1,2,3\n4,5\n6,7,8,9\n" + "1,2,3\n" * 50), REFUSED,
             "Expected 3 fields in line 4"),
    BadInput("prose, not a table", "prose.csv",
             _text("This is a paragraph of prose.\nIt goes on for a while.\n"), REFUSED,
             "does not look tabular"),
    BadInput("semicolon-separated", "semicolon.csv", _delimited(";"), PUBLISHED, slow=True),
    BadInput("row numbers in an unnamed first column (R's write.csv)", "rownames.csv",
             lambda path: _people(np.random.default_rng(0)).rename(index=lambda i: i + 1)
             .to_csv(path, index=True), PUBLISHED, slow=True),
    BadInput("tab-separated", "tabs.tsv", _delimited("\t"), PUBLISHED, slow=True),
    BadInput("pipe-separated", "pipes.csv", _delimited("|"), PUBLISHED, slow=True),
    BadInput("space-separated (R's write.table)", "spaces.txt", _delimited(" "), PUBLISHED,
             slow=True),
    BadInput("Latin-1 text (José, São Paulo)", "latin1.csv",
             _frame(_people, encoding="latin-1"), PUBLISHED, "decoded as latin-1"),
    BadInput("cp1252 text (curly quotes, €)", "cp1252.csv",
             _text("item,price\n" + "".join(f"“{'abc'[i % 3]}”,{i % 17}€\n" for i in range(300)),
                   "cp1252"), PUBLISHED, "decoded as cp1252", slow=True),
    BadInput("UTF-8 with a byte-order mark", "bom.csv",
             lambda p: p.write_bytes(b"\xef\xbb\xbf" + _people(np.random.default_rng(0))
                                     .to_csv(index=False).encode()), PUBLISHED, slow=True),
    BadInput("Windows line endings", "crlf.csv", _frame(_people, lineterminator="\r\n"),
             PUBLISHED, slow=True),
    BadInput("quoted text with commas and newlines", "quoted.csv",
             _frame(lambda rng: _people(rng).assign(
                 note=[f"line one\nline, two {'xyz'[i % 3]}" for i in range(300)])),
             PUBLISHED, slow=True),
    BadInput("a constant table", "constant.csv", _text("a,b\n" + "1,x\n" * 200), PUBLISHED),
    BadInput("a constant column", "const_col.csv",
             _frame(lambda rng: _people(rng).assign(country="BR")), PUBLISHED, slow=True),
    BadInput("an entirely empty column", "empty_col.csv",
             _frame(lambda rng: _people(rng).assign(spouse=None)), PUBLISHED,
             "no values at all in spouse"),
    BadInput("one numeric column", "one_num.csv",
             _frame(lambda rng: pd.DataFrame({"income": rng.gamma(2, 20_000, 300)})),
             PUBLISHED, slow=True),
    BadInput("one categorical column", "one_cat.csv",
             _frame(lambda rng: pd.DataFrame({"grade": rng.choice(list("ABCD"), 300)})),
             PUBLISHED, slow=True),
    BadInput("an id, a 15,000-category label and a number", "cats15k.csv",
             _frame(lambda rng: pd.DataFrame({
                 "id": np.arange(20_000),
                 "label": [f"L{v:05d}" for v in rng.integers(0, 15_000, 20_000)],
                 "x": rng.normal(size=20_000)})), PUBLISHED),
    BadInput("300 columns of noise on 500 rows", "noise300.csv",
             _frame(lambda rng: pd.DataFrame(rng.normal(size=(500, 300)),
                                             columns=[f"c{i}" for i in range(300)])),
             QUARANTINED, "failed validation: privacy", slow=True),
]


def _run(case: BadInput, folder: Path, env: dict[str, str]) -> str | None:
    """Feed one case to `synth run` in a process of its own; what is wrong, or None."""
    folder.mkdir()
    path = folder / case.file
    case.write(path)
    name = re.sub(r"[^A-Za-z0-9_]", "_", case.file)
    result = subprocess.run([*SYNTH, "run", "--source", str(path), "--name", name],
                            cwd=folder, env=env, capture_output=True, text=True, timeout=900)
    out, err = result.stdout, result.stderr
    if "Traceback" in out + err or "internal error" in err:
        return f"{case.case}: a traceback\n{err[-1500:]}"
    if result.returncode != case.exit_code:
        return (f"{case.case}: {OUTCOME.get(result.returncode, result.returncode)}, expected "
                f"{OUTCOME[case.exit_code]}\n{err[-1500:]}")
    if case.exit_code == REFUSED:
        lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
        if len(lines) != 1 or case.says not in lines[0]:
            return f"{case.case}: expected one error line saying {case.says!r}, got {lines}"
        return None
    area = "published" if result.returncode == PUBLISHED else "quarantine"
    if case.says not in out + err:
        return f"{case.case}: the run did not say {case.says!r}"
    if not list((folder / "data" / area / name).rglob("*.parquet")):
        return f"{case.case}: nothing in data/{area}/{name}"
    return None


def _check(cases: list[BadInput], tmp_path: Path, env: dict[str, str]) -> None:
    # two at a time: every case is a real `synth run` process, and the machine has two cores
    with ThreadPoolExecutor(2) as pool:
        problems = list(pool.map(lambda c: _run(c, tmp_path / c.file.replace(".", "_"), env),
                                 cases))
    problems = [p for p in problems if p]
    assert not problems, "\n\n".join(problems)


@pytest.mark.usefixtures("prefect_server")
def test_each_bad_input_ends_in_a_clear_error_or_a_correct_run(tmp_path, api_env):
    _check([c for c in CASES if not c.slow], tmp_path, api_env)


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_server")
def test_each_slow_bad_input_ends_in_a_clear_error_or_a_correct_run(tmp_path, api_env):
    _check([c for c in CASES if c.slow], tmp_path, api_env)


def test_the_readme_table_lists_exactly_these_cases():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Bad input", 1)[1].split("\n### ", 1)[0]
    rows = [line.split("|")[1].strip() for line in section.splitlines()
            if line.startswith("| ") and not line.startswith("| input")]
    listed = [c.case for c in CASES]
    assert rows[: len(listed)] == listed
