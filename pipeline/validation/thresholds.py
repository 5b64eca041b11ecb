"""Default pass/fail bounds for each metric in the metrics table, with the reasoning.

`kind` decides the verdict: a failed privacy bound fails the model (never published where
analysts read); a failed fidelity bound only warns. A job file overrides bounds by metric name:

    thresholds:
      column_shapes: {min_value: 0.9}
      mia_auc_low: {max_value: 0.52}
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pipeline.errors import PipelineError


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
    "column_pair_trends": Threshold(
        "fidelity",
        0.80,
        None,
        "SDMetrics Column Pair Trends; shuffling columns independently scores ~0.76 on Adult, "
        "so below 0.80 the model has learnt next to no relationships.",
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
    # --- privacy: fail when breached --------------------------------------------------------
    "exact_copy_excess": Threshold(
        "privacy",
        None,
        0.01,
        "Share of synthetic rows identical to a training row minus the same share for holdout "
        "rows (chance duplicates). More than 1 point above chance means copied records.",
    ),
    "dcr_share_excess_low": Threshold(
        "privacy", None, 0.02,
        "Share of synthetic rows whose nearest real record is in train rather than holdout, "
        "beyond the share expected by chance (train/(train+holdout) rows), scaled so 1 means "
        "every row; the lower end of its one-sided 99% interval. Above 0.02 the model sits "
        "measurably closer to its training records; a 10% copy leak on Adult scores ~0.04-0.08 "
        "here, honest models ~-0.05. The bound uses the interval so small data (the 215-row "
        "demo) does not fail on noise."),
    "dcr_close_rate_excess": Threshold(
        "privacy", None, 0.03,
        "Share of synthetic rows nearer to a training record than the nearest 1% of holdout "
        "rows are, minus that 1%. Copied and near-copied rows (one value nudged, which exact "
        "matching misses) all land there: a 10% leak scores ~0.10, honest output ~0."),
    "mia_auc_low": Threshold(
        "privacy", None, 0.55,
        "Distance-based membership-inference AUC (train vs holdout records, scored by distance "
        "to the nearest synthetic row; 0.5 is no signal), lower end of its one-sided 99% "
        "interval so that 40-row holdouts do not fail on noise. Above 0.55 an attacker tells "
        "members from non-members measurably better than chance."),
    "attribute_inference_risk_ci_low": Threshold(
        "privacy", None, 0.05,
        "Anonymeter-style attribute-inference risk (attack success on training targets beyond "
        "a control attack on holdout targets), lower end of its 95% interval: fails only when "
        "the attack is confidently better than the control by 5 points."),
    "linkability_risk_ci_low": Threshold(
        "privacy", None, 0.05,
        "Anonymeter-style linkability risk, lower end of its 95% interval."),
}


# Row-level DCR share assumes holdout rows are exchangeable with training rows. A time-series
# holdout is whole entities (or sequence tails), which differ from the training entities, so
# synthetic rows sit nearer to training rows without any copying: reported, not gated there.
NOT_GATED_FOR_TIME_SERIES = ("dcr_share_excess_low",)
# With a sequence-tail holdout (fewer than 10 entities) the holdout is a later season, not an
# unseen sample of the same population: every distance-to-holdout comparison then measures
# the season, not memorisation (nyc_weather: MIA 0.89 for a model that copies nothing).
# Only exact copies are gated there; the rest is reported.
ONLY_GATED_WITH_EXCHANGEABLE_HOLDOUT = (
    "dcr_share_excess_low", "dcr_close_rate_excess", "mia_auc_low",
    "attribute_inference_risk_ci_low", "linkability_risk_ci_low",
)


def resolve_thresholds(
    overrides: dict[str, dict[str, float | None]],
    time_series: bool = False,
    exchangeable_holdout: bool = True,
) -> dict[str, Threshold]:
    """Defaults with the job's overrides applied; unknown metric names are refused."""
    resolved = dict(DEFAULT_THRESHOLDS)
    dropped = NOT_GATED_FOR_TIME_SERIES if time_series else ()
    if not exchangeable_holdout:
        dropped = ONLY_GATED_WITH_EXCHANGEABLE_HOLDOUT
    for metric in dropped:
        resolved.pop(metric, None)
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
        resolved[metric] = replace(DEFAULT_THRESHOLDS[metric], **bounds)
    return resolved
