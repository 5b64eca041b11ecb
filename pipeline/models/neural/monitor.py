"""When to stop training: a cheap fidelity score of a small sample, and early stopping on it.

A GAN's losses say nothing about when its output is good (its authors say so), and a VAE's
ELBO keeps falling while it memorises. So every few epochs the model samples a few thousand
rows, and `FidelityProbe` scores them against held-back real rows the way Column Shapes and
Pair Trends do, with array ops only: one minus the total-variation distance of every binned
marginal (quantile bins, frequent labels); for up to `MAX_PAIRS` pairs, the correlation
similarity of two numeric columns (as Pair Trends scores them) and one minus the
total-variation distance of the binned joint for any other pair.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

NUMERIC_BINS = 10
TOP_LABELS = 20
MAX_PAIRS = 190
# A check must beat the best score by this much to count as a gain (a sample of a few thousand
# rows scores within about this of itself from draw to draw).
MIN_GAIN = 0.002


@dataclass(frozen=True)
class FidelityProbe:
    edges: list[np.ndarray | None]  # interior quantile edges per numeric column; None: labels
    n_bins: np.ndarray  # (c,)
    marginals: list[np.ndarray]
    pairs: np.ndarray  # (P, 2)
    joints: list[np.ndarray]  # a numeric pair's real correlation, any other pair's joint
    held_back: bool = True  # False: the reference rows are training rows

    @classmethod
    def fit(cls, reference: list[np.ndarray], numeric: int,
            rng: np.random.Generator, held_back: bool = True) -> FidelityProbe:
        """`reference`: decoded columns (floats first, `numeric` of them, then label codes)."""
        edges: list[np.ndarray | None] = []
        n_bins = []
        for j, values in enumerate(reference):
            if j < numeric:
                present = values[~np.isnan(values)]
                inner = np.unique(np.quantile(present, np.linspace(0, 1, NUMERIC_BINS + 1)[1:-1])) \
                    if len(present) else np.zeros(0)
                edges.append(inner)
                n_bins.append(len(inner) + 2)  # the bins, then missing
            else:
                counts = np.bincount(values[values >= 0]) if (values >= 0).any() else np.zeros(1)
                top = np.argsort(-counts, kind="stable")[:TOP_LABELS]
                lookup = np.full(max(len(counts), 1), TOP_LABELS, dtype=np.int64)
                lookup[top] = np.arange(len(top))
                edges.append(lookup)
                n_bins.append(TOP_LABELS + 2)  # top labels, other, missing
        probe = cls(edges, np.asarray(n_bins), [], np.zeros((0, 2), dtype=np.int64), [])
        codes = probe.bin(reference, numeric)
        c = len(reference)
        pairs = np.array([(a, b) for a in range(c) for b in range(a + 1, c)], dtype=np.int64)
        if len(pairs) > MAX_PAIRS:
            pairs = pairs[np.sort(rng.choice(len(pairs), MAX_PAIRS, replace=False))]
        pairs = pairs.reshape(-1, 2)
        marginals = [probe._frequencies(codes[:, j], probe.n_bins[j]) for j in range(c)]
        joints = [_correlation(reference[a], reference[b]) if b < numeric
                  else probe._joint(codes, a, b) for a, b in pairs]
        return cls(edges, probe.n_bins, marginals, pairs, joints, held_back)

    def bin(self, columns: list[np.ndarray], numeric: int) -> np.ndarray:
        out = np.zeros((len(columns[0]) if columns else 0, len(columns)), dtype=np.int64)
        for j, values in enumerate(columns):
            if j < numeric:
                codes = np.searchsorted(self.edges[j], values, side="right")
                codes[np.isnan(values)] = self.n_bins[j] - 1
            else:
                lookup = self.edges[j]
                known = (values >= 0) & (values < len(lookup))
                codes = np.full(len(values), self.n_bins[j] - 1, dtype=np.int64)
                codes[known] = lookup[values[known]]
                codes[values >= len(lookup)] = self.n_bins[j] - 2
            out[:, j] = codes
        return out

    def score(self, columns: list[np.ndarray], numeric: int) -> float:
        """Mean of (1 - TV) over the marginals and of (1 - TV) over the pairs."""
        if not columns:
            return 1.0
        codes = self.bin(columns, numeric)
        shapes = np.mean([1 - 0.5 * np.abs(self._frequencies(codes[:, j], self.n_bins[j]) - m).sum()
                          for j, m in enumerate(self.marginals)])
        if not len(self.pairs):
            return float(shapes)
        pairs = np.mean([
            1 - 0.5 * abs(_correlation(columns[a], columns[b]) - joint) if b < numeric
            else 1 - 0.5 * np.abs(self._joint(codes, a, b) - joint).sum()
            for (a, b), joint in zip(self.pairs, self.joints)])
        return float((shapes + pairs) / 2)

    @staticmethod
    def _frequencies(codes: np.ndarray, bins: int) -> np.ndarray:
        return np.bincount(codes, minlength=bins) / max(len(codes), 1)

    def _joint(self, codes: np.ndarray, a: int, b: int) -> np.ndarray:
        nb = self.n_bins[b]
        return self._frequencies(codes[:, a] * nb + codes[:, b], self.n_bins[a] * nb)


def _correlation(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson's correlation on the rows where both are known (0 where it is undefined)."""
    known = ~(np.isnan(x) | np.isnan(y))
    if known.sum() < 3 or np.std(x[known]) == 0 or np.std(y[known]) == 0:
        return 0.0
    return float(np.corrcoef(x[known], y[known])[0, 1])


@dataclass
class EarlyStopping:
    """Keeps the best-scoring epoch's weights; stops after `patience` checks without a gain
    of MIN_GAIN (from `min_epochs` on), or once `max_minutes` of training have passed."""

    patience: int | None
    max_minutes: float | None
    min_epochs: int = 0  # no early stop before this epoch
    started: float = field(default_factory=time.perf_counter)
    best_score: float = -np.inf
    best_epoch: int = 0
    best_state: dict | None = None
    curve: list[dict[str, float]] = field(default_factory=list)
    stopped_by: str = "epochs"

    last_gain: int = 0  # the epoch of the last check that beat the best by MIN_GAIN

    def record(self, epoch: int, score: float, state: dict) -> None:
        self.curve.append({"epoch": epoch, "fidelity": round(score, 5)})
        if score > self.best_score + MIN_GAIN:
            self.last_gain = epoch
        if score > self.best_score:
            self.best_score, self.best_epoch, self.best_state = score, epoch, state

    def should_stop(self, epoch: int) -> bool:
        if self.max_minutes is not None and \
                time.perf_counter() - self.started >= 60 * self.max_minutes:
            self.stopped_by = "max_minutes"
            return True
        if self.patience is not None and epoch >= self.min_epochs and \
                len(self.curve) > self.patience and \
                self.curve[-1 - self.patience]["epoch"] >= self.last_gain:
            self.stopped_by = "early stopping"
            return True
        return False
