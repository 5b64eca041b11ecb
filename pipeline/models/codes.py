"""Integer codes for discrete columns, shared by the models that learn categorical
distributions (gmm, hmm): code i for labels[i], code len(labels) for a missing value."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pipeline.errors import PipelineError


def category_codes(values: pd.Series, labels: list[Any], column: str | None = None) -> np.ndarray:
    lookup = {str(v): i for i, v in enumerate(labels)}
    text = values.astype("string")
    codes = text.map(lookup)
    unknown = values.notna() & codes.isna()
    if unknown.any():
        raise PipelineError(
            f"column {column or values.name!r} holds values the schema does not list "
            f"(e.g. {text[unknown].iloc[0]!r}); enforce the schema on the data before fitting"
        )
    return codes.fillna(len(labels)).to_numpy(dtype=np.int64)
