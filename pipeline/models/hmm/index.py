"""Where and how sequences run, which the chain does not model: lengths, start values and
steps between rows drawn from their real distributions, and the seasonal features of an
index value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipeline.schema import DatasetSchema, index_in_zone
from pipeline.timeseries import index_as_seconds, modal_step

# Seasonal cycles (seconds) and the Fourier harmonics kept for each.
DAY, WEEK, YEAR = 86_400.0, 7 * 86_400.0, 365.2425 * 86_400.0
CYCLES = ((DAY, 3), (WEEK, 3), (YEAR, 2))


@dataclass(frozen=True)
class IndexModel:
    """Empirical distributions of what the chain does not model: where and how sequences run."""

    is_datetime: bool
    tz: Any  # the real index's tz (None: naive)
    zone: str | None  # zone in which calendar cycles are read (schema timezone)
    lengths: np.ndarray
    length_probs: np.ndarray
    starts: np.ndarray
    start_probs: np.ndarray
    steps: np.ndarray
    step_probs: np.ndarray
    cycles: list[tuple[float, int]]
    season_lag: int | None  # steps per day (sub-daily data) or per week (daily data)
    # a calendar cadence of unequal durations (months, quarters, years: "QS-OCT"), stepped
    # on the calendar so that month starts stay month starts; None: steps drawn as durations
    calendar_step: str | None = None
    # the training index's first and last values: a trend feature runs from 0 to 1 over them
    # (a common path every entity follows, as a population or prices grow); None: no trend
    trend_span: tuple[float, float] | None = None
    trend_columns: tuple[str, ...] = ()  # the columns whose step equations read the trend
    # visit schedules (offsets from the start) that several entities share, and their
    # weights; drawn whole when irregular steps follow them (see `shared_schedules`)
    schedules: tuple[np.ndarray, ...] = ()
    schedule_probs: np.ndarray | None = None
    schedule_share: float = 0.0  # share of entities that follow a shared schedule

    @classmethod
    def fit(
        cls, ordered: pd.DataFrame, schema: DatasetSchema, seq: np.ndarray, use_seasonal: bool,
        trend_columns: tuple[str, ...] = (),
    ) -> IndexModel:
        values = ordered[schema.sequence_index]
        is_dt = pd.api.types.is_datetime64_any_dtype(values)
        numbers = index_as_seconds(values) if is_dt else values.to_numpy(dtype=float)
        first = np.r_[True, seq[1:] != seq[:-1]]
        per_sequence = np.bincount(seq)
        lengths, length_counts = np.unique(per_sequence, return_counts=True)
        starts, start_counts = np.unique(numbers[first], return_counts=True)
        steps_all = np.diff(numbers)[~first[1:]]
        steps, step_counts = np.unique(steps_all, return_counts=True)
        if len(steps) == 0:  # every sequence has one step: later steps use one day / one unit
            steps, step_counts = np.array([DAY if is_dt else 1.0]), np.array([1])
        cadence = modal_step(steps_all) if len(steps_all) else None
        cycles, season_lag = [], None
        calendar = calendar_step(values, seq) if is_dt else None
        if is_dt and cadence:
            cycles, season_lag = _seasons(per_sequence, cadence, use_seasonal, calendar)
        trend = tuple(trend_columns) if numbers.max() > numbers.min() else ()
        return cls(
            calendar_step=calendar,
            is_datetime=is_dt, tz=values.dt.tz if is_dt else None,
            zone=schema.column(schema.sequence_index).timezone,
            lengths=lengths, length_probs=length_counts / length_counts.sum(),
            starts=starts, start_probs=start_counts / start_counts.sum(),
            steps=steps, step_probs=step_counts / step_counts.sum(), cycles=cycles,
            season_lag=season_lag,
            trend_span=(float(numbers.min()), float(numbers.max())) if trend else None,
            trend_columns=trend,
            # a calendar cadence steps on the calendar: no schedules to draw
            **(shared_schedules(numbers, seq, step_counts) if calendar is None else {}),
        )

    @property
    def mean_length(self) -> float:
        return float(np.dot(self.lengths, self.length_probs))

    @property
    def n_features(self) -> int:
        return 2 * sum(h for _, h in self.cycles) + (self.trend_span is not None)

    def features(self, numbers: np.ndarray) -> np.ndarray:
        """Fourier terms of local wall-clock time (the diurnal cycle follows local hours)."""
        out = np.empty((len(numbers), self.n_features))
        if self.trend_span is not None:
            low, high = self.trend_span
            out[:, -1] = (numbers - low) / (high - low)
        if not self.cycles:
            return out
        local = self._local_seconds(numbers)
        col = 0
        for period, harmonics in self.cycles:
            phase = 2 * np.pi * (local % period) / period
            for h in range(1, harmonics + 1):
                out[:, col], out[:, col + 1] = np.sin(h * phase), np.cos(h * phase)
                col += 2
        return out

    def phase_buckets(self, numbers: np.ndarray, buckets: int) -> np.ndarray | None:
        """Each index value's phase of the longest cycle (`features`' local time) in `buckets`
        equal parts (month of the year, hour of the day); None without cycles."""
        if not self.cycles:
            return None
        period = max(p for p, _ in self.cycles)
        local = self._local_seconds(numbers)
        return np.minimum((local % period) / period * buckets, buckets - 1).astype(np.int64)

    def _local_seconds(self, numbers: np.ndarray) -> np.ndarray:
        """Index values as seconds of wall-clock time in the schema's zone."""
        stamps = self.to_index(numbers)
        if self.zone:
            stamps = index_in_zone(stamps, self.zone).dt.tz_localize(None)
        return index_as_seconds(stamps)

    def to_index(self, numbers: np.ndarray) -> pd.Series:
        if not self.is_datetime:
            return pd.Series(numbers)
        stamps = pd.Series(pd.to_datetime(np.round(numbers * 1e9).astype("int64"), unit="ns"))
        if self.tz is not None:
            stamps = stamps.dt.tz_localize("UTC").dt.tz_convert(self.tz)
        return stamps

    def sample(
        self, n: int, rng: np.random.Generator, length: int | None
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Lengths and index values (as numbers) of n new sequences."""
        if length is not None:
            lengths = np.full(n, length, dtype=np.int64)
        else:
            lengths = rng.choice(self.lengths, size=n, p=self.length_probs)
        starts = rng.choice(self.starts, size=n, p=self.start_probs)
        steps = rng.choice(self.steps, size=int(lengths.sum()), p=self.step_probs)
        if self.calendar_step is not None:
            return lengths, [self._on_calendar(start, m) for start, m in zip(starts, lengths)]
        out, used = [], 0
        for start, m in zip(starts, lengths):
            out.append(start + np.r_[0.0, np.cumsum(steps[used : used + m - 1])])
            used += m
        if self.schedules and length is None:
            self._follow_schedules(lengths, starts, out, rng)
        return lengths, out

    def _follow_schedules(self, lengths: np.ndarray, starts: np.ndarray, out: list[np.ndarray],
                          rng: np.random.Generator) -> None:
        """As many sequences as real entities did (in share) follow a shared schedule,
        drawn whole (in place)."""
        follows = rng.random(len(lengths)) < self.schedule_share
        picks = rng.choice(len(self.schedules), size=len(lengths), p=self.schedule_probs)
        for i in np.flatnonzero(follows):
            out[i] = starts[i] + self.schedules[picks[i]]
            lengths[i] = len(out[i])


    def _on_calendar(self, start: float, m: int) -> np.ndarray:
        stamps = pd.date_range(pd.Timestamp(start, unit="s"), periods=int(m),
                               freq=self.calendar_step)
        return index_as_seconds(pd.Series(stamps))


# A schedule counts as shared when this many entities follow it; steps are irregular when
# the commonest step is less than this share of them (hourly data with gaps is regular).
MIN_SCHEDULE_ENTITIES, REGULAR_STEP_SHARE = 2, 0.9


def shared_schedules(numbers: np.ndarray, seq: np.ndarray, step_counts: np.ndarray
                     ) -> dict[str, Any]:
    """Visits at months 0, 2, 6, 8 and 10, trees measured on the same five days: with
    irregular steps, a sequence of steps drawn one by one invents schedules nobody followed
    (and index values no entity has). The schedules several entities share are drawn whole,
    for the share of entities that follow one; one that a single entity follows is never
    drawn, since it could single that entity out."""
    if step_counts.max(initial=0) >= REGULAR_STEP_SHARE * step_counts.sum():
        return {}
    first = np.r_[True, seq[1:] != seq[:-1]]
    bounds = np.r_[np.flatnonzero(first), len(numbers)]
    offsets = [tuple(numbers[a:b] - numbers[a]) for a, b in zip(bounds[:-1], bounds[1:])]
    kinds = pd.Series(offsets).value_counts()
    shared = kinds[kinds >= MIN_SCHEDULE_ENTITIES]
    if shared.empty:
        return {}
    return {"schedules": tuple(np.array(k, dtype=float) for k in shared.index),
            "schedule_probs": (shared / shared.sum()).to_numpy(dtype=float),
            "schedule_share": float(shared.sum() / len(offsets))}


def _steps_per_year(freq: str) -> int | None:
    """12 for months, 4 for quarters (a multiple: fewer); None for years and longer."""
    from pandas.tseries.frequencies import to_offset

    offset = to_offset(freq)
    per_year = {"M": 12, "Q": 4}.get(offset.name[0]) if offset.name[0] in "MQ" else None
    if per_year is None or per_year % offset.n:
        return None
    steps = per_year // offset.n
    return steps if steps >= 3 else None


# Sequences checked to agree with a calendar cadence inferred from the longest one.
CALENDAR_CHECKED = 20


def calendar_step(values: pd.Series, seq: np.ndarray) -> str | None:
    """The index's calendar cadence when it has unequal durations (months, quarters,
    years) and every checked sequence follows it; None otherwise."""
    from pandas.tseries.frequencies import to_offset
    from pandas.tseries.offsets import Tick

    naive = values.dt.tz_localize(None) if values.dt.tz is not None else values
    groups = pd.Series(naive.to_numpy()).groupby(seq)
    longest = groups.size().idxmax()
    if groups.size().max() < 3:
        return None
    try:
        freq = pd.infer_freq(pd.DatetimeIndex(groups.get_group(longest)))
    except (TypeError, ValueError):
        return None
    if freq is None or isinstance(to_offset(freq), Tick):
        return None
    for _, stamps in list(groups)[:CALENDAR_CHECKED]:
        expected = pd.date_range(stamps.iloc[0], periods=len(stamps), freq=freq)
        if not (expected == pd.DatetimeIndex(stamps)).all():
            return None
    return freq


def _seasons(
    per_sequence: np.ndarray, cadence: float, use_seasonal: bool, calendar: str | None
) -> tuple[list[tuple[float, int]], int | None]:
    """The Fourier cycles a datetime index supports, and its seasonal lag in steps: a day
    of sub-daily steps, a week of days, a year of months or quarters."""
    cycles, season_lag = [], None
    longest = float(per_sequence.max()) * cadence
    if use_seasonal:
        # a cycle is learnt when it spans several steps and the data covers half of it
        cycles = [(p, h) for p, h in CYCLES if p >= 3 * cadence and longest >= p / 2]
    for period in (DAY, WEEK):
        ratio = period / cadence
        if ratio >= 3 and ratio == int(ratio):
            season_lag = int(ratio)
            break
    if calendar is not None:
        season_lag = _steps_per_year(calendar)
    if season_lag and np.median(per_sequence) < 3 * season_lag:
        season_lag = None  # too few steps to learn from a season ago
    return cycles, season_lag
