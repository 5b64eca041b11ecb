"""Fitting the mixture: the component count by held-out log-likelihood, or the best restart."""

from __future__ import annotations

import logging

import numpy as np

from pipeline.models.gmm.em import Mixture, e_step, initial_mixture, make_batch, run_em
from pipeline.models.gmm.encoding import Encoding
from pipeline.models.params import GaussianMixtureParams

logger = logging.getLogger(__name__)

# Component selection never tries more components than training rows allow at this many per one.
MIN_ROWS_PER_COMPONENT = 25
# Past this many rows the component count is chosen, and EM run to convergence, on a random
# subsample of this size; FULL_PASSES iterations over every row then refine it. More rows
# move a fit of this size far less than they cost.
SUBSAMPLE_ROWS = 100_000
FULL_PASSES = 3

Scores = list[dict[str, float]]


def fit_mixture(
    encoding: Encoding, codes: np.ndarray, z: np.ndarray, settings: GaussianMixtureParams,
    rng: np.random.Generator,
) -> tuple[Mixture, list[dict[str, float]], Scores]:
    """The fitted mixture, its final EM history and the selection's scores (empty when the
    component count is given)."""
    every = (codes, z)
    if len(codes) > SUBSAMPLE_ROWS:
        keep = np.sort(rng.choice(len(codes), SUBSAMPLE_ROWS, replace=False))
        codes, z = codes[keep], z[keep]
    if settings.n_components is None:
        _, mix, scores = select_components(encoding, codes, z, settings, rng)
        mix, history = run_em(
            make_batch(codes, z, encoding.offsets), mix, encoding.prior, settings,
            settings.max_iter, "gmm final fit",
        )
    else:
        scores = []
        mix, history = fit_restarts(encoding, codes, z, settings.n_components, settings, rng)
    if len(codes) < len(every[0]):
        mix, history = _refine_on_every_row(mix, history, *every, encoding, settings)
    return mix, history, scores


def _refine_on_every_row(mix: Mixture, history, codes, z, encoding: Encoding,
                         settings: GaussianMixtureParams):
    """A few EM iterations over all rows from the subsample's fit."""
    mix, more = run_em(make_batch(codes, z, encoding.offsets), mix, encoding.prior, settings,
                       FULL_PASSES, f"gmm refit on all {len(codes)} rows")
    done = len(history)
    return mix, history + [{**h, "iteration": done + h["iteration"]} for h in more]


def fit_restarts(
    encoding: Encoding, codes: np.ndarray, z: np.ndarray, k: int,
    settings: GaussianMixtureParams, rng: np.random.Generator,
) -> tuple[Mixture, list[dict[str, float]]]:
    """The best by final log-likelihood of n_init fits from different k-means starts."""
    batch = make_batch(codes, z, encoding.offsets)
    best = None
    for attempt in range(settings.n_init):
        start = initial_mixture(batch, k, encoding.prior, settings, rng)
        mix, history = run_em(
            batch, start, encoding.prior, settings, settings.max_iter,
            f"gmm fit (init {attempt + 1})",
        )
        if best is None or history[-1]["log_likelihood"] > best[1][-1]["log_likelihood"]:
            best = (mix, history)
    return best


def select_components(
    encoding: Encoding, codes: np.ndarray, z: np.ndarray, settings: GaussianMixtureParams,
    rng: np.random.Generator,
) -> tuple[int, Mixture, Scores]:
    """Double the component count (1, 2, 4, ...) while held-out log-likelihood per row
    improves by at least selection_min_gain; keep the best. The threshold stops paying
    twice the fit and sampling cost for a gain no quality metric notices."""
    order = rng.permutation(len(codes))
    n_val = int(round(len(codes) * settings.validation_share))
    val, fit = order[:n_val], order[n_val:]
    fit_batch = make_batch(codes[fit], z[fit], encoding.offsets)
    val_batch = make_batch(codes[val], z[val], encoding.offsets)
    limit = max(1, min(settings.max_components, len(fit) // MIN_ROWS_PER_COMPONENT))
    candidates = [2**i for i in range(int(np.log2(limit)) + 1)]
    if n_val == 0:
        candidates = [1]
    scores: Scores = []
    best = None
    for k in candidates:
        start = initial_mixture(fit_batch, k, encoding.prior, settings, rng)
        mix, _ = run_em(
            fit_batch, start, encoding.prior, settings, settings.selection_max_iter,
            f"gmm selection k={k}",
        )
        held_out = e_step(val_batch, mix, want_stats=False)[0] / max(n_val, 1)
        scores.append({"n_components": k, "validation_log_likelihood": held_out})
        logger.info("gmm selection: %d components, held-out log-likelihood %.4f", k, held_out)
        gain = held_out - best[2] if best else np.inf
        if gain > 0:
            best = (k, mix, held_out)
        if gain < settings.selection_min_gain:
            break
    logger.info("gmm selection chose %d components", best[0])
    return best[0], best[1], scores
