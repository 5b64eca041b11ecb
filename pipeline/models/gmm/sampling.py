"""Sampling a fitted mixture, optionally under conditions on discrete columns.

Given its component every variable is independent, so a condition is exact: reweight the
components by the probability of the condition under each, restrict the conditioned variables
to the allowed codes, and draw everything else given the component as usual.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.special import logsumexp

from pipeline.errors import PipelineError
from pipeline.models.gmm.em import safe_log
from pipeline.models.gmm.encoding import CategoricalCodec, Codec, Encoding, NumericCodec
from pipeline.models.gmm.fitted import FittedMixture
from pipeline.schema import Dependency

# A condition less likely than this under the model is treated as impossible.
MIN_CONDITION_PROBABILITY = 1e-12


def sample(
    fitted: FittedMixture, n: int, rng: np.random.Generator, conditions: dict[str, Any],
    dependencies: list[Dependency],
) -> pd.DataFrame:
    """n rows of the modelled columns (placeholders empty) that satisfy `conditions`."""
    encoding, mix = fitted.encoding, fitted.mixture
    allowed = allowed_codes(encoding, conditions, dependencies)
    components = rng.choice(
        mix.n_components, size=n, p=component_probabilities(fitted, allowed, conditions)
    )
    out = {}
    groups = by_component(components, mix.n_components)
    z = draw_continuous(fitted, groups, rng)
    for v, codec in enumerate(encoding.codecs):
        # per component, not per row: a condition's mask is the same for every row
        probs = mix.theta[:, encoding.offsets[v] : encoding.offsets[v + 1]]
        if v in allowed:
            mask = np.zeros(codec.n_codes, dtype=bool)
            mask[allowed[v]] = True
            probs = probs * mask
        codes = draw_categorical(probs, components, groups, rng)
        if isinstance(codec, NumericCodec):
            out[codec.column] = codec.decode(codes, z)
        else:
            out[codec.column] = codec.decode(codes)
    for name in encoding.placeholders:
        out[name] = pd.Series(np.full(n, None, dtype=object))
    return pd.DataFrame(out, index=pd.RangeIndex(n))[encoding.columns]


def component_probabilities(
    fitted: FittedMixture, allowed: dict[int, np.ndarray], conditions: dict[str, Any]
) -> np.ndarray:
    """P(k | conditions); refuses conditions the model gives (almost) no probability."""
    encoding, mix = fitted.encoding, fitted.mixture
    log_w = safe_log(mix.weights)
    for v, codes in allowed.items():
        start = encoding.offsets[v]
        log_w = log_w + safe_log(mix.theta[:, start + codes].sum(axis=1))
    total = logsumexp(log_w)
    if total < np.log(MIN_CONDITION_PROBABILITY):
        raise PipelineError(
            f"conditions {conditions} have zero probability under the fitted gmm model "
            "(that value or combination never occurs in the training data); "
            "relax or change the conditions"
        )
    return np.exp(log_w - total)


def by_component(components: np.ndarray, n_components: int) -> list[tuple[int, np.ndarray]]:
    """(component, its rows) for each component some row draws."""
    order = np.argsort(components, kind="stable")
    starts = np.searchsorted(components[order], np.arange(n_components + 1))
    return [(int(k), order[starts[k] : starts[k + 1]]) for k in np.flatnonzero(np.diff(starts))]


def draw_continuous(
    fitted: FittedMixture, groups: list[tuple[int, np.ndarray]], rng: np.random.Generator
) -> np.ndarray:
    """Each row's Gaussian draw from its component: one product per component, since
    gathering a (rows, D, D) stack of Cholesky factors costs D times the draws on a wide
    table."""
    mix = fitted.mixture
    noise = rng.standard_normal((sum(len(rows) for _, rows in groups), mix.mean.shape[1]))
    out = np.empty_like(noise)
    for k, rows in groups:
        out[rows] = mix.mean[k] + noise[rows] @ fitted.chol[k].T
    return out


def allowed_codes(
    encoding: Encoding, conditions: dict[str, Any], dependencies: list[Dependency]
) -> dict[int, np.ndarray]:
    """Condition values as allowed codes per discrete variable; a condition on a dependency
    target also restricts its source to the values that map onto it."""
    allowed_values: dict[str, set[str]] = {c: {str(v)} for c, v in conditions.items()}
    for dep in reversed(dependencies):
        if dep.target in allowed_values:
            targets = allowed_values[dep.target]
            sources = {s for s, t in dep.mapping.items() if str(t) in targets}
            previous = allowed_values.get(dep.source)
            allowed_values[dep.source] = sources if previous is None else previous & sources
    allowed: dict[int, np.ndarray] = {}
    for v, codec in enumerate(encoding.codecs):
        if codec.column in allowed_values:
            allowed[v] = matching_codes(codec, allowed_values[codec.column])
    return allowed


def matching_codes(codec: Codec, wanted: set[str]) -> np.ndarray:
    if isinstance(codec, CategoricalCodec):
        hits = [i for i, label in enumerate(codec.labels) if str(label) in wanted]
    else:  # a numeric dependency source: fully discrete, its spikes are all its values
        numbers = {float(w) for w in wanted}
        hits = [i for i, value in enumerate(codec.spikes) if float(value) in numbers]
    return np.array(hits, dtype=np.int64)


def draw_categorical(
    probs: np.ndarray, components: np.ndarray, groups: list[tuple[int, np.ndarray]],
    rng: np.random.Generator,
) -> np.ndarray:
    """One draw per row from its component's unnormalised probabilities `probs` (K, C): a
    uniform per row, searched in its component's CDF, one search per component over its
    rows (a search of all rows in the components' CDFs laid end to end missed the cache on
    every step)."""
    n_codes = probs.shape[1]
    totals = probs.sum(axis=1, keepdims=True)
    cdf = np.minimum(np.cumsum(probs / np.where(totals > 0, totals, 1.0), axis=1), 1.0)
    cdf[:, -1] = 1.0
    u = rng.random(len(components))
    codes = np.empty(len(components), dtype=np.int64)
    for k, rows in groups:
        codes[rows] = np.searchsorted(cdf[k], u[rows], side="right")
    last = n_codes - 1 - np.argmax(probs[:, ::-1] > 0, axis=1)
    return np.clip(codes, 0, last[components])
