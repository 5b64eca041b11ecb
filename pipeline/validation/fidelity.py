"""Fidelity metrics: how closely synthetic rows follow the real data's distributions.

`column_shapes` and `column_pair_trends` reproduce SDMetrics 0.32's QualityReport properties
(same per-column / per-pair metrics, missing-value handling, binning and averaging rules), but
vectorised over all columns and pairs; the test suite checks them against SDMetrics itself.
Differences, on purpose: no random 50,000-row subsample for contingency tables (we use all rows,
which is exact and deterministic), and no 1e-6 regulariser in the total-variation sum.
Beside SDMetrics' Column Pair Trends, `score_beyond_chance` counts a contingency pair only
when its association survives the bias correction of Cramér's V (Bergsma 2013): hundreds of
categories, or a small table, give independent columns a V above SDMetrics' 0.3 (a diagnosis
code against anything), and such sparse pairs score low whatever the model does. It also bins
a continuous column on the real data's bins for both frames (as SDMetrics' own
ContingencySimilarity metric does), where the QualityReport bins each frame over its own range:
there one real outlier the synthetic rows rightly lack (Guam's longitude among US airports)
moves every synthetic bin, and the pair scores near 0 however well the rest is kept. And it
counts only the distance beyond sampling noise: two honest samples of 96 rows differ on a
60-cell table by a total variation near 0.3, which alone fails a 0.8 bar; the noise expected
for the two tables' sizes (`chance_total_variation`) is taken off. The gate reads that score;
SDMetrics' stays the one compared with other tools. Past MAX_COMPARED_PAIRS pairs (a table
of 200+ columns) a seeded sample of the pairs is scored.
The classifier-based metrics (detection, ML utility) are in `classifiers.py`.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import numpy as np
import pandas as pd

from pipeline.schema import DatasetSchema
from pipeline.validation.classifiers import detection_auc, ml_utility
from pipeline.validation.encoding import (
    CONTINUOUS,
    column_values,
    compared_columns,
    discrete_codes,
)
from pipeline.validation.similarity import finite_mean, ks_complement, tv_complement

__all__ = [
    "column_pair_trends", "column_shapes", "detection_auc", "fidelity_metrics",
    "ks_complement", "ml_utility", "tv_complement",
]

# QualityReport's defaults in SDMetrics 0.32: a pair only counts towards the Column Pair Trends
# score if the real data shows a relationship worth preserving.
REAL_CORRELATION_THRESHOLD = 0.5
REAL_ASSOCIATION_THRESHOLD = 0.3
HISTOGRAM_BINS = 10
# Column pairs scored at most; a wider table is scored on a seeded sample of its pairs.
MAX_COMPARED_PAIRS = 20_000


# --- column shapes -------------------------------------------------------------------------
def column_shapes(real: pd.DataFrame, synthetic: pd.DataFrame, schema: DatasetSchema) -> dict:
    """Per-column marginal similarity: KS complement (numbers, datetimes), TV complement
    (categories, booleans); `score` is their mean, as in SDMetrics' Column Shapes property."""
    columns = compared_columns(schema, real, synthetic)
    details: dict[str, dict[str, Any]] = {}
    for name in columns:
        if schema.column(name).role in CONTINUOUS:
            score = ks_complement(column_values(real[name]), column_values(synthetic[name]))
            details[name] = {"metric": "KSComplement", "score": score}
        else:
            (r, s), size = discrete_codes(real[name], synthetic[name])
            details[name] = {"metric": "TVComplement", "score": tv_complement(r, s, size, size - 1)}
    scores = np.array([d["score"] for d in details.values()], dtype=float)
    return {
        "score": finite_mean(scores),
        "min": float(np.nanmin(scores)) if np.isfinite(scores).any() else float("nan"),
        "columns": details,
    }


# --- column pair trends --------------------------------------------------------------------
def _from_lowest(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Values measured from the reference's lowest: dates as nanoseconds (~1e18) have float
    steps of 128, too coarse for numpy to widen a one-value range into bins."""
    finite = reference[np.isfinite(reference)]
    return values - finite.min() if len(finite) else values


def _histogram_edges(values: np.ndarray) -> np.ndarray:
    """SDMetrics' 10 equal-width bins over the values' range."""
    return np.histogram_bin_edges(values[~np.isnan(values)], bins=HISTOGRAM_BINS)


def _histogram_codes(values: np.ndarray) -> np.ndarray:
    """SDMetrics' QualityReport discretisation of a continuous column for mixed pairs: bins
    over the frame's *own* range, np.digitize codes (the maximum and NaN share the last code)."""
    values = _from_lowest(values, values)
    return np.digitize(values, _histogram_edges(values))


def _codes_on_real_bins(real: np.ndarray, synthetic: np.ndarray) -> tuple[np.ndarray, ...]:
    """Both frames' codes on the real values' bins, open at both ends (values beyond the real
    range fall in the end bins; NaN has its own code), as SDMetrics' ContingencySimilarity."""
    real, synthetic = _from_lowest(real, real), _from_lowest(synthetic, real)
    edges = _histogram_edges(real)
    edges[0], edges[-1] = -np.inf, np.inf
    return np.digitize(real, edges), np.digitize(synthetic, edges)


def _pair_inputs(real: pd.DataFrame, synthetic: pd.DataFrame, schema, columns) -> dict:
    """Per column: continuous values, and discrete codes (categories, or histogram bins)."""
    out = {}
    for name in columns:
        if schema.column(name).role in CONTINUOUS:
            r, s = column_values(real[name]), column_values(synthetic[name])
            real_binned, synthetic_binned = _codes_on_real_bins(r, s)
            out[name] = {
                "continuous": True, "real": r, "synthetic": s,
                "real_codes": _histogram_codes(r), "synthetic_codes": _histogram_codes(s),
                "real_binned": real_binned, "synthetic_binned": synthetic_binned,
                "size": HISTOGRAM_BINS + 2,
            }
        else:
            (r, s), size = discrete_codes(real[name], synthetic[name])
            out[name] = {"continuous": False, "real_codes": r, "synthetic_codes": s, "size": size,
                         "real_binned": r, "synthetic_binned": s}
    return out


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation on rows where both are present, NaN if undefined."""
    both = ~(np.isnan(x) | np.isnan(y))
    if both.sum() < 2:
        return float("nan")
    # A column constant on the shared rows has no correlation: NaN, without a warning.
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.corrcoef(x[both], y[both])[0, 1])


def _is_constant(values: np.ndarray) -> bool:
    present = values[~np.isnan(values)]
    return len(present) > 0 and bool(np.all(present == present[0]))


def _correlation_pair(a: dict, b: dict) -> dict:
    if any(_is_constant(v[side]) for v in (a, b) for side in ("real", "synthetic")):
        # SDMetrics refuses constant columns (correlation is undefined); the pair is left out.
        return {"score": float("nan"), "real_correlation": float("nan"),
                "synthetic_correlation": float("nan"), "meets_threshold": False}
    r_real = _pearson(a["real"], b["real"])
    r_syn = _pearson(a["synthetic"], b["synthetic"])
    score = 1 - abs(r_real - r_syn) / 2 if np.isfinite(r_real) and np.isfinite(r_syn) else np.nan
    return {
        "score": float(score), "real_correlation": r_real, "synthetic_correlation": r_syn,
        "meets_threshold": bool(np.isfinite(r_real) and abs(r_real) > REAL_CORRELATION_THRESHOLD),
    }


def _cramers_v(counts: np.ndarray) -> tuple[float, float]:
    """Cramér's V of the observed (non-empty rows and columns of a) contingency table, and
    its bias-corrected value (Bergsma 2013), which is near 0 for independent columns
    however many values they have."""
    from scipy.stats.contingency import association

    counts = counts[counts.sum(axis=1) > 0][:, counts.sum(axis=0) > 0]
    n = counts.sum()
    if n < 2 or min(counts.shape) < 2:
        return float("nan"), float("nan")
    v = float(association(counts, method="cramer", correction=False))
    (r, k), excess = counts.shape, (counts.shape[0] - 1) * (counts.shape[1] - 1) / (n - 1)
    phi2 = max(0.0, v * v * (min(r, k) - 1) - excess)
    kept = min(r - (r - 1) ** 2 / (n - 1), k - (k - 1) ** 2 / (n - 1)) - 1
    return v, float(np.sqrt(phi2 / kept)) if kept > 0 else float("nan")


def _joint_counts(a: dict, b: dict, side: str) -> np.ndarray:
    joint = a[side].astype("int64") * b["size"] + b[side]
    return np.bincount(joint, minlength=a["size"] * b["size"])


def _total_variation_complement(real_counts: np.ndarray, syn_counts: np.ndarray) -> float:
    return float(1 - 0.5 * np.abs(real_counts / real_counts.sum()
                                  - syn_counts / syn_counts.sum()).sum())


def chance_total_variation(real_counts: np.ndarray, n_synthetic: int) -> float:
    """The total variation expected between a real joint table and an independent sample of
    `n_synthetic` rows from the same distribution, both tables' sampling noise counted: each
    cell's difference taken as normal, E|d| = sd * sqrt(2 / pi) (it matches multinomial
    draws to the third decimal, from 96 rows on a 60-cell table to 20,000)."""
    n = real_counts.sum()
    if n == 0 or n_synthetic == 0:
        return 0.0
    p = real_counts / n
    sd = np.sqrt(p * (1 - p) * (1 / n + 1 / n_synthetic))
    return float(0.5 * np.sqrt(2 / np.pi) * sd.sum())


def _contingency_pair(a: dict, b: dict) -> dict:
    real_counts, real_binned = _joint_counts(a, b, "real_codes"), _joint_counts(a, b, "real_binned")
    association, corrected = _cramers_v(real_counts.reshape(a["size"], b["size"]))
    on_real_bins = _total_variation_complement(
        real_binned, _joint_counts(a, b, "synthetic_binned"))
    noise = chance_total_variation(real_binned, len(b["synthetic_binned"]))
    return {
        "score": _total_variation_complement(
            real_counts, _joint_counts(a, b, "synthetic_codes")),
        "score_real_bins": on_real_bins,
        # the distance beyond what an honest sample of this size would show by chance
        "score_beyond_noise": min(1.0, on_real_bins + noise),
        "real_association": association,
        "real_association_corrected": corrected,
        "meets_threshold": bool(np.isfinite(association)
                                and association > REAL_ASSOCIATION_THRESHOLD),
        "beyond_chance": bool(corrected > REAL_ASSOCIATION_THRESHOLD),
    }


def _pair_sample(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Every pair, or a seeded sample of MAX_COMPARED_PAIRS of them: a table of 2,000 columns
    has two million pairs, which took longer to score than everything else in its run."""
    if len(pairs) <= MAX_COMPARED_PAIRS:
        return pairs
    chosen = np.random.default_rng(0).choice(len(pairs), MAX_COMPARED_PAIRS, replace=False)
    return [pairs[i] for i in np.sort(chosen)]


def column_pair_trends(
    real: pd.DataFrame, synthetic: pd.DataFrame, schema: DatasetSchema
) -> dict:
    """Similarity of every column pair's relationship, as SDMetrics' Column Pair Trends.

    Two continuous columns: correlation similarity, 1 - |Pearson(real) - Pearson(synthetic)| / 2.
    Otherwise: contingency similarity, 1 - total variation between the joint frequency tables
    (missing as a value; a continuous column binned into 10 bins of its own range).
    `score` averages the pairs where the real data has a relationship (|r| > 0.5, Cramér's
    V > 0.3), as QualityReport 0.32 does; `score_beyond_chance` those of them whose Cramér's V
    stays above 0.3 once corrected for the table's size, contingency tables on the real bins
    (`score_real_bins`) less the distance sampling noise alone would give tables of these
    sizes (`score_beyond_noise`; see the module's docstring);
    `score_all_pairs` every computable pair, as older SDMetrics versions (and SDGym) report it.
    """
    columns = compared_columns(schema, real, synthetic)
    inputs = _pair_inputs(real, synthetic, schema, columns)
    every_pair = list(itertools.combinations(columns, 2))
    compared = _pair_sample(every_pair)
    pairs = []
    for first, second in compared:
        a, b = inputs[first], inputs[second]
        if a["continuous"] and b["continuous"]:
            row = {"metric": "CorrelationSimilarity", **_correlation_pair(a, b)}
        else:
            row = {"metric": "ContingencySimilarity", **_contingency_pair(a, b)}
        pairs.append({"column_1": first, "column_2": second, **row})
    scores = np.array([p["score"] for p in pairs], dtype=float)
    meets = np.array([p["meets_threshold"] for p in pairs], dtype=bool)
    # a correlation pair has no small-sample excess to correct: it counts as it meets
    beyond = meets & np.array([p.get("beyond_chance", True) for p in pairs], dtype=bool)
    gated = np.array([p.get("score_beyond_noise", p["score"]) for p in pairs], dtype=float)
    return {
        "score": finite_mean(scores[meets]) if meets.any() else float("nan"),
        "score_beyond_chance": finite_mean(gated[beyond]) if beyond.any() else float("nan"),
        "score_all_pairs": finite_mean(scores),
        "n_pairs": len(pairs),
        "n_pairs_in_table": len(every_pair),  # more than n_pairs: a seeded sample was scored
        "n_pairs_scored": int((meets & np.isfinite(scores)).sum()),
        "real_correlation_threshold": REAL_CORRELATION_THRESHOLD,
        "real_association_threshold": REAL_ASSOCIATION_THRESHOLD,
        "pairs": pairs,
    }


# --- everything at once --------------------------------------------------------------------
def fidelity_metrics(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame | None,
    schema: DatasetSchema,
    *,
    target: str | None = None,
    seed: int = 0,
    details: dict | None = None,
) -> tuple[dict[str, float], dict[str, float]]:
    """Run every fidelity metric: (flat metric name -> value, metric -> seconds).

    `real` is the data the synthesizer was trained on; ML utility runs only when both a
    `holdout` and a `target` are given. Pass a dict as `details` to receive each metric's
    full result (per-column and per-pair scores) under its name.
    """
    values: dict[str, float] = {}
    seconds: dict[str, float] = {}
    details = {} if details is None else details

    def timed(group: str, fn, *args, **kwargs) -> dict:
        start = time.perf_counter()
        details[group] = result = fn(*args, **kwargs)
        seconds[group] = time.perf_counter() - start
        return result

    shapes = timed("column_shapes", column_shapes, real, synthetic, schema)
    trends = timed("column_pair_trends", column_pair_trends, real, synthetic, schema)
    detection = timed("detection", detection_auc, real, synthetic, schema, seed)
    values["column_shapes"] = shapes["score"]
    values["column_shapes_min"] = shapes["min"]
    values["column_pair_trends"] = trends["score"]
    values["column_pair_trends_all_pairs"] = trends["score_all_pairs"]
    values["column_pair_trends_beyond_chance"] = trends["score_beyond_chance"]
    values["quality_score"] = finite_mean(np.array([shapes["score"], trends["score"]]))
    values["detection_auc"] = detection["auc"]
    values["detection_score"] = detection["score"]
    if holdout is not None and target is not None:
        utility = timed("ml_utility", ml_utility, real, synthetic, holdout, schema, target, seed)
        values["ml_utility_real"] = utility["real"]
        values["ml_utility_synthetic"] = utility["synthetic"]
        values["ml_utility_gap"] = utility["gap"]
    return values, seconds
