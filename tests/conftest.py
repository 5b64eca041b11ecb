"""Shared fixtures: real data from ../shared/data and the sdmetrics demo tables."""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

# Prefect state stays inside the project, and the temporary server gets time to start on 2 cores.
os.environ.setdefault("PREFECT_HOME", str(ROOT / ".prefect"))
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # the harness server too
os.environ.setdefault("MPLBACKEND", "Agg")

# Prefect binds its console log handler to sys.stderr when first imported; importing it here,
# outside any test's capsys/capfd, keeps that stream open for the whole session.
import prefect  # noqa: E402, F401


@pytest.fixture(scope="session")
def adult_path() -> Path:
    path = SHARED_DATA / "adult.csv"
    if not path.exists():
        pytest.fail(f"reference data missing: {path} (../shared/data beside the project)")
    return path


@pytest.fixture(scope="session")
def nyc_weather_path() -> Path:
    return SHARED_DATA / "nyc_weather.csv"


@pytest.fixture(scope="session")
def demo_table_path() -> Path:
    return Path(str(files("sdmetrics").joinpath("demos/single_table/student_placements_real.csv")))


@pytest.fixture(scope="session")
def demo_timeseries_path() -> Path:
    return Path(str(files("sdmetrics").joinpath("demos/timeseries/timeseries_real.csv")))


@pytest.fixture(scope="session")
def adult_frame(adult_path) -> pd.DataFrame:
    from pipeline.ingest import read_source

    frame, _ = read_source(adult_path)
    return frame


@pytest.fixture(scope="session")
def prefect_server():
    """One temporary Prefect server for the whole session (each start costs ~25 s here)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture
def in_project(tmp_path, monkeypatch):
    """Run the CLI in a fresh project folder: schemas/, gx/ and data/ land in tmp_path."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def output_dtypes(real: pd.DataFrame, schema, columns: list[str]) -> dict:
    """The dtypes synthetic output promises for `columns`: the enforced real frame's, with
    text categories as codes into the schema's labels (postprocess.category_dtype)."""
    from pipeline.postprocess import category_dtype

    return {c: category_dtype(schema.column(c)) or real[c].dtype for c in columns}
