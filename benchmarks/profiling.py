"""Where a fit's time goes: cProfile of one fit, grouped into the phases a reader can act on.

A group's seconds are the inclusive (cumulative) time of the functions that start that phase,
so nothing inside a phase has to be listed; the phases do not nest inside each other, and
what no phase claims is reported as the remainder. cProfile slows Python-heavy code more than
code that runs in C (torch kernels), so shares are indicative, not exact.
"""

from __future__ import annotations

import cProfile
import pstats
import time
from typing import Any

# (label, [(path fragment, function name), ...]); paths use "/" and match site-packages files
NEURAL_PHASES: list[tuple[str, list[tuple[str, str]]]] = [
    ("pipeline wrapper (dtype conversion, metadata, rare-category check)",
     [("pipeline/models/sdv_tabular.py", "_training_frame"),
      ("pipeline/models/sdv_tabular.py", "to_sdv_frame"),
      ("pipeline/models/sdv_tabular.py", "sdv_metadata")]),
    ("SDV preprocessing (rdt HyperTransformer)",
     [("sdv/single_table/base.py", "preprocess")]),
    ("mode-specific normalisation: fit (ctgan DataTransformer, a BayesianGMM per number)",
     [("ctgan/data_transformer.py", "fit")]),
    ("mode-specific normalisation: transform",
     [("ctgan/data_transformer.py", "transform")]),
    ("data sampling (ctgan DataSampler / torch DataLoader)",
     [("ctgan/data_sampler.py", "__init__"), ("ctgan/data_sampler.py", "sample_condvec"),
      ("ctgan/data_sampler.py", "sample_data"),
      ("ctgan/data_sampler.py", "sample_original_condvec"),
      ("torch/utils/data/dataloader.py", "__next__"),
      ("torch/utils/data/dataloader.py", "__iter__")]),
    ("torch forward (nn.Module calls)",
     [("torch/nn/modules/module.py", "_wrapped_call_impl")]),
    ("torch backward (autograd)",
     [("torch/_tensor.py", "backward"), ("torch/autograd/__init__.py", "grad")]),
    ("torch optimizer (Adam step, zero_grad)",
     [("torch/optim/optimizer.py", "wrapper"), ("torch/optim/optimizer.py", "zero_grad"),
      ("torch/optim/adam.py", "__init__")]),
]
REMAINDER = "remainder (loss terms, tensor glue, Python between the phases)"


def phase_seconds(
    stats: pstats.Stats, phases: list[tuple[str, list[tuple[str, str]]]], total: float,
    remainder: str = REMAINDER,
) -> list[dict[str, Any]]:
    """Seconds and share of `total` per phase, plus the remainder."""
    rows, claimed = [], 0.0
    for label, functions in phases:
        seconds = 0.0
        for (filename, _, name), (_, _, _, cumulative, _) in stats.stats.items():
            path = filename.replace("\\", "/")
            if any(path.endswith(fragment) and name == fn for fragment, fn in functions):
                seconds += cumulative
        claimed += seconds
        rows.append({"phase": label, "seconds": round(seconds, 3)})
    rows.append({"phase": remainder, "seconds": round(max(total - claimed, 0.0), 3)})
    for row in rows:
        row["share"] = round(row["seconds"] / total, 4) if total > 0 else None
    return rows


def top_functions(stats: pstats.Stats, n: int = 12) -> list[dict[str, Any]]:
    """The functions with the most own time (not counting what they call)."""
    ranked = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:n]
    return [
        {"function": f"{_short(filename)}:{line}({name})", "own_seconds": round(own, 3),
         "calls": calls}
        for (filename, line, name), (_, calls, own, _, _) in ranked
    ]


def _short(filename: str) -> str:
    path = filename.replace("\\", "/")
    for marker in ("site-packages/", "/work/main/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path.rsplit("/", 1)[-1]


def profile_fit(payload: dict[str, Any]) -> dict[str, Any]:
    """Worker task: one profiled fit of our model (imports paid before the profiler starts)."""
    from benchmarks.contenders import Contender, _Ours, warm_up

    contender = Contender(**payload["contender"])
    warm_up(contender.warm, contender.model)
    runner = _Ours(contender, payload["schema"])
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    runner.fit(payload["train"], payload["seed"])
    profiler.disable()
    total = time.perf_counter() - started
    stats = pstats.Stats(profiler)
    return {
        "model": contender.model,
        "parameters": contender.params,
        "train_rows": len(payload["train"]),
        "profiled_fit_seconds": round(total, 3),
        "phases": phase_seconds(stats, NEURAL_PHASES, total),
        "top_functions": top_functions(stats),
    }
