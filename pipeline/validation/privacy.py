"""Privacy metrics: does the synthetic data give away the records it was trained on?

Every metric compares the synthetic data's closeness to the training rows with the closeness
of holdout rows the model never saw: a generator that learnt the population, not the
records, is as close to one as to the other. Each gated metric is the p-value of a one-sided
test of that comparison (`evidence.py`), so the gate fails on evidence, not on a fixed margin
that a small leak in a large table stays under.

This module holds the record-level tests (exact copies, near copies, rows singling out a
record unique on its quasi-identifiers; counted in `record_matches.py`) and runs every metric
at once. The distance tests (DCR, NNDR, membership inference) are in `neighbours.py`, the
anonymeter-style attacks in `attacks.py`.

The record-level tests read every row: a copied record is found whatever the table's size.
The distance tests and attacks are statistics of the data's closeness, not searches for
one record, so past `MAX_DISTANCE_ROWS` rows per frame they read a seeded random sample of
that many rows of each frame (their p-values count the rows they read), which keeps their
cost flat as tables grow.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from pipeline.errors import PipelineError
from pipeline.schema import DatasetSchema
from pipeline.validation import attacks, neighbours, record_matches
from pipeline.validation.encoding import compared_columns, personal_columns
from pipeline.validation.evidence import corrected_minimum, count_excess_p_value
from pipeline.validation.grid_keys import grid_layout, without_keys
from pipeline.validation.neighbours import (
    MAX_SYNTHETIC_CHECKED,
    dcr,
    membership_inference_auc,
    nndr,
)

# Rows of each frame (train, synthetic, holdout) the distance tests and attacks read.
MAX_DISTANCE_ROWS = 50_000

__all__ = [
    "MAX_DISTANCE_ROWS", "MAX_SYNTHETIC_CHECKED", "dcr", "exact_copy_rate", "findings",
    "membership_inference_auc", "near_copy_rate", "nndr", "privacy_metrics", "singling_out_rate",
]


# --- record-level matches ------------------------------------------------------------------
def exact_copy_rate(train, synthetic, holdout, schema: DatasetSchema) -> dict:
    """Share of synthetic rows identical to some training row (modelled columns, missing equals
    missing), beside the same share for holdout rows: real data's own chance duplicates.

    `p_value`: one-sided test that synthetic rows copy records unique in train more often
    than real data does by chance (holdout rows and, left out in turn, training rows; see
    `record_matches`). A record many training rows share identifies none of them, and a
    model that favours common profiles copies those without leaking anyone.

    A series' rows are compared without their time index: a training entity's values
    replayed at another time are still its record."""
    columns = personal_columns(schema, train, synthetic, holdout) or compared_columns(
        schema, train, synthetic, holdout)
    found = record_matches.exact_copies(train, synthetic, holdout, schema, columns)
    return {**found, "excess": found["rate"] - found["holdout_rate"],
            "p_value": count_excess_p_value(found["n_unique_copies"], found["n_synthetic"],
                                            found["n_reference_unique_copies"],
                                            found["n_reference"])}


def near_copy_rate(train, synthetic, holdout, schema: DatasetSchema, seed: int = 0) -> dict:
    """Synthetic rows that pin down one training record on all fields but up to
    `allowed_differences` (numbers within a small tolerance), against holdout rows. One test
    per number of differing fields; `p_value` is the smallest, corrected for their number."""
    columns = personal_columns(schema, train, synthetic, holdout)
    found = record_matches.near_copies(train, synthetic, holdout, schema, columns, seed)
    p_values = [
        count_excess_p_value(hits, found["n_checked"], reference, found["n_holdout_checked"])
        for hits, reference in zip(found["n_near"], found["n_holdout_near"], strict=True)
    ]
    return {**found, "p_values": p_values, "p_value": corrected_minimum(p_values)}


def check_quasi_identifiers(quasi_identifiers: list[str], columns: list[str],
                            schema: DatasetSchema) -> None:
    """Each chosen quasi-identifier must be one of the record's `columns`."""
    unknown = [c for c in quasi_identifiers if c not in columns]
    if unknown:
        raise PipelineError(
            f"quasi_identifiers {unknown} are not modelled columns of {schema.name!r}; "
            f"choose among {columns}")


def singling_out_rate(train, synthetic, holdout, schema: DatasetSchema,
                      quasi_identifiers: list[str] | None = None) -> dict:
    """Synthetic rows carrying the quasi-identifier combination of exactly one training record,
    against holdout rows. Default quasi-identifiers: the low-cardinality columns."""
    columns = personal_columns(schema, train, synthetic, holdout)
    if quasi_identifiers is None:
        qis = record_matches.default_quasi_identifiers(train, schema, columns)
    else:
        check_quasi_identifiers(quasi_identifiers, columns, schema)
        qis = list(quasi_identifiers)
    found = record_matches.singling_out(train, synthetic, holdout, schema, qis)
    return {
        **found,
        "excess": found["rate"] - found["holdout_rate"],
        "p_value": count_excess_p_value(found["n_singled_out"], found["n_synthetic"],
                                        found["n_holdout_singled_out"], found["n_holdout"]),
    }


# --- everything at once --------------------------------------------------------------------
# The metrics table's privacy columns: name -> (metric in `details`, its entry).
FLAT_METRICS = {
    "exact_copy_rate": ("exact_copy", "rate"),
    "exact_copy_rate_holdout": ("exact_copy", "holdout_rate"),
    "exact_copy_excess": ("exact_copy", "excess"),
    "exact_copy_p_value": ("exact_copy", "p_value"),
    "near_copy_rate": ("near_copy", "rate"),
    "near_copy_rate_holdout": ("near_copy", "holdout_rate"),
    "near_copy_p_value": ("near_copy", "p_value"),
    "singling_out_rate": ("singling_out", "rate"),
    "singling_out_rate_holdout": ("singling_out", "holdout_rate"),
    "singling_out_p_value": ("singling_out", "p_value"),
    "dcr_share": ("dcr", "share"),
    "dcr_share_expected": ("dcr", "expected_share"),
    "dcr_share_excess": ("dcr", "share_excess"),
    "dcr_share_p_value": ("dcr", "p_value"),
    "dcr_share_effective_rows": ("dcr", "n_effective"),
    "dcr_close_rate": ("dcr", "close_rate"),
    "dcr_close_rate_holdout": ("dcr", "close_rate_holdout"),
    "dcr_close_p_value": ("dcr", "close_p_value"),
    "dcr_zero_rate": ("dcr", "zero_rate"),
    "dcr_zero_rate_holdout": ("dcr", "holdout_zero_rate"),
    "dcr_synthetic_p5": ("dcr", "synthetic_p5"),
    "dcr_holdout_p5": ("dcr", "holdout_p5"),
    "dcr_synthetic_p50": ("dcr", "synthetic_p50"),
    "dcr_holdout_p50": ("dcr", "holdout_p50"),
    "nndr_synthetic_p5": ("nndr", "synthetic_p5"),
    "nndr_holdout_p5": ("nndr", "holdout_p5"),
    "nndr_synthetic_p50": ("nndr", "synthetic_p50"),
    "nndr_holdout_p50": ("nndr", "holdout_p50"),
    "mia_auc": ("mia", "auc"),
    "mia_tpr_at_1pct_fpr": ("mia", "tpr_at_1pct_fpr"),
    "mia_p_value": ("mia", "p_value"),
    "attribute_inference_risk": ("attribute_inference", "risk"),
    "attribute_inference_risk_ci_high": ("attribute_inference", "risk_ci_high"),
    "attribute_inference_p_value": ("attribute_inference", "p_value"),
    "attribute_inference_worst_column_risk": ("attribute_inference", "worst_column_risk"),
    "attribute_inference_worst_column_p_value": ("attribute_inference", "worst_column_p_value"),
    "linkability_risk": ("linkability", "risk"),
    "linkability_risk_ci_high": ("linkability", "risk_ci_high"),
    "linkability_p_value": ("linkability", "p_value"),
}


def privacy_metrics(
    train: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame,
    schema: DatasetSchema,
    *,
    seed: int = 0,
    max_synthetic: int = MAX_SYNTHETIC_CHECKED,
    n_attacks: int = attacks.N_ATTACKS,
    quasi_identifiers: list[str] | None = None,
    details: dict | None = None,
    max_distance_rows: int = MAX_DISTANCE_ROWS,
) -> tuple[dict[str, float], dict[str, float], dict[str, np.ndarray]]:
    """Run every privacy metric once, sharing the embedding and the neighbour search; the
    distance tests on at most `max_distance_rows` rows of each frame (see the module doc).

    Returns (flat metric name -> value, metric -> seconds, DCR distance arrays for
    histograms). `seconds["dcr"]` includes the neighbour search NNDR reuses. Pass a dict as
    `details` to receive each metric's full result.
    """
    seconds: dict[str, float] = {}
    details = {} if details is None else details

    def timed(name: str, fn, *args, **kwargs):
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        seconds[name] = time.perf_counter() - start
        details[name] = result
        return result

    schema, quasi_identifiers = _cells_compared(train, synthetic, holdout, schema,
                                                quasi_identifiers, details)
    timed("exact_copy", exact_copy_rate, train, synthetic, holdout, schema)
    timed("near_copy", near_copy_rate, train, synthetic, holdout, schema, seed)
    timed("singling_out", singling_out_rate, train, synthetic, holdout, schema, quasi_identifiers)
    totals = {"train": len(train), "synthetic": len(synthetic), "holdout": len(holdout)}
    train, synthetic, holdout = distance_samples(
        (train, synthetic, holdout), max_distance_rows, seed)
    details["distance_rows"] = {"read": {"train": len(train), "synthetic": len(synthetic),
                                         "holdout": len(holdout)}, "of": totals}
    space = timed("distance_encoding", neighbours.embed, train, synthetic, holdout, schema)
    details.pop("distance_encoding")
    hood = timed("neighbour_search", neighbours.neighbourhood, space, seed, max_synthetic)
    details.pop("neighbour_search")
    near = timed("dcr", neighbours.dcr_from, hood, seed)
    seconds["dcr"] += seconds.pop("neighbour_search")
    timed("nndr", neighbours.nndr_from, hood)
    timed("mia", neighbours.mia_from, space, seed, neighbours.MAX_MIA_RECORDS)
    timed("attribute_inference", attacks.attribute_inference, space, train, synthetic, holdout,
          schema, seed, n_attacks)
    timed("linkability", attacks.linkability, space, seed, n_attacks)
    values = {name: details[group][key] for name, (group, key) in FLAT_METRICS.items()}
    return values, seconds, near["distances"]


def _cells_compared(train, synthetic, holdout, schema: DatasetSchema,
                    quasi_identifiers: list[str] | None, details: dict
                    ) -> tuple[DatasetSchema, list[str] | None]:
    """The schema and quasi-identifiers the tests compare records by: without a grid key or
    a row index (`grid_keys`) when other columns remain to compare."""
    columns = personal_columns(schema, train, synthetic, holdout)
    real = pd.concat([train[columns], holdout[columns]], ignore_index=True)
    layout = grid_layout(real, schema, columns)
    details["grid_key"] = layout if len(layout) < len(columns) else []
    if not details["grid_key"]:
        return schema, quasi_identifiers
    kept = None if quasi_identifiers is None else [c for c in quasi_identifiers
                                                   if c not in layout]
    return without_keys(schema, layout), kept


def distance_samples(frames: tuple[pd.DataFrame, ...], cap: int, seed: int
                     ) -> tuple[pd.DataFrame, ...]:
    """Each frame, or a seeded random `cap` of its rows (in their order) when it has more."""
    rng = np.random.default_rng([seed, cap])
    return tuple(
        frame if len(frame) <= cap
        else frame.iloc[record_matches.subsample(len(frame), cap, rng)].reset_index(drop=True)
        for frame in frames
    )


def findings(details: dict) -> list[str]:
    """The privacy results in sentences a data owner can read (from `details`)."""
    out = []
    entities = details.get("entity_dcr")
    if entities and entities["n_synthetic"]:
        out.append(f"{entities['share']:.0%} of {entities['n_synthetic']} synthetic sequences "
                   f"have their nearest whole trajectory among the {entities['n_train']} "
                   f"training entities rather than the {entities['n_holdout']} held-out ones "
                   f"(chance: {entities['chance']:.0%}).")
    copies = details.get("exact_copy")
    if copies:
        out.append(f"{copies['n_copies']:,} of {copies['n_synthetic']:,} synthetic rows are "
                   f"exact copies of a training record ({copies['rate']:.2%}), "
                   f"{copies['n_unique_copies']:,} of a record no other training row shares; "
                   f"unseen real rows duplicate a training record at "
                   f"{copies['holdout_rate']:.2%}.")
    near = details.get("near_copy")
    if near:
        out.append(f"{near['rate']:.2%} of the checked synthetic rows nearly copy one "
                   f"training record (every number within about 1 %, at most "
                   f"{near['allowed_differences']} other fields changed); unseen real rows: "
                   f"{near['holdout_rate']:.2%}.")
    singled = details.get("singling_out")
    if singled and singled["quasi_identifiers"]:
        out.append(f"{singled['rate']:.2%} of synthetic rows carry the combination of "
                   f"{', '.join(singled['quasi_identifiers'])} of exactly one training "
                   f"record; unseen real rows: {singled['holdout_rate']:.2%}.")
    if details.get("grid_key"):
        out.append("Each row is one cell of a grid, or one step of a calendar, over "
                   f"{', '.join(details['grid_key'])}: an unseen row is a cell the training "
                   "rows lack, so records are compared on the other columns.")
    rows = details.get("distance_rows")
    if rows and rows["read"] != rows["of"]:
        out.append("The distance tests and attacks read a random sample of "
                   + ", ".join(f"{rows['read'][k]:,} of {rows['of'][k]:,} {k} rows"
                               for k in rows["of"])
                   + "; the copy tests above read every row.")
    inference = details.get("attribute_inference")
    if inference:
        worst = inference["columns"][inference["worst_column"]]
        out.append(f"Guessing a person's {inference['worst_column']!r} from their other "
                   f"columns via the synthetic data works for {worst['attack_rate']:.1%} of "
                   f"training records and {worst['control_rate']:.1%} of unseen ones (risk "
                   f"{worst['risk']:.3f}; the column where the evidence of risk is "
                   "strongest).")
    return out
