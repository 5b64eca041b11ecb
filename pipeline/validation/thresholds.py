"""Default pass/fail bounds for each metric in the metrics table, with the reasoning.

`kind` decides the verdict: a failed privacy bound fails the model (never published where
analysts read); a failed fidelity bound only warns. A job file overrides bounds by metric name:

    thresholds:
      column_shapes: {min_value: 0.9}
      exact_copy_p_value: {min_value: 0.05}

Privacy bounds are p-values of one-sided tests; without an override each gated one fails
below PRIVACY_ALPHA divided by the number of gated privacy tests (Bonferroni).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pipeline.errors import PipelineError
from pipeline.validation.evidence import PRIVACY_ALPHA


@dataclass(frozen=True)
class Threshold:
    kind: str  # "fidelity" or "privacy"
    min_value: float | None
    max_value: float | None
    why: str


DEFAULT_THRESHOLDS: dict[str, Threshold] = {
    # --- fidelity: warn when below target -------------------------------------------------
    "column_shapes": Threshold(
        "fidelity",
        0.85,
        None,
        "SDMetrics Column Shapes; SDV's GaussianCopula scores ~0.88 on Adult, the real holdout "
        "~0.99: below 0.85 marginal distributions are visibly off.",
    ),
    "column_pair_trends_beyond_chance": Threshold(
        "fidelity",
        0.80,
        None,
        "SDMetrics Column Pair Trends over the pairs whose association is more than a table "
        "of that size and that many categories shows by chance (bias-corrected Cramér's V); "
        "shuffling columns independently scores ~0.76 on Adult, so below 0.80 the model has "
        "learnt next to no relationships.",
    ),
    "detection_auc": Threshold(
        "fidelity",
        None,
        0.90,
        "Cross-validated AUC of a real-vs-synthetic classifier; 0.5 is indistinguishable, "
        "above 0.9 synthetic rows are trivially told apart.",
    ),
    "ml_utility_gap": Threshold(
        "fidelity",
        None,
        0.15,
        "Score of a model trained on real minus trained on synthetic (both tested on the "
        "holdout); a gap above 0.15 means analyses would mislead.",
    ),
    # --- privacy: fail on evidence ----------------------------------------------------------
    # Each bound is a one-sided test's p-value against what the holdout itself shows; its
    # min_value is filled in by `resolve_thresholds` as PRIVACY_ALPHA / (number of gated
    # privacy tests), so the gate's family-wise false-alarm rate is PRIVACY_ALPHA. The power of
    # each test against injected leaks is measured by `benchmarks/leaks.py` (the README's
    # leak table and benchmarks/results/leaks.json).
    "exact_copy_p_value": Threshold(
        "privacy", None, None,
        "Synthetic rows identical to a training record that no other training row shares, "
        "against real data's chance rate of that (holdout rows, and training rows left out in "
        "turn); one-sided Fisher exact test. Every copied record counts, so a leak of a fixed "
        "number of records fails on a large table as on a small one; copies of profiles many "
        "people share identify nobody and do not count."),
    "near_copy_p_value": Threshold(
        "privacy", None, None,
        "Synthetic rows that nearly copy a training record standing alone (every number within "
        "about 1 %, at most one or two other fields changed, no other training record as "
        "near), against holdout rows; Fisher test per number of changed fields, the smallest "
        "p-value corrected for their number. A changed category or nudged numbers do not hide "
        "a copied record here, as they do from distances."),
    "singling_out_p_value": Threshold(
        "privacy", None, None,
        "Synthetic rows whose quasi-identifier combination (low-cardinality columns) is that "
        "of exactly one training record, against holdout rows; Fisher test. Copies of rare, "
        "identifiable records raise it while common profiles do not."),
    "dcr_close_p_value": Threshold(
        "privacy", None, None,
        "Synthetic rows nearer to a training record than the nearest 1% of holdout rows are "
        "(exact copies aside), against those holdout rows; Fisher test. Catches copies whose "
        "numbers were nudged."),
    "dcr_share_p_value": Threshold(
        "privacy", None, None,
        "Share of synthetic rows whose nearest real record is in train rather than holdout; "
        "binomial test of its excess over chance (train/(train+holdout), ties split by the "
        "tied records) beyond a margin of 0.02 on the 0..1 excess scale, because generalising "
        "models sit slightly nearer the data they learnt from."),
    "mia_p_value": Threshold(
        "privacy", None, None,
        "Distance-based membership inference (train vs holdout records, scored by distance to "
        "the nearest synthetic row): test of AUC > 0.55, Hanley-McNeil standard error."),
    "attribute_inference_p_value": Threshold(
        "privacy", None, None,
        "Anonymeter-style attribute-inference risk over all columns (attack on training "
        "targets beyond the same attack on holdout targets): test of risk > 0.05."),
    "attribute_inference_worst_column_p_value": Threshold(
        "privacy", None, None,
        "The same attack per secret column; the column with the strongest evidence of risk is "
        "named in the report, its p-value corrected for the number of columns tried."),
    "entity_dcr_share_p_value": Threshold(
        "privacy", None, None,
        "Time series with whole entities held out: share of synthetic sequences whose nearest "
        "whole trajectory (numeric columns, step by step) is a training entity's rather than a "
        "held-out one's; binomial test of its excess over chance (train/(train+holdout)) "
        "beyond a margin of 0.02. Catches a model that replays the entities it learnt."),
    "linkability_p_value": Threshold(
        "privacy", None, None,
        "Anonymeter-style linkability risk (two halves of a record linked through the "
        "synthetic data): test of risk > 0.05."),
}


# Row-level comparisons assume holdout rows are exchangeable with training rows. A time-series
# holdout is whole entities (or sequence tails), which differ from the training entities, so
# synthetic rows sit nearer to training rows without any copying: reported, not gated there.
# Copies stay gated (exact copies row by row, replayed trajectories by `entity_dcr`). The
# distance-based membership test is such a comparison too: itsadug's eeg electrodes hold
# scalp positions no training electrode has, so its held-out rows sat far from every
# synthetic row (MIA AUC 0.76) though no synthetic electrode took a training position.
NOT_GATED_FOR_TIME_SERIES = ("dcr_share_p_value", "near_copy_p_value", "dcr_close_p_value",
                             "singling_out_p_value", "mia_p_value")
ONLY_FOR_TIME_SERIES = ("entity_dcr_share_p_value",)
# With a sequence-tail holdout (fewer than 10 entities) the holdout is a later season, not an
# unseen sample of the same population: every distance-to-holdout comparison then measures
# the season, not memorisation (nyc_weather: MIA 0.89 for a model that copies nothing).
# Only exact copies are gated there; the rest is reported.
ONLY_GATED_WITH_EXCHANGEABLE_HOLDOUT = tuple(
    name for name, bound in DEFAULT_THRESHOLDS.items()
    if bound.kind == "privacy" and name != "exact_copy_p_value")


def resolve_thresholds(
    overrides: dict[str, dict[str, float | None]],
    time_series: bool = False,
    exchangeable_holdout: bool = True,
) -> dict[str, Threshold]:
    """Defaults with the job's overrides applied; unknown metric names are refused."""
    resolved = dict(DEFAULT_THRESHOLDS)
    dropped = NOT_GATED_FOR_TIME_SERIES if time_series else ONLY_FOR_TIME_SERIES
    if not exchangeable_holdout:
        dropped = ONLY_GATED_WITH_EXCHANGEABLE_HOLDOUT
    for metric in dropped:
        resolved.pop(metric, None)
    gated = [name for name, bound in resolved.items() if bound.kind == "privacy"]
    for name in gated:
        resolved[name] = replace(resolved[name], min_value=PRIVACY_ALPHA / len(gated))
    for metric, bounds in overrides.items():
        if metric not in DEFAULT_THRESHOLDS:
            raise PipelineError(
                f"threshold override for unknown metric {metric!r}; "
                f"known metrics are {sorted(resolved)}"
            )
        unknown = set(bounds) - {"min_value", "max_value"}
        if unknown:
            raise PipelineError(
                f"threshold {metric!r}: unknown bound(s) {sorted(unknown)}; use min_value/max_value"
            )
        resolved[metric] = replace(resolved.get(metric, DEFAULT_THRESHOLDS[metric]), **bounds)
    return resolved
