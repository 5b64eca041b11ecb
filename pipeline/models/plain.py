"""A fitted model as plain data: numpy arrays in one `.npz` and everything else as JSON.

Our own models (gmm, hmm) are trees of frozen dataclasses over arrays, so they need no
pickle: loading builds only classes of this package, and reads arrays with
`allow_pickle=False`, so an artifact cannot run code. SDV's models stay pickled (their
objects are not ours to describe).
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib
import json
import math
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

from pipeline.errors import PipelineError

OWN_PACKAGE = "pipeline."


def save_plain(obj: Any, json_path: Path, arrays_path: Path) -> None:
    arrays: dict[str, np.ndarray] = {}
    tree = _to_plain(obj, arrays)
    with arrays_path.open("wb") as fh:
        np.savez(fh, **arrays)
    json_path.write_text(json.dumps(tree))


def load_plain(json_path: Path, arrays_path: Path) -> Any:
    with np.load(arrays_path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    return _from_plain(json.loads(json_path.read_text()), arrays)


def _to_plain(obj: Any, arrays: dict[str, np.ndarray]) -> Any:
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return _float(float(obj))
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return _array(obj, arrays)
    if isinstance(obj, Enum):
        return {"$enum": _name(type(obj)), "value": obj.value}
    if isinstance(obj, BaseModel):
        return {"$pydantic": _name(type(obj)), "data": obj.model_dump(mode="json")}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        fields = {f.name: _to_plain(getattr(obj, f.name), arrays)
                  for f in dataclasses.fields(obj)}
        return {"$dataclass": _name(type(obj)), "fields": fields}
    if isinstance(obj, tuple):
        return {"$tuple": [_to_plain(v, arrays) for v in obj]}
    if isinstance(obj, list):
        return [_to_plain(v, arrays) for v in obj]
    if isinstance(obj, dict):
        return {"$dict": [[_to_plain(k, arrays), _to_plain(v, arrays)] for k, v in obj.items()]}
    if isinstance(obj, pd.Timestamp):
        return {"$timestamp": obj.isoformat()}
    if obj is pd.NA:
        return {"$na": True}
    if isinstance(obj, datetime.tzinfo):
        return {"$tz": str(obj)}
    if isinstance(obj, (pd.Timedelta, np.timedelta64)):
        return {"$timedelta": pd.Timedelta(obj).value}
    if isinstance(obj, np.datetime64):
        return {"$timestamp": pd.Timestamp(obj).isoformat()}
    raise PipelineError(f"cannot save a {type(obj).__name__} as plain data")


def _float(value: float) -> Any:
    return value if math.isfinite(value) else {"$float": repr(value)}


def _array(obj: np.ndarray, arrays: dict[str, np.ndarray]) -> Any:
    if obj.dtype == object:  # labels: each one as plain data, not a pickled array
        return {"$objects": [_to_plain(v, arrays) for v in obj.tolist()], "shape": obj.shape}
    key = f"a{len(arrays)}"
    arrays[key] = obj
    return {"$array": key}


def _name(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _from_plain(tree: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(tree, list):
        return [_from_plain(v, arrays) for v in tree]
    if not isinstance(tree, dict):
        return tree
    if "$array" in tree:
        return arrays[tree["$array"]]
    if "$objects" in tree:
        out = np.empty(len(tree["$objects"]), dtype=object)
        out[:] = [_from_plain(v, arrays) for v in tree["$objects"]]
        return out.reshape(tree["shape"])
    if "$float" in tree:
        return float(tree["$float"])
    if "$tuple" in tree:
        return tuple(_from_plain(v, arrays) for v in tree["$tuple"])
    if "$dict" in tree:
        return {_hashable(_from_plain(k, arrays)): _from_plain(v, arrays)
                for k, v in tree["$dict"]}
    if "$timestamp" in tree:
        return pd.Timestamp(tree["$timestamp"])
    if "$na" in tree:
        return pd.NA
    if "$tz" in tree:
        return pd.Timestamp(0, tz=tree["$tz"]).tzinfo
    if "$timedelta" in tree:
        return pd.Timedelta(tree["$timedelta"])
    if "$enum" in tree:
        return own_class(tree["$enum"])(tree["value"])
    if "$pydantic" in tree:
        return own_class(tree["$pydantic"]).model_validate(tree["data"])
    if "$dataclass" in tree:
        cls = own_class(tree["$dataclass"])
        values = {k: _from_plain(v, arrays) for k, v in tree["fields"].items()}
        init = {f.name for f in dataclasses.fields(cls) if f.init}
        obj = cls(**{k: v for k, v in values.items() if k in init})
        for k, v in values.items():
            if k not in init:
                object.__setattr__(obj, k, v)
        return obj
    raise PipelineError(f"unknown entry in a plain model file: {sorted(tree)[:3]}")


def _hashable(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


def own_class(name: str) -> type:
    """Only classes of this package are ever built from a file."""
    module, _, qualname = name.partition(":")
    if not module.startswith(OWN_PACKAGE):
        raise PipelineError(f"a plain model file names {name!r}, which is not ours to build")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj
