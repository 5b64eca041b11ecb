"""The scale a numeric column's steps are modelled on: its rank-Gaussian scores, or a power
of its values when that makes each sequence's steps far more regular.

Rank-Gaussian scores suit one long series, but in a panel they tear each entity's smooth path:
an entity at the top of the pooled values (the largest state's population) moves on the
steep tail of the normal quantile function, and one in the middle moves fast through a crowd
of other entities' values and slowly through a gap. A steady growth then comes out as steps
with very heavy tails, which the chain can only mimic with a noisy state or heavy-tailed
noise, and its samples wander. On the log (or another power) of the values the same steps
are nearly Gaussian. `choose_scale` compares the steps' excess kurtosis on each scale and,
in a panel, takes a power only when it at least halves a kurtosis that is clearly heavy.
The sampled values still follow the training marginal: the calibration maps the chain's
scores onto the training scores' quantiles on whichever scale (`calibration`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import kurtosis

from pipeline.models.rank_gaussian import RankGaussian

# Box-Cox powers tried for a positive column (0: the log); any column may take 1 (its values).
POWERS_POSITIVE = (0.0, 0.5, 1.0)
# A power replaces the rank scores only when their steps' excess kurtosis is at least this
# and the power's at most this share of it: a heavy-tailed step of the data itself (a jump)
# is heavy on every scale and stays with the rank scores.
HEAVY_KURTOSIS = 6.0
KURTOSIS_SHARE = 0.5
MIN_STEPS = 30  # fewer within-sequence steps: too few to judge, rank scores
# Fewer sequences: rank scores. A handful of sequences (five currencies, five stocks) is too
# small a cross-section to draw anew: on a power scale each sampled sequence keeps one level
# and the pooled values come out lumpy, where a single series has no crowd to cross at all.
MIN_SEQUENCES = 8


@dataclass(frozen=True)
class PowerScale:
    """z = (boxcox(v, power) - centre) / spread; the inverse stays in the training range."""

    power: float
    centre: float
    spread: float
    low: float
    high: float

    @classmethod
    def fit(cls, values: np.ndarray, power: float) -> PowerScale:
        raw = _boxcox(values, power)
        spread = float(np.std(raw)) or 1.0
        return cls(power, float(np.mean(raw)), spread, float(values.min()), float(values.max()))

    def forward(self, values: np.ndarray) -> np.ndarray:
        inside = np.clip(values, self.low, self.high)  # a power of a value below 0 is undefined
        return (_boxcox(inside, self.power) - self.centre) / self.spread

    def inverse(self, z: np.ndarray) -> np.ndarray:
        raw = np.asarray(z, dtype=float) * self.spread + self.centre
        if self.power == 0:
            values = np.exp(np.clip(raw, -700, 700))
        elif self.power == 1:
            values = raw
        else:
            values = np.maximum(raw * self.power + 1, 0) ** (1 / self.power)
        return np.clip(values, self.low, self.high)


def _boxcox(values: np.ndarray, power: float) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        if power == 0:
            return np.log(values)
        if power == 1:
            return values.astype(float)
        return (values**power - 1) / power


def step_kurtosis(scores: np.ndarray, first: np.ndarray) -> float:
    """Excess kurtosis of the steps between consecutive observed scores of one sequence;
    NaN with fewer than MIN_STEPS of them."""
    steps = np.diff(scores)
    kept = ~first[1:] & np.isfinite(steps)
    if kept.sum() < MIN_STEPS or np.ptp(steps[kept]) == 0:
        return float("nan")
    return float(kurtosis(steps[kept]))


def choose_scale(
    values: np.ndarray, continuous: np.ndarray, first: np.ndarray, ranks: RankGaussian
) -> RankGaussian | PowerScale:
    """The rank scores, or the power scale whose steps are most regular when it at least
    halves the rank scores' heavy step kurtosis (module docstring). `values`: the column in
    row order, NaN where not a continuous value (missing, point mass); `continuous`: those
    values alone; `first`: each row starts a sequence."""
    if len(continuous) < 2 or np.ptp(continuous) == 0 or first.sum() < MIN_SEQUENCES:
        return ranks
    heavy = step_kurtosis(ranks.forward(values), first)
    if not np.isfinite(heavy) or heavy < HEAVY_KURTOSIS:
        return ranks
    powers = POWERS_POSITIVE if continuous.min() > 0 else (1.0,)
    scales = [PowerScale.fit(continuous, power) for power in powers]
    tails = [step_kurtosis(scale.forward(values), first) for scale in scales]
    best = int(np.nanargmin(tails)) if np.isfinite(tails).any() else -1
    if best < 0 or tails[best] > KURTOSIS_SHARE * heavy:
        return ranks
    return scales[best]
