"""Sample and write shards on local worker processes.

Sampling holds the GIL for part of a shard, so threads overlap only partly; processes do
not share it. Each worker is a plain process (no orchestration imports), started from a
clean fork server rather than forked from a process that runs threads, and unpickles a
model once: the model travels pickled with every shard, but a worker that holds it already
skips the unpickling. A shard is seeded by its index, so the parts are the same whichever
worker writes them, and the same as threads write.
"""

from __future__ import annotations

import multiprocessing
import pickle
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from pipeline.errors import PipelineError
from pipeline.sharding import Shard

# Models a worker keeps unpickled: the job's models and a retry's refit.
MODELS_KEPT = 4

_models: dict[str, Any] = {}  # per worker process: model token -> synthesizer


class ShardPool:
    """`workers` local processes that sample a shard and stage it as one Parquet part."""

    def __init__(self, workers: int, models: list[str] = ()):
        context = multiprocessing.get_context(
            "forkserver" if "forkserver" in multiprocessing.get_all_start_methods()
            else "spawn")
        self._executor = ProcessPoolExecutor(workers, mp_context=context,
                                             initializer=_import_models, initargs=(models,))
        self._packed: dict[int, tuple[str, bytes, Any]] = {}
        for _ in range(workers):  # the workers start (import) while the models fit
            self._executor.submit(_import_models, models)

    def submit(self, synthesizer: Any, shard: Shard, publication: Any,
               request: Any) -> Future:
        token, blob = self._pack(synthesizer)
        return self._executor.submit(_write_shard, token, blob, shard, publication, request)

    def write(self, synthesizer: Any, shard: Shard, publication: Any, request: Any) -> str:
        """The staged part's path; a worker that died (killed, out of memory) is one clear
        error, since every later shard on this pool would fail the same way."""
        try:
            return self.submit(synthesizer, shard, publication, request).result()
        except BrokenProcessPool as exc:
            raise PipelineError(
                f"a process writing shard {shard.index} of {publication.dataset!r} died "
                f"({exc}); nothing was published. It is often memory: run again with fewer "
                "--processes or a smaller shard_rows") from None

    def _pack(self, synthesizer: Any) -> tuple[str, bytes]:
        """The model pickled once per pool (holding it keeps its id unique meanwhile)."""
        packed = self._packed.get(id(synthesizer))
        if packed is None:
            token = f"{len(self._packed)}-{id(synthesizer)}"
            packed = (token, pickle.dumps(synthesizer, protocol=pickle.HIGHEST_PROTOCOL),
                      synthesizer)
            self._packed[id(synthesizer)] = packed
        return packed[0], packed[1]

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> ShardPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _import_models(models: list[str]) -> None:
    """What unpickling and sampling these models needs, imported once per worker."""
    import pyarrow.parquet  # noqa: F401

    from pipeline.models import registry

    for name in models:
        type(registry.create(name))


def _write_shard(token: str, blob: bytes, shard: Shard, publication: Any, request: Any) -> str:
    synthesizer = _models.get(token)
    if synthesizer is None:
        while len(_models) >= MODELS_KEPT:
            _models.pop(next(iter(_models)))
        synthesizer = _models[token] = pickle.loads(blob)  # noqa: S301 - our own parent's
    return stage_shard(synthesizer, shard, publication, request)


def stage_shard(synthesizer: Any, shard: Shard, publication: Any, request: Any,
                frame: Any = None) -> str:
    """Sample one seeded shard (unless given: the first, sampled for validation with ids
    from 0) and stage it as one Parquet part, written as the source writes its columns."""
    from pipeline.clock_values import written_as_source

    if frame is None:
        frame = request.sample(synthesizer, shard.rows, shard.seed, id_start=shard.start)
    return str(publication.write_part(shard.index, written_as_source(frame,
                                                                       synthesizer.schema)))
