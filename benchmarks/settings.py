"""What a benchmark run does and how much of it: the --quick and --full budgets.

The full budget is sized to finish in well under an hour on 2 CPU cores. Measured on the
26k-row Adult split with one thread (2 shared cores): CTGAN/TVAE preprocessing ~19 s per fit
(a BayesianGMM per numeric column), then ~3.5-4.5 s per CTGAN epoch and ~0.8 s per TVAE epoch
at batch size 500; a GMM fit 4 s (28 s at 4x rows); all Adult metrics ~30 s per contender
(40 s at 4x rows). The quick budget runs in ~3.5 minutes there, on subsamples.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

# The published results: only a complete full run written here updates the README's table.
RESULTS = Path(__file__).resolve().parent / "results"
SEED = 0
SAMPLE_SEED = 1
HOLDOUT_FRACTION = 0.2

SECTIONS = (
    "tabular",  # Adult: every tabular contender, timings + fidelity + privacy
    "timeseries",  # nyc_weather and the store-sales demo: hmm, par, raw PAR, floor, ceiling
    "profile",  # cProfile breakdown of one CTGAN and one TVAE fit
    "scale_sampling",  # GMM rows straight to Parquet in chunks: rows/s and peak RSS
    "fit_growth",  # GMM (and HMM) fit time as the data grows
    "validation_growth",  # fidelity + privacy metrics time as the rows grow
)


@dataclass(frozen=True)
class Budget:
    mode: str
    repetitions: int  # timings are medians over this many fresh processes
    train_rows: int | None  # Adult training rows kept (None: the whole 80 % split)
    holdout_rows: int | None
    ctgan_epochs: int
    tvae_epochs: int
    par_epochs: int
    batch_size: int
    threads: int  # torch / BLAS threads for every contender, ours and raw SDV alike
    ts_steps: int | None  # nyc_weather steps kept per airport (None: all ~8,700)
    detection_rows: int  # rows of each side the detection classifier sees
    full_privacy: bool  # every privacy metric, or only exact copies and DCR
    scale_rows: int  # GMM rows sampled to Parquet
    scale_chunk: int
    growth_factors: tuple[int, ...]
    gmm_growth_rows: int | None  # Adult rows at 1x (None: the whole training split)
    hmm_growth_steps: int  # nyc_weather steps per airport at 1x
    hmm_growth_params: dict[str, Any] = field(default_factory=dict)
    validation_growth_rows: int | None = None  # Adult training rows at 1x
    worker_timeout: int = 1800  # seconds one contender's process may run
    sections: tuple[str, ...] = SECTIONS
    contenders: tuple[str, ...] | None = None  # None: all; else contender names to run

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def with_(self, **changes: Any) -> Budget:
        return replace(self, **changes)


QUICK = Budget(
    mode="quick",
    repetitions=1,
    train_rows=3_000,
    holdout_rows=1_000,
    ctgan_epochs=2,
    tvae_epochs=3,
    par_epochs=2,
    batch_size=500,
    threads=1,
    ts_steps=200,
    detection_rows=1_000,
    full_privacy=False,
    scale_rows=1_000_000,
    scale_chunk=250_000,
    growth_factors=(1, 4, 16),
    gmm_growth_rows=1_000,
    hmm_growth_steps=100,
    # a fixed state count keeps the growth exponent about the EM, not the model selection
    hmm_growth_params={"n_states": 3, "max_iter": 5},
    validation_growth_rows=500,
    worker_timeout=600,
)

FULL = Budget(
    mode="full",
    repetitions=3,
    train_rows=None,
    holdout_rows=None,
    ctgan_epochs=15,
    tvae_epochs=30,
    par_epochs=10,
    batch_size=500,
    threads=1,
    # ~83 days per airport: raw PAR samples ~150 rows/s on CPU, a full year would take minutes
    ts_steps=2_000,
    detection_rows=10_000,
    full_privacy=True,
    scale_rows=10_000_000,
    scale_chunk=500_000,
    growth_factors=(1, 4, 16, 64),
    gmm_growth_rows=None,
    hmm_growth_steps=1_000,
    hmm_growth_params={"n_states": 4, "max_iter": 20},
    validation_growth_rows=None,
    worker_timeout=1800,
)

BUDGETS = {"quick": QUICK, "full": FULL}
