"""What CTGAN and TVAE share: encoding, the held-back probe, the epoch loop with early
stopping and a time budget, threads and device, progress, and the fitted state as arrays.

A subclass builds its networks (`_build`), trains one epoch (`_epoch`), generates encoded rows
(`_generate`) and names the weights it keeps (`_kept_modules`). The fitted model is plain
data (`FittedNetwork`: the encoding and every kept weight as a numpy array), so it is saved
without pickle and reloads on a machine without a GPU.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from pipeline.errors import PipelineError
from pipeline.models.base import Synthesizer
from pipeline.models.conditions import sample_by_rejection, with_final_dependency_values
from pipeline.models.gmm.encoding import placeholder_columns
from pipeline.models.neural.encoding import TableEncoding, build_encoding
from pipeline.models.neural.monitor import EarlyStopping, FidelityProbe
from pipeline.models.rare_categories import (
    MAX_ENCODED_COLUMNS,
    RareCategories,
    plan_rare_categories,
)
from pipeline.models.reproducibility import GLOBAL_RANDOM_STATE
from pipeline.schema import DatasetSchema, Role
from pipeline.sharding import available_cores

log = logging.getLogger(__name__)

# The probe: real rows held back from training (at most), the table size from which rows
# are held back (smaller tables compare with training rows), and rows sampled per check.
PROBE_ROWS = 2_000
PROBE_MIN_TABLE = 1_000
PROBE_SAMPLE = 4_000
# Optimiser steps between two checks of the probe when `eval_every` is unset (a check costs
# about as much as a few steps), and at least this many checks in a run of `epochs`.
PROBE_STEPS = 250
MIN_CHECKS = 10
# When `epochs` is unset: the papers' 300 epochs, or on a small table as many as make the
# steps 300 epochs of a 25,000-row table take (at most MAX_EPOCHS).
PAPER_EPOCHS, PAPER_STEPS, MAX_EPOCHS = 300, 15_000, 3_000


@dataclass(frozen=True)
class FittedNetwork:
    encoding: TableEncoding
    weights: dict[str, np.ndarray]  # "module.parameter" -> array, the kept modules only
    shapes: dict[str, Any]  # what `_build` needs to rebuild the modules
    conditions: Any  # the CTGAN's ConditionSampler; None for TVAE
    rare: RareCategories | None
    chosen_epoch: int
    epochs_run: int
    stopped_by: str
    fidelity_curve: list[dict[str, float]]


class NeuralSynthesizer(Synthesizer):
    plain_artifact: ClassVar[bool] = True
    fitted_: FittedNetwork | None = None

    # --- what a subclass provides --------------------------------------------------------
    def _build(self, shapes: dict[str, Any], encoding: TableEncoding,
               device: Any) -> dict[str, Any]:
        raise NotImplementedError

    def _shapes(self, encoding: TableEncoding, conditions: Any) -> dict[str, Any]:
        raise NotImplementedError

    def _epoch(self, modules: dict[str, Any], state: dict[str, Any]) -> dict[str, float]:
        raise NotImplementedError

    def _generate(self, modules: dict[str, Any], n: int, rng: np.random.Generator,
                  torch_rng: Any, label: int | None) -> tuple[np.ndarray, np.ndarray]:
        """(alpha, choices) of n generated rows, optionally all conditioned on one label."""
        raise NotImplementedError

    _kept_modules: ClassVar[tuple[str, ...]]

    def _after_training(self, modules: dict[str, Any], shapes: dict[str, Any],
                        probe: FidelityProbe | None, encoding: TableEncoding,
                        rng: np.random.Generator, torch_rng: Any) -> None:
        """Settings chosen once the best weights are back (recorded in `shapes`)."""

    # --- settings ------------------------------------------------------------------------
    def _threads(self) -> int:
        return self.settings.threads or available_cores()

    def _device(self):
        import torch

        wanted = self.settings.cuda
        available = torch.cuda.is_available()
        if wanted and not available:
            log.warning("%s: cuda=true but no CUDA device is available; fitting on CPU",
                        self.name)
        return torch.device("cuda" if (available if wanted is None else wanted and available)
                            else "cpu")

    def _more_private(self) -> dict[str, Any] | None:
        """Half the epochs it trained: a network memorises its training rows the longer it
        trains."""
        epochs = self.fitted_.epochs_run if self.fitted_ else (self.settings.epochs or 0)
        return {"epochs": max(1, epochs // 2), "early_stopping": False} if epochs >= 2 else None

    # --- fitting -------------------------------------------------------------------------
    def _fit(self, train: pd.DataFrame, schema: DatasetSchema, seed: int) -> None:
        import torch

        from pipeline.models.torch_settings import deterministic_torch, limited_threads

        rng = np.random.default_rng(seed)
        frame, encoding, rare = self._encoding(train, schema, rng)
        matrix, choices = encoding.encode(frame, rng)
        fit_rows, probe = self._probe(encoding, matrix, choices, rng)
        device = self._device()
        with limited_threads(self._threads()), deterministic_torch(device.type == "cuda"):
            torch_rng = torch.Generator(device=device).manual_seed(seed)
            state = self._training_state(encoding, matrix[fit_rows], choices[fit_rows],
                                         rng, torch_rng, device)
            shapes = self._shapes(encoding, state.get("conditions"))
            with GLOBAL_RANDOM_STATE:  # torch draws initial weights from its global generator
                torch.manual_seed(seed)
                modules = self._build(shapes, encoding, device)
            modules["conditions"] = state.get("conditions")
            stopper = self._train(modules, state, probe, encoding, rng, torch_rng)
            if stopper.best_state is not None:
                self._load_weights(modules, stopper.best_state, device)
            self._after_training(modules, shapes, probe, encoding, rng, torch_rng)
            weights = self._weights(modules)
        self.fitted_ = FittedNetwork(
            encoding, weights, shapes, state.get("conditions"), rare,
            stopper.best_epoch or len(self.loss_history), len(self.loss_history),
            stopper.stopped_by, stopper.curve)
        log.info("%s: kept epoch %d of %d (%s)", self.name, self.fitted_.chosen_epoch,
                 self.fitted_.epochs_run, stopper.stopped_by)

    def _encoding(self, train: pd.DataFrame, schema: DatasetSchema, rng: np.random.Generator):
        """The frame to encode, its encoding and the high-cardinality guard: when the encoded
        row would be wider than `max_encoded_columns`, the rarest labels of the widest columns
        fold into one (counted with the modes each numeric column really keeps)."""
        frame = train.copy()
        for name in frame.columns:
            if schema.column(name).role == Role.categorical:
                frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
        placeholders = placeholder_columns(schema, list(frame.columns))
        encoding = build_encoding(frame, schema, placeholders, rng, self.settings.max_modes)
        limit = self.settings.max_encoded_columns or MAX_ENCODED_COLUMNS
        rare = plan_rare_categories(frame.drop(columns=placeholders), schema, limit, self.name,
                                    numeric_widths=encoding.numeric_widths())
        if rare:
            frame = rare.encode(frame)
            encoding = build_encoding(frame, schema, placeholders, rng, self.settings.max_modes,
                                      modes=encoding.modes)
        return frame, encoding, rare

    def _probe(self, encoding: TableEncoding, matrix: np.ndarray, choices: np.ndarray,
               rng: np.random.Generator) -> tuple[np.ndarray, FidelityProbe | None]:
        """Training rows and the probe; a small table's probe compares with training rows."""
        n = len(matrix)
        order = rng.permutation(n)
        if not self.settings.early_stopping and self.settings.eval_every is None:
            return np.arange(n), None
        held = min(n // 10, PROBE_ROWS) if n >= PROBE_MIN_TABLE else 0
        reference = order[:held] if held else order[:PROBE_ROWS]
        columns = encoding.decode_arrays(matrix[reference, : encoding.n_numeric],
                                         choices[reference])
        probe = FidelityProbe.fit(columns, encoding.n_numeric, rng, held_back=held > 0)
        return np.sort(order[held:]), probe

    def _training_state(self, encoding, matrix, choices, rng, torch_rng, device) -> dict:
        import torch

        batch = min(self.settings.batch_size, self._round_batch(len(matrix)))
        if batch < 2:
            raise PipelineError(f"{self.name}: {len(matrix)} training rows are too few to fit")
        return {"data": torch.as_tensor(matrix, device=device), "choices": choices,
                "batch": batch, "steps": max(1, len(matrix) // batch), "rng": rng,
                "torch_rng": torch_rng, "device": device, "encoding": encoding}

    def _round_batch(self, n: int) -> int:
        return n - n % 2

    def _train(self, modules, state, probe, encoding, rng, torch_rng) -> EarlyStopping:
        from pipeline.models.progress import EpochProgress

        settings, steps = self.settings, state["steps"]
        epochs = self._epoch_budget(steps, held_back=probe is not None and probe.held_back)
        every = settings.eval_every or int(np.clip(round(PROBE_STEPS / steps), 1,
                                                   max(1, epochs // MIN_CHECKS)))
        stopper = EarlyStopping(settings.patience if settings.early_stopping else None,
                                settings.max_minutes, min_epochs=-(-settings.min_steps // steps))
        probe_rng = np.random.default_rng(rng.integers(2**63))
        log.info("%s: up to %d epochs of %d steps (batch %d) on %s, %d thread(s)", self.name,
                 epochs, steps, state["batch"], state["device"], self._threads())
        with EpochProgress(self.name, epochs, logger=log) as progress:
            for epoch in range(1, epochs + 1):
                losses = self._epoch(modules, state)
                if probe is not None and (epoch % every == 0 or epoch == epochs):
                    score = self._probe_score(modules, probe, encoding, probe_rng, torch_rng)
                    stopper.record(epoch, score, self._weights(modules))
                    losses["fidelity"] = score
                progress.epoch_done(losses)
                if stopper.should_stop(epoch):
                    break
        self.loss_history = progress.history
        return stopper

    def _epoch_budget(self, steps_per_epoch: int, held_back: bool = True) -> int:
        """The most epochs to train: as given, else PAPER_EPOCHS or, on a small table whose
        probe has held-back rows, as many as make PAPER_STEPS steps (at most MAX_EPOCHS).
        A table too small to hold rows back is probed against its training rows, which
        reward memorising: it never trains past PAPER_EPOCHS."""
        if self.settings.epochs:
            return self.settings.epochs
        if not held_back:
            return PAPER_EPOCHS
        return int(np.clip(-(-PAPER_STEPS // steps_per_epoch), PAPER_EPOCHS, MAX_EPOCHS))

    def _probe_score(self, modules, probe, encoding, rng, torch_rng) -> float:
        alpha, choices = self._generate(modules, PROBE_SAMPLE, rng, torch_rng, None)
        return probe.score(encoding.decode_arrays(alpha, choices), encoding.n_numeric)

    # --- weights as arrays -----------------------------------------------------------------
    def _kept(self, modules: dict[str, Any]) -> dict[str, Any]:
        """The modules whose weights the fitted model keeps, by the name they load into."""
        return {name: modules[name] for name in self._kept_modules}

    def _weights(self, modules: dict[str, Any]) -> dict[str, np.ndarray]:
        return {f"{name}.{key}": value.detach().cpu().numpy().copy()
                for name, module in self._kept(modules).items()
                for key, value in module.state_dict().items()}

    def _load_weights(self, modules: dict[str, Any], weights: dict[str, np.ndarray],
                      device: Any) -> None:
        import torch

        for name in self._kept_modules:
            prefix = f"{name}."
            modules[name].load_state_dict({
                key[len(prefix):]: torch.as_tensor(value, device=device)
                for key, value in weights.items() if key.startswith(prefix)})

    # --- sampling ------------------------------------------------------------------------
    def _sample(self, n: int, rng: np.random.Generator, conditions: dict[str, Any]) -> pd.DataFrame:
        import torch

        from pipeline.models.torch_settings import limited_threads

        fitted = self._fitted()
        device = self._device()
        with limited_threads(self._threads()):
            modules = self._build(fitted.shapes, fitted.encoding, device)
            modules["conditions"] = fitted.conditions
            self._load_weights(modules, fitted.weights, device)
            torch_rng = torch.Generator(device=device).manual_seed(int(rng.integers(2**62)))
            label = self._condition_label(conditions)

            def draw(size: int, draw_rng: np.random.Generator) -> pd.DataFrame:
                if size == 0:
                    return fitted.encoding.decode(np.zeros((0, fitted.encoding.n_numeric)),
                                                  np.zeros((0, fitted.encoding.n_blocks), int))
                alpha, choices = self._generate(modules, size, draw_rng, torch_rng, label)
                frame = fitted.encoding.decode(alpha, choices)
                frame = fitted.rare.decode(frame, draw_rng) if fitted.rare else frame
                return with_final_dependency_values(frame, self.schema, set(conditions))

            return sample_by_rejection(draw, n, rng, conditions)

    def _condition_label(self, conditions: dict[str, Any]) -> int | None:
        """The conditional-vector label of the first condition, if the model has one."""
        return None

    def _fitted(self) -> FittedNetwork:
        if self.fitted_ is None:
            raise PipelineError(f"model {self.name!r} is not fitted; call fit() first")
        return self.fitted_

    def card(self) -> dict[str, Any]:
        card = super().card()
        if self.fitted_ is not None:
            card["training"] = {
                "chosen_epoch": self.fitted_.chosen_epoch, "epochs_run": self.fitted_.epochs_run,
                "stopped_by": self.fitted_.stopped_by,
                **{k: self.fitted_.shapes[k] for k in ("sampling", "sampling_scores")
                   if k in self.fitted_.shapes},
                "fidelity_curve": self.fitted_.fidelity_curve,
                "folded_categories": {c: len(v) for c, (v, _) in self.fitted_.rare.folded.items()}
                if self.fitted_.rare else {},
            }
        return card
