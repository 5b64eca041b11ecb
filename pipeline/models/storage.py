"""A fitted model on disk: its files, the card that lists their checksums, and loading back.

Our own models are written as plain data (`plain`: arrays + JSON, no code on load); SDV's
are pickled. Either way the card records each file's sha256, and a file that does not match
is refused before it is read, so a truncated, overwritten or foreign file never loads.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path
from typing import Any

from pipeline.errors import PipelineError
from pipeline.models.plain import load_plain, own_class, save_plain

CARD_FILE = "card.json"
PICKLE_FILE = "model.pkl"
STATE_FILE, ARRAYS_FILE = "model.json", "model.npz"


def write_model(model: Any, directory: Path, card: dict[str, Any], plain: bool) -> Path:
    """The model's files, then its card last: a folder without a card is incomplete."""
    directory.mkdir(parents=True, exist_ok=True)
    if plain:
        state = {"class": f"{type(model).__module__}:{type(model).__qualname__}",
                 "state": vars(model)}
        save_plain(state, directory / STATE_FILE, directory / ARRAYS_FILE)
        files = [STATE_FILE, ARRAYS_FILE]
    else:
        with (directory / PICKLE_FILE).open("wb") as fh:
            pickle.dump(model, fh, protocol=pickle.HIGHEST_PROTOCOL)
        files = [PICKLE_FILE]
    card = {**card, "model_files_sha256": {name: _sha256(directory / name) for name in files}}
    (directory / CARD_FILE).write_text(json.dumps(card, indent=2, default=str))
    return directory


def read_model(directory: Path) -> Any:
    files = _checked_files(Path(directory))
    if STATE_FILE in files:
        state = load_plain(directory / STATE_FILE, directory / ARRAYS_FILE)
        cls = own_class(state["class"])
        model = cls.__new__(cls)
        model.__dict__.update(state["state"])
        return model
    with (directory / PICKLE_FILE).open("rb") as fh:
        return pickle.load(fh)  # noqa: S301 - its checksum matched the card written with it


def has_model(directory: Path) -> bool:
    return (Path(directory) / CARD_FILE).exists()


def _checked_files(directory: Path) -> dict[str, str]:
    card_path = directory / CARD_FILE
    if not card_path.exists():
        raise PipelineError(f"no model artifact at {directory} (missing {CARD_FILE})")
    try:
        files = json.loads(card_path.read_text())["model_files_sha256"]
    except (ValueError, KeyError, TypeError) as exc:
        raise PipelineError(f"{card_path} is not a model card ({exc})") from None
    if set(files) not in ({PICKLE_FILE}, {STATE_FILE, ARRAYS_FILE}):
        raise PipelineError(f"{card_path} lists unknown model files {sorted(files)}")
    for name, expected in files.items():
        path = directory / name
        if not path.exists() or _sha256(path) != expected:
            raise PipelineError(f"{path} does not match the checksum in its card; it is "
                                "missing, corrupt or was replaced")
    return files


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
