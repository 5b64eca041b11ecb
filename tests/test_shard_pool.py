"""Shards sampled and written on local worker processes (pipeline.shard_pool)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import psutil
import pyarrow.parquet as pq
import pytest

from pipeline.errors import PipelineError
from pipeline.models.gmm import GaussianMixtureModel
from pipeline.on_demand import SampleRequest
from pipeline.publish import Publication
from pipeline.schema import detect_schema, enforce_schema
from pipeline.shard_pool import ShardPool, stage_shard
from pipeline.sharding import plan_shards


@pytest.fixture(scope="module")
def model(demo_table_path) -> GaussianMixtureModel:
    data = pd.read_csv(demo_table_path, parse_dates=["start_date", "end_date"])
    schema = detect_schema(data, "students")
    return GaussianMixtureModel(n_components=4).fit(enforce_schema(data, schema), schema, 3)


def test_processes_write_the_parts_this_process_writes(model, tmp_path):
    """Same model, same seeded shards: the pool's parts are byte for byte the parts written
    here, categories arrive dictionary-encoded, and ids stay unique across shards."""
    shards = plan_shards(900, 200, seed=5)
    here, pooled = (Publication(tmp_path, "students", "gmm", run) for run in ("here", "pool"))
    written = [Path(stage_shard(model, s, here, SampleRequest())) for s in shards]
    with ShardPool(2, ["gmm"]) as pool:
        futures = [pool.submit(model, s, pooled, SampleRequest()) for s in shards]
        from_pool = [Path(f.result()) for f in futures]
    assert [p.name for p in from_pool] == [p.name for p in written]
    for ours, theirs in zip(written, from_pool):
        assert ours.read_bytes() == theirs.read_bytes(), ours.name
    table = pq.read_table(pooled.staging)
    assert table.num_rows == 900 and table.column("student_id").to_pandas().is_unique
    assert str(table.schema.field("gender").type).startswith("dictionary")


def test_a_worker_that_dies_is_one_clear_error(model, tmp_path):
    """A worker killed mid-run (as the kernel kills one out of memory) breaks the pool for
    every later shard: the run gets one error that says what to change, not a traceback."""
    publication = Publication(tmp_path, "students", "gmm", "killed")
    shards = plan_shards(400, 200, seed=5)
    with ShardPool(1, ["gmm"]) as pool:
        assert Path(pool.write(model, shards[0], publication, SampleRequest())).exists()
        for server in psutil.Process().children():
            if "forkserver" in " ".join(server.cmdline()):
                for worker in server.children():
                    worker.kill()
                    worker.wait(10)
        with pytest.raises(PipelineError, match="died .* fewer --processes"):
            pool.write(model, shards[1], publication, SampleRequest())
