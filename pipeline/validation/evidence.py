"""One-sided tests behind the privacy gate: is the synthetic data closer to its training
records than unseen real records (the holdout) are?

Every gated privacy metric is a p-value of one of these tests. The null hypothesis is always
"the synthetic rows relate to the training records as the holdout's rows do", give or take a
stated margin; a small p-value is evidence of memorisation. The gate controls the family-wise
error rate: with `m` gated tests, each fails below `PRIVACY_ALPHA / m` (Bonferroni), so an
honest model is wrongly quarantined in at most `PRIVACY_ALPHA` of runs whatever the table size,
while a leak of a fixed number of records fails as soon as the counts can show it.
"""

from __future__ import annotations

import numpy as np

# Family-wise false-alarm rate of the privacy gate, shared by all its tests.
PRIVACY_ALPHA = 0.01


def count_excess_p_value(hits: int, n: int, reference_hits: int, n_reference: int) -> float:
    """P-value that the synthetic rate hits / n exceeds the holdout's reference_hits /
    n_reference (one-sided Fisher exact test; both rates are estimates, so a small holdout
    widens the test instead of being taken as the truth)."""
    if n == 0 or n_reference == 0:
        return 1.0
    from scipy.stats import fisher_exact

    table = [[hits, n - hits], [reference_hits, n_reference - reference_hits]]
    return float(fisher_exact(table, alternative="greater").pvalue)


def share_p_value(successes: int, n: int, null_share: float) -> float:
    """P-value that a share exceeds null_share (one-sided exact binomial test)."""
    if n == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(binomtest(successes, n, min(null_share, 1.0), alternative="greater").pvalue)


def auc_p_value(auc: float, n_pos: int, n_neg: int, null_auc: float) -> float:
    """P-value that an AUC exceeds null_auc (normal test, Hanley & McNeil's standard error
    under the null). Taken at the observed AUC, that error vanishes as the AUC reaches 1: on
    a 12-row table three members and three others ranked apart by chance (1 in 20) gave
    p = 0 and quarantined an honest output."""
    from scipy.stats import norm

    q1, q2 = null_auc / (2 - null_auc), 2 * null_auc * null_auc / (1 + null_auc)
    variance = (null_auc * (1 - null_auc) + (n_pos - 1) * (q1 - null_auc * null_auc)
                + (n_neg - 1) * (q2 - null_auc * null_auc)) / max(n_pos * n_neg, 1)
    se = float(np.sqrt(max(variance, 1e-12)))
    return float(norm.sf((auc - null_auc) / se))


def risk_p_value(attack_hits: float, control_hits: float, n: int, margin: float) -> float:
    """P-value that an anonymeter-style risk (a - c) / (1 - c) exceeds margin, where a and c
    are the attack's success rates on training and on holdout targets (n each).

    risk > margin  <=>  a > c + margin * (1 - c); the test is a normal test of that
    difference with both rates' binomial variances (add-2 smoothed, so 0 or n successes do
    not give a zero variance)."""
    from scipy.stats import norm

    if n == 0:
        return 1.0
    a = (attack_hits + 1) / (n + 2)
    c = (control_hits + 1) / (n + 2)
    gap = a - (c + margin * (1 - c))
    variance = (a * (1 - a) + (1 - margin) ** 2 * c * (1 - c)) / n
    return float(norm.sf(gap / np.sqrt(variance)))


def corrected_minimum(p_values: list[float]) -> float:
    """The smallest of several p-values, Bonferroni-corrected for having looked at all."""
    return float(min(1.0, min(p_values) * len(p_values))) if p_values else 1.0
