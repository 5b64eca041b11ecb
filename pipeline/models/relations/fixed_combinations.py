"""Fixed combinations: columns of few values that occur together only in some combinations (a
stated-choice survey's body types, alternative by alternative, drawn from 18 designs; an
experiment's name, its round and its condition; a baseball team and its league). A model that
draws each column on its own, given its latent state, mixes them into combinations no real
row has (Ecdat's Car: 320 combinations of the six body types for 18 real ones, which a
classifier spots at once). The model sees the group as one categorical column, under the
first column's name, holding the combination's number; after sampling it is spread back.

A combination fewer than `rare` training rows hold is not a category of that column: its rows
are one placeholder, drawn back as a frequent combination by frequency, as value protection
does with a rare category.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.errors import PipelineError

# A pair shows structure when it holds at most this share of the combinations independent
# columns with its marginals would show on as many rows, and at least MIN_ABSENT fewer.
ABSENT_SHARE = 0.5
MIN_ABSENT = 5
# A group's combinations must stay a category a model can learn: at most this many, and at
# least ROWS_PER_COMBINATION training rows each on average.
MAX_COMBINATIONS = 300
ROWS_PER_COMBINATION = 10
# Rows in combinations held by a single training row: past this share the group is mostly
# one-offs (an identifier spread over columns), not a design.
MAX_ONE_OFF_SHARE = 0.05
# Columns screened pairwise (fewest values first) and rows the screen looks at.
MAX_CANDIDATES = 200
SCREEN_ROWS = 20_000
RARE_CODE = -1  # the placeholder's number


@dataclass(frozen=True)
class FixedCombinations:
    columns: tuple[str, ...]
    values: tuple[tuple, ...]  # each kept combination's values, in the columns' order
    shares: tuple[float, ...]  # each kept combination's share of the training rows
    keys: tuple[str, ...]  # each kept combination's key in the training frame
    n_rare: int = 0  # combinations fewer than `rare` training rows hold

    @property
    def holder(self) -> str:
        return self.columns[0]

    def to_combination(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The group as one column: each row's combination number (RARE_CODE for a rare
        one)."""
        keys = combination_keys(frame, self.columns)
        numbers = pd.Series(range(len(self.values)), index=list(self.keys))
        codes = keys.map(numbers).fillna(RARE_CODE).to_numpy(dtype=np.int64)
        out = frame.drop(columns=list(self.columns[1:]))
        out[self.holder] = codes
        return out

    def from_combination(self, frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        """The combination numbers spread back onto the columns; a rare row takes a kept
        combination drawn by frequency."""
        codes = pd.to_numeric(frame[self.holder], errors="coerce").fillna(RARE_CODE)
        codes = codes.to_numpy(dtype=np.int64)
        unknown = (codes < 0) | (codes >= len(self.values))
        shares = np.asarray(self.shares) / np.sum(self.shares)
        codes[unknown] = rng.choice(len(self.values), size=int(unknown.sum()), p=shares)
        out = frame.copy()
        table = np.empty((len(self.values), len(self.columns)), dtype=object)
        table[:] = self.values
        for j, column in enumerate(self.columns):
            out[column] = table[codes, j]
        return out

    def categories(self) -> list[int]:
        return [RARE_CODE, *range(len(self.values))] if self.n_rare else list(
            range(len(self.values)))

    def matching(self, asked: dict[str, set[str]]) -> np.ndarray:
        """Numbers of the kept combinations whose value in each asked column is one of the
        asked values (as text); refused if none is."""
        hits = np.ones(len(self.values), dtype=bool)
        for column, wanted in asked.items():
            j = self.columns.index(column)
            hits &= np.array([combination[j] is not None and str(combination[j]) in wanted
                              for combination in self.values])
        if not hits.any():
            raise PipelineError(
                f"conditions {_readable(asked)} match no combination of "
                f"{', '.join(self.columns)} that enough training rows hold (these columns "
                "only occur together in fixed combinations); condition on values that occur "
                "together")
        return np.flatnonzero(hits)


def _readable(asked: dict[str, set[str]]) -> dict[str, object]:
    return {c: next(iter(v)) if len(v) == 1 else sorted(v) for c, v in asked.items()}


def combination_keys(frame: pd.DataFrame, columns: tuple[str, ...] | list[str]) -> pd.Series:
    """One text key per row for its values in `columns` (a missing value as its own). Keys
    compare rows of frames with the same dtypes: the training frame's, at fit and in the
    model view."""
    parts = [frame[c].astype(str).where(frame[c].notna(), "\x00") for c in columns]
    keys = parts[0]
    for part in parts[1:]:
        keys = keys + "\x1f" + part
    return keys


def fit_fixed_combinations(train: pd.DataFrame, columns: list[str],
                           rare: int = 2) -> FixedCombinations | None:
    """The group's combinations on the training rows, or None when it is no longer a
    category a model can learn there (too many combinations, mostly one-offs)."""
    keys = combination_keys(train, columns)
    counts = keys.value_counts(sort=False)
    if not _learnable(counts.to_numpy(), len(train)):
        return None
    kept = counts[counts >= rare]
    if kept.empty:
        return None
    first = train.loc[~keys.duplicated(), list(columns)]
    first.index = keys[~keys.duplicated()].to_numpy()
    rows = first.loc[kept.index]
    values = tuple(tuple(_plain(v) for v in row) for row in rows.itertuples(index=False))
    shares = tuple(float(c) / len(train) for c in kept.to_numpy())
    return FixedCombinations(tuple(columns), values, shares, tuple(kept.index),
                             int((counts < rare).sum()))


def _plain(value: object) -> object:
    return None if pd.isna(value) else value.item() if hasattr(value, "item") else value


def max_combinations(n_rows: int) -> int:
    return min(MAX_COMBINATIONS, n_rows // ROWS_PER_COMBINATION)


# A group of numbers only is one category when it takes at most this many combinations and
# none of its numbers shares a trend with another numeric column at this rank correlation.
MAX_NUMERIC_COMBINATIONS = 64
TREND_CORRELATION = 0.7


def worth_a_category(frame: pd.DataFrame, group: list[str]) -> bool:
    """Whether a group is better modelled as one category of combinations. One with a
    categorical column is: that column is a category already. Numbers made a category lose
    the linear fit a mixture gives them, and a category of hundreds of combinations draws
    the gmm's component choice down (Ecdat's Tuna: five prices in 278 combinations, 128
    components down to 2, detection AUC 0.50 -> 0.66); a year and a price index that rise
    with the prices (plm's Cigar) lose that rise."""
    numbers = [c for c in frame.columns if _is_number(frame[c])]
    if set(group) - set(numbers):
        return True
    rows = frame.iloc[:: max(1, len(frame) // SCREEN_ROWS)]
    if len(rows[group].drop_duplicates()) > MAX_NUMERIC_COMBINATIONS:
        return False
    others = [c for c in numbers if c not in group]
    if not others:
        return True
    trend = rows[group + others].rank().corr().loc[group, others].abs().to_numpy()
    return not bool(np.nanmax(trend, initial=0.0) >= TREND_CORRELATION)


def _is_number(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def find_fixed_combinations(frame: pd.DataFrame, columns: list[str]) -> list[list[str]]:
    """Groups of two or more `columns` whose values occur together in far fewer combinations
    than chance would give. Agglomerative: the most constrained pair of columns (or groups
    found so far, each taken as one variable) merges while the group stays a category a
    model can learn, so a column joins a group it is tied to only as a whole (six body
    types of which no two are tied, but all six take 18 combinations)."""
    columns = [c for c in columns if frame[c].nunique() > 1]
    columns = sorted(columns, key=lambda c: frame[c].nunique())[:MAX_CANDIDATES]
    step = max(1, len(frame) // SCREEN_ROWS)
    rows = frame.iloc[::step]
    variables = {(c,): _Variable.of(rows[c]) for c in columns}
    scores = {}
    for i, a in enumerate(list(variables)):
        for b in list(variables)[i + 1:]:
            scores[(a, b)] = variables[a].absent_share(variables[b])
    while scores:
        (a, b), share = min(scores.items(), key=lambda item: item[1])
        if share > ABSENT_SHARE:
            break
        del scores[(a, b)]
        merged = variables[a].joined(variables[b])
        if not _learnable(_Variable.of_frame(frame[list(a + b)]).codes, len(frame)):
            continue
        for gone in (a, b):
            del variables[gone]
        scores = {pair: value for pair, value in scores.items() if not {a, b} & set(pair)}
        for other, variable in variables.items():
            scores[(other, a + b)] = variable.absent_share(merged)
        variables[a + b] = merged
    order = {c: i for i, c in enumerate(frame.columns)}
    groups = [sorted(g, key=order.get) for g in variables if len(g) > 1]
    return sorted(groups, key=lambda g: order[g[0]])


@dataclass(frozen=True)
class _Variable:
    """A column, or a group's joint values, as codes (-1 where any of its columns is
    missing, so missing-together patterns are not mistaken for combinations)."""

    codes: np.ndarray

    @classmethod
    def of(cls, column: pd.Series) -> _Variable:
        return cls(pd.factorize(column)[0])

    @classmethod
    def of_frame(cls, block: pd.DataFrame) -> _Variable:
        """The block's joint values, a missing value being one of them."""
        codes = np.zeros(len(block), dtype=np.int64)
        for column in block.columns:
            own = pd.factorize(block[column], use_na_sentinel=False)[0]
            codes = pd.factorize(codes * (int(own.max()) + 1) + own)[0]
        return cls(codes)

    def joined(self, other: _Variable) -> _Variable:
        both = (self.codes >= 0) & (other.codes >= 0)
        joint = pd.factorize(self.codes * (int(other.codes.max()) + 1) + other.codes)[0]
        return _Variable(np.where(both, joint, -1))

    def absent_share(self, other: _Variable) -> float:
        """Combinations the two take, as a share of those independent variables with their
        marginals would show on as many rows (where both are present); inf where too few
        would be absent to tell."""
        both = (self.codes >= 0) & (other.codes >= 0)
        a, b = self.codes[both], other.codes[both]
        if len(a) == 0:
            return np.inf
        na, nb = int(a.max()) + 1, int(b.max()) + 1
        observed = int(np.count_nonzero(np.bincount(a * nb + b, minlength=na * nb)))
        expected = _expected_combinations(a, na, b, nb)
        return observed / expected if expected - observed >= MIN_ABSENT else np.inf


def _learnable(codes: np.ndarray, n_rows: int) -> bool:
    """A group's joint values make a category a model can learn: a few, mostly repeated."""
    counts = np.bincount(codes)
    counts = counts[counts > 0]
    one_off = float(counts[counts == 1].sum()) / max(n_rows, 1)
    return 2 <= len(counts) <= max_combinations(n_rows) and one_off <= MAX_ONE_OFF_SHARE


def _expected_combinations(ca: np.ndarray, na: int, cb: np.ndarray, nb: int) -> float:
    """Distinct combinations independent columns with these marginals show on len(ca) rows."""
    n = len(ca)
    p, q = np.bincount(ca, minlength=na) / n, np.bincount(cb, minlength=nb) / n
    return float((1.0 - (1.0 - np.outer(p, q)) ** n).sum())
