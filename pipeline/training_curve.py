"""The report's training section: a network's losses per epoch, its fidelity checks against
held-back rows and the epoch it kept (models/neural/monitor)."""

from __future__ import annotations

import html
from typing import Any

import pandas as pd


def summary(training: dict[str, Any] | None) -> str:
    """One paragraph on the kept epoch and why training stopped; empty for other models."""
    if not training:
        return ""
    return (f"<p>Kept the weights of epoch {training['chosen_epoch']} of "
            f"{training['epochs_run']} trained (stopped by {html.escape(training['stopped_by'])}"
            "); the fidelity score is a binned Column Shapes / Pair Trends of a small sample "
            "against held-back real rows, checked every few hundred steps.</p>")


def figure(history: list[dict[str, float]], training: dict[str, Any] | None = None):
    """Losses per epoch; a network's fidelity checks on a second axis, its kept epoch marked."""
    import matplotlib.pyplot as plt

    frame = pd.DataFrame(history)
    step = frame.columns[0]
    fig, ax = plt.subplots(figsize=(8, 3.5))
    for col in frame.columns[1:]:
        if col != "fidelity":
            ax.plot(frame[step], frame[col], label=col)
    ax.set_xlabel(step)
    ax.legend(loc="upper left")
    if "fidelity" in frame:
        checks = frame[[step, "fidelity"]].dropna()
        twin = ax.twinx()
        twin.plot(checks[step], checks["fidelity"], "o-", color="black", label="fidelity")
        twin.set_ylabel("fidelity (held-back rows)")
        twin.legend(loc="upper right")
    if training:
        ax.axvline(training["chosen_epoch"], color="grey", linestyle="--")
    return fig
