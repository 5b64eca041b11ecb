"""Memorised entities on Cigar's 46 states: replayed trajectories are caught, unseen real
states are not, and the gate applies only where whole entities were held out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks.public_data import cigar
from pipeline.schema import detect_schema
from pipeline.validation.entity_distances import entity_dcr
from pipeline.validation.thresholds import resolve_thresholds


@pytest.fixture(scope="module")
def groups():
    """(train, holdout, unseen, schema): three disjoint sets of real states."""
    panel = cigar()
    states = np.random.default_rng(0).permutation(panel["state"].unique())
    parts = [panel[panel["state"].isin(chosen)].reset_index(drop=True)
             for chosen in (states[:23], states[23:34], states[34:])]
    schema = detect_schema(panel, "cigar", sequence_key="state", sequence_index="year")
    return (*parts, schema)


def test_replayed_training_states_are_caught(groups):
    train, holdout, _, schema = groups
    replay = train.copy()
    replay["state"] += 1000  # new keys do not hide a replayed trajectory
    result = entity_dcr(train, replay, holdout, schema)
    assert result["share"] == 1.0 and result["median_ratio"] == 0.0
    # below the gate's bound (0.01 over the gated tests): as many sequences as the flow draws
    assert result["p_value"] < 0.001


def test_unseen_real_states_are_not_taken_for_replays(groups):
    train, holdout, unseen, schema = groups
    result = entity_dcr(train, unseen, holdout, schema)
    assert result["n_synthetic"] == 12 and result["n_train"] == 23 and result["n_holdout"] == 11
    assert result["share"] < 0.9 and result["median_ratio"] > 0.5
    assert result["p_value"] > 0.05


def test_a_nudged_replay_is_still_nearer_its_source(groups):
    train, holdout, _, schema = groups
    nudged = train.copy()
    numeric = ["price", "pop", "pop16", "ndi", "sales", "pimin"]
    noise = np.random.default_rng(1).normal(1.0, 0.02, (len(nudged), len(numeric)))
    nudged[numeric] = nudged[numeric] * noise
    assert entity_dcr(train, nudged, holdout, schema)["p_value"] < 0.001


def test_the_entity_gate_is_for_series_with_whole_entities_held_out():
    assert "entity_dcr_share_p_value" in resolve_thresholds({}, time_series=True)
    assert "entity_dcr_share_p_value" not in resolve_thresholds({}, time_series=False)
    tails = resolve_thresholds({}, time_series=True, exchangeable_holdout=False)
    assert "entity_dcr_share_p_value" not in tails


def test_a_table_without_entities_has_no_entity_metric(groups):
    train, holdout, unseen, schema = groups
    flat = schema.model_copy(update={"sequence_key": None})
    assert entity_dcr(train, unseen, holdout, flat)["n_synthetic"] == 0
    assert pd.isna(entity_dcr(train, unseen, holdout, flat)["share"])
