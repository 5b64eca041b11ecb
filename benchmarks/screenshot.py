"""A page rendered to PNG in Debian's headless Chromium, offline, as the report tests and the
README's screenshot (`make docs-screenshot` -> docs/report.png) need it."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from importlib.resources import files
from pathlib import Path

# The flags a closed network needs: without the background-networking ones Chromium keeps
# trying to reach Google's hosts; the proxy to nowhere keeps any page request offline.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--proxy-server=127.0.0.1:9", "--hide-scrollbars"]


def screenshot(page: Path, png: Path, width: int = 1200, height: int = 2000) -> Path:
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(["chromium", *FLAGS, f"--user-data-dir={profile}",
                        f"--window-size={width},{height}", f"--screenshot={png}",
                        Path(page).resolve().as_uri()],
                       check=True, capture_output=True, timeout=120)
    return png


def demo_report(folder: Path) -> Path:
    """The demo table's gmm report, with dates and a drift section, written to `folder`."""
    from pipeline import drift
    from pipeline.ingest import read_source
    from pipeline.models.registry import create
    from pipeline.report import render_report
    from pipeline.schema import detect_schema, enforce_schema
    from pipeline.split import split_train_holdout
    from pipeline.validation.validate import validate_synthetic

    source = files("sdmetrics").joinpath("demos/single_table/student_placements_real.csv")
    frame, _ = read_source(Path(str(source)))
    schema = detect_schema(frame, "student_placements")
    frame = enforce_schema(frame, schema)
    train, holdout, split = split_train_holdout(frame, schema, 0.2, 0)
    model = create("gmm").fit(train, schema, seed=0)
    synthetic = model.sample(len(train), seed=0)
    result = validate_synthetic(synthetic, train, holdout, schema, model="gmm", run_id="demo",
                                gx_dir=folder / "gx")
    history = [{"model": "gmm", "run_id": f"2026112{i}T020000Z-nightly", "area": "published",
                "metrics": {k: result.metrics[k] + 0.01 * (i % 3) for k in
                            ("column_shapes", "column_pair_trends", "detection_auc")}}
               for i in range(5)]
    found = drift.compare(history, "gmm", "20261126T020000Z-nightly", result.metrics, 0.05)
    html = render_report(
        dataset="student_placements", model="gmm", run_id="20261126T020000Z-nightly",
        verdict=result.verdict, reasons=result.reasons, metric_rows=result.metric_rows(),
        real=train, synthetic=synthetic, schema=schema, split_method=str(split),
        distances=result.distances, findings=result.findings, drift=found,
        column_scores=result.column_scores, loss_history=model.loss_history)
    page = folder / "report.html"
    page.write_text(html)
    return page


def main() -> int:
    out = Path("docs/report.png")
    out.parent.mkdir(exist_ok=True)
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        shot = screenshot(demo_report(Path(tmp)), Path(tmp) / "report.png", 1200, 4200)
        # a 256-colour palette keeps the committed picture small and its text sharp
        Image.open(shot).convert("RGB").quantize(256).save(out, optimize=True)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
