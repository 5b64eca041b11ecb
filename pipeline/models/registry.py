"""Model names -> classes, parameter models and capabilities: the one place each is stated.

Importing a model module is deferred until a model is created, so `synth --help`, the CLI's
argument checks and a job's parameter validation never pay for torch or sdv.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any

from pipeline.errors import PipelineError
from pipeline.models import params


@dataclass(frozen=True)
class ModelEntry:
    module: str
    cls: str
    params: type[params.ModelParams]
    tabular: bool
    time_series: bool
    summary: str
    conditions: bool = True  # can sample on demand (fixed values, rebalanced shares)


MODELS: dict[str, ModelEntry] = {
    "gaussian_copula": ModelEntry(
        "pipeline.models.sdv_tabular", "GaussianCopulaModel", params.GaussianCopulaParams,
        True, False, "SDV's Gaussian copula"),
    "ctgan": ModelEntry("pipeline.models.neural.ctgan", "CTGANModel", params.CTGANParams,
                        True, False, "CTGAN (conditional GAN), our torch implementation"),
    "tvae": ModelEntry("pipeline.models.neural.tvae", "TVAEModel", params.TVAEParams,
                       True, False, "TVAE (variational autoencoder), our torch implementation"),
    "sdv_ctgan": ModelEntry("pipeline.models.sdv_tabular", "SDVCTGANModel",
                            params.SDVCTGANParams, True, False, "SDV's CTGAN"),
    "sdv_tvae": ModelEntry("pipeline.models.sdv_tabular", "SDVTVAEModel",
                           params.SDVTVAEParams, True, False, "SDV's TVAE"),
    "gmm": ModelEntry("pipeline.models.gmm", "GaussianMixtureModel",
                      params.GaussianMixtureParams, True, False,
                      "mixed-type Gaussian mixture with exact conditioning"),
    "hmm": ModelEntry("pipeline.models.hmm", "HiddenMarkovModel", params.HiddenMarkovParams,
                      False, True, "autoregressive hidden Markov model for series"),
    "par": ModelEntry("pipeline.models.par", "PARModel", params.PARParams, False, True,
                      "SDV's PAR (probabilistic autoregressive)", conditions=False),
}


def names(time_series: bool | None = None) -> list[str]:
    if time_series is None:
        return list(MODELS)
    return [name for name, entry in MODELS.items()
            if (entry.time_series if time_series else entry.tabular)]


def entry(name: str) -> ModelEntry:
    check_names([name])
    return MODELS[name]


def check_names(requested: list[str], time_series: bool | None = None) -> list[str]:
    """Refuse unknown names up front, naming the allowed ones."""
    allowed = names(time_series)
    unknown = [m for m in requested if m not in allowed]
    if unknown:
        kind = {None: "", True: " for time-series data", False: " for tabular data"}[time_series]
        raise PipelineError(f"unknown model(s) {unknown}{kind}; choose from {allowed}")
    if not requested:
        raise PipelineError(f"no model requested; choose from {allowed}")
    return requested


def check_params(model_params: dict[str, dict[str, Any]]) -> None:
    """Validate every model's parameters without importing any model."""
    for name, values in model_params.items():
        params.validated(name, entry(name).params, values)


def create(name: str, **values: Any) -> Any:
    """A new, unfitted `Synthesizer` of the named model."""
    found = entry(name)
    return getattr(import_module(found.module), found.cls)(**values)
