"""Conditional sampling that never silently returns fewer rows than asked."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from pipeline.errors import PipelineError

# Give up once this many candidate rows have been drawn per requested row: the condition is
# then too rare under the model to sample by rejection.
MAX_DRAWS_PER_ROW = 200


def matches(df: pd.DataFrame, conditions: dict[str, Any]) -> pd.Series:
    mask = pd.Series(True, index=df.index)
    for column, value in conditions.items():
        mask &= df[column].astype("string") == str(value)
    return mask.fillna(False).astype(bool)


def sample_by_rejection(
    draw: Callable[[int, np.random.Generator], pd.DataFrame],
    n: int,
    rng: np.random.Generator,
    conditions: dict[str, Any],
) -> pd.DataFrame:
    """Draw batches from `draw` and keep rows satisfying `conditions` until exactly n."""
    if not conditions:
        return draw(n, rng)
    kept: list[pd.DataFrame] = []
    have, drawn = 0, 0
    batch = max(n, 1000)
    while have < n:
        if drawn >= MAX_DRAWS_PER_ROW * max(n, 1):
            raise PipelineError(
                f"conditions {conditions} are too rare under this model: {have} of {n} rows "
                f"after {drawn} draws; relax the condition or use the 'gmm' model, which "
                "conditions exactly"
            )
        candidates = draw(batch, rng)
        drawn += batch
        hit = candidates[matches(candidates, conditions)]
        kept.append(hit)
        have += len(hit)
        rate = max(have / drawn, 1e-3)
        batch = int(min(max((n - have) / rate * 1.2, 1000), 200_000))
    return pd.concat(kept, ignore_index=True).iloc[:n].reset_index(drop=True)


def with_final_dependency_values(frame: pd.DataFrame, schema: Any,
                                 conditioned: set[str]) -> pd.DataFrame:
    """A conditioned column that a dependency rewrites from its source after sampling takes
    the value the output will hold, so that rejection judges the final value, not the
    model's own."""
    from pipeline.postprocess import cast_column

    for dep in schema.dependencies:
        if dep.target in conditioned and dep.source in frame.columns:
            source = cast_column(frame[dep.source].reset_index(drop=True),
                                 schema.column(dep.source))
            frame[dep.target] = source.astype("string").map(dep.mapping).where(source.notna())
    return frame

