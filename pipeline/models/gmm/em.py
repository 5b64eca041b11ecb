"""EM for the mixture: batches of encoded rows, log densities, the E- and M-steps, the loop.

A row on a spike or missing leaves its continuous dimension unobserved; EM treats it as missing
data (marginal Gaussian in the E-step, conditional expectations in the M-step), which is the
exact likelihood of the generative model. Rows are grouped by which dimensions they observe, so
each group's Gaussian work is one matrix product.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from pipeline.models.gmm.encoding import one_hot
from pipeline.models.gmm.kmeans import kmeans
from pipeline.models.params import GaussianMixtureParams

logger = logging.getLogger(__name__)

LOG_2PI = float(np.log(2 * np.pi))
# Finite stand-in for log(0) so that one-hot matrix products never meet 0 * -inf.
LOG_ZERO = -1e30
# Patterns of observed continuous dimensions EM works with (`with_common_patterns`).
MAX_PATTERNS = 64


@dataclass(frozen=True)
class Pattern:
    """A run of rows sharing which continuous dimensions they observe (`obs`) and lack."""

    start: int
    stop: int
    obs: np.ndarray
    miss: np.ndarray
    x: np.ndarray  # observed values (rows, d_o)
    features: np.ndarray  # [1, x, vec(x x^T)] per row: sufficient statistics, (rows, 1+d_o+d_o^2)


@dataclass(frozen=True)
class Batch:
    """Encoded rows ordered by missingness pattern, so each pattern is one slice."""

    one_hot: sparse.csr_matrix
    z: np.ndarray
    patterns: list[Pattern]

    @property
    def n_rows(self) -> int:
        return self.one_hot.shape[0]

    @property
    def n_dims(self) -> int:
        return self.z.shape[1]


def make_batch(codes: np.ndarray, z: np.ndarray, offsets: np.ndarray) -> Batch:
    z = with_common_patterns(z)
    observed = ~np.isnan(z)
    kinds, inverse = np.unique(observed, axis=0, return_inverse=True)
    order = np.argsort(inverse.ravel(), kind="stable")
    codes, z = codes[order], z[order]
    bounds = np.concatenate([[0], np.cumsum(np.bincount(inverse.ravel(), minlength=len(kinds)))])
    patterns = []
    for i, kind in enumerate(kinds):
        obs = np.flatnonzero(kind)
        x = z[bounds[i] : bounds[i + 1]][:, obs]
        outer = (x[:, :, None] * x[:, None, :]).reshape(len(x), -1)
        features = np.hstack([np.ones((len(x), 1)), x, outer])
        patterns.append(
            Pattern(int(bounds[i]), int(bounds[i + 1]), obs, np.flatnonzero(~kind), x, features)
        )
    return Batch(one_hot(codes, offsets), z, patterns)


def with_common_patterns(z: np.ndarray) -> np.ndarray:
    """z with at most MAX_PATTERNS patterns of observed dimensions: the commonest ones, and
    observing nothing; a row of a rarer pattern keeps the values of the kept pattern that
    observes the most of what it observes (one always fits: observing nothing), and the rest
    of its values become missing.

    Each pattern costs its own Gaussian algebra per component and iteration, and a table of
    many zero-inflated columns has a pattern for almost every row. Hiding values is still
    the model's exact likelihood, of less data: the estimates only lose those values."""
    kinds, inverse, counts = np.unique(~np.isnan(z), axis=0, return_inverse=True,
                                       return_counts=True)
    if len(kinds) <= MAX_PATTERNS:
        return z
    commonest = np.argsort(-counts, kind="stable")[: MAX_PATTERNS - 1]
    kept = kinds[np.union1d(commonest, np.flatnonzero(~kinds.any(axis=1)))]
    if kept.any(axis=1).all():
        kept = np.vstack([kept, np.zeros(kinds.shape[1], dtype=bool)])
    # a kept pattern fits a row's pattern when it observes nothing the row lacks
    fits = (~kinds).astype(np.int64) @ kept.T.astype(np.int64) == 0
    best = np.argmax(np.where(fits, kept.sum(axis=1), -1), axis=1)
    return np.where(kept[best][inverse.ravel()], z, np.nan)


@dataclass(frozen=True)
class Mixture:
    weights: np.ndarray  # (K,)
    theta: np.ndarray  # (K, C): per component, every discrete variable's probabilities
    mean: np.ndarray  # (K, D)
    cov: np.ndarray  # (K, D, D)

    @property
    def n_components(self) -> int:
        return len(self.weights)


def safe_log(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.maximum(np.log(p), LOG_ZERO)


def log_density(pattern: Pattern, mix: Mixture) -> np.ndarray:
    """(rows, K) Gaussian log density of the observed dims as one product with the features
    [1, x, vec(x x')]: (x-mu)'P(x-mu) = vec(x x')·vec(P) - 2 x'P mu + mu'P mu."""
    o, k = pattern.obs, mix.n_components
    cov_oo = mix.cov[:, o[:, None], o[None, :]]
    precision = np.linalg.inv(cov_oo)
    _, logdet = np.linalg.slogdet(cov_oo)
    mu = mix.mean[:, o]
    pmu = np.einsum("kij,kj->ki", precision, mu)
    constant = -0.5 * (len(o) * LOG_2PI + logdet + (pmu * mu).sum(axis=1))
    weights = np.hstack([constant[:, None], pmu, -0.5 * precision.reshape(k, -1)])
    return pattern.features @ weights.T


def e_step(
    batch: Batch, mix: Mixture, want_stats: bool
) -> tuple[float, np.ndarray, list[np.ndarray]]:
    """Total log-likelihood; if asked, responsibilities and each pattern's r-weighted features."""
    log_joint = batch.one_hot @ safe_log(mix.theta).T + safe_log(mix.weights)
    total, stats = 0.0, []
    for pattern in batch.patterns:
        block = log_joint[pattern.start : pattern.stop]
        if len(pattern.obs):
            block += log_density(pattern, mix)
        top = block.max(axis=1, keepdims=True)
        np.subtract(block, top, out=block)
        np.exp(block, out=block)  # the buffer becomes unnormalised responsibilities
        norm = block.sum(axis=1, keepdims=True)
        total += float(np.log(norm).sum() + top.sum())
        if want_stats:
            block /= norm
            stats.append(block.T @ pattern.features)
    return total, log_joint, stats


def gaussian_sums(
    batch: Batch, mix: Mixture, stats: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Expected sums of z and z z' per component. Missing dims are filled by their Gaussian
    conditional given the observed ones; because that is linear in x, the sums follow from the
    r-weighted moments of x alone (no per-row work)."""
    k, d = mix.n_components, batch.n_dims
    s1, s2 = np.zeros((k, d)), np.zeros((k, d, d))
    for pattern, t in zip(batch.patterns, stats):
        o, m, do = pattern.obs, pattern.miss, len(pattern.obs)
        nk, b, c = t[:, 0], t[:, 1 : 1 + do], t[:, 1 + do :].reshape(k, do, do)
        s1[:, o] += b
        s2[:, o[:, None], o[None, :]] += c
        if not len(m):
            continue
        mu_m, cov_mm = mix.mean[:, m], mix.cov[:, m[:, None], m[None, :]]
        if not do:
            s1[:, m] += nk[:, None] * mu_m
            s2[:, m[:, None], m[None, :]] += nk[:, None, None] * (cov_mm + outer(mu_m, mu_m))
            continue
        mu_o = mix.mean[:, o]
        gain = mix.cov[:, m[:, None], o[None, :]] @ np.linalg.inv(mix.cov[:, o[:, None], o])
        cond_cov = cov_mm - gain @ mix.cov[:, o[:, None], m[None, :]]
        f = b - nk[:, None] * mu_o  # sum r (x - mu_o)
        e = c - outer(b, mu_o) - outer(mu_o, b) + nk[:, None, None] * outer(mu_o, mu_o)
        gf = np.einsum("kmo,ko->km", gain, f)
        s1[:, m] += nk[:, None] * mu_m + gf
        cross = outer(b, mu_m) + (c - outer(b, mu_o)) @ gain.transpose(0, 2, 1)
        s2[:, o[:, None], m[None, :]] += cross
        s2[:, m[:, None], o[None, :]] += cross.transpose(0, 2, 1)
        s2[:, m[:, None], m[None, :]] += (
            nk[:, None, None] * (outer(mu_m, mu_m) + cond_cov)
            + outer(mu_m, gf) + outer(gf, mu_m)
            + gain @ e @ gain.transpose(0, 2, 1)
        )
    return s1, s2


def outer(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a[:, :, None] * b[:, None, :]


def m_step(
    batch: Batch, resp: np.ndarray, stats: list[np.ndarray], old: Mixture, prior: np.ndarray,
    settings: GaussianMixtureParams,
) -> Mixture:
    nk = resp.sum(axis=0)
    counts = np.asarray(batch.one_hot.T @ resp).T
    s1, s2 = gaussian_sums(batch, old, stats)
    safe = np.where(nk < 1e-6, 1.0, nk)
    mean = s1 / safe[:, None]
    cov = s2 / safe[:, None, None] - outer(mean, mean)
    return assemble(nk, counts, mean, cov, prior, settings)


def assemble(
    nk: np.ndarray, counts: np.ndarray, mean: np.ndarray, cov: np.ndarray, prior: np.ndarray,
    settings: GaussianMixtureParams,
) -> Mixture:
    alpha, d = settings.smoothing, mean.shape[1]
    theta = (counts + alpha * prior) / (nk + alpha)[:, None]
    cov = 0.5 * (cov + cov.transpose(0, 2, 1)) + settings.reg_covar * np.eye(d)
    # an emptied component keeps harmless parameters and weight exactly 0: it is never drawn
    dead = nk < 1e-6
    mean[dead], cov[dead], theta[dead] = 0.0, np.eye(d), prior
    weights = np.where(dead, 0.0, nk) / nk.sum()
    return Mixture(weights, theta, mean, cov)


def run_em(
    batch: Batch, mix: Mixture, prior: np.ndarray, settings: GaussianMixtureParams,
    max_iter: int, label: str,
) -> tuple[Mixture, list[dict[str, float]]]:
    history: list[dict[str, float]] = []
    previous = -np.inf
    for iteration in range(1, max_iter + 1):
        total, resp, stats = e_step(batch, mix, want_stats=True)
        mean_ll = total / batch.n_rows
        history.append({"iteration": iteration, "log_likelihood": mean_ll})
        level = logging.INFO if iteration % 10 == 0 else logging.DEBUG
        logger.log(level, "%s: iteration %d, mean log-likelihood %.4f", label, iteration, mean_ll)
        mix = m_step(batch, resp, stats, mix, prior, settings)
        if mean_ll - previous < settings.tol:
            break
        previous = mean_ll
    logger.info(
        "%s: %d components, %d EM iterations, mean log-likelihood %.4f",
        label, mix.n_components, len(history), history[-1]["log_likelihood"],
    )
    return mix, history


def initial_mixture(
    batch: Batch, k: int, prior: np.ndarray, settings: GaussianMixtureParams,
    rng: np.random.Generator,
) -> Mixture:
    """k-means on [one-hot, continuous] gives hard assignments; each component starts with its
    rows' category frequencies and per-dimension means and variances (no correlation yet)."""
    observed = ~np.isnan(batch.z)
    filled = np.where(observed, batch.z, 0.0)
    embedding = sparse.hstack([batch.one_hot, sparse.csr_matrix(filled)]).tocsr()
    labels = kmeans(embedding, k, rng)
    assign = sparse.csr_matrix(
        (np.ones(batch.n_rows), (labels, np.arange(batch.n_rows))), shape=(k, batch.n_rows)
    )
    nk = np.bincount(labels, minlength=k).astype(float)
    counts = np.asarray((assign @ batch.one_hot).todense())
    seen = assign @ observed.astype(float)
    mean = np.divide(assign @ filled, seen, out=np.zeros_like(seen), where=seen > 0)
    square = np.divide(assign @ filled**2, seen, out=np.ones_like(seen), where=seen > 1)
    variance = np.where(seen > 1, np.maximum(square - mean**2, 0.0), 1.0)
    cov = variance[:, :, None] * np.eye(batch.n_dims)
    return assemble(nk, counts, mean, cov, prior, settings)
