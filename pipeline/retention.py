"""Retention: the last N published runs per dataset and model stay, older ones go; a
quarantined run stays a set number of days (long enough to read why it failed).

A run is first renamed into `.trash/` and then deleted, so a reader never finds half a run,
and the run `current` points at is never removed, whatever its age.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from datetime import datetime
from pathlib import Path

from pipeline.publish import CURRENT, MANIFEST

DAY_SECONDS = 86_400


def apply_retention(output_dir: str | Path, dataset: str, keep_runs: int,
                    quarantine_days: float, now: float | None = None) -> list[Path]:
    """Remove what the policy no longer keeps; the removed run folders."""
    root = Path(output_dir)
    now = time.time() if now is None else now
    link = root / "published" / dataset / CURRENT
    protected = link.resolve() if link.is_symlink() else None
    doomed = []
    for model_dir in sorted((root / "published" / dataset).glob("model=*")):
        runs = sorted(model_dir.glob("run=*"), key=lambda p: p.name, reverse=True)
        doomed += [r for r in runs[keep_runs:] if r.resolve() != protected]
    for run in sorted((root / "quarantine" / dataset).glob("model=*/run=*")):
        if now - _written_at(run) > quarantine_days * DAY_SECONDS:
            doomed.append(run)
    for run in doomed:
        _remove(run, root / ".trash")
    return doomed


def _written_at(run: Path) -> float:
    """When the run was finalised: its manifest's time, else the folder's."""
    try:
        stamp = json.loads((run / MANIFEST).read_text())["written_at"]
        return datetime.fromisoformat(stamp).timestamp()
    except (OSError, KeyError, ValueError):
        return run.stat().st_mtime


def _remove(run: Path, trash: Path) -> None:
    trash.mkdir(parents=True, exist_ok=True)
    moved = trash / f"{run.name}-{uuid.uuid4().hex[:8]}"
    try:
        os.replace(run, moved)
    except FileNotFoundError:  # a concurrent run's retention took it first
        return
    shutil.rmtree(moved, ignore_errors=True)
