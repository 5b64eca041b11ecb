"""Every model's output on the demo data and real slices is byte-identical to the committed
golden files (tests/golden). A change that alters output on purpose regenerates them with
`python -m tests.golden.generate` and says so in its commit."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from tests.golden.cases import CASES, paths, run_case


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_output_is_byte_identical_to_the_golden_file(case):
    schema_path, parquet_path = paths(case)
    schema_json, parquet = run_case(case)
    assert schema_json == schema_path.read_text(), f"detected schema of {case.data} changed"
    if case.exact and parquet == parquet_path.read_bytes():
        return
    got, want = pd.read_parquet(io.BytesIO(parquet)), pd.read_parquet(parquet_path)
    if case.exact:
        pd.testing.assert_frame_equal(got, want)  # names the first column that differs
        pytest.fail(f"{case.name}: same values, different Parquet bytes (dtypes or metadata)")
    numbers = got.select_dtypes("number").columns.difference([case.key])
    pd.testing.assert_frame_equal(got.drop(columns=numbers), want.drop(columns=numbers))
    pd.testing.assert_frame_equal(got[numbers], want[numbers], rtol=0.15)
