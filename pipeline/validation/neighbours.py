"""Distance-based privacy metrics: distance to closest record (DCR), nearest-neighbour
distance ratio (NNDR) and distance-based membership inference.

Distances are the mixed-type distance of `encoding.DistanceEncoder` (numbers scaled by the
training range, a differing category = 1, missing a value of its own), found by exact search
over the FULL train and holdout sets; only the synthetic rows checked are subsampled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.errors import PipelineError
from pipeline.schema import DatasetSchema
from pipeline.validation import record_matches
from pipeline.validation.encoding import (
    DistanceEncoder,
    exact_distances,
    nearest_indices,
    nearest_with_ties,
    personal_columns,
)
from pipeline.validation.evidence import auc_p_value, count_excess_p_value, share_p_value

MAX_SYNTHETIC_CHECKED = 10_000
# The dense distance space: float64 coordinates plus the float32 copies a search makes.
SPACE_BYTES_PER_CELL = 8 + 4
MAX_SPACE_BYTES = 6 * 2**30
MAX_MIA_RECORDS = 5_000
PERCENTILES = (1, 5, 25, 50)
# The DCR share may exceed its chance value by this much (on the 0..1 excess scale) before it
# counts as evidence: generalising models sit a little nearer the data they learnt from.
DCR_SHARE_MARGIN = 0.02
# Membership inference: an AUC up to 0.5 + this is no more than a weak, population-level signal.
MIA_MARGIN = 0.05
# "Close" rows: nearer to a training record than this quantile of holdout rows are.
CLOSE_QUANTILE = 0.01


# --- shared nearest-neighbour search -------------------------------------------------------
@dataclass
class Space:
    """The three frames embedded in one mixed-type distance space fitted on train."""

    encoder: DistanceEncoder
    train: np.ndarray
    synthetic: np.ndarray
    holdout: np.ndarray


def embed(train, synthetic, holdout, schema, max_bytes: int = MAX_SPACE_BYTES) -> Space:
    """Fit the distance space on train and embed all three frames; every metric here shares it."""
    columns = personal_columns(schema, train, synthetic, holdout)
    n_rows = len(train) + len(synthetic) + len(holdout)
    encoder = DistanceEncoder.fit(
        train, schema, columns, check_width=lambda enc: _check_space_size(enc, n_rows, max_bytes))
    return Space(encoder, *(encoder.transform(df) for df in (train, synthetic, holdout)))


def _check_space_size(encoder: DistanceEncoder, n_rows: int, max_bytes: int) -> None:
    """Refuse, before allocating it, a dense space that would not fit: every category is a
    coordinate of its own, so many wide categorical columns on many rows add up."""
    needed = n_rows * encoder.width * SPACE_BYTES_PER_CELL
    if needed <= max_bytes:
        return
    widest = sorted(encoder.blocks, key=lambda c: -(encoder.blocks[c].stop
                                                   - encoder.blocks[c].start))[:3]
    raise PipelineError(
        f"the privacy checks' distance space would need {needed / 2**30:.1f} GiB ({n_rows:,} "
        f"rows x {encoder.width:,} coordinates; limit {max_bytes / 2**30:.1f} GiB): every "
        f"category is a coordinate, and the widest columns are {widest}. Give such a column "
        "the role text or id in the schema, train on fewer rows, or drop columns."
    )


def _nearest(queries: np.ndarray, reference: np.ndarray, k: int) -> np.ndarray:
    """Distances to the k nearest reference rows, (n, k), ascending; exact copies get 0."""
    return exact_distances(queries, reference, nearest_indices(queries, reference, k))


@dataclass
class Neighbourhood:
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
    nearest_train: np.ndarray  # (n_checked,) index of each synthetic row's nearest training row
    nearest_holdout: np.ndarray  # (n_checked,) and of its nearest holdout row


def neighbourhood(space: Space, seed: int, max_synthetic: int) -> Neighbourhood:
    """The neighbour search DCR and NNDR share, on at most `max_synthetic` synthetic and
    holdout rows each."""
    rng = np.random.default_rng(seed)
    syn = space.synthetic[record_matches.subsample(len(space.synthetic), max_synthetic, rng)]
    hold = space.holdout[record_matches.subsample(len(space.holdout), max_synthetic, rng)]
    to_train, train_ties = nearest_with_ties(syn, space.train, k=2)
    to_holdout, holdout_ties = nearest_with_ties(syn, space.holdout, k=1)
    holdout_nearest, holdout_train_ties = nearest_with_ties(hold, space.train, k=2)
    return Neighbourhood(
        n_train=len(space.train),
        n_holdout=len(space.holdout),
        synthetic_to_train=exact_distances(syn, space.train, to_train),
        synthetic_to_holdout=exact_distances(syn, space.holdout, to_holdout)[:, 0],
        train_ties=train_ties,
        holdout_ties=holdout_ties,
        holdout_to_train=exact_distances(hold, space.train, holdout_nearest),
        holdout_train_ties=holdout_train_ties,
        nearest_train=to_train[:, 0],
        nearest_holdout=to_holdout[:, 0],
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
    space = embed(train, synthetic, holdout, schema)
    return dcr_from(neighbourhood(space, seed, max_synthetic), seed)


def dcr_from(hood: Neighbourhood, seed: int) -> dict:
    """`dcr` from an already computed neighbourhood."""
    to_train, to_holdout = hood.synthetic_to_train[:, 0], hood.synthetic_to_holdout
    expected = hood.n_train / (hood.n_train + hood.n_holdout)
    ties = to_train == to_holdout
    train_odds = hood.train_ties / (hood.train_ties + hood.holdout_ties)
    rng = np.random.default_rng(seed)
    closer = (to_train < to_holdout) | (ties & (rng.random(len(ties)) < train_odds))
    n_closer, n = int(closer.sum()), len(closer)
    share = n_closer / n
    # the real record (or group of equal records) each synthetic row counts for
    nearest = np.where(closer | ties, hood.nearest_train, hood.n_train + hood.nearest_holdout)
    group = np.where(ties, hood.train_ties + hood.holdout_ties,
                     np.where(closer, hood.train_ties, hood.holdout_ties))
    n_effective = effective_count(nearest, group)
    holdout_to_train = hood.holdout_to_train[:, 0]
    result = {
        "share": share,
        "expected_share": expected,
        "share_excess": (share - expected) / (1 - expected),
        "p_value": share_p_value(int(round(share * n_effective)), n_effective,
                                 expected + DCR_SHARE_MARGIN * (1 - expected)),
        "n_effective": float(n_effective),
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


def effective_count(nearest: np.ndarray, group: np.ndarray | None = None) -> int:
    """How many independent trials the share's synthetic rows amount to, given the real record
    each one is nearest to (`nearest`) and how many equal records share that distance
    (`group`, 1 where none does).

    Under the null the randomness is the split: each real record is a training record with
    the training share's odds p, whatever the generator did, and every synthetic row nearest
    to it shares that one draw. So the share's variance is p(1-p) sum(n_j^2) / n^2 over the
    records' counts n_j, that of n^2 / sum(n_j^2) independent rows: many synthetic rows
    crowding onto few real records (a small table, a smooth model) are few trials, not many.
    A group of t equal records averages t draws, and its rows then split by their own draws:
    n_j^2 / t + n_j (1 - 1/t) in place of n_j^2.
    """
    group = np.ones(len(nearest)) if group is None else np.maximum(group, 1)
    counts = np.bincount(nearest).astype(float)
    size = np.zeros(len(counts))
    size[nearest] = group  # rows nearest to one record agree on its group
    held = counts > 0
    units = np.sum(counts[held] ** 2 / size[held] + counts[held] * (1 - 1 / size[held]))
    return max(1, int(round(len(nearest) ** 2 / float(units))))


def _close_rows(synthetic_to_train: np.ndarray, synthetic_ties: np.ndarray,
                holdout_to_train: np.ndarray, holdout_ties: np.ndarray) -> dict:
    """Synthetic rows nearer to one training record than the nearest 1 % of holdout rows are,
    against those holdout rows. Copies with nudged values land there whatever their number;
    honest output sits no nearer than unseen real rows do. Exact copies are left to the
    exact-copy test, and a row whose nearest record is shared by several training rows (a
    common profile, to which a model may well come close) is not near anyone in particular.

    Both rates are shares of the rows that copy no record: where real rows mostly repeat a
    training record (binned measurements), the few holdout rows that do not would otherwise
    stand against every synthetic row off the training records."""
    positive = holdout_to_train[holdout_to_train > 0]
    cutoff = float(np.quantile(positive, CLOSE_QUANTILE)) if len(positive) else 0.0

    def close(distance: np.ndarray, ties: np.ndarray) -> tuple[int, int]:
        off = distance > 0
        return int(np.sum(off & (distance <= cutoff) & (ties == 1))), int(off.sum())

    (n_close, n_off), (n_holdout_close, n_holdout_off) = (
        close(synthetic_to_train, synthetic_ties), close(holdout_to_train, holdout_ties))
    rate, baseline = n_close / max(n_off, 1), n_holdout_close / max(n_holdout_off, 1)
    return {"close_rate": rate, "close_rate_holdout": baseline,
            "close_rate_excess": rate - baseline,
            "close_p_value": count_excess_p_value(n_close, max(n_off, 1), n_holdout_close,
                                                  max(n_holdout_off, 1))}


# --- nearest-neighbour distance ratio ------------------------------------------------------
def nndr(train, synthetic, holdout, schema: DatasetSchema, seed: int,
         max_synthetic: int = MAX_SYNTHETIC_CHECKED) -> dict:
    """Nearest / second-nearest training-record distance ratio, synthetic rows against holdout
    rows. A ratio near 0 means a row sits on one specific training record; synthetic
    percentiles well below the holdout's mean records are singled out. A row at distance 0 has
    ratio 0 even if its record is duplicated in train (an exact copy is the worst case)."""
    space = embed(train, synthetic, holdout, schema)
    return nndr_from(neighbourhood(space, seed, max_synthetic))


def _ratios(distances: np.ndarray) -> np.ndarray:
    if distances.shape[1] < 2:
        return np.full(len(distances), np.nan)
    nearest, second = distances[:, 0], distances[:, 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(nearest == 0, 0.0, nearest / second)


def nndr_from(hood: Neighbourhood) -> dict:
    """`nndr` from an already computed neighbourhood."""
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
    return mia_from(embed(train, synthetic, holdout, schema), seed, max_records)


def mia_from(space: Space, seed: int, max_records: int) -> dict:
    """`membership_inference_auc` in an already embedded space."""
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
