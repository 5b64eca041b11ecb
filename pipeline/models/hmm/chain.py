"""The fitted chain: what EM estimates and the sampler runs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ChainParams:
    start: np.ndarray  # (K,)
    trans: np.ndarray  # (K, K)
    ar: np.ndarray  # (K, d, r) regression of a step on its regressors (`design`)
    ar_cov: np.ndarray  # (K, d, d)
    first: np.ndarray  # (K, d, q + 1 + m) regression of a first step on [tokens, 1, feats]
    first_cov: np.ndarray  # (K, d, d)
    token_first: list[np.ndarray]  # per channel (K, T): tokens of a state, any step
    # per channel (K, C, T), or (1, C, T) when shared by all states: P_k(token | context)
    token_trans: list[np.ndarray]
    static_cat: list[np.ndarray]  # per static column (K, n_labels + 1)
    static_mean: np.ndarray  # (K, ds)
    static_var: np.ndarray  # (K, ds)
    # the step innovations' Student-t degrees of freedom (`tails`); inf: Gaussian
    step_dof: float = float("inf")

    @property
    def n_states(self) -> int:
        return len(self.start)

    def cholesky(self) -> tuple[np.ndarray, np.ndarray]:
        """Cholesky factors of the step and first-step covariances, per state."""
        if self.ar_cov.shape[1] == 0:
            return self.ar_cov, self.ar_cov
        return np.linalg.cholesky(self.ar_cov), np.linalg.cholesky(self.first_cov)
