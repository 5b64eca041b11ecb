"""Column relations the HMM keeps: derived columns and ordered pairs, on real nyc_weather."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.models.relations.coupled_values import CoupledValue, find_coupled_values
from pipeline.models.relations.derived import find_derived
from pipeline.models.relations.ordered_pairs import OrderedPair, find_ordered_pairs

WEATHER = Path(__file__).resolve().parents[2] / "shared" / "data" / "nyc_weather.csv"
COLUMNS = ["temp", "dewp", "humid", "wind_speed", "pressure"]


@pytest.fixture(scope="module")
def jfk() -> pd.DataFrame:
    df = pd.read_csv(WEATHER)
    return df[df["origin"] == "JFK"].head(3000).reset_index(drop=True)


def _persistence(frame: pd.DataFrame) -> np.ndarray:
    return np.array([frame[c].autocorr(1) for c in COLUMNS])


def test_humidity_is_found_as_a_function_of_temperature_and_dew_point(jfk):
    values = jfk[COLUMNS].to_numpy(dtype=float)
    derived = find_derived(values, list(range(len(COLUMNS))), _persistence(jfk))
    assert len(derived) == 1  # the ring temp/dewp/humid yields one derived column, not three
    fit = derived[0]
    assert COLUMNS[fit.target] == "humid"  # the least persistent of the three
    assert sorted(COLUMNS[j] for j in fit.inputs) == ["dewp", "temp"]
    assert fit.r2 > 0.99
    noise = np.zeros(len(values))
    predicted = fit.predict(values, noise)
    assert np.corrcoef(predicted, values[:, fit.target])[0, 1] > 0.99
    assert predicted.max() <= jfk["humid"].max()  # never outside the observed range


def test_unrelated_columns_are_not_derived(jfk):
    shuffled = jfk[COLUMNS].copy()
    shuffled["humid"] = shuffled["humid"].sample(frac=1.0, random_state=0).to_numpy()
    values = shuffled.to_numpy(dtype=float)
    derived = find_derived(values, list(range(len(COLUMNS))), _persistence(shuffled))
    # temp and dewp alone do not determine each other: nothing is derived
    assert derived == []


def test_a_column_missing_where_its_inputs_are_known_is_not_derived(jfk):
    values = jfk[COLUMNS].to_numpy(dtype=float)
    values[::50, COLUMNS.index("humid")] = np.nan  # 2 % missing, inputs known there
    derived = find_derived(values, list(range(len(COLUMNS))), _persistence(jfk))
    assert all(COLUMNS[f.target] != "humid" for f in derived)


def test_dew_point_never_above_temperature_is_an_ordered_pair(jfk):
    pairs = find_ordered_pairs(jfk, COLUMNS)
    assert pairs == [OrderedPair(low="dewp", high="temp", gap_column="dewp")]
    # pressure (~1000) is above every temperature, but so would any random pairing be
    assert all("pressure" not in (p.low, p.high) for p in pairs)


def test_one_violation_breaks_the_pair(jfk):
    broken = jfk.copy()
    broken.loc[10, "dewp"] = broken.loc[10, "temp"] + 1.0
    assert find_ordered_pairs(broken, COLUMNS) == []


def test_gap_round_trip_keeps_values_and_order(jfk):
    pair = OrderedPair(low="dewp", high="temp", gap_column="dewp")
    gapped = pair.to_gap(jfk)
    assert (gapped["dewp"].dropna() >= 0).all()
    back = pair.from_gap(gapped)
    np.testing.assert_allclose(back["dewp"], jfk["dewp"], atol=1e-9)
    # a negative gap (a model's draw past the bound) still gives dewp <= temp
    gapped.loc[0, "dewp"] = -3.0
    assert pair.from_gap(gapped).loc[0, "dewp"] == gapped.loc[0, "temp"]


def test_wind_speed_under_the_gust_is_a_pair_with_the_gust_as_the_gap(jfk):
    pairs = find_ordered_pairs(jfk, [*COLUMNS, "wind_gust"])
    # the gust is missing 80 % of the time: it is the one rewritten (wind speed is known
    # wherever the gust is), as wind speed plus an excess
    assert OrderedPair(low="wind_speed", high="wind_gust", gap_column="wind_gust") in pairs


def test_the_search_on_a_row_sample_finds_the_same_relation(jfk, monkeypatch):
    import pipeline.models.relations.derived as derived

    values = jfk[COLUMNS].to_numpy(dtype=float)
    full = find_derived(values, list(range(len(COLUMNS))), _persistence(jfk))
    monkeypatch.setattr(derived, "SEARCH_ROWS", 300)  # search on every 10th row
    sampled = find_derived(values, list(range(len(COLUMNS))), _persistence(jfk))
    assert [(f.target, f.inputs) for f in sampled] == [(f.target, f.inputs) for f in full]
    np.testing.assert_allclose(sampled[0].coef, full[0].coef)  # refitted on all rows


def _first_rows(frame: pd.DataFrame) -> np.ndarray:
    return np.r_[True, np.zeros(len(frame) - 1, dtype=bool)]


def test_calm_direction_is_found_as_a_state_of_the_wind_speed(jfk):
    """Direction 0 exactly where the speed is 0. Speed dies down to 0, direction jumps there
    from anywhere: direction is the follower, whichever column is listed first."""
    calm = CoupledValue("wind_dir", 0.0, "wind_speed", 0.0)
    for columns in (["wind_dir", *COLUMNS], [*COLUMNS, "wind_dir"]):
        assert find_coupled_values(jfk, columns, _first_rows(jfk)) == [calm]


def test_one_row_off_the_rule_is_no_coupling(jfk):
    broken = jfk.copy()
    windy = broken.index[broken["wind_speed"] > 5][0]
    broken.loc[windy, "wind_dir"] = 0.0
    assert find_coupled_values(broken, ["wind_dir", "wind_speed"], _first_rows(jfk)) == []


def test_the_rule_puts_the_value_back_where_the_partner_is_on_its_value():
    calm = CoupledValue("wind_dir", 0.0, "wind_speed", 0.0)
    frame = pd.DataFrame({"wind_dir": [200.0, 210.0, np.nan, 40.0],
                          "wind_speed": [0.0, 5.0, 0.0, np.nan]})
    out = calm.apply(frame)
    # a missing direction stays missing; an unknown speed sets nothing
    np.testing.assert_array_equal(out["wind_dir"], [0.0, 210.0, np.nan, 40.0])
    assert calm.rows(frame).tolist() == [True, False, True, False]


def test_a_follower_leads_no_other_column():
    """Three columns on 0 together: each follows at most one partner and no follower is
    anyone's partner, so putting values back never depends on the order of the rules."""
    rng = np.random.default_rng(0)
    speed = np.round(np.clip(10 * np.sin(np.arange(400) / 8.0) + 3, 0, None))  # dies down
    calm = speed == 0
    frame = pd.DataFrame({
        "speed": speed,
        "dir_a": np.where(calm, 0.0, rng.integers(1, 36, 400) * 10.0),
        "dir_b": np.where(calm, 0.0, rng.integers(1, 36, 400) * 10.0),
    })
    assert calm.sum() >= 20
    couplings = find_coupled_values(frame, list(frame.columns), _first_rows(frame))
    followers = [c.column for c in couplings]
    assert len(followers) == len(set(followers)) >= 1
    assert not set(followers) & {c.partner for c in couplings}
    assert set(followers) <= {"dir_a", "dir_b"}  # the speed dies down to 0: it leads
