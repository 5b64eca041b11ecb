"""Record-level matches a re-identification would use: exact copies, near copies and rows that
single out a training record, each counted for the synthetic rows and, as the baseline, for
holdout rows (real records the model never saw) against the same training set.

- exact copy: equal to a training row on every modelled column (missing equals missing);
- near copy: every number within about `NUMERIC_TOLERANCE` of a training record's
  (relative, with an absolute floor near zero; datetimes within `DATETIME_TOLERANCE` of the
  training span), and at most `allowed_differences(d)` of its other fields different, where
  the row pins down that one record (no other training record is as near) and the record
  stands alone (no other training record is as near to it). Nudged numbers and one or two
  changed categories cannot hide a copied record. A table of numbers only lets up to that
  many numbers differ instead;
- singling out: the row's quasi-identifier combination belongs to exactly one training record.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.schema import DatasetSchema, Role
from pipeline.validation.encoding import (
    CONTINUOUS,
    canonical_frame,
    column_values,
    value_range,
)
from pipeline.validation.pigeonhole import PigeonholeKeys

NUMERIC_TOLERANCE = 0.01
# Below this share of a column's span numbers count as equal whatever their ratio (values near
# zero), and datetimes within it of each other are the same moment.
ABSOLUTE_TOLERANCE = 0.001
DATETIME_TOLERANCE = 0.001
# Near copies are searched for on at most this many synthetic and holdout rows each.
MAX_NEAR_CHECKED = 5_000
# Entries of one block of the (queries x training rows) match-count matrix.
BLOCK_ENTRIES = 4_000_000
# A column with at most this many distinct training values is a quasi-identifier by default.
QUASI_IDENTIFIER_MAX_VALUES = 50
# Queries per block when candidates come from pigeonhole keys.
KEYED_BLOCK = 2_048
# Codes of all fields counted by one GEMM together; wider fields are compared pair by pair.
MAX_ONEHOT_WIDTH = 256
_MISSING_CODE = -(2**40)


def allowed_differences(n_fields: int) -> int:
    """Fields a near copy may differ in: two, but never more than a third of the record."""
    return max(0, min(2, (n_fields - 1) // 3))


# --- exact copies --------------------------------------------------------------------------
def row_hashes(df: pd.DataFrame, schema: DatasetSchema, columns: list[str]) -> np.ndarray:
    frame = canonical_frame(df, schema, columns)
    return pd.util.hash_pandas_object(frame, index=False).to_numpy()


def exact_copies(train, synthetic, holdout, schema, columns) -> dict:
    """Synthetic rows identical to some training row, and the chance rate of that in real
    data; the same for copies of training records that occur once, since a record many people
    share identifies none of them.

    The chance rate pools holdout rows identical to a training row with training rows
    identical to another training row (leave one out): both are real rows meeting a training
    set they are not part of, and on a small table the holdout alone is too few to tell a
    handful of copies from chance."""
    train_hashes = pd.Series(row_hashes(train, schema, columns))
    multiplicity = train_hashes.map(train_hashes.value_counts()).to_numpy()
    copies = train_hashes.to_numpy()
    unique = copies[multiplicity == 1]
    hashes = row_hashes(synthetic, schema, columns)
    holdout_hashes = row_hashes(holdout, schema, columns)
    copied, holdout_copied = np.isin(hashes, copies), np.isin(holdout_hashes, copies)
    return {
        "n_copies": int(copied.sum()), "n_synthetic": len(synthetic),
        "n_unique_copies": int(np.isin(hashes, unique).sum()),
        "n_holdout": len(holdout), "n_holdout_copies": int(holdout_copied.sum()),
        "n_reference": len(holdout) + len(train),
        "n_reference_copies": int(holdout_copied.sum() + (multiplicity > 1).sum()),
        # left out, a training record shared by exactly two rows is unique to the other one
        "n_reference_unique_copies": int(np.isin(holdout_hashes, unique).sum()
                                         + (multiplicity == 2).sum()),
        "rate": float(copied.mean()), "holdout_rate": float(holdout_copied.mean()),
    }


# --- near copies ---------------------------------------------------------------------------
class FieldCodes:
    """Every field of a record as an integer, so that two values match exactly when their
    codes differ by at most 1: categories spaced 3 apart, numbers binned at the tolerance."""

    def __init__(self, train: pd.DataFrame, schema: DatasetSchema, columns: list[str]):
        self.columns = columns
        self.roles = {c: schema.column(c).role for c in columns}
        self.vocab, self.lows, self.spans = {}, {}, {}
        for name in columns:
            if self.roles[name] in CONTINUOUS:
                self.lows[name], self.spans[name], _ = value_range(train[name])
            else:
                seen = train[name].dropna().astype(str).unique()
                self.vocab[name] = {v: i for i, v in enumerate(seen)}

    def transform(self, df: pd.DataFrame) -> np.ndarray:
        """(len(df), n_fields) int64 codes."""
        out = np.empty((len(df), len(self.columns)), dtype="int64")
        for j, name in enumerate(self.columns):
            out[:, j] = (self._numeric(df[name], name) if self.roles[name] in CONTINUOUS
                         else self._discrete(df[name], name))
        return out

    def _discrete(self, series: pd.Series, name: str) -> np.ndarray:
        vocab = self.vocab[name]
        # values the training data lacks get codes of their own, none equal to a training one
        unseen = len(vocab) + pd.factorize(series.astype(str))[0]
        codes = series.astype(str).map(vocab).to_numpy(dtype="float64", na_value=np.nan)
        codes = np.where(np.isnan(codes), unseen, codes).astype("int64")
        codes[series.isna().to_numpy()] = -1
        return 3 * codes

    def _numeric(self, series: pd.Series, name: str) -> np.ndarray:
        values = column_values(series)
        missing = np.isnan(values)
        values = np.where(missing, self.lows[name], values)
        if self.roles[name] == Role.datetime:
            bins = (values - self.lows[name]) / (DATETIME_TOLERANCE * self.spans[name])
        else:
            # signed log scale: steps of the relative tolerance far from 0, linear near it
            floor = ABSOLUTE_TOLERANCE * self.spans[name] / NUMERIC_TOLERANCE
            bins = np.sign(values) * np.log1p(np.abs(values) / floor) / NUMERIC_TOLERANCE
        codes = np.floor(bins).astype("int64")
        codes[missing] = _MISSING_CODE
        return codes

    @staticmethod
    def onehot_fields(reference: np.ndarray) -> np.ndarray:
        """Fields whose matches one GEMM of one-hot codes counts: those of fewest distinct
        codes (flags, categories, small counts), as many as keep the product narrow."""
        sizes = np.array([len(np.unique(col)) for col in reference.T])
        chosen = np.zeros(len(sizes), dtype=bool)
        width = 0
        for f in np.argsort(sizes, kind="stable"):
            if width + sizes[f] > MAX_ONEHOT_WIDTH:
                break
            chosen[f], width = True, width + sizes[f]
        return chosen

    def mismatch_costs(self, allowed: int) -> np.ndarray:
        """What a differing field counts: a category 1; a number more than allowed (it must
        match) where the record has categories, else 1."""
        continuous = np.array([self.roles[c] in CONTINUOUS for c in self.columns])
        number = allowed + 1 if not continuous.all() else 1
        return np.where(continuous, number, 1)

    def exact_fields(self) -> np.ndarray:
        """Fields whose codes match only when equal (categories, spaced 3 apart)."""
        return np.array([self.roles[c] not in CONTINUOUS for c in self.columns], dtype=bool)

    def match_probability(self, codes: np.ndarray, seed: int) -> np.ndarray:
        """Chance that two random training rows match on each field (selective fields first)."""
        rng = np.random.default_rng(seed)
        a = codes[rng.integers(len(codes), size=2000)]
        b = codes[rng.integers(len(codes), size=2000)]
        return np.mean(np.abs(a - b) <= 1, axis=0)


class NearCopySearch:
    """Near-copy search against fixed reference rows; what serves every batch of queries is
    built once.

    Candidate pairs come from pigeonhole keys (`pigeonhole`) when they are selective enough,
    else from all pairs: the `discrete` fields (few distinct codes) are counted for every pair
    at once by a product of one-hot codes (BLAS). Either way only the pairs still within
    `allowed` are followed through the other fields, the most selective first, each dropped
    once it has too many."""

    def __init__(self, reference: np.ndarray, allowed: int, probability: np.ndarray,
                 discrete: np.ndarray, costs: np.ndarray, exact: np.ndarray):
        self.reference, self.allowed, self.costs = reference, allowed, costs
        self.discrete = discrete
        order = np.argsort(probability, kind="stable")
        self.rest = [f for f in order if not discrete[f]]
        self.order = order
        self.keys = PigeonholeKeys.plan(reference, allowed, costs, exact, probability)
        self.onehot = (_OneHot(reference[:, discrete], costs[discrete])
                       if discrete.any() and self.keys is None else None)

    def counts(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each query row and each k <= allowed, how many reference rows it matches on
        all but k fields, and which one where that is a single row (else -1): two
        (n_queries, allowed + 1) arrays, exact in the codes. A mismatch of field f costs
        costs[f]."""
        allowed = self.allowed
        counts = np.zeros((len(queries), allowed + 1), dtype="int64")
        pinned = np.full((len(queries), allowed + 1), -1, dtype="int64")
        step = KEYED_BLOCK if self.keys else max(1, BLOCK_ENTRIES // max(1, len(self.reference)))
        for start in range(0, len(queries), step):
            block = queries[start:start + step]
            rows, cols, left = (self._keyed_pairs(block) if self.keys
                                else self._scanned_pairs(block))
            for k in range(allowed + 1):
                within = left <= k
                n_within = np.bincount(rows[within], minlength=len(block))
                counts[start:start + len(block), k] = n_within
                alone = within & (n_within[rows] == 1)
                pinned[start + rows[alone], k] = cols[alone]
        return counts, pinned

    def _keyed_pairs(self, block: np.ndarray):
        """(query row, reference row, mismatch cost) of the pairs within `allowed`, from the
        candidates that share a pigeonhole key."""
        rows, cols = self.keys.candidates(block)
        return self._followed(block, rows, cols, np.zeros(len(rows), dtype="int16"),
                              self.order)

    def _scanned_pairs(self, block: np.ndarray):
        """The same, from every pair: one-hot counts of the discrete fields, then the rest."""
        if self.onehot is not None:
            rows, cols, left = self.onehot.pairs_within(block[:, self.discrete], self.allowed)
        else:
            rows, cols = np.indices((len(block), len(self.reference))).reshape(2, -1)
            left = np.zeros(len(rows), dtype="int16")
        return self._followed(block, rows, cols, left, self.rest)

    def _followed(self, block, rows, cols, left, fields):
        """The pairs whose mismatch cost over `fields`, added to `left`, stays within."""
        reference, allowed = self.reference, self.allowed
        for f in fields:
            left = left + self.costs[f] * (np.abs(block[rows, f] - reference[cols, f]) > 1)
            keep = left <= allowed
            rows, cols, left = rows[keep], cols[keep], left[keep]
        return rows, cols, left


class _OneHot:
    """Weighted mismatch counts of few-valued fields between query and reference rows via one
    GEMM: the reference one-hot carries each field's cost, and a query marks the codes within
    1 of its own, so the product sums the costs of the fields that match."""

    def __init__(self, reference: np.ndarray, costs: np.ndarray):
        self.costs = costs
        self.values = [np.unique(col) for col in reference.T]
        self.offsets = np.cumsum([0] + [len(v) for v in self.values])
        self.reference_t = np.ascontiguousarray(self._encode(reference, query=False).T)

    def _encode(self, codes: np.ndarray, query: bool) -> np.ndarray:
        out = np.zeros((len(codes), self.offsets[-1]), dtype="float32")
        rows = np.arange(len(codes))
        for j, values in enumerate(self.values):
            for shift in (-1, 0, 1) if query else (0,):
                wanted = codes[:, j] + shift
                position = np.minimum(np.searchsorted(values, wanted), len(values) - 1)
                seen = values[position] == wanted  # a value the reference lacks matches nothing
                weight = 1.0 if query else self.costs[j]
                out[rows[seen], self.offsets[j] + position[seen]] = weight
        return out

    def pairs_within(self, block: np.ndarray, allowed: int):
        """(query row, reference row, mismatch cost) of the pairs within `allowed`."""
        matches = self._encode(block, query=True) @ self.reference_t
        total = float(self.costs.sum())
        rows, cols = np.nonzero(matches > total - allowed - 0.5)
        left = (total - np.rint(matches[rows, cols])).astype("int16")
        return rows, cols, left


def near_copies(train, synthetic, holdout, schema, columns, seed: int,
                max_checked: int = MAX_NEAR_CHECKED) -> dict:
    """Checked synthetic rows (and holdout rows) that nearly copy an isolated training record:
    for k = 0 .. allowed differences, rows within k of exactly one training record, which
    itself has no other training record within k. A row near a record that others resemble
    describes a common profile, not a person; and a row that pins a record only because its
    own values are off the data's grid does not count unless that record stands alone."""
    codes = FieldCodes(train, schema, columns)
    reference = codes.transform(train)
    allowed = allowed_differences(len(columns))
    search = NearCopySearch(
        reference, allowed, codes.match_probability(reference, seed),
        codes.onehot_fields(reference), codes.mismatch_costs(allowed), codes.exact_fields())
    rng = np.random.default_rng(seed)
    pinned = {name: search.counts(codes.transform(frame.iloc[subsample(len(frame),
                                                                       max_checked, rng)]))[1]
              for name, frame in (("synthetic", synthetic), ("holdout", holdout))}
    records = np.unique(np.concatenate([p[p >= 0] for p in pinned.values()]))
    isolated = np.zeros((len(train), allowed + 1), dtype=bool)
    if len(records):
        # each record finds itself, so alone at distance k means a count of 1
        isolated[records] = search.counts(reference[records])[0] == 1
    levels = np.arange(allowed + 1)
    near = {name: (p >= 0) & isolated[np.maximum(p, 0), levels] for name, p in pinned.items()}
    syn, hold = near["synthetic"], near["holdout"]
    return {
        "allowed_differences": allowed,
        "n_checked": len(syn), "n_holdout_checked": len(hold),
        "n_near": [int(n) for n in syn.sum(axis=0)],
        "n_holdout_near": [int(n) for n in hold.sum(axis=0)],
        "rate": _share(syn.any(axis=1)), "holdout_rate": _share(hold.any(axis=1)),
    }


def _share(flags: np.ndarray) -> float:
    return float(flags.mean()) if len(flags) else 0.0


def subsample(n: int, cap: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of at most `cap` of n rows, drawn without replacement."""
    return np.arange(n) if n <= cap else np.sort(rng.choice(n, size=cap, replace=False))


# --- singling out --------------------------------------------------------------------------
def default_quasi_identifiers(train: pd.DataFrame, schema: DatasetSchema,
                              columns: list[str]) -> list[str]:
    """Columns with few distinct values (categories, flags, ages, counts): what an attacker
    knows of a person from elsewhere. Near-unique columns would make every record unique."""
    return [c for c in columns
            if schema.column(c).role != Role.datetime
            and train[c].nunique(dropna=False) <= QUASI_IDENTIFIER_MAX_VALUES]


def singling_out(train, synthetic, holdout, schema, quasi_identifiers: list[str]) -> dict:
    """Rows whose quasi-identifier combination is that of exactly one training record."""
    if not quasi_identifiers:
        return {"n_singled_out": 0, "n_synthetic": len(synthetic), "n_holdout_singled_out": 0,
                "n_holdout": len(holdout), "rate": 0.0, "holdout_rate": 0.0,
                "unique_training_share": 0.0, "quasi_identifiers": []}
    train_keys = pd.Series(row_hashes(train, schema, quasi_identifiers))
    counts = train_keys.value_counts()
    unique = counts.index[counts.to_numpy() == 1].to_numpy()
    hits = np.isin(row_hashes(synthetic, schema, quasi_identifiers), unique)
    holdout_hits = np.isin(row_hashes(holdout, schema, quasi_identifiers), unique)
    return {
        "n_singled_out": int(hits.sum()), "n_synthetic": len(synthetic),
        "n_holdout_singled_out": int(holdout_hits.sum()), "n_holdout": len(holdout),
        "rate": float(hits.mean()), "holdout_rate": float(holdout_hits.mean()),
        "unique_training_share": float(len(unique) / len(train)),
        "quasi_identifiers": list(quasi_identifiers),
    }
