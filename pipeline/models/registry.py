"""Model names -> classes. Importing a model module is deferred until it is asked for,
so `synth --help` and the CLI's argument checks never pay for torch or sdv."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from pipeline.errors import PipelineError

if TYPE_CHECKING:
    from pipeline.models.base import Synthesizer

# name -> (module, class, supports tabular, supports time series)
MODELS: dict[str, tuple[str, str, bool, bool]] = {
    "gaussian_copula": ("pipeline.models.sdv_tabular", "GaussianCopulaModel", True, False),
    "ctgan": ("pipeline.models.sdv_tabular", "CTGANModel", True, False),
    "tvae": ("pipeline.models.sdv_tabular", "TVAEModel", True, False),
    "gmm": ("pipeline.models.gmm", "GaussianMixtureModel", True, False),
    "hmm": ("pipeline.models.hmm", "HiddenMarkovModel", False, True),
    "par": ("pipeline.models.par", "PARModel", False, True),
}


def names(time_series: bool | None = None) -> list[str]:
    if time_series is None:
        return list(MODELS)
    return [name for name, (_, _, tab, ts) in MODELS.items() if (ts if time_series else tab)]


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


def create(name: str, **params) -> Synthesizer:
    check_names([name])
    module, cls, _, _ = MODELS[name]
    return getattr(import_module(module), cls)(**params)
