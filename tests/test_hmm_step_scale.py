"""The scale a panel column's steps are modelled on (`pipeline.models.hmm.step_scale`)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.public_data import cigar
from pipeline.models.hmm.step_scale import PowerScale, choose_scale
from pipeline.models.rank_gaussian import RankGaussian


def _growing_panel(entities: int, steps: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Entities at levels spread over three decades, each growing about 2 % a step."""
    rng = np.random.default_rng(seed)
    levels = np.exp(rng.uniform(0, 7, entities))[:, None]
    growth = np.cumsum(rng.normal(0.02, 0.005, (entities, steps)), axis=1)
    values = (levels * np.exp(growth)).ravel()
    first = np.zeros(entities * steps, dtype=bool)
    first[::steps] = True
    return values, first


def _choice(values: np.ndarray, first: np.ndarray) -> RankGaussian | PowerScale:
    ranks = RankGaussian.fit(values, 1001, spacing="score")
    return choose_scale(values, values, first, ranks)


def test_a_growing_panel_is_modelled_on_the_log_and_a_handful_of_entities_on_ranks():
    values, first = _growing_panel(40, 30, seed=0)
    scale = _choice(values, first)
    assert isinstance(scale, PowerScale) and scale.power == 0.0
    # five entities are too few a cross-section to draw anew on its own levels
    values, first = _growing_panel(5, 200, seed=0)
    assert isinstance(_choice(values, first), RankGaussian)


def test_steps_heavy_on_every_scale_keep_rank_scores():
    rng = np.random.default_rng(2)
    values = np.cumsum(rng.standard_t(2.5, (40, 30)), axis=1).ravel()  # jumps of its own
    first = np.zeros(values.size, dtype=bool)
    first[::30] = True
    assert isinstance(_choice(values, first), RankGaussian)


def test_a_power_scale_inverts_its_values_and_stays_in_their_range():
    frame = cigar()
    values = frame["pop"].to_numpy(dtype=float)
    for power in (0.0, 0.5, 1.0):
        scale = PowerScale.fit(values, power)
        z = scale.forward(values)
        assert z.mean() == pytest.approx(0, abs=1e-9) and z.std() == pytest.approx(1)
        np.testing.assert_allclose(scale.inverse(z), values, rtol=1e-9)
        far = scale.inverse(np.array([-50.0, 50.0]))
        assert far.tolist() == [values.min(), values.max()]
    assert np.isnan(PowerScale.fit(values, 0.0).forward(np.array([np.nan]))).all()
