from __future__ import annotations

import pytest

from pipeline.errors import PipelineError
from pipeline.schema import detect_schema
from pipeline.split import split_train_holdout


@pytest.fixture(scope="module")
def numbered(adult_frame):
    """Adult with its row number, so membership can be checked after the split."""
    frame = adult_frame.reset_index().rename(columns={"index": "row"})
    return frame, detect_schema(frame.head(200), "adult_rows")


def test_split_is_seeded_disjoint_and_complete(numbered):
    frame, schema = numbered
    train, holdout, method = split_train_holdout(frame, schema, 0.2, seed=7)
    assert len(holdout) == round(len(frame) * 0.2)
    assert len(train) + len(holdout) == len(frame)
    assert set(train["row"]).isdisjoint(holdout["row"])
    again, _, _ = split_train_holdout(frame, schema, 0.2, seed=7)
    assert again["row"].equals(train["row"])
    other, _, _ = split_train_holdout(frame, schema, 0.2, seed=8)
    assert not other["row"].equals(train["row"])
    assert "seed 7" in method


def test_split_refuses_tiny_or_bad_fraction(adult_frame):
    schema = detect_schema(adult_frame.head(50), "adult")
    with pytest.raises(PipelineError, match="at least 10"):
        split_train_holdout(adult_frame.head(5), schema)
    with pytest.raises(PipelineError, match="between 0 and 1"):
        split_train_holdout(adult_frame, schema, holdout_fraction=1.5)
