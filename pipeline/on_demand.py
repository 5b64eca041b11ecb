"""Samples on demand: rows with fixed values (`conditions`) or with chosen shares of one
column's values (`rebalance`), asked for in a job, a CLI flag or a trigger's parameters.

A request is checked against the real data before anything is fitted (an impossible value,
or one too rare to validate against, is refused then), sampled to exactly the rows asked
for, and validated against the real rows that match it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pipeline.errors import PipelineError
from pipeline.models.conditions import matches
from pipeline.schema import DatasetSchema, Role

# Fewer matching real rows than this and the validation of the sample says nothing.
MIN_MATCHING_ROWS = 50
# A rebalanced column with more values than this is not a class to rebalance.
MAX_REBALANCE_VALUES = 50
TRUE_WORDS, FALSE_WORDS = {"true", "yes", "1", "y", "t"}, {"false", "no", "0", "n", "f"}


@dataclass(frozen=True)
class SampleRequest:
    conditions: dict[str, Any] = field(default_factory=dict)
    rebalance_column: str | None = None
    shares: dict[str, float] = field(default_factory=dict)  # value -> share; empty: equal

    @classmethod
    def from_job(cls, conditions: dict[str, Any] | None,
                 rebalance: dict[str, dict[str, float] | None] | None) -> SampleRequest:
        column, shares = next(iter((rebalance or {}).items()), (None, None))
        return cls(dict(conditions or {}), column, dict(shares or {}))

    def __bool__(self) -> bool:
        return bool(self.conditions or self.rebalance_column)

    def label(self) -> str | None:
        """How the run is labelled in lineage, manifest and catalog."""
        if not self:
            return None
        parts = [f"{k}={v}" for k, v in self.conditions.items()]
        if self.rebalance_column:
            shares = ", ".join(f"{v} {s:.3g}" for v, s in self.shares.items())
            parts.append(f"rebalance {self.rebalance_column} ({shares})")
        return "; ".join(parts)

    def describe(self) -> dict[str, Any]:
        return {"label": self.label(), "conditions": self.conditions,
                "rebalance": {self.rebalance_column: self.shares} if self.rebalance_column
                else None}

    # --- before fit ------------------------------------------------------------------
    def checked(self, schema: DatasetSchema, frame: pd.DataFrame,
                models: list[str] | None = None) -> SampleRequest:
        """The request with values in the schema's types and shares filled in; a clear error
        for anything that could not be sampled or validated (by `models`, when given)."""
        if not self:
            return self
        _check_models(models or [])
        if schema.is_time_series:
            _check_static(schema, [*self.conditions, *filter(None, [self.rebalance_column])])
        conditions = {c: _schema_value(schema, c, v) for c, v in self.conditions.items()}
        request = SampleRequest(conditions, self.rebalance_column, {})
        if self.rebalance_column:
            request = SampleRequest(conditions, self.rebalance_column,
                                    _shares(schema, frame, self.rebalance_column, self.shares))
            if self.rebalance_column in conditions:
                raise PipelineError(f"{self.rebalance_column!r} is both a condition and the "
                                    "rebalanced column; give it one role")
        request._check_matching(frame)
        return request

    def _check_matching(self, frame: pd.DataFrame) -> None:
        groups = [self.conditions] if not self.rebalance_column else [
            {**self.conditions, self.rebalance_column: v} for v, s in self.shares.items() if s]
        for group in groups:
            if not matches(frame, group).any():
                label = ", ".join(f"{k}={v}" for k, v in group.items())
                raise PipelineError(f"condition {label} matches no row of the real data, so "
                                    "there is nothing to learn it from; check the values")
        count = len(self.reference(frame, seed=0))
        if count < MIN_MATCHING_ROWS:
            what = self.label()
            raise PipelineError(
                f"{what} matches only {count} real rows; at least {MIN_MATCHING_ROWS} are "
                "needed to validate a sample against them (relax the condition"
                + (" or the shares)" if self.rebalance_column else ")"))

    # --- sampling ----------------------------------------------------------------------
    def sample(self, synthesizer, n: int, seed: int, id_start: int = 0) -> pd.DataFrame:
        """Exactly n rows that satisfy the request."""
        if not self.rebalance_column:
            return synthesizer.sample(n, seed=seed, conditions=self.conditions or None,
                                      id_start=id_start)
        pieces, start = [], id_start
        for i, (value, count) in enumerate(_counts(self.shares, n).items()):
            if count:
                pieces.append(synthesizer.sample(
                    count, seed=seed + 7919 * (i + 1), id_start=start,
                    conditions={**self.conditions, self.rebalance_column: value}))
                start += count
        frame = pd.concat(pieces, ignore_index=True)
        order = np.random.default_rng(seed).permutation(len(frame))
        return frame.iloc[order].reset_index(drop=True)

    # --- validation --------------------------------------------------------------------
    def reference(self, frame: pd.DataFrame, seed: int) -> pd.DataFrame:
        """The real rows a sample of this request is validated against: those that match the
        conditions, and for a rebalance a subsample with the requested shares (without
        repeats, so no real row counts twice in a privacy test)."""
        if not self:
            return frame
        rows = frame[matches(frame, self.conditions)]
        if not self.rebalance_column:
            return rows
        values = rows[self.rebalance_column].astype("string")
        wanted = {v: s for v, s in self.shares.items() if s > 0}
        have = {v: int((values == str(v)).sum()) for v in wanted}
        total = min(have[v] / s for v, s in wanted.items())
        rng = np.random.default_rng(seed)
        keep = []
        for value, count in _counts(wanted, int(total)).items():
            index = np.flatnonzero((values == str(value)).to_numpy())
            keep.append(rng.choice(index, size=count, replace=False))
        return rows.iloc[np.sort(np.concatenate(keep))]


def _check_models(models: list[str]) -> None:
    from pipeline.models.registry import entry

    unable = [m for m in models if not entry(m).conditions]
    if unable:
        raise PipelineError(f"model(s) {unable} cannot sample on demand (conditions, "
                            "rebalance); use gmm for a table or hmm for a series, or filter "
                            "the published rows")


def _check_static(schema: DatasetSchema, columns: list[str]) -> None:
    """A series is conditioned on what an entity is, not on what it does at one step."""
    varying = [c for c in columns if c in schema.names() and not schema.column(c).static]
    if varying:
        static = [c.name for c in schema.columns if c.static]
        raise PipelineError(f"in a time series, samples on demand fix per-entity (static) "
                            f"columns {static}; {varying} vary within a sequence")


def _schema_value(schema: DatasetSchema, column: str, value: Any) -> Any:
    """A condition's value as the schema holds it (a CLI gives text: 'True', '1')."""
    if column not in schema.names():
        raise PipelineError(f"condition on unknown column {column!r}; columns are "
                            f"{', '.join(schema.names())}")
    spec = schema.column(column)
    if spec.role == Role.boolean:
        word = str(value).strip().lower()
        if word in TRUE_WORDS or word in FALSE_WORDS:
            return word in TRUE_WORDS
        raise PipelineError(f"condition {column}={value!r}: {column!r} is yes/no; give true "
                            "or false")
    if spec.role != Role.categorical:
        raise PipelineError(f"conditions fix the value of a categorical or yes/no column; "
                            f"{column!r} is {spec.role.value} (filter the published rows "
                            "for ranges instead)")
    by_text = {str(c): c for c in spec.categories or []}
    if str(value) not in by_text:
        shown = ", ".join(list(by_text)[:20]) + (" ..." if len(by_text) > 20 else "")
        raise PipelineError(f"condition {column}={value!r} is impossible: {column!r} takes "
                            f"the values {shown}")
    return by_text[str(value)]


def _shares(schema: DatasetSchema, frame: pd.DataFrame, column: str,
            given: dict[str, float]) -> dict[Any, float]:
    """Target shares of the rebalanced column's values, summing to 1 (equal if not given)."""
    if column not in schema.names() or schema.column(column).role not in (
            Role.categorical, Role.boolean):
        raise PipelineError(f"rebalance {column!r}: give a categorical or yes/no column of "
                            f"{', '.join(schema.names())}")
    if not given:
        given = {v: 1.0 for v in frame[column].dropna().unique()}
    if len(given) > MAX_REBALANCE_VALUES:
        raise PipelineError(f"rebalance {column!r}: it has {len(given)} values; a column "
                            f"of at most {MAX_REBALANCE_VALUES} can be rebalanced")
    shares = {}
    for value, share in given.items():
        if isinstance(share, bool) or not isinstance(share, int | float) or share < 0:
            raise PipelineError(f"rebalance {column}: the share of {value!r} must be a "
                                f"number >= 0, not {share!r}")
        shares[_schema_value(schema, column, value)] = float(share)
    total = sum(shares.values())
    if total <= 0:
        raise PipelineError(f"rebalance {column}: the shares add up to 0")
    return {k: v / total for k, v in shares.items()}


def _counts(shares: dict[Any, float], n: int) -> dict[Any, int]:
    """n split by shares, largest remainders first, so the counts add up to exactly n."""
    raw = {k: s * n for k, s in shares.items()}
    counts = {k: int(np.floor(v)) for k, v in raw.items()}
    short = n - sum(counts.values())
    for k in sorted(raw, key=lambda k: raw[k] - counts[k], reverse=True)[:short]:
        counts[k] += 1
    return counts
