"""Every series of the corpus (benchmarks/series_corpus.py) and a few malformed ones through
`synth run --model hmm`, as a new user would: a published run or a clear one-line error,
never a traceback. Slow (one flow per series): `make test-all`."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest

from benchmarks.series_corpus import CORPUS
from pipeline import cli

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_server")]


def _run(frame: pd.DataFrame, name: str, key: str | None, index: str) -> tuple:
    """`synth run` in its own process (in-process, pytest's capture garbles Prefect's logs),
    against the session's Prefect server."""
    from prefect.settings import PREFECT_API_URL

    frame.to_csv(f"{name}.csv", index=False)
    args = ["run", "--source", f"{name}.csv", "--name", name, "--model", "hmm",
            "--sequence-index", index] + (["--sequence-key", key] if key else [])
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", *args], capture_output=True,
                          text=True, timeout=1200, env=env)
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize("series", CORPUS, ids=[s.name for s in CORPUS])
def test_every_corpus_series_runs_by_default(series, in_project):
    name = series.name.replace(".", "_")
    code, out, err = _run(series.load(), name, series.key, series.index)
    assert "Traceback" not in out + err and "internal error" not in err, err
    assert code in (0, cli.EXIT_VALIDATION_FAILED), err
    assert f"dataset   {name}" in out


def test_malformed_series_get_one_clear_line(in_project):
    cigar = CORPUS[0].load()
    twice = pd.concat([cigar, cigar.head(3)])
    code, _, err = _run(twice, "twice", "state", "year")
    assert code == cli.EXIT_USER_ERROR and "sharing an (entity, index) pair" in err
    worded = cigar.assign(year=cigar["year"].astype(str) + " AD")
    code, _, err = _run(worded, "worded", "state", "year")
    assert code == cli.EXIT_USER_ERROR and "year" in err and "Traceback" not in err
    code, _, err = _run(cigar, "nokey", "region", "year")
    assert code == cli.EXIT_USER_ERROR and "sequence_key 'region'" in err
