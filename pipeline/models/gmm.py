"""Gaussian mixture model for mixed-type tables, fitted by our own EM (numpy only).

The model: a row picks a component k; given k, every discrete variable is drawn from its own
categorical distribution and the continuous part of the numeric columns from one
full-covariance Gaussian. Discrete variables are the categorical and boolean columns, plus one
"token" per numeric column saying whether the value is missing, sits on a point mass (Adult's
capital-gain is 92 % zeros, hours-per-week 47 % forties) or is continuous. The continuous part is
the non-spike values through a rank-Gaussian transform; a row on a spike leaves that dimension
unobserved, and EM treats it as missing data (marginal Gaussian in the E-step, conditional
expectations in the M-step), which is the exact likelihood of this generative model.

Why this shape: categorical distributions per component reproduce every category marginal
exactly at each M-step and pair tables well with enough components; the spike tokens keep point
masses exact and let them depend on the other columns; the full covariance keeps numeric pair
trends. Given k all variables are independent, so conditioning on categorical values is exact:
reweight the components by P(condition | k) and draw everything else given k.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.special import logsumexp, ndtr, ndtri

from pipeline.errors import PipelineError
from pipeline.models.base import Synthesizer
from pipeline.models.codes import category_codes
from pipeline.schema import DatasetSchema, Role

logger = logging.getLogger(__name__)

LOG_2PI = float(np.log(2 * np.pi))
# Finite stand-in for log(0) so that one-hot matrix products never meet 0 * -inf.
LOG_ZERO = -1e30
# Quantile knots kept per continuous column; fewer distinct values are kept exactly (step CDF).
MAX_KNOTS = 1000
# Component selection never tries more components than training rows allow at this many per one.
MIN_ROWS_PER_COMPONENT = 25
# A condition less likely than this under the model is treated as impossible.
MIN_CONDITION_PROBABILITY = 1e-12


# --- encoding: columns <-> discrete codes and continuous dimensions ---------------------------
@dataclass
class _CategoricalCodec:
    """A categorical or boolean column; codes index `labels`, the last code means missing."""

    column: str
    labels: list[Any]

    @property
    def n_codes(self) -> int:
        return len(self.labels) + 1

    def encode(self, values: pd.Series) -> np.ndarray:
        return category_codes(values, self.labels, self.column)

    def decode(self, codes: np.ndarray) -> pd.Series:
        # a categorical (the missing code becomes -1): postprocessing then checks each
        # label once instead of each row
        missing = codes == len(self.labels)
        return pd.Series(pd.Categorical.from_codes(np.where(missing, -1, codes), self.labels))


@dataclass
class _NumericCodec:
    """A numeric or datetime column: point masses (`spikes`) as codes, the rest continuous.

    Codes: 0..S-1 the spikes, S "continuous" (when there is a continuous part), last missing.
    The continuous part maps to a standard normal through its empirical CDF; `levels`/`knots`
    store that CDF (a step CDF over the distinct values when there are few, else quantiles).
    """

    column: str
    spikes: np.ndarray
    levels: np.ndarray | None
    knots: np.ndarray | None
    step: bool
    dim: int | None
    is_datetime: bool
    tz: Any

    @property
    def n_codes(self) -> int:
        return len(self.spikes) + (self.dim is not None) + 1

    def decode(self, codes: np.ndarray, z: np.ndarray) -> pd.Series:
        values = np.full(len(codes), np.nan)
        on_spike = codes < len(self.spikes)
        values[on_spike] = self.spikes[codes[on_spike]]
        if self.dim is not None:
            continuous = codes == len(self.spikes)
            values[continuous] = self._inverse(z[continuous, self.dim])
        if not self.is_datetime:
            return pd.Series(values)
        stamps = pd.to_datetime(pd.Series(values), unit="s")
        return stamps.dt.tz_localize("UTC").dt.tz_convert(self.tz) if self.tz else stamps

    def _inverse(self, z: np.ndarray) -> np.ndarray:
        u = ndtr(z)
        if self.step:
            index = np.searchsorted(self.levels, u, side="right")
            return self.knots[np.minimum(index, len(self.knots) - 1)]
        return np.interp(u, self.levels, self.knots)


def _numeric_values(values: pd.Series, is_datetime: bool) -> tuple[np.ndarray, Any]:
    """Float values (epoch seconds for datetimes), NaN where missing, and the time zone."""
    if not is_datetime:
        return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan), None
    stamps = pd.to_datetime(values, errors="coerce")
    tz = stamps.dt.tz
    if tz is not None:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    seconds = (stamps - pd.Timestamp(0)) / pd.Timedelta(seconds=1)
    return seconds.to_numpy(dtype=float, na_value=np.nan), tz


def _build_numeric(
    name: str, values: np.ndarray, settings: dict[str, Any], rng: np.random.Generator, dim: int,
    is_datetime: bool, tz: Any, all_discrete: bool,
) -> tuple[_NumericCodec, np.ndarray, np.ndarray]:
    """Codec plus the rows' codes and rank-Gaussian values (NaN off the continuous part)."""
    present = values[~np.isnan(values)]
    distinct, counts = np.unique(present, return_counts=True)
    if all_discrete or len(distinct) <= settings["discrete_max"]:
        spikes = distinct
    else:
        spikes = distinct[counts >= settings["spike_share"] * len(values)]
    rest_mask = ~np.isnan(values) & ~np.isin(values, spikes)
    rest = values[rest_mask]
    codec = _NumericCodec(name, spikes, None, None, False, None, is_datetime, tz)
    codes = np.full(len(values), len(spikes), dtype=np.int64)
    on_spike = np.isin(values, spikes)
    codes[on_spike] = np.searchsorted(spikes, values[on_spike])
    z = np.full(len(values), np.nan)
    if len(rest):
        codec.dim = dim
        codec.levels, codec.knots, codec.step = _cdf_knots(rest)
        z[rest_mask] = _rank_gaussian(rest, rng)
    codes[np.isnan(values)] = codec.n_codes - 1
    return codec, codes, z


def _cdf_knots(rest: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    distinct, counts = np.unique(rest, return_counts=True)
    if len(distinct) <= MAX_KNOTS:
        # few values: keep them exactly (a quasi-discrete column never invents new values)
        return np.cumsum(counts) / len(rest), distinct, True
    levels = np.linspace(0.0, 1.0, MAX_KNOTS + 1)
    return levels, np.quantile(rest, levels), False


def _rank_gaussian(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Normal scores of the ranks; ties broken at random so a tied block spreads evenly."""
    order = np.lexsort((rng.random(len(values)), values))
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values))
    return ndtri((ranks + 0.5) / len(values))


@dataclass
class _Encoding:
    codecs: list[_CategoricalCodec | _NumericCodec]
    placeholders: list[str]  # dependency targets: not modelled, postprocess rewrites them
    columns: list[str]  # the modelled columns, in the order the model returns them
    offsets: np.ndarray  # where each discrete variable starts in the one-hot layout
    prior: np.ndarray  # marginal frequency of every code (one-hot layout)
    n_dims: int


def _encode(
    train: pd.DataFrame, schema: DatasetSchema, settings: dict[str, Any], rng: np.random.Generator
) -> tuple[_Encoding, np.ndarray, np.ndarray]:
    """Codecs for the modelled columns, the (n, V) code matrix and the (n, D) continuous part."""
    placeholders = _placeholder_columns(schema, list(train.columns))
    # a dependency source is kept fully discrete so conditions on its target map to codes
    sources = {d.source for d in schema.dependencies}
    codecs, codes, dims = [], [], []
    for name in train.columns:
        if name in placeholders:
            continue
        spec = schema.column(name)
        if spec.role in (Role.numerical, Role.datetime):
            is_datetime = spec.role == Role.datetime
            values, tz = _numeric_values(train[name], is_datetime)
            codec, column_codes, z = _build_numeric(
                name, values, settings, rng, len(dims), is_datetime, tz, name in sources
            )
            if codec.dim is not None:
                dims.append(z)
        elif spec.role == Role.categorical:
            codec = _CategoricalCodec(name, list(spec.categories or []))
            column_codes = codec.encode(train[name])
        elif spec.role == Role.boolean:
            codec = _CategoricalCodec(name, [False, True])
            column_codes = codec.encode(train[name])
        else:
            raise PipelineError(
                f"the gmm model cannot model column {name!r} with role {spec.role.value!r}"
            )
        codecs.append(codec)
        codes.append(column_codes)
    n = len(train)
    code_matrix = np.stack(codes, axis=1) if codes else np.zeros((n, 0), dtype=np.int64)
    z_matrix = np.stack(dims, axis=1) if dims else np.zeros((n, 0))
    offsets = np.concatenate([[0], np.cumsum([c.n_codes for c in codecs])]).astype(np.int64)
    prior = np.asarray(_one_hot(code_matrix, offsets).mean(axis=0)).ravel()
    encoding = _Encoding(codecs, placeholders, list(train.columns), offsets, prior, len(dims))
    return encoding, code_matrix, z_matrix


def _placeholder_columns(schema: DatasetSchema, columns: list[str]) -> list[str]:
    """Dependency targets the postprocess rewrites from their source: modelling them adds
    parameters and nothing else. A target that is itself a source stays modelled (chains)."""
    sources = {d.source for d in schema.dependencies}
    return [
        d.target
        for d in schema.dependencies
        if d.source in columns and d.target in columns and d.target not in sources
    ]


def _one_hot(codes: np.ndarray, offsets: np.ndarray) -> sparse.csr_matrix:
    n, v = codes.shape
    columns = (codes + offsets[:-1]).ravel()
    rows = np.repeat(np.arange(n), v)
    return sparse.csr_matrix((np.ones(n * v), (rows, columns)), shape=(n, int(offsets[-1])))


# --- EM -----------------------------------------------------------------------------------------
@dataclass
class _Pattern:
    """A run of rows sharing which continuous dimensions they observe (`obs`) and lack."""

    start: int
    stop: int
    obs: np.ndarray
    miss: np.ndarray
    x: np.ndarray  # observed values (rows, d_o)
    features: np.ndarray  # [1, x, vec(x x^T)] per row: sufficient statistics, (rows, 1+d_o+d_o^2)


@dataclass
class _Batch:
    """Encoded rows ordered by missingness pattern, so each pattern is one slice."""

    one_hot: sparse.csr_matrix
    z: np.ndarray
    patterns: list[_Pattern]

    @property
    def n_rows(self) -> int:
        return self.one_hot.shape[0]

    @property
    def n_dims(self) -> int:
        return self.z.shape[1]


def _batch(codes: np.ndarray, z: np.ndarray, offsets: np.ndarray) -> _Batch:
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
            _Pattern(int(bounds[i]), int(bounds[i + 1]), obs, np.flatnonzero(~kind), x, features)
        )
    return _Batch(_one_hot(codes, offsets), z, patterns)


@dataclass
class _Mixture:
    weights: np.ndarray  # (K,)
    theta: np.ndarray  # (K, C): per component, every discrete variable's probabilities
    mean: np.ndarray  # (K, D)
    cov: np.ndarray  # (K, D, D)

    @property
    def n_components(self) -> int:
        return len(self.weights)


def _safe_log(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.maximum(np.log(p), LOG_ZERO)


def _log_density(pattern: _Pattern, mix: _Mixture) -> np.ndarray:
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


def _e_step(
    batch: _Batch, mix: _Mixture, want_stats: bool
) -> tuple[float, np.ndarray, list[np.ndarray]]:
    """Total log-likelihood; if asked, responsibilities and each pattern's r-weighted features."""
    log_joint = batch.one_hot @ _safe_log(mix.theta).T + _safe_log(mix.weights)
    total, stats = 0.0, []
    for pattern in batch.patterns:
        block = log_joint[pattern.start : pattern.stop]
        if len(pattern.obs):
            block += _log_density(pattern, mix)
        top = block.max(axis=1, keepdims=True)
        np.subtract(block, top, out=block)
        np.exp(block, out=block)  # the buffer becomes unnormalised responsibilities
        norm = block.sum(axis=1, keepdims=True)
        total += float(np.log(norm).sum() + top.sum())
        if want_stats:
            block /= norm
            stats.append(block.T @ pattern.features)
    return total, log_joint, stats


def _gaussian_sums(
    batch: _Batch, mix: _Mixture, stats: list[np.ndarray]
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
            s2[:, m[:, None], m[None, :]] += nk[:, None, None] * (cov_mm + _outer(mu_m, mu_m))
            continue
        mu_o = mix.mean[:, o]
        gain = mix.cov[:, m[:, None], o[None, :]] @ np.linalg.inv(mix.cov[:, o[:, None], o])
        cond_cov = cov_mm - gain @ mix.cov[:, o[:, None], m[None, :]]
        f = b - nk[:, None] * mu_o  # sum r (x - mu_o)
        e = c - _outer(b, mu_o) - _outer(mu_o, b) + nk[:, None, None] * _outer(mu_o, mu_o)
        gf = np.einsum("kmo,ko->km", gain, f)
        s1[:, m] += nk[:, None] * mu_m + gf
        cross = _outer(b, mu_m) + (c - _outer(b, mu_o)) @ gain.transpose(0, 2, 1)
        s2[:, o[:, None], m[None, :]] += cross
        s2[:, m[:, None], o[None, :]] += cross.transpose(0, 2, 1)
        s2[:, m[:, None], m[None, :]] += (
            nk[:, None, None] * (_outer(mu_m, mu_m) + cond_cov)
            + _outer(mu_m, gf) + _outer(gf, mu_m)
            + gain @ e @ gain.transpose(0, 2, 1)
        )
    return s1, s2


def _outer(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a[:, :, None] * b[:, None, :]


def _m_step(
    batch: _Batch, resp: np.ndarray, stats: list[np.ndarray], old: _Mixture, prior: np.ndarray,
    settings: dict[str, Any],
) -> _Mixture:
    nk = resp.sum(axis=0)
    counts = np.asarray(batch.one_hot.T @ resp).T
    s1, s2 = _gaussian_sums(batch, old, stats)
    safe = np.where(nk < 1e-6, 1.0, nk)
    mean = s1 / safe[:, None]
    cov = s2 / safe[:, None, None] - _outer(mean, mean)
    return _assemble(nk, counts, mean, cov, prior, settings)


def _assemble(
    nk: np.ndarray, counts: np.ndarray, mean: np.ndarray, cov: np.ndarray, prior: np.ndarray,
    settings: dict[str, Any],
) -> _Mixture:
    alpha, d = settings["smoothing"], mean.shape[1]
    theta = (counts + alpha * prior) / (nk + alpha)[:, None]
    cov = 0.5 * (cov + cov.transpose(0, 2, 1)) + settings["reg_covar"] * np.eye(d)
    # an emptied component keeps harmless parameters and weight exactly 0: it is never drawn
    dead = nk < 1e-6
    mean[dead], cov[dead], theta[dead] = 0.0, np.eye(d), prior
    weights = np.where(dead, 0.0, nk) / nk.sum()
    return _Mixture(weights, theta, mean, cov)


def _run_em(
    batch: _Batch, mix: _Mixture, prior: np.ndarray, settings: dict[str, Any], max_iter: int,
    label: str,
) -> tuple[_Mixture, list[dict[str, float]]]:
    history: list[dict[str, float]] = []
    previous = -np.inf
    for iteration in range(1, max_iter + 1):
        total, resp, stats = _e_step(batch, mix, want_stats=True)
        mean_ll = total / batch.n_rows
        history.append({"iteration": iteration, "log_likelihood": mean_ll})
        level = logging.INFO if iteration % 10 == 0 else logging.DEBUG
        logger.log(level, "%s: iteration %d, mean log-likelihood %.4f", label, iteration, mean_ll)
        mix = _m_step(batch, resp, stats, mix, prior, settings)
        if mean_ll - previous < settings["tol"]:
            break
        previous = mean_ll
    logger.info(
        "%s: %d components, %d EM iterations, mean log-likelihood %.4f",
        label, mix.n_components, len(history), history[-1]["log_likelihood"],
    )
    return mix, history


def _initial_mixture(
    batch: _Batch, k: int, prior: np.ndarray, settings: dict[str, Any], rng: np.random.Generator
) -> _Mixture:
    """k-means on [one-hot, continuous] gives hard assignments; each component starts with its
    rows' category frequencies and per-dimension means and variances (no correlation yet)."""
    observed = ~np.isnan(batch.z)
    filled = np.where(observed, batch.z, 0.0)
    embedding = sparse.hstack([batch.one_hot, sparse.csr_matrix(filled)]).tocsr()
    labels = _kmeans(embedding, k, rng)
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
    return _assemble(nk, counts, mean, cov, prior, settings)


def _kmeans(x: sparse.csr_matrix, k: int, rng: np.random.Generator, n_iter: int = 8) -> np.ndarray:
    n = x.shape[0]
    sample = rng.choice(n, size=min(n, 20 * k + 500), replace=False)
    centers = _kmeans_plus_plus(x[sample].toarray(), k, rng)
    squared = np.asarray(x.multiply(x).sum(axis=1)).ravel()
    for _ in range(n_iter):
        distance = squared[:, None] - 2.0 * (x @ centers.T) + (centers * centers).sum(axis=1)
        labels = distance.argmin(axis=1)
        assign = sparse.csr_matrix((np.ones(n), (labels, np.arange(n))), shape=(k, n))
        counts = np.bincount(labels, minlength=k)
        sums = np.asarray((assign @ x).todense())
        filled = counts > 0
        centers[filled] = sums[filled] / counts[filled, None]
    return labels


def _kmeans_plus_plus(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    centers = np.empty((k, x.shape[1]))
    centers[0] = x[rng.integers(len(x))]
    closest = ((x - centers[0]) ** 2).sum(axis=1)
    for j in range(1, k):
        total = closest.sum()
        pick = rng.choice(len(x), p=closest / total) if total > 0 else rng.integers(len(x))
        centers[j] = x[pick]
        closest = np.minimum(closest, ((x - centers[j]) ** 2).sum(axis=1))
    return centers


# --- the synthesizer ----------------------------------------------------------------------------
class GaussianMixtureModel(Synthesizer):
    """Mixture of (categorical x full-covariance Gaussian) components with exact conditioning.

    Parameters: `pipeline.models.params.GaussianMixtureParams`.
    """

    name: ClassVar[str] = "gmm"

    def _fit(self, train: pd.DataFrame, schema: DatasetSchema, seed: int) -> None:
        settings = self._settings()
        rng = np.random.default_rng(seed)
        encoding, codes, z = _encode(train, schema, settings, rng)
        if settings["n_components"] is None:
            k, mix, self.selection = self._select(encoding, codes, z, settings, rng)
            mix, history = _run_em(
                _batch(codes, z, encoding.offsets), mix, encoding.prior, settings,
                settings["max_iter"], "gmm final fit",
            )
        else:
            k, self.selection = settings["n_components"], []
            mix, history = self._fit_restarts(encoding, codes, z, k, settings, rng)
        self.n_components_ = k
        self.loss_history = history
        self._encoding, self._mixture = encoding, mix
        self._chol = np.linalg.cholesky(mix.cov)

    def _settings(self) -> dict[str, Any]:
        return self.settings.model_dump()

    def _fit_restarts(
        self, encoding: _Encoding, codes: np.ndarray, z: np.ndarray, k: int,
        settings: dict[str, Any], rng: np.random.Generator,
    ) -> tuple[_Mixture, list[dict[str, float]]]:
        batch = _batch(codes, z, encoding.offsets)
        best = None
        for attempt in range(settings["n_init"]):
            start = _initial_mixture(batch, k, encoding.prior, settings, rng)
            mix, history = _run_em(
                batch, start, encoding.prior, settings, settings["max_iter"],
                f"gmm fit (init {attempt + 1})",
            )
            if best is None or history[-1]["log_likelihood"] > best[1][-1]["log_likelihood"]:
                best = (mix, history)
        return best

    def _select(
        self, encoding: _Encoding, codes: np.ndarray, z: np.ndarray, settings: dict[str, Any],
        rng: np.random.Generator,
    ) -> tuple[int, _Mixture, list[dict[str, float]]]:
        """Double the component count (1, 2, 4, ...) while held-out log-likelihood per row
        improves by at least selection_min_gain; keep the best. The threshold stops paying
        twice the fit and sampling cost for a gain no quality metric notices."""
        order = rng.permutation(len(codes))
        n_val = int(round(len(codes) * settings["validation_share"]))
        val, fit = order[:n_val], order[n_val:]
        fit_batch = _batch(codes[fit], z[fit], encoding.offsets)
        val_batch = _batch(codes[val], z[val], encoding.offsets)
        limit = max(1, min(settings["max_components"], len(fit) // MIN_ROWS_PER_COMPONENT))
        candidates = [2**i for i in range(int(np.log2(limit)) + 1)]
        if n_val == 0:
            candidates = [1]
        scores: list[dict[str, float]] = []
        best = None
        for k in candidates:
            start = _initial_mixture(fit_batch, k, encoding.prior, settings, rng)
            mix, _ = _run_em(
                fit_batch, start, encoding.prior, settings, settings["selection_max_iter"],
                f"gmm selection k={k}",
            )
            held_out = _e_step(val_batch, mix, want_stats=False)[0] / max(n_val, 1)
            scores.append({"n_components": k, "validation_log_likelihood": held_out})
            logger.info("gmm selection: %d components, held-out log-likelihood %.4f", k, held_out)
            gain = held_out - best[2] if best else np.inf
            if gain > 0:
                best = (k, mix, held_out)
            if gain < settings["selection_min_gain"]:
                break
        logger.info("gmm selection chose %d components", best[0])
        return best[0], best[1], scores

    # --- sampling ------------------------------------------------------------------------------
    def _sample(self, n: int, rng: np.random.Generator, conditions: dict[str, Any]) -> pd.DataFrame:
        encoding, mix = self._encoding, self._mixture
        allowed = self._allowed_codes(conditions)
        log_w = _safe_log(mix.weights)
        for v, codes in allowed.items():
            start = encoding.offsets[v]
            log_w = log_w + _safe_log(mix.theta[:, start + codes].sum(axis=1))
        total = logsumexp(log_w)
        if total < np.log(MIN_CONDITION_PROBABILITY):
            raise PipelineError(
                f"conditions {conditions} have zero probability under the fitted gmm model "
                "(that value or combination never occurs in the training data); "
                "relax or change the conditions"
            )
        components = rng.choice(mix.n_components, size=n, p=np.exp(log_w - total))
        out = {}
        z = self._draw_continuous(components, rng)
        for v, codec in enumerate(encoding.codecs):
            # per component, not per row: a condition's mask is the same for every row
            probs = mix.theta[:, encoding.offsets[v] : encoding.offsets[v + 1]]
            if v in allowed:
                mask = np.zeros(codec.n_codes, dtype=bool)
                mask[allowed[v]] = True
                probs = probs * mask
            codes = _draw_categorical(probs, components, rng)
            if isinstance(codec, _NumericCodec):
                out[codec.column] = codec.decode(codes, z)
            else:
                out[codec.column] = codec.decode(codes)
        for name in encoding.placeholders:
            out[name] = pd.Series([None] * n, dtype=object)
        return pd.DataFrame(out, index=pd.RangeIndex(n))[encoding.columns]

    def _draw_continuous(self, components: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        mix = self._mixture
        noise = rng.standard_normal((len(components), mix.mean.shape[1]))
        return mix.mean[components] + np.einsum("nij,nj->ni", self._chol[components], noise)

    def _allowed_codes(self, conditions: dict[str, Any]) -> dict[int, np.ndarray]:
        """Condition values as allowed codes per discrete variable; a condition on a dependency
        target also restricts its source to the values that map onto it."""
        allowed_values: dict[str, set[str]] = {c: {str(v)} for c, v in conditions.items()}
        for dep in reversed(self.schema.dependencies):
            if dep.target in allowed_values:
                targets = allowed_values[dep.target]
                sources = {s for s, t in dep.mapping.items() if str(t) in targets}
                previous = allowed_values.get(dep.source)
                allowed_values[dep.source] = sources if previous is None else previous & sources
        allowed: dict[int, np.ndarray] = {}
        for v, codec in enumerate(self._encoding.codecs):
            if codec.column in allowed_values:
                allowed[v] = _matching_codes(codec, allowed_values[codec.column])
        return allowed


def _matching_codes(codec: _CategoricalCodec | _NumericCodec, wanted: set[str]) -> np.ndarray:
    if isinstance(codec, _CategoricalCodec):
        hits = [i for i, label in enumerate(codec.labels) if str(label) in wanted]
    else:  # a numeric dependency source: fully discrete, its spikes are all its values
        numbers = {float(w) for w in wanted}
        hits = [i for i, value in enumerate(codec.spikes) if float(value) in numbers]
    return np.array(hits, dtype=np.int64)


def _draw_categorical(
    probs: np.ndarray, components: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """One draw per row from its component's unnormalised probabilities `probs` (K, C).

    Why not a cumulative sum per row: that is an (n, C) array per column and was a third of
    sampling time. Instead each component's normalised CDF is shifted by its component number,
    so one searchsorted over the concatenated CDFs finds every row's code at once.
    """
    n_components, n_codes = probs.shape
    totals = probs.sum(axis=1, keepdims=True)
    cdf = np.minimum(np.cumsum(probs / np.where(totals > 0, totals, 1.0), axis=1), 1.0)
    cdf[:, -1] = 1.0  # keeps the shifted CDFs non-decreasing, as searchsorted needs
    shifted = (cdf + np.arange(n_components)[:, None]).ravel()
    u = rng.random(len(components))
    codes = np.searchsorted(shifted, components + u, side="right") - components * n_codes
    # rounding can leave a CDF just under 1: fall back to the component's last code with weight
    last = n_codes - 1 - np.argmax(probs[:, ::-1] > 0, axis=1)
    return np.clip(codes, 0, last[components])
