"""One parameter model per synthesizer: names, defaults, bounds and a line of help each.

These import nothing heavy, so a job's `model_params` are checked (and `synth models --params`
lists them) before any model module, torch or sdv is imported. A model reads its settings
from the validated instance; the raw dict the user gave stays on the model for its card and
its artifact key, so an unset parameter never changes a cache key.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipeline.errors import PipelineError


class ModelParams(BaseModel):
    """Strict: a string or a float where a count belongs is refused, not coerced."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    protect_rare: int = Field(
        2, ge=1, description="no value fewer training rows hold is published (extremes "
        "clipped, rare numbers nudged, rare categories replaced; 1: off)")


class GaussianMixtureParams(ModelParams):
    n_components: int | None = Field(
        None, ge=1, description="components; unset: chosen by held-out log-likelihood")
    max_components: int = Field(128, ge=1, description="largest count the selection tries")
    max_iter: int = Field(100, ge=1, description="EM iterations of the final fit")
    tol: float = Field(1e-3, ge=0, description="stop when log-likelihood per row gains less")
    n_init: int = Field(1, ge=1, description="restarts when n_components is given")
    spike_share: float = Field(
        0.05, gt=0, le=1, description="a numeric value with this share of rows is a point mass")
    discrete_max: int = Field(
        20, ge=0, description="numeric columns with at most this many values are discrete")
    reg_covar: float = Field(1e-3, gt=0, description="added to covariance diagonals")
    smoothing: float = Field(
        0.5, gt=0, description="pseudo-rows per component spread like the marginal")
    validation_share: float = Field(
        0.2, gt=0, le=0.9, description="rows held out to choose the component count")
    selection_max_iter: int = Field(20, ge=1, description="EM iterations per tried count")
    selection_min_gain: float = Field(
        0.1, ge=0, description="nats per row a doubling of components must gain held out")


class HiddenMarkovParams(ModelParams):
    n_states: int | None = Field(None, ge=1, description="states; unset: chosen by BIC")
    max_states: int = Field(16, ge=1, description="largest state count the selection tries")
    autoregressive: bool = Field(True, description="emissions depend on earlier steps")
    lags: list[int] | None = Field(
        None, description="autoregressive lags; unset: 1, 2 and the seasonal lag")
    memory: float | None = Field(
        None, ge=0, lt=1, description="decay per step of each column's slow average (0: none); "
        "unset: 0.9, or none where the index has a calendar cycle whose profile a simulation "
        "keeps clearly better without it")
    seasonal: bool = Field(True, description="Fourier terms of the index's cycles")
    trend: bool = Field(True, description="a linear trend of the index over its span")
    time_effects: bool = Field(
        True, description="a column whose steps entities take together follows the real mean "
        "step at each index value that at least 10 entities step into (an aggregate)")
    check_persistence: bool = Field(
        True, description="of the counts up to BIC's, keep the one whose simulation keeps "
        "lag-1 autocorrelations best")
    heavy_tails: bool = Field(
        True, description="Student-t step innovations where they fit better than Gaussian")
    max_iter: int = Field(40, ge=1, description="EM iterations of the final fit")
    selection_max_iter: int = Field(15, ge=1, description="EM iterations per tried count")
    tol: float = Field(1e-4, ge=0, description="stop when log-likelihood per step gains less")
    min_variance: float = Field(1e-3, gt=0, description="covariance diagonal floor")
    smoothing: float = Field(1.0, gt=0, description="pseudo-counts per state for token tables")
    state_tokens: bool = Field(False, description="token chains per state, not one shared")
    length: int | None = Field(
        None, ge=1, description="length of sampled sequences; unset: the real lengths")
    calibrate: bool = Field(True, description="map simulated scores back onto the training "
                            "marginals")
    step_powers: bool = Field(True, description="in a panel, model a column's steps on a power "
                              "of its values (log, square root) where rank scores make them "
                              "heavy-tailed")
    derive: bool = Field(True, description="recompute columns that are functions of others")
    keep_order: bool = Field(True, description="model a column that never exceeds another "
                             "as the gap")
    couple_values: bool = Field(True, description="a value tied to another column's state "
                                "is set by the rule")
    current_drivers: bool = Field(True, description="a token may follow another column's "
                                  "value at the same step")

    @model_validator(mode="after")
    def _positive_lags(self) -> HiddenMarkovParams:
        if self.lags is not None and any(lag < 1 for lag in self.lags):
            raise ValueError(f"lags must be whole numbers >= 1, got {self.lags}")
        return self


class GaussianCopulaParams(ModelParams):
    """SDV's GaussianCopulaSynthesizer options; unset ones keep SDV's defaults."""

    default_distribution: str | None = Field(None, description="e.g. beta, truncnorm, norm")
    numerical_distributions: dict[str, str] | None = Field(
        None, description="column -> distribution")
    enforce_min_max_values: bool | None = None
    enforce_rounding: bool | None = None


class NeuralParams(ModelParams):
    """Options common to our CTGAN and TVAE (the papers' settings unless noted)."""

    epochs: int | None = Field(
        None, ge=1, description="most passes over the training rows; unset: 300, or on a "
        "table of 1,000 to 25,000 rows as many as make 15,000 steps (at most 3,000)")
    batch_size: int = Field(500, ge=2, multiple_of=2, description="rows per step")
    embedding_dim: int = Field(128, ge=1, description="noise (CTGAN) or latent (TVAE) size")
    max_modes: int = Field(10, ge=1, le=50, description="modes per numeric column")
    early_stopping: bool = Field(
        True, description="keep the epoch whose sample scores best on held-back rows, and "
        "stop after `patience` checks without a gain")
    patience: int = Field(4, ge=1, description="fidelity checks without a gain before stopping")
    min_steps: int = Field(
        2500, ge=0, description="no early stop before this many steps (a network's first "
        "checks rise and dip before it settles)")
    eval_every: int | None = Field(
        None, ge=1, description="epochs between fidelity checks; unset: about 250 steps, "
        "and at least 10 checks in `epochs`")
    max_minutes: float | None = Field(
        None, gt=0, description="stop training after this long (the fit is then no longer "
        "reproducible: where it stops depends on the machine)")
    cuda: bool | None = Field(None, description="unset: when a CUDA device is available")
    max_encoded_columns: int | None = Field(
        None, ge=1, description="one-hot width beyond which rare categories are folded")
    threads: int | None = Field(None, ge=1, description="torch threads; unset: the cores")


class CTGANParams(NeuralParams):
    generator_dim: list[int] = Field([256, 256], description="residual layer sizes")
    discriminator_dim: list[int] = Field([256, 256], description="critic layer sizes")
    generator_lr: float = Field(2e-4, gt=0)
    generator_decay: float = Field(1e-6, ge=0)
    discriminator_lr: float = Field(2e-4, gt=0)
    discriminator_decay: float = Field(1e-6, ge=0)
    discriminator_steps: int = Field(1, ge=1, description="critic updates per generator update")
    pac: int = Field(10, ge=1, description="rows the critic judges together")
    log_frequency: bool = Field(True, description="condition on labels by log frequency")
    ema_decay: float = Field(
        0.995, ge=0, lt=1, description="the kept generator is this moving average of its "
        "weights over steps (0: the last step's weights)")

    @model_validator(mode="after")
    def _batch_fits_pac(self) -> CTGANParams:
        if self.batch_size % self.pac:
            raise ValueError(f"batch_size ({self.batch_size}) must be a multiple of pac "
                             f"({self.pac}), the number of rows the critic judges together")
        return self


class TVAEParams(NeuralParams):
    compress_dims: list[int] = Field([128, 128], description="encoder layer sizes")
    decompress_dims: list[int] = Field([128, 128], description="decoder layer sizes")
    learning_rate: float = Field(1e-3, gt=0)
    l2scale: float = Field(1e-5, ge=0, description="weight decay")
    loss_factor: float = Field(2.0, gt=0, description="weight of reconstruction against KL")


class SDVNeuralParams(ModelParams):
    """Options common to SDV's CTGAN and TVAE; unset ones keep SDV's defaults."""

    epochs: int | None = Field(None, ge=1, description="unset: a CPU or GPU default")
    batch_size: int | None = Field(None, ge=2, multiple_of=2, description="rows per step")
    embedding_dim: int | None = Field(None, ge=1)
    cuda: bool | None = Field(None, description="unset: when a CUDA device is available")
    max_encoded_columns: int | None = Field(
        None, ge=1, description="one-hot width beyond which rare categories are folded")
    threads: int | None = Field(None, ge=1, description="torch threads (default 1)")


class SDVCTGANParams(SDVNeuralParams):
    generator_dim: list[int] | None = Field(None, description="layer sizes, e.g. [256, 256]")
    discriminator_dim: list[int] | None = None
    generator_lr: float | None = Field(None, ge=0)
    generator_decay: float | None = Field(None, ge=0)
    discriminator_lr: float | None = Field(None, ge=0)
    discriminator_decay: float | None = Field(None, ge=0)
    discriminator_steps: int | None = Field(None, ge=1)
    pac: int | None = Field(None, ge=1, description="rows the discriminator judges together")
    log_frequency: bool | None = None

    @model_validator(mode="after")
    def _batch_fits_pac(self) -> SDVCTGANParams:
        batch, pac = self.batch_size or 500, self.pac or 10
        if batch % pac:
            raise ValueError(f"batch_size ({batch}) must be a multiple of pac ({pac}), the "
                             "number of rows the discriminator judges together")
        return self


class SDVTVAEParams(SDVNeuralParams):
    compress_dims: list[int] | None = Field(None, description="layer sizes, e.g. [128, 128]")
    decompress_dims: list[int] | None = None
    l2scale: float | None = Field(None, ge=0)
    loss_factor: float | None = Field(None, ge=0)


class PARParams(ModelParams):
    epochs: int = Field(64, ge=1, description="GRU passes over every sequence; quality per "
                        "epoch count: benchmarks/hmm_quality.py")
    sample_size: int | None = Field(None, ge=1)
    segment_size: int | None = Field(None, ge=1)
    threads: int | None = Field(None, ge=1)


def validated(model: str, params_model: type[ModelParams], values: dict[str, Any]) -> Any:
    """The validated parameters, or a PipelineError naming each bad one and what is allowed."""
    if not isinstance(values, dict):
        raise PipelineError(f"{model} parameters must be a mapping of name: value")
    try:
        return params_model(**values)
    except ValidationError as exc:
        raise PipelineError(f"{model}: {_problems(exc, params_model)}") from None


def _problems(exc: ValidationError, params_model: type[ModelParams]) -> str:
    shared = list(ModelParams.model_fields)  # every model's: listed after its own
    allowed = ", ".join([f for f in params_model.model_fields if f not in shared] + shared)
    lines = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"][:1])
        if error["type"] == "extra_forbidden":
            lines.append(f"unknown parameter {where!r}; allowed are {allowed}")
        else:
            given = error.get("input")
            text = error["msg"].removeprefix("Value error, ")
            lines.append(f"parameter {where}={given!r} is invalid: {text}" if where else text)
    return "; ".join(lines)


def describe(params_model: type[ModelParams]) -> list[tuple[str, str, str]]:
    """(name, default, help) per parameter, for `synth models --params`."""
    rows = []
    for name, info in params_model.model_fields.items():
        default = "unset" if info.default is None else repr(info.default)
        rows.append((name, default, info.description or ""))
    return rows

