"""Retention: the last N published runs per dataset and model stay, older ones go; a
quarantined run stays a set number of days (long enough to read why it failed); a fitted
model that no kept run names goes once it has been idle for `MODEL_IDLE_SECONDS` (a
nightly job on new data fits a new one every night).

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
# A model artifact used (fitted or reused) this recently may belong to a run still going.
MODEL_IDLE_SECONDS = 6 * 3600


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
    return doomed + _unused_models(root, dataset, now)


def _unused_models(root: Path, dataset: str, now: float) -> list[Path]:
    """Model artifacts of `dataset` that no kept run's manifest names, idle long enough."""
    named = set()
    for area in ("published", "quarantine"):
        for manifest in (root / area / dataset).glob(f"model=*/run=*/{MANIFEST}"):
            try:
                named |= _artifact_names(json.loads(manifest.read_text()))
            except (OSError, ValueError):
                return []  # a manifest we cannot read might name any of them: keep all
    unused = [folder for folder in sorted((root / "models" / dataset).glob("*"))
              if folder.is_dir() and not folder.name.startswith(".")
              and folder.name not in named and now - _last_used(folder) > MODEL_IDLE_SECONDS]
    for folder in unused:
        _remove(folder, root / ".trash")
    return unused


def _artifact_names(manifest: dict) -> set[str]:
    """The folder names of every model a run used: its attempts' and its refit's."""
    paths = [manifest.get("model_artifact"), (manifest.get("published_from") or {}).get(
        "model_artifact"), *[a.get("model_artifact") for a in manifest.get("attempts") or []]]
    return {Path(p).name for p in paths if p}


def _last_used(folder: Path) -> float:
    try:
        return max([folder.stat().st_mtime, *(p.stat().st_mtime for p in folder.iterdir())])
    except OSError:  # changing under us: in use
        return time.time()


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
