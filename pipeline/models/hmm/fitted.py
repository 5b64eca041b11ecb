"""The fitted HMM: everything sampling reads, produced by the fit and never changed after."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.models.hmm.calibration import Calibration
from pipeline.models.hmm.chain import ChainParams
from pipeline.models.hmm.codec import Codec
from pipeline.models.hmm.design import Design
from pipeline.models.hmm.index import IndexModel
from pipeline.models.hmm.relations import Relations
from pipeline.models.hmm.shared import SharedCovariates
from pipeline.models.hmm.time_effects import TimeEffects


@dataclass(frozen=True)
class FittedHMM:
    sequence_key: str | None
    sequence_index: str
    key_labels: list[Any] | None  # the key's public values; None: keys are regenerated
    codec: Codec
    index: IndexModel
    design: Design
    relations: Relations
    chain: ChainParams
    calibration: Calibration | None = None  # the chain's scores onto the training marginals
    shared: SharedCovariates | None = None  # covariates every entity reads from one path
    time_effects: TimeEffects | None = None  # the steps entities take together, by index value
