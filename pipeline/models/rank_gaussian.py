"""Rank-Gaussian map: a numeric column's values to N(0, 1) scores through its ranks, and back.

Models that want Gaussian-looking inputs from arbitrarily shaped columns (the GMM's continuous
part, the HMM's emissions) share this one map. `RankGaussian` stores the column's empirical
quantile function as knots; `forward` maps values to scores and `inverse` maps scores back to
values, so sampled scores come out with the training marginal. `rank_scores` gives the
training rows their exact normal scores.

The options exist because models resolve two questions differently, and each must keep its own
output: where the knots sit (`spacing`: evenly in probability, or evenly in score so the tails
keep their shape), whether a column with few distinct values keeps them exactly (`exact_max`:
a step CDF that never invents a value), whether such a step CDF spreads its rare values over
the gaps around them (`spread_below`), and how ties share a score (`rank_scores` spreads a
tied block at random; `forward` puts all tied values on the middle of their probability range).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.special import ndtr, ndtri


@dataclass(frozen=True)
class RankGaussian:
    """A column's quantile function as knots: value `knots[j]` at probability `levels[j]`.

    With `step` the knots are the distinct values and the levels their cumulative shares, and
    `inverse` returns training values only, except that a value marked in `spread` comes out
    anywhere in its `cells` interval (halfway to each neighbour); otherwise it interpolates
    between knots.
    """

    levels: np.ndarray  # non-decreasing probabilities in [0, 1]
    knots: np.ndarray  # the column's quantiles at `levels`
    step: bool
    unique: np.ndarray  # the distinct knot values, increasing
    mid_levels: np.ndarray  # the middle of each distinct value's probability range
    spread: np.ndarray | None = None  # step only: per distinct value, drawn over its cell
    cells: np.ndarray | None = None  # step only: the cells' edges, one more than values

    @classmethod
    def fit(
        cls, values: np.ndarray, n_levels: int,
        spacing: Literal["probability", "score"] = "probability", exact_max: int | None = None,
        spread_below: int = 0,
    ) -> RankGaussian:
        """Knots of the observed (non-NaN) `values`.

        `n_levels`: quantile levels ("probability": that many from 0 to 1; "score": that many
        at most, evenly spaced in N(0, 1) score within the range a sample of this size reaches,
        plus 0 and 1). `exact_max`: at most this many distinct values are kept as a step CDF.
        `spread_below`: in a step CDF, values fewer rows hold than this are not kept exactly
        but spread over their cell: as many new values as a fresh sample would show (the
        Good-Turing estimate of unseen mass is the share of values seen once), and none of
        the training data's rare values on which a record would stand out.
        """
        distinct, counts = np.unique(values, return_counts=True)
        if exact_max is not None and len(distinct) <= exact_max:
            levels = np.cumsum(counts) / len(values)
            # a distinct value's range starts where the previous one's ends
            mid = (np.r_[0.0, levels[:-1]] + levels) / 2
            spread = counts < spread_below
            if not spread.any() or len(distinct) < 2:
                return cls(levels, distinct, True, distinct, mid)
            cells = np.r_[distinct[0], (distinct[1:] + distinct[:-1]) / 2, distinct[-1]]
            return cls(levels, distinct, True, distinct, mid, spread, cells)
        if spacing == "probability":
            levels = np.linspace(0.0, 1.0, n_levels)
        else:
            n = max(len(values), 2)
            edge = float(ndtri(1 - 0.5 / n))
            levels = np.r_[0.0, ndtr(np.linspace(-edge, edge, min(n_levels, n))), 1.0]
        knots = np.quantile(values, levels)
        unique, first = np.unique(knots, return_index=True)
        last = np.append(first[1:] - 1, len(knots) - 1)
        mid = (levels[first] + levels[last]) / 2
        return cls(levels, knots, False, unique, mid)

    def forward(self, values: np.ndarray) -> np.ndarray:
        """Scores of any values; tied values share the middle of their probability range."""
        u = np.interp(values, self.unique, self.mid_levels)
        if self.step:  # a step CDF's mid levels lie inside (0, 1) already
            return ndtri(u)
        # quantile knots reach 0 and 1: half the first level keeps the scores finite
        eps = self.levels[1] / 2
        return ndtri(np.clip(u, eps, 1 - eps))

    def inverse(self, z: np.ndarray) -> np.ndarray:
        """Values of N(0, 1) scores: the quantile function at their probabilities."""
        u = ndtr(z)
        if self.step:
            index = np.minimum(np.searchsorted(self.levels, u, side="right"), len(self.knots) - 1)
            values = self.knots[index]
            if self.spread is not None:
                self._spread_over_cells(values, index, u)
            return values
        return np.interp(u, self.levels, self.knots)

    def _spread_over_cells(self, values: np.ndarray, index: np.ndarray, u: np.ndarray) -> None:
        """Values drawn on a spread value: the position of u within that value's probability
        range, mapped linearly onto its cell (in place)."""
        rows = np.flatnonzero(self.spread[index])
        at = index[rows]
        start = np.where(at > 0, self.levels[np.maximum(at - 1, 0)], 0.0)
        share = np.clip((u[rows] - start) / (self.levels[at] - start), 0.0, 1.0)
        values[rows] = self.cells[at] + share * (self.cells[at + 1] - self.cells[at])


def rank_scores(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Normal scores of the values' ranks; ties broken at random so a tied block spreads evenly."""
    order = np.lexsort((rng.random(len(values)), values))
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values))
    return ndtri((ranks + 0.5) / len(values))
