"""A synthesis job: what to read, which models to fit, how many rows, where to write.

One pydantic model validates CLI flags, YAML job files and Prefect flow parameters alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from pipeline.errors import PipelineError
from pipeline.names import validated_name


class JobConfig(BaseModel):
    model_config = {"extra": "forbid"}

    name: str = Field(description="dataset name: schemas/<name>.yaml and output folders")
    source: str = Field(description="CSV or Parquet: local path or fsspec URL")
    models: list[str] = Field(default_factory=lambda: ["gmm"])
    rows: int | None = Field(
        default=None,
        ge=1,
        description="rows (or sequences) to sample; default: as many as the training split",
    )
    seed: int = Field(default=0, ge=0)
    holdout_fraction: float = Field(default=0.2, gt=0, lt=1)
    target: str | None = Field(default=None, description="column for the ML-utility metric")
    quasi_identifiers: list[str] | None = Field(
        default=None,
        description="columns an attacker may know of a person (singling-out test); "
        "default: the low-cardinality columns")
    sequence_key: str | None = None
    sequence_index: str | None = None
    model_params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    thresholds: dict[str, dict[str, float | None]] = Field(
        default_factory=dict, description="metric -> {min_value, max_value} overrides"
    )
    output_dir: str = "data"
    schema_dir: str = "schemas"
    gx_dir: str = Field(default="gx", description="Great Expectations file context (suites)")
    shard_rows: int = Field(default=1_000_000, ge=1000,
                            description="rows per Parquet part; larger samples are sharded")
    validation_rows: int = Field(default=100_000, ge=100,
                                 description="synthetic rows validated (a random sample)")
    schedule: str | None = Field(default=None, description="cron schedule when served as a "
                                 "deployment, e.g. '0 2 * * *' for a nightly batch")
    dask_address: str | None = Field(default=None, description="scheduler of an existing Dask "
                                     "cluster (tcp://host:8786) to run fits and shards on")
    processes: int = Field(default=1, ge=1, description="local processes that sample and "
                           "write shards when no Dask cluster is named (1: threads of the "
                           "run's process); pays on many cores, see benchmarks/results/dask.md")
    conditions: dict[str, Any] | None = Field(
        default=None, description="sample on demand: fixed values of categorical or yes/no "
        "columns, e.g. {sex: Female}; validated against the matching real rows")
    rebalance: dict[str, dict[str, float] | None] | None = Field(
        default=None, description="sample on demand: one column's target shares, e.g. "
        "{income: {'>50K': 0.5, '<=50K': 0.5}}, or the column alone for equal shares")
    keep_runs: int = Field(default=7, ge=1, description="published runs kept per dataset and "
                           "model; older ones are removed after a successful publish")
    quarantine_days: float = Field(default=14, ge=0, description="days a quarantined run is "
                                   "kept (to read why it failed)")
    drift_tolerance: float | None = Field(
        default=0.05, ge=0, description="a fidelity metric this much worse than the median "
        "of the previous runs turns a pass into a warning; null: report drift only")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return validated_name(value)

    @field_validator("models", mode="before")
    @classmethod
    def _models(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [m.strip() for m in value.split(",") if m.strip()]
        from pipeline.models import registry

        try:
            registry.check_names(list(value))
        except PipelineError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("model_params")
    @classmethod
    def _model_params(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        from pipeline.models import registry

        try:
            registry.check_params(value)
        except PipelineError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("thresholds")
    @classmethod
    def _thresholds(cls, value: dict[str, dict[str, float | None]]) -> dict:
        from pipeline.validation.thresholds import resolve_thresholds

        try:
            resolve_thresholds(value)  # unknown metrics and bounds, before anything runs
        except PipelineError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("rebalance", mode="before")
    @classmethod
    def _rebalance(cls, value: Any) -> Any:
        if isinstance(value, str):  # `rebalance: income` or `--rebalance income`: equal shares
            value = {value: None}
        if isinstance(value, dict) and len(value) > 1:
            raise ValueError("rebalance one column at a time")
        return value

    @model_validator(mode="after")
    def _series_fields(self) -> JobConfig:
        if self.sequence_key is not None and self.sequence_index is None:
            raise ValueError(
                f"sequence_key {self.sequence_key!r} was given without a sequence_index: a "
                "time series needs the column that orders each entity's rows "
                "(--sequence-index COLUMN); a plain table needs neither")
        return self

    def request(self):
        """The job's sample on demand (empty when it asks for none)."""
        from pipeline.on_demand import SampleRequest

        return SampleRequest.from_job(self.conditions, self.rebalance)

    def schema_path(self) -> Path:
        return Path(self.schema_dir) / f"{self.name}.yaml"

    @classmethod
    def parse(cls, values: dict[str, Any], where: str = "job") -> JobConfig:
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'job'}: {_message(e)}"
                for e in exc.errors()
            )
            raise PipelineError(f"invalid {where}: {problems}") from None

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> JobConfig:
        path = Path(path)
        try:
            values = yaml.safe_load(path.read_text()) or {}
        except FileNotFoundError:
            raise PipelineError(f"job file {path} does not exist") from None
        except yaml.YAMLError as exc:
            raise PipelineError(f"job file {path} is not valid YAML: {exc}") from None
        if not isinstance(values, dict):
            raise PipelineError(
                f"job file {path} must be a mapping of settings (name, source, ...)"
            )
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.parse(values, where=f"job file {path}")


def _message(error: dict[str, Any]) -> str:
    if error["type"] == "extra_forbidden":
        allowed = ", ".join(JobConfig.model_fields)
        return f"unknown setting; allowed settings are {allowed}"
    msg = error["msg"]
    return msg.removeprefix("Value error, ")
