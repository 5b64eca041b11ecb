"""One interface for every synthesizer, scikit-learn style.

`fit` and `sample` are template methods: subclasses implement `_fit` and `_sample` on the
modelled columns only; the base class seeds every generator, and turns the model's raw output
into the schema's table (ids regenerated, PII faked, dependencies enforced, dtypes cast), so
every model gets those guarantees the same way.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from contextlib import nullcontext
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from pipeline.errors import PipelineError
from pipeline.models import storage
from pipeline.models.relations.index_counters import (
    IndexCounter,
    find_counters,
    from_offsets,
    static_schema,
    to_offsets,
)
from pipeline.models.relations.table import FittedRelations, fit_relations
from pipeline.models.reproducibility import GLOBAL_RANDOM_STATE, library_versions, seed_everything
from pipeline.record_protection import REDRAW_ROUNDS, RecordProtection
from pipeline.schema import DatasetSchema, Role
from pipeline.value_protection import ValueProtection

log = logging.getLogger(__name__)

# Rows generated per chunk: about this many cells, within these bounds. Bounds memory for
# large n and keeps conditional rejection loops short; a narrow table takes more rows per
# chunk, so each chunk's fixed costs (per component, per column) are spread wider.
SAMPLE_CHUNK_CELLS = 4_000_000
SAMPLE_CHUNK_ROWS = (100_000, 250_000)
# A privacy retry protects values fewer than this many training rows hold (at least).
RETRY_PROTECT_RARE = 5


class Synthesizer(ABC):
    """Base class for all models. `__init__` stores parameters only."""

    name: ClassVar[str]
    # True: saved as plain arrays + JSON (models/plain), for models that are all our own data
    plain_artifact: ClassVar[bool] = False
    # True: fits and samples draw from the process-wide generators (SDV's models), so they
    # hold them from seeding to the last draw; our own models draw from their own rng
    uses_global_random_state: ClassVar[bool] = False

    def __init__(self, **params: Any) -> None:
        from pipeline.models import registry
        from pipeline.models.params import validated

        found = registry.entry(self.name)
        self.settings = validated(self.name, found.params, params)  # refused before any data
        self.params = params  # as given: the card and the artifact key name only these
        self.schema: DatasetSchema | None = None
        self.seed: int | None = None
        self.loss_history: list[dict[str, float]] = []
        self.fit_seconds: float | None = None
        self.source_fingerprint: str | None = None
        self.relations = FittedRelations()
        self.id_hashes: dict[str, np.ndarray] = {}  # training ids a synthetic id must avoid
        self.vocabularies: dict[str, Any] = {}  # text columns' common words (text_columns)
        self.missing_shares: dict[str, float] = {}  # text and PII columns' missing rows
        self.protection: ValueProtection | None = None  # rare training values (value_protection)
        self.record_protection: RecordProtection | None = None  # rare training records
        self.counters: list[IndexCounter] = []  # series columns counting with the index

    @property
    def supports_tabular(self) -> bool:
        from pipeline.models import registry

        return registry.entry(self.name).tabular

    @property
    def supports_time_series(self) -> bool:
        from pipeline.models import registry

        return registry.entry(self.name).time_series

    def avoid_ids(self, frame: pd.DataFrame) -> None:
        """No synthetic id may take one of `frame`'s either (the held-out rows' ids, which
        the fit never saw: a panel's few entity codes would otherwise recur)."""
        schema = self._fitted_schema()
        for column, hashes in training_id_hashes(frame, schema).items():
            self.id_hashes[column] = np.union1d(self.id_hashes.get(column, hashes), hashes)

    # --- the public contract ---------------------------------------------------------------
    def fit(self, train: pd.DataFrame, schema: DatasetSchema, seed: int = 0) -> Synthesizer:
        kind_ok = self.supports_time_series if schema.is_time_series else self.supports_tabular
        if not kind_ok:
            kind = "time-series" if schema.is_time_series else "tabular"
            raise PipelineError(
                f"model {self.name!r} does not support {kind} data; "
                f"choose one of {available_models(time_series=schema.is_time_series)}"
            )
        if train.empty:
            raise PipelineError("the training data has no rows; nothing to fit")
        self.schema, self.seed = schema, seed
        self.loss_history = []
        with self._random_state_held():
            seed_everything(seed)
            started = time.perf_counter()
            self.id_hashes = training_id_hashes(train, schema)
            self.vocabularies = text_vocabularies(train, schema)
            self.missing_shares = unmodelled_missing_shares(train, schema)
            self.protection = ValueProtection.fit(train, schema, self.settings.protect_rare)
            self.record_protection = RecordProtection.fit(train, schema,
                                                          self.settings.protect_rare)
            frame = train[self._fit_columns(schema)].copy()
            self.relations = self._fit_relations(frame, schema)
            self.counters = find_counters(frame, schema) if schema.is_time_series else []
            self._fit(self.relations.model_view(to_offsets(frame, schema, self.counters)),
                      self.relations.model_schema(static_schema(schema, self.counters)), seed)
        self.fit_seconds = round(time.perf_counter() - started, 3)
        log.info("%s fitted in %.1f s", self.name, self.fit_seconds)
        return self

    def sample(
        self, n: int, seed: int = 0, conditions: dict[str, Any] | None = None,
        id_start: int = 0,
    ) -> pd.DataFrame:
        """Exactly `n` rows (tabular) or `n` sequences (time series) in the schema's columns;
        ids are numbered from `id_start` (a shard's first row), so shards never share one."""
        schema = self._fitted_schema()
        if n < 0:
            raise PipelineError(f"cannot sample a negative number of rows ({n})")
        conditions = self._check_conditions(conditions or {}, schema)
        with self._random_state_held():
            return self._sample_seeded(n, seed, conditions, id_start, schema)

    def _sample_seeded(self, n: int, seed: int, conditions: dict[str, Any], id_start: int,
                       schema: DatasetSchema) -> pd.DataFrame:
        seed_everything(seed)
        rng = np.random.default_rng(seed)
        if schema.is_time_series:
            raw = from_offsets(self._sample(n, rng, conditions), schema, self.counters)
            out = finish_output(raw, schema, rng, self.vocabularies,
                                getattr(self, "missing_shares", {}), self.id_hashes)
            self._protect(out, rng, conditions)
            regenerate_ids(out, schema, self.id_hashes, id_start)
            return out
        chunks, remaining = [], n
        chunk_rows = int(np.clip(SAMPLE_CHUNK_CELLS // len(schema.columns), *SAMPLE_CHUNK_ROWS))
        while remaining > 0 or not chunks:
            size = min(remaining, chunk_rows)
            chunks.append(self._redraw_rare_records(
                self._draw_rows(size, rng, conditions, schema), rng, conditions, schema))
            remaining -= size
            if size == 0:
                break
        out = pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]
        regenerate_ids(out, schema, self.id_hashes, id_start)
        return out

    def _draw_rows(self, n: int, rng: np.random.Generator, conditions: dict[str, Any],
                   schema: DatasetSchema) -> pd.DataFrame:
        """n tabular rows through the model, its relations, the schema and value protection.
        Value protection cannot move a column in a relation without breaking it, so a row
        that takes such a column past its protected range (a one-off extreme) is drawn again,
        as many as REDRAW_ROUNDS rounds find."""
        rows = self._draw_once(n, rng, conditions, schema)
        outside = self._past_protected_range(rows, conditions)
        redrawn = int(outside.sum())
        for _ in range(REDRAW_ROUNDS):
            if not outside.any():
                break
            fresh = self._draw_once(int(outside.sum()), rng, conditions, schema)
            rows = pd.concat([rows[~outside], fresh], ignore_index=True)
            outside = self._past_protected_range(rows, conditions)
        if redrawn:
            log.info("%s: redrew %d rows past a related column's protected range (%d left)",
                     self.name, redrawn, int(outside.sum()))
        return rows

    def _draw_once(self, n: int, rng: np.random.Generator, conditions: dict[str, Any],
                   schema: DatasetSchema) -> pd.DataFrame:
        parts = self.relations.model_conditions(conditions, n, rng, schema.dependencies)
        drawn = [self._sample(size, rng, part) for size, part in parts]
        if len(drawn) > 1:  # one part per combination asked for: mixed, as drawn
            mixed = pd.concat(drawn, ignore_index=True)
            drawn = [mixed.iloc[rng.permutation(len(mixed))].reset_index(drop=True)]
        raw = self.relations.table_view(drawn[0], rng)
        rows = finish_output(raw, schema, rng, self.vocabularies,
                             getattr(self, "missing_shares", {}), self.id_hashes)
        if self.relations.read_off(rows, set(conditions)):
            from pipeline.postprocess import apply_dependencies

            apply_dependencies(rows, schema)  # a column read off may be a dependency's source
        self._protect(rows, rng, conditions)
        return rows

    def _past_protected_range(self, rows: pd.DataFrame, conditions: dict[str, Any]) -> np.ndarray:
        if self.protection is None:
            return np.zeros(len(rows), dtype=bool)
        past = self.protection.past_range(rows, self._related_columns() - set(conditions))
        mirrored = self._only_ordered_columns()
        for pair in self.relations.pairs:  # an order the mirroring broke (numbers only)
            if {pair.low, pair.high} & mirrored and {pair.low, pair.high} <= set(
                    self.protection.numeric):
                low, high = (pd.to_numeric(rows[c], errors="coerce").to_numpy(
                    dtype=float, na_value=np.nan) for c in (pair.low, pair.high))
                past |= low > high
        return past

    def _redraw_rare_records(self, rows: pd.DataFrame, rng: np.random.Generator,
                             conditions: dict[str, Any], schema: DatasetSchema) -> pd.DataFrame:
        """`rows` with the rows that equal a rare training record (`record_protection`),
        beyond real data's chance rate of that, replaced by fresh draws, as many as
        REDRAW_ROUNDS rounds find."""
        protection = getattr(self, "record_protection", None)  # models saved before it
        if protection is None or rows.empty:
            return rows
        hits = protection.rare_rows(rows, schema)
        keep = protection.kept_share(hits)
        dropped = hits & (rng.random(len(rows)) >= keep)
        if not dropped.any():
            return rows
        kept, left = [rows[~dropped]], rows[dropped]
        for _ in range(REDRAW_ROUNDS):
            fresh = self._draw_rows(len(left), rng, conditions, schema)
            again = protection.rare_rows(fresh, schema) & (rng.random(len(fresh)) >= keep)
            kept.append(fresh[~again])
            left = fresh[again]
            if left.empty:
                break
        log.info("%s: redrew %d rows equal to a rare training record (%d left)", self.name,
                 int(dropped.sum()), len(left))
        return pd.concat([*kept, left], ignore_index=True)

    def _random_state_held(self):
        """The process-wide generators, held from seeding to the last draw by a model that
        draws from them, so shards or fits on threads of one process never interleave."""
        return GLOBAL_RANDOM_STATE if self.uses_global_random_state else nullcontext()

    def save(self, directory: Path) -> Path:
        """Write the fitted model and its card; nothing in it needs this process to reload."""
        self._fitted_schema()
        return storage.write_model(self, Path(directory), self.card(), self.plain_artifact)

    @staticmethod
    def load(directory: Path) -> Synthesizer:
        model = storage.read_model(Path(directory))
        if not isinstance(model, Synthesizer):
            raise PipelineError(f"{directory} does not hold a synthesizer")
        return model

    def _protect(self, out: pd.DataFrame, rng: np.random.Generator,
                 conditions: dict[str, Any]) -> None:
        if self.protection is not None:
            keep = set(conditions) | self._related_columns()
            changed = self.protection.apply(out, rng, keep=keep)
            # a column only in orders is mirrored inside its range too; a row whose order
            # that breaks is drawn again (_past_protected_range)
            moved = self.protection.mirror(out, self._only_ordered_columns() - set(conditions))
            changed = {c: changed.get(c, 0) + moved.get(c, 0) for c in sorted({*changed, *moved})}
            if changed:
                log.info("%s: protected %d rare values (%s)", self.name, sum(changed.values()),
                         ", ".join(f"{c} {n}" for c, n in changed.items()))

    def _only_ordered_columns(self) -> set[str]:
        """Columns of ordered pairs in no other relation: moving one keeps every other rule."""
        ordered = {c for p in self.relations.pairs for c in (p.low, p.high)}
        return ordered - self._columns_in_rules() if ordered else set()

    def _related_columns(self) -> set[str]:
        """Columns in a relation the output keeps (orders, derived columns, dependencies):
        value protection leaves them alone, since moving one value would break its rule."""
        return {c for p in self.relations.pairs for c in (p.low, p.high)} | (
            self._columns_in_rules())

    def _columns_in_rules(self) -> set[str]:
        """Columns in the table's relations other than orders."""
        related = {c for d in self.relations.derived for c in (d.column, *d.inputs)}
        related |= {c for g in self.relations.choices for c in g.columns}
        related |= {c for g in self.relations.combinations for c in g.columns}
        related |= {c for rule in self.relations.read_off_rules for c in rule.columns}
        related |= {c.column for c in self.counters}
        if self.schema is not None:
            related |= {c for d in self.schema.dependencies for c in (d.source, d.target)}
        return related

    def more_private_params(self) -> dict[str, Any] | None:
        """Parameters for a second, more private fit after this one failed a privacy bound:
        the model's own more private setting (`_more_private`: the fitted model knows what it
        chose) and a tighter value protection; None if neither can be tightened."""
        own = self._more_private() or {}
        protect = max(RETRY_PROTECT_RARE, 2 * self.settings.protect_rare)
        if not own and protect <= self.settings.protect_rare:
            return None
        return {**self.params, **own, "protect_rare": protect}

    def _more_private(self) -> dict[str, Any] | None:
        """This model's parameter changes for a more private fit; None: it has none."""
        return None

    def card(self) -> dict[str, Any]:
        return {
            "model": self.name,
            "parameters": self.params,
            "seed": self.seed,
            "source_fingerprint": self.source_fingerprint,
            "fit_seconds": self.fit_seconds,
            "library_versions": library_versions(),
            "loss_history": self.loss_history,
            "schema": self.schema.name if self.schema else None,
            "relations": self.relations.describe(),
        }

    # --- for subclasses ------------------------------------------------------------------
    @abstractmethod
    def _fit(self, train: pd.DataFrame, schema: DatasetSchema, seed: int) -> None:
        """Fit on `train`, which holds only the modelled columns (see `_fit_columns`)."""

    @abstractmethod
    def _sample(self, n: int, rng: np.random.Generator, conditions: dict[str, Any]) -> pd.DataFrame:
        """Return n rows of the modelled columns that satisfy `conditions` exactly."""

    def _fit_columns(self, schema: DatasetSchema) -> list[str]:
        return schema.modelled_columns()

    def _fit_relations(self, frame: pd.DataFrame, schema: DatasetSchema) -> FittedRelations:
        """The schema's relations around a tabular fit; a series model keeps its own, which
        must run inside its step loop."""
        if schema.is_time_series:
            return FittedRelations()
        decimals = {c.name: 0 if c.integer else c.decimals for c in schema.columns
                    if c.role == Role.numerical and (c.integer or c.decimals is not None)}
        return fit_relations(frame, schema.relations, schema.dependency_targets(),
                             rare=self.settings.protect_rare, decimals=decimals)

    # --- helpers -------------------------------------------------------------------------
    def _fitted_schema(self) -> DatasetSchema:
        if self.schema is None:
            raise PipelineError(f"model {self.name!r} is not fitted; call fit() first")
        return self.schema

    @staticmethod
    def _check_conditions(conditions: dict[str, Any], schema: DatasetSchema) -> dict[str, Any]:
        for column, value in conditions.items():
            if column not in schema.names():
                raise PipelineError(
                    f"condition on unknown column {column!r}; columns are {schema.names()}"
                )
            spec = schema.column(column)
            if spec.role == Role.categorical:
                if str(value) not in {str(c) for c in spec.categories or []}:
                    raise PipelineError(
                        f"condition {column}={value!r} is impossible: the schema's categories "
                        f"for {column!r} are {spec.categories}"
                    )
            elif spec.role == Role.boolean:
                if not isinstance(value, (bool, np.bool_)):
                    raise PipelineError(f"condition {column}={value!r}: give True or False")
            else:
                raise PipelineError(
                    f"conditions are supported on categorical and boolean columns; "
                    f"{column!r} is {spec.role.value}"
                )
        return conditions


def finish_output(
    raw: pd.DataFrame, schema: DatasetSchema, rng: np.random.Generator,
    vocabularies: dict[str, Any] | None = None, missing_shares: dict[str, float] | None = None,
    avoid: dict[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Turn a model's raw modelled columns into the schema's full table; no personal value
    hashed in `avoid` (a training value) is written."""
    from pipeline.postprocess import complete_to_schema

    return complete_to_schema(raw, schema, rng, vocabularies, missing_shares, avoid)


def regenerate_ids(df: pd.DataFrame, schema: DatasetSchema,
                   avoid: dict[str, np.ndarray], start: int) -> None:
    from pipeline.postprocess import fill_ids

    fill_ids(df, schema, start=start, avoid=avoid)


def unmodelled_missing_shares(train: pd.DataFrame, schema: DatasetSchema) -> dict[str, float]:
    """How often each free-text or PII column is missing, so output is missing as often:
    no model learns these columns, and their replacement values never are."""
    found = {c.name: float(train[c.name].isna().mean()) for c in schema.columns
             if c.role in (Role.text, Role.pii) and not c.empty and c.name in train.columns}
    return {name: share for name, share in found.items() if share > 0}


def text_vocabularies(train: pd.DataFrame, schema: DatasetSchema) -> dict[str, Any]:
    """Each free-text column's common words and each e-mail column's common domains, so
    their output resembles them (text_columns)."""
    from pipeline.text_columns import learn_email_domains, learn_text

    found = {c.name: learn_text(train[c.name])
             if c.role == Role.text
             else learn_email_domains(train[c.name]) for c in schema.columns
             if (c.role == Role.text or c.pii_kind == "email") and not c.empty
             and c.name in train.columns}
    return {name: vocabulary for name, vocabulary in found.items() if vocabulary}


def training_id_hashes(train: pd.DataFrame, schema: DatasetSchema) -> dict[str, np.ndarray]:
    """Hashes of the training values of each patterned id and personal column (the values
    themselves are not kept), so that no synthetic id or fake name repeats a real one."""
    from pipeline.ids import hash_ids

    return {c.name: np.unique(hash_ids(train[c.name].dropna())) for c in schema.columns
            if ((c.role == Role.id and c.id_pattern) or c.role == Role.pii)
            and c.name in train.columns}


def available_models(time_series: bool | None = None) -> list[str]:
    from pipeline.models import registry

    return registry.names(time_series=time_series)
