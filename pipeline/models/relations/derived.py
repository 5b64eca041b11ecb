"""Numeric columns that are a cubic function of one or two other columns of the same row, or
a linear one of several (a total of its parts, which must hold to identity).

Relative humidity is computed from temperature and dew point; a total is the sum of its
parts; a square is a square. A model that gives such a column a life of its own breaks the
relation (and, in a series, gives it dynamics its inputs do not allow). Found here, such a
column is recomputed from its inputs, plus noise of the fit's residual size, so it keeps
the relation and inherits the inputs' dynamics.

A fit is a cubic polynomial of the standardised inputs (a plane, past two inputs) by least
squares; a column counts as
derived when it explains at least `MIN_R2` of the variance on rows where the column and its
inputs are known, and the column is known exactly where its inputs are (recomputing would
otherwise lose values or missing values). Where columns determine each other in a ring
(temperature, dew point and humidity: any one from the other two), the least persistent column
(lowest lag-1 autocorrelation) is derived: autoregressive models reproduce persistent columns
best, so those stay modelled and the rough one follows them.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from pipeline.schema.model import MAX_DERIVED_INPUTS

MIN_R2 = 0.99
# A total of its parts (a plane of three or more columns) must hold to (near) identity: a few
# trending columns fit a plane to 0.99 by accident.
TOTAL_MIN_R2 = 0.9999
# How far the inputs' errors may move a derived column, in its own spread: a sum of two parts
# moves it at most sqrt(2); a narrow difference of wide totals, far more.
MAX_AMPLIFICATION = 2.0
DEGREE = 3
MAX_INPUTS = 2
MIN_ROWS = 50
# A column may be missing where its inputs are known on at most this share of rows.
MAX_OWN_MISSING = 0.001
# The search over input sets runs on at most this many rows (evenly spaced), which tell a
# 0.99 R^2 apart as well as all rows would; the chosen fit is then refitted on all rows.
SEARCH_ROWS = 20_000


@dataclass
class DerivedColumn:
    target: int  # column position in the value matrix
    inputs: list[int]
    center: np.ndarray  # standardisation of the inputs
    scale: np.ndarray
    coef: np.ndarray  # cubic polynomial coefficients (`_features` order)
    residual_sd: float
    low: float  # observed range of the target: the polynomial is not trusted outside it
    high: float
    r2: float
    # the input's scale the cubic is of: "" as it is, "log" or "exp" (a column and its
    # logarithm, lwage beside wage, which no cubic of the other links over a wide range)
    transform: str = ""

    @property
    def is_total(self) -> bool:
        """A plane of three or more columns: a total of its parts."""
        return len(self.inputs) > MAX_INPUTS

    def predict(self, values: np.ndarray, noise: np.ndarray) -> np.ndarray:
        """The target from rows of values (NaN where an input is NaN); `noise` is N(0, 1).
        A cubic is not trusted outside the target's observed range; a total holds anywhere."""
        inputs = transformed(values[:, self.inputs], self.transform)
        known = np.isfinite(inputs).all(1)
        out = np.full(len(values), np.nan)
        feats = _features((inputs[known] - self.center) / self.scale)
        predicted = feats @ self.coef + self.residual_sd * noise[known]
        out[known] = predicted if self.is_total else np.clip(predicted, self.low, self.high)
        return out


def _terms(k: int) -> list[tuple[int, ...]]:
    """The fit's terms for k inputs, as index tuples (i <= j <= l) of the products: a cubic
    of one or two inputs; a plane (a total of its parts) of more."""
    degree = DEGREE if k <= MAX_INPUTS else 1
    return [combo for d in range(1, degree + 1)
            for combo in itertools.combinations_with_replacement(range(k), d)]


def _features(x: np.ndarray) -> np.ndarray:
    """[1, x_i, x_i x_j, x_i x_j x_l] (i <= j <= l): the fit's terms, column by column."""
    terms = _terms(x.shape[1])
    out = np.empty((len(x), 1 + len(terms)))
    out[:, 0] = 1.0
    for i, combo in enumerate(terms, start=1):
        column = x[:, combo[0]].copy()
        for j in combo[1:]:
            column *= x[:, j]
        out[:, i] = column
    return out


# Input scales a single input's cubic is also tried on (`best_of`); exp only of inputs up to
# this, a logarithm's range (exp(700) overflows).
TRANSFORMS = ("", "log", "exp")
MAX_EXP_INPUT = 50.0


def transformed(x: np.ndarray, transform: str) -> np.ndarray:
    """Inputs on the fit's scale; NaN where the scale has no value (log of 0 or less)."""
    if not transform:
        return x
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out = np.log(x) if transform == "log" else np.exp(x)
    return np.where(np.isfinite(out), out, np.nan)


def fit_cubic(values: np.ndarray, target: int, inputs: list[int],
              transform: str = "") -> DerivedColumn | None:
    """The target column as a cubic of the inputs (on the `transform`'s scale), on rows where
    all are known (None: too few, a scale the inputs do not allow, or a fit that does not
    converge)."""
    rows = np.isfinite(values[:, [target, *inputs]]).all(1)
    if rows.sum() < MIN_ROWS:
        return None
    x, y = values[np.ix_(rows, inputs)], values[rows, target]
    # a logarithm needs positive inputs; the target of an exponential need not be positive,
    # for the cubic is of exp(x): jtrain's hours are exp(log(1 + hours)) - 1, zero or more
    if transform:
        if (transform == "log" and (x <= 0).any()) or (
                transform == "exp" and np.abs(x).max() > MAX_EXP_INPUT):
            return None
        x = transformed(x, transform)
    center, scale = x.mean(0), x.std(0)
    if (scale == 0).any() or y.std() == 0:
        return None
    feats = _features((x - center) / scale)
    try:
        coef = np.linalg.lstsq(feats, y, rcond=None)[0]
    except np.linalg.LinAlgError:
        return None
    residual = y - feats @ coef
    r2 = 1.0 - residual.var() / y.var()
    return DerivedColumn(
        target, list(inputs), center, scale, coef, float(residual.std()),
        float(y.min()), float(y.max()), float(r2), transform,
    )


def best_fit(values: np.ndarray, target: int, pool: list[int]) -> DerivedColumn | None:
    """The best cubic of one or two `pool` columns (which excludes the target)."""
    return best_of(values, target, [list(inputs) for size in range(1, MAX_INPUTS + 1)
                                    for inputs in itertools.combinations(pool, size)])


def best_of(values: np.ndarray, target: int, candidates: list[list[int]],
            transforms: tuple[str, ...] = ("",)) -> DerivedColumn | None:
    """The best cubic over the candidate input sets (a single input also on each of the
    `transforms`' scales), in order: a later fit must beat the best so far by more than a
    rounding error (so a pair never displaces an equal single, nor a scale the plain one)."""
    best = None
    for inputs in candidates:
        for transform in transforms if len(inputs) == 1 else ("",):
            fit = fit_cubic(values, target, inputs, transform)
            if fit is not None and (best is None or fit.r2 > best.r2 + 1e-4):
                best = fit
    return best


def missing_follows_inputs(values: np.ndarray, fit: DerivedColumn) -> bool:
    """The column is missing where, and only where, an input is (to MAX_OWN_MISSING):
    recomputed from its inputs, it would lose its own missing values, or those it has
    where an input is missing (Democracy and Dictatorship's cowcode2 beside politycode). On
    a log scale an input of 0 has no value either: a rate's logarithm is missing there."""
    inputs_known = np.isfinite(transformed(values[:, fit.inputs], fit.transform)).all(1)
    own_known = ~np.isnan(values[:, fit.target])
    return ((~own_known & inputs_known).mean() <= MAX_OWN_MISSING
            and (own_known & ~inputs_known).mean() <= MAX_OWN_MISSING)


def total_of_parts(values: np.ndarray, target: int, allowed: list[int]) -> DerivedColumn | None:
    """The target as a plane of three or more columns (a total of its parts), or None: the
    plane of every column known where the target is must fit it to TOTAL_MIN_R2; then the
    part that matters least is dropped while the rest still fits, down to the parts that
    remain. Parts must be known wherever the target is, or recomputing would lose values."""
    known = ~np.isnan(values[:, target])
    if not allowed:
        return None
    block = values[:, allowed]  # every candidate at once: a wide table has thousands
    with np.errstate(invalid="ignore", divide="ignore"):
        usable = (np.isnan(block[known]).mean(axis=0) <= MAX_OWN_MISSING) & (
            np.nan_to_num(np.nanstd(block, axis=0)) > 0)
    pool = [j for j, keep in zip(allowed, usable) if keep]
    if len(pool) < 3 or known.sum() < 2 * len(pool) + MIN_ROWS:
        return None
    parts = list(pool)
    fit = fit_cubic(values, target, parts)
    if fit is None or fit.r2 < TOTAL_MIN_R2:
        return None
    while len(parts) > 3:
        weight = np.abs(fit.coef[1:1 + len(parts)])  # per standardised part: its share
        trial = fit_cubic(values, target, [p for i, p in enumerate(parts)
                                           if i != int(np.argmin(weight))])
        if trial is None or trial.r2 < TOTAL_MIN_R2:
            break
        parts, fit = trial.inputs, trial
    return fit if len(parts) <= MAX_DERIVED_INPUTS else None


def amplifies(fit: DerivedColumn, values: np.ndarray) -> bool:
    """Whether the inputs' typical errors would swamp the target: the linear terms act on
    standardised inputs, so their summed size is in the target's units."""
    linear = np.abs(fit.coef[1:1 + len(fit.inputs)]).sum()
    spread = np.nanstd(values[:, fit.target])
    return bool(linear / spread > max(MAX_AMPLIFICATION, np.sqrt(len(fit.inputs))))


def find_derived(
    values: np.ndarray, candidates: list[int], persistence: np.ndarray
) -> list[DerivedColumn]:
    """Derived columns among `candidates` (positions in `values`), each from modelled columns.

    Totals of their parts first, widest first (a total is derived from its parts, never a
    part from the total minus the others); then cubics of one or two columns, the least
    persistent target first (`persistence`, one per column of `values`).
    """
    step = max(1, len(values) // SEARCH_ROWS)
    derived = _totals(values, candidates, step)
    modelled = [j for j in candidates if j not in {fit.target for fit in derived}]
    for target in sorted(modelled, key=lambda j: persistence[j]):
        used = {j for fit in derived for j in fit.inputs}
        if target in used:
            continue  # already an input of a derived column: it stays modelled
        found = best_fit(values[::step], target, [j for j in modelled if j != target])
        if found is None or found.r2 < MIN_R2:
            continue
        fit = fit_cubic(values, target, found.inputs) if step > 1 else found
        if fit is None or fit.r2 < MIN_R2 or not missing_follows_inputs(values, fit):
            continue
        derived.append(fit)
        modelled.remove(target)
    return derived


def _totals(values: np.ndarray, candidates: list[int], step: int) -> list[DerivedColumn]:
    """Each candidate that is a total of other candidates' values (searched on every
    `step`-th row, then refitted on all), the widest first; a total never feeds another, and
    a part is never a total."""
    found: list[DerivedColumn] = []
    for target in sorted(candidates, key=lambda j: -np.nanstd(values[:, j])):
        totals, parts = {f.target for f in found}, {j for f in found for j in f.inputs}
        if target in parts:
            continue
        pool = [j for j in candidates if j != target and j not in totals]
        fit = total_of_parts(values[::step], target, pool)
        if fit is not None and step > 1:
            fit = fit_cubic(values, target, fit.inputs)
        if (fit is not None and fit.r2 >= TOTAL_MIN_R2 and not amplifies(fit, values)
                and missing_follows_inputs(values, fit)):
            found.append(fit)
    return found
