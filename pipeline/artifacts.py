"""Model artifacts keyed by content: same training data + schema + model + parameters + seed
-> the same directory, so a re-run reuses the fitted model instead of refitting.

Keys hash the data's values, not DataFrame objects: Prefect's INPUTS cache key depends on a
frame's memory layout and misses identical data.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.models import registry
from pipeline.models.base import Synthesizer
from pipeline.schema import DatasetSchema

log = logging.getLogger(__name__)


def frame_fingerprint(df: pd.DataFrame) -> str:
    """Content hash of a frame: column names, dtypes and every value, in order."""
    digest = hashlib.sha256()
    digest.update(json.dumps([(c, str(t)) for c, t in df.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return "sha256:" + digest.hexdigest()


def artifact_key(
    train_fingerprint: str, schema: DatasetSchema, model: str, params: dict[str, Any], seed: int,
    artifact_format: int = 1,
) -> str:
    payload = json.dumps(
        {
            "train": train_fingerprint,
            "schema": schema.model_dump(mode="json"),
            "model": model,
            "params": params,
            "seed": seed,
            **({"format": artifact_format} if artifact_format != 1 else {}),
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
    key = artifact_key(
        frame_fingerprint(train), schema, model, params, seed, synthesizer.artifact_format
    )
    directory = Path(artifact_root) / schema.name / f"{model}-{key}"
    if (directory / "model.pkl").exists():
        log.info("%s: reusing fitted model %s (same data, parameters and seed)", model, directory)
        return Synthesizer.load(directory), directory, True
    synthesizer.source_fingerprint = source_fingerprint
    synthesizer.fit(train, schema, seed=seed)
    # Save beside the final name, then rename: a crash mid-save never leaves a directory
    # that a later run would take for a complete artifact.
    staging = directory.with_name(directory.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    synthesizer.save(staging)
    staging.rename(directory)
    return synthesizer, directory, False
