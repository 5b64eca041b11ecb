"""The benchmark harness's core on a tiny Adult subsample: each contender runs in its own
process, is scored, and the JSON / Markdown / PNG results are written with every field the
README table needs. Timing values are never asserted (they depend on the machine)."""

from __future__ import annotations

import json

import pytest

from benchmarks.public_data import r_dataset
from benchmarks.report import markdown
from benchmarks.run import run_benchmark
from benchmarks.scale import growth_exponent
from benchmarks.settings import QUICK

CONTENDERS = ("independent", "gmm", "sdv_gaussian_copula")
TABULAR_METRICS = (
    "column_shapes", "column_pair_trends", "detection_auc", "ml_utility", "dcr_share_excess",
    "exact_copy_rate",
)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    budget = QUICK.with_(
        train_rows=500, holdout_rows=200, detection_rows=500, sections=("tabular",),
        contenders=CONTENDERS, repetitions=1,
    )
    out = tmp_path_factory.mktemp("bench")
    results, paths = run_benchmark(budget, out)
    return out, paths, json.loads(paths["json"].read_text())


def test_json_records_machine_versions_and_budget(tiny_run):
    _, _, data = tiny_run
    meta = data["meta"]
    assert meta["machine"]["cores"] >= 1 and meta["machine"]["memory_gb"] > 0
    assert {"sdv", "torch", "numpy"} <= set(meta["versions"])
    assert data["budget"]["mode"] == "quick"
    assert data["budget"]["ctgan_epochs"] > 0 and data["budget"]["tvae_epochs"] > 0
    assert data["tabular"]["dataset"]["train_rows"] == 500


def test_every_contender_is_timed_and_scored(tiny_run):
    _, _, data = tiny_run
    rows = {r["name"]: r for r in data["tabular"]["contenders"]}
    assert set(rows) == {*CONTENDERS, "holdout"}
    for name in CONTENDERS:
        row = rows[name]
        assert row["status"] == "ok", row.get("reason")
        assert row["sample_rows"] == 500
        assert row["fit_seconds"] >= 0 and row["sample_rows_per_second"] > 0
        # peak RSS of the worker process alone: at least the interpreter and pandas
        assert 50 < row["peak_rss_mb"] < 8000
    for name in (*CONTENDERS, "holdout"):
        metrics = rows[name]["metrics"]
        for key in TABULAR_METRICS:
            assert metrics[key] is not None, (name, key)
        assert 0 <= metrics["exact_copy_rate"] <= 1
    # the scoring is wired to the right outputs: a joint model keeps pair trends that the
    # independent-columns floor destroys
    pairs = {name: rows[name]["metrics"]["column_pair_trends"] for name in ("gmm", "independent")}
    assert pairs["gmm"] > pairs["independent"]


def test_ratios_and_markdown_table(tiny_run):
    out, paths, data = tiny_run
    gmm = data["ratios"]["gmm_vs_sdv_gaussian_copula"]
    assert gmm["fit_ratio"] is not None and gmm["column_shapes_ratio"] is not None
    text = paths["markdown"].read_text()
    assert "| contender | kind | fit s | sample rows/s | peak RSS MB |" in text
    for name in CONTENDERS:
        assert f"| {name} |" in text
    assert "## Ratios" in text
    # the table is regenerated from the JSON alone
    assert markdown(data, paths["figure"].name) == text
    assert paths["figure"].stat().st_size > 0
    assert (out / "latest.md").exists()


def test_growth_exponent_is_the_log_log_slope():
    assert growth_exponent([1, 4, 16], [2.0, 8.0, 32.0]) == pytest.approx(1.0)
    assert growth_exponent([1, 4, 16], [1.0, 16.0, 256.0]) == pytest.approx(2.0)
    assert growth_exponent([1], [1.0]) is None


def test_only_a_complete_full_run_in_the_results_folder_is_published(tiny_run, tmp_path):
    from benchmarks.report import publishes
    from benchmarks.settings import RESULTS, SECTIONS

    _, _, data = tiny_run
    full = {**data, "budget": {**data["budget"], "mode": "full", "sections": list(SECTIONS),
                               "contenders": None}}
    assert publishes(full, RESULTS)
    assert not publishes(full, tmp_path)  # another folder
    assert not publishes(data, RESULTS)  # a quick run
    partial = {**full, "budget": {**full["budget"], "sections": ["timeseries"]}}
    assert not publishes(partial, RESULTS)
    some = {**full, "budget": {**full["budget"], "contenders": ["hmm"]}}
    assert not publishes(some, RESULTS)


def test_publish_rate_runs_the_flows_retry_on_an_unseen_table():
    """One R table through the publish-rate harness: the default gmm, the gate, and the
    row the Markdown table is written from; an unreadable table is an error row."""
    from benchmarks import publish_rate

    row = publish_rate.run_table("pscl", "prussian")
    assert row["published"] and row["first"] == [] and row["retry"] is None
    assert 0 < row["column_shapes"] <= 1
    broken = publish_rate.run_table("pscl", "no_such_table")
    assert not broken["published"] and "error" in broken
    text = publish_rate.markdown({"seed": 7, "updated": "now", "code": "x",
                                  "tables": {"pscl.prussian": row, "pscl.none": broken}})
    assert "**Published: 1 of 2**" in text and "| pscl.prussian | 280×3 |" in text


def test_series_publish_rate_finds_series_and_gates_them_as_the_flow_does():
    """A yearly panel found by its key and index goes through the hmm, the series gate and
    the Markdown row; a table that reads as no series is skipped; an unreadable index is a
    clear error, never a crash."""
    from benchmarks import corpus
    from benchmarks import series_publish_rate as spr

    assert spr.find_series(r_dataset("pscl", "prussian")) == ("corp", "year")
    assert spr.find_series(r_dataset("datasets", "lynx")) == (None, "time")
    assert spr.find_series(r_dataset("MASS", "shuttle")) is None
    row = spr.run_series("Ecdat", "Grunfeld")
    assert row["key"] == "firm" and row["holdout"] == "whole entities"
    assert row["published"] and row["verdict"] in ("pass", "warn")
    acme = spr.run_series("boot", "acme")  # months written 1/86: read as a monthly index
    assert acme["holdout"] == "sequence tails" and acme["published"]
    real = corpus._r("boot", "acme")
    unreadable = spr.run_series(  # the same months written as labels no calendar reads
        "boot", "acme", lambda: real().assign(month=lambda f: "month " + f["month"].astype(str)))
    assert unreadable["verdict"] == "clear error" and unreadable["stage"] == "split"
    text = spr.markdown({"seed": 7, "updated": "now", "code": "x",
                         "series": {"Ecdat.Grunfeld": row, "boot.acme": unreadable}})
    assert "**Published: 1 of 2**" in text and "crashes 0" in text


def test_a_series_whose_retry_misses_nothing_is_published():
    from benchmarks.series_publish_rate import final_verdict

    assert final_verdict(["privacy: mia_p_value"], []) == "pass"
    assert final_verdict(["privacy: mia_p_value"], ["privacy: mia_p_value"]) == "fail"
    assert final_verdict(["fidelity: column_shapes"], None) == "warn"
