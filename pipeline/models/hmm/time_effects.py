"""Time effects of a panel: the step every entity takes together at an index value (a
recession year lifting every state's unemployment, a tax year raising every price).

An entity model alone gives each synthetic entity its own shocks, so its steps in a real
recession year look like any other year's, and a window of a synthetic entity tells itself
from a real one by that year alone. A column whose steps share a common part gets, as an
input of every step equation (beside the seasonal terms), the mean step of the entities at
that index value on the model's score scale: left out of its own mean while fitting, the
mean of the training entities while sampling.

The mean is an aggregate over at least MIN_ENTITIES entities, as published statistics are: it
describes the time, not an entity, and held-out entities share it, so it makes no synthetic
entity nearer a training entity than a new one. Index values fewer entities step into get
no effect (0: the average step).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.models.hmm.shared import nearest

# An index value's mean step is used only when at least this many entities step into it.
MIN_ENTITIES = 10
# A column follows the time effects when its mean step at the index value (left out of its
# own mean) explains at least this share of its steps' variance ...
MIN_EXPLAINED = 0.1
# ... and at least this share of its steps have an effect.
MIN_COVERED = 0.5


@dataclass(frozen=True)
class TimeEffects:
    columns: list[int]  # numeric dimensions (codec order) whose steps share a common part
    grid: np.ndarray  # (G,) index numbers with a mean step, sorted
    steps: np.ndarray  # (G, len(columns)) mean score step into each of them

    @property
    def width(self) -> int:
        return len(self.columns)

    def at(self, numbers: np.ndarray) -> np.ndarray:
        """(n, width) the mean steps at index numbers `numbers`; 0 off the grid."""
        out = np.zeros((len(numbers), self.width))
        if not len(self.grid):
            return out
        rows = nearest(self.grid, numbers)
        # equal up to float noise (a sampled index is its start plus whole steps)
        spacing = float(np.median(np.diff(self.grid))) if len(self.grid) > 1 else 1.0
        on_grid = np.abs(self.grid[rows] - numbers) <= 1e-6 * max(1.0, spacing)
        out[on_grid] = self.steps[rows[on_grid]]
        return out


def fit_time_effects(
    scores: np.ndarray, first: np.ndarray, numbers: np.ndarray
) -> tuple[TimeEffects | None, np.ndarray]:
    """The time effects of the columns whose steps share them, and each training row's
    input: the mean step of the other entities at its index value.

    `scores`: (N, d) every value's score (NaN where missing), rows sequence by sequence;
    `first`: (N,) first row of its sequence; `numbers`: (N,) the index as numbers."""
    steps = np.vstack([np.full((1, scores.shape[1]), np.nan), np.diff(scores, axis=0)])
    steps[first] = np.nan
    grid, at = np.unique(numbers, return_inverse=True)
    present = ~np.isnan(steps)
    counts = _per_index(present.astype(float), at, len(grid))
    sums = _per_index(np.where(present, steps, 0.0), at, len(grid))
    enough = counts >= MIN_ENTITIES
    own = np.where(present, steps, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        others = (sums[at] - own) / (counts[at] - present)  # the row's own step left out
        means = sums / counts
    feats = np.where(enough[at], others, 0.0)
    feats = np.nan_to_num(feats, nan=0.0, posinf=0.0, neginf=0.0)
    chosen = [j for j in range(scores.shape[1]) if _shares_steps(steps[:, j], feats[:, j],
                                                                  enough[at, j])]
    if not chosen:
        return None, np.zeros((len(scores), 0))
    kept = enough[:, chosen].any(axis=1)
    effects = TimeEffects(columns=chosen, grid=grid[kept].astype(float),
                          steps=np.where(enough, np.nan_to_num(means), 0.0)[kept][:, chosen])
    return effects, feats[:, chosen]


def _per_index(values: np.ndarray, at: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros((n, values.shape[1]))
    np.add.at(out, at, values)
    return out


def _shares_steps(steps: np.ndarray, effect: np.ndarray, covered: np.ndarray) -> bool:
    """Its steps follow the other entities' mean step: it explains MIN_EXPLAINED of their
    variance (a least-squares fit through zero) on at least MIN_COVERED of them."""
    present = ~np.isnan(steps)
    rows = present & covered
    if rows.sum() < MIN_COVERED * present.sum() or rows.sum() < 2 * MIN_ENTITIES:
        return False
    y, x = steps[rows], effect[rows]
    total = float(np.sum((y - y.mean()) ** 2))
    if total <= 0 or float(x @ x) <= 0:
        return False
    slope = float(x @ y) / float(x @ x)
    return 1 - float(np.sum((y - slope * x) ** 2)) / total >= MIN_EXPLAINED
