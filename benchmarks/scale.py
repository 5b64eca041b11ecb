"""Scale figures: GMM rows straight to Parquet, fit time and validation time as data grows.

The worker tasks here run in fresh processes (see worker.py), so each peak RSS belongs to one
job: the Parquet figure's process only loads the fitted model and writes, it never fits.
"""

from __future__ import annotations

import cProfile
import pstats
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.profiling import phase_seconds, top_functions

GMM_SAMPLE_PHASES: list[tuple[str, list[tuple[str, str]]]] = [
    ("gmm: categorical draws (one searchsorted over per-component CDFs)",
     [("pipeline/models/gmm/sampling.py", "draw_categorical")]),
    ("gmm: Gaussian draws (per-row Cholesky product)",
     [("pipeline/models/gmm/sampling.py", "draw_continuous")]),
    ("gmm: decoding codes to values (inverse CDF, labels)",
     [("pipeline/models/gmm/encoding.py", "decode")]),
    ("postprocess: cast to schema dtypes, dependencies (complete_to_schema)",
     [("pipeline/postprocess.py", "complete_to_schema")]),
    ("pandas concat of chunks", [("pandas/core/reshape/concat.py", "concat")]),
]


def growth_exponent(sizes: list[float], seconds: list[float]) -> float | None:
    """Slope of log(seconds) on log(size): 1 = linear, 2 = quadratic."""
    points = [(s, t) for s, t in zip(sizes, seconds) if s and t and t > 0]
    if len(points) < 2:
        return None
    x, y = np.log([p[0] for p in points]), np.log([p[1] for p in points])
    return round(float(np.polyfit(x, y, 1)[0]), 3)


# --- worker tasks ----------------------------------------------------------------------------
def fit_only(payload: dict[str, Any]) -> dict[str, Any]:
    """Fit one of our models; optionally save it for a sampling process to load."""
    from benchmarks.contenders import current_rss_mb, warm_up
    from pipeline.models.registry import create

    warm_up((), payload["model"])
    model = create(payload["model"], **payload.get("params", {}))
    rss_before = current_rss_mb()
    started = time.perf_counter()
    model.fit(payload["train"], payload["schema"], seed=payload["seed"])
    seconds = time.perf_counter() - started
    if payload.get("save_dir"):
        model.save(Path(payload["save_dir"]))
    return {
        "fit_seconds": round(seconds, 3),
        "rows": len(payload["train"]),
        "rss_before_fit_mb": rss_before,
        "n_components": getattr(model, "n_components_", None),
        "n_states": getattr(model, "n_states_", None),
        "iterations": len(model.loss_history),
    }


def sample_to_parquet(payload: dict[str, Any]) -> dict[str, Any]:
    """Load a fitted model and write `rows` rows to one Parquet file, chunk by chunk."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from benchmarks.contenders import current_rss_mb
    from pipeline.models.base import Synthesizer
    from pipeline.sharding import plan_shards

    model = Synthesizer.load(Path(payload["model_dir"]))
    path = Path(payload["out_path"])
    shards = plan_shards(payload["rows"], payload["chunk"], payload["seed"])
    phase = {"sample": 0.0, "to_arrow": 0.0, "write": 0.0}
    rss_after_load, rss_max = current_rss_mb(), 0.0
    writer = None
    started = time.perf_counter()
    for shard in shards:
        t0 = time.perf_counter()
        frame = model.sample(shard.rows, seed=shard.seed)
        t1 = time.perf_counter()
        table = pa.Table.from_pandas(frame, preserve_index=False)
        t2 = time.perf_counter()
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
        t3 = time.perf_counter()
        phase["sample"] += t1 - t0
        phase["to_arrow"] += t2 - t1
        phase["write"] += t3 - t2
        rss_max = max(rss_max, current_rss_mb())
        del frame, table
    writer.close()
    total = time.perf_counter() - started
    size = path.stat().st_size
    rows_written = pq.ParquetFile(path).metadata.num_rows
    path.unlink()
    return {
        "rows": rows_written,
        "chunk_rows": payload["chunk"],
        "chunks": len(shards),
        "seconds": round(total, 3),
        "rows_per_second": round(rows_written / total, 1),
        "phase_seconds": {k: round(v, 3) for k, v in phase.items()},
        "sample_only_rows_per_second": round(rows_written / phase["sample"], 1),
        "parquet_bytes": size,
        "rss_after_model_load_mb": rss_after_load,
        "rss_max_between_chunks_mb": rss_max,
        "chunk_profile": _profile_chunk(model, payload["chunk"], payload["seed"]),
    }


def sample_in_processes(payload: dict[str, Any]) -> dict[str, Any]:
    """`rows` rows to Parquet as a run publishes them on `workers` local processes: the
    product's ShardPool samples and stages one part per shard of `shard_rows`. Peak RSS is
    that of all the processes together, read every 0.1 s."""
    import shutil
    import tempfile

    import pyarrow.parquet as pq

    from pipeline.models.base import Synthesizer
    from pipeline.on_demand import SampleRequest
    from pipeline.publish import Publication
    from pipeline.shard_pool import ShardPool
    from pipeline.sharding import plan_shards

    model = Synthesizer.load(Path(payload["model_dir"]))
    shards = plan_shards(payload["rows"], payload["shard_rows"], payload["seed"])
    out = Path(tempfile.mkdtemp(dir=Path(payload["out_path"]).parent))
    publication = Publication(out, "scale", model.name, "bench")
    try:
        with _SummedRss() as rss:
            with ShardPool(payload["workers"], [model.name]) as pool:
                started = time.perf_counter()
                parts = [f.result() for f in [pool.submit(model, shard, publication,
                                                          SampleRequest())
                                              for shard in shards]]
                seconds = time.perf_counter() - started
        rows = sum(pq.ParquetFile(part).metadata.num_rows for part in parts)
        size = sum(Path(part).stat().st_size for part in parts)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return {"workers": payload["workers"], "rows": rows, "shard_rows": payload["shard_rows"],
            "parts": len(parts), "seconds": round(seconds, 3),
            "rows_per_second": round(rows / seconds, 1), "parquet_bytes": size,
            "peak_rss_all_processes_mb": rss.peak_mb}


class _SummedRss:
    """The peak of this process's resident memory plus its children's, sampled."""

    def __enter__(self):
        import threading

        self.peak_mb, self._stop = 0.0, threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.wait(0.1):
            total = me.memory_info().rss
            for child in me.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.Error:
                    pass
            self.peak_mb = max(self.peak_mb, round(total / 2**20, 1))

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _profile_chunk(model, rows: int, seed: int) -> dict[str, Any]:
    """Where one chunk's sampling time goes (model draws vs postprocessing)."""
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    model.sample(rows, seed=seed + 1)
    profiler.disable()
    total = time.perf_counter() - started
    stats = pstats.Stats(profiler)
    return {
        "rows": rows,
        "profiled_seconds": round(total, 3),
        "phases": phase_seconds(stats, GMM_SAMPLE_PHASES, total,
                                remainder="remainder (component draw, frame assembly, ids)"),
        "top_functions": top_functions(stats, 10),
    }


def validate(payload: dict[str, Any]) -> dict[str, Any]:
    """Time fidelity_metrics and privacy_metrics (the pipeline's validate step) as they are,
    then gate the same output with each share of copied training records in `leaks`."""
    from pipeline.validation.fidelity import fidelity_metrics
    from pipeline.validation.privacy import privacy_metrics

    train, synthetic, holdout = payload["train"], payload["synthetic"], payload["holdout"]
    schema, seed = payload["schema"], payload["seed"]
    started = time.perf_counter()
    _, fidelity_seconds = fidelity_metrics(
        train, synthetic, holdout, schema, target=payload.get("target"), seed=seed
    )
    middle = time.perf_counter()
    _, privacy_seconds, _ = privacy_metrics(train, synthetic, holdout, schema, seed=seed)
    ended = time.perf_counter()
    return {
        "train_rows": len(train), "synthetic_rows": len(synthetic), "holdout_rows": len(holdout),
        "columns": len(train.columns),
        "fidelity_seconds": round(middle - started, 3),
        "privacy_seconds": round(ended - middle, 3),
        "seconds": round(ended - started, 3),
        "metric_seconds": {k: round(v, 3) for k, v in {**fidelity_seconds,
                                                        **privacy_seconds}.items()},
        "leaks": {f"{share:.0%}": _leak_gate(payload, share) for share in payload.get("leaks", ())},
    }


def _leak_gate(payload: dict[str, Any], share: float) -> dict[str, Any]:
    """The privacy gate's verdict on the synthetic rows with `share` of them replaced by
    copied training records."""
    import numpy as np

    from benchmarks import leaks

    table = leaks.Table("scale", payload["schema"], payload["train"], payload["holdout"])
    rng = np.random.default_rng(payload["seed"])
    n = max(1, int(round(share * len(payload["synthetic"]))))
    leaked = leaks.replace_rows(payload["synthetic"], leaks.exact_copies(table.train, n, rng), rng)
    verdict = leaks.gate(table, leaked, payload["seed"])
    return {"fails": verdict["fails"], "failed": verdict["failed"]}
