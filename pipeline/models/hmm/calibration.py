"""Marginal calibration: a fixed monotone map per numeric column from the chain's simulated
continuous scores onto N(0, 1), the training scores' distribution.

An autoregressive chain's long-run spread and level need not equal the data's (a slow column
drifts), so the sampled marginals would suffer while the dynamics are right. The map is learnt
once, after the fit, from the quantiles of a long simulation; it keeps the ranks, so the
autocorrelations, and does not depend on how much is sampled later.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

# Rows simulated to learn the map, and the score levels compared.
CALIBRATION_ROWS = 60_000
CALIBRATION_SCORES = np.linspace(-4.0, 4.0, 161)  # N(0, 1) scores the quantiles map onto
CALIBRATION_LEVELS = ndtr(CALIBRATION_SCORES)
# Passes of simulate-then-map: the token drivers read calibrated scores, which moves the chain.
CALIBRATION_PASSES = 2
MIN_SCORES = 100  # fewer continuous scores than this: the column is left as drawn


def calibration_sequences(mean_length: float) -> int:
    """Sequences to simulate for about `CALIBRATION_ROWS` rows."""
    return int(np.clip(np.ceil(CALIBRATION_ROWS / max(mean_length, 1.0)), 1, 256))


def score_quantiles(x: np.ndarray) -> np.ndarray:
    """(d, levels) quantiles of each column's simulated continuous scores (NaN elsewhere)."""
    quantiles = []
    for j in range(x.shape[1]):
        continuous = x[~np.isnan(x[:, j]), j]
        if len(continuous) < MIN_SCORES:
            quantiles.append(CALIBRATION_SCORES)
        else:
            quantiles.append(np.quantile(continuous, CALIBRATION_LEVELS))
    return np.array(quantiles)


def calibrated(
    calibration: np.ndarray | None, x: np.ndarray, only: int | None = None
) -> np.ndarray:
    """Scores mapped onto N(0, 1); `only`: just that column (the others as they are)."""
    if calibration is None or (only is not None and only < 0):
        return x
    if only is not None:
        out = x.copy()
        out[:, only] = np.interp(x[:, only], calibration[only], CALIBRATION_SCORES)
        return out
    return np.column_stack(
        [np.interp(x[:, j], calibration[j], CALIBRATION_SCORES) for j in range(x.shape[1])]
    )
