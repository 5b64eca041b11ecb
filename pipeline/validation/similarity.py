"""How alike one column is in real and synthetic data: the KS and TV complements.

The one implementation behind the tabular Column Shapes and the time-series shape metrics, so
a column scores the same whichever report shows it.
"""

from __future__ import annotations

import numpy as np

# SDMetrics rounds to the float's reliable digits before the KS test, so 0.1 + 0.2 == 0.3.
KS_DECIMALS = 14


def ks_complement(real: np.ndarray, synthetic: np.ndarray) -> float:
    """1 - the two-sample Kolmogorov-Smirnov statistic on the non-missing values: the largest
    gap between the two empirical CDFs (scipy's `ks_2samp` statistic, without the p-value it
    also computes, which warns of a division by zero when each side has one value)."""
    a = np.sort(np.round(real[~np.isnan(real)], KS_DECIMALS))
    b = np.sort(np.round(synthetic[~np.isnan(synthetic)], KS_DECIMALS))
    if len(a) == 0 or len(b) == 0:
        return float("nan")
    pooled = np.concatenate([a, b])
    gap = np.searchsorted(a, pooled, side="right") / len(a) \
        - np.searchsorted(b, pooled, side="right") / len(b)
    return float(1.0 - np.abs(gap).max())


def tv_complement(real: np.ndarray, synthetic: np.ndarray, size: int, na_code: int) -> float:
    """1 - total variation distance between the frequencies of codes 0 .. size - 1, the
    missing-value code `na_code` left out."""
    real, synthetic = real[real != na_code], synthetic[synthetic != na_code]
    if len(real) == 0 or len(synthetic) == 0:
        return float("nan")
    p = np.bincount(real, minlength=size) / len(real)
    q = np.bincount(synthetic, minlength=size) / len(synthetic)
    return float(1.0 - 0.5 * np.abs(p - q).sum())


def finite_mean(values) -> float:
    """Mean of the finite values, NaN when there is none (a metric undefined for every column)."""
    values = np.asarray(values, dtype=float)
    finite = values[np.isfinite(values)]
    return float(np.mean(finite)) if len(finite) else float("nan")
