"""Keeping sampled dynamics stationary: a state's autoregression is scaled down when its
companion matrix has a spectral radius over `MAX_AR_RADIUS`."""

from __future__ import annotations

import logging
from dataclasses import replace
from functools import partial

import numpy as np

from pipeline.models.hmm.chain import ChainParams
from pipeline.models.hmm.design import Design

log = logging.getLogger(__name__)

# An explosive state's autoregression is scaled to this spectral radius (stationary samples).
MAX_AR_RADIUS = 0.999


def spectral_radius(
    coef: np.ndarray, lags: list[int], d: int, average: np.ndarray | None = None,
    decay: float = 0.0,
) -> float:
    """Largest |eigenvalue| of the step's linear dynamics: the lags' companion matrix, grown
    by the slow average a_t = decay a_{t-1} + (1 - decay) x_t when it is a regressor
    (`average`: its (d, d) coefficients)."""
    order = max(lags)
    size = order * d + (d if average is not None else 0)
    companion = np.zeros((size, size))
    for i, lag in enumerate(lags):
        companion[:d, (lag - 1) * d : lag * d] = coef[:, i * d : (i + 1) * d]
    companion[d : order * d, : (order - 1) * d] = np.eye((order - 1) * d)
    if average is not None:
        companion[:d, order * d :] = average
        # the average after the step: decay times itself plus (1 - decay) times the new x
        companion[order * d :, :] = (1 - decay) * companion[:d, :]
        companion[order * d :, order * d :] += decay * np.eye(d)
    return float(np.abs(np.linalg.eigvals(companion)).max())


def _scaled_radius(
    block: np.ndarray, average: np.ndarray | None, lags: list[int], decay: float, scale: float
) -> float:
    scaled_average = None if average is None else average * scale
    return spectral_radius(block * scale, lags, len(block), scaled_average, decay)


def stabilise(
    ar: np.ndarray, lags: list[int], spike_free: np.ndarray, fresh: list[int], decay: float
) -> None:
    """Scale down the autoregression of any explosive state until it is stationary.

    A short-lived state can fit an explosive regression (it never runs long in the data), but
    the sampler may stay in it for longer; all lags are scaled by one factor (found by
    bisection), which keeps the shape of the dynamics. Only the columns without point masses
    (`spike_free`) are checked: a column on a point mass most of the time is reset by its tokens,
    and its point masses sit at the edge of its score scale, outside any stationary range.
    A fresh input (`design`) counts with lag 1, as on a step after an observed value;
    the slow average (`decay` > 0) as the state it is.
    """
    d = ar.shape[1]
    cols = np.flatnonzero(spike_free)
    if not lags or len(cols) == 0:
        return
    n_lags = len(lags) * d
    n_lagged = n_lags + len(fresh) + (d if decay else 0)
    lagged_cols = np.concatenate([i * d + cols for i in range(len(lags))])
    for s in range(ar.shape[0]):
        coef = ar[s].copy()
        coef[:, fresh] += coef[:, n_lags : n_lags + len(fresh)]  # lag 1 is the first block
        block = coef[np.ix_(cols, lagged_cols)]
        average = coef[np.ix_(cols, n_lagged - d + cols)] if decay else None
        radius = partial(_scaled_radius, block, average, lags, decay)
        if radius(1.0) <= MAX_AR_RADIUS:
            continue
        low, high = 0.0, 1.0
        for _ in range(12):
            mid = (low + high) / 2
            if radius(mid) <= MAX_AR_RADIUS:
                low = mid
            else:
                high = mid
        ar[s][:, :n_lagged] *= low
        log.debug("hmm: state %d autoregression scaled by %.3f to stay stationary", s, low)


def stabilised(params: ChainParams, design: Design, spike_free: np.ndarray) -> ChainParams:
    """A copy of `params` whose every state's autoregression is stationary (`stabilise`)."""
    out = replace(params, ar=params.ar.copy())
    stabilise(out.ar, design.lags, spike_free, design.fresh, design.memory)
    return out
