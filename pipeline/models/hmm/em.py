"""Baum-Welch: emission likelihoods, scaled forward-backward over all sequences at once,
initialisation from k-means, and the EM loop."""

from __future__ import annotations

import logging
import warnings

import numpy as np

from pipeline.models.hmm.chain import ChainParams
from pipeline.models.hmm.chunks import length_groups
from pipeline.models.hmm.data import Data, regressors
from pipeline.models.hmm.mstep import EMOptions, m_step

log = logging.getLogger(__name__)

LOG_2PI = float(np.log(2 * np.pi))


def _gaussian(data: Data, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """Log-density of the observed dimensions of every row under every state (the others are
    marginalised out: a sub-covariance per observation pattern)."""
    distance, dims, logdet = _whitened(data, mean, cov)
    return -0.5 * (distance + logdet + dims[:, None] * LOG_2PI)


def mahalanobis(data: Data, mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, K) squared Mahalanobis distances of every row's observed dimensions from every
    state's mean, and (N,) how many dimensions each row observes."""
    distance, dims, _ = _whitened(data, mean, cov)
    return distance, dims


def _whitened(
    data: Data, mean: np.ndarray, cov: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n, k, _ = mean.shape
    distance, logdet, dims = np.zeros((n, k)), np.zeros((n, k)), np.zeros(n)
    for rows, obs, _ in data.patterns:
        if len(obs) == 0:
            continue
        chol = np.linalg.cholesky(cov[:, obs][:, :, obs])
        resid = data.x[np.ix_(rows, obs)][:, None, :] - mean[rows][:, :, obs]
        white = np.einsum("kij,nkj->nki", np.linalg.inv(chol), resid)
        distance[rows] = (white**2).sum(2)
        logdet[rows] = 2 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(1)
        dims[rows] = len(obs)
    return distance, dims, logdet


def log_emissions(
    data: Data, p: ChainParams, z_step: np.ndarray, z_first: np.ndarray
) -> np.ndarray:
    """(N, K) log-likelihood of each row's emissions under each state: its values, its tokens
    and, on a sequence's first row, the static values."""
    logb = np.zeros((data.n_rows, p.n_states))
    if data.x.shape[1]:
        first = data.first
        ll_step = _gaussian(data, np.einsum("nr,kdr->nkd", z_step, p.ar), p.ar_cov)
        ll_first = _gaussian(data, np.einsum("nr,kdr->nkd", z_first, p.first), p.first_cov)
        logb += np.where(first[:, None], ll_first, ll_step)
    for j, (marginal, trans) in enumerate(zip(p.token_first, p.token_trans)):
        code, context = data.tokens[:, j], data.contexts[:, j]
        logb += np.log(np.where(data.first[:, None], marginal.T[code], trans[:, context, code].T))
    first_rows = np.flatnonzero(data.first)
    for j, table in enumerate(p.static_cat):
        logb[first_rows] += np.log(table.T[data.static_cat[:, j]])
    for j in range(data.static_num.shape[1]):
        value = data.static_num[:, j]
        known = ~np.isnan(value)
        var = p.static_var[:, j]
        ll = -0.5 * ((value[known, None] - p.static_mean[:, j]) ** 2 / var + np.log(var) + LOG_2PI)
        logb[first_rows[known]] += ll
    return logb


def forward_backward(
    logb: np.ndarray, data: Data, p: ChainParams
) -> tuple[np.ndarray, np.ndarray, float]:
    """Posteriors per row, expected transition counts and the log-likelihood: sequences of
    similar length together (`chunks`), each group padded to its longest."""
    groups = length_groups(np.bincount(data.seq, minlength=data.n_seq))
    if len(groups) == 1:
        return _forward_backward(logb, data.pos, data.seq, data.n_seq, p)
    post, xi, loglik = np.empty_like(logb), np.zeros((p.n_states, p.n_states)), 0.0
    for group in groups:
        rows = np.flatnonzero(np.isin(data.seq, group))
        local = np.searchsorted(group, data.seq[rows])
        post[rows], part, part_loglik = _forward_backward(
            logb[rows], data.pos[rows], local, len(group), p)
        xi += part
        loglik += part_loglik
    return post, xi, loglik


def _forward_backward(
    logb: np.ndarray, pos: np.ndarray, seq: np.ndarray, n_seq: int, p: ChainParams
) -> tuple[np.ndarray, np.ndarray, float]:
    """Scaled forward-backward over the given sequences at once (padded to the longest).

    Padded steps have emission 1, so they leave the scaled messages unchanged; their
    transitions are masked out of the expected counts.
    """
    k = p.n_states
    t_max = int(pos.max()) + 1
    row_max = logb.max(1)
    emis = np.ones((t_max, n_seq, k))
    emis[pos, seq] = np.exp(logb - row_max[:, None])
    valid = np.zeros((t_max, n_seq), dtype=bool)
    valid[pos, seq] = True
    alpha = np.empty((t_max, n_seq, k))
    scale = np.empty((t_max, n_seq))
    a = p.start[None, :] * emis[0]
    scale[0] = a.sum(1)
    alpha[0] = a / scale[0][:, None]
    trans = p.trans
    for t in range(1, t_max):
        a = (alpha[t - 1] @ trans) * emis[t]
        s = a.sum(1)
        scale[t] = s
        alpha[t] = a / s[:, None]
    beta = np.empty_like(alpha)
    beta[-1] = 1.0
    trans_t = trans.T
    for t in range(t_max - 2, -1, -1):
        beta[t] = ((emis[t + 1] * beta[t + 1]) @ trans_t) / scale[t + 1][:, None]
    post = alpha * beta
    post /= post.sum(2, keepdims=True)
    weighted = emis[1:] * beta[1:] / scale[1:, :, None] * valid[1:, :, None]
    xi = np.einsum("tsi,tsj->ij", alpha[:-1], weighted) * trans
    loglik = float(np.log(scale[valid]).sum() + row_max.sum())
    return post[pos, seq], xi, loglik


def n_free(p: ChainParams, data: Data, per_state_tokens: bool) -> int:
    """Free parameters of the chain, for BIC."""
    k, d = p.n_states, p.ar.shape[1]
    count = (k - 1) + k * (k - 1)
    count += k * (p.ar.shape[1] * p.ar.shape[2] + p.first.shape[1] * p.first.shape[2])
    count += k * d * (d + 1)  # two covariances
    copies = k if per_state_tokens else 1
    count += sum(copies * (t.shape[1] - 1) for t in p.token_first)
    count += sum(t.shape[0] * (t.shape[1] - 1) for t in p.static_cat)
    for j, table in enumerate(p.token_trans):  # contexts that occur, not all possible ones
        used = len(np.unique(data.contexts[~data.first, j]))
        count += copies * used * (table.shape[2] - 1)
    return count + 2 * p.static_mean.size


def initial_params(data: Data, k: int, seed: int, options: EMOptions) -> ChainParams:
    """States from k-means on the scores and tokens, then one M-step."""
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning

    parts = [np.where(data.observed, data.x, 0.0)]
    parts += [np.eye(n)[data.tokens[:, j]] for j, n in enumerate(options.channel_sizes)]
    features = np.hstack(parts)
    if k == 1 or features.shape[1] == 0:
        labels = np.zeros(data.n_rows, dtype=np.int64)
    else:
        with warnings.catch_warnings():  # fewer distinct rows than states: fine, and quiet
            warnings.simplefilter("ignore", ConvergenceWarning)
            labels = KMeans(n_clusters=k, n_init=2, random_state=seed).fit(features).labels_
    post = np.full((data.n_rows, k), 0.1 / k)
    post[np.arange(data.n_rows), labels] += 0.9
    same = data.seq[1:] == data.seq[:-1]
    xi = np.ones((k, k))
    np.add.at(xi, (labels[:-1][same], labels[1:][same]), 1.0)
    z_step, z_first = regressors(data)
    return m_step(data, post, xi, z_step, z_first, options)


def run_em(
    data: Data, params: ChainParams, options: EMOptions, max_iter: int, label: str,
    level: int = logging.INFO,
) -> tuple[ChainParams, float, list[float]]:
    """EM from `params` until the log-likelihood per step gains less than `options.tol`:
    the parameters, the final log-likelihood and its history per step."""
    z_step, z_first = regressors(data)
    history: list[float] = []
    loglik = -np.inf
    for it in range(1, max_iter + 1):
        logb = log_emissions(data, params, z_step, z_first)
        post, xi, new_loglik = forward_backward(logb, data, params)
        history.append(new_loglik / data.n_rows)
        log.log(level, "%s iteration %d: log-likelihood per step %.4f", label, it, history[-1])
        params = m_step(data, post, xi, z_step, z_first, options)
        converged = abs(new_loglik - loglik) / data.n_rows < options.tol
        loglik = new_loglik
        if converged:
            break
    return params, loglik, history
