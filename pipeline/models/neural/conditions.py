"""CTGAN's conditional vector and training-by-sampling (paper, section 4.3), vectorised.

For every step, each row of the batch picks a categorical column uniformly and one of its
labels with probability proportional to the log of its frequency (rare labels are seen far
more often than their share), and the real rows shown to the critic are drawn among the
training rows holding that label. Row indices are precomputed per label, so a batch is a few
array lookups, never a per-row Python loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.models.neural.encoding import TableEncoding


@dataclass(frozen=True)
class ConditionSampler:
    block_offset: np.ndarray  # (C,) first label id of each conditioned block
    block_width: np.ndarray  # (C,)
    train_cdf: np.ndarray  # (C, W) cumulative log-frequency probabilities, padded with 1
    sample_cdf: np.ndarray  # (C, W) cumulative real frequencies (for generation)
    label_start: np.ndarray  # (L,) where each label's rows start in `rows_by_label`
    label_count: np.ndarray  # (L,)
    rows_by_label: np.ndarray  # training rows, grouped by label id

    @classmethod
    def build(cls, encoding: TableEncoding, choices: np.ndarray,
              log_frequency: bool) -> ConditionSampler:
        blocks = encoding.cond_blocks
        widths = encoding.block_width[blocks]
        offset = (np.cumsum(widths) - widths).astype(np.int64)  # none for a table of numbers
        wide = int(widths.max()) if len(widths) else 1
        train_cdf = np.ones((len(blocks), wide))
        sample_cdf = np.ones((len(blocks), wide))
        counts_all, rows_all = [], []
        for i, b in enumerate(blocks):
            codes = choices[:, b]
            counts = np.bincount(codes, minlength=widths[i]).astype(float)
            weights = np.log1p(counts) if log_frequency else counts
            train_cdf[i, : widths[i]] = np.cumsum(weights) / weights.sum()
            sample_cdf[i, : widths[i]] = np.cumsum(counts) / counts.sum()
            counts_all.append(counts.astype(np.int64))
            rows_all.append(np.argsort(codes, kind="stable"))
        counts = np.concatenate(counts_all) if counts_all else np.zeros(0, dtype=np.int64)
        # label ids run block after block, and so do the blocks' sorted rows (n per block)
        start = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        return cls(offset, widths.astype(np.int64), train_cdf, sample_cdf, start, counts,
                   np.concatenate(rows_all) if rows_all else np.zeros(0, dtype=np.int64))

    @property
    def n_blocks(self) -> int:
        return len(self.block_offset)

    @property
    def width(self) -> int:
        return int(self.block_width.sum())

    def draw_labels(self, size: int, rng: np.random.Generator, for_training: bool) -> np.ndarray:
        """A label id per row: a uniform block, then a label by log (or real) frequency."""
        block = rng.integers(self.n_blocks, size=size)
        cdf = (self.train_cdf if for_training else self.sample_cdf)[block]
        within = (cdf < rng.random((size, 1))).sum(axis=1)
        return self.block_offset[block] + np.minimum(within, self.block_width[block] - 1)

    def rows_with(self, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A training row holding each label, uniformly among those that do."""
        pick = (rng.random(len(labels)) * self.label_count[labels]).astype(np.int64)
        return self.rows_by_label[self.label_start[labels] + pick]

    def one_hot(self, labels: np.ndarray) -> np.ndarray:
        out = np.zeros((len(labels), self.width), dtype=np.float32)
        out[np.arange(len(labels)), labels] = 1.0
        return out
