"""The high-cardinality guard for one-hot models (CTGAN, TVAE): the rarest categories of the
widest columns fold into one placeholder for fitting and are drawn back by frequency."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipeline.errors import PipelineError
from pipeline.schema import DatasetSchema, Role

log = logging.getLogger(__name__)

# CTGAN and TVAE one-hot encode every category and give each numerical or datetime column one
# scalar plus up to 10 mode indicators. Above 1000 encoded columns SDV prints a
# PerformanceAlert (and only that); memory and time grow with the width, so we keep under it.
MAX_ENCODED_COLUMNS = 1000
NUMERIC_ENCODED_WIDTH = 11
# Fewer kept categories than this would lose too much of a column to be worth modelling.
MIN_KEPT_CATEGORIES = 10
RARE_TOKEN = "__rare_category__"


@dataclass
class RareCategories:
    """Categories folded into one placeholder for fitting and drawn back by frequency on output.

    The output therefore only holds real categories, with their training frequencies; what is
    lost is how the folded (rare) categories relate to the other columns.
    """

    token: str
    folded: dict[str, tuple[list[Any], list[float]]]  # column -> (categories, probabilities)

    def encode(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        for column, (values, _) in self.folded.items():
            out.loc[out[column].isin(values), column] = self.token
        return out

    def decode(self, frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        for column, (values, probabilities) in self.folded.items():
            hit = (frame[column] == self.token).to_numpy(dtype=bool)
            drawn = rng.choice(len(values), size=int(hit.sum()), p=probabilities)
            column_values = frame[column].to_numpy(dtype=object)
            column_values[hit] = np.asarray(values, dtype=object)[drawn]
            frame[column] = column_values
        return frame


def encoded_widths(frame: pd.DataFrame, schema: DatasetSchema) -> dict[str, int]:
    """Columns each input column becomes in CTGAN/TVAE (counted as SDV's own estimate does)."""
    widths = {}
    for column in frame.columns:
        if schema.column(column).role in (Role.numerical, Role.datetime):
            widths[column] = NUMERIC_ENCODED_WIDTH
        else:
            widths[column] = int(frame[column].nunique(dropna=False))
    return widths


def plan_rare_categories(
    frame: pd.DataFrame, schema: DatasetSchema, limit: int, model: str,
    numeric_widths: dict[str, int] | None = None,
) -> RareCategories | None:
    """Fold the rarest categories of the widest columns until the encoding fits in `limit`;
    `numeric_widths`: what each numeric column really takes, where the model knows it."""
    widths = {**encoded_widths(frame, schema), **(numeric_widths or {})}
    total = sum(widths.values())
    if total <= limit:
        return None
    foldable = [c for c in frame.columns if schema.column(c).role == Role.categorical]
    distinct = {c: int(frame[c].nunique(dropna=True)) for c in foldable}
    has_null = {c: int(frame[c].isna().any()) for c in foldable}
    fixed = total - sum(widths[c] for c in foldable)

    def width_keeping(k: int) -> int:  # k kept categories + the placeholder, per column
        return fixed + sum(min(distinct[c], k + 1) + has_null[c] for c in foldable)

    if not foldable or width_keeping(MIN_KEPT_CATEGORIES) > limit:
        widest = sorted(widths.items(), key=lambda kv: -kv[1])[:5]
        raise PipelineError(
            f"model {model!r} would one-hot encode this table into {total} columns (limit "
            f"{limit}), and still more than {limit} when keeping only {MIN_KEPT_CATEGORIES} "
            f"categories per column; widest columns: {dict(widest)}. Mark wide columns "
            f"'role: text' in schemas/{schema.name}.yaml (they are then faked, not modelled), "
            "drop columns, or raise the max_encoded_columns parameter."
        )
    low, high = MIN_KEPT_CATEGORIES, max(distinct.values())
    while low < high:  # the largest k that fits; width_keeping grows with k
        mid = (low + high + 1) // 2
        low, high = (mid, high) if width_keeping(mid) <= limit else (low, mid - 1)
    token = RARE_TOKEN
    while any(token in set(map(str, frame[c].dropna().unique())) for c in foldable):
        token += "_"
    folded = {c: _rarest(frame[c], low) for c in foldable if distinct[c] > low + 1}
    _log_folding(model, total, limit, low, frame, folded)
    return RareCategories(token=token, folded=folded)


def _rarest(column: pd.Series, keep: int) -> tuple[list[Any], list[float]]:
    counts = sorted(column.value_counts(dropna=True).items(), key=lambda kv: (-kv[1], str(kv[0])))
    rare = counts[keep:]
    n = sum(count for _, count in rare)
    return [value for value, _ in rare], [count / n for _, count in rare]


def _log_folding(
    model: str, total: int, limit: int, keep: int, frame: pd.DataFrame,
    folded: dict[str, tuple[list[Any], list[float]]],
) -> None:
    details = ", ".join(
        f"{c!r} ({len(v) + keep} categories: {len(v)} folded, "
        f"{frame[c].isin(v).mean():.1%} of rows)"
        for c, (v, _) in folded.items()
    )
    log.warning(
        "%s: one-hot encoding would need %d columns, above max_encoded_columns=%d. For fitting, "
        "these columns keep their %d most frequent categories and fold the rest into one: %s. "
        "Synthetic rows draw the folded categories by their training frequency, so their "
        "relation to other columns is not learned. To avoid this, mark such columns "
        "'role: text' in the schema or drop them.",
        model, total, limit, keep, details,
    )
