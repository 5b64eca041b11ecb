"""Content-keyed model artifacts: reuse on unchanged inputs, refit when a model's layout changes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipeline.artifacts import artifact_key, fit_or_load, frame_fingerprint
from pipeline.models.hmm import HiddenMarkovModel
from pipeline.schema import detect_schema

ROOT = Path(__file__).resolve().parents[1]
STORES = (
    ROOT / ".venv/lib/python3.11/site-packages/sdmetrics/demos/timeseries/timeseries_real.csv"
)


def test_a_new_artifact_format_gets_a_new_key_and_the_same_inputs_reuse_it(tmp_path):
    stores = pd.read_csv(STORES, parse_dates=["date"])
    schema = detect_schema(stores, "stores", sequence_key="store_id", sequence_index="date")
    params = {"n_states": 2, "max_iter": 5}
    first, directory, reused = fit_or_load("hmm", params, stores, schema, 0, tmp_path)
    assert not reused
    again, same_directory, reused = fit_or_load("hmm", params, stores, schema, 0, tmp_path)
    assert reused and same_directory == directory
    pd.testing.assert_frame_equal(first.sample(5, seed=1), again.sample(5, seed=1))
    # a model saved in an older layout is never loaded by the new code: the key moves
    fingerprint = frame_fingerprint(stores)
    old = artifact_key(fingerprint, schema, "hmm", params, 0, artifact_format=1)
    new = artifact_key(fingerprint, schema, "hmm", params, 0, HiddenMarkovModel.artifact_format)
    assert HiddenMarkovModel.artifact_format > 1 and old != new
    assert directory.name == f"hmm-{new}"
