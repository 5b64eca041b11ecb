"""Metrics for the series corpus (benchmarks/series_corpus.py): one synthetic draw against the
real training split, plus the whole-entity privacy check against the holdout.

- `draw_metrics`: column shapes (mean KS/TV complement over the varying columns) and the
  cross-column correlation similarity from `sequence_metrics`, lag-1 and seasonal-lag
  autocorrelation per numeric column (`mean_autocorrelation`: per entity, then averaged);
- `window_detection_auc`: a HistGradientBoosting classifier, 5-fold out-of-fold predictions,
  telling real windows (W consecutive steps of one entity, numeric columns flattened) from
  synthetic ones; folds keep an entity's windows together when each side has >= 10 entities;
- `entity_dcr`: distances between whole entities (mean over aligned steps of the Euclidean
  distance on robust-scaled numeric columns), nearest training vs nearest holdout entity,
  with the training side cut to the holdout's size so that 0.5 is the no-memorisation value,
  and the same share for the training entities themselves (`real_dcr_baseline`), which is
  what new entities like the training ones score on that split;
- `shared_columns` / `shared_agreement`: columns equal across all entities at every index
  value in the real data (a national price index beside state prices), and whether the
  synthetic entities still agree on them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.schema import DatasetSchema, Role
from pipeline.timeseries import check_time_series, sequence_ids
from pipeline.validation.sequence_metrics import mean_autocorrelation, sequence_metrics

MAX_WINDOW = 8
# Entities per side from which folds keep an entity's windows together. Fewer (and unlike)
# entities, held out whole, leave the classifier extrapolating to a level it never saw (AUC
# far below 0.5 on 5 currencies); with folds by window, it can instead recognise a sequence
# by its neighbouring windows, so an AUC there errs high.
MIN_GROUPS = 10
FOLDS = 5
MAX_WINDOWS = 5_000  # per side
DCR_DRAWS = 200  # random training subsets of the holdout's size
SHARED_MIN_STEPS = 0.5  # share of index values seen in >= 2 entities for sharing to count
SEASONAL_LAGS = {"hourly": 24, "daily": 7, "business daily": 5, "monthly": 12, "quarterly": 4}


# --- columns --------------------------------------------------------------------------------
def varying(schema: DatasetSchema) -> list[str]:
    """Columns that change along a sequence and are modelled (no key, index, static column,
    calendar part of the index, id, PII, free text or all-missing column)."""
    skip = (Role.id, Role.pii, Role.text)
    return [
        c.name for c in schema.columns
        if c.name not in (schema.sequence_key, schema.sequence_index) and not c.static
        and not c.derived_from_index and not c.empty and c.role not in skip
    ]


def numeric(schema: DatasetSchema) -> list[str]:
    return [c for c in varying(schema) if schema.column(c).role == Role.numerical]


def values(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    return np.column_stack([
        pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        for c in columns
    ]) if columns else np.empty((len(frame), 0))


def entity_arrays(frame: pd.DataFrame, schema: DatasetSchema, columns: list[str]) -> list:
    """One (steps, columns) array per entity, in index order."""
    ordered = check_time_series(frame, schema).reset_index(drop=True)
    ids = sequence_ids(ordered, schema)
    x = values(ordered, columns)
    cuts = np.flatnonzero(np.diff(ids)) + 1
    return np.split(x, cuts) if len(x) else []


# --- one draw ------------------------------------------------------------------------------
def draw_metrics(
    train: pd.DataFrame, synthetic: pd.DataFrame, schema: DatasetSchema, lag: int | None
) -> dict:
    """Shapes, correlation similarity and the autocorrelations of one synthetic draw."""
    m = sequence_metrics(train, synthetic, schema, seasonal_lag=lag)
    shapes = [m[f"seq_shape_{c}"] for c in varying(schema) if f"seq_shape_{c}" in m]
    out = {
        "shapes": _finite_mean(shapes),
        "correlation_similarity": m["seq_correlation_similarity"],
        "autocorrelation": {},
    }
    for k in (1, lag):
        if k is None:
            continue
        out["autocorrelation"][k] = {
            c: {"real": m[f"seq_lag{k}_{c}_real"], "synthetic": m[f"seq_lag{k}_{c}_synthetic"]}
            for c in numeric(schema) if f"seq_lag{k}_{c}_real" in m
        }
    return out


# --- detection on windows ------------------------------------------------------------------
def window_size(train: pd.DataFrame, schema: DatasetSchema) -> int:
    lengths = np.bincount(sequence_ids(check_time_series(train, schema), schema))
    return min(MAX_WINDOW, int(np.median(lengths)) // 2)


def windows(arrays: list[np.ndarray], width: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping windows of `width` steps, flattened, and the entity of each."""
    rows, groups = [], []
    for entity, x in enumerate(arrays):
        n = len(x) // width
        if n:
            rows.append(x[: n * width].reshape(n, width * x.shape[1]))
            groups.append(np.full(n, entity))
    if not rows:
        return np.empty((0, 0)), np.empty(0, dtype=int)
    return np.vstack(rows), np.concatenate(groups)


def _cap(x: np.ndarray, g: np.ndarray, rng: np.random.Generator):
    if len(x) <= MAX_WINDOWS:
        return x, g
    keep = np.sort(rng.choice(len(x), MAX_WINDOWS, replace=False))
    return x[keep], g[keep]


def window_detection_auc(
    train: pd.DataFrame, synthetic: pd.DataFrame, schema: DatasetSchema, seed: int = 0
) -> dict:
    """Out-of-fold ROC AUC of real-vs-synthetic windows (0.5: indistinguishable)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, cross_val_predict

    width, columns = window_size(train, schema), numeric(schema)
    if width < 1 or not columns:
        return {"auc": None, "reason": "no numeric column" if not columns else "sequences of 1"}
    rng = np.random.default_rng(seed)
    xr, gr = _cap(*windows(entity_arrays(train, schema, columns), width), rng)
    xs, gs = _cap(*windows(entity_arrays(synthetic, schema, columns), width), rng)
    if min(len(xr), len(xs)) < 2 * FOLDS:
        return {"auc": None, "width": width, "reason": f"fewer than {2 * FOLDS} windows a side"}
    x, y = np.vstack([xr, xs]), np.r_[np.zeros(len(xr)), np.ones(len(xs))]
    groups = np.r_[gr, gs + gr.max() + 1]
    grouped = min(len(np.unique(gr)), len(np.unique(gs))) >= MIN_GROUPS
    folds = (StratifiedGroupKFold(FOLDS, shuffle=True, random_state=seed) if grouped
             else StratifiedKFold(FOLDS, shuffle=True, random_state=seed))
    # the default 20 rows per leaf cannot split a few dozen windows at all (AUC exactly 0.5)
    leaf = max(5, min(20, len(x) // 50))
    classifier = HistGradientBoostingClassifier(min_samples_leaf=leaf, random_state=seed)
    p = cross_val_predict(classifier, x, y, cv=folds, groups=groups if grouped else None,
                          method="predict_proba")[:, 1]
    return {"auc": float(roc_auc_score(y, p)), "width": width, "windows_real": len(xr),
            "windows_synthetic": len(xs), "folds": "by entity" if grouped else "by window"}


# --- whole-entity distances ----------------------------------------------------------------
def robust_scale(train: pd.DataFrame, columns: list[str]) -> tuple[np.ndarray, np.ndarray]:
    x = values(train, columns)
    centre = np.nanmedian(x, axis=0)
    spread = np.nanpercentile(x, 75, axis=0) - np.nanpercentile(x, 25, axis=0)
    fallback = np.nanstd(x, axis=0)
    spread = np.where(spread > 0, spread, np.where(fallback > 0, fallback, 1.0))
    return centre, spread


def _padded(arrays: list[np.ndarray], length: int) -> np.ndarray:
    out = np.full((len(arrays), length, arrays[0].shape[1]), np.nan)
    for i, x in enumerate(arrays):
        out[i, : len(x)] = x
    return out


def entity_distances(queries: list[np.ndarray], reference: list[np.ndarray]) -> np.ndarray:
    """(n_queries, n_reference): mean over aligned steps (position in sequence, up to the
    shorter length) of the Euclidean distance; a missing value leaves its dimension out and
    the rest is scaled up to all dimensions; steps with nothing to compare are skipped."""
    length = max(len(x) for x in [*queries, *reference])
    q, r = _padded(queries, length), _padded(reference, length)
    p = q.shape[2]
    out = np.empty((len(q), len(r)))
    for i, a in enumerate(q):
        sq = (r - a) ** 2  # (n_reference, steps, p)
        seen = (~np.isnan(sq)).sum(axis=2)
        step = np.sqrt(np.nansum(sq, axis=2) * p / np.maximum(seen, 1))
        step[seen == 0] = np.nan
        with np.errstate(invalid="ignore"):
            out[i] = np.nanmean(step, axis=1)
    return np.where(np.isnan(out), np.inf, out)


def _scaled(frames: list[pd.DataFrame], schema: DatasetSchema) -> list[list[np.ndarray]]:
    columns = numeric(schema)
    centre, spread = robust_scale(frames[0], columns)
    return [[(x - centre) / spread for x in entity_arrays(f, schema, columns)] for f in frames]


def _matched(to_train: np.ndarray, to_hold: np.ndarray, rng: np.random.Generator,
             self_column: bool = False) -> tuple[float, float]:
    """(share nearer train, median nearest-train / nearest-holdout ratio) over `DCR_DRAWS`
    draws of as many training entities as the holdout has; with `self_column`, query i is
    training entity i and is never drawn against itself."""
    n_query, n_train = to_train.shape
    n_hold = to_hold.shape[1]
    near_hold = to_hold.min(axis=1)
    shares, ratios = [], []
    for _ in range(DCR_DRAWS):
        if self_column:  # each query draws from the other training entities
            keys = rng.random((n_query, n_train))
            keys[np.arange(n_query), np.arange(n_query)] = np.inf
            drawn = np.argsort(keys, axis=1)[:, : min(n_hold, n_train - 1)]
        else:
            drawn = np.tile(rng.choice(n_train, min(n_hold, n_train), replace=False),
                            (n_query, 1))
        near = np.take_along_axis(to_train, drawn, axis=1).min(axis=1)
        shares.append(_nearer_share(near, near_hold))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios.append(near / near_hold)
    return float(np.mean(shares)), float(np.nanmedian(np.concatenate(ratios)))


def entity_dcr(
    train: pd.DataFrame, holdout: pd.DataFrame, synthetic: pd.DataFrame,
    schema: DatasetSchema, seed: int = 0,
) -> dict:
    """Share of synthetic entities nearer a training entity than a holdout entity (ties
    half), the training side drawn `DCR_DRAWS` times at the holdout's size (0.5: no
    memorisation), the median nearest-train / nearest-holdout ratio, and the share against
    all training entities with its chance value n_train / (n_train + n_holdout)."""
    scaled_train, scaled_hold, scaled_syn = _scaled([train, holdout, synthetic], schema)
    to_train, to_hold = (entity_distances(scaled_syn, ref) for ref in (scaled_train, scaled_hold))
    share, ratio = _matched(to_train, to_hold, np.random.default_rng(seed))
    n_train, n_hold = to_train.shape[1], to_hold.shape[1]
    return {
        "share": share,
        "median_ratio": ratio,
        "share_all_train": _nearer_share(to_train.min(axis=1), to_hold.min(axis=1)),
        "share_all_train_chance": n_train / (n_train + n_hold),
        "entities": {"train": n_train, "holdout": n_hold, "synthetic": len(to_train)},
    }


def real_dcr_baseline(
    train: pd.DataFrame, holdout: pd.DataFrame, schema: DatasetSchema, seed: int = 0
) -> dict:
    """The same share with the training entities themselves as the queries (each against
    the others): what a generator that draws new entities like the training ones scores on
    this split. Unlike entities and a small holdout move it away from 0.5."""
    scaled_train, scaled_hold = _scaled([train, holdout], schema)
    to_train = entity_distances(scaled_train, scaled_train)
    to_hold = entity_distances(scaled_train, scaled_hold)
    share, ratio = _matched(to_train, to_hold, np.random.default_rng(seed), self_column=True)
    return {"share": share, "median_ratio": ratio}


def _nearer_share(to_train: np.ndarray, to_hold: np.ndarray) -> float:
    return float(np.mean((to_train < to_hold) + 0.5 * (to_train == to_hold)))


# --- shared covariates ---------------------------------------------------------------------
def shared_columns(real: pd.DataFrame, schema: DatasetSchema) -> list[str]:
    """Varying columns equal across all entities at every index value (seen in at least 2
    entities at >= half of the index values), and not a calendar part of the index."""
    key, index = schema.sequence_key, schema.sequence_index
    if key is None or real[key].nunique() < 2:
        return []
    per_step = real.groupby(index)[key].nunique()
    if (per_step >= 2).mean() < SHARED_MIN_STEPS:
        return []
    found = []
    for col in varying(schema):
        if real[col].nunique() > 1 and (real.groupby(index)[col].nunique() <= 1).all():
            found.append(col)
    return found


def shared_agreement(
    train: pd.DataFrame, synthetic: pd.DataFrame, schema: DatasetSchema, column: str
) -> dict:
    """Share of the synthetic index values held by >= 2 entities at which those entities
    agree on `column`, and its lag-1 autocorrelation, real vs synthetic."""
    key, index = schema.sequence_key, schema.sequence_index
    ordered = check_time_series(synthetic, schema)
    crowded = ordered.groupby(index)[key].transform("nunique") >= 2
    agree = ordered[crowded].groupby(index)[column].agg(_agree)
    numeric_column = schema.column(column).role == Role.numerical
    real_lag = mean_autocorrelation(check_time_series(train, schema), schema, column, 1)
    return {
        "agreement": float(agree.mean()) if len(agree) else None,
        "index_values_compared": len(agree),
        "lag1_real": real_lag if numeric_column else None,
        "lag1_synthetic": (mean_autocorrelation(ordered, schema, column, 1)
                           if numeric_column else None),
    }


def _agree(column: pd.Series) -> bool:
    present = column.dropna()
    if len(present) < len(column):
        return len(present) == 0
    if pd.api.types.is_numeric_dtype(present):
        x = present.to_numpy(dtype=float)
        return bool(np.ptp(x) <= 1e-9 * max(1.0, np.abs(x).max()))
    return present.astype(str).nunique() == 1


def _finite_mean(xs: list[float]) -> float | None:
    finite = [x for x in xs if x is not None and np.isfinite(x)]
    return float(np.mean(finite)) if finite else None
