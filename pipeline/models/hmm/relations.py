"""The column relations the HMM keeps by construction (`pipeline.models.relations`): found on
the training table around the codec, and applied to the sampled steps."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline.models.hmm.codec import Codec, numbers
from pipeline.models.relations.coupled_values import CoupledValue, find_coupled_values
from pipeline.models.relations.derived import DerivedColumn, find_derived
from pipeline.models.relations.ordered_pairs import OrderedPair, find_ordered_pairs
from pipeline.models.relations.table import NamedDerived, fit_derived
from pipeline.models.relations.value_grids import find_value_grids, snap
from pipeline.schema import DatasetSchema, Role
from pipeline.timeseries import sequence_ids

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Total:
    """A column that is the total of its parts, set again from the parts' final values (after
    they are snapped onto their grids), so the sum holds on every published row."""

    named: NamedDerived  # the total and its parts, refitted by name on the real rows

    @property
    def column(self) -> str:
        return self.named.column

    def apply(self, frame: pd.DataFrame, upper: np.ndarray | None = None) -> pd.DataFrame:
        """Parts inside their real ranges, then the total; where it would pass its real range
        or `upper` (an order it keeps), non-negative parts are scaled to meet it."""
        named, zeros = self.named, np.zeros(len(frame))
        named.clip_inputs(frame)
        parts = frame[list(named.inputs)].to_numpy(dtype=float, na_value=np.nan)
        total = named.predict(parts, zeros)
        high = named.fit.high if upper is None else np.minimum(named.fit.high, upper)
        target = np.clip(total, named.fit.low, high)
        scale = (target != total) & (parts >= 0).all(1) & (total > 0)
        if scale.any():
            parts[scale] *= (target[scale] / total[scale])[:, None]
            for j, name in enumerate(named.inputs):
                frame[name] = parts[:, j]
            total = named.predict(parts, zeros)
        frame[named.column] = total
        return frame


@dataclass(frozen=True)
class Relations:
    pairs: list[OrderedPair]  # modelled as the gap, restored after sampling
    couplings: list[CoupledValue]  # set by their rule, unobserved for the chain there
    derived: list[DerivedColumn]  # recomputed from other numeric columns at every step
    grids: dict[str, np.ndarray]  # real values sampled ones are snapped onto, in that order
    # pairs whose gap would move more than the column it replaces: modelled freely, and the
    # low column clipped under the high one after sampling
    clipped: list[OrderedPair] = field(default_factory=list)
    totals: list[Total] = field(default_factory=list)  # derived totals, set last


def varying_numeric(ordered: pd.DataFrame, schema: DatasetSchema) -> list[str]:
    """The plain numeric columns that vary within a sequence: candidates for relations."""
    return [
        c.name for c in schema.columns
        if c.name in ordered.columns and c.role == Role.numerical and not c.static
        and not c.derived_from_index and c.name != schema.sequence_index
    ]


# A pair is modelled as its gap only if the gap does not move much more from step to step than
# the column it replaces: a small investment under a firm's jumpy market value would be
# rebuilt from the value's jumps.
MAX_STEP_GROWTH = 2.0


def find_pairs(
    ordered: pd.DataFrame, schema: DatasetSchema
) -> tuple[list[OrderedPair], list[OrderedPair]]:
    """(pairs modelled as their gap, pairs only clipped into order after sampling)."""
    seq = sequence_ids(ordered, schema)
    pairs, clipped = [], []
    for pair in find_ordered_pairs(ordered, varying_numeric(ordered, schema)):
        steady = (_step_sd(pair.to_gap(ordered)[pair.gap_column], seq)
                  <= MAX_STEP_GROWTH * _step_sd(ordered[pair.gap_column], seq))
        (pairs if steady else clipped).append(pair)
    for pair in pairs:
        log.info(
            "hmm: %s <= %s on every row: %s is modelled as the gap", pair.low, pair.high,
            pair.gap_column,
        )
    return pairs, clipped


def _step_sd(values: pd.Series, seq: np.ndarray) -> float:
    """Standard deviation of a column's changes between consecutive steps of a sequence."""
    x = values.to_numpy(dtype=float)
    same = seq[1:] == seq[:-1]
    steps = (x[1:] - x[:-1])[same]
    steps = steps[np.isfinite(steps)]
    return float(np.std(steps)) if len(steps) > 1 else np.inf


def find_couplings(
    ordered: pd.DataFrame, schema: DatasetSchema, first: np.ndarray, pairs: list[OrderedPair]
) -> list[CoupledValue]:
    """Coupled values among the columns other than gaps: `ordered` holds gaps where the
    output holds values, and the rule is applied to the output."""
    gaps = {p.gap_column for p in pairs}
    columns = [c for c in varying_numeric(ordered, schema) if c not in gaps]
    couplings = find_coupled_values(ordered, columns, first)
    for c in couplings:
        log.info(
            "hmm: %s is %g exactly where %s is %g: set by that rule, not modelled there",
            c.column, c.value, c.partner, c.partner_value,
        )
    return couplings


def value_grids(
    real: pd.DataFrame, columns: list[str], pairs: list[OrderedPair],
    hidden: dict[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """Grids of the numeric `columns` on the real values, leaving out the rows a rule sets
    (`hidden`, row-aligned with `real`); gap columns last, since each is snapped inside the
    bound of its anchor, which must be final."""
    gaps = {p.gap_column for p in pairs}
    order = sorted(columns, key=lambda name: (name in gaps, name))
    return find_value_grids(real, order, hidden)


# A derived column is recomputed with fresh noise at every step: kept only where that noise is
# a small share of the column's variation within a sequence. A relation that holds across
# entities (a state's capital stock from its output, R^2 0.999 over 48 states) but leaves a
# residual as large as a state's own changes would turn its smooth path into noise.
MAX_NOISE_SHARE = 0.05


def _noise_share(target: np.ndarray, first: np.ndarray, residual_sd: float) -> float:
    """The fit's residual variance over the target's variance within a typical sequence."""
    seq = np.cumsum(first)
    within = pd.Series(target).groupby(seq).var().median()
    if not np.isfinite(within) or within <= 0:
        return 0.0  # one step per sequence: nothing within to spoil
    return float(residual_sd**2 / within)


def derived_columns(
    ordered: pd.DataFrame, codec: Codec, first: np.ndarray
) -> list[DerivedColumn]:
    """Varying numeric columns that are a cubic function of others in the same row.

    Candidates are the plain numeric columns (no point masses, not datetimes); the rest have
    tokens the function would not reproduce."""
    columns = codec.numeric
    values = np.column_stack(
        [numbers(ordered[col.name], col.is_datetime) for col in columns]
    ) if columns else np.zeros((len(ordered), 0))
    candidates = [
        j for j, col in enumerate(columns) if not col.is_datetime and not len(col.spikes)
    ]
    before = np.vstack([np.full((1, values.shape[1]), np.nan), values[:-1]])
    before[first] = np.nan
    with np.errstate(divide="ignore", invalid="ignore"):  # a constant column: NaN, quietly
        persistence = np.array([pd.Series(values[:, j]).corr(pd.Series(before[:, j]))
                                for j in range(values.shape[1])])
    derived = [
        fit for fit in find_derived(values, candidates, np.nan_to_num(persistence, nan=1.0))
        if _noise_share(values[:, fit.target], first, fit.residual_sd) <= MAX_NOISE_SHARE
    ]
    for fit in derived:
        log.info(
            "hmm: %s is recomputed from %s (R^2 %.4f), not modelled on its own",
            columns[fit.target].name, [columns[j].name for j in fit.inputs], fit.r2,
        )
    return derived


def fit_totals(
    real: pd.DataFrame, derived: list[DerivedColumn], codec: Codec, pairs: list[OrderedPair]
) -> list[Total]:
    """The derived totals, refitted by name on the real rows; not where a part or the total
    is modelled as a gap (its values are then another column's offset)."""
    gaps = {p.gap_column for p in pairs}
    out = []
    for fit in (f for f in derived if f.is_total):
        columns = [codec.numeric[j].name for j in (fit.target, *fit.inputs)]
        named = None if gaps & set(columns) else fit_derived(real, columns)
        if named is not None:
            out.append(Total(named))
    return out


def restore(frame: pd.DataFrame, relations: Relations) -> pd.DataFrame:
    """Sampled steps with the gaps turned back into values, values snapped onto their grids
    and coupled values set by their rules."""
    for pair in relations.pairs:
        frame = pair.from_gap(frame)
    for name, grid in relations.grids.items():
        bounds = {}
        for pair in relations.pairs:  # a snapped gap column keeps its pair's order
            if pair.gap_column == name:
                side = "high" if name == pair.low else "low"
                bounds[side] = frame[pair.anchor].to_numpy(dtype=float)
        frame[name] = snap(frame[name].to_numpy(dtype=float), grid, **bounds)
    for coupling in relations.couplings:
        frame = coupling.apply(frame)
    totals = {total.column for total in relations.totals}
    # orders after snapping, which must not undo them (missing stays missing); the parts'
    # orders before their totals are summed, a total's own order after
    for pair in (p for p in relations.clipped if p.low not in totals):
        _clip_under(frame, pair)
    for total in relations.totals:  # kept under the high side of an order it is the low of
        above = [frame[p.high].to_numpy(dtype=float) for p in relations.clipped
                 if p.low == total.column]
        frame = total.apply(frame, np.fmin.reduce(above) if above else None)
    for pair in (p for p in relations.clipped if p.low in totals):
        _clip_under(frame, pair)
    return frame


def _clip_under(frame: pd.DataFrame, pair: OrderedPair) -> None:
    low, high = (frame[c].to_numpy(dtype=float) for c in (pair.low, pair.high))
    frame[pair.low] = np.where(low > high, high, low)
