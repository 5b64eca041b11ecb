"""Model artifacts keyed by content: same training data + schema + model + parameters + seed
+ code + library versions -> the same directory, so a re-run reuses the fitted model instead
of refitting, and edited code or an upgraded library never reuses an old one.

Keys hash the data's values, not DataFrame objects: Prefect's INPUTS cache key depends on a
frame's memory layout and misses identical data. An artifact that fails its checksum or does
not load is removed and refitted, with a warning, so one bad file never blocks a job.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.errors import PipelineError
from pipeline.models import registry
from pipeline.models.base import Synthesizer
from pipeline.models.reproducibility import library_versions
from pipeline.models.storage import CARD_FILE, has_model
from pipeline.schema import DatasetSchema

log = logging.getLogger(__name__)
PACKAGE_ROOT = Path(__file__).resolve().parent


def frame_fingerprint(df: pd.DataFrame) -> str:
    """Content hash of a frame: column names, dtypes and every value, in order."""
    digest = hashlib.sha256()
    digest.update(json.dumps([(c, str(t)) for c, t in df.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return "sha256:" + digest.hexdigest()


@functools.cache
def code_fingerprint(root: Path = PACKAGE_ROOT) -> str:
    """Hash of every module of the package and of the libraries' versions: any edit to
    the code that fits or samples a model moves every key."""
    digest = hashlib.sha256(json.dumps(library_versions(), sort_keys=True).encode())
    for path in sorted(Path(root).rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def artifact_key(
    train_fingerprint: str, schema: DatasetSchema, model: str, params: dict[str, Any], seed: int,
    code: str | None = None,
) -> str:
    payload = json.dumps(
        {
            "train": train_fingerprint,
            "schema": schema.model_dump(mode="json"),
            "model": model,
            "params": params,
            "seed": seed,
            "code": code or code_fingerprint(),
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def fit_or_load(
    model: str,
    params: dict[str, Any],
    train: pd.DataFrame,
    schema: DatasetSchema,
    seed: int,
    artifact_root: str | Path,
    source_fingerprint: str | None = None,
) -> tuple[Synthesizer, Path, bool]:
    """Return (fitted model, artifact dir, reused?)."""
    synthesizer = registry.create(model, **params)
    key = artifact_key(frame_fingerprint(train), schema, model, params, seed)
    directory = Path(artifact_root) / schema.name / f"{model}-{key}"
    if has_model(directory):
        loaded = _load_or_remove(directory)
        if loaded is not None:
            log.info("%s: reusing fitted model %s (same data, parameters, seed, code)",
                     model, directory)
            os.utime(directory)  # in use: retention leaves a recently used model alone
            return loaded, directory, True
    synthesizer.source_fingerprint = source_fingerprint
    synthesizer.fit(train, schema, seed=seed)
    _save_once(synthesizer, directory)
    return synthesizer, directory, False


def _load_or_remove(directory: Path) -> Synthesizer | None:
    written_by = _card(directory).get("code_fingerprint")
    if written_by != code_fingerprint():
        log.warning("model artifact %s was saved by other code (code fingerprint %s, this "
                    "code %s); refitting", directory, written_by, code_fingerprint())
        shutil.rmtree(directory, ignore_errors=True)
        return None
    try:
        return Synthesizer.load(directory)
    except Exception as exc:  # any unpickling error: the file is not what this code wrote
        log.warning("model artifact %s does not load (%s); refitting", directory, exc)
        shutil.rmtree(directory, ignore_errors=True)
        return None


def _card(directory: Path) -> dict[str, Any]:
    try:
        card = json.loads((directory / CARD_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return card if isinstance(card, dict) else {}


def _sign(directory: Path) -> None:
    """Record in the card which code wrote the artifact, so other code never loads it."""
    card = _card(directory)
    card["code_fingerprint"] = code_fingerprint()
    (directory / CARD_FILE).write_text(json.dumps(card, indent=2, default=str))


def _save_once(synthesizer: Synthesizer, directory: Path) -> None:
    """Save beside the final name, then rename: a crash mid-save never leaves a directory a
    later run would take for complete, and two runs fitting the same key at once each save
    under their own name; the first rename wins and the other's copy is dropped."""
    staging = directory.with_name(f"{directory.name}.partial-{os.getpid()}-{uuid.uuid4().hex}")
    try:
        synthesizer.save(staging)
        _sign(staging)
        try:
            staging.rename(directory)
        except OSError:
            if not has_model(directory):
                raise PipelineError(f"could not save the model artifact at {directory}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
