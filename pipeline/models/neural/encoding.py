"""A table as the networks see it: mode-specific normalisation and one-hot blocks.

Layout of one encoded row (float32):

    [ alpha_1 .. alpha_c | block_1 | block_2 | ... ]

`alpha_j` is numeric column j's value relative to its mode, (x - mean) / (4 std), in
(-1, 1) (the generator's tanh outputs). Every block is one softmax: a numeric column's mode
(plus "missing" when the column has missing values), or a categorical or boolean column's label
(plus "missing"). Keeping all alphas first and every block after them lets the networks apply
their activations to the whole row at once (`segments`), not column by column. The
categorical blocks are also the conditional vector's layout (`cond_*`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipeline.errors import PipelineError
from pipeline.models.gmm.encoding import CategoricalCodec, numeric_values, seconds_to_stamps
from pipeline.models.neural.modes import Modes, fit_modes
from pipeline.schema import DatasetSchema, Role

# alpha stays inside tanh's open range
ALPHA_LIMIT = 0.99


@dataclass(frozen=True)
class NumericColumn:
    column: str
    is_datetime: bool
    tz: Any
    has_missing: bool


@dataclass(frozen=True)
class TableEncoding:
    numeric: list[NumericColumn]
    categorical: list[CategoricalCodec]
    modes: Modes
    columns: list[str]  # every modelled column, in the order the model returns them
    placeholders: list[str]  # dependency targets: not modelled, postprocess rewrites them
    block_start: np.ndarray  # (B,) where each block starts in the row
    block_width: np.ndarray  # (B,)
    numeric_has_missing: np.ndarray  # (c,) bool
    numeric_range: np.ndarray  # (c, 2) the training values' least and largest

    # --- layout ------------------------------------------------------------------------
    @property
    def n_numeric(self) -> int:
        return len(self.numeric)

    @property
    def width(self) -> int:
        return int(self.block_start[-1] + self.block_width[-1]) if len(self.block_start) \
            else self.n_numeric

    @property
    def n_blocks(self) -> int:
        return len(self.block_start)

    def numeric_widths(self) -> dict[str, int]:
        """Positions each numeric column takes: its alpha, its modes, its missing slot."""
        return {c.column: 1 + int(k) + int(c.has_missing)
                for c, k in zip(self.numeric, self.modes.counts)}

    def block_ids(self) -> np.ndarray:
        """The block of every position after the alphas."""
        return np.repeat(np.arange(self.n_blocks), self.block_width)

    @property
    def cond_blocks(self) -> np.ndarray:
        """The categorical blocks, which the conditional vector covers."""
        return np.arange(self.n_numeric, self.n_blocks)

    @property
    def cond_width(self) -> int:
        return int(self.block_width[self.cond_blocks].sum())

    def cond_positions(self) -> np.ndarray:
        """Where each position of the conditional vector sits in the encoded row."""
        return np.concatenate([np.arange(s, s + w) for s, w in zip(
            self.block_start[self.cond_blocks], self.block_width[self.cond_blocks])]
            or [np.zeros(0, dtype=np.int64)]).astype(np.int64)

    # --- rows -> matrix ----------------------------------------------------------------
    def encode(self, frame: pd.DataFrame,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """The (n, width) float32 matrix and the (n, B) chosen slot of every block."""
        n = len(frame)
        out = np.zeros((n, self.width), dtype=np.float32)
        choices = np.zeros((n, self.n_blocks), dtype=np.int64)
        if self.n_numeric:
            values = np.stack([numeric_values(frame[c.column], c.is_datetime)[0]
                               for c in self.numeric], axis=1)
            alpha, modes = self._normalise(values, rng)
            out[:, : self.n_numeric] = alpha
            choices[:, : self.n_numeric] = modes
        for b, codec in enumerate(self.categorical, start=self.n_numeric):
            codes = codec.encode(frame[codec.column])
            choices[:, b] = np.minimum(codes, self.block_width[b] - 1)
        rows = np.arange(n)
        for b in range(self.n_blocks):
            out[rows, self.block_start[b] + choices[:, b]] = 1.0
        return out, choices

    def _normalise(self, values: np.ndarray, rng: np.random.Generator):
        """alpha and a mode per value, the mode drawn from its posterior (the paper's rule)."""
        posterior = np.exp(self.modes.log_posterior(values))  # (n, c, K)
        cumulative = posterior.cumsum(axis=2)
        u = rng.random((len(values), self.n_numeric, 1)) * cumulative[:, :, -1:]
        modes = np.minimum((cumulative < u).sum(axis=2), self.modes.counts[None] - 1)
        mean = np.take_along_axis(self.modes.means[None].repeat(len(values), 0),
                                  modes[:, :, None], axis=2)[:, :, 0]
        std = np.take_along_axis(self.modes.stds[None].repeat(len(values), 0),
                                 modes[:, :, None], axis=2)[:, :, 0]
        missing = np.isnan(values)
        alpha = np.clip((np.nan_to_num(values) - mean) / (4 * std), -ALPHA_LIMIT, ALPHA_LIMIT)
        alpha[missing] = 0.0
        modes[missing] = np.broadcast_to(self.modes.counts[None], modes.shape)[missing]
        return alpha, modes

    # --- matrix -> rows ----------------------------------------------------------------
    def argmax_choices(self, matrix: np.ndarray) -> np.ndarray:
        """Each block's largest slot (a generator's Gumbel-softmax output)."""
        return np.stack([matrix[:, s: s + w].argmax(axis=1)
                         for s, w in zip(self.block_start, self.block_width)], axis=1) \
            if self.n_blocks else np.zeros((len(matrix), 0), dtype=np.int64)

    def decode_arrays(self, alpha: np.ndarray, choices: np.ndarray) -> list[np.ndarray]:
        """Per modelled column: float values (NaN missing) or label codes (-1 missing)."""
        out: list[np.ndarray] = []
        if self.n_numeric:
            counts = self.modes.counts[None]
            missing = choices[:, : self.n_numeric] >= counts
            modes = np.minimum(choices[:, : self.n_numeric], counts - 1)
            mean = self.modes.means[np.arange(self.n_numeric)[None], modes]
            std = self.modes.stds[np.arange(self.n_numeric)[None], modes]
            values = mean + 4 * std * np.clip(alpha, -1, 1)
            # a mode's 4 deviations may reach past the data: never past its range
            values = np.clip(values, self.numeric_range[:, 0], self.numeric_range[:, 1])
            values[missing] = np.nan
            out.extend(values.T)
        for b, codec in enumerate(self.categorical, start=self.n_numeric):
            codes = choices[:, b].copy()
            codes[codes >= len(codec.labels)] = -1
            out.append(codes)
        return out

    def decode(self, alpha: np.ndarray, choices: np.ndarray) -> pd.DataFrame:
        arrays = self.decode_arrays(alpha, choices)
        out: dict[str, Any] = {}
        for spec, values in zip(self.numeric, arrays):
            out[spec.column] = seconds_to_stamps(values, spec.tz) if spec.is_datetime \
                else pd.Series(values)
        for codec, codes in zip(self.categorical, arrays[self.n_numeric:]):
            out[codec.column] = pd.Series(pd.Categorical.from_codes(codes, codec.labels))
        n = len(alpha)
        for name in self.placeholders:
            out[name] = pd.Series(np.full(n, None, dtype=object))
        return pd.DataFrame(out, index=pd.RangeIndex(n))[self.columns]


def build_encoding(frame: pd.DataFrame, schema: DatasetSchema, placeholders: list[str],
                   rng: np.random.Generator, max_modes: int,
                   modes: Modes | None = None) -> TableEncoding:
    """Modes for every numeric column (one EM for all, unless given) and labels for every
    other column."""
    numeric, categorical, values = [], [], []
    for name in frame.columns:
        if name in placeholders:
            continue
        role = schema.column(name).role
        if role in (Role.numerical, Role.datetime):
            v, tz = numeric_values(frame[name], role == Role.datetime)
            numeric.append(NumericColumn(name, role == Role.datetime, tz, bool(np.isnan(v).any())))
            values.append(v)
        elif role == Role.boolean:
            categorical.append(CategoricalCodec(name, [False, True]))
        elif role == Role.categorical:
            labels = sorted(frame[name].dropna().unique().tolist(), key=str)
            categorical.append(CategoricalCodec(name, labels))
        else:
            raise PipelineError(f"the neural models cannot model column {name!r} with role "
                                f"{role.value!r}")
    matrix = np.stack(values, axis=1) if values else np.zeros((len(frame), 0))
    modes = modes if modes is not None else fit_modes(matrix, rng, max_modes)
    has_missing = np.array([c.has_missing for c in numeric], dtype=bool)
    widths = [int(k) + int(m) for k, m in zip(modes.counts, has_missing)]
    widths += [len(c.labels) + int(frame[c.column].isna().any()) for c in categorical]
    widths = [max(w, 1) for w in widths]
    start = len(numeric) + np.concatenate([[0], np.cumsum(widths)[:-1]]).astype(np.int64)
    present = [v[~np.isnan(v)] for v in values]
    value_range = np.array([(p.min(), p.max()) if len(p) else (0.0, 0.0) for p in present])
    return TableEncoding(numeric, categorical, modes, list(frame.columns), placeholders,
                         start.astype(np.int64), np.asarray(widths, dtype=np.int64),
                         has_missing, value_range.reshape(-1, 2))
