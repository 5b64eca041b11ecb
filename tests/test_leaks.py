"""The privacy gate on Adult: small leaks a reviewer would call leaks fail it, an honest gmm
sample passes. The leaks are the leak benchmark's own (benchmarks/leaks.py), on its split."""

from __future__ import annotations

import pytest

from benchmarks import leaks
from pipeline.models import registry


@pytest.fixture(scope="module")
def adult_table(adult_path):
    return leaks.load_tables(["adult"])[0]


@pytest.fixture(scope="module")
def honest(adult_table):
    model = registry.create("gmm").fit(adult_table.train, adult_table.schema, seed=0)
    return model.sample(len(adult_table.train), seed=3)


def test_an_honest_gmm_sample_passes(adult_table, honest):
    result = leaks.gate(adult_table, honest)
    assert not result["fails"], result["p_values"]


def test_one_percent_of_verbatim_rows_fails(adult_table, honest):
    leaked = leaks.leaked(adult_table, honest, "exact", 0.01, seed=1)
    result = leaks.gate(adult_table, leaked)
    assert result["exact_copy_rate"] >= 0.0099
    assert "exact_copy_p_value" in result["failed"]


@pytest.mark.slow  # over 10 s here; the default run keeps under 15 minutes
def test_five_percent_of_near_copies_fails(adult_table, honest):
    """Numbers moved by 1 % and one or two categories changed: no row is an exact copy."""
    leaked = leaks.leaked(adult_table, honest, "near", 0.05, seed=1)
    result = leaks.gate(adult_table, leaked)
    assert result["p_values"]["exact_copy_p_value"] > 0.05
    assert "near_copy_p_value" in result["failed"]


def test_leaked_rows_are_what_they_claim(adult_table):
    import numpy as np

    rng = np.random.default_rng(0)
    near = leaks.near_copies(adult_table.train, adult_table.schema, 50, rng)
    assert list(near.columns) == list(adult_table.train.columns)
    rare = leaks.rare_copies(adult_table.train, adult_table.schema, 20)
    assert len(rare) == 20 and rare.merge(adult_table.train).shape[0] >= 20
