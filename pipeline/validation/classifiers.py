"""Fidelity measured by classifiers: can one tell synthetic rows from real ones (detection),
and does a model trained on synthetic rows predict real ones as well (ML utility)?
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.errors import PipelineError
from pipeline.schema import DatasetSchema, Role
from pipeline.validation.encoding import (
    DISCRETE,
    ModelEncoder,
    column_values,
    compared_columns,
    single_threaded,
)


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
    Rows of a series are not independent: folds keep each entity (or, with too few entities,
    each stretch of the index) whole, or the classifier would tell rows apart by the
    entity they share with rows it has seen, however good the synthetic data.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

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
    folds, groups, kept_whole = _folds(real_rows, syn_rows, schema, n_folds, seed)
    aucs = []
    for fit_idx, test_idx in folds.split(x, y, groups):
        model = HistGradientBoostingClassifier(
            categorical_features=encoder.categorical_mask, random_state=seed
        )
        x_fit, x_test = _unknown_as_zero(x[fit_idx], x[test_idx])
        with single_threaded():
            scores = model.fit(x_fit, y[fit_idx]).predict_proba(x_test)[:, 1]
        aucs.append(float(roc_auc_score(y[test_idx], scores)))
    auc = float(np.mean(aucs))
    return {
        "auc": auc,
        "auc_folds": aucs,
        "score": 1.0 - (2.0 * max(auc, 0.5) - 1.0),
        "n_real": len(real_rows),
        "n_synthetic": len(syn_rows),
        "classifier": "HistGradientBoostingClassifier",
        "folds_keep_whole": kept_whole,
    }


# A series without enough entities is cut into this many stretches of its index.
SERIES_STRETCHES = 10


def _folds(real: pd.DataFrame, synthetic: pd.DataFrame, schema: DatasetSchema, n_folds: int,
           seed: int):
    """(splitter, groups, what a fold keeps whole): rows of a table are independent; a
    series' rows are grouped by entity, or, when a side has too few entities, by stretch of
    the index, the same stretch of real and synthetic rows in one fold (a classifier that saw
    one side's stretch would otherwise tell the other side's by its time alone)."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    def has(column: str | None) -> bool:
        return column is not None and column in real.columns and column in synthetic.columns

    plain = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed), None, None
    key, index_name = schema.sequence_key, schema.sequence_index
    if not schema.is_time_series:
        return plain
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    if has(key) and min(real[key].nunique(), synthetic[key].nunique()) >= n_folds:
        real_ids = pd.factorize(real[key].astype(str))[0]
        syn_ids = pd.factorize(synthetic[key].astype(str))[0] + real_ids.max() + 1
        return splitter, np.r_[real_ids, syn_ids], "entities"
    if not has(index_name):
        return plain
    index = pd.concat([real[index_name], synthetic[index_name]], ignore_index=True)
    position = index.rank(method="min", pct=True).to_numpy()
    stretch = np.minimum((position * SERIES_STRETCHES).astype(int), SERIES_STRETCHES - 1)
    return splitter, stretch, "stretches of the index"


def _unknown_as_zero(x_fit: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Features missing on every row a model fits on set to 0 on both sides: scikit-learn's
    binning fails on such a feature (a series column known only in its held-out years), and
    a constant one tells nothing, as it should."""
    unknown = np.isnan(x_fit).all(axis=0)
    if not unknown.any():
        return x_fit, x_test
    x_fit, x_test = x_fit.copy(), x_test.copy()
    x_fit[:, unknown], x_test[:, unknown] = 0.0, 0.0
    return x_fit, x_test


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
    spec = target_spec(schema, target)
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


def target_spec(schema: DatasetSchema, target: str):
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
    return _utility_result("f1_minority_class" if binary else "f1_macro", positive, scores,
                           (train, synthetic, holdout), "HistGradientBoostingClassifier")


def _fit_predict_classes(encoder, x, y, x_test, seed) -> np.ndarray:
    from sklearn.ensemble import HistGradientBoostingClassifier

    if len(np.unique(y)) < 2:
        # A synthetic set with one class cannot train a classifier; it predicts that class.
        return np.full(len(x_test), y[0])
    model = HistGradientBoostingClassifier(
        categorical_features=encoder.categorical_mask, random_state=seed
    )
    x, x_test = _unknown_as_zero(x, x_test)
    with single_threaded():
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
        x, x_test = _unknown_as_zero(encoder.transform(frame), x_holdout)
        with single_threaded():
            model.fit(x, column_values(frame[target]))
            scores[source] = float(r2_score(y_holdout, model.predict(x_test)))
    return _utility_result("r2", None, scores, (train, synthetic, holdout),
                           "HistGradientBoostingRegressor")


def _utility_result(metric, positive, scores, frames, model) -> dict:
    train, synthetic, holdout = frames
    return {
        "metric": metric, "positive_class": positive,
        "real": scores["real"], "synthetic": scores["synthetic"],
        "gap": scores["real"] - scores["synthetic"],
        "n_train": len(train), "n_synthetic": len(synthetic), "n_holdout": len(holdout),
        "model": model,
    }
