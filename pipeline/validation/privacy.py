"""Privacy metrics: does the synthetic data give away the records it was trained on?

Every metric compares the synthetic data's closeness to the training rows with its closeness to
holdout rows the model never saw: a generator that learnt the population, not the records, is
as close to one as to the other. Distances are the mixed-type distance of
`encoding.DistanceEncoder` (numbers scaled by the training range, a differing category = 1,
missing handled as its own value), found by exact brute-force search over the FULL train and
holdout sets; only the synthetic rows checked are subsampled, so copied rows are never missed
by the search itself.

The attribute-inference and linkability attacks follow Giomi et al. (2022), "A Unified
Framework for Quantifying Privacy Risk in Synthetic Data" (the anonymeter paper): the same
attack is run on training targets and on holdout ("control") targets, and
risk = (attack rate - control rate) / (1 - control rate), rates with Wilson intervals.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.schema import DatasetSchema, Role
from pipeline.validation.encoding import (
    CONTINUOUS,
    DistanceEncoder,
    canonical_frame,
    column_values,
    compared_columns,
    exact_distances,
    nearest_index_per_view,
    nearest_indices,
)

MAX_SYNTHETIC_CHECKED = 10_000
MAX_MIA_RECORDS = 5_000
N_ATTACKS = 1_000
CONFIDENCE = 0.95
# Attribute inference: a numeric guess within 5 % of the true value counts as correct.
NUMERIC_TOLERANCE = 0.05
PERCENTILES = (1, 5, 25, 50)


# --- exact copies --------------------------------------------------------------------------
def _row_hashes(df: pd.DataFrame, schema: DatasetSchema, columns: list[str]) -> np.ndarray:
    frame = canonical_frame(df, schema, columns)
    return pd.util.hash_pandas_object(frame, index=False).to_numpy()


def exact_copy_rate(
    train: pd.DataFrame, synthetic: pd.DataFrame, holdout: pd.DataFrame, schema: DatasetSchema
) -> dict:
    """Share of synthetic rows identical to some training row (modelled columns, missing equals
    missing), beside the same share for holdout rows: real data's own chance duplicates."""
    columns = compared_columns(schema, train, synthetic, holdout)
    train_hashes = _row_hashes(train, schema, columns)
    copied = np.isin(_row_hashes(synthetic, schema, columns), train_hashes)
    holdout_copied = np.isin(_row_hashes(holdout, schema, columns), train_hashes)
    rate, baseline = float(copied.mean()), float(holdout_copied.mean())
    return {
        "rate": rate,
        "holdout_rate": baseline,
        "excess": rate - baseline,
        "n_copies": int(copied.sum()),
        "n_synthetic": len(synthetic),
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
    # The time index is shared by every entity (everyone has a 2013-03-01 09:00 reading): it
    # is no personal attribute, and with a sequence-tail holdout it would make holdout rows
    # look far from everything for reasons of calendar alone.
    columns = [c for c in compared_columns(schema, train, synthetic, holdout)
               if c != schema.sequence_index]
    encoder = DistanceEncoder.fit(train, schema, columns)
    return _Space(encoder, *(encoder.transform(df) for df in (train, synthetic, holdout)))


def _nearest(queries: np.ndarray, reference: np.ndarray, k: int) -> np.ndarray:
    """Distances to the k nearest reference rows, (n, k), ascending; exact copies get 0."""
    return exact_distances(queries, reference, nearest_indices(queries, reference, k))


@dataclass
class _Neighbourhood:
    """Nearest-neighbour distances that DCR and NNDR share."""

    n_train: int
    n_holdout: int
    synthetic_to_train: np.ndarray  # (n_checked, 2)
    synthetic_to_holdout: np.ndarray  # (n_checked,)
    holdout_to_train: np.ndarray  # (n_holdout_checked, 2)


def _neighbourhood(space: _Space, seed: int, max_synthetic: int) -> _Neighbourhood:
    rng = np.random.default_rng(seed)
    syn = space.synthetic[_subsample(len(space.synthetic), max_synthetic, rng)]
    hold = space.holdout[_subsample(len(space.holdout), max_synthetic, rng)]
    return _Neighbourhood(
        n_train=len(space.train),
        n_holdout=len(space.holdout),
        synthetic_to_train=_nearest(syn, space.train, k=2),
        synthetic_to_holdout=_nearest(syn, space.holdout, k=1)[:, 0],
        holdout_to_train=_nearest(hold, space.train, k=2),
    )


def _subsample(n: int, cap: int, rng: np.random.Generator) -> np.ndarray:
    return np.arange(n) if n <= cap else np.sort(rng.choice(n, size=cap, replace=False))


# --- distance to closest record ------------------------------------------------------------
def dcr(
    train: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame,
    schema: DatasetSchema,
    seed: int,
    max_synthetic: int = MAX_SYNTHETIC_CHECKED,
) -> dict:
    """Distance to closest record, synthetic -> train, against synthetic -> holdout.

    `share`: share of the checked synthetic rows whose nearest real record is a training row.
    If the generator's output is as exchangeable with train as with holdout rows, the nearest of
    the pooled n_train + n_holdout records is equally likely to be any of them, so the expected
    share is n_train / (n_train + n_holdout) (0.5 for equal sizes); ties are split at random in
    that proportion. `share_excess` rescales to 0 = as expected, 1 = always train, which for a
    leak is about the share of copied rows. `p_value`: one-sided binomial test of share >
    expected. Distance arrays for histograms are under `distances`.
    """
    space = _space(train, synthetic, holdout, schema)
    return _dcr_from(_neighbourhood(space, seed, max_synthetic), seed)


def _dcr_from(hood: _Neighbourhood, seed: int) -> dict:
    from scipy.stats import binomtest

    to_train, to_holdout = hood.synthetic_to_train[:, 0], hood.synthetic_to_holdout
    expected = hood.n_train / (hood.n_train + hood.n_holdout)
    ties = to_train == to_holdout
    rng = np.random.default_rng(seed)
    closer = (to_train < to_holdout) | (ties & (rng.random(len(ties)) < expected))
    n_closer, n = int(closer.sum()), len(closer)
    share = n_closer / n
    holdout_to_train = hood.holdout_to_train[:, 0]
    result = {
        "share": share,
        "expected_share": expected,
        "share_excess": (share - expected) / (1 - expected),
        "p_value": float(binomtest(n_closer, n, expected, alternative="greater").pvalue),
        # one-sided 99 % lower bound of the excess: on small data the share is noisy, and a
        # privacy gate must not fail a model on noise alone
        "share_excess_low": (_wilson_low(n_closer, n) - expected) / (1 - expected),
        **_close_rows(to_train, hood.holdout_to_train[:, 0]),
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


# --- nearest-neighbour distance ratio ------------------------------------------------------
def nndr(
    train: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame,
    schema: DatasetSchema,
    seed: int,
    max_synthetic: int = MAX_SYNTHETIC_CHECKED,
) -> dict:
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
def membership_inference_auc(
    train: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame,
    schema: DatasetSchema,
    seed: int,
    max_records: int = MAX_MIA_RECORDS,
) -> dict:
    """Distance-based membership inference: the attacker calls a record a member the closer it
    is to its nearest synthetic record. AUC of that score on equal-sized samples of training
    (members) and holdout (non-members) records; 0.5 = no signal. `tpr_at_1pct_fpr`: members
    caught when only 1 % of non-members are wrongly accused."""
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
    return {
        "auc": float(roc_auc_score(labels, -distance)),
        "tpr_at_1pct_fpr": float(np.interp(0.01, fpr, tpr)),
        "n_members": n,
        "n_non_members": n,
        "member_zero_rate": float(np.mean(distance[:n] == 0)),
        "non_member_zero_rate": float(np.mean(distance[n:] == 0)),
    }


def _close_rows(synthetic_to_train: np.ndarray, holdout_to_train: np.ndarray) -> dict:
    """Share of synthetic rows nearer to a training record than the nearest 1 % of holdout
    rows are, minus that 1 % itself. Copies and near-copies (one value nudged) land there
    whatever their number; honest output sits no nearer than unseen real rows do."""
    cutoff = float(np.quantile(holdout_to_train, 0.01))
    baseline = float(np.mean(holdout_to_train <= cutoff))
    rate = float(np.mean(synthetic_to_train <= cutoff))
    return {"close_rate": rate, "close_rate_holdout": baseline,
            "close_rate_excess": rate - baseline}


def _auc_low(auc: float, n_pos: int, n_neg: int) -> float:
    """One-sided 99 % lower bound of an AUC (Hanley & McNeil's standard error)."""
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    variance = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc * auc)
                + (n_neg - 1) * (q2 - auc * auc)) / max(n_pos * n_neg, 1)
    return float(auc - 2.326 * np.sqrt(max(variance, 0.0)))


def _wilson_low(successes: int, n: int) -> float:
    centre, half = _wilson(successes, n, confidence=0.98)
    return centre - half


# --- anonymeter-style attacks --------------------------------------------------------------
def _wilson(successes: float, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval for a success rate: (centre, half-width)."""
    from scipy.stats import norm

    z = norm.ppf(0.5 + confidence / 2)
    denominator = n + z * z
    centre = (successes + z * z / 2) / denominator
    half = z / denominator * np.sqrt(successes * (n - successes) / n + z * z / 4)
    return float(centre), float(half)


def _risk(attack: float, control: float, n: int, confidence: float = CONFIDENCE) -> dict:
    """Privacy risk from the attack's success on training targets beyond that on controls.

    risk = (a - c) / (1 - c) on the Wilson centres; its interval propagates both half-widths
    to first order (d risk / d a = 1 / (1 - c), d risk / d c = (a - 1) / (1 - c) ** 2).
    """
    a, a_err = _wilson(attack, n, confidence)
    c, c_err = _wilson(control, n, confidence)
    risk = (a - c) / (1 - c)
    err = np.hypot(a_err / (1 - c), c_err * (1 - a) / (1 - c) ** 2)
    return {
        "risk": float(risk),
        "risk_ci_low": float(max(risk - err, -1.0)),
        "risk_ci_high": float(min(risk + err, 1.0)),
        "attack_rate": a,
        "control_rate": c,
        "n_attacks": n,
    }


def _targets(space: _Space, seed: int, n_attacks: int) -> tuple[np.ndarray, np.ndarray, int]:
    rng = np.random.default_rng(seed)
    n = min(n_attacks, len(space.train), len(space.holdout))
    return (
        rng.choice(len(space.train), size=n, replace=False),
        rng.choice(len(space.holdout), size=n, replace=False),
        n,
    )


def attribute_inference(
    train: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame,
    schema: DatasetSchema,
    seed: int,
    n_attacks: int = N_ATTACKS,
    secrets: list[str] | None = None,
) -> dict:
    """For each secret column: the attacker knows a target's other modelled columns, takes the
    nearest synthetic record on those, and guesses its secret value (numbers: within 5 %).

    `risk` pools all secret columns: attack and control rates are the mean share of a target's
    secrets guessed right, on training vs holdout targets. Per column results are under
    `columns` (with `baseline_rate`, a naive attacker guessing a random synthetic row's value);
    the worst column is reported but is noisy: a maximum over many estimates, and a nearly
    constant column (Adult's capital-loss is 0 for 95 %) has a control rate near 1, where
    (a - c) / (1 - c) divides by almost 0."""
    space = _space(train, synthetic, holdout, schema)
    return _attribute_from(space, train, synthetic, holdout, schema, seed, n_attacks, secrets)


def _attribute_from(space, train, synthetic, holdout, schema, seed, n_attacks, secrets) -> dict:
    encoder = space.encoder
    secrets = secrets or encoder.columns
    train_idx, holdout_idx, n = _targets(space, seed, n_attacks)
    queries = np.vstack([space.train[train_idx], space.holdout[holdout_idx]])
    hidden = {s: encoder.dims([s]) for s in secrets}
    nearest = nearest_index_per_view(queries, space.synthetic, hidden)
    rng = np.random.default_rng(seed + 1)
    random_rows = rng.integers(len(synthetic), size=len(queries))
    per_column, hits = {}, []
    for secret in secrets:
        truth = pd.concat([train[secret].iloc[train_idx], holdout[secret].iloc[holdout_idx]])
        role = schema.column(secret).role
        correct = _correct_guesses(truth, synthetic[secret].iloc[nearest[secret]], encoder, role)
        lucky = _correct_guesses(truth, synthetic[secret].iloc[random_rows], encoder, role)
        per_column[secret] = {
            **_risk(correct[:n].sum(), correct[n:].sum(), n),
            "baseline_rate": float(lucky[:n].mean()),
        }
        hits.append(correct)
    # Each target's share of secrets guessed right; the interval counts targets, not guesses,
    # because one target's guesses are not independent of each other.
    share = np.mean(hits, axis=0)
    worst = max(per_column, key=lambda s: per_column[s]["risk"])
    return {
        **_risk(share[:n].sum(), share[n:].sum(), n),
        "worst_column": worst,
        "worst_column_risk": per_column[worst]["risk"],
        "columns": per_column,
    }


def _correct_guesses(truth: pd.Series, guess: pd.Series, encoder, role) -> np.ndarray:
    if role in CONTINUOUS:
        t, g = column_values(truth), column_values(guess)
        if role == Role.datetime:
            # Datetimes: 5 % of the training span, as 5 % of "nanoseconds since 1970" is years.
            close = np.abs(g - t) <= NUMERIC_TOLERANCE * encoder.scales[truth.name]
        else:
            close = np.abs(g - t) <= NUMERIC_TOLERANCE * np.abs(t)
        return close | (np.isnan(t) & np.isnan(g))
    return encoder.discrete_codes(truth) == encoder.discrete_codes(guess.rename(truth.name))


def linkability(
    train: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame,
    schema: DatasetSchema,
    seed: int,
    n_attacks: int = N_ATTACKS,
    halves: tuple[list[str], list[str]] | None = None,
) -> dict:
    """The attacker holds two halves of a target's columns (say from two data sources) and
    links them if both halves have the same nearest synthetic record. Success on training
    targets vs holdout targets gives the risk. Default halves: numeric-like columns and
    categorical ones each dealt alternately, so both halves can tell records apart."""
    space = _space(train, synthetic, holdout, schema)
    return _linkability_from(space, seed, n_attacks, halves)


def _default_halves(encoder: DistanceEncoder) -> tuple[list[str], list[str]]:
    ordered = [c for c in encoder.columns if encoder.roles[c] in CONTINUOUS] + [
        c for c in encoder.columns if encoder.roles[c] not in CONTINUOUS
    ]
    return ordered[0::2], ordered[1::2]


def _linkability_from(space: _Space, seed: int, n_attacks: int, halves) -> dict:
    first, second = halves or _default_halves(space.encoder)
    train_idx, holdout_idx, n = _targets(space, seed, n_attacks)
    queries = np.vstack([space.train[train_idx], space.holdout[holdout_idx]])
    # Knowing only the first half = hiding the second, and vice versa.
    nearest = nearest_index_per_view(
        queries, space.synthetic,
        {"first": space.encoder.dims(second), "second": space.encoder.dims(first)},
    )
    linked = nearest["first"] == nearest["second"]
    return {
        **_risk(int(linked[:n].sum()), int(linked[n:].sum()), n),
        "halves": [list(first), list(second)],
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
    n_attacks: int = N_ATTACKS,
    details: dict | None = None,
) -> tuple[dict[str, float], dict[str, float], dict[str, np.ndarray]]:
    """Run every privacy metric once, sharing the embedding and the neighbour search.

    Returns (flat metric name -> value, metric -> seconds, DCR distance arrays for
    histograms). `seconds["dcr"]` includes the neighbour search NNDR reuses. Pass a dict as
    `details` to receive each metric's full result.
    """
    values: dict[str, float] = {}
    seconds: dict[str, float] = {}
    details = {} if details is None else details

    def timed(name: str, fn, *args):
        start = time.perf_counter()
        result = fn(*args)
        seconds[name] = time.perf_counter() - start
        details[name] = result
        return result

    copies = timed("exact_copy", exact_copy_rate, train, synthetic, holdout, schema)
    space = timed("distance_encoding", _space, train, synthetic, holdout, schema)
    details.pop("distance_encoding")
    hood = timed("neighbour_search", _neighbourhood, space, seed, max_synthetic)
    details.pop("neighbour_search")
    near = timed("dcr", _dcr_from, hood, seed)
    seconds["dcr"] += seconds.pop("neighbour_search")
    ratio = timed("nndr", _nndr_from, hood)
    mia = timed("mia", _mia_from, space, seed, MAX_MIA_RECORDS)
    inference = timed("attribute_inference", _attribute_from, space, train, synthetic, holdout,
                      schema, seed, n_attacks, None)
    link = timed("linkability", _linkability_from, space, seed, n_attacks, None)

    values.update({
        "exact_copy_rate": copies["rate"],
        "exact_copy_rate_holdout": copies["holdout_rate"],
        "exact_copy_excess": copies["excess"],
        "dcr_share": near["share"],
        "dcr_share_expected": near["expected_share"],
        "dcr_share_excess": near["share_excess"],
        "dcr_p_value": near["p_value"],
        "dcr_share_excess_low": near["share_excess_low"],
        "dcr_close_rate": near["close_rate"],
        "dcr_close_rate_excess": near["close_rate_excess"],
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
        "mia_auc_low": _auc_low(mia["auc"], mia["n_members"], mia["n_non_members"]),
        "attribute_inference_risk": inference["risk"],
        "attribute_inference_risk_ci_high": inference["risk_ci_high"],
        "attribute_inference_risk_ci_low": 2 * inference["risk"] - inference["risk_ci_high"],
        "attribute_inference_worst_column_risk": inference["worst_column_risk"],
        "linkability_risk": link["risk"],
        "linkability_risk_ci_high": link["risk_ci_high"],
        "linkability_risk_ci_low": 2 * link["risk"] - link["risk_ci_high"],
    })
    return values, seconds, near["distances"]
