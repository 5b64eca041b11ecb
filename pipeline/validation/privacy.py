"""Privacy metrics: does the synthetic data give away the records it was trained on?

Every metric compares the synthetic data's closeness to the training rows with the closeness
of holdout rows the model never saw: a generator that learnt the population, not the
records, is as close to one as to the other. Each gated metric is the p-value of a one-sided
test of that comparison (`evidence.py`), so the gate fails on evidence, not on a fixed margin
that a small leak in a large table stays under.

Record-level tests (`record_matches.py`) count exact copies, near copies (all fields but one
or two equal) and rows singling out a record unique on its quasi-identifiers. Distance tests
use the mixed-type distance of `encoding.DistanceEncoder` (numbers scaled by the training
range, a differing category = 1, missing a value of its own), found by exact search over the
FULL train and holdout sets; only the synthetic rows checked are subsampled. The
anonymeter-style attacks are in `attacks.py`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.errors import PipelineError
from pipeline.schema import DatasetSchema
from pipeline.validation import attacks, record_matches
from pipeline.validation.encoding import (
    DistanceEncoder,
    compared_columns,
    exact_distances,
    nearest_indices,
    nearest_with_ties,
)
from pipeline.validation.evidence import (
    auc_p_value,
    corrected_minimum,
    count_excess_p_value,
    share_p_value,
)

MAX_SYNTHETIC_CHECKED = 10_000
MAX_MIA_RECORDS = 5_000
PERCENTILES = (1, 5, 25, 50)
# The DCR share may exceed its chance value by this much (on the 0..1 excess scale) before it
# counts as evidence: generalising models sit a little nearer the data they learnt from.
DCR_SHARE_MARGIN = 0.02
# Membership inference: an AUC up to 0.5 + this is no more than a weak, population-level signal.
MIA_MARGIN = 0.05
# "Close" rows: nearer to a training record than this quantile of holdout rows are.
CLOSE_QUANTILE = 0.01


def _fields(schema: DatasetSchema, *frames: pd.DataFrame) -> list[str]:
    # The time index is shared by every entity (everyone has a 2013-03-01 09:00 reading): it
    # is no personal attribute, and with a sequence-tail holdout it would make holdout rows
    # look far from everything for reasons of calendar alone.
    return [c for c in compared_columns(schema, *frames) if c != schema.sequence_index]


# --- record-level matches ------------------------------------------------------------------
def exact_copy_rate(train, synthetic, holdout, schema: DatasetSchema) -> dict:
    """Share of synthetic rows identical to some training row (modelled columns, missing equals
    missing), beside the same share for holdout rows: real data's own chance duplicates.

    `p_value`: one-sided test that synthetic rows copy records unique in train more often
    than real data does by chance (holdout rows and, left out in turn, training rows; see
    `record_matches`). A record many training rows share identifies none of them, and a
    model that favours common profiles copies those without leaking anyone."""
    columns = compared_columns(schema, train, synthetic, holdout)
    found = record_matches.exact_copies(train, synthetic, holdout, schema, columns)
    return {**found, "excess": found["rate"] - found["holdout_rate"],
            "p_value": count_excess_p_value(found["n_unique_copies"], found["n_synthetic"],
                                            found["n_reference_unique_copies"],
                                            found["n_reference"])}


def near_copy_rate(train, synthetic, holdout, schema: DatasetSchema, seed: int = 0) -> dict:
    """Synthetic rows that pin down one training record on all fields but up to
    `allowed_differences` (numbers within a small tolerance), against holdout rows. One test
    per number of differing fields; `p_value` is the smallest, corrected for their number."""
    columns = _fields(schema, train, synthetic, holdout)
    found = record_matches.near_copies(train, synthetic, holdout, schema, columns, seed)
    p_values = [
        count_excess_p_value(hits, found["n_checked"], reference, found["n_holdout_checked"])
        for hits, reference in zip(found["n_near"], found["n_holdout_near"], strict=True)
    ]
    return {**found, "p_values": p_values, "p_value": corrected_minimum(p_values)}


def singling_out_rate(train, synthetic, holdout, schema: DatasetSchema,
                      quasi_identifiers: list[str] | None = None) -> dict:
    """Synthetic rows carrying the quasi-identifier combination of exactly one training record,
    against holdout rows. Default quasi-identifiers: the low-cardinality columns."""
    columns = _fields(schema, train, synthetic, holdout)
    if quasi_identifiers is None:
        qis = record_matches.default_quasi_identifiers(train, schema, columns)
    else:
        unknown = [c for c in quasi_identifiers if c not in columns]
        if unknown:
            raise PipelineError(
                f"quasi_identifiers {unknown} are not modelled columns of {schema.name!r}; "
                f"choose among {columns}")
        qis = list(quasi_identifiers)
    found = record_matches.singling_out(train, synthetic, holdout, schema, qis)
    return {
        **found,
        "excess": found["rate"] - found["holdout_rate"],
        "p_value": count_excess_p_value(found["n_singled_out"], found["n_synthetic"],
                                        found["n_holdout_singled_out"], found["n_holdout"]),
    }


# --- shared nearest-neighbour search -------------------------------------------------------
@dataclass
class _Space:
    """The three frames embedded in one mixed-type distance space fitted on train."""

    encoder: DistanceEncoder
    train: np.ndarray
    synthetic: np.ndarray
    holdout: np.ndarray


def _space(train, synthetic, holdout, schema) -> _Space:
    encoder = DistanceEncoder.fit(train, schema, _fields(schema, train, synthetic, holdout))
    return _Space(encoder, *(encoder.transform(df) for df in (train, synthetic, holdout)))


def _nearest(queries: np.ndarray, reference: np.ndarray, k: int) -> np.ndarray:
    """Distances to the k nearest reference rows, (n, k), ascending; exact copies get 0."""
    return exact_distances(queries, reference, nearest_indices(queries, reference, k))


@dataclass
class _Neighbourhood:
    """Nearest-neighbour distances (and how many records tie at the nearest) that DCR and
    NNDR share."""

    n_train: int
    n_holdout: int
    synthetic_to_train: np.ndarray  # (n_checked, 2)
    synthetic_to_holdout: np.ndarray  # (n_checked,)
    train_ties: np.ndarray  # (n_checked,) training records at the nearest training distance
    holdout_ties: np.ndarray  # (n_checked,) holdout records at the nearest holdout distance
    holdout_to_train: np.ndarray  # (n_holdout_checked, 2)
    holdout_train_ties: np.ndarray  # (n_holdout_checked,)


def _neighbourhood(space: _Space, seed: int, max_synthetic: int) -> _Neighbourhood:
    rng = np.random.default_rng(seed)
    syn = space.synthetic[record_matches.subsample(len(space.synthetic), max_synthetic, rng)]
    hold = space.holdout[record_matches.subsample(len(space.holdout), max_synthetic, rng)]
    to_train, train_ties = nearest_with_ties(syn, space.train, k=2)
    to_holdout, holdout_ties = nearest_with_ties(syn, space.holdout, k=1)
    holdout_nearest, holdout_train_ties = nearest_with_ties(hold, space.train, k=2)
    return _Neighbourhood(
        n_train=len(space.train),
        n_holdout=len(space.holdout),
        synthetic_to_train=exact_distances(syn, space.train, to_train),
        synthetic_to_holdout=exact_distances(syn, space.holdout, to_holdout)[:, 0],
        train_ties=train_ties,
        holdout_ties=holdout_ties,
        holdout_to_train=exact_distances(hold, space.train, holdout_nearest),
        holdout_train_ties=holdout_train_ties,
    )


# --- distance to closest record ------------------------------------------------------------
def dcr(train, synthetic, holdout, schema: DatasetSchema, seed: int,
        max_synthetic: int = MAX_SYNTHETIC_CHECKED) -> dict:
    """Distance to closest record, synthetic -> train, against synthetic -> holdout.

    `share`: share of the checked synthetic rows whose nearest real record is a training row.
    If the generator's output is as exchangeable with train as with holdout rows, the nearest of
    the pooled n_train + n_holdout records is equally likely to be any of them, so the expected
    share is n_train / (n_train + n_holdout) (0.5 for equal sizes). A tie goes to train with
    the share of tied records that are training records (a tie's own odds, not the pooled
    ones, which would favour train whenever both sides tie). `share_excess` rescales to
    0 = as expected, 1 = always train. `p_value`: one-sided test of share_excess >
    DCR_SHARE_MARGIN. Distance arrays for histograms are under `distances`.
    """
    space = _space(train, synthetic, holdout, schema)
    return _dcr_from(_neighbourhood(space, seed, max_synthetic), seed)


def _dcr_from(hood: _Neighbourhood, seed: int) -> dict:
    to_train, to_holdout = hood.synthetic_to_train[:, 0], hood.synthetic_to_holdout
    expected = hood.n_train / (hood.n_train + hood.n_holdout)
    ties = to_train == to_holdout
    train_odds = hood.train_ties / (hood.train_ties + hood.holdout_ties)
    rng = np.random.default_rng(seed)
    closer = (to_train < to_holdout) | (ties & (rng.random(len(ties)) < train_odds))
    n_closer, n = int(closer.sum()), len(closer)
    share = n_closer / n
    holdout_to_train = hood.holdout_to_train[:, 0]
    result = {
        "share": share,
        "expected_share": expected,
        "share_excess": (share - expected) / (1 - expected),
        "p_value": share_p_value(n_closer, n, expected + DCR_SHARE_MARGIN * (1 - expected)),
        **_close_rows(to_train, hood.train_ties, holdout_to_train, hood.holdout_train_ties),
        "n_ties": int(ties.sum()),
        "zero_rate": float(np.mean(to_train == 0)),
        "holdout_zero_rate": float(np.mean(holdout_to_train == 0)),
        "n_checked": n,
        "n_holdout_checked": len(holdout_to_train),
        "n_train": hood.n_train,
        "n_holdout": hood.n_holdout,
        "distances": {
            "synthetic_to_train": to_train,
            "synthetic_to_holdout": to_holdout,
            "holdout_to_train": holdout_to_train,
        },
    }
    for q in PERCENTILES:
        result[f"synthetic_p{q}"] = float(np.percentile(to_train, q))
        result[f"holdout_p{q}"] = float(np.percentile(holdout_to_train, q))
    return result


def _close_rows(synthetic_to_train: np.ndarray, synthetic_ties: np.ndarray,
                holdout_to_train: np.ndarray, holdout_ties: np.ndarray) -> dict:
    """Synthetic rows nearer to one training record than the nearest 1 % of holdout rows are,
    against those holdout rows. Copies with nudged values land there whatever their number;
    honest output sits no nearer than unseen real rows do. Exact copies are left to the
    exact-copy test, and a row whose nearest record is shared by several training rows (a
    common profile, to which a model may well come close) is not near anyone in particular."""
    positive = holdout_to_train[holdout_to_train > 0]
    cutoff = float(np.quantile(positive, CLOSE_QUANTILE)) if len(positive) else 0.0

    def close(distance: np.ndarray, ties: np.ndarray) -> int:
        return int(np.sum((distance > 0) & (distance <= cutoff) & (ties == 1)))

    n_close, n_holdout_close = close(synthetic_to_train, synthetic_ties), close(
        holdout_to_train, holdout_ties)
    rate = n_close / len(synthetic_to_train)
    baseline = n_holdout_close / len(holdout_to_train)
    return {"close_rate": rate, "close_rate_holdout": baseline,
            "close_rate_excess": rate - baseline,
            "close_p_value": count_excess_p_value(n_close, len(synthetic_to_train),
                                                  n_holdout_close, len(holdout_to_train))}


# --- nearest-neighbour distance ratio ------------------------------------------------------
def nndr(train, synthetic, holdout, schema: DatasetSchema, seed: int,
         max_synthetic: int = MAX_SYNTHETIC_CHECKED) -> dict:
    """Nearest / second-nearest training-record distance ratio, synthetic rows against holdout
    rows. A ratio near 0 means a row sits on one specific training record; synthetic
    percentiles well below the holdout's mean records are singled out. A row at distance 0 has
    ratio 0 even if its record is duplicated in train (an exact copy is the worst case)."""
    space = _space(train, synthetic, holdout, schema)
    return _nndr_from(_neighbourhood(space, seed, max_synthetic))


def _ratios(distances: np.ndarray) -> np.ndarray:
    if distances.shape[1] < 2:
        return np.full(len(distances), np.nan)
    nearest, second = distances[:, 0], distances[:, 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(nearest == 0, 0.0, nearest / second)


def _nndr_from(hood: _Neighbourhood) -> dict:
    synthetic, holdout = _ratios(hood.synthetic_to_train), _ratios(hood.holdout_to_train)
    result = {
        "n_checked": len(synthetic),
        "n_holdout_checked": len(holdout),
        "ratios": {"synthetic_to_train": synthetic, "holdout_to_train": holdout},
    }
    for q in PERCENTILES:
        result[f"synthetic_p{q}"] = float(np.nanpercentile(synthetic, q))
        result[f"holdout_p{q}"] = float(np.nanpercentile(holdout, q))
    return result


# --- membership inference ------------------------------------------------------------------
def membership_inference_auc(train, synthetic, holdout, schema: DatasetSchema, seed: int,
                             max_records: int = MAX_MIA_RECORDS) -> dict:
    """Distance-based membership inference: the attacker calls a record a member the closer it
    is to its nearest synthetic record. AUC of that score on equal-sized samples of training
    (members) and holdout (non-members) records; 0.5 = no signal. `tpr_at_1pct_fpr`: members
    caught when only 1 % of non-members are wrongly accused. `p_value`: one-sided test of
    AUC > 0.5 + MIA_MARGIN."""
    return _mia_from(_space(train, synthetic, holdout, schema), seed, max_records)


def _mia_from(space: _Space, seed: int, max_records: int) -> dict:
    from sklearn.metrics import roc_auc_score, roc_curve

    rng = np.random.default_rng(seed)
    n = min(len(space.train), len(space.holdout), max_records)
    members = space.train[rng.choice(len(space.train), size=n, replace=False)]
    others = space.holdout[rng.choice(len(space.holdout), size=n, replace=False)]
    distance = _nearest(np.vstack([members, others]), space.synthetic, k=1)[:, 0]
    labels = np.r_[np.ones(n), np.zeros(n)]
    fpr, tpr, _ = roc_curve(labels, -distance)
    auc = float(roc_auc_score(labels, -distance))
    return {
        "auc": auc,
        "p_value": auc_p_value(auc, n, n, 0.5 + MIA_MARGIN),
        "tpr_at_1pct_fpr": float(np.interp(0.01, fpr, tpr)),
        "n_members": n,
        "n_non_members": n,
        "member_zero_rate": float(np.mean(distance[:n] == 0)),
        "non_member_zero_rate": float(np.mean(distance[n:] == 0)),
    }


# --- everything at once --------------------------------------------------------------------
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
) -> tuple[dict[str, float], dict[str, float], dict[str, np.ndarray]]:
    """Run every privacy metric once, sharing the embedding and the neighbour search.

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

    copies = timed("exact_copy", exact_copy_rate, train, synthetic, holdout, schema)
    near_copies = timed("near_copy", near_copy_rate, train, synthetic, holdout, schema, seed)
    singled = timed("singling_out", singling_out_rate, train, synthetic, holdout, schema,
                    quasi_identifiers)
    space = timed("distance_encoding", _space, train, synthetic, holdout, schema)
    details.pop("distance_encoding")
    hood = timed("neighbour_search", _neighbourhood, space, seed, max_synthetic)
    details.pop("neighbour_search")
    near = timed("dcr", _dcr_from, hood, seed)
    seconds["dcr"] += seconds.pop("neighbour_search")
    ratio = timed("nndr", _nndr_from, hood)
    mia = timed("mia", _mia_from, space, seed, MAX_MIA_RECORDS)
    inference = timed("attribute_inference", attacks.attribute_inference, space, train,
                      synthetic, holdout, schema, seed, n_attacks)
    link = timed("linkability", attacks.linkability, space, seed, n_attacks)
    values = {
        "exact_copy_rate": copies["rate"],
        "exact_copy_rate_holdout": copies["holdout_rate"],
        "exact_copy_excess": copies["excess"],
        "exact_copy_p_value": copies["p_value"],
        "near_copy_rate": near_copies["rate"],
        "near_copy_rate_holdout": near_copies["holdout_rate"],
        "near_copy_p_value": near_copies["p_value"],
        "singling_out_rate": singled["rate"],
        "singling_out_rate_holdout": singled["holdout_rate"],
        "singling_out_p_value": singled["p_value"],
        "dcr_share": near["share"],
        "dcr_share_expected": near["expected_share"],
        "dcr_share_excess": near["share_excess"],
        "dcr_share_p_value": near["p_value"],
        "dcr_close_rate": near["close_rate"],
        "dcr_close_rate_holdout": near["close_rate_holdout"],
        "dcr_close_p_value": near["close_p_value"],
        "dcr_zero_rate": near["zero_rate"],
        "dcr_zero_rate_holdout": near["holdout_zero_rate"],
        "dcr_synthetic_p5": near["synthetic_p5"],
        "dcr_holdout_p5": near["holdout_p5"],
        "dcr_synthetic_p50": near["synthetic_p50"],
        "dcr_holdout_p50": near["holdout_p50"],
        "nndr_synthetic_p5": ratio["synthetic_p5"],
        "nndr_holdout_p5": ratio["holdout_p5"],
        "nndr_synthetic_p50": ratio["synthetic_p50"],
        "nndr_holdout_p50": ratio["holdout_p50"],
        "mia_auc": mia["auc"],
        "mia_tpr_at_1pct_fpr": mia["tpr_at_1pct_fpr"],
        "mia_p_value": mia["p_value"],
        "attribute_inference_risk": inference["risk"],
        "attribute_inference_risk_ci_high": inference["risk_ci_high"],
        "attribute_inference_p_value": inference["p_value"],
        "attribute_inference_worst_column_risk": inference["worst_column_risk"],
        "attribute_inference_worst_column_p_value": inference["worst_column_p_value"],
        "linkability_risk": link["risk"],
        "linkability_risk_ci_high": link["risk_ci_high"],
        "linkability_p_value": link["p_value"],
    }
    return values, seconds, near["distances"]


def findings(details: dict) -> list[str]:
    """The privacy results in sentences a data owner can read (from `details`)."""
    out = []
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
    inference = details.get("attribute_inference")
    if inference:
        worst = inference["columns"][inference["worst_column"]]
        out.append(f"Guessing a person's {inference['worst_column']!r} from their other "
                   f"columns via the synthetic data works for {worst['attack_rate']:.1%} of "
                   f"training records and {worst['control_rate']:.1%} of unseen ones (risk "
                   f"{worst['risk']:.3f}; the column where the evidence of risk is "
                   "strongest).")
    return out
