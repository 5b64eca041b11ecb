"""Everything a fitted mixture samples from, in one frozen value."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.models.gmm.em import Mixture
from pipeline.models.gmm.encoding import Encoding


@dataclass(frozen=True)
class FittedMixture:
    encoding: Encoding
    mixture: Mixture
    chol: np.ndarray  # (K, D, D) lower Cholesky factor of each component's covariance
    # held-out log-likelihood per tried component count; empty when the count was given
    selection: tuple[dict[str, float], ...]

    @classmethod
    def build(
        cls, encoding: Encoding, mixture: Mixture, selection: list[dict[str, float]]
    ) -> FittedMixture:
        return cls(encoding, mixture, np.linalg.cholesky(mixture.cov), tuple(selection))

    @property
    def n_components(self) -> int:
        return self.mixture.n_components
