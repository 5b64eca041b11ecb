"""Finding the relations of a real table, which the schema then lists for the user to keep
or switch off (`table` fits and applies them): derived columns, ordered pairs, lengths of
time between two dates, columns missing together, indicators of one choice, bands of a
number, fixed combinations and calendar parts of a date.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.models.relations.binned import find_binned
from pipeline.models.relations.calendar_columns import find_calendar_columns
from pipeline.models.relations.derived import (
    SEARCH_ROWS,
    TRANSFORMS,
    amplifies,
    best_of,
    missing_follows_inputs,
    total_of_parts,
)
from pipeline.models.relations.fixed_combinations import (
    find_fixed_combinations,
    max_combinations,
    worth_a_category,
)
from pipeline.models.relations.missing_together import find_missing_together
from pipeline.models.relations.one_of import find_one_of
from pipeline.models.relations.ordered_pairs import OrderedPair, as_numbers, find_ordered_pairs
from pipeline.models.relations.table import (
    BINNED,
    CALENDAR,
    COMBINATIONS,
    DERIVED,
    EXACT_R2,
    FEW_VALUES,
    MAX_PAIRS,
    MAX_SINGLES,
    MISSING_TOGETHER,
    ONE_OF,
    ORDERED,
    TABLE_MIN_R2,
    fit_derived,
)


def detect(frame: pd.DataFrame, numeric: list[str], modelled: list[str],
           dated: list[str] = (), as_written: set[str] = frozenset()
           ) -> list[tuple[str, list[str]]]:
    """(kind, columns) of each relation of the real table: derived columns first among the
    `numeric` ones (they fix a value outright), then orders among the rest and among the
    `dated` columns, then groups of `modelled` columns missing together, indicators of one
    choice, categories that are bands of a number, and fixed combinations among the
    remaining columns of few values. Calendar parts of a date (a year beside the date) are
    found first and take part in nothing else. A column
    `as_written` (a dependency's source) is in no order: rebuilt from its partner plus a
    modelled gap, it would leave the values its mapping knows."""
    calendar = find_calendar_columns(frame, [c for c in modelled if c not in dated], list(dated))
    parts = {columns[0] for columns in calendar}
    numeric = [c for c in numeric if c not in parts]
    modelled = [c for c in modelled if c not in parts]
    date_pairs = find_ordered_pairs(as_numbers(frame, list(dated)), list(dated), durations=True)
    durations = _durations(frame, numeric, date_pairs)
    rest = [c for c in numeric if c not in {columns[0] for columns in durations}]
    derived = durations + _derived_columns(frame, rest)
    targets = {columns[0] for columns in derived} | set(as_written)
    pairs = find_ordered_pairs(frame, [c for c in rest if c not in targets]) + date_pairs
    related = {c for columns in derived for c in columns} | {c for p in pairs
                                                             for c in (p.low, p.high)}
    choices = find_one_of(frame, [c for c in modelled if c not in related])
    related |= {c for group in choices for c in group}
    categories = [c for c in modelled if c not in related and c not in numeric
                  and c not in dated]
    binned = find_binned(frame, categories, [*numeric, *dated])
    related |= {columns[0] for columns in binned}
    few = [c for c in modelled if c not in related and c not in dated
           and (c not in numeric or frame[c].nunique() <= _few_values(len(frame)))]
    combinations = [group for group in find_fixed_combinations(frame, few)
                    if worth_a_category(frame, group)]
    # a combination fixes its columns' missing values too, and a derived column is missing
    # where its inputs are: filling one from a donor row would break either
    fixed = {c for group in combinations for c in group} | {columns[0] for columns in derived}
    missing = find_missing_together(frame, [c for c in modelled if c not in fixed])
    return ([(DERIVED, columns) for columns in derived]
            + [(ORDERED, [p.low, p.high]) for p in pairs]
            + [(MISSING_TOGETHER, group) for group in missing]
            + [(ONE_OF, group) for group in choices]
            + [(COMBINATIONS, group) for group in combinations]
            + [(BINNED, columns) for columns in binned]
            + [(CALENDAR, columns) for columns in calendar])


def _few_values(n_rows: int) -> int:
    """A numeric column of at most this many values can be part of fixed combinations (a
    round, a condition, a time of day), as a categorical column can."""
    return max(FEW_VALUES, max_combinations(n_rows))


def _durations(frame: pd.DataFrame, numeric: list[str],
               date_pairs: list[OrderedPair]) -> list[list[str]]:
    """[column, start, end] of each numeric column that is exactly a start/end pair's
    length (a stay in days, a tenure in weeks): recomputed from the pair, it matches it on
    every row. Only exact lengths: a year is nearly a cubic of a long span of dates. As the
    other searches, it screens every `step`-th row and confirms on all rows."""
    step = max(1, len(frame) // SEARCH_ROWS)
    sample = frame.iloc[::step] if step > 1 else frame
    found, used = [], set()
    for pair in date_pairs:
        for column in (c for c in numeric if c not in used):
            columns = [column, pair.low, pair.high]
            if _exact(sample, columns) and (sample is frame or _exact(frame, columns)):
                found.append(columns)
                used.add(column)
                break
    return found


def _exact(rows: pd.DataFrame, columns: list[str]) -> bool:
    fitted = fit_derived(rows, columns)
    return fitted is not None and fitted.fit.r2 >= EXACT_R2


def _derived_columns(frame: pd.DataFrame, numeric: list[str]) -> list[list[str]]:
    """[column, *inputs] of each (near) identity. Only the input sets a linear screen ranks
    highest get the cubic fit, so wide tables stay quick. A derived column never feeds
    another, and an input is never derived."""
    step = max(1, len(frame) // SEARCH_ROWS)
    sample = frame[numeric].iloc[::step]
    values = sample.to_numpy(dtype=float, na_value=np.nan)
    corr = sample.corr().fillna(0.0).to_numpy()
    found: list[list[str]] = []
    targets: set[int] = set()
    inputs: set[int] = set()
    # widest columns first: a total is derived from its parts, not a part from the total
    # minus the others, whose errors would add up on a narrow column
    for target in np.argsort(-np.nanstd(values, axis=0), kind="stable"):
        target = int(target)
        if target in inputs:
            continue
        allowed = [j for j in range(len(numeric)) if j != target and j not in targets]
        fit = best_of(values, target, _screened_inputs(corr, target, allowed), TRANSFORMS)
        if fit is None or fit.r2 < TABLE_MIN_R2:
            fit = total_of_parts(values, target, allowed)
        if fit is None or fit.r2 < TABLE_MIN_R2 or not missing_follows_inputs(values, fit):
            continue
        if amplifies(fit, values):
            continue  # a narrow difference of wide columns: their errors would swamp it
        found.append([numeric[target], *(numeric[j] for j in fit.inputs)])
        targets.add(target)
        inputs |= set(fit.inputs)
    return found


# Columns whose pairs are all screened; past it, only pairs of the columns best correlated
# with the target (every pair of 2,000 columns, for each of them, is hours of work).
MAX_PAIR_POOL = 200


def _screened_inputs(corr: np.ndarray, target: int, allowed: list[int]) -> list[list[int]]:
    """The single inputs and pairs whose linear fit of the target is best (a pair's R^2
    from the correlations alone); a sum is exactly linear, a product nearly so."""
    if not allowed:
        return []
    r = corr[target, allowed]
    order = np.argsort(-np.abs(r), kind="stable")
    singles = [[allowed[i]] for i in order[:MAX_SINGLES]]
    if len(allowed) > MAX_PAIR_POOL:  # a wide table: pairs among the best single inputs only
        allowed, r = [allowed[i] for i in order[:MAX_PAIR_POOL]], r[order[:MAX_PAIR_POOL]]
    a, b = np.triu_indices(len(allowed), 1)
    r_ab = corr[np.ix_(allowed, allowed)][a, b]
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = (r[a] ** 2 + r[b] ** 2 - 2 * r[a] * r[b] * r_ab) / (1 - r_ab**2)
    r2 = np.where(np.isfinite(r2), r2, 0.0)
    best = np.argsort(-r2, kind="stable")[:MAX_PAIRS]
    return singles + [[allowed[a[i]], allowed[b[i]]] for i in best]
