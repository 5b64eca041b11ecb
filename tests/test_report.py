"""The HTML report as people read it: dates on date axes, categories by frequency with the
rest folded, a per-column fidelity table that says why, drift against earlier runs, and the
whole page rendered offline in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from pipeline.report import MAX_BARS, _column_table, _folded_shares, _plot_column
from pipeline.schema import Role, detect_schema


def _tick_labels(ax) -> list[str]:
    ax.figure.canvas.draw()
    return [t.get_text() for t in ax.get_xticklabels() if t.get_text()]


def test_date_columns_are_plotted_on_a_date_axis_not_nanoseconds():
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(0)
    days = pd.Series(pd.to_datetime("2020-01-01") + pd.to_timedelta(rng.integers(0, 700, 400),
                                                                    unit="D"))
    fig, ax = plt.subplots()
    _plot_column(ax, days, days.sample(frac=1, random_state=1), Role.datetime)
    labels = _tick_labels(ax)
    offset = ax.xaxis.get_offset_text().get_text()
    plt.close(fig)
    assert labels and all(re.fullmatch(r"(\d{4}|[A-Z][a-z]{2})", t) for t in labels), labels
    assert "2021" in labels and "e" not in offset.lower()


@pytest.mark.filterwarnings("error::UserWarning")
def test_a_figure_of_four_years_of_days_renders_without_a_console_warning():
    # vega's seattle weather run as a table: matplotlib's date locator warned on the console
    import matplotlib.pyplot as plt
    import vega_datasets

    from pipeline.report import _img

    days = vega_datasets.local_data.seattle_weather()["date"]
    fig, ax = plt.subplots()
    _plot_column(ax, days, days.sample(frac=1, random_state=0), Role.datetime)
    assert _img(fig)


@pytest.mark.parametrize("values", [[1.5e18] * 20, [1e16, 1e16 + 2] * 10])
def test_a_column_too_narrow_for_its_floats_is_plotted_not_a_crash(values):
    """A number constant at 1.5e18 (epoch nanoseconds kept as a number): numpy cannot widen
    its one-value range by half a unit, and np.histogram_bin_edges raised."""
    import matplotlib.pyplot as plt

    real = pd.Series(values)
    fig, ax = plt.subplots()
    _plot_column(ax, real, real.sample(frac=1, random_state=0), Role.numerical)
    assert len(ax.patches) >= 2  # a bar of each frame
    plt.close(fig)


def test_categories_come_most_frequent_first_with_the_rest_folded():
    real = pd.Series([f"c{i:02d}" for i in range(30) for _ in range(30 - i)])
    synthetic = pd.Series(["c00"] * 100 + ["new"] * 5)
    r, s = _folded_shares(real, synthetic)
    assert list(r.index[:3]) == ["c00", "c01", "c02"] and len(r) == MAX_BARS + 1
    assert r.index[-1] == "other (19 values)"  # 18 real categories left over, and 'new'
    assert r.sum() == pytest.approx(1.0) and s.sum() == pytest.approx(1.0)


def test_the_per_column_table_puts_the_worst_first_and_says_why_in_units():
    rng = np.random.default_rng(0)
    real = pd.DataFrame({"price": rng.normal(100, 10, 500).round(2),
                         "grade": rng.choice(["A", "B"], 500, p=[0.7, 0.3])})
    synthetic = pd.DataFrame({"price": rng.normal(130, 10, 500).round(2),
                              "grade": rng.choice(["A", "B"], 500, p=[0.68, 0.32])})
    schema = detect_schema(real, "prices")
    html = _column_table(real, synthetic, schema, {"price": 0.1, "grade": 0.97})
    assert html.index("<td>price</td>") < html.index("<td>grade</td>")
    assert re.search(r"median 9\d\.\d\d real vs 13\d\.\d\d synthetic", html)  # 2 decimals


needs_chromium = pytest.mark.skipif(shutil.which("chromium") is None,
                                    reason="needs Debian's chromium (apt-get install chromium)")


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """A real gmm fit and validation of the demo table: its report and its Data Docs."""
    from benchmarks.screenshot import demo_report

    folder = tmp_path_factory.mktemp("demo_run")
    return demo_report(folder), folder / "gx" / "uncommitted" / "data_docs" / "local_site"


@needs_chromium
def test_the_report_renders_offline_in_chromium_with_every_section(demo_run, tmp_path):
    from PIL import Image

    from benchmarks.screenshot import screenshot

    page, _ = demo_run
    html = page.read_text()
    assert "https://" not in html and "<script" not in html  # one offline file
    for section in ("Fidelity per column", "Against earlier runs", "Privacy in words",
                    "Column distributions"):
        assert section in html, section
    shot = screenshot(page, tmp_path / "shot.png", 1200, 3200)
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape == (3200, 1200)
    assert pixels.std() > 10 and (pixels < 128).mean() > 0.01  # text and plots, not blank


def test_cdn_links_are_rewritten_to_the_local_copies_without_integrity_hashes(tmp_path):
    from pipeline.validation.offline_docs import _rewrite

    site = tmp_path / "site"
    page = site / "validations" / "x" / "run.html"
    html = ('<script src="https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/'
            'popper.min.js" integrity="sha384-abc" crossorigin="anonymous"></script>'
            '<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/vega@5">'
            '<a href="https://greatexpectations.io">GX</a>'
            "<style>x { background: url('https://great-expectations-web-assets.s3.us-east-2"
            ".amazonaws.com/full_logo_dark.png') }</style>")
    out = _rewrite(html, page, site)
    assert '<script src="../../static/vendor/popper.js@1.12.9/dist/umd/popper.min.js">' in out
    assert "integrity" not in out and "crossorigin" not in out
    assert '"../../static/vendor/vega@5.33.1/build/vega.min.js"' in out
    assert "url('../../static/images/logo-long.png')" in out
    assert 'href="https://greatexpectations.io"' in out  # a link to follow, not a load


def _offline_dom(page, profile) -> str:
    from benchmarks.screenshot import FLAGS

    return subprocess.run(
        ["chromium", *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=8000",
         "--dump-dom", page.as_uri()], check=True, capture_output=True, text=True,
        timeout=120).stdout


@needs_chromium
def test_data_docs_show_their_results_offline(demo_run, tmp_path):
    """The index and a validation page, in Chromium with every network request refused:
    their result tables are filled by the vendored scripts, and empty without them."""
    from pipeline.validation.offline_docs import ASSETS

    _, site = demo_run
    pages = [site / "index.html", next(site.glob("validations/**/*.html"))]
    for page in site.rglob("*.html"):
        text = page.read_text()
        assert not [url for url in ASSETS if url in text], page
    for i, page in enumerate(pages):
        rows = _offline_dom(page, tmp_path / f"p{i}").count("data-index=")
        assert rows >= 1, f"{page.name}: no result rows offline"
    (site / "static" / "vendor").rename(site / "static" / "gone")
    assert _offline_dom(pages[0], tmp_path / "p9").count("data-index=") == 0
