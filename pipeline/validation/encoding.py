"""Numeric encodings of mixed-type frames, shared by the fidelity and privacy metrics.

Three views of the same modelled columns:
- `column_values` / `discrete_codes`: per-column arrays for the statistical comparisons;
- `ModelEncoder`: a feature matrix for scikit-learn's HistGradientBoosting (native categoricals);
- `DistanceEncoder`: a vector space in which the squared Euclidean distance between two records
  is a Gower-like mixed-type distance, so nearest neighbours can be found with BLAS.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline.errors import PipelineError
from pipeline.schema import DatasetSchema, Role

CONTINUOUS = (Role.numerical, Role.datetime)
DISCRETE = (Role.categorical, Role.boolean)
# HistGradientBoosting accepts at most 255 bins per feature; one code is kept for "other".
MAX_MODEL_CATEGORIES = 250
# Entries in one block of the (queries x reference) score matrix: 32 MB of float32.
BLOCK_ENTRIES = 8_000_000
# Squared distances closer than this are one distance (float64 rounding is ~1e-15 here).
TIE_TOLERANCE = 1e-9


def compared_columns(schema: DatasetSchema, *frames: pd.DataFrame) -> list[str]:
    """The schema's modelled columns, checked to be present in every frame."""
    columns = schema.modelled_columns()
    if not columns:
        raise PipelineError(
            f"schema {schema.name!r} has no modelled columns, so there is nothing to validate; "
            "mark at least one column numerical, categorical, boolean or datetime"
        )
    for frame in frames:
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise PipelineError(
                f"a frame to validate lacks the modelled columns {missing} of schema "
                f"{schema.name!r}; pass data cast with the same schema"
            )
        if frame.empty:
            raise PipelineError(
                f"a frame to validate against schema {schema.name!r} has no rows; "
                "validation needs real and synthetic rows"
            )
    return columns


def personal_columns(schema: DatasetSchema, *frames: pd.DataFrame) -> list[str]:
    """The compared columns that describe a record, for the privacy tests."""
    # The time index is shared by every entity (everyone has a 2013-03-01 09:00 reading): it
    # is no personal attribute, and with a sequence-tail holdout it would make holdout rows
    # look far from everything for reasons of calendar alone.
    return [c for c in compared_columns(schema, *frames) if c != schema.sequence_index]


def column_values(series: pd.Series) -> np.ndarray:
    """Continuous or boolean values as float64 with NaN for missing (datetimes in ns)."""
    if pd.api.types.is_datetime64_any_dtype(series):
        ns = series.to_numpy(dtype="datetime64[ns]").astype("int64").astype("float64")
        ns[series.isna().to_numpy()] = np.nan
        return ns
    values = pd.to_numeric(series, errors="coerce").astype("float64").to_numpy(na_value=np.nan)
    # One bit pattern for NaN and for zero, so that hashing sees equal values as equal.
    values = values + 0.0
    values[np.isnan(values)] = np.nan
    return values


def discrete_codes(*series: pd.Series) -> tuple[list[np.ndarray], int]:
    """Codes over one shared vocabulary for several series; missing is a code of its own.

    Returns the code arrays and the vocabulary size (the missing code is size - 1).
    """
    joined = pd.concat([s.reset_index(drop=True) for s in series], ignore_index=True)
    codes, uniques = pd.factorize(joined, use_na_sentinel=True)
    na_code = len(uniques)
    codes = np.where(codes < 0, na_code, codes)
    out, start = [], 0
    for s in series:
        out.append(codes[start : start + len(s)])
        start += len(s)
    return out, na_code + 1


def value_range(series: pd.Series) -> tuple[float, float, float]:
    """(minimum, span, median) of a continuous column's present values; span 1 when there is
    none to measure, so scaling by it never divides by 0."""
    values = column_values(series)
    present = values[~np.isnan(values)]
    if not len(present):
        return 0.0, 1.0, 0.0
    low, span = float(present.min()), float(present.max() - present.min())
    return low, span if span > 0 else 1.0, float(np.median(present))


def canonical_frame(df: pd.DataFrame, schema: DatasetSchema, columns: list[str]) -> pd.DataFrame:
    """One representation per value (floats, numbers to the schema's decimals, or strings
    with None), so equal rows hash equal."""
    out = {}
    for name in columns:
        spec = schema.column(name)
        if spec.role == Role.numerical:
            out[name] = spec.as_written(column_values(df[name])) + 0.0  # -0.0 hashes as 0.0
        elif spec.role in CONTINUOUS or spec.role == Role.boolean:
            out[name] = column_values(df[name])
        else:
            col = df[name]
            out[name] = np.where(col.isna().to_numpy(), None, col.astype(str).to_numpy())
    return pd.DataFrame(out)


# --- classifier features --------------------------------------------------------------------
@dataclass
class ModelEncoder:
    """Features for HistGradientBoosting: floats for continuous, integer codes for discrete."""

    columns: list[str]
    roles: dict[str, Role]
    vocab: dict[str, dict[str, int]] = field(default_factory=dict)

    @classmethod
    def fit(cls, df: pd.DataFrame, schema: DatasetSchema, columns: list[str]) -> ModelEncoder:
        enc = cls(columns=columns, roles={c: schema.column(c).role for c in columns})
        for name in columns:
            if enc.roles[name] in DISCRETE:
                counts = df[name].dropna().astype(str).value_counts()
                kept = counts.index[:MAX_MODEL_CATEGORIES]
                enc.vocab[name] = {value: i for i, value in enumerate(kept)}
        return enc

    @property
    def categorical_mask(self) -> np.ndarray:
        return np.array([self.roles[c] in DISCRETE for c in self.columns])

    def transform(self, df: pd.DataFrame) -> np.ndarray:
        out = np.empty((len(df), len(self.columns)), dtype="float64")
        for j, name in enumerate(self.columns):
            if self.roles[name] in DISCRETE:
                vocab = self.vocab[name]
                other = float(len(vocab))  # categories the fit data lacked or cut as rare
                col = df[name]
                mapped = col.astype(str).map(vocab).astype("float64").fillna(other)
                mapped[col.isna().to_numpy()] = np.nan
                out[:, j] = mapped.to_numpy()
            else:
                out[:, j] = column_values(df[name])
        return out


def single_threaded():
    """One OpenMP thread for HistGradientBoosting, whose spinning threads slow to a crawl when
    other work shares the cores (the flow validates several models at once)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="openmp")


# --- mixed-type distance --------------------------------------------------------------------
@dataclass
class DistanceEncoder:
    """Embed records so that squared Euclidean distance is a mixed-type distance.

    Per column, the contribution to the squared distance between two records is:
    - continuous (numbers, datetimes): ((x - y) / training range) ** 2, at most 1 inside the
      training range; if exactly one of the two is missing, 1 more for the mismatch (the
      missing value itself sits at the training median);
    - categorical / boolean: 1 if the values differ, 0 if equal; missing is a value of its own,
      and a category the training data lacks an "other" value.
    So an exact copy is at distance 0 and each differing discrete column adds exactly 1.
    """

    columns: list[str]
    roles: dict[str, Role]
    lows: dict[str, float] = field(default_factory=dict)
    scales: dict[str, float] = field(default_factory=dict)
    fills: dict[str, float] = field(default_factory=dict)
    vocab: dict[str, dict[str, int]] = field(default_factory=dict)
    blocks: dict[str, slice] = field(default_factory=dict)
    width: int = 0
    center: np.ndarray | None = None

    @classmethod
    def fit(cls, df: pd.DataFrame, schema: DatasetSchema, columns: list[str],
            check_width=None) -> DistanceEncoder:
        """`check_width(encoder)`, if given, runs once the width is known and before any
        row is embedded (a caller's memory limit)."""
        enc = cls(columns=columns, roles={c: schema.column(c).role for c in columns})
        start = 0
        for name in columns:
            if enc.roles[name] in CONTINUOUS:
                enc.lows[name], enc.scales[name], median = value_range(df[name])
                enc.fills[name] = (median - enc.lows[name]) / enc.scales[name]
                width = 2  # scaled value, missing indicator
            else:
                seen = df[name].dropna().astype(str).unique().tolist()
                listed = [str(c) for c in (schema.column(name).categories or [])]
                values = list(dict.fromkeys(listed + sorted(seen)))
                enc.vocab[name] = {v: i for i, v in enumerate(values)}
                width = len(values) + 2  # categories, "other", missing
            enc.blocks[name] = slice(start, start + width)
            start += width
        enc.width = start
        if check_width is not None:
            check_width(enc)
        # Centring changes no distance but shrinks the norms, and with them float32 rounding.
        enc.center = enc.transform(df).mean(axis=0)
        return enc

    def transform(self, df: pd.DataFrame) -> np.ndarray:
        """Embedded rows, (len(df), width), float64."""
        out = np.zeros((len(df), self.width), dtype="float64")
        rows = np.arange(len(df))
        for name in self.columns:
            block = self.blocks[name]
            if self.roles[name] in CONTINUOUS:
                values = (column_values(df[name]) - self.lows[name]) / self.scales[name]
                missing = np.isnan(values)
                out[:, block.start] = np.where(missing, self.fills[name], values)
                out[:, block.start + 1] = missing
            else:
                codes = self.discrete_codes(df[name])
                # Two one-hot coordinates differ on a mismatch: sqrt(0.5) each gives 1 in total.
                out[rows, block.start + codes] = np.sqrt(0.5)
        return out if self.center is None else out - self.center

    def discrete_codes(self, series: pd.Series) -> np.ndarray:
        """Vocabulary index, len(vocab) for "other", len(vocab) + 1 for missing."""
        vocab = self.vocab[series.name]
        codes = series.astype(str).map(vocab).fillna(len(vocab)).to_numpy(dtype="int64")
        codes[series.isna().to_numpy()] = len(vocab) + 1
        return codes

    def dims(self, columns: list[str]) -> np.ndarray:
        """Indices of the embedding coordinates that belong to `columns`."""
        return np.concatenate([np.arange(self.width)[self.blocks[c]] for c in columns]
                              + [np.empty(0, dtype="int64")])


# --- exact nearest-neighbour search ----------------------------------------------------------
# Brute force, because it is exact (a tree over one-hot data prunes little) and a GEMM is fast:
# argmin_j |q - r_j|^2 = argmin_j (|r_j|^2 - 2 q.r_j), one product of the augmented vectors
# [-2q, 1] and [r, |r|^2]. The search runs in float32 (twice the speed, half the memory);
# only rows within ~1e-6 in squared distance can swap order, and every reported distance is
# recomputed in float64 from the coordinates, so an exact copy gets exactly 0.


def _augmented(x: np.ndarray, query: bool) -> np.ndarray:
    extra = np.ones(len(x)) if query else np.einsum("ij,ij->i", x, x)
    return np.column_stack([-2.0 * x if query else x, extra]).astype("float32")


def _row_blocks(n_queries: int, n_reference: int):
    step = max(1, BLOCK_ENTRIES // max(1, n_reference))
    for start in range(0, n_queries, step):
        yield slice(start, min(start + step, n_queries))


def nearest_indices(queries: np.ndarray, reference: np.ndarray, k: int = 1) -> np.ndarray:
    """Indices of the k nearest reference rows of every query row, shape (n, k), in float32
    (rows nearer than its rounding may swap; `nearest_with_ties` is exact)."""
    k = min(k, len(reference))
    q, r = _augmented(queries, True), _augmented(reference, False)
    idx = np.empty((len(queries), k), dtype="int64")
    for rows in _row_blocks(len(q), len(r)):
        score = q[rows] @ r.T
        for j in range(k):
            idx[rows, j] = np.argmin(score, axis=1)
            if j + 1 < k:
                score[np.arange(len(score)), idx[rows, j]] = np.inf
    return idx


def nearest_index_per_view(
    queries: np.ndarray, reference: np.ndarray, hidden: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """For each view, the nearest reference row when the coordinates `hidden[view]` are
    unknown: the full score minus the hidden coordinates' part, so views share one GEMM."""
    q, r = _augmented(queries, query=True), _augmented(reference, query=False)
    parts = {
        view: (_augmented(queries[:, dims], query=True), _augmented(reference[:, dims], False))
        for view, dims in hidden.items()
    }
    found = {view: np.empty(len(queries), dtype="int64") for view in hidden}
    for rows in _row_blocks(len(q), len(r)):
        full = q[rows] @ r.T
        for view, (q_hidden, r_hidden) in parts.items():
            score = q_hidden[rows] @ r_hidden.T
            np.subtract(full, score, out=score)
            found[view][rows] = np.argmin(score, axis=1)
    return found


def nearest_with_ties(queries: np.ndarray, reference: np.ndarray, k: int = 1):
    """Indices of the k nearest reference rows (n, k), and how many reference rows share the
    nearest distance (n,), both exact: a tie between a training and a holdout record must be
    split by their numbers.

    The float32 product finds, per query, every reference row that float32's rounding could
    place among the k nearest (`_float32_reach`); only those are measured again in float64
    from the coordinates, where equal records give equal distances.
    """
    k = min(k, len(reference))
    q, r = _augmented(queries, True), _augmented(reference, False)
    reach = _float32_reach(queries, reference)
    idx = np.empty((len(queries), k), dtype="int64")
    ties = np.empty(len(queries), dtype="int64")
    for rows in _row_blocks(len(q), len(r)):
        found, cols = _candidates(q[rows] @ r.T, k, reach[rows])
        d2 = _pair_distances(queries[rows], reference, found, cols)
        order = np.lexsort((cols, d2, found))  # per query, nearest first
        found, cols, d2 = found[order], cols[order], d2[order]
        first = np.searchsorted(found, np.arange(rows.stop - rows.start))
        for j in range(k):
            idx[rows, j] = cols[first + j]
        tied = d2 <= d2[first][found] + TIE_TOLERANCE
        ties[rows] = np.bincount(found[tied], minlength=rows.stop - rows.start)
    return idx, ties


def _candidates(score: np.ndarray, k: int, reach: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(query, reference) pairs whose float32 score is within `reach` of the query's k-th
    smallest: the k smallest themselves, found by argmin, and only for the queries that
    have more the pairs a full scan of their row finds (a scan of every row costs as much
    as the product)."""
    n = len(score)
    rows = np.arange(n)
    nearest = []
    for _ in range(k):
        nearest.append(score.argmin(axis=1))
        kth = score[rows, nearest[-1]]
        score[rows, nearest[-1]] = np.inf
    bound = kth + reach
    crowded = np.count_nonzero(score <= bound[:, None], axis=1) > 0
    plain = ~crowded
    found = [np.repeat(rows[plain], k)]
    cols = [np.column_stack(nearest)[plain].reshape(-1)]
    if crowded.any():
        for j in nearest:  # the k smallest back in place for the full scan
            score[rows[crowded], j[crowded]] = -np.inf
        extra_rows, extra_cols = np.nonzero(score[crowded] <= bound[crowded, None])
        found.append(rows[crowded][extra_rows])
        cols.append(extra_cols)
    return np.concatenate(found), np.concatenate(cols)


def _float32_reach(queries: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(n,) twice a bound on the float32 error of each query's scores: a reference row whose
    float32 score is within this of the k-th smallest may be among the k nearest. The bound
    is the standard one for a dot product of this width, with a factor 2 to spare."""
    width = queries.shape[1] + 1
    size = np.einsum("ij,ij->i", queries, queries) + (
        np.einsum("ij,ij->i", reference, reference).max() if len(reference) else 0.0)
    return 2 * (width + 2) * 2.0**-23 * (1.0 + 2.0 * size)


# Query-reference pairs measured in one float64 batch (pairs x width doubles).
PAIR_BATCH = 200_000


def _pair_distances(queries: np.ndarray, reference: np.ndarray, found: np.ndarray,
                    cols: np.ndarray) -> np.ndarray:
    """Exact float64 squared distances of the pairs (queries[found], reference[cols])."""
    out = np.empty(len(found))
    for start in range(0, len(found), PAIR_BATCH):
        part = slice(start, start + PAIR_BATCH)
        diff = queries[found[part]] - reference[cols[part]]
        out[part] = np.einsum("ij,ij->i", diff, diff)
    return out


def exact_distances(queries: np.ndarray, reference: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """float64 distances from each query row to the reference rows idx[i], sorted ascending."""
    diff = queries[:, None, :] - reference[idx]
    return np.sort(np.sqrt(np.einsum("ijk,ijk->ij", diff, diff)), axis=1)
