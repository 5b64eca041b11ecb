"""SDV's single-table synthesizers behind the project's interface.

SDV does not seed fitting and fixes the sampling seed of every synthesizer, so shards sampled
with different seeds would repeat each other: we seed numpy/torch before fitting (base class,
and again in the neural models once torch is imported) and set SDV's sampling state from the
run's generator before every chunk.
"""

from __future__ import annotations

import logging
import warnings
from importlib import import_module
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from pipeline.models.base import Synthesizer
from pipeline.models.conditions import sample_by_rejection, with_final_dependency_values
from pipeline.models.rare_categories import MAX_ENCODED_COLUMNS, plan_rare_categories
from pipeline.models.reproducibility import seed_everything
from pipeline.models.torch_settings import DEFAULT_THREADS, deterministic_torch, limited_threads
from pipeline.schema import DatasetSchema, Role

log = logging.getLogger(__name__)

# Epochs when `epochs` is not given and training runs on CPU: the most that fit Adult in a few
# minutes on this project's 2-core reference machine (benchmarks/sdv_models_quality.py has
# the quality per epoch count). On CUDA, SDV's own default.
CPU_DEFAULT_EPOCHS = {"sdv_ctgan": 30, "sdv_tvae": 150}
GPU_DEFAULT_EPOCHS = 300


def sdv_metadata(schema: DatasetSchema, columns: list[str]):
    """SDV Metadata for the modelled columns (ids, PII and text never reach SDV)."""
    from sdv.metadata import Metadata

    spec_by_name = {c.name: c for c in schema.columns}
    sdv_columns: dict[str, dict[str, Any]] = {}
    for name in columns:
        spec = spec_by_name[name]
        if spec.role == Role.numerical:
            sdv_columns[name] = {"sdtype": "numerical"}
        elif spec.role == Role.datetime:
            sdv_columns[name] = {"sdtype": "datetime", "datetime_format": "%Y-%m-%d %H:%M:%S"}
        elif spec.role == Role.boolean:
            sdv_columns[name] = {"sdtype": "boolean"}
        else:
            sdv_columns[name] = {"sdtype": "categorical"}
    return Metadata.load_from_dict(
        {"METADATA_SPEC_VERSION": "V1", "tables": {schema.name: {"columns": sdv_columns}}}
    )


def to_sdv_frame(df: pd.DataFrame, schema: DatasetSchema) -> pd.DataFrame:
    """Plain numpy dtypes: SDV's transformers do not handle pandas' nullable dtypes well."""
    out = pd.DataFrame(index=df.index)
    for name in df.columns:
        spec = schema.column(name)
        col = df[name]
        if spec.role == Role.numerical:
            out[name] = pd.to_numeric(col, errors="coerce").astype("float64")
        elif spec.role == Role.datetime:
            out[name] = pd.to_datetime(col).dt.strftime("%Y-%m-%d %H:%M:%S")
        else:
            out[name] = col.astype(object).where(col.notna(), np.nan)
    return out


class SDVSynthesizer(Synthesizer):
    """Shared wrapper; subclasses name the SDV class and map parameters."""

    sdv_class: ClassVar[str]
    uses_global_random_state = True

    def _sdv_params(self) -> dict[str, Any]:
        return {k: v for k, v in self.params.items() if k != "protect_rare"}

    def _fit(self, train: pd.DataFrame, schema: DatasetSchema, seed: int) -> None:
        import sdv.single_table as single_table

        frame = self._training_frame(to_sdv_frame(train, schema), schema)
        metadata = sdv_metadata(schema, list(train.columns))
        cls = getattr(single_table, self.sdv_class)
        self._model = cls(metadata, **self._sdv_params())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            self._fit_sdv({schema.name: frame})
        self._columns = list(train.columns)

    def _training_frame(self, frame: pd.DataFrame, schema: DatasetSchema) -> pd.DataFrame:
        return frame

    def _fit_sdv(self, data: dict[str, pd.DataFrame]) -> None:
        self._model.fit(data)

    def _sample(self, n: int, rng: np.random.Generator, conditions: dict[str, Any]) -> pd.DataFrame:
        def draw(size: int, draw_rng: np.random.Generator) -> pd.DataFrame:
            frame = self._sample_unconditioned(size, draw_rng)
            return with_final_dependency_values(frame, self.schema, set(conditions))

        return sample_by_rejection(draw, n, rng, conditions)

    def _sample_unconditioned(self, n: int, rng: np.random.Generator) -> pd.DataFrame:
        if n == 0:
            return pd.DataFrame({c: [] for c in self._columns})
        # reset RDT's transformer random states too, then seed them and the model's own sampler
        self._model.reset_sampling()
        self._seed_reverse_transforms(rng)
        self._model._set_random_state(int(rng.integers(0, 2**31 - 1)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            sampled = self._model.sample(num_rows=n)
        if isinstance(sampled, dict):  # SDV 2.0 returns {table_name: frame}
            (sampled,) = sampled.values()
        return sampled.reset_index(drop=True)


    def _seed_reverse_transforms(self, rng: np.random.Generator) -> None:
        """RDT draws missing values from per-transformer states that reset_sampling() rewinds
        to fixed seeds, so every chunk and every sample seed would get the same null rows."""
        for transformer in self._model.get_transformers().values():
            if transformer is not None:
                state = np.random.RandomState(int(rng.integers(0, 2**32 - 1)))
                transformer.set_random_state(state, "reverse_transform")


class GaussianCopulaModel(SDVSynthesizer):
    name = "gaussian_copula"
    sdv_class = "GaussianCopulaSynthesizer"


# --- CTGAN and TVAE --------------------------------------------------------------------------
class NeuralSDVSynthesizer(SDVSynthesizer):
    """CTGAN/TVAE: torch seeding, epoch progress, the one-hot width guard."""

    ctgan_module: ClassVar[str]  # the ctgan module whose training loop we watch
    dims_params: ClassVar[tuple[str, ...]]

    def _threads(self) -> int:
        return self.params.get("threads", DEFAULT_THREADS)

    def _use_cuda(self) -> bool:
        import torch

        available = torch.cuda.is_available()
        wanted = self.params.get("cuda")
        if wanted and not available:
            log.warning("%s: cuda=true but no CUDA device is available; fitting on CPU", self.name)
        return available if wanted is None else bool(wanted and available)

    def _sdv_params(self) -> dict[str, Any]:
        ours = ("cuda", "max_encoded_columns", "threads", "protect_rare")
        kwargs = {k: v for k, v in self.params.items() if k not in ours}
        for name in self.dims_params:
            if name in kwargs:
                kwargs[name] = tuple(kwargs[name])
        cuda = self._use_cuda()
        kwargs.setdefault("epochs", GPU_DEFAULT_EPOCHS if cuda else CPU_DEFAULT_EPOCHS[self.name])
        kwargs.update(enable_gpu=cuda, verbose=False)  # our own progress replaces ctgan's bar
        self._resolved_params = kwargs
        return kwargs

    def _more_private(self) -> dict[str, Any] | None:
        """Half the epochs: a network memorises its training rows the longer it trains."""
        epochs = (getattr(self, "_resolved_params", None) or {}).get("epochs")
        if not epochs or epochs < 2:
            return None
        return {"epochs": epochs // 2}

    def card(self) -> dict[str, Any]:
        card = super().card()
        card["resolved_parameters"] = getattr(self, "_resolved_params", None)
        rare = getattr(self, "_rare", None)
        card["folded_categories"] = {c: len(v) for c, (v, _) in rare.folded.items()} if rare else {}
        return card

    # --- fitting -------------------------------------------------------------------------
    def _fit(self, train: pd.DataFrame, schema: DatasetSchema, seed: int) -> None:
        import torch  # noqa: F401 - imported so that seed_everything seeds it

        seed_everything(seed)
        super()._fit(train, schema, seed)

    def _training_frame(self, frame: pd.DataFrame, schema: DatasetSchema) -> pd.DataFrame:
        limit = self.params.get("max_encoded_columns", MAX_ENCODED_COLUMNS)
        self._rare = plan_rare_categories(frame, schema, limit, self.name)
        return self._rare.encode(frame) if self._rare else frame

    def _fit_sdv(self, data: dict[str, pd.DataFrame]) -> None:
        from pipeline.models.progress import EpochProgress, watch_epochs

        epochs = self._resolved_params["epochs"]
        log.info("%s: fitting %d epochs with %s", self.name, epochs, self._resolved_params)
        module = import_module(self.ctgan_module)
        with EpochProgress(self.name, epochs, logger=log) as progress:

            def report(epoch: int) -> None:
                # SDV creates its ctgan model before training, so it exists while we are called
                progress.epoch_done(self._epoch_losses(self._model._model.loss_values, epoch))

            with (
                watch_epochs(module, report, on_start=progress.start),
                deterministic_torch(self._resolved_params["enable_gpu"]),
                limited_threads(self._threads()),
            ):
                self._model.fit(data)
        self.loss_history = progress.history
        if len(self.loss_history) != epochs:  # the hook did not fire: a changed ctgan loop
            self.loss_history = self._losses_after_fit()

    def _losses_after_fit(self) -> list[dict[str, float]]:
        values = self._model.get_loss_values()
        return [
            {"epoch": i + 1, **self._epoch_losses(values, epoch)}
            for i, epoch in enumerate(pd.unique(values["Epoch"]))
        ]

    @staticmethod
    def _epoch_losses(loss_values: pd.DataFrame, epoch: int) -> dict[str, float]:
        raise NotImplementedError

    # --- sampling ------------------------------------------------------------------------
    def _sample_unconditioned(self, n: int, rng: np.random.Generator) -> pd.DataFrame:
        with limited_threads(self._threads()):
            sampled = super()._sample_unconditioned(n, rng)
        rare = getattr(self, "_rare", None)
        return rare.decode(sampled, rng) if rare and n else sampled


class SDVCTGANModel(NeuralSDVSynthesizer):
    """SDV's CTGANSynthesizer; parameters: `pipeline.models.params.SDVCTGANParams`."""

    name = "sdv_ctgan"
    sdv_class = "CTGANSynthesizer"
    ctgan_module = "ctgan.synthesizers.ctgan"
    dims_params = ("generator_dim", "discriminator_dim")

    @staticmethod
    def _epoch_losses(loss_values: pd.DataFrame, epoch: int) -> dict[str, float]:
        # ctgan records the losses of the epoch's last step, one row per epoch
        row = loss_values[loss_values["Epoch"] == epoch].iloc[-1]
        return {
            "generator_loss": float(row["Generator Loss"]),
            "discriminator_loss": float(row["Discriminator Loss"]),
        }


class SDVTVAEModel(NeuralSDVSynthesizer):
    """SDV's TVAESynthesizer; parameters: `pipeline.models.params.SDVTVAEParams`."""

    name = "sdv_tvae"
    sdv_class = "TVAESynthesizer"
    ctgan_module = "ctgan.synthesizers.tvae"
    dims_params = ("compress_dims", "decompress_dims")

    @staticmethod
    def _epoch_losses(loss_values: pd.DataFrame, epoch: int) -> dict[str, float]:
        # tvae records one row per batch; the epoch's loss is their mean
        return {"loss": float(loss_values.loc[loss_values["Epoch"] == epoch, "Loss"].mean())}
