"""Free text that resembles its column, instead of Faker's lorem ipsum: a whole label that
many rows share (a job title) as often as the column repeats such labels, otherwise words
drawn from the column's own common vocabulary, in rows as long as the column's.

Only labels and words that at least `MIN_WORD_ROWS` training rows use are kept, so a name,
a code or a phrase that identifies one row never reaches the output; a column with too few
common words falls back to Faker sentences. E-mail addresses keep the domains that many
rows share (gmail.com, a company's own) in their shares, with Faker's names before the `@`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

MIN_WORD_ROWS = 5
MIN_VOCABULARY = 5  # fewer common words than this: Faker sentences


@dataclass(frozen=True)
class Vocabulary:
    words: tuple[str, ...]
    weights: np.ndarray  # how many rows use each word, normalised
    lengths: np.ndarray  # words per row in the training column (a sample to draw from)
    labels: tuple[str, ...] = ()  # whole values that many rows share
    label_weights: np.ndarray | None = None
    label_share: float = 0.0  # share of training rows holding one of `labels`

    def draw(self, n: int, rng: np.random.Generator) -> pd.Series:
        rows = self._compose(n, rng)
        if self.labels:
            shared = rng.random(n) < self.label_share
            picked = rng.choice(len(self.labels), size=int(shared.sum()), p=self.label_weights)
            rows[shared] = np.asarray(self.labels, dtype=object)[picked]
        return pd.Series(rows, dtype="string")

    def _compose(self, n: int, rng: np.random.Generator) -> np.ndarray:
        counts = rng.choice(self.lengths, size=n)
        drawn = rng.choice(len(self.words), size=int(counts.sum()), p=self.weights)
        words = np.asarray(self.words, dtype=object)[drawn]
        starts = np.concatenate([[0], np.cumsum(counts)])
        return np.array([" ".join(words[starts[i]:starts[i + 1]]) for i in range(n)],
                        dtype=object)


def learn_vocabulary(values: pd.Series) -> Vocabulary | None:
    """The column's common words and row lengths, or None when it has too few of them."""
    strings = values.dropna().astype(str)
    tokens = strings.str.split()
    if tokens.empty:
        return None
    label_counts = strings.value_counts()
    common_labels = label_counts[label_counts >= MIN_WORD_ROWS]
    rows_per_word = pd.Series([w for row in tokens for w in set(row)]).value_counts()
    common = rows_per_word[rows_per_word >= MIN_WORD_ROWS]
    if len(common) < MIN_VOCABULARY:
        return None
    lengths = tokens.map(len).to_numpy()
    sample = np.random.default_rng(0).choice(lengths[lengths > 0], size=min(1000, len(lengths)))
    return Vocabulary(
        tuple(common.index), (common / common.sum()).to_numpy(), sample,
        tuple(common_labels.index), (common_labels / common_labels.sum()).to_numpy(),
        float(common_labels.sum() / len(strings)))


@dataclass(frozen=True)
class EmailDomains:
    domains: tuple[str, ...]  # domains at least MIN_WORD_ROWS training rows use
    weights: np.ndarray
    share: float  # share of training addresses at one of them

    def draw(self, local_parts: list[str], fallback: list[str],
             rng: np.random.Generator) -> pd.Series:
        """`local@domain`, the domain a shared one on `share` of rows, else the fallback's."""
        shared = rng.random(len(local_parts)) < self.share
        picked = rng.choice(len(self.domains), size=len(local_parts), p=self.weights)
        domains = np.where(shared, np.asarray(self.domains, dtype=object)[picked],
                           np.asarray(fallback, dtype=object))
        return pd.Series([f"{a}@{b}" for a, b in zip(local_parts, domains)], dtype="string")


def learn_email_domains(values: pd.Series) -> EmailDomains | None:
    """The domains many addresses share, or None when none is shared by MIN_WORD_ROWS."""
    domains = values.dropna().astype(str).str.rsplit("@", n=1).str[-1].str.lower()
    counts = domains.value_counts()
    common = counts[counts >= MIN_WORD_ROWS]
    if common.empty:
        return None
    return EmailDomains(tuple(common.index), (common / common.sum()).to_numpy(),
                        float(common.sum() / len(domains)))
