"""Free text that resembles its column, instead of Faker's lorem ipsum: a whole label that
many rows share (a job title) as often as the column repeats such labels, otherwise words
drawn from the column's own common vocabulary, in rows as long as the column's.

Only labels and words that at least `MIN_WORD_ROWS` training rows use are kept, so a name,
a code or a phrase that identifies one row never reaches the output. A column with too few
common words (place names, `101-Bois-de-Liesse`) is written by a chain of its characters
instead: each next character drawn given the last few, from the steps at least
`MIN_WORD_ROWS` values take, so the output has the column's alphabet, separators and
lengths and no value's own spelling; none equals a training value. A column without even
such steps (49 two-letter states among 94 senators) is written in the shapes its values
share (two capitals), from the characters its values use; only a column without a shared
shape falls back to Faker sentences. E-mail addresses keep the domains that many
rows share (gmail.com, a company's own) in their shares, with Faker's names before the `@`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

MIN_WORD_ROWS = 5
MIN_VOCABULARY = 5  # fewer common words than this: a chain of characters
CHAIN_ORDER = 3  # characters a chain's next character depends on (fewer where unseen)
MIN_CHAIN_STEPS = 20  # fewer common steps than this: the values' shapes
CHAIN_REDRAWS = 8  # rounds of redrawing values that equal a training value
# A chain whose trial draws are training values more often than this spells a numbered code
# (Name0001), not names. Below it the copies are simply drawn again: R's colour names
# (gray0..gray100, aliceblue) spell real ones half the time and still read as the column.
CHAIN_TRIAL_ROWS, MAX_CHAIN_COPIES = 500, 0.8
START, END = "\x02", "\x03"
ONE_SHAPE = 0.95  # share of values in shared shapes for the shapes to write a column
MOSTLY = 0.9  # share of a position's values its frequent characters must write


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


def learn_text(values: pd.Series) -> Vocabulary | CharacterChain | ValueShapes | None:
    """What writes the column: its common words; else, when nearly all its values are in
    shapes many share (state codes, which a chain would also end after one letter), those
    shapes; else a chain of its characters; else the shapes some values share; None:
    Faker's."""
    vocabulary = learn_vocabulary(values)
    if vocabulary is not None:
        return vocabulary
    shapes = learn_shapes(values)
    if shapes is not None and shapes.share >= ONE_SHAPE:
        return shapes
    return learn_characters(values) or shapes


def learn_vocabulary(values: pd.Series) -> Vocabulary | None:
    """The column's common words and row lengths, or None when it has too few of them."""
    strings = values.dropna().astype(str)
    tokens = strings.str.split()
    if tokens.empty:
        return None
    label_counts = strings.value_counts()
    common_labels = label_counts[label_counts >= MIN_WORD_ROWS]
    # each row's words once, in their order (a set's order changes with string hashing)
    rows_per_word = pd.Series([w for row in tokens for w in dict.fromkeys(row)]).value_counts()
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
class CharacterChain:
    """Next-character tables by context (the last 0..CHAIN_ORDER characters, START-padded)."""

    steps: dict[str, tuple[np.ndarray, np.ndarray]]  # context -> (characters, probabilities)
    lengths: np.ndarray  # lengths of the training values (a sample to draw from)
    seen: np.ndarray  # sorted hashes of the training values, which the output never equals

    def draw(self, n: int, rng: np.random.Generator) -> pd.Series:
        """n values, none a training value (see _without_copies)."""
        return _without_copies(self._compose, n, rng, self.seen)

    def _compose(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Values grown a character at a time; one that has reached a length drawn from the
        column's ends at the first context where values end, and half as long again, ends;
        none ends before that length where the context lets it go on."""
        written = np.full(n, START * CHAIN_ORDER, dtype=object)
        target = rng.choice(self.lengths, size=n)
        active = np.arange(n)
        for _ in range(int(self.lengths.max()) * 2):
            if not len(active):
                break
            contexts = pd.Series(written[active]).str[-CHAIN_ORDER:].to_numpy()
            length = pd.Series(written[active]).str.len().to_numpy() - CHAIN_ORDER
            due = length >= target[active]
            overdue = length >= 1.5 * target[active]
            codes, distinct = pd.factorize(contexts)
            drawn = np.empty(len(active), dtype=object)
            for code, context in enumerate(distinct):
                rows = np.flatnonzero(codes == code)
                chars, probs = self._table(context)
                drawn[rows] = chars[rng.choice(len(chars), size=len(rows), p=probs)]
                early = rows[(drawn[rows] == END) & ~due[rows]]
                if len(early) and len(chars) > 1:  # not before its length: AL, not A
                    drawn[early] = _without_end(chars, probs, len(early), rng)
                drawn[rows[overdue[rows] | (due[rows] & (END in chars))]] = END
            ended = drawn == END
            written[active[~ended]] = written[active[~ended]] + drawn[~ended]
            active = active[~ended]
        return np.array([w[CHAIN_ORDER:] for w in written], dtype=object)

    def _table(self, context: str) -> tuple[np.ndarray, np.ndarray]:
        for start in range(len(context) + 1):  # the longest context with common steps
            if context[start:] in self.steps:
                return self.steps[context[start:]]
        raise AssertionError("the empty context always has steps")


def _without_end(chars: np.ndarray, probs: np.ndarray, n: int,
                 rng: np.random.Generator) -> np.ndarray:
    keep = chars != END
    return chars[keep][rng.choice(int(keep.sum()), size=n, p=probs[keep] / probs[keep].sum())]


def learn_characters(values: pd.Series) -> CharacterChain | None:
    """The column's common character steps, or None when it has too few of them."""
    from pipeline.ids import hash_ids

    strings = pd.Series(values.dropna().astype(str).unique())
    strings = strings[strings.str.len() > 0]
    if strings.empty:
        return None
    rows_per_step: dict[tuple[str, str], int] = {}
    for value in strings:
        padded = START * CHAIN_ORDER + value + END
        found = {(padded[i - order:i], padded[i])
                 for i in range(CHAIN_ORDER, len(padded)) for order in range(CHAIN_ORDER + 1)}
        for step in found:
            rows_per_step[step] = rows_per_step.get(step, 0) + 1
    common = {step: count for step, count in rows_per_step.items() if count >= MIN_WORD_ROWS}
    if len(common) < MIN_CHAIN_STEPS or not any(context == "" for context, _ in common):
        return None
    by_context: dict[str, dict[str, int]] = {}
    for (context, char), count in common.items():
        by_context.setdefault(context, {})[char] = count
    steps = {}
    for context, chars in by_context.items():
        # in a fixed order: the steps were found through sets, whose order changes with the
        # process's string hashing, and the same seed drew other names in another process
        ordered = sorted(chars)
        counts = np.array([chars[c] for c in ordered], dtype=float)
        steps[context] = (np.array(ordered, dtype=object), counts / counts.sum())
    lengths = np.random.default_rng(0).choice(strings.str.len().to_numpy(),
                                              size=min(1000, len(strings)))
    chain = CharacterChain(steps, lengths, np.sort(hash_ids(strings)))
    trial = chain._compose(CHAIN_TRIAL_ROWS, np.random.default_rng(0))
    if _in_hashes(trial, chain.seen).mean() > MAX_CHAIN_COPIES:
        return None  # a code's steps spell its real values (Name0001): not a chain's job
    return chain


@dataclass(frozen=True)
class ValueShapes:
    """Runs of capitals, small letters and digits, and the characters between them, in the
    layouts at least MIN_WORD_ROWS values share (`TN`: two capitals); each position drawn
    from the characters that many values of the layout hold there (`USC00...` stations),
    else from those the column's values of its class use."""

    layouts: tuple[tuple[tuple[np.ndarray, np.ndarray], ...], ...]  # position -> (chars, p)
    weights: np.ndarray
    seen: np.ndarray  # sorted hashes of the training values, which the output never equals
    share: float  # of the distinct values, the share in one of `layouts`

    def draw(self, n: int, rng: np.random.Generator) -> pd.Series:
        """n values, none a training value (a short shape can spell one)."""
        return _without_copies(self._compose, n, rng, self.seen)

    def _compose(self, n: int, rng: np.random.Generator) -> np.ndarray:
        picked = rng.choice(len(self.layouts), size=n, p=self.weights)
        out = np.empty(n, dtype=object)
        for code in np.unique(picked):
            rows = np.flatnonzero(picked == code)
            columns = [chars[rng.choice(len(chars), size=len(rows), p=probs)]
                       for chars, probs in self.layouts[code]]
            out[rows] = ["".join(row) for row in zip(*columns)] if columns else ""
        return out


def learn_shapes(values: pd.Series) -> ValueShapes | None:
    """The layouts many of the column's values share, or None when none is shared."""
    from pipeline.ids import RUNS, _kind, hash_ids

    strings = pd.Series(values.dropna().astype(str).unique())
    strings = strings[strings.str.len() > 0]
    kinds = strings.map(lambda value: tuple(
        kind for run in RUNS.findall(value) for kind in
        ([_kind(run[0])] * len(run) if run[0].isascii() and run[0].isalnum() else [run])))
    counts = kinds.value_counts()
    common = counts[counts >= MIN_WORD_ROWS]
    if common.empty:
        return None
    alphabets = {kind: _frequent([c for value in strings for c in set(value) if _kind(c) == kind])
                 for kind in ("U", "L", "d")}
    layouts = []
    for layout in common.index:
        chars = np.array([list(v) for v in strings[kinds == layout]])
        layouts.append(tuple(
            _frequent(chars[:, i], alphabets[kind]) if kind in alphabets
            else (np.array([kind], dtype=object), np.ones(1)) for i, kind in enumerate(layout)))
    return ValueShapes(tuple(layouts), (common / common.sum()).to_numpy(),
                       np.sort(hash_ids(strings)), float(common.sum() / len(strings)))


def _frequent(chars, otherwise: tuple[np.ndarray, np.ndarray] | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
    """The characters at least MIN_WORD_ROWS values hold, by how many hold them; where
    those are too few to write most values (a state's first letter), `otherwise` (or every
    character seen)."""
    counts = pd.Series(chars, dtype=object).value_counts()
    frequent = counts[counts >= MIN_WORD_ROWS]
    if frequent.sum() < MOSTLY * counts.sum() and otherwise is not None:
        return otherwise
    kept = (frequent if len(frequent) else counts).sort_index()
    return kept.index.to_numpy(dtype=object), (kept / kept.sum()).to_numpy()


def _without_copies(compose, n: int, rng: np.random.Generator, seen: np.ndarray) -> pd.Series:
    """n composed values, none a training value: those still equal to one after
    CHAIN_REDRAWS rounds of composing again take one of the other values (a column that is
    never missing must not come out missing), or are left missing when every value copied."""
    values = compose(n, rng)
    for _ in range(CHAIN_REDRAWS):
        copied = np.flatnonzero(_in_hashes(values, seen))
        if not len(copied):
            break
        values[copied] = compose(len(copied), rng)
    copied = _in_hashes(values, seen)
    if copied.all():
        values[:] = None
    elif copied.any():
        values[copied] = rng.choice(values[~copied], size=int(copied.sum()))
    return pd.Series(values, dtype="string")


def _in_hashes(values: np.ndarray, sorted_hashes: np.ndarray) -> np.ndarray:
    from pipeline.ids import hash_ids
    from pipeline.value_protection import in_sorted

    return in_sorted(hash_ids(values), sorted_hashes)


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
