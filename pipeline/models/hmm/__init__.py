"""Hidden Markov model for multi-entity time series, fitted by our own Baum-Welch (numpy only).

Every sequence walks one shared chain of K hidden states. At each step:
- every numeric column that can be missing or has point masses, and every categorical or
  boolean column, emits a token (continuous / missing / one per point mass; or the category)
  from a chain P(token_t | token_{t-1}, how long it has lasted, bin of a driver's value)
  shared by all states (`drivers`): the driver is the numeric column whose value best
  predicts the token, read at the same step when that predicts better (the token is then
  drawn after the step's values) or else at the step before;
- given state k, the numeric columns' continuous values, as rank-Gaussian scores or, in a
  panel whose steps they would tear, standardised powers of the values (`codec`,
  `step_scale`), follow a vector autoregression with seasonal forcing (`design`),
  x_t = sum_l A_kl x_{t-l} + B_k tokens_t + b_k + C_k f(t) + D_k a_{t-1} + e_t,
  e_t ~ N(0, S_k) or, where the steps jump, a Student-t with S_k's shape (`tails`), with
  lags 1, 2 and a season, f(t) Fourier terms of the cycles the data covers (`index`) and
  a_{t-1} each column's slow average of its past; a column missing on most steps also
  enters as its fresh value of the step before. A first step uses the state's regression
  on [tokens, 1, f(t)], fitted on every step, with an intercept of the first steps' own
  where at least ten sequences start (`design.first_shift`);
- a dimension whose token is not continuous is unobserved: the likelihood marginalises it
  and the M-step fits each column's regression on the rows where it is continuous (`em`,
  `mstep`), so the Gaussian is the value given that it is reported, which the sampler draws;
- in a panel, a column whose steps the entities take together (a recession year) also reads
  the training entities' mean step at that index value (`time_effects`), an aggregate over
  at least ten of them;
- static (per-entity) columns are emitted once, by the first step's state, so they are drawn
  jointly with their sequence.

Column relations the chain would break are kept by construction (`relations`): ordered pairs
as gaps, derived columns recomputed at every step, coupled values set by their rule, values
snapped onto the real ones. K is chosen by BIC, then by simulated persistence (`selection`),
and the slow average is left out where it puts a simulation's calendar profile clearly off;
explosive states are scaled to stationarity (`stability`); the sampled marginals are
calibrated (`calibration`). The fit (`fit`) produces a frozen `FittedHMM` (`fitted`);
sampling (`simulate`) is a pure function of it and a random generator.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from pipeline.models.base import Synthesizer
from pipeline.models.hmm.fit import fit_hmm
from pipeline.models.hmm.fitted import FittedHMM
from pipeline.models.hmm.selection import StateSelection
from pipeline.models.hmm.simulate import simulate as simulate_fitted  # `simulate`: the module
from pipeline.schema import DatasetSchema

__all__ = ["FittedHMM", "HiddenMarkovModel"]


class HiddenMarkovModel(Synthesizer):
    """Shared-state HMM with autoregressive, seasonal, mixed-type emissions (see module doc).

    Parameters: `pipeline.models.params.HiddenMarkovParams`. Fitted: `fitted_` (what
    sampling reads) and `selection_` (how the state count was chosen).
    """

    name: ClassVar[str] = "hmm"
    plain_artifact: ClassVar[bool] = True

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.fitted_: FittedHMM | None = None
        self.selection_: StateSelection | None = None

    @property
    def n_states_(self) -> int | None:
        return self.selection_.n_states if self.selection_ else None

    def _more_private(self) -> dict[str, Any]:
        """Half the states, a ten times higher variance floor: fewer, broader regimes that
        no single entity's trajectory can own; and no time effects, which take away the
        years' noise that hid how near a synthetic entity's own course is to one it was
        learnt from (on a panel of firms, with the held-out firms' mean steps as much as
        with the training firms')."""
        return {"n_states": max(1, (self.n_states_ or 2) // 2),
                "min_variance": 10 * self.settings.min_variance, "time_effects": False}

    @property
    def lags_(self) -> list[int] | None:
        return self.fitted_.design.lags if self.fitted_ else None

    def _related_columns(self) -> set[str]:
        related = super()._related_columns()
        if self.fitted_ is None:
            return related
        relations, names = self.fitted_.relations, [c.name for c in self.fitted_.codec.numeric]
        related |= {c for p in [*relations.pairs, *relations.clipped] for c in (p.low, p.high)}
        related |= {names[j] for f in relations.derived for j in (f.target, *f.inputs)}
        related |= {c for cv in relations.couplings for c in (cv.column, cv.partner)}
        return related

    def _fit_columns(self, schema: DatasetSchema) -> list[str]:
        lead = [c for c in (schema.sequence_key, schema.sequence_index) if c]
        return lead + [c for c in schema.modelled_columns() if c not in lead]

    def _fit(self, train: pd.DataFrame, schema: DatasetSchema, seed: int) -> None:
        from threadpoolctl import threadpool_limits

        # the matrices are small: BLAS threads only contend
        with threadpool_limits(1):
            result = fit_hmm(train, schema, self.settings, seed)
        self.fitted_, self.selection_ = result.fitted, result.selection
        self.loss_history = [
            {"iteration": i + 1, "neg_log_likelihood_per_step": -v}
            for i, v in enumerate(result.history)
        ]

    def _sample(self, n: int, rng: np.random.Generator, conditions: dict[str, Any]) -> pd.DataFrame:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):
            return simulate_fitted(self.fitted_, n, rng, conditions, self.settings.length)

    def card(self) -> dict[str, Any]:
        card = super().card()
        fitted, selection = self.fitted_, self.selection_
        card["n_states"] = self.n_states_
        card["lags"] = self.lags_
        card["state_selection_bic"] = selection.bic if selection else None
        card["state_selection_persistence_error"] = (
            selection.persistence_error if selection else None
        )
        card["slow_average_decay"] = fitted.design.memory if fitted else None
        dof = fitted.chain.step_dof if fitted else float("inf")
        card["step_innovations"] = f"student_t(dof={dof:g})" if np.isfinite(dof) else "gaussian"
        card["trend_columns"] = list(fitted.index.trend_columns) if fitted else []
        card["step_powers"] = fitted.codec.step_powers if fitted else {}
        effects = fitted.time_effects if fitted else None
        card["time_effect_columns"] = ([fitted.codec.numeric[j].name for j in effects.columns]
                                       if effects else [])
        card.update(_relations_card(fitted))
        return card


def _relations_card(fitted: FittedHMM | None) -> dict[str, list[Any]]:
    if fitted is None:
        return {"derived_columns": [], "ordered_pairs": [], "fresh_inputs": [],
                "coupled_values": []}
    names = [col.name for col in fitted.codec.numeric]
    relations = fitted.relations
    return {
        "derived_columns": [
            {"column": names[f.target], "from": [names[j] for j in f.inputs],
             "r2": round(f.r2, 4), "residual_sd": round(f.residual_sd, 4)}
            for f in relations.derived
        ],
        "ordered_pairs": [
            {"low": p.low, "high": p.high, "modelled_as_gap": p.gap_column}
            for p in relations.pairs
        ] + [{"low": p.low, "high": p.high, "modelled_as_gap": None} for p in relations.clipped],
        "fresh_inputs": [names[j] for j in fitted.design.fresh],
        "coupled_values": [
            {"column": c.column, "value": c.value, "where": c.partner, "is": c.partner_value}
            for c in relations.couplings
        ],
    }
