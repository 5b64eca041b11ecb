"""Fidelity metrics: how closely synthetic rows follow the real data's distributions.

`column_shapes` and `column_pair_trends` reproduce SDMetrics 0.32's QualityReport properties
(same per-column / per-pair metrics, missing-value handling, binning and averaging rules), but
vectorised over all columns and pairs; the test suite checks them against SDMetrics itself.
Differences, on purpose: no random 50,000-row subsample for contingency tables (we use all rows,
which is exact and deterministic), and no 1e-6 regulariser in the total-variation sum.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import numpy as np
import pandas as pd

from pipeline.errors import PipelineError
from pipeline.schema import DatasetSchema, Role
from pipeline.validation.encoding import (
    CONTINUOUS,
    DISCRETE,
    ModelEncoder,
    column_values,
    compared_columns,
    discrete_codes,
)

# QualityReport's defaults in SDMetrics 0.32: a pair only counts towards the Column Pair Trends
# score if the real data shows a relationship worth preserving.
REAL_CORRELATION_THRESHOLD = 0.5
REAL_ASSOCIATION_THRESHOLD = 0.3
# SDMetrics rounds to the float's reliable digits before the KS test, so 0.1 + 0.2 == 0.3.
KS_DECIMALS = 14
HISTOGRAM_BINS = 10


# --- column shapes -------------------------------------------------------------------------
def ks_complement(real: np.ndarray, synthetic: np.ndarray) -> float:
    """1 - the two-sample Kolmogorov-Smirnov statistic on the non-missing values."""
    a = np.sort(np.round(real[~np.isnan(real)], KS_DECIMALS))
    b = np.sort(np.round(synthetic[~np.isnan(synthetic)], KS_DECIMALS))
    if len(a) == 0 or len(b) == 0:
        return float("nan")
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / len(a)
    cdf_b = np.searchsorted(b, grid, side="right") / len(b)
    return float(1.0 - np.max(np.abs(cdf_a - cdf_b)))


def tv_complement(real: np.ndarray, synthetic: np.ndarray, size: int, na_code: int) -> float:
    """1 - total variation distance between the category frequencies, missing values left out."""
    real, synthetic = real[real != na_code], synthetic[synthetic != na_code]
    if len(real) == 0 or len(synthetic) == 0:
        return float("nan")
    p = np.bincount(real, minlength=size) / len(real)
    q = np.bincount(synthetic, minlength=size) / len(synthetic)
    return float(1.0 - 0.5 * np.abs(p - q).sum())


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
        "score": _nanmean(scores),
        "min": float(np.nanmin(scores)) if np.isfinite(scores).any() else float("nan"),
        "columns": details,
    }


# --- column pair trends --------------------------------------------------------------------
def _histogram_codes(values: np.ndarray) -> np.ndarray:
    """SDMetrics' discretisation of a continuous column for mixed pairs: 10 equal-width bins
    over the frame's *own* range, np.digitize codes (the maximum and NaN share the last code)."""
    present = values[~np.isnan(values)]
    edges = np.histogram_bin_edges(present, bins=HISTOGRAM_BINS)
    return np.digitize(values, edges)


def _pair_inputs(real: pd.DataFrame, synthetic: pd.DataFrame, schema, columns) -> dict:
    """Per column: continuous values, and discrete codes (categories, or histogram bins)."""
    out = {}
    for name in columns:
        if schema.column(name).role in CONTINUOUS:
            r, s = column_values(real[name]), column_values(synthetic[name])
            out[name] = {
                "continuous": True, "real": r, "synthetic": s,
                "real_codes": _histogram_codes(r), "synthetic_codes": _histogram_codes(s),
                "size": HISTOGRAM_BINS + 2,
            }
        else:
            (r, s), size = discrete_codes(real[name], synthetic[name])
            out[name] = {"continuous": False, "real_codes": r, "synthetic_codes": s, "size": size}
    return out


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation on rows where both are present, NaN if undefined."""
    both = ~(np.isnan(x) | np.isnan(y))
    if both.sum() < 2:
        return float("nan")
    x, y = x[both] - x[both].mean(), y[both] - y[both].mean()
    denom = np.sqrt(np.dot(x, x) * np.dot(y, y))
    return float(np.clip(np.dot(x, y) / denom, -1, 1)) if denom > 0 else float("nan")


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


def _cramers_v(counts: np.ndarray) -> float:
    """Cramér's V of the observed (non-empty rows and columns of a) contingency table."""
    counts = counts[counts.sum(axis=1) > 0][:, counts.sum(axis=0) > 0]
    n = counts.sum()
    if n == 0 or min(counts.shape) < 2:
        return float("nan")
    expected = np.outer(counts.sum(axis=1), counts.sum(axis=0)) / n
    chi2 = ((counts - expected) ** 2 / expected).sum()
    return float(np.sqrt(chi2 / n / (min(counts.shape) - 1)))


def _contingency_pair(a: dict, b: dict) -> dict:
    size = a["size"] * b["size"]
    tables = []
    for side in ("real_codes", "synthetic_codes"):
        joint = a[side].astype("int64") * b["size"] + b[side]
        tables.append(np.bincount(joint, minlength=size))
    real_counts, syn_counts = tables
    score = 1 - 0.5 * np.abs(real_counts / real_counts.sum() - syn_counts / syn_counts.sum()).sum()
    association = _cramers_v(real_counts.reshape(a["size"], b["size"]))
    return {
        "score": float(score), "real_association": association,
        "meets_threshold": bool(np.isfinite(association)
                                and association > REAL_ASSOCIATION_THRESHOLD),
    }


def column_pair_trends(
    real: pd.DataFrame, synthetic: pd.DataFrame, schema: DatasetSchema
) -> dict:
    """Similarity of every column pair's relationship, as SDMetrics' Column Pair Trends.

    Two continuous columns: correlation similarity, 1 - |Pearson(real) - Pearson(synthetic)| / 2.
    Otherwise: contingency similarity, 1 - total variation between the joint frequency tables
    (missing as a value; a continuous column binned into 10 bins of its own range).
    `score` averages the pairs where the real data has a relationship (|r| > 0.5, Cramér's
    V > 0.3), as QualityReport 0.32 does; `score_all_pairs` averages every computable pair,
    which is what older SDMetrics versions (and published SDGym figures) report.
    """
    columns = compared_columns(schema, real, synthetic)
    inputs = _pair_inputs(real, synthetic, schema, columns)
    pairs = []
    for first, second in itertools.combinations(columns, 2):
        a, b = inputs[first], inputs[second]
        if a["continuous"] and b["continuous"]:
            row = {"metric": "CorrelationSimilarity", **_correlation_pair(a, b)}
        else:
            row = {"metric": "ContingencySimilarity", **_contingency_pair(a, b)}
        pairs.append({"column_1": first, "column_2": second, **row})
    scores = np.array([p["score"] for p in pairs], dtype=float)
    meets = np.array([p["meets_threshold"] for p in pairs], dtype=bool)
    return {
        "score": _nanmean(scores[meets]) if meets.any() else float("nan"),
        "score_all_pairs": _nanmean(scores),
        "n_pairs": len(pairs),
        "n_pairs_scored": int((meets & np.isfinite(scores)).sum()),
        "real_correlation_threshold": REAL_CORRELATION_THRESHOLD,
        "real_association_threshold": REAL_ASSOCIATION_THRESHOLD,
        "pairs": pairs,
    }


def _nanmean(values: np.ndarray) -> float:
    values = np.asarray(values, dtype=float)
    return float(np.mean(values[np.isfinite(values)])) if np.isfinite(values).any() else np.nan


# --- detection -----------------------------------------------------------------------------
def detection_auc(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    schema: DatasetSchema,
    seed: int,
    max_rows: int = 10_000,
    n_folds: int = 3,
) -> dict:
    """Cross-validated ROC AUC of a gradient-boosted classifier telling real from synthetic.

    0.5 means indistinguishable, 1.0 perfectly separable. At most `max_rows` rows of each are
    used (reported). `score` = 1 - (2 * max(AUC, 0.5) - 1), SDMetrics' detection convention.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    columns = compared_columns(schema, real, synthetic)
    if min(len(real), len(synthetic)) < 2 * n_folds:
        raise PipelineError(
            f"detection needs at least {2 * n_folds} real and synthetic rows for {n_folds}-fold "
            f"cross-validation, got {len(real)} and {len(synthetic)}; sample more rows"
        )
    rng = np.random.default_rng(seed)
    real_rows = _sample(real, max_rows, rng)
    syn_rows = _sample(synthetic, max_rows, rng)
    encoder = ModelEncoder.fit(real_rows, schema, columns)
    x = np.vstack([encoder.transform(real_rows), encoder.transform(syn_rows)])
    y = np.r_[np.zeros(len(real_rows)), np.ones(len(syn_rows))]
    folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    aucs = []
    for fit_idx, test_idx in folds.split(x, y):
        model = HistGradientBoostingClassifier(
            categorical_features=encoder.categorical_mask, random_state=seed
        )
        with _single_threaded():
            scores = model.fit(x[fit_idx], y[fit_idx]).predict_proba(x[test_idx])[:, 1]
        aucs.append(float(roc_auc_score(y[test_idx], scores)))
    auc = float(np.mean(aucs))
    return {
        "auc": auc,
        "auc_folds": aucs,
        "score": 1.0 - (2.0 * max(auc, 0.5) - 1.0),
        "n_real": len(real_rows),
        "n_synthetic": len(syn_rows),
        "classifier": "HistGradientBoostingClassifier",
    }


def _single_threaded():
    """HistGradientBoosting's OpenMP threads spin-wait; when other work shares the cores (the
    flow validates several models at once) two threads ran 10-40x slower than one."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="openmp")


def _sample(df: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    if len(df) <= n:
        return df
    return df.iloc[np.sort(rng.choice(len(df), size=n, replace=False))]


# --- machine-learning utility --------------------------------------------------------------
def ml_utility(
    train: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame,
    schema: DatasetSchema,
    target: str,
    seed: int = 0,
) -> dict:
    """Train on synthetic / test on holdout, against train on real / test on holdout.

    Classification targets: F1 of the minority class of the real training data for a binary
    target (the CTGAN paper's Adult setup: `>50K`), macro F1 for more classes. Numeric targets:
    R^2. `gap` = real score - synthetic score (0 = synthetic data as useful as real).
    """
    spec = _target_spec(schema, target)
    features = [c for c in compared_columns(schema, train, synthetic, holdout) if c != target]
    if not features:
        raise PipelineError(
            f"ml_utility needs at least one modelled column besides the target {target!r}"
        )
    frames = [df[df[target].notna()] for df in (train, synthetic, holdout)]
    if any(df.empty for df in frames):
        raise PipelineError(
            f"target {target!r} is missing in every row of the train, synthetic or holdout "
            "data; choose a target column that has values"
        )
    train, synthetic, holdout = frames
    encoder = ModelEncoder.fit(train, schema, features)
    if spec.role in DISCRETE:
        return _classification_utility(train, synthetic, holdout, encoder, target, seed)
    return _regression_utility(train, synthetic, holdout, encoder, target, seed)


def _target_spec(schema: DatasetSchema, target: str):
    try:
        spec = schema.column(target)
    except KeyError:
        raise PipelineError(
            f"ml_utility target {target!r} is not a column of schema {schema.name!r}; "
            f"choose one of {schema.modelled_columns()}"
        ) from None
    if target not in schema.modelled_columns() or spec.role == Role.datetime:
        raise PipelineError(
            f"ml_utility target {target!r} has role {spec.role.value!r}; choose a modelled "
            f"categorical, boolean or numerical column: {schema.modelled_columns()}"
        )
    return spec


def _classification_utility(train, synthetic, holdout, encoder, target, seed) -> dict:
    from sklearn.metrics import f1_score

    labels = {name: df[target].astype(str).to_numpy() for name, df in
              (("train", train), ("synthetic", synthetic), ("holdout", holdout))}
    classes, counts = np.unique(labels["train"], return_counts=True)
    binary = len(classes) == 2
    positive = str(classes[np.argmin(counts)]) if binary else None
    x_holdout = encoder.transform(holdout)
    scores = {}
    for source, frame in (("real", train), ("synthetic", synthetic)):
        y = labels["train" if source == "real" else "synthetic"]
        predicted = _fit_predict_classes(encoder, encoder.transform(frame), y, x_holdout, seed)
        if binary:
            scores[source] = float(f1_score(labels["holdout"], predicted, pos_label=positive,
                                            labels=[positive], average="binary",
                                            zero_division=0.0))
        else:
            scores[source] = float(f1_score(labels["holdout"], predicted, labels=classes,
                                            average="macro", zero_division=0.0))
    return {
        "metric": "f1_minority_class" if binary else "f1_macro",
        "positive_class": positive,
        "real": scores["real"],
        "synthetic": scores["synthetic"],
        "gap": scores["real"] - scores["synthetic"],
        "n_train": len(train), "n_synthetic": len(synthetic), "n_holdout": len(holdout),
        "model": "HistGradientBoostingClassifier",
    }


def _fit_predict_classes(encoder, x, y, x_test, seed) -> np.ndarray:
    from sklearn.ensemble import HistGradientBoostingClassifier

    if len(np.unique(y)) < 2:
        # A synthetic set with one class cannot train a classifier; it predicts that class.
        return np.full(len(x_test), y[0])
    model = HistGradientBoostingClassifier(
        categorical_features=encoder.categorical_mask, random_state=seed
    )
    with _single_threaded():
        return model.fit(x, y).predict(x_test)


def _regression_utility(train, synthetic, holdout, encoder, target, seed) -> dict:
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.metrics import r2_score

    x_holdout = encoder.transform(holdout)
    y_holdout = column_values(holdout[target])
    scores = {}
    for source, frame in (("real", train), ("synthetic", synthetic)):
        model = HistGradientBoostingRegressor(
            categorical_features=encoder.categorical_mask, random_state=seed
        )
        with _single_threaded():
            model.fit(encoder.transform(frame), column_values(frame[target]))
            scores[source] = float(r2_score(y_holdout, model.predict(x_holdout)))
    return {
        "metric": "r2",
        "positive_class": None,
        "real": scores["real"],
        "synthetic": scores["synthetic"],
        "gap": scores["real"] - scores["synthetic"],
        "n_train": len(train), "n_synthetic": len(synthetic), "n_holdout": len(holdout),
        "model": "HistGradientBoostingRegressor",
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
    values["quality_score"] = _nanmean(np.array([shapes["score"], trends["score"]]))
    values["detection_auc"] = detection["auc"]
    values["detection_score"] = detection["score"]
    if holdout is not None and target is not None:
        utility = timed("ml_utility", ml_utility, real, synthetic, holdout, schema, target, seed)
        values["ml_utility_real"] = utility["real"]
        values["ml_utility_synthetic"] = utility["synthetic"]
        values["ml_utility_gap"] = utility["gap"]
    return values, seconds
