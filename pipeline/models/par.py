"""SDV's PARSynthesizer (probabilistic autoregressive RNN) as the time-series yardstick.

PAR models each sequence's steps with a GRU and its static (context) columns with a
GaussianCopula. We give it the key as an `id` (it generates new ones; complete_to_schema
renames them), the index, the static columns as context, and the varying modelled columns.
SDV does not seed fitting: the base class seeds torch and numpy before `_fit`; before
sampling we seed torch from the run's generator and reset the context model's sampling state,
so the same seed gives the same sequences.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from pipeline.errors import PipelineError
from pipeline.models.base import Synthesizer
from pipeline.schema import DatasetSchema, Role

log = logging.getLogger(__name__)

DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def par_metadata(schema: DatasetSchema, columns: list[str]):
    """SDV metadata with the sequence key (as an id) and the sequence index."""
    from sdv.metadata import Metadata

    sdv_columns: dict[str, dict[str, Any]] = {}
    for name in columns:
        spec = schema.column(name)
        if name == schema.sequence_key:
            sdv_columns[name] = {"sdtype": "id"}
        elif spec.role == Role.numerical:
            sdv_columns[name] = {"sdtype": "numerical"}
        elif spec.role == Role.datetime:
            sdv_columns[name] = {"sdtype": "datetime", "datetime_format": DATETIME_FORMAT}
        elif spec.role == Role.boolean:
            sdv_columns[name] = {"sdtype": "boolean"}
        else:
            sdv_columns[name] = {"sdtype": "categorical"}
    table: dict[str, Any] = {"columns": sdv_columns, "sequence_index": schema.sequence_index}
    if schema.sequence_key:
        table["sequence_key"] = schema.sequence_key
    return Metadata.load_from_dict({"METADATA_SPEC_VERSION": "V1", "tables": {schema.name: table}})


class PARModel(Synthesizer):
    """SDV's PARSynthesizer; parameters: `pipeline.models.params.PARParams`."""

    name: ClassVar[str] = "par"
    uses_global_random_state = True

    def _more_private(self) -> dict[str, Any] | None:
        """Half the epochs: the network memorises its training sequences the longer it trains."""
        if self.settings.epochs < 2:
            return None
        return {"epochs": self.settings.epochs // 2}

    def _fit_columns(self, schema: DatasetSchema) -> list[str]:
        lead = [c for c in (schema.sequence_key, schema.sequence_index) if c]
        return lead + [c for c in schema.modelled_columns() if c not in lead]

    def _fit(self, train: pd.DataFrame, schema: DatasetSchema, seed: int) -> None:
        import deepecho.models.par as deepecho_par
        import torch  # noqa: F401 - imported so that seed_everything seeds it
        from sdv.sequential import PARSynthesizer

        from pipeline.models.progress import EpochProgress, watch_epochs
        from pipeline.models.reproducibility import seed_everything
        from pipeline.models.torch_settings import limited_threads
        from pipeline.timeseries import check_time_series

        if schema.sequence_key is None:
            raise PipelineError(
                "the par model learns from many sequences and needs a sequence_key; for one "
                "long series use --model hmm, or set sequence_key to the entity column")
        seed_everything(seed)
        ordered = check_time_series(train, schema)
        index = ordered[schema.sequence_index]
        self._tz = index.dt.tz if pd.api.types.is_datetime64_any_dtype(index) else None
        context = [c.name for c in schema.columns
                   if c.static and c.role != Role.id and c.name in train.columns]
        epochs = self.settings.epochs
        options = {k: self.params[k] for k in ("sample_size", "segment_size") if k in self.params}
        self._model = PARSynthesizer(
            par_metadata(schema, list(train.columns)), context_columns=context, epochs=epochs,
            cuda=False, verbose=False, **options,
        )
        frame = self._to_sdv(ordered, schema)
        with limited_threads(self.params.get("threads", 1)), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with EpochProgress("par", epochs, logger=log) as progress:

                def report(epoch: int) -> None:
                    losses = self._model._model.loss_values
                    progress.epoch_done({"loss": float(losses["Loss"].iloc[-1])})

                with watch_epochs(deepecho_par, report):
                    self._model.fit({schema.name: frame})
        self.loss_history = progress.history
        self._columns = list(train.columns)

    @staticmethod
    def _to_sdv(frame: pd.DataFrame, schema: DatasetSchema) -> pd.DataFrame:
        from pipeline.models.sdv_tabular import to_sdv_frame

        frame = frame.reset_index(drop=True)
        index = frame[schema.sequence_index]
        if pd.api.types.is_datetime64_any_dtype(index) and index.dt.tz is not None:
            frame = frame.assign(**{schema.sequence_index: index.dt.tz_convert("UTC")})
        out = to_sdv_frame(frame, schema)
        if schema.sequence_key:  # an id for SDV: text, whatever the real type
            out[schema.sequence_key] = frame[schema.sequence_key].astype(str).to_numpy()
        return out

    def _sample(self, n: int, rng: np.random.Generator, conditions: dict[str, Any]) -> pd.DataFrame:
        import torch

        from pipeline.models.torch_settings import limited_threads

        schema = self._fitted_schema()
        if conditions:
            raise PipelineError("the par model does not support conditions; filter its output")
        if n == 0:
            return pd.DataFrame({c: [] for c in self._columns})
        torch.manual_seed(int(rng.integers(0, 2**31 - 1)))
        context_model = getattr(self._model, "_context_synthesizer", None)
        if context_model is not None:
            context_model.reset_sampling()
            context_model._set_random_state(int(rng.integers(0, 2**31 - 1)))
        with limited_threads(self.params.get("threads", 1)), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sampled = self._model.sample_sequences(num_sequences=n)
        if isinstance(sampled, dict):  # SDV 2.0 returns {table_name: frame}
            (sampled,) = sampled.values()
        sampled = sampled.reset_index(drop=True)
        index = pd.to_datetime(sampled[schema.sequence_index]) if self._tz is not None or (
            schema.column(schema.sequence_index).role == Role.datetime
        ) else sampled[schema.sequence_index]
        if self._tz is not None:
            index = index.dt.tz_localize("UTC").dt.tz_convert(self._tz)
        sampled[schema.sequence_index] = index
        sampled = _one_row_per_step(sampled, schema)
        if schema.sequence_key and schema.column(schema.sequence_key).role == Role.categorical:
            sampled[schema.sequence_key] = self._public_keys(sampled[schema.sequence_key], rng)
        return sampled

    def _public_keys(self, keys: pd.Series, rng: np.random.Generator) -> pd.Series:
        """A schema that declares the key public gets its categories back, one per sequence."""
        labels = list(self.schema.column(self.schema.sequence_key).categories or [])
        codes = pd.factorize(keys)[0]
        if codes.max() + 1 > len(labels):
            raise PipelineError(
                f"the schema declares {len(labels)} public values for sequence_key "
                f"{self.schema.sequence_key!r}, so at most that many sequences can be sampled; "
                "make the key role 'id' to sample more"
            )
        order = rng.permutation(len(labels))
        return pd.Series(np.asarray(labels, dtype=object)[order[codes]])


def _one_row_per_step(sampled: pd.DataFrame, schema: DatasetSchema) -> pd.DataFrame:
    """PAR draws the index like any other column and can repeat a step within a sequence
    (7.5 % of rows on an unbalanced yearly panel); a sequence has each step once, so the
    repeats are dropped."""
    pairs = [schema.sequence_key, schema.sequence_index]
    repeated = sampled.duplicated(pairs)
    if repeated.any():
        log.warning("par: dropped %d sampled rows that repeat a step of their sequence",
                    int(repeated.sum()))
    return sampled[~repeated].reset_index(drop=True)
