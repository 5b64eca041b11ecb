"""Covariates every entity shares (Cigar's national price index beside state prices): detected
in the schema, drawn as one path that every synthetic entity reads, kept in artifacts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks.public_data import cigar
from pipeline.models.base import Synthesizer
from pipeline.models.hmm import HiddenMarkovModel
from pipeline.schema import detect_schema
from pipeline.validation.sequence_metrics import mean_autocorrelation


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    frame = cigar()
    return frame[frame["state"] <= 20].reset_index(drop=True)  # 18 states x 30 years


@pytest.fixture(scope="module")
def schema(panel):
    return detect_schema(panel, "cigar", sequence_key="state", sequence_index="year")


@pytest.fixture(scope="module")
def generated(schema):
    """The schema with the index's path drawn, not reused."""
    out = schema.model_copy(deep=True)
    out.column("cpi").shared = "generated"
    return out


@pytest.fixture(scope="module")
def fitted(panel, generated):
    return HiddenMarkovModel().fit(panel, generated, seed=0)


@pytest.fixture(scope="module")
def sample(fitted):
    return fitted.sample(18, seed=3)


def test_only_the_national_index_is_detected_as_shared(schema):
    shared = [c.name for c in schema.columns if c.shared]
    assert shared == ["cpi"]
    assert schema.column("cpi").shared == "public"


def test_a_state_level_column_is_not_shared_even_if_steps_overlap(panel):
    # one state's prices copied to every state, except one year of one state
    frame = panel.copy()
    frame["price"] = frame.groupby("year")["price"].transform("first")
    frame.loc[frame.index[40], "price"] += 1.0
    detected = detect_schema(frame, "cigar", sequence_key="state", sequence_index="year")
    assert detected.column("price").shared is None


def test_every_synthetic_state_reads_one_path_of_the_index(sample):
    per_year = sample.groupby("year")["cpi"].nunique()
    assert (per_year == 1).all()
    assert sample["state"].nunique() == 18


def test_the_shared_path_keeps_its_persistence(panel, schema, fitted, sample):
    real = mean_autocorrelation(panel, schema, "cpi", 1)
    # one path per sample: its persistence over three draws
    synthetic = np.mean([
        mean_autocorrelation(fitted.sample(18, seed=seed), schema, "cpi", 1) for seed in range(3)
    ])
    assert abs(real - synthetic) <= 0.05, (real, synthetic)
    # a drawn path, not the real one replayed
    real_path = panel.groupby("year")["cpi"].first()
    drawn = sample.groupby("year")["cpi"].first()
    common = real_path.index.intersection(drawn.index)
    assert not np.allclose(real_path[common], drawn[common])


def test_public_shared_columns_are_the_real_path(panel, schema):
    sample = HiddenMarkovModel().fit(panel, schema, seed=0).sample(6, seed=1)
    real_path = panel.groupby("year")["cpi"].first()
    assert np.allclose(sample["cpi"].to_numpy(float), real_path[sample["year"]].to_numpy())


def test_a_saved_model_draws_the_same_shared_path(fitted, sample, tmp_path):
    fitted.save(tmp_path / "hmm")
    loaded = Synthesizer.load(tmp_path / "hmm")
    pd.testing.assert_frame_equal(sample, loaded.sample(18, seed=3))
