"""Columns that count with the index inside each entity (years of experience, age in a yearly
panel, a row counter `t` beside a single series' months): every step adds the same multiple
of the index's step, so the column is the entity's first value plus that rate times the
index since its first step (a date index: the steps since its first). A series model then learns
the first value once per entity, as a static column, and the sampler's index rebuilds the
rest exactly; modelled step by step, a counter gets noise no real one has.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.schema import DatasetSchema, Role

MIN_STEPS = 10  # steps within entities a rate must hold on before it is taken for a rule


@dataclass(frozen=True)
class IndexCounter:
    column: str
    rate: float  # the column's change per unit of the index


def find_counters(frame: pd.DataFrame, schema: DatasetSchema) -> list[IndexCounter]:
    """Numeric columns whose every within-entity change is one rate times the index's."""
    if schema.sequence_index is None:
        return []
    groups = _entities(frame, schema)
    units = _index_units(frame, schema, groups)
    order = np.lexsort((units, groups))
    same = groups[order][1:] == groups[order][:-1]
    index_steps = np.diff(units[order])[same]
    if len(index_steps) < MIN_STEPS or (index_steps == 0).any():
        return []
    found = []
    for spec in schema.columns:
        if (spec.role != Role.numerical or spec.static or spec.derived_from_index or spec.shared
                or spec.name in (schema.sequence_key, schema.sequence_index) or spec.empty
                or spec.name not in frame.columns):
            continue
        values = pd.to_numeric(frame[spec.name], errors="coerce").to_numpy(dtype=float)[order]
        rates = np.diff(values)[same] / index_steps
        if np.isnan(rates).any():
            continue
        if np.allclose(rates, rates[0], rtol=0, atol=1e-9) and rates[0] != 0:
            found.append(IndexCounter(spec.name, float(rates[0])))
    return found


def _entities(frame: pd.DataFrame, schema: DatasetSchema) -> np.ndarray:
    """Each row's entity as a code (all one entity when the series has no key)."""
    if schema.sequence_key is None:
        return np.zeros(len(frame), dtype=np.int64)
    return pd.factorize(frame[schema.sequence_key])[0]


def _index_units(frame: pd.DataFrame, schema: DatasetSchema, groups: np.ndarray) -> np.ndarray:
    """The index as numbers a counter is a rate of: a numeric index's values; a date index's
    steps within its entity of `groups` (a row counter `t` beside monthly dates counts
    months, which are not of one length)."""
    index = frame[schema.sequence_index]
    if schema.column(schema.sequence_index).role == Role.numerical:
        return pd.to_numeric(index, errors="coerce").to_numpy(dtype=float)
    steps = pd.Series(pd.to_datetime(index).to_numpy()).groupby(groups)
    return (steps.rank(method="first") - 1).to_numpy(dtype=float)


def to_offsets(frame: pd.DataFrame, schema: DatasetSchema,
               counters: list[IndexCounter]) -> pd.DataFrame:
    """Each counter as its entity's first value (constant per entity)."""
    return _shifted(frame, schema, counters, sign=-1)


def from_offsets(frame: pd.DataFrame, schema: DatasetSchema,
                 counters: list[IndexCounter]) -> pd.DataFrame:
    """Each counter rebuilt from its first value and the (sampled) index."""
    return _shifted(frame, schema, counters, sign=1)


def static_schema(schema: DatasetSchema, counters: list[IndexCounter]) -> DatasetSchema:
    """The schema a series model fits with: counters as static (per-entity) columns."""
    names = {c.column for c in counters}
    columns = [c.model_copy(update={"static": True}) if c.name in names else c
               for c in schema.columns]
    return schema.model_copy(update={"columns": columns})


def _shifted(frame: pd.DataFrame, schema: DatasetSchema, counters: list[IndexCounter],
             sign: int) -> pd.DataFrame:
    if not counters or frame.empty:
        return frame
    out = frame.copy()
    groups = _entities(frame, schema)
    units = _index_units(frame, schema, groups)
    since = units - pd.Series(units).groupby(groups).transform("min").to_numpy()
    for counter in counters:
        values = pd.to_numeric(frame[counter.column], errors="coerce").to_numpy(dtype=float)
        if sign < 0:  # every row of an entity carries its first value
            values = values - counter.rate * since
        else:
            first_value = pd.Series(values).groupby(groups).transform("first").to_numpy()
            values = first_value + counter.rate * since
        out[counter.column] = values
    return out
