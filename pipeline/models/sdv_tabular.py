"""SDV's single-table synthesizers behind the project's interface.

SDV does not seed fitting and fixes the sampling seed of every synthesizer, so shards sampled
with different seeds would repeat each other: we seed numpy/torch before fitting (base class,
and again in the neural models once torch is imported) and set SDV's sampling state from the
run's generator before every chunk.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from importlib import import_module
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from pipeline.errors import PipelineError
from pipeline.models.base import Synthesizer, seed_everything
from pipeline.models.conditions import sample_by_rejection
from pipeline.schema import DatasetSchema, Role

log = logging.getLogger(__name__)

# CTGAN and TVAE one-hot encode every category and give each numerical or datetime column one
# scalar plus up to 10 mode indicators. Above 1000 encoded columns SDV prints a
# PerformanceAlert (and only that); memory and time grow with the width, so we keep under it.
MAX_ENCODED_COLUMNS = 1000
NUMERIC_ENCODED_WIDTH = 11
# Fewer kept categories than this would lose too much of a column to be worth modelling.
MIN_KEPT_CATEGORIES = 10
RARE_TOKEN = "__rare_category__"
# Used when `epochs` is not given and training runs on CPU: each fits Adult (26k rows) in
# 2-4 minutes on 2 shared cores (CTGAN 4-7 s/epoch, TVAE 0.8-1.3 s/epoch). More CTGAN epochs
# bought little there (Column Pair Trends 0.83 at 30, 0.85 at 50); TVAE gained up to ~150
# (0.83 at 40, 0.87 at 150). See benchmarks/sdv_models_quality.py. On CUDA, SDV's 300.
CPU_DEFAULT_EPOCHS = {"ctgan": 30, "tvae": 150}
GPU_DEFAULT_EPOCHS = 300
# CPU threads a fit or sample may use. One: torch's spinning OpenMP threads slow a step ~5x
# when cores are shared (measured on 2 busy cores; parallel fits share them too), and a fixed
# count keeps the output independent of the machine's core count.
DEFAULT_THREADS = 1


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

    def _sdv_params(self) -> dict[str, Any]:
        return dict(self.params)

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
        return sample_by_rejection(self._sample_unconditioned, n, rng, conditions)

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


# --- high-cardinality guard for one-hot models -----------------------------------------------
@dataclass
class RareCategories:
    """Categories folded into one placeholder for fitting and drawn back by frequency on output.

    The output therefore only holds real categories, with their training frequencies; what is
    lost is how the folded (rare) categories relate to the other columns.
    """

    token: str
    folded: dict[str, tuple[list[Any], list[float]]]  # column -> (categories, probabilities)

    def encode(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        for column, (values, _) in self.folded.items():
            out.loc[out[column].isin(values), column] = self.token
        return out

    def decode(self, frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        for column, (values, probabilities) in self.folded.items():
            hit = (frame[column] == self.token).to_numpy(dtype=bool)
            drawn = rng.choice(len(values), size=int(hit.sum()), p=probabilities)
            column_values = frame[column].to_numpy(dtype=object)
            column_values[hit] = np.asarray(values, dtype=object)[drawn]
            frame[column] = column_values
        return frame


def encoded_widths(frame: pd.DataFrame, schema: DatasetSchema) -> dict[str, int]:
    """Columns each input column becomes in CTGAN/TVAE (counted as SDV's own estimate does)."""
    widths = {}
    for column in frame.columns:
        if schema.column(column).role in (Role.numerical, Role.datetime):
            widths[column] = NUMERIC_ENCODED_WIDTH
        else:
            widths[column] = int(frame[column].nunique(dropna=False))
    return widths


def plan_rare_categories(
    frame: pd.DataFrame, schema: DatasetSchema, limit: int, model: str
) -> RareCategories | None:
    """Fold the rarest categories of the widest columns until the encoding fits in `limit`."""
    widths = encoded_widths(frame, schema)
    total = sum(widths.values())
    if total <= limit:
        return None
    foldable = [c for c in frame.columns if schema.column(c).role == Role.categorical]
    distinct = {c: int(frame[c].nunique(dropna=True)) for c in foldable}
    has_null = {c: int(frame[c].isna().any()) for c in foldable}
    fixed = total - sum(widths[c] for c in foldable)

    def width_keeping(k: int) -> int:  # k kept categories + the placeholder, per column
        return fixed + sum(min(distinct[c], k + 1) + has_null[c] for c in foldable)

    if not foldable or width_keeping(MIN_KEPT_CATEGORIES) > limit:
        widest = sorted(widths.items(), key=lambda kv: -kv[1])[:5]
        raise PipelineError(
            f"model {model!r} would one-hot encode this table into {total} columns (limit "
            f"{limit}), and still more than {limit} when keeping only {MIN_KEPT_CATEGORIES} "
            f"categories per column; widest columns: {dict(widest)}. Mark wide columns "
            f"'role: text' in schemas/{schema.name}.yaml (they are then faked, not modelled), "
            "drop columns, or raise the max_encoded_columns parameter."
        )
    low, high = MIN_KEPT_CATEGORIES, max(distinct.values())
    while low < high:  # the largest k that fits; width_keeping grows with k
        mid = (low + high + 1) // 2
        low, high = (mid, high) if width_keeping(mid) <= limit else (low, mid - 1)
    token = RARE_TOKEN
    while any(token in set(map(str, frame[c].dropna().unique())) for c in foldable):
        token += "_"
    folded = {c: _rarest(frame[c], low) for c in foldable if distinct[c] > low + 1}
    _log_folding(model, total, limit, low, frame, folded)
    return RareCategories(token=token, folded=folded)


def _rarest(column: pd.Series, keep: int) -> tuple[list[Any], list[float]]:
    counts = sorted(column.value_counts(dropna=True).items(), key=lambda kv: (-kv[1], str(kv[0])))
    rare = counts[keep:]
    n = sum(count for _, count in rare)
    return [value for value, _ in rare], [count / n for _, count in rare]


def _log_folding(
    model: str, total: int, limit: int, keep: int, frame: pd.DataFrame,
    folded: dict[str, tuple[list[Any], list[float]]],
) -> None:
    details = ", ".join(
        f"{c!r} ({len(v) + keep} categories: {len(v)} folded, "
        f"{frame[c].isin(v).mean():.1%} of rows)"
        for c, (v, _) in folded.items()
    )
    log.warning(
        "%s: one-hot encoding would need %d columns, above max_encoded_columns=%d. For fitting, "
        "these columns keep their %d most frequent categories and fold the rest into one: %s. "
        "Synthetic rows draw the folded categories by their training frequency, so their "
        "relation to other columns is not learned. To avoid this, mark such columns "
        "'role: text' in the schema or drop them.",
        model, total, limit, keep, details,
    )


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
        ours = ("cuda", "max_encoded_columns", "threads")
        kwargs = {k: v for k, v in self.params.items() if k not in ours}
        for name in self.dims_params:
            if name in kwargs:
                kwargs[name] = tuple(kwargs[name])
        cuda = self._use_cuda()
        kwargs.setdefault("epochs", GPU_DEFAULT_EPOCHS if cuda else CPU_DEFAULT_EPOCHS[self.name])
        kwargs.update(enable_gpu=cuda, verbose=False)  # our own progress replaces ctgan's bar
        self._resolved_params = kwargs
        return kwargs

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


@contextmanager
def deterministic_torch(cuda: bool) -> Iterator[None]:
    """Deterministic kernels while fitting on CUDA; restored afterwards.

    On CPU, a seeded fit is already bit-identical on the same machine (measured on Adult and
    the student demo, with 1 and 2 threads), so nothing changes there. On CUDA some
    kernels (cuBLAS split reductions, atomics) are not deterministic unless asked; cuBLAS
    reads CUBLAS_WORKSPACE_CONFIG when its first handle is created in the process.
    """
    if not cuda:
        yield
        return
    import torch

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    was_on, was_warn = torch.are_deterministic_algorithms_enabled(), (
        torch.is_deterministic_algorithms_warn_only_enabled()
    )
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was_on, warn_only=was_warn)


@contextmanager
def limited_threads(threads: int) -> Iterator[None]:
    """Cap torch's, BLAS's and OpenMP's threads, and run ctgan's joblib transforms in-process.

    ctgan transforms large tables with `Parallel(n_jobs=-1)`, which spawns worker processes;
    with one thread that is slower (measured 24 s vs 8 s on Adult, busy 2 cores).
    """
    import joblib
    import torch
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with ExitStack() as stack:
            stack.enter_context(threadpool_limits(limits=threads))
            if threads == 1:
                stack.enter_context(joblib.parallel_config(backend="sequential"))
            yield
    finally:
        torch.set_num_threads(previous)


class CTGANModel(NeuralSDVSynthesizer):
    """SDV's CTGANSynthesizer; parameters: `pipeline.models.params.CTGANParams`."""

    name = "ctgan"
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


class TVAEModel(NeuralSDVSynthesizer):
    """SDV's TVAESynthesizer; parameters: `pipeline.models.params.TVAEParams`."""

    name = "tvae"
    sdv_class = "TVAESynthesizer"
    ctgan_module = "ctgan.synthesizers.tvae"
    dims_params = ("compress_dims", "decompress_dims")

    @staticmethod
    def _epoch_losses(loss_values: pd.DataFrame, epoch: int) -> dict[str, float]:
        # tvae records one row per batch; the epoch's loss is their mean
        return {"loss": float(loss_values.loc[loss_values["Epoch"] == epoch, "Loss"].mean())}
