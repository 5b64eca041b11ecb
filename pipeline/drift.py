"""Drift across runs: is tonight's synthetic data worse than the runs before it?

Each watched metric of this run is compared with the median of the same dataset and model's
previous runs (the last `WINDOW` that were published and unconditioned); a change for the
worse beyond the job's `drift_tolerance` turns a pass into a warning, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import median
from typing import Any

# metric -> +1 when higher is better, -1 when lower is better
WATCHED = {"column_shapes": 1, "column_pair_trends": 1, "detection_auc": -1,
           "ml_utility_gap": -1}
WINDOW = 5


@dataclass
class Drift:
    rows: list[dict[str, Any]] = field(default_factory=list)  # one per watched metric
    series: dict[str, list[tuple[str, float]]] = field(default_factory=dict)  # run -> value

    @property
    def drops(self) -> list[str]:
        return [f"{r['metric']} {r['value']:.3f} is {r['worse_by']:.3f} worse than the median "
                f"{r['previous']:.3f} of the last {r['runs']} runs (drift tolerance "
                f"{r['tolerance']})" for r in self.rows if r["flagged"]]

    def table(self) -> list[dict[str, Any]]:
        """Rounded rows for Prefect's table artifact."""
        return [{k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()}
                for r in self.rows]


def compare(history: list[dict[str, Any]], model: str, run_id: str,
            metrics: dict[str, float], tolerance: float | None) -> Drift:
    """This run's metrics against `history` (the dataset's run records, oldest first)."""
    previous = [r for r in history if r["model"] == model and r["run_id"] != run_id
                and r["area"] == "published" and not r.get("request")][-WINDOW:]
    drift = Drift()
    for metric, direction in WATCHED.items():
        if metric not in metrics:
            continue
        past = [(r["run_id"], r["metrics"][metric]) for r in previous if metric in r["metrics"]]
        drift.series[metric] = [*past, (run_id, float(metrics[metric]))]
        if not past:
            continue
        before = median(v for _, v in past)
        worse_by = (before - metrics[metric]) * direction
        drift.rows.append({
            "metric": metric, "value": float(metrics[metric]), "previous": before,
            "runs": len(past), "worse_by": worse_by, "tolerance": tolerance,
            "flagged": tolerance is not None and worse_by > tolerance,
        })
    return drift
