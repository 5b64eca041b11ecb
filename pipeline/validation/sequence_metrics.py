"""Time-series fidelity: marginals, autocorrelation, cross-column correlation, lengths, cadence.

Flat `seq_*` names so the values sit in the same one-row metrics table as the tabular metrics.
Autocorrelations are computed per sequence (pairs of rows `lag` steps apart, both observed)
and averaged over sequences, so several short sequences are not glued into one series.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.schema import DatasetSchema, Role
from pipeline.timeseries import check_time_series, index_steps, modal_step, sequence_ids
from pipeline.validation import similarity
from pipeline.validation.encoding import discrete_codes

# The seasonal lag, by cadence: a day of hourly steps, a week of daily steps.
HOUR, DAY = 3600.0, 86_400.0
SEASONAL_LAGS = {HOUR: 24, DAY: 7}


def sequence_metrics(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    schema: DatasetSchema,
    seasonal_lag: int | None = None,
) -> dict[str, float]:
    """Real vs synthetic time-series metrics; `seasonal_lag` overrides the cadence's default."""
    real = check_time_series(real, schema).reset_index(drop=True)
    synthetic = check_time_series(synthetic, schema).reset_index(drop=True)
    numeric, discrete = _varying_columns(schema)
    out: dict[str, float] = {}
    shapes = []
    for col in numeric + discrete:
        shapes.append(_shape(real, synthetic, schema, col, discrete=col in discrete))
        out[f"seq_shape_{col}"] = shapes[-1]
    for col in _static_columns(schema):
        heads_r, heads_s = _heads(real, schema)[col], _heads(synthetic, schema)[col]
        discrete_static = schema.column(col).role in (Role.categorical, Role.boolean)
        out[f"seq_shape_{col}"] = (
            tv_complement(heads_r, heads_s) if discrete_static else ks_complement(heads_r, heads_s)
        )
        shapes.append(out[f"seq_shape_{col}"])
    out["seq_shape_mean"] = similarity.finite_mean(shapes)
    for col in numeric + discrete:
        if real[col].isna().any():
            out[f"seq_missing_{col}_real"] = float(real[col].isna().mean())
            out[f"seq_missing_{col}_synthetic"] = float(synthetic[col].isna().mean())
    lags = [1]
    lag = seasonal_lag if seasonal_lag is not None else _seasonal_lag(real, schema)
    longest = int(_lengths(real, schema).max()) if len(real) else 0
    if lag is not None and 1 < lag < longest - 2:  # a 7-day sequence has no lag-7 pairs
        lags.append(lag)
    for lag in lags:
        diffs = []
        for col in numeric:
            r = mean_autocorrelation(real, schema, col, lag)
            s = mean_autocorrelation(synthetic, schema, col, lag)
            out[f"seq_lag{lag}_{col}_real"] = r
            out[f"seq_lag{lag}_{col}_synthetic"] = s
            out[f"seq_lag{lag}_{col}_abs_diff"] = abs(r - s)
            diffs.append(abs(r - s))
        out[f"seq_lag{lag}_max_abs_diff"] = _max(diffs)
    out["seq_correlation_similarity"] = correlation_similarity(real, synthetic, numeric)
    out["seq_length_similarity"] = ks_complement(
        _lengths(real, schema), _lengths(synthetic, schema)
    )
    (share_r, step_r), (share_s, step_s) = _cadence(real, schema), _cadence(synthetic, schema)
    out["seq_cadence_real"], out["seq_cadence_synthetic"] = share_r, share_s
    out["seq_cadence_same_step"] = float(step_r is not None and step_r == step_s)
    return out


# --- building blocks (public: the benchmark and tests call them directly) ---------------------
def ks_complement(real: pd.Series, synthetic: pd.Series) -> float:
    """1 - Kolmogorov-Smirnov distance between the observed values (datetimes as numbers)."""
    return similarity.ks_complement(_as_numbers(real), _as_numbers(synthetic))


def tv_complement(real: pd.Series, synthetic: pd.Series) -> float:
    """1 - total variation distance between the category frequencies (missing left out)."""
    # Values compared as text, so a category read as 1 in one frame and "1" in the other match.
    (r, s), size = discrete_codes(real.dropna().astype(str), synthetic.dropna().astype(str))
    return similarity.tv_complement(r, s, size, na_code=size - 1)


def mean_autocorrelation(
    ordered: pd.DataFrame, schema: DatasetSchema, column: str, lag: int
) -> float:
    """Lag-`lag` Pearson autocorrelation within each sequence, averaged over sequences.

    Pairs with a missing side are skipped; sequences too short or constant are left out.
    """
    values = _as_numbers(ordered[column], keep_missing=True)
    ids = sequence_ids(ordered, schema)
    found = []
    for s in np.unique(ids):
        x = values[ids == s]
        if len(x) <= lag + 2:
            continue
        a, b = x[lag:], x[:-lag]
        both = ~np.isnan(a) & ~np.isnan(b)
        if both.sum() < 3 or np.std(a[both]) == 0 or np.std(b[both]) == 0:
            continue
        found.append(float(np.corrcoef(a[both], b[both])[0, 1]))
    return similarity.finite_mean(found)


def correlation_similarity(
    real: pd.DataFrame, synthetic: pd.DataFrame, columns: list[str]
) -> float:
    """1 - mean |Pearson(real) - Pearson(synthetic)| / 2 over the numeric column pairs."""
    if len(columns) < 2:
        return float("nan")
    r = _numeric_frame(real, columns).corr().to_numpy()
    s = _numeric_frame(synthetic, columns).corr().to_numpy()
    upper = np.triu_indices(len(columns), 1)
    gaps = np.abs(r[upper] - s[upper]) / 2
    return float(1 - np.nanmean(gaps)) if np.isfinite(gaps).any() else float("nan")


def pair_correlation(frame: pd.DataFrame, a: str, b: str) -> float:
    return float(_numeric_frame(frame, [a, b]).corr().iloc[0, 1])


# --- helpers ---------------------------------------------------------------------------------
def _varying_columns(schema: DatasetSchema) -> tuple[list[str], list[str]]:
    numeric, discrete = [], []
    for spec in schema.columns:
        if spec.name in (schema.sequence_key, schema.sequence_index) or spec.static:
            continue
        if spec.derived_from_index or spec.role in (Role.id, Role.pii, Role.text):
            continue
        if spec.role in (Role.numerical, Role.datetime):
            numeric.append(spec.name)
        else:
            discrete.append(spec.name)
    return numeric, discrete


def _static_columns(schema: DatasetSchema) -> list[str]:
    skip = (Role.id, Role.pii, Role.text)
    return [
        c.name for c in schema.columns
        if c.static and c.role not in skip and c.name != schema.sequence_key
    ]


def _heads(ordered: pd.DataFrame, schema: DatasetSchema) -> pd.DataFrame:
    """One row per sequence (its first), for per-entity columns."""
    ids = sequence_ids(ordered, schema)
    return ordered[np.r_[True, ids[1:] != ids[:-1]]]


def _shape(
    real: pd.DataFrame, synthetic: pd.DataFrame, schema: DatasetSchema, col: str, discrete: bool
) -> float:
    if discrete:
        return tv_complement(real[col], synthetic[col])
    return ks_complement(real[col], synthetic[col])


def _lengths(ordered: pd.DataFrame, schema: DatasetSchema) -> pd.Series:
    return pd.Series(np.bincount(sequence_ids(ordered, schema)) if len(ordered) else [])


def _cadence(ordered: pd.DataFrame, schema: DatasetSchema) -> tuple[float, float | None]:
    """(share of steps at the modal interval, the modal interval)."""
    steps = index_steps(ordered, schema)
    mode = modal_step(steps)
    if mode is None:
        return float("nan"), None
    return float(np.mean(np.isclose(steps, mode))), mode


def _seasonal_lag(ordered: pd.DataFrame, schema: DatasetSchema) -> int | None:
    if not pd.api.types.is_datetime64_any_dtype(ordered[schema.sequence_index]):
        return None
    mode = modal_step(index_steps(ordered, schema))
    return SEASONAL_LAGS.get(mode) if mode is not None else None


def _as_numbers(values: pd.Series, keep_missing: bool = False) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(values):
        from pipeline.timeseries import index_as_seconds

        out = np.full(len(values), np.nan)
        present = values.notna().to_numpy()
        out[present] = index_as_seconds(values[present])
    else:
        out = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return out if keep_missing else out[~np.isnan(out)]


def _numeric_frame(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: _as_numbers(frame[c], keep_missing=True) for c in columns})


def _max(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.max(finite)) if finite else float("nan")
