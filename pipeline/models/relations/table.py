"""The relations step every tabular model goes through, on either side of its fit.

The schema lists each relation found in the real table (a user can switch one off there):
`ordered` (the first column never exceeds the second), `derived` (the first column is a
cubic function of the others) and `missing_together`. Before the fit, an ordered pair's
wider column is replaced by the gap between the two and a derived column is dropped; after
sampling the gap is added back (never negative, so the order holds on every row), the
derived column is recomputed from its inputs with noise of its fit's residual size, and
columns missing together get the first one's missing rows. `one_of` indicators (at most one
set on a row) are modelled as one choice and spread back after sampling, and
`fixed_combinations` (columns whose values only occur together in some combinations) as one
category of combinations. A `binned` category (bands of a number) and a `calendar` column
(a part of a date) are modelled as they are and read off their number or date once the
output is written.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from pipeline.models.relations.binned import BinnedCategory, fit_binned
from pipeline.models.relations.calendar_columns import (
    CalendarColumn,
    fit_calendar_column,
    move_dates,
)
from pipeline.models.relations.derived import (
    TRANSFORMS,
    DerivedColumn,
    best_of,
    missing_follows_inputs,
)
from pipeline.models.relations.fixed_combinations import (
    FixedCombinations,
    fit_fixed_combinations,
)
from pipeline.models.relations.missing_together import MissingTogether
from pipeline.models.relations.one_of import OneOf, fit_one_of
from pipeline.models.relations.ordered_pairs import (
    MAX_LOST,
    OrderedPair,
    as_numbers,
    find_ordered_pairs,
)
from pipeline.models.relations.value_grids import snap, value_grid
from pipeline.schema.model import DatasetSchema, Dependency, Role
from pipeline.timestamps import at_resolution, timestamp_layout

log = logging.getLogger(__name__)

ORDERED, DERIVED, MISSING_TOGETHER, ONE_OF = "ordered", "derived", "missing_together", "one_of"
COMBINATIONS, BINNED, CALENDAR = "fixed_combinations", "binned", "calendar"
KINDS = (ORDERED, DERIVED, MISSING_TOGETHER, ONE_OF, COMBINATIONS, BINNED, CALENDAR)
# A table's rows have no dynamics for a derived column to inherit, so only (near) identities
# are worth a column: trending columns fit each other to 0.99 by accident on small tables.
TABLE_MIN_R2 = 0.9999
# A derived column is snapped onto the values at least GRID_ROWS rows share when at least
# GRID_SHARE of its rows hold one of them.
GRID_ROWS, GRID_SHARE = 2, 0.5
EXACT_R2 = 1 - 1e-9  # a length computed from two dates, to float precision
MAX_SINGLES, MAX_PAIRS = 4, 12  # input sets per column that get the cubic fit


class RelationSpec(Protocol):
    kind: str
    columns: list[str]
    enabled: bool


@dataclass(frozen=True)
class NamedDerived:
    column: str
    inputs: tuple[str, ...]
    fit: DerivedColumn  # positions refer to (inputs..., column)
    input_range: np.ndarray  # (inputs, 2): each input's least and largest training value
    # date inputs and the layout each is written in; their range is in epoch seconds
    dated_inputs: tuple[tuple[str, str], ...] = ()
    # the values most rows share, when the column takes few (a discount's percentages): a
    # fit's residual would put recomputed values between them, where no real row is
    grid: np.ndarray | None = None
    # number inputs and the decimals the schema writes them with
    written_inputs: tuple[tuple[str, int], ...] = ()

    def clip_inputs(self, frame: pd.DataFrame) -> None:
        """Inputs inside their training range (in place), before the column is computed from
        them: the schema's bounds would otherwise clip one afterwards. An input is at its
        written resolution first (a date's layout, a number's decimals; SDV's models return
        dates as text), so the column is computed from the values the output will show: a
        stay in days from the days, a logarithm from the rate as written."""
        layouts, decimals = dict(self.dated_inputs), dict(self.written_inputs)
        for column, (low, high) in zip(self.inputs, self.input_range):
            if column in layouts:
                frame[column] = at_resolution(pd.to_datetime(frame[column]), layouts[column])
                low, high = pd.Timestamp(low, unit="s"), pd.Timestamp(high, unit="s")
            frame[column] = frame[column].clip(low, high)
            if column in decimals:
                frame[column] = pd.to_numeric(frame[column]).round(decimals[column])

    def predict(self, inputs: np.ndarray, noise: np.ndarray) -> np.ndarray:
        """The column from rows of its inputs' values; `noise` is N(0, 1)."""
        return self.fit.predict(np.column_stack([inputs, np.full(len(inputs), np.nan)]), noise)


@dataclass(frozen=True)
class FittedRelations:
    pairs: tuple[OrderedPair, ...] = ()
    derived: tuple[NamedDerived, ...] = ()
    missing: tuple[MissingTogether, ...] = ()
    choices: tuple[OneOf, ...] = ()
    combinations: tuple[FixedCombinations, ...] = ()
    binned: tuple[BinnedCategory, ...] = ()
    calendar: tuple[CalendarColumn, ...] = ()

    def model_view(self, frame: pd.DataFrame) -> pd.DataFrame:
        """What the model fits: gaps for ordered pairs, derived columns left out, each group
        of indicators as one choice, each group of fixed combinations as one category."""
        for pair in self.pairs:
            frame = pair.to_gap(frame)
        frame = frame.drop(columns=[d.column for d in self.derived])
        for group in self.choices:
            frame = group.to_choice(frame)
        for group in self.combinations:
            frame = group.to_combination(frame)
        return frame

    def model_conditions(self, conditions: dict[str, Any], n: int, rng: np.random.Generator,
                         dependencies: list[Dependency] = ()
                         ) -> list[tuple[int, dict[str, Any]]]:
        """Conditions in the model view's terms, as (rows, conditions) parts of the n rows:
        an indicator set becomes its choice; values of some columns of fixed combinations
        (or of a dependency's target, read as its source's values that map onto it) become
        one of the combinations that hold them, drawn by frequency row by row (one part per
        combination drawn)."""
        out = dict(conditions)
        for group in self.choices:
            asked = {c: out.pop(c) for c in group.columns if c in out}
            if asked:
                out[group.holder] = group.choice_of(asked)
        parts = [(n, out)]
        for group in self.combinations:
            asked = {c: {str(out.pop(c))} for c in group.columns if c in out}
            for dep in dependencies:
                if dep.source in group.columns and dep.target in out:
                    target = out.pop(dep.target)  # written from the source after sampling
                    wanted = {s for s, t in dep.mapping.items() if str(t) == str(target)}
                    asked[dep.source] = asked.get(dep.source, wanted) & wanted
            if asked:
                parts = [split for size, part in parts
                         for split in _split_on_combinations(group, asked, size, part, rng)]
        return parts

    def model_schema(self, schema: DatasetSchema) -> DatasetSchema:
        """The schema of the model view: a choice is a category of 0 (none) .. k, a group
        of fixed combinations a category of their numbers."""
        categories = {g.holder: list(range(len(g.columns) + 1)) for g in self.choices}
        categories |= {g.holder: g.categories() for g in self.combinations}
        if not categories:
            return schema
        columns = [c.model_copy(update={
            "role": Role.categorical, "categories": categories[c.name],
            "minimum": None, "maximum": None, "step": None}) if c.name in categories else c
            for c in schema.columns]
        return schema.model_copy(update={"columns": columns})

    def table_view(self, frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        """The sampled rows back in the table's terms: combinations and indicators spread
        back, pairs restored, derived recomputed."""
        for group in self.combinations:
            frame = group.from_combination(frame, rng)
        for group in self.choices:
            frame = group.from_choice(frame)
        for pair in self.pairs:
            frame = pair.from_gap(frame)
        for named in self.derived:
            named.clip_inputs(frame)
            inputs = as_numbers(frame, list(named.inputs)).to_numpy(dtype=float,
                                                                    na_value=np.nan)
            computed = named.predict(inputs, rng.standard_normal(len(frame)))
            frame[named.column] = computed if named.grid is None else snap(computed, named.grid)
        for group in self.missing:
            frame = group.apply(frame, rng)
        return frame

    def read_off(self, frame: pd.DataFrame, conditioned: set[str]) -> bool:
        """(In place) each date moved to the calendar parts drawn beside it and the parts
        read off it, and each binned category read off its number as the output writes it
        (a number at its decimals and step), but one `conditioned` on keeps its asked
        value; whether any rule applied."""
        move_dates(frame, list(self._calendar))
        for rule in self._binned:
            rule.apply(frame, keep=rule.column in conditioned)
        return bool(self.read_off_rules)

    @property
    def read_off_rules(self) -> tuple[CalendarColumn | BinnedCategory, ...]:
        return (*self._calendar, *self._binned)

    # models saved before these relations have neither field
    @property
    def _calendar(self) -> tuple[CalendarColumn, ...]:
        return getattr(self, "calendar", ())

    @property
    def _binned(self) -> tuple[BinnedCategory, ...]:
        return getattr(self, "binned", ())

    def describe(self) -> list[dict[str, Any]]:
        """For the model's card."""
        return ([{"ordered": [p.low, p.high], "modelled_as_gap": p.gap_column}
                 for p in self.pairs]
                + [{"derived": d.column, "from": list(d.inputs), "r2": round(d.fit.r2, 4)}
                   for d in self.derived]
                + [{"missing_together": list(g.columns)} for g in self.missing]
                + [{"one_of": list(g.columns)} for g in self.choices]
                + [{"fixed_combinations": list(g.columns), "combinations": len(g.values),
                    "rare_combinations": g.n_rare} for g in self.combinations]
                + [{"binned": b.column, "from": b.number, "bands": len(b.labels)}
                   for b in self._binned]
                + [{"calendar": c.column, "from": c.date, "part": c.part}
                   for c in self._calendar])


def _split_on_combinations(group: FixedCombinations, asked: dict[str, Any], n: int,
                           conditions: dict[str, Any], rng: np.random.Generator
                           ) -> list[tuple[int, dict[str, Any]]]:
    """The n rows' part of each combination that holds the asked values, by frequency."""
    hits = group.matching(asked)
    shares = np.asarray(group.shares)[hits]
    counts = rng.multinomial(n, shares / shares.sum()) if len(hits) > 1 else np.array([n])
    return [(int(count), {**conditions, group.holder: int(number)})
            for number, count in zip(hits, counts) if count > 0] or [
        (0, {**conditions, group.holder: int(hits[0])})]


# A numeric column with at most this many distinct training values is a set of point masses
# (the gmm's `discrete_max`), which a gap from a many-valued column would smear.
FEW_VALUES = 20


def fit_relations(train: pd.DataFrame, specs: list[RelationSpec],
                  written_later: set[str] = frozenset(), rare: int = 2,
                  decimals: dict[str, int] | None = None) -> FittedRelations:
    """Refit each enabled relation on the training rows; one that no longer holds there
    (the holdout took the rows that made it) is skipped with a log line, as is one on a
    column `written_later` (a dependency's target, written from its source after sampling:
    a schema written before detection left those out, or a user's edit, may name one).
    A combination fewer than `rare` training rows hold is not learnt as one; a derived
    column is computed from its inputs at the `decimals` the schema writes them with."""
    fitted: dict[str, list[Any]] = {kind: [] for kind in KINDS}
    for spec in specs:
        if not spec.enabled or not set(spec.columns) <= set(train.columns):
            continue
        if set(spec.columns) & written_later:
            log.info("relation %s %s is not used: %s is written from a dependency's source",
                     spec.kind, spec.columns, sorted(set(spec.columns) & written_later)[0])
            continue
        if spec.kind == COMBINATIONS:
            relation = fit_fixed_combinations(train, spec.columns, rare)
        elif spec.kind == DERIVED:
            relation = fit_derived(train, spec.columns, decimals)
        else:
            relation = FITTERS[spec.kind](train, spec.columns)
        if relation is None:
            log.info("relation %s %s does not hold on the training rows; not used",
                     spec.kind, spec.columns)
        else:
            fitted[spec.kind].append(relation)
    return FittedRelations(*(tuple(fitted[kind]) for kind in KINDS))


def _fit_pair(train: pd.DataFrame, columns: list[str]) -> OrderedPair | None:
    numbers = as_numbers(train, columns)  # a pair of dates is found and fitted as numbers
    dated = all(pd.api.types.is_datetime64_any_dtype(train[c]) for c in columns)
    found = find_ordered_pairs(numbers, columns, durations=dated)
    pair = next((p for p in found if [p.low, p.high] == columns), None)
    pair = pair and _gap_on_the_wider(numbers, pair)
    if pair is None:
        return None
    if not dated:
        grid = value_grid(numbers[pair.gap_column])
        return pair if grid is None else dataclasses.replace(pair, grid=grid)
    gap = numbers[pair.gap_column]
    return dataclasses.replace(pair, gap_range=(gap.min(), gap.max()))


def _gap_on_the_wider(train: pd.DataFrame, pair: OrderedPair) -> OrderedPair | None:
    """Rebuild the wider column from the narrower one plus the gap: rebuilt the other way,
    a narrow column inherits the model's error on the wide one. The gap stays on the column
    with more missing values where its partner would be missing (then it cannot be formed).

    A column of few values is never rebuilt from a column of many: that anchor plus a gap
    smears its point masses (mpg's cylinders, 4, 6 or 8, came out 5 and 7 on a third of
    rows when rebuilt from the displacement in litres). Two columns of few values (correct
    answers out of trials) keep their gap, whose sum stays on their values. Nor, where the
    other way keeps the order too, is a column on a grid of repeated values (loan amounts,
    78 % of them whole thousands) rebuilt from one that is not (the balance left): its heaps
    would spread between them."""
    few = {c: _point_masses(train[c]) for c in (pair.low, pair.high)}
    spread = {c: float(train[c].astype(float).std()) for c in (pair.low, pair.high)}
    for strict in (True, False):
        for gap in sorted((pair.high, pair.low), key=lambda c: -spread[c]):  # high on a tie
            anchor = pair.low if gap == pair.high else pair.high
            lost = float((train[gap].notna() & train[anchor].isna()).mean())
            smeared = few[gap] > few[anchor] if strict else few[gap] == 2 > few[anchor]
            if not smeared and (gap == pair.gap_column or lost <= MAX_LOST):
                return OrderedPair(pair.low, pair.high, gap)
    return None


def _point_masses(values: pd.Series) -> int:
    """How much a column's values are point masses: 2 few values, 1 a grid of values that
    mostly repeat (`value_grid`), 0 neither."""
    if values.nunique() <= FEW_VALUES:
        return 2
    return int(value_grid(values) is not None)


def _fit_missing(train: pd.DataFrame, columns: list[str]) -> MissingTogether | None:
    group = MissingTogether(tuple(columns))
    return group if group.holds(train) else None


def fit_derived(train: pd.DataFrame, columns: list[str],
                decimals: dict[str, int] | None = None) -> NamedDerived | None:
    """[column, *inputs] refitted on the training rows, if it still holds to identity."""
    column, *inputs = columns
    values = as_numbers(train, [*inputs, column]).to_numpy(dtype=float, na_value=np.nan)
    fit = best_of(values, len(inputs), [list(range(len(inputs)))], TRANSFORMS)
    if fit is None or fit.r2 < TABLE_MIN_R2 or not missing_follows_inputs(values, fit):
        return None
    input_range = np.column_stack([np.nanmin(values[:, :-1], axis=0),
                                   np.nanmax(values[:, :-1], axis=0)])
    dated = tuple((c, timestamp_layout(train[c])) for c in inputs
                  if pd.api.types.is_datetime64_any_dtype(train[c]))
    # a total, a length of time or a column of its input's logarithm is exact: snapped, it
    # would no longer match its inputs
    grid = None if fit.is_total or dated or fit.transform else _shared_values(values[:, -1])
    written = tuple((c, decimals[c]) for c in inputs if c in (decimals or {}))
    return NamedDerived(column, tuple(inputs), fit, input_range, dated, grid, written)


def _shared_values(values: np.ndarray) -> np.ndarray | None:
    """The values GRID_ROWS rows hold each, when most rows hold one of them; else None."""
    distinct, counts = np.unique(values[~np.isnan(values)], return_counts=True)
    shared = counts >= GRID_ROWS
    if not shared.any() or counts[shared].sum() < GRID_SHARE * counts.sum():
        return None
    return distinct[shared]


FITTERS = {ORDERED: _fit_pair, DERIVED: fit_derived, MISSING_TOGETHER: _fit_missing,
           ONE_OF: fit_one_of, BINNED: fit_binned, CALENDAR: fit_calendar_column}
