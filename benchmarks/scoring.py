"""Score one contender's output with the project's own validation metrics.

Tabular: Column Shapes and Column Pair Trends against the training rows, detection AUC, ML
utility on the target (train on synthetic, test on the real holdout), exact-copy rate and DCR
share excess. The ceiling is the real holdout itself; its privacy figures come from one half
of the holdout playing "synthetic" against the other half, so they show what real, unseen
rows score.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.data import Dataset
from benchmarks.settings import Budget


class _Clock:
    """Runs metric functions and keeps the seconds each took."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def __call__(self, name: str, fn, *args, **kwargs):
        started = time.perf_counter()
        result = fn(*args, **kwargs)
        self.seconds[name] = round(time.perf_counter() - started, 3)
        return result


def score_tabular(
    dataset: Dataset, synthetic: pd.DataFrame, budget: Budget, seed: int
) -> tuple[dict[str, float], dict[str, float]]:
    """(metric values, seconds per metric) of one contender's output."""
    clock = _Clock()
    values = _fidelity(dataset, synthetic, synthetic, budget, seed, clock)
    values.update(_privacy(dataset.train, synthetic, dataset.holdout, dataset.schema, budget,
                           seed, clock))
    return values, clock.seconds


def score_ceiling(dataset: Dataset, budget: Budget, seed: int) -> tuple[dict, dict]:
    """The real holdout scored as if it were synthetic: what unseen real rows achieve.

    Fidelity: the whole holdout against the training rows; ML utility: trained on the real
    training rows. Privacy: one half of the holdout plays "synthetic" against the other half,
    because rows cannot be judged against a holdout that contains them.
    """
    holdout = dataset.holdout
    order = np.random.default_rng(seed).permutation(len(holdout))
    half = len(holdout) // 2
    playing = holdout.iloc[np.sort(order[:half])].reset_index(drop=True)
    judging = holdout.iloc[np.sort(order[half:])].reset_index(drop=True)
    clock = _Clock()
    values = _fidelity(dataset, holdout, dataset.train, budget, seed, clock)
    values.update(_privacy(dataset.train, playing, judging, dataset.schema, budget, seed, clock))
    return values, clock.seconds


def _fidelity(dataset: Dataset, synthetic: pd.DataFrame, utility_source: pd.DataFrame,
              budget: Budget, seed: int, clock: _Clock) -> dict[str, float]:
    from pipeline.validation import fidelity

    train, schema = dataset.train, dataset.schema
    shapes = clock("column_shapes", fidelity.column_shapes, train, synthetic, schema)
    trends = clock("column_pair_trends", fidelity.column_pair_trends, train, synthetic, schema)
    detection = clock("detection", fidelity.detection_auc, train, synthetic, schema, seed,
                      max_rows=budget.detection_rows)
    values = {
        "column_shapes": shapes["score"],
        "column_pair_trends": trends["score"],
        "column_pair_trends_all_pairs": trends["score_all_pairs"],
        "quality_score": float(np.nanmean([shapes["score"], trends["score"]])),
        "detection_auc": detection["auc"],
    }
    if dataset.target:
        utility = clock("ml_utility", fidelity.ml_utility, train, utility_source,
                        dataset.holdout, schema, dataset.target, seed)
        values.update({
            "ml_utility": utility["synthetic"], "ml_utility_real": utility["real"],
            "ml_utility_gap": utility["gap"], "ml_utility_metric": utility["metric"],
        })
    return values


def _privacy(train, synthetic, holdout, schema, budget: Budget, seed: int,
             clock: _Clock) -> dict:
    from pipeline.validation import privacy

    if budget.full_privacy:
        values, _, _ = clock("privacy", privacy.privacy_metrics, train, synthetic, holdout,
                             schema, seed=seed)
        return values
    copies = clock("exact_copy", privacy.exact_copy_rate, train, synthetic, holdout, schema)
    near = clock("dcr", privacy.dcr, train, synthetic, holdout, schema, seed)
    return {
        "exact_copy_rate": copies["rate"],
        "exact_copy_rate_holdout": copies["holdout_rate"],
        "dcr_share": near["share"],
        "dcr_share_expected": near["expected_share"],
        "dcr_share_excess": near["share_excess"],
        "dcr_close_rate_excess": near["close_rate_excess"],
    }


def score_timeseries(dataset: Dataset, synthetic: pd.DataFrame) -> tuple[dict, dict]:
    try:
        from pipeline.validation.sequence_metrics import sequence_metrics
    except ImportError as exc:
        return {"unavailable": f"sequence metrics not importable: {exc}"}, {}
    started = time.perf_counter()
    values = sequence_metrics(dataset.train, synthetic, dataset.schema)
    return values, {"sequence_metrics": round(time.perf_counter() - started, 3)}


def headline_timeseries(values: dict[str, Any]) -> dict[str, float]:
    """The few sequence figures the tables show (lag names depend on the cadence)."""
    out = {k: values.get(k) for k in (
        "seq_shape_mean", "seq_lag1_max_abs_diff", "seq_correlation_similarity",
        "seq_length_similarity",
    )}
    seasonal = [k for k in values if k.startswith("seq_lag") and k.endswith("_max_abs_diff")
                and not k.startswith("seq_lag1_")]
    out["seq_seasonal_lag_max_abs_diff"] = values[seasonal[0]] if seasonal else None
    out["seasonal_lag"] = seasonal[0][len("seq_lag"):].split("_")[0] if seasonal else None
    return out
