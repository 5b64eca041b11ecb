"""The M-step: the chain's parameters from the posterior state weights."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.models.hmm.chain import ChainParams
from pipeline.models.hmm.data import Data


@dataclass(frozen=True)
class EMOptions:
    """What EM needs besides the data: the parameters' smoothing and the model's shape."""

    smoothing: float  # pseudo-counts per state for the token and static tables
    min_variance: float  # covariance diagonal floor
    tol: float  # stop when the log-likelihood per step gains less
    state_tokens: bool  # token chains per state, not one shared
    channel_sizes: list[int]  # token values per channel
    context_sizes: list[int]  # transition contexts per channel
    static_sizes: list[int]  # codes per static categorical column
    step_allowed: np.ndarray  # (d, r) regressors of each column's step equation


def m_step(
    data: Data, post: np.ndarray, xi: np.ndarray, z_step: np.ndarray, z_first: np.ndarray,
    options: EMOptions,
) -> ChainParams:
    k, d = post.shape[1], data.x.shape[1]
    alpha = options.smoothing
    first_post = post[data.first]
    start = first_post.sum(0) + 1e-3
    trans = xi + 1e-6
    if d:
        step_w = post * (~data.first)[:, None]
        ar, ar_cov = regression(data, z_step, step_w, options.min_variance, options.step_allowed)
        first, first_cov = first_regression(data, z_first, post, options.min_variance)
    else:
        ar, ar_cov = np.zeros((k, 0, z_step.shape[1])), np.zeros((k, 0, 0))
        first, first_cov = np.zeros((k, 0, z_first.shape[1])), np.zeros((k, 0, 0))
    token_first, token_trans = _token_tables(
        data, post, options.channel_sizes, options.context_sizes, alpha, options.state_tokens,
    )
    static_cat = _static_tables(first_post, data.static_cat, options.static_sizes, alpha)
    static_mean, static_var = _static_moments(first_post, data.static_num, alpha)
    return ChainParams(
        start / start.sum(), trans / trans.sum(1, keepdims=True), ar, ar_cov, first, first_cov,
        token_first, token_trans, static_cat, static_mean, static_var,
    )


# Pseudo-rows at the shared intercept a first step's own intercept is shrunk with.
SHIFT_PSEUDO_ROWS = 2.0


def first_regression(
    data: Data, z_first: np.ndarray, post: np.ndarray, min_variance: float
) -> tuple[np.ndarray, np.ndarray]:
    """A first step's regression, on every step; with `first_shift`, its first-row column
    (after the tokens and the intercept) gets the state's mean residual of the first steps,
    shrunk towards none. Solved apart, not as one more regressor: tokens of dummies that mark
    the first year (a region-by-year indicator) are collinear with it, and the tokens drawn
    at sampling would not keep that collinearity."""
    if not data.first_shift:
        return regression(data, z_first, post, min_variance)
    at = data.design.shape[1] + 1
    rest = np.delete(z_first, at, axis=1)
    coef, cov = regression(data, rest, post, min_variance)
    first = data.first & data.observed.any(axis=1)
    x, seen = data.x[first], data.observed[first]
    shift = np.zeros(coef.shape[:2])
    for s in range(coef.shape[0]):
        w = post[first, s][:, None] * seen
        resid = np.where(seen, x - rest[first] @ coef[s].T, 0.0)
        shift[s] = (w * resid).sum(0) / (w.sum(0) + SHIFT_PSEUDO_ROWS)
    return np.insert(coef, at, shift, axis=2), cov


def regression(
    data: Data, z: np.ndarray, weights: np.ndarray, min_variance: float,
    allowed: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per state and column, weighted least squares of the column on z over the rows where
    the column is a continuous value; covariance from the pairwise-observed residuals.
    `allowed` (d, r) keeps a regressor out of the equations where it is False.

    Not EM's imputation of unobserved values: a gust is reported only when it is gusty, so
    the Gaussian describes the value given that it is continuous, which is what the sampler
    draws after a continuous token.
    """
    k, r, d = weights.shape[1], z.shape[1], data.x.shape[1]
    allowed = np.ones((d, r), dtype=bool) if allowed is None else allowed
    values = np.where(data.observed, data.x, 0.0)
    mask = data.observed.astype(float)
    # a column allowed few regressors (its own past) is solved on its own rows; the others
    # share one Gram matrix per pattern of observed columns
    few = 2 * allowed.sum(axis=1) < r
    groups = _columns_by_patterns(data.patterns, d, ~few)
    coef = np.zeros((k, d, r))
    cov = np.zeros((k, d, d))
    for s in range(k):
        w = weights[:, s]
        total = (mask * w[:, None]).sum(0)
        for c in np.flatnonzero(few):
            use, rows = np.flatnonzero(allowed[c]), np.flatnonzero(data.observed[:, c])
            zw = z[np.ix_(rows, use)].T * w[rows]
            coef[s, c, use] = _solve_ridged(zw @ z[np.ix_(rows, use)], zw @ values[rows, c],
                                            total[c])
        if groups:
            _solve_groups(data, z, w, values, allowed, total, groups, coef[s])
        resid = (values - z @ coef[s].T) * mask
        scatter = (resid.T * w) @ resid + np.eye(d) * 1e-2
        pairs = (mask.T * w) @ mask + 1e-2
        cov[s] = _nearest_proper(scatter / pairs, min_variance)
    return coef, cov


def _solve_groups(data: Data, z: np.ndarray, w: np.ndarray, values: np.ndarray,
                  allowed: np.ndarray, total: np.ndarray, groups, coef: np.ndarray) -> None:
    """One state's coefficients (in place) of the grouped columns, from one Gram matrix per
    pattern of observed columns."""
    r, d = z.shape[1], values.shape[1]
    grams = np.zeros((len(data.patterns), r, r))
    cross = np.zeros((d, r))
    for p, (rows, obs, _) in enumerate(data.patterns):
        zw = z[rows].T * w[rows]
        grams[p] = zw @ z[rows]
        cross[obs] += (zw @ values[np.ix_(rows, obs)]).T
    for member, columns in groups:
        gram = np.tensordot(member, grams, axes=1)
        for c in columns:
            use = np.flatnonzero(allowed[c])
            coef[c, use] = _solve_ridged(gram[np.ix_(use, use)], cross[c, use], total[c])


def _columns_by_patterns(patterns, d: int, chosen: np.ndarray
                         ) -> list[tuple[np.ndarray, list[int]]]:
    """The `chosen` columns grouped by the patterns (row sets) they are observed in, each
    group with its patterns as weights: a group's Gram matrix is one sum over patterns, not
    one per column."""
    if not chosen.any():
        return []
    member = np.zeros((len(patterns), d))
    for p, (_, obs, _) in enumerate(patterns):
        member[p, obs] = 1.0
    kinds, inverse = np.unique(member.T[chosen], axis=0, return_inverse=True)
    columns = np.flatnonzero(chosen)
    return [(kind, list(columns[inverse.ravel() == i])) for i, kind in enumerate(kinds)]


def _solve_ridged(gram: np.ndarray, cross: np.ndarray, total: float) -> np.ndarray:
    """Coefficients on one column's allowed regressors, lightly ridged. Only the allowed block
    is summed and solved: a wide panel whose columns may each use their own past alone then
    costs its width, not its width cubed."""
    gram[np.diag_indices(len(gram))] += 1e-6 + 1e-4 * total
    return np.linalg.solve(gram, cross)


def _nearest_proper(cov: np.ndarray, min_variance: float) -> np.ndarray:
    """Pairwise covariances need not form a proper matrix: clip the eigenvalues."""
    cov = (cov + cov.T) / 2
    values, vectors = np.linalg.eigh(cov)
    fixed = (vectors * np.maximum(values, min_variance * 0.1)) @ vectors.T
    fixed[np.diag_indices(len(cov))] = np.maximum(np.diag(fixed), min_variance)
    return fixed


def _token_tables(
    data: Data, post: np.ndarray, sizes: list[int], n_contexts: list[int], alpha: float,
    per_state: bool,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per channel: a state's token frequencies, and its token transitions given the context.

    Both are smoothed toward the pooled frequencies, so a transition a state never showed is
    as likely as it is overall, never impossible. Unless `per_state`, every state uses the
    pooled tables, since per-state chains cut token episodes short at each state switch.
    """
    k = post.shape[1]
    step = post * (~data.first)[:, None]
    firsts, transitions = [], []
    for j, size in enumerate(sizes):
        code, context = data.tokens[:, j], data.contexts[:, j]
        counts = np.zeros((size, k))
        np.add.at(counts, code, post)
        counts = counts.T
        overall = counts.sum(0) / max(counts.sum(), 1e-12)
        table = counts + alpha * np.maximum(overall, 1e-6)
        if not per_state:
            table = np.broadcast_to(counts.sum(0) + 1e-6, counts.shape)
        firsts.append(table / table.sum(1, keepdims=True))
        n_context = n_contexts[j]
        pairs = np.zeros((n_context * size, k))
        np.add.at(pairs, context * size + code, step)
        pairs = pairs.T.reshape(k, n_context, size)
        pooled = pairs.sum(0) + np.maximum(overall, 1e-6)[None, :]
        pooled /= pooled.sum(1, keepdims=True)
        # shared by all states: one copy, not K (a channel with many values has a big table)
        table = pairs + alpha * pooled[None] if per_state else pooled[None]
        transitions.append(table / table.sum(2, keepdims=True))
    return firsts, transitions


def _static_tables(
    weights: np.ndarray, codes: np.ndarray, sizes: list[int], alpha: float
) -> list[np.ndarray]:
    tables = []
    for j, size in enumerate(sizes):
        counts = np.zeros((size, weights.shape[1]))
        np.add.at(counts, codes[:, j], weights)
        counts = counts.T
        overall = counts.sum(0) / max(counts.sum(), 1e-12)
        table = counts + alpha * np.maximum(overall, 1e-6)
        tables.append(table / table.sum(1, keepdims=True))
    return tables


def _static_moments(
    weights: np.ndarray, values: np.ndarray, alpha: float
) -> tuple[np.ndarray, np.ndarray]:
    k, ds = weights.shape[1], values.shape[1]
    mean, var = np.zeros((k, ds)), np.ones((k, ds))
    for j in range(ds):
        known = ~np.isnan(values[:, j])
        w, v = weights[known], values[known, j]
        total = w.sum(0) + alpha  # alpha pseudo-entities at N(0, 1): smooths rare values
        mean[:, j] = (w.T @ v) / total
        var[:, j] = (w.T @ v**2 + alpha) / total - mean[:, j] ** 2
    return mean, np.maximum(var, 0.05)
