"""Mode-specific normalisation's modes: one EM for the 1-D Gaussian mixtures of every numeric
column at once (CTGAN paper, section 4.2), numpy only.

The paper fits a variational Gaussian mixture per column; SDV's ctgan does so serially, one
scikit-learn BayesianGaussianMixture per column, which dominates its preprocessing. Here the
columns are the leading axis of every array, so one E-step and one M-step serve all of them;
modes whose weight falls under `MIN_WEIGHT` are dropped afterwards, as the paper's variational
fit would let them vanish.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Modes a column may keep (the paper's 10), the weight under which a mode is dropped (the
# paper's 0.005), and the rows EM reads at most (a seeded subsample; modes of a marginal need
# no more).
MAX_MODES = 10
MIN_WEIGHT = 0.005
EM_ROWS = 20_000
EM_ITERATIONS = 60
EM_TOL = 1e-4
# A mode's standard deviation is at least this share of its column's: a column of repeated
# values then keeps point-like modes without dividing by zero.
MIN_STD_SHARE = 1e-3


@dataclass(frozen=True)
class Modes:
    """Per numeric column (rows of each array): its modes' weights, means and deviations, in
    the column's own units; a column keeps `counts[j]` modes, padded with weight 0."""

    weights: np.ndarray  # (c, K)
    means: np.ndarray  # (c, K)
    stds: np.ndarray  # (c, K)
    counts: np.ndarray  # (c,) modes kept per column

    def log_posterior(self, values: np.ndarray) -> np.ndarray:
        """(n, c, K) log P(mode | value); NaN rows give a uniform posterior (unused)."""
        x = np.nan_to_num(values)[:, :, None]
        with np.errstate(divide="ignore"):
            log_w = np.log(self.weights)[None]
        z = (x - self.means[None]) / self.stds[None]
        joint = log_w - 0.5 * z * z - np.log(self.stds[None])
        top = joint.max(axis=2, keepdims=True)
        return joint - top - np.log(np.exp(joint - top).sum(axis=2, keepdims=True))


def fit_modes(values: np.ndarray, rng: np.random.Generator, max_modes: int = MAX_MODES) -> Modes:
    """EM on the (n, c) numeric values (NaN: missing, ignored) of every column together."""
    n, c = values.shape
    if n > EM_ROWS:
        values = values[rng.choice(n, EM_ROWS, replace=False)]
    present = ~np.isnan(values)
    centre = np.array([np.nanmedian(values[:, j]) if present[:, j].any() else 0.0
                       for j in range(c)])
    scale = np.array([np.nanstd(values[:, j]) if present[:, j].sum() > 1 else 0.0
                      for j in range(c)])
    scale = np.where(scale > 0, scale, 1.0)
    x = np.where(present, (values - centre) / scale, 0.0)  # standardised, missing at 0
    weights, means, stds = _initial_modes(x, present, max_modes)
    floor = MIN_STD_SHARE
    previous = -np.inf
    for _ in range(EM_ITERATIONS):
        resp, loglik = _e_step(x, present, weights, means, stds)
        weights, means, stds = _m_step(x, present, resp, floor)
        if loglik - previous < EM_TOL:
            break
        previous = loglik
    return _pruned(weights, means * scale[:, None] + centre[:, None], stds * scale[:, None])


def _initial_modes(x: np.ndarray, present: np.ndarray, k: int):
    """Means at evenly spaced quantiles of each column, equal weights, a common spread."""
    c = x.shape[1]
    qs = (np.arange(k) + 0.5) / k
    means = np.zeros((c, k))
    for j in range(c):
        column = x[present[:, j], j]
        means[j] = np.quantile(column, qs) if len(column) else 0.0
    # a quantile shared by several modes (a spike) starts one mode there, not several
    repeated = np.zeros((c, k), dtype=bool)
    repeated[:, 1:] = np.isclose(means[:, 1:], means[:, :-1])
    weights = np.where(repeated, 0.0, 1.0)
    weights /= weights.sum(axis=1, keepdims=True)
    stds = np.full((c, k), 1.0 / np.sqrt(k))
    return weights, means, stds


def _e_step(x, present, weights, means, stds):
    with np.errstate(divide="ignore"):
        log_w = np.log(weights)
    z = (x[:, :, None] - means[None]) / stds[None]
    joint = log_w[None] - 0.5 * z * z - np.log(stds[None])
    top = joint.max(axis=2, keepdims=True)
    norm = np.log(np.exp(joint - top).sum(axis=2, keepdims=True)) + top
    resp = np.exp(joint - norm) * present[:, :, None]
    loglik = float((norm[:, :, 0] * present).sum() / max(present.sum(), 1))
    return resp, loglik


def _m_step(x, present, resp, floor):
    mass = resp.sum(axis=0)  # (c, K)
    rows = np.maximum(present.sum(axis=0), 1)[:, None]
    weights = mass / rows
    safe = np.maximum(mass, 1e-12)
    means = np.einsum("nck,nc->ck", resp, x) / safe
    var = np.einsum("nck,nck->ck", resp, (x[:, :, None] - means[None]) ** 2) / safe
    stds = np.sqrt(np.maximum(var, floor * floor))
    return weights, means, stds


def _pruned(weights: np.ndarray, means: np.ndarray, stds: np.ndarray) -> Modes:
    """Drop modes under MIN_WEIGHT (each column keeps at least its heaviest), renormalise, and
    put each column's kept modes first, in order of their means."""
    c, k = weights.shape
    keep = weights >= MIN_WEIGHT
    keep[np.arange(c), weights.argmax(axis=1)] = True
    order = np.argsort(np.where(keep, means, np.inf), axis=1, kind="stable")
    take = np.take_along_axis
    weights, means, stds = (take(a, order, axis=1) for a in (weights, means, stds))
    keep = take(keep, order, axis=1)
    weights = np.where(keep, weights, 0.0)
    weights = weights / weights.sum(axis=1, keepdims=True)
    means = np.where(keep, means, 0.0)
    stds = np.where(keep, stds, 1.0)
    return Modes(weights, means, stds, keep.sum(axis=1))
