"""Heavy-tailed innovations: a Student-t scale for each state's step equation.

Panels of yearly economic figures move smoothly but now and then jump (a merger, a new
series definition). A Gaussian innovation fitted by EM takes its variance from the jumps, so
every simulated step carries jump-sized noise and the trajectories come out rough (lag-1
autocorrelation far below the real one). After EM, the step residuals' scale mixture is fitted
instead: a multivariate t with one degrees-of-freedom value for the chain and one scale factor
per state (the covariance's shape stays EM's), by maximum likelihood over a grid of degrees of
freedom. Most simulated steps then get the small typical noise and a few the jumps. Where the
residuals are Gaussian the grid's infinite value wins and nothing changes.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy.special import gammaln

from pipeline.models.hmm.chain import ChainParams
from pipeline.models.hmm.data import Data, regressors
from pipeline.models.hmm.em import forward_backward, log_emissions, mahalanobis

# Degrees of freedom tried; inf is the Gaussian EM fitted.
DOF_GRID = (2.5, 3.0, 4.0, 5.0, 7.0, 10.0, 15.0, 30.0, np.inf)
# Log-likelihood per step a t must gain over the Gaussian before it replaces it.
MIN_GAIN = 0.01
SCALE_ITERATIONS = 30


def with_tails(data: Data, p: ChainParams) -> ChainParams:
    """`p` with its step covariances rescaled and `step_dof` set when a t fits the step
    residuals better than the Gaussian by MIN_GAIN nats per step."""
    if data.x.shape[1] == 0:
        return p
    z_step, z_first = regressors(data)
    post, _, _ = forward_backward(log_emissions(data, p, z_step, z_first), data, p)
    steps = ~data.first
    distance, dims = mahalanobis(data, np.einsum("nr,kdr->nkd", z_step, p.ar), p.ar_cov)
    keep = steps & (dims > 0)
    weights, distance, dims = post[keep], distance[keep], dims[keep][:, None]
    if weights.sum() == 0:
        return p
    fits = {dof: _fit_scale(weights, distance, dims, dof) for dof in DOF_GRID}
    best = max(fits, key=lambda dof: fits[dof][1])
    gain = (fits[best][1] - fits[np.inf][1]) / weights.sum()
    if not np.isfinite(best) or gain < MIN_GAIN:
        return p
    scale = fits[best][0]
    return replace(p, ar_cov=p.ar_cov * scale[:, None, None], step_dof=float(best))


def _fit_scale(
    weights: np.ndarray, distance: np.ndarray, dims: np.ndarray, dof: float
) -> tuple[np.ndarray, float]:
    """Per-state scale factors c (the covariance becomes c * S) and the weighted
    log-likelihood (up to the terms every dof shares) of the residuals under t_dof(0, c S).

    `distance` (rows, K): squared Mahalanobis distances under S; `dims` (rows, 1): observed
    dimensions per row."""
    total = (weights * dims).sum(0)
    scale = (weights * distance).sum(0) / np.maximum(total, 1e-12)  # the Gaussian's optimum
    scale = np.maximum(scale, 1e-12)
    if np.isfinite(dof):
        for _ in range(SCALE_ITERATIONS):  # EM for the scale: u are the latent precisions
            u = (dof + dims) / (dof + distance / scale)
            scale = np.maximum((weights * u * distance).sum(0) / np.maximum(total, 1e-12), 1e-12)
        ll = (gammaln((dof + dims) / 2) - gammaln(dof / 2) - dims / 2 * np.log(dof * scale)
              - (dof + dims) / 2 * np.log1p(distance / (dof * scale)))
    else:
        ll = -dims / 2 * np.log(2 * scale) - distance / (2 * scale)
    return scale, float((weights * ll).sum())
