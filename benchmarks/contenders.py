"""The contenders: our models through the Synthesizer interface, raw SDV with no pipeline
around it, and the independent-columns floor. `fit_and_sample` runs one of them inside a
fresh worker process (see worker.py) and times its fit and its sampling.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.settings import Budget

# Imports paid once per process, before any clock starts, so that no fit time includes them
# (SDV's first fit imports ~10 s of modules, torch's first Adam loads dynamo, the HMM's first
# fit imports scikit-learn): a long-running pipeline process pays them once.
TORCH_SDV = ("sdv.single_table", "sdv.sequential", "torch", "ctgan", "joblib")
MODEL_IMPORTS = {
    "gmm": ("pipeline.models.gmm",),
    "hmm": ("pipeline.models.hmm", "sklearn.cluster", "threadpoolctl"),
    "gaussian_copula": TORCH_SDV + ("pipeline.models.sdv_tabular",),
    "ctgan": ("torch", "pipeline.models.neural.ctgan", "pipeline.models.neural.segments",
              "pipeline.models.progress"),
    "tvae": ("torch", "pipeline.models.neural.tvae", "pipeline.models.neural.segments",
             "pipeline.models.progress"),
    "sdv_ctgan": TORCH_SDV + ("pipeline.models.sdv_tabular", "pipeline.models.progress"),
    "sdv_tvae": TORCH_SDV + ("pipeline.models.sdv_tabular", "pipeline.models.progress"),
    "par": TORCH_SDV + ("pipeline.models.par",),
}


@dataclass(frozen=True)
class Contender:
    name: str  # row label in the results
    family: str  # "ours" (registry), "sdv" (raw SDV class), "floor"
    model: str  # registry name, SDV class name, or the floor's name
    params: dict[str, Any] = field(default_factory=dict)
    warm: tuple[str, ...] = ()
    pair: str | None = None  # the raw SDV contender this one is compared with

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def tabular_contenders(budget: Budget) -> list[Contender]:
    epochs = {"ctgan": budget.ctgan_epochs, "tvae": budget.tvae_epochs}
    neural = {
        name: {"epochs": epochs[name], "batch_size": budget.batch_size} for name in epochs
    }
    found = [
        Contender("independent", "floor", "independent"),
        Contender("gmm", "ours", "gmm", pair="sdv_gaussian_copula"),
        Contender("gaussian_copula", "ours", "gaussian_copula", pair="sdv_gaussian_copula"),
        Contender("sdv_gaussian_copula", "sdv", "GaussianCopulaSynthesizer", warm=TORCH_SDV),
    ]
    for name, cls in (("ctgan", "CTGANSynthesizer"), ("tvae", "TVAESynthesizer")):
        # identical settings: a fixed number of epochs, no early stopping
        ours = {**neural[name], "cuda": False, "threads": budget.threads,
                "early_stopping": False}
        raw = {**neural[name], "enable_gpu": False, "verbose": False}
        found.append(Contender(name, "ours", name, ours, pair=f"sdv_{name}"))
        found.append(Contender(f"sdv_{name}", "sdv", cls, raw, TORCH_SDV))
    return _selected(found, budget)


def timeseries_contenders(budget: Budget) -> list[Contender]:
    found = [
        Contender("independent", "floor", "independent"),
        Contender("hmm", "ours", "hmm"),
        Contender("par", "ours", "par", {"epochs": budget.par_epochs}, pair="sdv_par"),
        Contender("sdv_par", "sdv", "PARSynthesizer",
                  {"epochs": budget.par_epochs, "cuda": False, "verbose": False}, TORCH_SDV),
    ]
    return _selected(found, budget)


def _selected(found: list[Contender], budget: Budget) -> list[Contender]:
    if budget.contenders is None:
        return found
    return [c for c in found if c.name in budget.contenders]


def unavailable(contender: Contender) -> str | None:
    """Why a contender cannot run here (its module has not landed), or None."""
    if contender.family != "ours":
        return None
    from pipeline.models.registry import MODELS

    module = MODELS[contender.model].module
    if importlib.util.find_spec(module) is None:
        return f"{module} is not in this checkout yet"
    return None


# --- inside the worker process ---------------------------------------------------------------
def warm_up(modules: tuple[str, ...], model: str | None = None) -> float:
    """Import what the contender's fit would import on first use; seconds taken."""
    started = time.perf_counter()
    modules = modules + MODEL_IMPORTS.get(model or "", ())
    for module in modules:
        __import__(module)
    if "torch" in modules:
        import torch

        torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    return round(time.perf_counter() - started, 3)


def current_rss_mb() -> float:
    import psutil

    return round(psutil.Process().memory_info().rss / 2**20, 1)


def fit_and_sample(payload: dict[str, Any]) -> dict[str, Any]:
    """Fit on the payload's training frame, then sample `n` rows (or sequences); timed."""
    contender = Contender(**payload["contender"])
    warm_seconds = warm_up(contender.warm, contender.model)
    train, schema, seed = payload["train"], payload["schema"], payload["seed"]
    runner = {"ours": _Ours, "sdv": _RawSDV, "floor": _Floor}[contender.family](
        contender, schema
    )
    rss_before = current_rss_mb()
    started = time.perf_counter()
    runner.fit(train, seed)
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    synthetic = runner.sample(payload["n"], payload["sample_seed"], train)
    sample_seconds = time.perf_counter() - started
    if contender.family == "sdv":
        from benchmarks.data import as_schema_dtypes

        synthetic = as_schema_dtypes(synthetic, schema)  # after the clock: scoring needs it
    return {
        "fit_seconds": round(fit_seconds, 3),
        "sample_seconds": round(sample_seconds, 3),
        "rows": len(synthetic),
        "warmup_seconds": warm_seconds,
        "rss_before_fit_mb": rss_before,
        "info": runner.info(),
        "synthetic": synthetic if payload.get("keep_output") else None,
    }


class _Ours:
    def __init__(self, contender: Contender, schema) -> None:
        self.contender, self.schema = contender, schema

    def fit(self, train: pd.DataFrame, seed: int) -> None:
        from pipeline.models.registry import create

        model = create(self.contender.model, **self.contender.params)
        self.model = model.fit(train, self.schema, seed=seed)

    def sample(self, n: int, seed: int, train: pd.DataFrame) -> pd.DataFrame:
        return self.model.sample(n, seed=seed)

    def info(self) -> dict[str, Any]:
        out: dict[str, Any] = {"model_fit_seconds": self.model.fit_seconds}
        for attribute in ("n_components_", "n_states_", "_resolved_params"):
            if hasattr(self.model, attribute):
                out[attribute.strip("_")] = getattr(self.model, attribute)
        if self.model.loss_history:
            out["epochs_or_iterations"] = len(self.model.loss_history)
            out["last_loss"] = self.model.loss_history[-1]
        return out


class _RawSDV:
    """SDV exactly as its documentation uses it: detected metadata, fit, sample."""

    def __init__(self, contender: Contender, schema) -> None:
        self.contender, self.schema = contender, schema

    def fit(self, train: pd.DataFrame, seed: int) -> None:
        import random

        import torch
        from sdv.metadata import Metadata

        # SDV does not seed fitting; a user who wants repeatable runs seeds the generators
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        name = self.schema.name
        data = {name: train}
        metadata = Metadata.detect_from_dataframes(data)
        if self.schema.is_time_series:
            _mark_sequences(metadata, name, self.schema)
        self.model = _sdv_class(self.contender.model)(metadata, **self.contender.params)
        with same_parallelism():
            self.model.fit(data)

    def sample(self, n: int, seed: int, train: pd.DataFrame) -> pd.DataFrame:
        with same_parallelism():
            if self.schema.is_time_series:
                out = self.model.sample_sequences(num_sequences=n)
            else:
                out = self.model.sample(num_rows=n)
        if isinstance(out, dict):  # SDV 2.0 returns {table name: frame}
            (out,) = out.values()
        return out.reset_index(drop=True)

    def info(self) -> dict[str, Any]:
        return {"parameters": self.contender.params}


def same_parallelism():
    """Raw SDV under the execution settings our wrapper uses, so the ratio measures the
    wrapper and not a thread or process setting: with one thread, ctgan's DataTransformer
    runs its joblib `Parallel(n_jobs=-1)` in-process (ours does the same), instead of
    starting loky worker processes that import the whole stack again (measured: a 3,000-row
    fit took 18 s with them and ~6 s without, on 2 busy cores)."""
    import os
    from contextlib import nullcontext

    import joblib

    if os.environ.get("OMP_NUM_THREADS") == "1":
        return joblib.parallel_config(backend="sequential")
    return nullcontext()


def _sdv_class(name: str):
    import sdv.sequential
    import sdv.single_table

    for module in (sdv.single_table, sdv.sequential):
        if hasattr(module, name):
            return getattr(module, name)
    raise ImportError(f"sdv has no synthesizer {name}")


def _mark_sequences(metadata, name: str, schema) -> None:
    """PAR needs the sequence key and index; detection does not set them."""
    key, index = schema.sequence_key, schema.sequence_index
    table = metadata.tables[name]
    if table.primary_key is not None:
        metadata.remove_primary_key(name)
    metadata.update_column(key, name, sdtype="id")
    metadata.set_sequence_key(key, name)
    metadata.set_sequence_index(index, name)


class _Floor:
    def __init__(self, contender: Contender, schema) -> None:
        self.schema = schema

    def fit(self, train: pd.DataFrame, seed: int) -> None:
        return None

    def sample(self, n: int, seed: int, train: pd.DataFrame) -> pd.DataFrame:
        from benchmarks.data import independent_columns

        rows = len(train) if self.schema.is_time_series else n
        return independent_columns(train, self.schema, rows, np.random.default_rng(seed))

    def info(self) -> dict[str, Any]:
        return {}
