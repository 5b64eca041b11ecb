"""Anonymeter-style attacks on the synthetic data: attribute inference and linkability.

They follow Giomi et al. (2022), "A Unified Framework for Quantifying Privacy Risk in
Synthetic Data" (the anonymeter paper): the same attack is run on training targets and on
holdout ("control") targets, and risk = (attack rate - control rate) / (1 - control rate),
with Wilson intervals for the rates and a one-sided test of risk > margin for the gate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.schema import Role
from pipeline.validation.encoding import (
    CONTINUOUS,
    DistanceEncoder,
    column_values,
    nearest_index_per_view,
)
from pipeline.validation.evidence import corrected_minimum, risk_p_value

N_ATTACKS = 1_000
CONFIDENCE = 0.95
# Attribute inference: a numeric guess within 5 % of the true value counts as correct.
NUMERIC_TOLERANCE = 0.05
# Risk an attack may show before the gate calls it a leak: the anonymeter paper's examples
# treat risks of a few points as noise of the method rather than exposure.
RISK_MARGIN = 0.05


def wilson(successes: float, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval for a success rate: (centre, half-width)."""
    from scipy.stats import binomtest

    # binomtest counts whole successes, so a pooled count (a share of each target's secrets)
    # is rounded to whole targets.
    interval = binomtest(int(round(successes)), n).proportion_ci(
        confidence_level=confidence, method="wilson")
    return (float((interval.low + interval.high) / 2),
            float((interval.high - interval.low) / 2))


def risk(attack: float, control: float, n: int, confidence: float = CONFIDENCE) -> dict:
    """Privacy risk from the attack's success on training targets beyond that on controls.

    risk = (a - c) / (1 - c) on the Wilson centres; its interval propagates both half-widths
    to first order (d risk / d a = 1 / (1 - c), d risk / d c = (a - 1) / (1 - c) ** 2).
    `p_value` tests risk > RISK_MARGIN.
    """
    a, a_err = wilson(attack, n, confidence)
    c, c_err = wilson(control, n, confidence)
    value = (a - c) / (1 - c)
    err = np.hypot(a_err / (1 - c), c_err * (1 - a) / (1 - c) ** 2)
    return {
        "risk": float(value),
        "risk_ci_low": float(max(value - err, -1.0)),
        "risk_ci_high": float(min(value + err, 1.0)),
        "p_value": risk_p_value(attack, control, n, RISK_MARGIN),
        "attack_rate": a,
        "control_rate": c,
        "n_attacks": n,
    }


def _targets(space, seed: int, n_attacks: int) -> tuple[np.ndarray, np.ndarray, int]:
    rng = np.random.default_rng(seed)
    n = min(n_attacks, len(space.train), len(space.holdout))
    return (
        rng.choice(len(space.train), size=n, replace=False),
        rng.choice(len(space.holdout), size=n, replace=False),
        n,
    )


def attribute_inference(space, train, synthetic, holdout, schema, seed: int,
                        n_attacks: int = N_ATTACKS, secrets: list[str] | None = None) -> dict:
    """For each secret column: the attacker knows a target's other modelled columns, takes the
    nearest synthetic record on those, and guesses its secret value (numbers: within 5 %).

    `risk` pools all secret columns: attack and control rates are the mean share of a target's
    secrets guessed right, on training vs holdout targets. Per column results are under
    `columns` (with `baseline_rate`, a naive attacker guessing a random synthetic row's value).
    The worst column is the one with the strongest evidence of risk (smallest p-value), and
    its p-value is corrected for the number of columns tried: a maximum over many noisy
    estimates is large by chance, and a nearly constant column's (a - c) / (1 - c) divides by
    almost 0."""
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
            **risk(correct[:n].sum(), correct[n:].sum(), n),
            "baseline_rate": float(lucky[:n].mean()),
        }
        hits.append(correct)
    # Each target's share of secrets guessed right; the interval counts targets, not guesses,
    # because one target's guesses are not independent of each other.
    share = np.mean(hits, axis=0)
    worst = min(per_column, key=lambda s: (per_column[s]["p_value"], -per_column[s]["risk"]))
    return {
        **risk(share[:n].sum(), share[n:].sum(), n),
        "worst_column": worst,
        "worst_column_risk": per_column[worst]["risk"],
        "worst_column_p_value": corrected_minimum([r["p_value"] for r in per_column.values()]),
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


def _default_halves(encoder: DistanceEncoder) -> tuple[list[str], list[str]]:
    """Numeric-like columns and categorical ones each dealt alternately, so both halves can
    tell records apart."""
    ordered = [c for c in encoder.columns if encoder.roles[c] in CONTINUOUS] + [
        c for c in encoder.columns if encoder.roles[c] not in CONTINUOUS
    ]
    return ordered[0::2], ordered[1::2]


def linkability(space, seed: int, n_attacks: int = N_ATTACKS, halves=None) -> dict:
    """The attacker holds two halves of a target's columns (say from two data sources) and
    links them if both halves have the same nearest synthetic record. Success on training
    targets vs holdout targets gives the risk. A table of one modelled column has no two
    halves: nothing to link, risk 0."""
    first, second = halves or _default_halves(space.encoder)
    train_idx, holdout_idx, n = _targets(space, seed, n_attacks)
    if not first or not second:
        return {**risk(0, 0, n), "halves": [list(first), list(second)]}
    queries = np.vstack([space.train[train_idx], space.holdout[holdout_idx]])
    # Knowing only the first half = hiding the second, and vice versa.
    nearest = nearest_index_per_view(
        queries, space.synthetic,
        {"first": space.encoder.dims(second), "second": space.encoder.dims(first)},
    )
    linked = nearest["first"] == nearest["second"]
    return {
        **risk(int(linked[:n].sum()), int(linked[n:].sum()), n),
        "halves": [list(first), list(second)],
    }
