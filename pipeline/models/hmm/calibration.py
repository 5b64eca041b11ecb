"""Marginal calibration: a fixed monotone map per numeric column from the chain's simulated
continuous scores onto the training scores' distribution (N(0, 1) for rank scores, the
training scores' own quantiles on a power scale, `step_scale`).

An autoregressive chain's long-run spread and level need not equal the data's (a slow column
drifts), so the sampled marginals would suffer while the dynamics are right. The map is learnt
once, after the fit, from the quantiles of a long simulation; it keeps the ranks, so the
autocorrelations, and does not depend on how much is sampled later.
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class Calibration:
    source: np.ndarray  # (d, levels) quantiles of the chain's simulated continuous scores
    target: np.ndarray  # (d, levels) the training scores' quantiles at the same levels

    def column(self, j: int, x: np.ndarray) -> np.ndarray:
        return np.interp(x, self.source[j], self.target[j])


def fit_calibration(simulated: np.ndarray, training: np.ndarray, ranked: list[bool]) -> Calibration:
    """Each column's simulated and training quantiles (NaN off the continuous token in both);
    a rank-scored column's training scores are N(0, 1) by construction. A column with fewer
    than MIN_SCORES simulated scores is left as drawn."""
    source, target = [], []
    for j, ranks in enumerate(ranked):
        drawn = simulated[~np.isnan(simulated[:, j]), j]
        real = training[~np.isnan(training[:, j]), j]
        if len(drawn) < MIN_SCORES or (not ranks and len(real) < 2):
            source.append(CALIBRATION_SCORES)
            target.append(CALIBRATION_SCORES)
            continue
        source.append(np.quantile(drawn, CALIBRATION_LEVELS))
        target.append(CALIBRATION_SCORES if ranks else np.quantile(real, CALIBRATION_LEVELS))
    return Calibration(np.array(source), np.array(target))


def calibrated(
    calibration: Calibration | None, x: np.ndarray, only: int | None = None
) -> np.ndarray:
    """Scores mapped onto the training scores' distribution; `only`: just that column (the
    others as they are)."""
    if calibration is None or (only is not None and only < 0):
        return x
    if only is not None:
        out = x.copy()
        out[:, only] = calibration.column(only, x[:, only])
        return out
    return np.column_stack([calibration.column(j, x[:, j]) for j in range(x.shape[1])])
