"""Gaussian mixture model for mixed-type tables, fitted by our own EM (numpy only).

The model: a row picks a component k; given k, every discrete variable is drawn from its own
categorical distribution and the continuous part of the numeric columns from one
full-covariance Gaussian. Discrete variables are the categorical and boolean columns, plus one
token per numeric column saying whether the value is missing, sits on a point mass or is
continuous (`encoding`). EM fits it with spikes as missing continuous data (`em`), the
component count is chosen on held-out rows (`selection`), and conditions on discrete values are
exact (`sampling`).

Why this shape: categorical distributions per component reproduce every category marginal
exactly at each M-step and pair tables well with enough components; the spike tokens keep point
masses exact and let them depend on the other columns; the full covariance keeps numeric pair
trends.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from pipeline.errors import PipelineError
from pipeline.models.base import Synthesizer
from pipeline.models.gmm.encoding import encode
from pipeline.models.gmm.fitted import FittedMixture
from pipeline.models.gmm.sampling import sample
from pipeline.models.gmm.selection import fit_mixture
from pipeline.schema import DatasetSchema

__all__ = ["GaussianMixtureModel"]


class GaussianMixtureModel(Synthesizer):
    """Mixture of (categorical x full-covariance Gaussian) components with exact conditioning.

    Parameters: `pipeline.models.params.GaussianMixtureParams`. Fitted state: `fitted_`.
    """

    name: ClassVar[str] = "gmm"
    plain_artifact: ClassVar[bool] = True
    fitted_: FittedMixture | None = None

    def _more_private(self) -> dict[str, Any]:
        """A quarter of the components, four times the default smoothing or the given one
        (whichever is more): each component then spreads over more rows, so none sits on a
        few training records."""
        default = type(self.settings).model_fields["smoothing"].default
        return {"n_components": max(1, self.n_components_ // 4),
                "smoothing": 4 * max(self.settings.smoothing, default)}

    @property
    def n_components_(self) -> int:
        return self._fitted().n_components

    @property
    def selection_(self) -> tuple[dict[str, float], ...]:
        return self._fitted().selection

    def _fit(self, train: pd.DataFrame, schema: DatasetSchema, seed: int) -> None:
        rng = np.random.default_rng(seed)
        encoding, codes, z = encode(train, schema, self.settings, rng)
        mixture, self.loss_history, scores = fit_mixture(encoding, codes, z, self.settings, rng)
        self.fitted_ = FittedMixture.build(encoding, mixture, scores)

    def _sample(self, n: int, rng: np.random.Generator, conditions: dict[str, Any]) -> pd.DataFrame:
        return sample(self._fitted(), n, rng, conditions, self.schema.dependencies)

    def _fitted(self) -> FittedMixture:
        if self.fitted_ is None:
            raise PipelineError("model 'gmm' is not fitted; call fit() first")
        return self.fitted_
